#!/bin/bash
# Bad arguments of every kind get the documented error name (dbus/README.md, Errors), checked
# with gdbus (which prints the name) or client.py (for what gdbus cannot send: NaN, 10 MB
# strings, sessions), and the daemon answers correctly afterwards.
# Usage: test-bad-args.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

INVALID=org.freedesktop.DBus.Error.InvalidArgs
start_bus
start_gemmad "$LONG_MODEL"

check "baseline answer"
client generate "Baseline" -o max_tokens=u:24 -o seed=t:9 > "$DIR/baseline" || fail "baseline Generate failed"
ctx=$(propval ContextLength)
ok "$(wc -c < "$DIR/baseline") bytes; ContextLength $ctx"

# bad_gen NAME OPTIONS-GVARIANT [MESSAGE-PART]: Generate with these options fails with NAME, and
# the message mentions MESSAGE-PART (the key) when given.
bad_gen() {
        expect_error "$1" gcall Generate "x" "$2"
        [ -z "${3:-}" ] || grep -qF -- "$3" <<<"$LAST_ERROR" || fail "error for $2 does not mention '$3': $LAST_ERROR"
        echo "  $2 -> ${LAST_ERROR#*GDBus.Error:}"
}

check "unknown keys, wrong variant types, a key the method does not take"
bad_gen $INVALID "{'bogus': <1>}" bogus
bad_gen $INVALID "{'maxtokens': <uint32 5>}" maxtokens
bad_gen $INVALID "{'chat': <true>}" chat
bad_gen $INVALID "{'max_tokens': <int32 5>}" max_tokens
bad_gen $INVALID "{'max_tokens': <'5'>}" max_tokens
bad_gen $INVALID "{'seed': <int32 5>}" seed
bad_gen $INVALID "{'temperature': <uint32 1>}" temperature
bad_gen $INVALID "{'stop': <'one'>}" stop
bad_gen $INVALID "{'raw': <1>}" raw
bad_gen $INVALID "{'stop': <@ai [1]>}" stop
expect_error $INVALID gcall CountTokens "x" "{'max_tokens': <uint32 5>}"
expect_error $INVALID gcall CountTokens "x" "{'system': <'s'>}"
expect_error $INVALID gcall CreateSession "{'chat': <true>}"
ok "all InvalidArgs, naming the key"

check "values out of range"
bad_gen $INVALID "{'max_tokens': <uint32 0>}" max_tokens
bad_gen $INVALID "{'max_tokens': <uint32 $ctx>}" max_tokens
bad_gen $INVALID "{'max_tokens': <uint32 4294967295>}" max_tokens
bad_gen $INVALID "{'temperature': <-1.0>}" temperature
bad_gen $INVALID "{'temperature': <101.0>}" temperature
bad_gen $INVALID "{'top_p': <-0.5>}" top_p
bad_gen $INVALID "{'top_p': <0.0>}" top_p
bad_gen $INVALID "{'top_p': <1e300>}" top_p
bad_gen $INVALID "{'min_p': <1.5>}" min_p
bad_gen $INVALID "{'repeat_penalty': <0.0>}" repeat_penalty
bad_gen $INVALID "{'top_k': <uint32 4000000000>}" top_k
bad_gen $INVALID "{'context': <uint32 1>}" context
bad_gen $INVALID "{'context': <uint32 $((ctx + 1))>}" context
bad_gen $INVALID "{'cache_scope': <'bogus'>}" cache_scope
bad_gen $INVALID "{'priority': <'urgent'>}" priority
bad_gen $INVALID "{'overflow': <'bogus'>}" overflow
bad_gen org.freedesktop.DBus.Error.NotSupported "{'overflow': <'drop-oldest'>}" overflow
stops=$("$PY" -c 'import json; print(json.dumps([f"s{i}" for i in range(17)]))')
bad_gen $INVALID "{'stop': <@as $stops>}" stop
bad_gen $INVALID "{'stop': <@as ['']>}" stop
long_stop=$(head -c 257 /dev/zero | tr '\0' x)
bad_gen $INVALID "{'stop': <@as ['$long_stop']>}" stop
bad_gen $INVALID "{'system': <'s'>, 'raw': <true>}"
ok "all refused with the documented error, naming the key"

check "NaN and infinities (client.py: gdbus cannot write NaN)"
for key in temperature top_p min_p repeat_penalty; do
        for v in nan inf -inf; do
                expect_error $INVALID client generate "x" -o "$key=d:$v"
                grep -qF "$key" <<<"$LAST_ERROR" || fail "$key=$v: error does not name the key: $LAST_ERROR"
        done
done
ok "NaN, inf, -inf refused for every float option"

check "a 10 MB prompt (limit prompt_bytes, 1 MiB by default)"
expect_error $INVALID client generate --prompt-bytes 10485760 "unused"
grep -qF prompt_bytes <<<"$LAST_ERROR" || fail "10 MB prompt: the error does not name prompt_bytes: $LAST_ERROR"
expect_error $INVALID client generate "x" --system-bytes 1048577
expect_error $INVALID client generate --prompt-bytes 1048577 "unused"
alive "$GEMMAD_PID" || fail "gemmad died of a 10 MB prompt"
ok "10 MB and 1 MiB + 1 byte prompts (and system text) refused with InvalidArgs naming prompt_bytes"

