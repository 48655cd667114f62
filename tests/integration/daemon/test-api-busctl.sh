#!/bin/bash
# The Manager interface as a shell script types it with busctl: every method, every property,
# and an introspection that lists exactly the members of dbus/org.gemmad.Gemmad1.Manager.xml
# (and of the Session XML, for a session object seen by its owner).
# Usage: test-api-busctl.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

start_bus
start_gemmad "$SMALL_MODEL"
B=(busctl --address="$BUS_ADDRESS")

check "Generate through busctl, as the README shows it"
out=$("${B[@]}" --timeout=300 call org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager \
        Generate 'sa{sv}' "Say something" 2 max_tokens u 16 seed t 7)
echo "$out"
[[ $out == 'sa{sv} "'* ]] || fail "Generate reply is not (s, a{sv}): $out"
for key in 'tokens_prompt" u' 'tokens_cached" u' 'tokens_generated" u' 'finish_reason" s' 'ttft_ms" d' \
        'prefill_tps" d' 'decode_tps" d' 'slice" s'; do
        grep -qF "\"$key" <<<"$out" || fail "info lacks \"$key: $out"
done
grep -qE '"finish_reason" s "(length|stop)"' <<<"$out" || fail "finish_reason is not length or stop: $out"
n=$(sed -nE 's/.*"tokens_generated" u ([0-9]+).*/\1/p' <<<"$out")
[ "$n" -ge 1 ] && [ "$n" -le 16 ] || fail "tokens_generated $n is not in 1..16"
grep -qE '"finish_reason" s "length"' <<<"$out" && { [ "$n" = 16 ] || fail "length after $n tokens, max_tokens was 16"; }
again=$(call Generate 'sa{sv}' "Say something" 2 max_tokens u 16 seed t 7)
[ "$(sed 's/"ttft_ms".*//' <<<"$out")" = "$(sed 's/"ttft_ms".*//' <<<"$again")" ] ||
        fail "the same seed gave another answer: $again"
ok "Generate answers, same seed same text, info has every documented key"

check "Tokenize and CountTokens (plain and chat)"
tok=$(call Tokenize s "Hello world")
echo "$tok"
[[ $tok =~ ^au\ ([0-9]+)( [0-9]+)+$ ]] || fail "Tokenize reply: $tok"
n_tok=${BASH_REMATCH[1]}
[ "$n_tok" -ge 1 ] || fail "Tokenize gave no tokens"
plain=$(call CountTokens 'sa{sv}' "Hello world" 0)
[ "$plain" = "u $n_tok" ] || fail "CountTokens plain '$plain' != Tokenize's $n_tok tokens"
chat=$(call CountTokens 'sa{sv}' "Hello world" 1 chat b true)
[[ $chat =~ ^u\ ([0-9]+)$ ]] || fail "CountTokens chat reply: $chat"
[ "${BASH_REMATCH[1]}" -gt "$n_tok" ] || fail "chat count ${BASH_REMATCH[1]} is not more than plain $n_tok"
prompt_tokens=$(sed -nE 's/.*"tokens_prompt" u ([0-9]+).*/\1/p' <<<"$out")
chat_same=$(call CountTokens 'sa{sv}' "Say something" 1 chat b true)
[ "$chat_same" = "u $prompt_tokens" ] || fail "CountTokens chat '$chat_same' != Generate's tokens_prompt $prompt_tokens"
sys=$(call CountTokens 'sa{sv}' "Hello world" 2 chat b true system s "Be brief.")
[ "${sys#u }" -gt "${chat#u }" ] || fail "a system text did not add tokens: $sys vs $chat"
ok "Tokenize $n_tok tokens = CountTokens plain; chat ${chat#u } > plain; chat count = Generate's tokens_prompt"

check "Availability"
a=$(call Availability as 1 text)
[ "$a" = 'ss "available" "ready"' ] || fail "Availability text: $a"
a=$(call Availability as 1 image)
[ "$a" = 'ss "unavailable" "no-encoder"' ] || fail "Availability image: $a"
a=$(call Availability as 2 text audio)
[ "$a" = 'ss "unavailable" "no-encoder"' ] || fail "Availability text audio: $a"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Availability "['bogus']"
ok "text available; image/audio unavailable no-encoder; bogus is InvalidArgs"

check "SetSlicePolicy, SlicePolicy, SliceReason, ActiveSlice, AvailableSlices"
slices=$(prop AvailableSlices)
[[ $slices =~ ^as\ [1-9][0-9]*\ \" ]] || fail "AvailableSlices: $slices"
first=$(sed -E 's/^as [0-9]+ "([^"]*)".*/\1/' <<<"$slices")
call SetSlicePolicy s "$first" >/dev/null
prop_is SlicePolicy "$first" || fail "SlicePolicy after SetSlicePolicy $first: $(prop SlicePolicy)"
prop_is SliceReason pinned || fail "SliceReason when pinned: $(prop SliceReason)"
prop_is ActiveSlice "$first" || fail "ActiveSlice when pinned to $first: $(prop ActiveSlice)"
call SetSlicePolicy s auto >/dev/null
prop_is SlicePolicy auto || fail "SlicePolicy after auto: $(prop SlicePolicy)"
reason=$(propval SliceReason)
case $reason in ac | battery | battery-low | power-saver | thermal | pressure | no-sensors) ;;
*) fail "SliceReason under auto is '$reason'" ;; esac
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall SetSlicePolicy bogus
prop_is SlicePolicy auto || fail "a refused SetSlicePolicy changed SlicePolicy: $(prop SlicePolicy)"
both=$("${B[@]}" get-property "${MGR[@]}" ActiveSlice SliceReason)
[ "$(wc -l <<<"$both")" = 2 ] || fail "get-property of two properties: $both"
ok "pin $first -> pinned; auto -> $reason; bogus is InvalidArgs and changes nothing"

