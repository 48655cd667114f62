#!/bin/bash
# One answer, five ways: for the same prompt, seed and options, Generate's text, the concatenated
# Chunk signals of Session.Prompt, the bytes GenerateToFd writes (into a file and into a pipe)
# and the bytes PromptToFd writes are identical, byte for byte (random-weight models emit odd
# characters; nothing may be lost or re-encoded). Stop strings end every form the same way.
# Then the fd edge cases: a reader that never reads (slow-consumer), a reader that leaves.
# Usage: test-streaming.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

start_bus
start_gemmad "$SMALL_MODEL"

# same_five NAME PROMPT SPEC...: the five forms of one request, compared byte for byte.
same_five() {
        local name=$1 prompt=$2; shift 2
        local o=$DIR/$name gv py
        gv=$(gv_opts "$@")
        mapfile -t py < <(py_opts "$@")
        check "$name: Generate == Chunks == GenerateToFd (file, pipe) == PromptToFd ($*)"
        client generate "$prompt" "${py[@]}" --info "$o.info" > "$o.generate" || fail "$name: Generate failed"
        client stream "$prompt" "${py[@]}" --info "$o.stream.info" > "$o.stream" || fail "$name: stream failed"
        gcall GenerateToFd 3 "$prompt" "$gv" 3>"$o.tofd-file" > "$o.reply-file" || fail "$name: GenerateToFd into a file failed"
        gcall GenerateToFd 3 "$prompt" "$gv" 3>&1 > "$o.reply-pipe" | cat > "$o.tofd-pipe"
        [ "${PIPESTATUS[0]}" = 0 ] || fail "$name: GenerateToFd into a pipe failed"
        client to-fd "$prompt" "${py[@]}" > "$o.prompt-to-fd" || fail "$name: PromptToFd failed"
        [ -s "$o.generate" ] || fail "$name: Generate returned no text"
        local f
        for f in stream tofd-file tofd-pipe prompt-to-fd; do
                cmp "$o.generate" "$o.$f" || {
                        echo "Generate: $(od -c "$o.generate" | head -5)"
                        echo "$f: $(od -c "$o.$f" | head -5)"
                        fail "$name: $f differs from Generate"
                }
        done
        # gdbus printed only the info tuple: the text went to fd 3 alone.
        grep -q "^({'tokens_prompt'" "$o.reply-file" || fail "$name: GenerateToFd reply: $(cat "$o.reply-file")"
        ok "$name: $(wc -c < "$o.generate") bytes, identical in all five forms"
}

same_five seed7 "Tell me about pipes" max_tokens=u:48 seed=t:7
same_five sampling "Another prompt, with sampling options" max_tokens=u:64 seed=t:123 temperature=d:0.7 \
        top_k=u:40 top_p=d:0.9 min_p=d:0.01 repeat_penalty=d:1.1
same_five greedy "Greedy" max_tokens=u:40 temperature=d:0
same_five raw "Raw text" max_tokens=u:32 seed=t:5 raw=b:true

check "the same seed gives the same text on every call; another seed differs"
client generate "Tell me about pipes" -o max_tokens=u:48 -o seed=t:7 > "$DIR/again"
cmp "$DIR/seed7.generate" "$DIR/again" || fail "seed 7 gave another text the second time"
client generate "Tell me about pipes" -o max_tokens=u:48 -o seed=t:8 > "$DIR/other"
! cmp -s "$DIR/seed7.generate" "$DIR/other" || fail "seeds 7 and 8 gave the same 48 tokens"
ok "deterministic per seed"

check "a stop string ends every form right before it, and is never sent"
# A short piece of the seed-7 answer whose first occurrence is at least 8 bytes in.
read -r stop prefix_len < <("$PY" - "$DIR/seed7.generate" <<'EOF'
import sys
t = open(sys.argv[1], 'rb').read().decode()
for i in range(8, len(t) - 3):
    s = t[i:i + 3]
    if t.find(s) == i and s.strip() == s and s.isprintable() and not set(s) & set('\'"\\'):
        print(s, len(t[:i].encode()))
        break
EOF
)
[ -n "$stop" ] || fail "no usable stop string in the seed-7 answer"
head -c "$prefix_len" "$DIR/seed7.generate" > "$DIR/stop.expected"
same_five stop "Tell me about pipes" max_tokens=u:48 seed=t:7 "stop=as:[\"$stop\"]"
cmp "$DIR/stop.generate" "$DIR/stop.expected" || fail "stop '$stop': text is not the $prefix_len bytes before it"
grep -q '"reason": "stop"' "$DIR/stop.stream.info" || fail "stop '$stop': Finished reason: $(cat "$DIR/stop.stream.info")"
ok "stop '$stop' ends all forms after $prefix_len bytes with reason stop"

check "a long answer arrives in several coalesced Chunks"
stop_gemmad
start_gemmad "$LONG_MODEL"
same_five long "Tell me a long story" max_tokens=u:400 seed=t:11
chunks=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks"])' "$DIR/long.stream.info")
[ "$chunks" -ge 2 ] || fail "400 tokens came in $chunks Chunk(s); flush_ms coalescing should give several"
[ "$chunks" -lt 400 ] || fail "400 tokens came in $chunks Chunks: not coalesced"
ok "400 tokens in $chunks Chunks"

check "a reader that leaves after 16 bytes: the request ends (slow-consumer), gemmad lives on"
r=$(client close-fd "Tell me a long story" -o max_tokens=u:3000 -o seed=t:11 --after 16) ||
        fail "close-fd client failed: $r"
[ "$r" = slow-consumer ] || fail "GenerateToFd whose reader left: got '$r', expected slow-consumer (dbus/README.md: EPIPE ends the request as a slow one)"
poll_until "ActiveRequests back to 0" prop_is ActiveRequests 0
ok "reader gone -> $r"

check "a reader that never reads (pipe of 4096 bytes, slow_consumer_bytes = 4096): slow-consumer, others unaffected"
stop_gemmad
GEMMAD_CONF=$'[stream]\nslow_consumer_bytes = 4096'
start_gemmad "$LONG_MODEL"
client hold-fd "Tell me a long story" -o max_tokens=u:3000 -o seed=t:11 > "$DIR/hold.out" 2> "$DIR/hold.log" &
hold=$!
track "$hold"
poll_until "the held request to run" prop_is ActiveRequests 1
client generate "Meanwhile" -o max_tokens=u:8 -o seed=t:1 > /dev/null || fail "Generate while a reader is stuck failed"
ok "another client is served while one fd is stuck"
wait "$hold" || fail "hold-fd failed: $(cat "$DIR/hold.log")"
cat "$DIR/hold.log"
[ "$(cat "$DIR/hold.out")" = slow-consumer ] || fail "stuck reader: finish_reason '$(cat "$DIR/hold.out")', expected slow-consumer"
poll_until "ActiveRequests back to 0" prop_is ActiveRequests 0
ok "stuck reader -> slow-consumer"

finish