check "Tokenize and CountTokens of text over prompt_bytes"
big_text() {   # big_text METHOD: calls it with 1 MiB + 1 byte of text
        "$PY" - "$1" <<'EOF2'
import dbus, os, sys
b = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])
m = dbus.Interface(b.get_object("org.gemmad.Gemmad1", "/org/gemmad/Gemmad1"), "org.gemmad.Gemmad1.Manager")
text = "a" * ((1 << 20) + 1)
try:
    if sys.argv[1] == "Tokenize":
        m.Tokenize(text)
    else:
        m.CountTokens(text, dbus.Dictionary({}, signature="sv"))
except dbus.exceptions.DBusException as e:
    sys.exit(f"error {e.get_dbus_name()}: {e.get_dbus_message()}")
EOF2
}
for method in Tokenize CountTokens; do
        expect_error $INVALID big_text $method
        grep -qF prompt_bytes <<<"$LAST_ERROR" || fail "$method of 1 MiB + 1: error does not name prompt_bytes: $LAST_ERROR"
done
ok "Tokenize and CountTokens refuse it, naming prompt_bytes"

check "wrong method signature, unknown method"
expect_error $INVALID gdbus call --session -d org.gemmad.Gemmad1 -o /org/gemmad/Gemmad1 \
        -m org.gemmad.Gemmad1.Manager.Generate "only a prompt"
expect_error org.freedesktop.DBus.Error.UnknownMethod gcall NoSuchMethod
ok "InvalidArgs, UnknownMethod"

check "session paths that do not exist"
for p in /org/gemmad/Gemmad1/session/0123456789abcdef /org/gemmad/Gemmad1/session/0000000000000000 \
        /org/gemmad/Gemmad1/session/xyz /org/gemmad/Gemmad1/session/0123456789abcdef0; do
        expect_error org.freedesktop.DBus.Error.UnknownObject gdbus call --session -d org.gemmad.Gemmad1 \
                -o "$p" -m org.gemmad.Gemmad1.Session.Prompt "x" "{}"
done
expect_error org.freedesktop.DBus.Error.UnknownObject gdbus call --session -d org.gemmad.Gemmad1 \
        -o /org/gemmad/Gemmad1/session/0123456789abcdef -m org.freedesktop.DBus.Properties.Get \
        org.gemmad.Gemmad1.Session Busy
ok "UnknownObject"

check "session option errors (client.py)"
expect_error $INVALID client stream "x" -o system=s:late
expect_error $INVALID client stream "x" -o context=u:64
expect_error $INVALID client stream "x" -o cache_scope=s:private
expect_error $INVALID client stream "x" -s bogus=u:1
expect_error org.freedesktop.DBus.Error.NotSupported client stream "x" -s overflow=s:drop-oldest
ok "system/context/cache_scope belong to CreateSession; unknown keys refused"

check "Prompt (PromptToFd, Append, Clone) while the session is Busy"
client busy "A long answer" -o max_tokens=u:3000 -o seed=t:11 || fail "Busy checks failed (see above)"
ok "org.gemmad.Gemmad1.Error.Busy; Cancel(0) ends it"

check "a prompt longer than the context: ContextOverflow"
long_prompt=$(for i in $(seq 100); do printf 'word%d ' "$i"; done)
expect_error org.gemmad.Gemmad1.Error.ContextOverflow gcall Generate "$long_prompt" "{'context': <uint32 64>}"
echo "  ${LAST_ERROR#*GDBus.Error:}"
expect_error org.gemmad.Gemmad1.Error.ContextOverflow client stream "$long_prompt" -s context=u:64
ok "ContextOverflow through the context option (Generate and a session)"

check "GenerateToFd with an fd not open for writing"
: > "$DIR/readonly"
expect_error $INVALID gcall GenerateToFd 3 "x" "{}" 3<"$DIR/readonly"
expect_error $INVALID gcall GenerateToFd 3 "x" "{}" 3</dev/null
ok "InvalidArgs for read-only fds"

check "after all that, the same answer as before"
client generate "Baseline" -o max_tokens=u:24 -o seed=t:9 > "$DIR/after" || fail "Generate after the bad calls failed"
cmp "$DIR/baseline" "$DIR/after" || fail "the baseline answer changed"
poll_until "Sessions 0" prop_is Sessions 0
poll_until "ActiveRequests 0" prop_is ActiveRequests 0
ok "identical"

check "gemmad --context 128: a prompt over 127 tokens is ContextOverflow"
stop_gemmad
start_gemmad "$SMALL_MODEL" --context 128
prop_is ContextLength 128 || fail "ContextLength with --context 128: $(prop ContextLength)"
expect_error org.gemmad.Gemmad1.Error.ContextOverflow gcall Generate "$long_prompt $long_prompt" "{}"
echo "  ${LAST_ERROR#*GDBus.Error:}"
bad_gen $INVALID "{'max_tokens': <uint32 128>}" max_tokens
gcall Generate "short" "{'max_tokens': <uint32 127>}" > /dev/null || fail "max_tokens 127 with context 128 refused"
ok "ContextOverflow; max_tokens 128 refused, 127 accepted"

finish
