#!/bin/bash
# gemmad's life: command line and exit codes, one daemon per bus, systemd notification
# (READY, STATUS, WATCHDOG, STOPPING), models that fail to load (the daemon stays up in State
# "error" and answers NotReady), and SIGTERM in the middle of generating (callers get Cancelled
# or Finished "cancelled", exit 0 within 2 s, name released).
# Usage: test-lifecycle.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

# run_gemmad EXPECTED-STATUS ARGS...: a gemmad that exits by itself; output in $OUT.
run_gemmad() {
        local want=$1 status=0; shift
        OUT=$(timeout 30 "$GEMMAD" "$@" 2>&1) || status=$?
        [ "$status" = "$want" ] || fail "gemmad $* exited $status, expected $want: $OUT"
}

check "command line: --help, --version, usage errors"
run_gemmad 0 --help
grep -q '^Usage: gemmad' <<<"$OUT" || fail "--help does not start with Usage: $OUT"
grep -q -- '--bus-address' <<<"$OUT" || fail "--help does not mention --bus-address"
run_gemmad 0 --version
[[ $OUT =~ ^gemmad\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version: $OUT"
run_gemmad 2 --bogus-option
run_gemmad 2 --threads abc
run_gemmad 2 --context 5
run_gemmad 2 unexpected-argument
grep -qi "unexpected argument" <<<"$OUT" || fail "no clear message for an extra argument: $OUT"
ok "--help 0, --version 0, bad options 2"

check "fatal errors exit 1 with a message: no bus, a missing config file, the name taken"
run_gemmad 1 --config /dev/null --model "$SMALL_MODEL" --bus-address "unix:path=$DIR/no-such-bus"
grep -qi "cannot connect" <<<"$OUT" || fail "unreachable bus: unclear message: $OUT"
run_gemmad 1 --config "$DIR/no-such.conf" --model "$SMALL_MODEL" --bus-address "unix:path=$DIR/no-such-bus"
grep -qF "no-such.conf" <<<"$OUT" || fail "missing config: the message does not name the file: $OUT"
start_bus
start_gemmad "$SMALL_MODEL"
first=$GEMMAD_PID
run_gemmad 1 --config /dev/null --model "$SMALL_MODEL" --bus-address "$BUS_ADDRESS"
grep -q "org.gemmad.Gemmad1" <<<"$OUT" || fail "second gemmad: the message does not name the bus name: $OUT"
echo "  second gemmad: $OUT" | tail -1
alive "$first" && prop_is State ready || fail "the first gemmad was disturbed by the second"
ok "exit 1 with clear messages; the first daemon keeps its name"
stop_gemmad

check "sd_notify: READY=1, STATUS=, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1"
"$PY" "$LIBDIR/client.py" notify-listen "$DIR/notify.sock" "$DIR/notify.txt" &
track $!
poll_until "the notify listener" grep -q listening "$DIR/notify.txt"
export NOTIFY_SOCKET=$DIR/notify.sock WATCHDOG_USEC=1000000
launch_gemmad "$SMALL_MODEL"
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_state ready
poll_until "READY=1" grep -q 'READY=1' "$DIR/notify.txt"
poll_until "a STATUS= saying ready" grep -q 'STATUS=Ready' "$DIR/notify.txt"
watchdogs() { [ "$(grep -c 'WATCHDOG=1' "$DIR/notify.txt")" -ge 3 ]; }
poll_until "three WATCHDOG=1 pings (one per 0.5 s)" watchdogs
# Pings go on while a request runs.
client generate "During a request" -o max_tokens=u:200 -o seed=t:2 > /dev/null
n0=$(grep -c 'WATCHDOG=1' "$DIR/notify.txt")
more_watchdogs() { [ "$(grep -c 'WATCHDOG=1' "$DIR/notify.txt")" -gt "$n0" ]; }
poll_until "WATCHDOG=1 keeps coming" more_watchdogs
stop_gemmad
poll_until "STOPPING=1" grep -q 'STOPPING=1' "$DIR/notify.txt"
sed 's/^/  /' "$DIR/notify.txt" | sort | uniq -c | sort -rn | head -8
ok "READY=1, STATUS=Ready..., $(grep -c 'WATCHDOG=1' "$DIR/notify.txt") WATCHDOG=1, STOPPING=1"

# expect_load_error MODEL-ARGS REASON [MESSAGE-PART]: gemmad stays up in State error.
expect_load_error() {
        local reason=$1 part=$2; shift 2
        launch_gemmad "$@"
        wait_state error
        prop_is StateReason "$reason" || fail "StateReason '$(propval StateReason)', expected $reason"
        local msg
        msg=$(propval StateMessage)
        if [ -n "$part" ]; then
                [ -n "$msg" ] || fail "StateMessage is empty in State error"
                grep -qF -- "$part" <<<"$msg" || fail "StateMessage '$msg' does not mention '$part'"
                # It is the loader's message, the one in the log.
                grep -qF -- "$msg" "$GEMMAD_LOG" || fail "StateMessage '$msg' is not the message in the log"
        fi
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall Generate "x" "{}"
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall Generate "x" "{'no_wait': <true>}"
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall CreateSession "{}"
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall Tokenize "x"
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall CountTokens "x" "{}"
        expect_error org.gemmad.Gemmad1.Error.NotReady gcall GenerateToFd 1 "x" "{}"
        local avail
        avail=$(call Availability as 1 text)
        [[ $avail =~ ^ss\ \"unavailable\"\ \"(error|no-model)\"$ ]] || fail "Availability in State error: $avail"
        alive "$GEMMAD_PID" || fail "gemmad exited on a bad model"
        echo "  StateReason $reason, StateMessage '$msg', Availability $avail"
        stop_gemmad
}

check "a truncated model: State error, StateMessage from the loader, NotReady, still on the bus"
head -c 300000 "$SMALL_MODEL" > "$DIR/truncated.gguf"
expect_load_error load-failed truncated.gguf "$DIR/truncated.gguf"
ok "truncated model"

check "a text file as the model"
echo "this is not a model" > "$DIR/text.gguf"
expect_load_error load-failed text.gguf "$DIR/text.gguf"
ok "text file"

check "a model path that does not exist"
expect_load_error load-failed missing.gguf "$DIR/missing.gguf"
ok "missing file"

check "no model configured at all"
expect_load_error no-model "" ""
ok "no model: StateReason no-model"

check "SIGTERM while generating: callers get Cancelled / Finished cancelled, exit 0 within 2 s"
start_gemmad "$LONG_MODEL"
# Both answers run thousands of tokens (seconds): they are surely running at SIGTERM.
timeout 60 gdbus call --session -t 300 -d org.gemmad.Gemmad1 -o /org/gemmad/Gemmad1 \
        -m org.gemmad.Gemmad1.Manager.Generate "A long answer" "{'max_tokens': <uint32 3000>, 'seed': <uint64 1>}" \
        > "$DIR/generate.out" 2>&1 &
gen=$!
track "$gen"
client stream "Another long answer" -o max_tokens=u:3000 -o seed=t:2 --ready "$DIR/stream.ready" \
        --expect-reason cancelled > /dev/null 2> "$DIR/stream.log" &
stream=$!
track "$stream"
poll_until "the stream's first Chunk" test -s "$DIR/stream.ready"
poll_until "both requests running" prop_is ActiveRequests 2
t0=$(now_ms)
kill -TERM "$GEMMAD_PID"
POLL_TIMEOUT=10 poll_until "gemmad to exit after SIGTERM" sh -c "! kill -0 $GEMMAD_PID 2>/dev/null"
t1=$(now_ms)
status=0
wait "$GEMMAD_PID" || status=$?
[ "$status" = 0 ] || fail "gemmad exited with $status after SIGTERM"
sanitizer_clean
echo "  gemmad exited $((t1 - t0)) ms after SIGTERM"
[ $((t1 - t0)) -lt 2000 ] || fail "gemmad took $((t1 - t0)) ms to exit after SIGTERM (limit 2000 ms)"
gs=0
wait "$gen" || gs=$?
grep -q 'GDBus.Error:org.gemmad.Gemmad1.Error.Cancelled' "$DIR/generate.out" ||
        fail "the in-flight Generate got (status $gs): $(cat "$DIR/generate.out")"
echo "  Generate: $(head -1 "$DIR/generate.out")"
! busctl --address="$BUS_ADDRESS" list --no-pager | grep -q org.gemmad.Gemmad1 || fail "the name is still owned"
GEMMAD_PID=
wait "$stream" || fail "the in-flight stream (Finished cancelled expected, with its info) failed: $(cat "$DIR/stream.log")"
echo "  stream: $(tail -1 "$DIR/stream.log")"
ok "exit 0 in $((t1 - t0)) ms; Generate -> Cancelled, stream -> Finished cancelled; name released"

check "the name is free for the next gemmad"
start_gemmad "$SMALL_MODEL"
finish
