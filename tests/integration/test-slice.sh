#!/bin/bash
# gemma-model slice, and --slice on eval and generate: an exported slice loaded normally gives
# exactly the logits (and the text) of the same slice taken as a view of the full file; presets,
# spec errors and exit codes as a user sees them. Usage: test-slice.sh GEMMA_MODEL COMPARE
set -euo pipefail
gm=$1 compare=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/slice.XXXXXX")
trap 'rm -rf "$dir"' EXIT

tokens=2,17,99,5,250,42,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28
fail() { echo "FAIL: $*"; exit 1; }

# expect_exit CODE PATTERN COMMAND...: the command exits with CODE and says PATTERN on stderr.
expect_exit() {
        local want=$1 pattern=$2; shift 2
        local rc=0
        "$@" > "$dir/out" 2> "$dir/err" || rc=$?
        [ "$rc" = "$want" ] || { cat "$dir/err"; fail "'$*' exited $rc, not $want"; }
        grep -qE -- "$pattern" "$dir/err" || { cat "$dir/err"; fail "'$*' did not say /$pattern/"; }
}

# same MODEL VOCAB SLICE: export the slice, then eval the view and the file (batch and decode).
same() {
        local model=$1 vocab=$2 slice=$3
        echo "== $(basename "$model"): --slice '$slice'"
        "$gm" slice "$model" "$dir/sliced.gguf" --slice "$slice"
        "$gm" eval "$model" --tokens "$tokens" --slice "$slice" --logits "$dir/view.f32"
        "$gm" eval "$dir/sliced.gguf" --tokens "$tokens" --logits "$dir/file.f32"
        "$compare" "$dir/view.f32" "$dir/file.f32" "$vocab" 0
        "$gm" eval "$model" --tokens "$tokens" --slice "$slice" --decode --logits "$dir/view-decode.f32"
        "$gm" eval "$dir/sliced.gguf" --tokens "$tokens" --decode --logits "$dir/file-decode.f32"
        "$compare" "$dir/view-decode.f32" "$dir/file-decode.f32" "$vocab" 0
        "$compare" "$dir/view-decode.f32" "$dir/view.f32" "$vocab" 1e-5
}

# A 12-layer model: global layers 4 and 9, layers 8..11 share KV (sliding ones read 7, 9 reads 4).
m=$dir/m.gguf
"$gm" make-test "$m" --layers 12 --kv-shared 4 --sparse-layers 4 --type q8_0 --ple-type q4_0
"$gm" slice "$m" --list | tee "$dir/list"
for p in full ffn-75 ffn-50 ffn-100-skip ffn-75-skip ffn-50-skip; do
        grep -qE "^$p " "$dir/list" || fail "preset $p not listed"
done
same "$m" 512 ffn-50-skip
same "$m" 512 "ffn=96,64,128,32,64,96,128,32,64;skip=1,5,10"
same "$m" 512 "ffn=75%"

# --ffn-units K is the uniform slice ffn=K.
"$gm" eval "$m" --tokens "$tokens" --ffn-units 64 --logits "$dir/units.f32"
"$gm" eval "$m" --tokens "$tokens" --slice ffn=64 --logits "$dir/spec.f32"
"$compare" "$dir/units.f32" "$dir/spec.f32" 512 0

# generate on the view and on the exported file: the same text.
"$gm" slice "$m" "$dir/sliced.gguf" --slice ffn-75-skip > /dev/null
"$gm" generate "$m" --slice ffn-75-skip --temperature 0 --max-tokens 12 "hello world" > "$dir/view.txt"
"$gm" generate "$dir/sliced.gguf" --temperature 0 --max-tokens 12 "hello world" > "$dir/file.txt"
cmp "$dir/view.txt" "$dir/file.txt" || fail "generate: the exported slice writes other text"

# Errors.
expect_exit 1 'layer 7 cannot be skipped: layer 8 reads its KV' "$gm" slice "$m" "$dir/x.gguf" --slice skip=7
expect_exit 1 "no preset 'e2b'" "$gm" slice "$m" "$dir/x.gguf" --slice e2b
expect_exit 1 "slice spec 'ffn=40'|40 FFN units is not a multiple of 32" "$gm" eval "$m" --tokens 2 --top --slice ffn=40
expect_exit 2 '--slice NAME\|SPEC is required' "$gm" slice "$m" "$dir/x.gguf"
expect_exit 2 'cannot be combined' "$gm" eval "$m" --tokens 2 --top --ffn-units 64 --slice full
expect_exit 2 'cannot be combined' "$gm" generate "$m" --ffn-units 64 --slice full hi
[ ! -e "$dir/x.gguf" ] || fail "a failed export left a file"

# An E4B-shaped model (35 layers, the top 15 sharing KV): the official configurations, and E2B
# cut out of it has E2B's layout.
e4b=$dir/e4b.gguf
"$gm" make-test "$e4b" --preset e4b --hidden 64 --heads 2 --kv-heads 1 --head-dim 32 --vocab 300 --ffn 128 \
        --window 6 --context 4096 --type f16
"$gm" slice "$e4b" --list | tee "$dir/list"
for p in full e2b e1.96b-layer e2.54b-layer e3.79b-layer e2.49b-block e3.79b-block ffn-100-skip; do
        grep -qE "^$p " "$dir/list" || fail "preset $p not listed for the E4B shape"
done
grep -qE '^e2b +30 .*ffn=64;skip=20-24$' "$dir/list" || fail "e2b is not 30 layers of 64 without 20-24"
same "$e4b" 300 e2b
"$gm" info "$dir/sliced.gguf" > "$dir/info"
grep -qE '^architecture: *gemma3n, 30 layers' "$dir/info" || fail "E2B export: not 30 layers"
grep -qE 'KV sharing: *top 10 layers' "$dir/info" || fail "E2B export: not 10 KV-sharing layers"
same "$e4b" 300 e2.98b-layer
echo "slices export and evaluate as their views"
