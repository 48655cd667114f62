#!/bin/bash
# gemmad on the OpenCL backend (POCL in CI): Backend, DeviceBytes and HostBytes say where the
# layers run; a greedy answer, a second one behind the same prefix (device KV pages reused
# through the prefix cache) and a batch of two concurrent sessions equal the CPU backend's; a
# device that cannot be used leaves gemmad ready on the CPU, saying why.
# Usage: test-opencl.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

start_bus
system=$(printf 'Answer briefly and precisely. %.0s' $(seq 20))
# ask QUESTION: the answer text of a greedy Generate behind the shared system prompt.
ask() {
        busctl --address="$BUS_ADDRESS" --json=short --timeout=300 call "${MGR[@]}" Generate 'sa{sv}' "$1" 4 \
                system s "$system" max_tokens u 40 temperature d 0 seed t 5 |
                "$PY" -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d[0]); print(d[1]["tokens_cached"]["data"], file=sys.stderr)'
}
run_all() {
        ask "What is a pipe?" > "$DIR/$1.a" 2> "$DIR/$1.a.cached"
        ask "What is a socket?" > "$DIR/$1.b" 2> "$DIR/$1.b.cached"
        # Two at once: one batched step serves both.
        ask "Name a colour." > "$DIR/$1.c" 2>/dev/null &
        local p=$!
        ask "Name a number." > "$DIR/$1.d" 2>/dev/null
        wait "$p"
}

check "gemmad --backend opencl"
start_gemmad "$SMALL_MODEL" --backend opencl
backend=$(propval Backend)
case $backend in opencl:*) ;; *) show_logs; fail "Backend is '$backend'" ;; esac
device=$(propval DeviceBytes)
host=$(propval HostBytes)
[ "$device" -gt 0 ] || fail "DeviceBytes is $device"
[ "$host" -gt 0 ] || fail "HostBytes is $host"
grep -q 'on the device' "$GEMMAD_LOG" || fail "no placement line in the log"
ok "$backend, DeviceBytes $device, HostBytes $host (device share $(awk "BEGIN { printf \"%.3f\", $device / ($device + $host) }"))"

check "answers on the device"
run_all cl
[ "$(cat "$DIR/cl.b.cached")" -gt 0 ] || fail "the second request reused no cached prefix"
ok "second request reused $(cat "$DIR/cl.b.cached") cached tokens"
finish

check "the same requests on the CPU backend give the same answers"
start_gemmad "$SMALL_MODEL" --backend cpu
[ "$(propval Backend)" = cpu ] || fail "Backend is $(propval Backend)"
[ "$(propval DeviceBytes)" = 0 ] || fail "DeviceBytes is $(propval DeviceBytes) on the CPU"
run_all cpu
for x in a b c d; do
        cmp -s "$DIR/cl.$x" "$DIR/cpu.$x" || fail "answer $x differs: '$(cat "$DIR/cl.$x")' vs '$(cat "$DIR/cpu.$x")'"
done
ok "4 identical answers ($(cat "$DIR"/cpu.? | wc -c) bytes)"
stop_gemmad

check "an unusable device leaves gemmad ready on the CPU, saying why"
GEMMAD_OPENCL_TEST_BREAK_SOURCE=1 start_gemmad "$SMALL_MODEL" --backend opencl
[ "$(propval Backend)" = cpu ] || fail "Backend is $(propval Backend)"
grep -q 'using the CPU: .*test hook' "$GEMMAD_LOG" || { show_logs; fail "the reason is not in the log"; }
ask "What is a pipe?" > "$DIR/fb.a" 2>/dev/null
cmp -s "$DIR/fb.a" "$DIR/cpu.a" || fail "fallback answer differs from the CPU's"
ok "$(grep -o 'using the CPU: .\{0,60\}' "$GEMMAD_LOG" | head -1)..."
finish
