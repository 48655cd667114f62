#!/bin/bash
# Several clients at once: two concurrent streams (and three concurrent one-shot calls) each get
# exactly the answer they get alone; a third connection can neither use, read, introspect nor
# overhear another client's session, and does not see it listed.
# Usage: test-clients.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

start_bus
start_gemmad "$LONG_MODEL"

A=(client stream "Alpha: tell me about rivers" -o max_tokens=u:300 -o seed=t:1)
B=(client stream "Beta: something else entirely" -o max_tokens=u:300 -o seed=t:2 -o temperature=d:0.8)

check "each stream alone"
"${A[@]}" > "$DIR/a.alone" || fail "stream A alone failed"
"${B[@]}" > "$DIR/b.alone" || fail "stream B alone failed"
! cmp -s "$DIR/a.alone" "$DIR/b.alone" || fail "A and B gave the same text"
ok "A $(wc -c < "$DIR/a.alone") bytes, B $(wc -c < "$DIR/b.alone") bytes"

check "both streams at once: each gets exactly its own answer"
for round in 1 2; do
        "${A[@]}" > "$DIR/a.$round" 2> "$DIR/a.$round.log" &
        pa=$!
        "${B[@]}" > "$DIR/b.$round" 2> "$DIR/b.$round.log" &
        pb=$!
        track "$pa" "$pb"
        wait "$pa" || fail "stream A (round $round) failed: $(cat "$DIR/a.$round.log")"
        wait "$pb" || fail "stream B (round $round) failed: $(cat "$DIR/b.$round.log")"
        cmp "$DIR/a.alone" "$DIR/a.$round" || fail "A's answer changed when B ran at the same time (round $round)"
        cmp "$DIR/b.alone" "$DIR/b.$round" || fail "B's answer changed when A ran at the same time (round $round)"
done
ok "two rounds of A and B together, both identical to alone"

check "three one-shot Generate calls at once"
for i in 1 2 3; do
        gcall Generate "One-shot $i" "$(gv_opts max_tokens=u:200 seed=t:$i)" > "$DIR/g$i.alone"
done
pids=()
for i in 1 2 3; do
        gcall Generate "One-shot $i" "$(gv_opts max_tokens=u:200 seed=t:$i)" > "$DIR/g$i.together" &
        pids+=($!)
done
track "${pids[@]}"
for i in 1 2 3; do
        wait "${pids[$((i - 1))]}" || fail "concurrent Generate $i failed"
        # The info differs in its timings only.
        sed -E "s/'ttft_ms'.*//" "$DIR/g$i.alone" > "$DIR/g$i.a"
        sed -E "s/'ttft_ms'.*//" "$DIR/g$i.together" > "$DIR/g$i.t"
        cmp "$DIR/g$i.a" "$DIR/g$i.t" || fail "Generate $i differs when run with two others"
done
ok "three concurrent Generate calls equal their solo answers"

check "a third client cannot touch, read, introspect or overhear another client's session"
client steal "The owner's prompt" -o max_tokens=u:1000 -o seed=t:1 > "$DIR/steal.out" ||
        fail "the owner/thief checks failed (see above)"
# The owner's answer was not disturbed by the thief (same prompt and seed alone).
client stream "The owner's prompt" -o max_tokens=u:1000 -o seed=t:1 > "$DIR/owner.alone"
cmp "$DIR/owner.alone" "$DIR/steal.out" || fail "the owner's answer changed while the thief tried its session"
ok "AccessDenied for every method and property, no signals, not listed; the owner's answer intact"

check "no sessions are left behind"
poll_until "Sessions back to 0" prop_is Sessions 0
poll_until "ActiveRequests back to 0" prop_is ActiveRequests 0
ok "Sessions 0, ActiveRequests 0"

finish
