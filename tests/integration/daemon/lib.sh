# Shared harness of the daemon integration tests (sourced, bash). Each test gets a private temp
# dir, its own dbus-daemon (hermetic config, no service dirs, TESTING.md §3) and its own gemmad;
# the EXIT trap kills everything started here and removes the dir. Nothing waits a fixed time:
# conditions are polled in bounded loops of short waits.
#
# Usage: source lib.sh "$@" with the test's arguments GEMMAD SMALL_MODEL LONG_MODEL [GEMMACTL]
#   SMALL_MODEL  the default make-test model: fast, answers end after a few hundred tokens
#   LONG_MODEL   vocabulary 16384 (make-test --vocab 16384 --seed 3): end-of-turn is rare, so
#                answers of 1000+ tokens run for seconds, for tests that need a request in flight
#
# After `start_bus; start_gemmad MODEL [ARGS...]`:
#   call METHOD SIG ARGS...        busctl call on the Manager (prints busctl's reply)
#   gcall METHOD ARGS...           gdbus call on the Manager (prints the GVariant reply)
#   prop NAME / propval NAME       busctl get-property: 's "ready"' / 'ready'
#   client SUBCOMMAND ARGS...      client.py under /usr/bin/python3 (python3-dbus, python3-gi)
#   expect_error NAME CMD...       CMD must fail and name the D-Bus error NAME
#   poll_until DESC CMD...         wait (bounded by $POLL_TIMEOUT s) until CMD succeeds
#   check DESC / ok DESC / fail MSG
#   finish                         SIGTERM gemmad, require exit 0 and a clean sanitizer log

set -euo pipefail

GEMMAD=${1:?usage: TEST GEMMAD SMALL_MODEL LONG_MODEL [GEMMACTL]}
SMALL_MODEL=${2:?small model}
LONG_MODEL=${3:?long model}
GEMMACTL=${4:-}
# meson passes build-dir paths relative to where it runs the test: make them absolute.
GEMMAD=$(realpath "$GEMMAD")
SMALL_MODEL=$(realpath "$SMALL_MODEL")
LONG_MODEL=$(realpath "$LONG_MODEL")
[ -n "$GEMMACTL" ] && GEMMACTL=$(realpath "$GEMMACTL")
LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$LIBDIR/../../.." && pwd)
PY=/usr/bin/python3
POLL_TIMEOUT=${POLL_TIMEOUT:-30}
TEST_NAME=$(basename "$0" .sh)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/gemmad-$TEST_NAME.XXXXXX")
chmod 700 "$DIR"
export XDG_RUNTIME_DIR=$DIR XDG_CONFIG_HOME=$DIR/config
unset DBUS_SYSTEM_BUS_ADDRESS NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
BUS_ADDRESS=unix:path=$DIR/bus
export DBUS_SESSION_BUS_ADDRESS=$BUS_ADDRESS

PIDS=()                 # everything started here, killed by the EXIT trap
BUS_PID=
GEMMAD_PID=
GEMMAD_LOG=
GEMMAD_RUN=0            # how many gemmad instances this test started (one log each)
GEMMAD_CONF=            # extra gemmad.conf text for the next start_gemmad
# The power inputs are off unless a test wants them: under a parallel test run the machine's own
# CPU pressure would move the model to a smaller slice and change the answers a test compares.
GEMMAD_POWER=$'[power]\nupower = false\nthermal = false\npressure = false'