check "CreateSession and ListSessions"
[ "$(call ListSessions)" = "ao 0" ] || fail "ListSessions of a fresh caller: $(call ListSessions)"
s=$(call CreateSession 'a{sv}' 0)
[[ $s =~ ^o\ \"/org/gemmad/Gemmad1/session/[0-9a-f]{16}\"$ ]] || fail "CreateSession reply: $s"
# busctl has left the bus, so its session is gone.
poll_until "Sessions back to 0 after busctl left" prop_is Sessions 0
[ "$(call ListSessions)" = "ao 0" ] || fail "ListSessions after the creator left: $(call ListSessions)"
ok "CreateSession gives ${s#o }; freed when its owner leaves"

check "every property of the XML through get-property, with the XML's type"
xml=$SRCDIR/dbus/org.gemmad.Gemmad1.Manager.xml
n_props=0
while read -r name type; do
        v=$(prop "$name") || fail "get-property $name failed"
        sig=${v%% *}
        [ "$sig" = "$type" ] || fail "property $name has type '$sig', the XML says '$type' ($v)"
        echo "  $name = $v"
        n_props=$((n_props + 1))
done < <(sed -nE 's/.*<property name="([A-Za-z]+)" type="([^"]+)".*/\1 \2/p' "$xml")
[ "$n_props" -ge 20 ] || fail "only $n_props properties read from $xml"
ok "$n_props properties read"

check "property values of a ready daemon"
prop_is State ready || fail "State: $(prop State)"
prop_is StateReason ready || fail "StateReason when ready: $(prop StateReason)"
prop_is StateMessage "" || fail "StateMessage when ready: $(prop StateMessage)"
prop_is LoadProgress 1 || fail "LoadProgress when ready: $(prop LoadProgress)"
prop_is ModelPath "$SMALL_MODEL" || fail "ModelPath: $(prop ModelPath), expected $SMALL_MODEL"
prop_is Version "$("$GEMMAD" --version | sed 's/^gemmad //')" || fail "Version $(prop Version) != gemmad --version"
[ "$(prop Modalities)" = 'as 1 "text"' ] || fail "Modalities: $(prop Modalities)"
[ "$(propval ContextLength)" -gt 0 ] || fail "ContextLength: $(prop ContextLength)"
[[ $(propval Backend) =~ ^(cpu|opencl:.+)$ ]] || fail "Backend: $(prop Backend)"
info=$(prop ModelInfo)
for key in '"architecture" s "gemma3n"' '"name" s' '"layers" u 8' '"embedding_length" u 64' \
        '"vocab_size" u 512' '"context_length" u 4096' '"file_bytes" t' '"threads" u 1'; do
        grep -qF "$key" <<<"$info" || fail "ModelInfo lacks $key: $info"
done
# KV bytes in use: no session is open and nothing runs, so a small number (not a wrapped one).
kv=$(propval KvCacheBytes)
[ "${#kv}" -le 13 ] || fail "KvCacheBytes is $kv with no session open (a negative count wrapped around?)"
prop_is ActiveRequests 0 || fail "ActiveRequests when idle: $(prop ActiveRequests)"
prop_is QueuedRequests 0 || fail "QueuedRequests when idle: $(prop QueuedRequests)"
stats=$(prop Stats)
for key in requests cancelled prefill_tokens decoded_tokens cached_tokens cache_hits cache_misses evictions; do
        grep -qE "\"$key\" t [0-9]+" <<<"$stats" || fail "Stats lacks $key (t): $stats"
done
requests=$(sed -nE 's/.*"requests" t ([0-9]+).*/\1/p' <<<"$stats")
[ "$requests" -ge 2 ] || fail "Stats requests $requests after two Generate calls"
ok "State ready, LoadProgress 1, ModelPath, Version, ModelInfo, Stats ($requests requests)"

check "introspection lists exactly the members of the interface XML"
"${B[@]}" --xml-interface introspect org.gemmad.Gemmad1 /org/gemmad/Gemmad1 > "$DIR/manager.xml"
client compare-xml "$DIR/manager.xml" "$xml" org.gemmad.Gemmad1.Manager || fail "Manager introspection differs"
"${B[@]}" introspect org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager > "$DIR/introspect.txt"
for m in Generate GenerateToFd CreateSession ListSessions Tokenize CountTokens Availability SetSlicePolicy; do
        grep -qE "^\.$m +method" "$DIR/introspect.txt" || fail "busctl introspect lacks method $m"
done
client introspect-session > "$DIR/session.xml"
client compare-xml "$DIR/session.xml" "$SRCDIR/dbus/org.gemmad.Gemmad1.Session.xml" org.gemmad.Gemmad1.Session ||
        fail "Session introspection differs"
ok "Manager and Session introspection match dbus/*.xml"

finish
