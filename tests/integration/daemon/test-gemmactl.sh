#!/bin/bash
# gemmactl against a real gemmad: status (text and JSON), ask (same answer as Generate for the
# same seed, from an argument or standard input, --json, --stats), tokenize, sessions, chat from
# standard input, and the documented exit codes (2 usage, 3 no bus, 4 not loaded, 5 context,
# 130 SIGINT, which cancels the answer in the daemon).
# Usage: test-gemmactl.sh GEMMAD SMALL_MODEL LONG_MODEL GEMMACTL
source "$(dirname "$0")/lib.sh"
[ -n "$GEMMACTL" ] || fail "usage: test-gemmactl.sh GEMMAD SMALL_MODEL LONG_MODEL GEMMACTL"

# ctl EXPECTED-STATUS ARGS...: gemmactl on the test bus; stdout in $OUT, stderr in $ERR.
ctl() {
        local want=$1 status=0; shift
        "$GEMMACTL" --bus-address "${CTL_BUS:-$BUS_ADDRESS}" "$@" > "$DIR/ctl.out" 2> "$DIR/ctl.err" < "${CTL_STDIN:-/dev/null}" ||
                status=$?
        OUT=$(cat "$DIR/ctl.out") ERR=$(cat "$DIR/ctl.err")
        [ "$status" = "$want" ] || fail "gemmactl $* exited $status, expected $want; stdout: ${OUT:0:500}; stderr: ${ERR:0:500}"
}
json() { "$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$DIR/ctl.out"; }

check "command line: --help, --version, usage errors exit 2 before anything is sent"
"$GEMMACTL" --help > "$DIR/help" || fail "gemmactl --help failed"
grep -q '^Usage: gemmactl' "$DIR/help" || fail "--help: $(head -3 "$DIR/help")"
"$GEMMACTL" --version | grep -qE '^gemmactl [0-9]+\.[0-9]+' || fail "--version: $("$GEMMACTL" --version)"
CTL_BUS=unix:path=$DIR/no-bus
for bad in "bogus-command" "ask --temperature nan x" "ask --max-tokens 0 x" "ask --top-p 1.5 x" \
        "ask --system s --raw x" "tokenize --chat x" "status extra"; do
        # shellcheck disable=SC2086
        ctl 2 $bad
done
ok "--help, --version; bad command lines exit 2 (even with no bus to talk to)"

check "no bus: exit 3"
ctl 3 status
ctl 3 ask "hello"
[ -n "$ERR" ] || fail "exit 3 without a message"
echo "  $ERR" | head -2
ok "exit 3 with a message"
CTL_BUS=

start_bus
start_gemmad "$SMALL_MODEL"

check "status and status --json"
ctl 0 status
grep -q ready <<<"$OUT" || fail "status does not say ready: $OUT"
grep -qF "$SMALL_MODEL" <<<"$OUT" || fail "status does not show the model path: $OUT"
echo "$OUT" | sed 's/^/  /' | head -12
ctl 0 status --json
"$PY" -m json.tool "$DIR/ctl.out" > /dev/null || fail "status --json is not valid JSON: $OUT"
[ "$(json 'd["State"]')" = ready ] || fail "status --json State: $OUT"
want=$(sed -nE 's/.*<property name="([A-Za-z]+)".*/\1/p' "$SRCDIR/dbus/org.gemmad.Gemmad1.Manager.xml" | sort | tr '\n' ' ')
got=$(json '" ".join(sorted(d)) + " "')
[ "$got" = "$want" ] || fail "status --json keys '$got' != the Manager properties '$want'"
ok "status says ready with the model; --json has every Manager property"

check "ask: the same answer as Generate for the same seed"
client generate "Tell me about pipes" -o max_tokens=u:16 -o seed=t:7 > "$DIR/generate.txt"
ctl 0 ask "Tell me about pipes" --seed 7 --max-tokens 16
cp "$DIR/ctl.out" "$DIR/ask.txt"
cmp "$DIR/generate.txt" "$DIR/ask.txt" || fail "ask printed '$OUT', Generate said '$(cat "$DIR/generate.txt")'"
ctl 0 ask Tell me about pipes --seed 7 --max-tokens 16
cmp "$DIR/generate.txt" "$DIR/ctl.out" || fail "ask with the text in several arguments differs"
echo "Tell me about pipes" > "$DIR/question"
CTL_STDIN=$DIR/question ctl 0 ask - --seed 7 --max-tokens 16
cmp "$DIR/generate.txt" "$DIR/ctl.out" || fail "ask - (standard input) differs: '$OUT'"
CTL_STDIN=$DIR/question ctl 0 ask --seed 7 --max-tokens 16
cmp "$DIR/generate.txt" "$DIR/ctl.out" || fail "ask with no TEXT and standard input not a terminal differs"
ctl 0 ask "Tell me about pipes" --seed 7 --max-tokens 16 --json
"$PY" -m json.tool "$DIR/ctl.out" > /dev/null || fail "ask --json is not valid JSON: $OUT"
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.stdout.write(d["text"])' "$DIR/ctl.out" > "$DIR/ask-json.txt"
cmp "$DIR/generate.txt" "$DIR/ask-json.txt" || fail "ask --json text differs"
[ "$(json 'd["info"]["tokens_generated"]')" -le 16 ] || fail "ask --json info: $OUT"
ctl 0 ask "Tell me about pipes" --seed 7 --max-tokens 16 --stats
cmp "$DIR/generate.txt" "$DIR/ctl.out" || fail "ask --stats changed the answer on stdout"
grep -qiE 'token' <<<"$ERR" || fail "ask --stats printed no statistics: $ERR"
ok "ask == Generate (argument, several arguments, -, stdin, --json, --stats)"

