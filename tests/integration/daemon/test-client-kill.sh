#!/bin/bash
# Clients that die mid-stream (SIGKILL: no Close, no goodbye): the session of a killed client
# disappears (sd_bus_track), its request stops, everyone else carries on undisturbed; and 200
# such deaths in a row neither leak sessions nor grow the daemon's memory.
# Usage: test-client-kill.sh GEMMAD SMALL_MODEL LONG_MODEL

# ASan keeps freed memory in a quarantine (256 MiB by default) before reusing it, which would
# show up as RSS growth over 200 requests. A small quarantine keeps RSS meaningful while ASan
# still checks use-after-free for recent frees.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8
source "$(dirname "$0")/lib.sh"

start_bus
start_gemmad "$LONG_MODEL"

stat_of() { prop Stats | sed -nE "s/.*\"$1\" t ([0-9]+).*/\1/p"; }
session_gone() {   # another connection gets UnknownObject (not AccessDenied) on the path
        local out
        out=$(gdbus call --session -d org.gemmad.Gemmad1 -o "$1" -m org.gemmad.Gemmad1.Session.Cancel 0 2>&1) && return 1
        grep -q org.freedesktop.DBus.Error.UnknownObject <<<"$out"
}
idle() { prop_is Sessions 0 && prop_is ActiveRequests 0; }

BYSTANDER=(client stream "A bystander's prompt" -o max_tokens=u:600 -o seed=t:4 --expect-reason length,stop)
check "a bystander's answer alone"
"${BYSTANDER[@]}" > "$DIR/b.alone" || fail "bystander alone failed"
ok "$(wc -c < "$DIR/b.alone") bytes"

check "a client SIGKILLed mid-stream: its session goes, the bystander's stream completes unchanged"
cancelled0=$(stat_of cancelled)
"${BYSTANDER[@]}" > "$DIR/b.out" 2> "$DIR/b.log" &
bystander=$!
track "$bystander"
# Seed 1 runs the full 3000 tokens (several seconds): whatever ends it early is the kill.
client stream "The victim's prompt" -o max_tokens=u:3000 -o seed=t:1 --ready "$DIR/victim.ready" \
        > /dev/null 2> "$DIR/victim.log" &
victim=$!
track "$victim"
poll_until "the victim's first Chunk" test -s "$DIR/victim.ready"
path=$(cat "$DIR/victim.ready")
expect_error org.freedesktop.DBus.Error.AccessDenied \
        gdbus call --session -d org.gemmad.Gemmad1 -o "$path" -m org.gemmad.Gemmad1.Session.Cancel 0
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
t0=$(now_ms)
POLL_TIMEOUT=5 poll_until "the victim's session $path to disappear" session_gone "$path"
cancelled_grew() { [ "$(stat_of cancelled)" -gt "$cancelled0" ]; }
POLL_TIMEOUT=5 poll_until "the victim's request to end as cancelled (Stats cancelled)" cancelled_grew
ok "the victim's session is gone (UnknownObject to others) and its request cancelled, $(($(now_ms) - t0)) ms after the kill"
wait "$bystander" || fail "the bystander failed: $(cat "$DIR/b.log")"
cmp "$DIR/b.alone" "$DIR/b.out" || fail "the bystander's answer changed when the victim was killed"
ok "the bystander's answer is identical to its solo run"
poll_until "Sessions and ActiveRequests back to 0" idle
ok "Sessions 0, ActiveRequests 0"

check "200 clients killed at their first Chunk; no leak of sessions or memory"
KILL=(client kill-loop "Kill me" -o max_tokens=u:2000 -o seed=t:5)
requests0=$(stat_of requests)
decoded0=$(stat_of decoded_tokens)
"${KILL[@]}" 20 || fail "kill loop (first 20) failed"
poll_until "Sessions and ActiveRequests back to 0 after 20 kills" idle
rss20=$(gemmad_rss_kb)
"${KILL[@]}" 180 || fail "kill loop (next 180) failed"
poll_until "Sessions and ActiveRequests back to 0 after 200 kills" idle
rss200=$(gemmad_rss_kb)
requests1=$(stat_of requests)
[ $((requests1 - requests0)) -eq 200 ] || fail "Stats requests grew by $((requests1 - requests0)), expected 200"
# Every killed client had received text, so every request decoded at least one token.
decoded1=$(stat_of decoded_tokens)
[ $((decoded1 - decoded0)) -ge 200 ] ||
        fail "Stats decoded_tokens grew by $((decoded1 - decoded0)) over 200 requests that each sent text"
growth=$((rss200 - rss20))
echo "VmRSS after 20 kills: $rss20 kB, after 200: $rss200 kB, growth $growth kB"
# Bound: 20 MiB. Measured on the ASan build with an 8 MiB quarantine: growth stays within a few
# MiB (allocator and quarantine noise); a leaked session (its KV cache, ~100 KiB-1 MiB each here)
# or request per kill would add tens to hundreds of MiB over 180 kills.
[ "$growth" -lt 20480 ] || fail "gemmad RSS grew by $growth kB over 180 killed clients (bound 20480 kB)"
ok "200 kills: Stats requests +200, Sessions 0, RSS growth $growth kB < 20 MiB"

check "the daemon still answers correctly"
"${BYSTANDER[@]}" > "$DIR/b.after" || fail "bystander after the kills failed"
cmp "$DIR/b.alone" "$DIR/b.after" || fail "the bystander's answer changed after 200 kills"
ok "same answer as before the kills"

finish
