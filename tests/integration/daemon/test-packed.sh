#!/bin/bash
# Packed weights through the daemon: with pack_weights (the default) on a CPU with AVX-512 VNNI,
# PackedBytes becomes non-zero once the background copies are made, and an answer computed from
# them is exactly the answer of a daemon that reads the file only (pack_weights = false), whose
# PackedBytes stays 0. On other CPUs nothing is packed and both answers still agree.
# Usage: test-packed.sh GEMMAD SMALL_MODEL LONG_MODEL Q8_MODEL
Q8_MODEL=$(realpath "${4:?usage: test-packed.sh GEMMAD SMALL_MODEL LONG_MODEL Q8_MODEL}")
set -- "$1" "$2" "$3"
source "$(dirname "$0")/lib.sh"


# answer: a seeded answer of 40 tokens, text only
answer() {
        busctl --address="$DBUS_SESSION_BUS_ADDRESS" --json=short --timeout=300 call org.gemmad.Gemmad1 \
                /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager Generate 'sa{sv}' \
                "Describe the window on the screen in two sentences." 2 max_tokens u 40 seed t 7 |
                /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0])'
}

start_bus
start_gemmad "$Q8_MODEL"
# Whether this build on this CPU packs (AVX-512 VNNI kernels built and usable, not masked by
# GEMMAD_CPU_FEATURES) is what the daemon logged before it announced ready.
if grep -q "packing .* matrices" "$GEMMAD_LOG"; then
        packs=yes
        check "PackedBytes becomes non-zero once the copies are made"
        poll_until "PackedBytes > 0" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property org.gemmad.Gemmad1 \
                /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager PackedBytes | cut -d' ' -f2)\" -gt 0 ]"
        ok "PackedBytes $(propval PackedBytes)"
else
        packs=no
        grep -q "weights are read from the file only" "$GEMMAD_LOG" && fail "packing failed: $(grep -m1 'read from the file only' "$GEMMAD_LOG")"
        echo "nothing packs with this build on this CPU: PackedBytes must stay 0"
fi
check "an answer from the packed copies"
answer > "$DIR/packed.txt"
[ -s "$DIR/packed.txt" ] || fail "empty answer"
[ "$packs" = yes ] || prop_is PackedBytes 0 || fail "PackedBytes $(propval PackedBytes) where nothing packs"
ok "$(wc -c < "$DIR/packed.txt") bytes"
stop_gemmad

check "the same request on a daemon that reads the file only"
GEMMAD_CONF=$'[model]\npack_weights = false'
start_gemmad "$Q8_MODEL"
answer > "$DIR/file.txt"
prop_is PackedBytes 0 || fail "PackedBytes is $(propval PackedBytes) with pack_weights = false"
cmp -s "$DIR/packed.txt" "$DIR/file.txt" || fail "answers differ: $(cat "$DIR/packed.txt") // $(cat "$DIR/file.txt")"
ok "same answer, PackedBytes 0"

finish