check "tokenize and tokenize --count [--chat] agree with the daemon"
ctl 0 tokenize "Hello world"
ids=$(call Tokenize s "Hello world" | cut -d' ' -f3- | tr ' ' '\n')
[ "$OUT" = "$ids" ] || fail "tokenize printed '$OUT', Tokenize says '$ids'"
ctl 0 tokenize --count "Hello world"
[ "$OUT" = "$(wc -l <<<"$ids")" ] || fail "tokenize --count: $OUT"
ctl 0 tokenize --count --chat "Hello world"
[ "u $OUT" = "$(call CountTokens 'sa{sv}' "Hello world" 1 chat b true)" ] || fail "tokenize --count --chat: $OUT"
ctl 0 tokenize --json "Hello world"
[ "$(json '" ".join(map(str, d))')" = "$(tr '\n' ' ' <<<"$ids" | sed 's/ $//')" ] || fail "tokenize --json: $OUT"
ok "tokenize ids, --count, --count --chat, --json"

check "sessions"
ctl 0 sessions
ctl 0 sessions --json
[ "$(json 'd["sessions"]')" = "[]" ] && [ "$(json 'd["total"]')" = 0 ] || fail "sessions --json: $OUT"
ok "sessions: none owned, total 0"

check "chat with turns from standard input"
printf 'Name a river.\nAnd its length?\n' > "$DIR/turns"
CTL_STDIN=$DIR/turns ctl 0 chat --max-tokens 16 --seed 3 --json
[ "$(wc -l < "$DIR/ctl.out")" = 2 ] || fail "chat --json: expected 2 lines (one per answer): $OUT"
while read -r line; do
        "$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); assert "text" in d and "info" in d, d' "$line" ||
                fail "chat --json line is not an answer object: $line"
done < "$DIR/ctl.out"
first=$("$PY" -c 'import json, sys; sys.stdout.write(json.loads(open(sys.argv[1]).readline())["text"])' "$DIR/ctl.out")
client stream "Name a river." -o max_tokens=u:16 -o seed=t:3 > "$DIR/first.txt"
[ "$first" = "$(cat "$DIR/first.txt")" ] || fail "chat's first answer '$first' != a fresh session's '$(cat "$DIR/first.txt")'"
CTL_STDIN=$DIR/turns ctl 0 chat --max-tokens 16 --seed 3
poll_until "Sessions back to 0 after chat" prop_is Sessions 0
ok "two answers; the first equals a fresh session's; the session is gone afterwards"

check "ContextOverflow: exit 5"
long=$(for i in $(seq 100); do printf 'word%d ' "$i"; done)
ctl 5 ask "$long" --context 64
echo "  $ERR" | head -1
ok "exit 5"

check "SIGINT during a long answer: exit 130, the daemon counts it cancelled"
stop_gemmad
start_gemmad "$LONG_MODEL"
cancelled0=$(prop Stats | sed -nE 's/.*"cancelled" t ([0-9]+).*/\1/p')
"$GEMMACTL" --bus-address "$BUS_ADDRESS" ask "A long answer" --max-tokens 3000 --seed 1 \
        > "$DIR/sigint.out" 2> "$DIR/sigint.err" < /dev/null &
asker=$!
track "$asker"
poll_until "the first text of the answer" test -s "$DIR/sigint.out"
kill -INT "$asker"
status=0
POLL_TIMEOUT=10 poll_until "gemmactl to exit after SIGINT" sh -c "! kill -0 $asker 2>/dev/null"
wait "$asker" || status=$?
[ "$status" = 130 ] || fail "gemmactl ask exited $status after SIGINT, expected 130: $(cat "$DIR/sigint.err")"
cancelled_grew() { [ "$(prop Stats | sed -nE 's/.*"cancelled" t ([0-9]+).*/\1/p')" -gt "$cancelled0" ]; }
POLL_TIMEOUT=10 poll_until "Stats cancelled to grow" cancelled_grew
poll_until "Sessions back to 0" prop_is Sessions 0
poll_until "ActiveRequests back to 0" prop_is ActiveRequests 0
ok "exit 130 after $(wc -c < "$DIR/sigint.out") bytes; Stats cancelled grew; no session left"

check "a model that failed to load: status exits 4, ask exits 4"
stop_gemmad
echo "not a model" > "$DIR/bad.gguf"
launch_gemmad "$DIR/bad.gguf"
wait_state error
ctl 4 status
grep -qF bad.gguf <<<"$OUT$ERR" || fail "status in State error does not show the loader's message: $OUT $ERR"
ctl 4 ask "hello"
ok "exit 4"

finish
