#!/bin/bash
# make-test -> info -> eval round trip over several shapes: every generated model loads, reports
# what was asked for, and gives the same logits in one batch, in micro-batches and one token at a
# time. Usage: test-roundtrip.sh GEMMA_MODEL COMPARE
set -euo pipefail
gm=$1 compare=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/roundtrip.XXXXXX")
trap 'rm -rf "$dir"' EXIT

tokens=2,17,99,5,250,42,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25
check() {
        local name=$1; shift
        echo "== $name: make-test $*"
        "$gm" make-test "$dir/$name.gguf" "$@"
        "$gm" info "$dir/$name.gguf" > "$dir/$name.info"
        local vocab
        vocab=$(sed -n 's/^vocabulary: *\([0-9]*\) tokens.*/\1/p' "$dir/$name.info")
        "$gm" eval "$dir/$name.gguf" --tokens "$tokens" --logits "$dir/$name.batch"
        "$gm" eval "$dir/$name.gguf" --tokens "$tokens" --logits "$dir/$name.ubatch" --ubatch 4
        "$gm" eval "$dir/$name.gguf" --tokens "$tokens" --logits "$dir/$name.decode" --decode
        "$compare" "$dir/$name.decode" "$dir/$name.batch" "$vocab" 1e-5
        "$compare" "$dir/$name.ubatch" "$dir/$name.batch" "$vocab" 1e-5
}
expect_info() {   # expect_info NAME PATTERN
        grep -qE "$2" "$dir/$1.info" || { echo "info of $1 lacks /$2/:"; cat "$dir/$1.info"; exit 1; }
}

check default
expect_info default '^architecture: *gemma3n, 8 layers'
expect_info default 'KV sharing: *top 2 layers'
expect_info default '^file type: *0 '

check per-layer-ffn --layers 6 --ffn 64,96,128,64,96,32 --kv-shared 1 --swa-period 3 --window 4
expect_info per-layer-ffn '^ +1  96 +sliding'
expect_info per-layer-ffn '^ +2  128 +global'
expect_info per-layer-ffn '^ +5  32 +global +layer 2'

check no-kv-sharing --layers 4 --kv-shared 0 --heads 4 --kv-heads 2 --hidden 96 --head-dim 16
expect_info no-kv-sharing 'KV sharing: *top 0 layers'

check gqa-f16 --layers 7 --heads 8 --kv-heads 2 --head-dim 8 --type f16 --seed 9 --sparse-layers 7
expect_info gqa-f16 'f16 +[0-9]+ tensors'
expect_info gqa-f16 '^file type: *1 '

check q8_0 --type q8_0 --ffn 96 --vocab 300
expect_info q8_0 'q8_0 +[0-9]+ tensors'
expect_info q8_0 '^file type: *7 '   # the numbers other GGUF runtimes read: "mostly q8_0"

check q4_0-bf16 --type q4_0 --ple-type bf16 --hidden 128 --ffn 256
expect_info q4_0-bf16 'bf16 +1 tensors'
expect_info q4_0-bf16 '^file type: *2 '

check all-sliding --swa-period 0 --kv-shared 3 --window 3
echo "all shapes round-trip"