show_logs() {
        local f
        for f in "$DIR"/*.log; do
                [ -s "$f" ] || continue
                echo "---- $(basename "$f") ----"
                tail -n 80 "$f"
        done
}

fail() {
        echo "FAIL: $*"
        show_logs
        FAILED_SHOWN=1
        exit 1
}

T_START=$(($(date +%s%N) / 1000000))
elapsed() { local ms=$(($(date +%s%N) / 1000000 - T_START)); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }
check() { echo "== [$(elapsed)] $*"; }
ok() { echo "ok: $*"; }

track() { PIDS+=("$@"); }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

cleanup() {
        local status=$? pid i
        trap - EXIT
        if [ "$status" != 0 ] && [ -z "${FAILED_SHOWN:-}" ]; then
                echo "test exited with status $status"
                show_logs
        fi
        for pid in "${PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null || true
        done
        for i in $(seq 100); do
                local any=
                for pid in "${PIDS[@]}"; do alive "$pid" && any=1; done
                [ -z "$any" ] && break
                sleep 0.02
        done
        for pid in "${PIDS[@]}"; do
                kill -KILL "$pid" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        rm -rf "$DIR"
        exit "$status"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# poll_until DESC CMD...: runs CMD (quietly) until it succeeds, at most $POLL_TIMEOUT seconds.
poll_until() {
        local desc=$1; shift
        local deadline=$(($(now_ms) + POLL_TIMEOUT * 1000))
        while ! "$@" >/dev/null 2>&1; do
                [ "$(now_ms)" -lt "$deadline" ] || fail "timed out after ${POLL_TIMEOUT}s waiting for: $desc"
                sleep 0.02
        done
}

# ---- the bus ----

start_bus() {
        cat > "$DIR/session.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
EOF
        dbus-daemon --config-file="$DIR/session.conf" --address="$BUS_ADDRESS" --nofork --nopidfile \
                2>"$DIR/dbus-daemon.log" &
        BUS_PID=$!
        track "$BUS_PID"
        poll_until "dbus-daemon at $BUS_ADDRESS" busctl --address="$BUS_ADDRESS" list
}

# ---- gemmad ----

# launch_gemmad MODEL [ARGS...]: starts gemmad in the background (stderr to its own log), with
# $GEMMAD_CONF as its configuration file; does not wait. MODEL may be "" for no --model.
launch_gemmad() {
        local model=$1; shift
        GEMMAD_RUN=$((GEMMAD_RUN + 1))
        GEMMAD_LOG=$DIR/gemmad-$GEMMAD_RUN.log
        printf '%s\n%s\n' "$GEMMAD_CONF" "$GEMMAD_POWER" > "$DIR/gemmad-$GEMMAD_RUN.conf"
        local margs=()
        [ -n "$model" ] && margs=(--model "$model")
        # One compute thread: these tests run in parallel, several daemons at once, and small test
        # models gain nothing from more. The CPU backend unless a test asks (the answers compared
        # are the CPU's). A later --threads or --backend in ARGS wins.
        "$GEMMAD" --config "$DIR/gemmad-$GEMMAD_RUN.conf" --threads 1 --backend cpu "${margs[@]}" \
                --bus-address "$BUS_ADDRESS" "$@" 2>"$GEMMAD_LOG" &
        GEMMAD_PID=$!
        track "$GEMMAD_PID"
}

manager_state() {
        busctl --address="$BUS_ADDRESS" get-property org.gemmad.Gemmad1 /org/gemmad/Gemmad1 \
                org.gemmad.Gemmad1.Manager State 2>/dev/null | sed -n 's/^s "\(.*\)"$/\1/p'
}

# wait_state STATE: polls State until it is STATE; fails at once if gemmad exits or the state
# is "error" when something else was expected.
wait_state() {
        local want=$1 st
        local deadline=$(($(now_ms) + POLL_TIMEOUT * 1000))
        while :; do
                st=$(manager_state || true)
                [ "$st" = "$want" ] && return 0
                alive "$GEMMAD_PID" || fail "gemmad exited while waiting for State=$want"
                [ "$st" = error ] && [ "$want" != error ] && fail "State is 'error', expected '$want'"
                [ "$(now_ms)" -lt "$deadline" ] || fail "timed out waiting for State=$want (last: '$st')"
                sleep 0.02
        done
}

# start_gemmad MODEL [ARGS...]: launch and wait for State=ready.
start_gemmad() {
        launch_gemmad "$@"
        wait_state ready
}

# sanitizer_clean: the current gemmad log has no ASan/UBSan/LSan report.
sanitizer_clean() {
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$GEMMAD_LOG"; then
                fail "sanitizer report in $(basename "$GEMMAD_LOG")"
        fi
}

# stop_gemmad: SIGTERM, wait (bounded), require exit status 0 and no sanitizer report.
stop_gemmad() {
        local pid=$GEMMAD_PID status=0
        alive "$pid" || fail "gemmad (pid $pid) is not running any more"
        kill -TERM "$pid"
        poll_until "gemmad to exit after SIGTERM" sh -c "! kill -0 $pid 2>/dev/null"
        wait "$pid" || status=$?
        [ "$status" = 0 ] || fail "gemmad exited with status $status after SIGTERM"
        sanitizer_clean
        GEMMAD_PID=
}

finish() {
        check "gemmad stops cleanly (SIGTERM -> exit 0, no sanitizer report)"
        stop_gemmad
        ok "all checks of $TEST_NAME passed"
}

# ---- talking to it ----

MGR=(org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager)

call() {
        local method=$1; shift
        busctl --address="$BUS_ADDRESS" --timeout=300 call "${MGR[@]}" "$method" "$@"
}

gcall() {
        local method=$1; shift
        gdbus call --session -t 300 -d org.gemmad.Gemmad1 -o /org/gemmad/Gemmad1 \
                -m "org.gemmad.Gemmad1.Manager.$method" "$@"
}

prop() {
        busctl --address="$BUS_ADDRESS" get-property "${MGR[@]}" "$1"
}

# propval NAME: the value alone: a string without quotes (and without busctl's C escapes),
# a number.
propval() {
        local v
        v=$(prop "$1" | sed -e 's/^[a-z] //' -e 's/^"\(.*\)"$/\1/') || return 1
        case $v in
        *\\*) busctl --address="$BUS_ADDRESS" --json=short get-property "${MGR[@]}" "$1" |
                "$PY" -c 'import json, sys; sys.stdout.write(str(json.load(sys.stdin)["data"]) + "\n")' ;;
        *) printf '%s\n' "$v" ;;
        esac
}

prop_is() { [ "$(propval "$1")" = "$2" ]; }

# In a subshell (a background job "client ... &", a "$(client ...)") the shell is replaced by
# python, so that $! is python's pid and a kill reaches the client itself.
client() {
        if [ "$BASHPID" != "$$" ]; then
                exec "$PY" "$LIBDIR/client.py" "$@"
        fi
        "$PY" "$LIBDIR/client.py" "$@"
}

# expect_error NAME CMD...: CMD must fail and its output must name the error. gdbus prints
# "GDBus.Error:NAME: message", client.py "error NAME: message"; busctl prints only the
# message, so it is not used for error names.
expect_error() {
        local name=$1; shift
        local out status=0
        out=$("$@" 2>&1) || status=$?
        local cmd="$*"
        [ "${#cmd}" -le 300 ] || cmd="${cmd:0:300}..."
        [ "$status" != 0 ] || fail "expected $name, but the call succeeded: $cmd -> ${out:0:2000}"
        grep -qF -- "$name" <<<"$out" || fail "expected $name from: $cmd -> (status $status) ${out:0:2000}"
        # The error line alone (gdbus adds a hint about the signature on InvalidArgs).
        LAST_ERROR=$(grep -m1 -F -- "$name" <<<"$out")
}

# gemmad_rss_kb: VmRSS of the running gemmad.
gemmad_rss_kb() {
        awk '/^VmRSS:/ { print $2 }' "/proc/$GEMMAD_PID/status"
}

# Options are written once as KEY=TYPE:VALUE (client.py's -o syntax: u t i d b s, or as with a
# JSON list) and turned into what each tool takes.
# gv_opts SPEC...: GVariant text for gdbus, e.g. "{'max_tokens': <uint32 16>, 'seed': <uint64 7>}"
gv_opts() {
        local spec key type value items=()
        for spec in "$@"; do
                key=${spec%%=*} type=${spec#*=}
                value=${type#*:} type=${type%%:*}
                case $type in
                u) value="<uint32 $value>" ;;
                t) value="<uint64 $value>" ;;
                i) value="<int32 $value>" ;;
                d) value="<double $value>" ;;
                b) value="<$value>" ;;
                s) value="<'$value'>" ;;
                as) value="<@as $value>" ;;
                *) fail "gv_opts: unknown type in $spec" ;;
                esac
                items+=("'$key': $value")
        done
        local IFS=,
        echo "{${items[*]}}"
}

# py_opts SPEC...: client.py arguments (-o SPEC ...), one per line for mapfile.
py_opts() {
        local spec
        for spec in "$@"; do printf -- '-o\n%s\n' "$spec"; done
}
