#!/bin/bash
# gemma-model's command line: help on every command, usage errors exit 2 with one clear line,
# broken model files exit 1 naming the problem. Usage: test-gemma-model-cli.sh GEMMA_MODEL ORACLE_DIR
set -euo pipefail
gm=$1 oracle=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect STATUS PATTERN -- command...: exit status and a line of stdout+stderr matching PATTERN.
expect() {
        local want=$1 pattern=$2; shift 3
        local out status=0
        out=$("$@" 2>&1) || status=$?
        [ "$status" = "$want" ] || fail "'$*' exited $status, expected $want. Output:
$out"
        grep -qE -- "$pattern" <<<"$out" || fail "'$*' output lacks /$pattern/:
$out"
        echo "ok: $* -> $status"
}

expect 0 '^Usage: gemma-model COMMAND' -- "$gm" --help
for cmd in info make-test eval; do
        expect 0 "^Usage: gemma-model $cmd" -- "$gm" "$cmd" --help
done
expect 2 'unknown command' -- "$gm" frobnicate
expect 2 'Usage' -- "$gm"
expect 2 'expected exactly one MODEL' -- "$gm" info
expect 2 '--tokens is required' -- "$gm" eval "$oracle/model.gguf" --logits "$dir/x"
expect 2 "--tokens: 'x' is not an integer" -- "$gm" eval "$oracle/model.gguf" --tokens 1,x --top
expect 2 '--layers: 0 is out of range' -- "$gm" make-test "$dir/m.gguf" --layers 0
expect 2 "--type: 'q4_k' is not a type make-test can write" -- "$gm" make-test "$dir/m.gguf" --type q4_k
expect 2 '--ffn: 2 widths given for 8 layers' -- "$gm" make-test "$dir/m.gguf" --ffn 32,64
expect 2 'must be a positive multiple of --kv-heads' -- "$gm" make-test "$dir/m.gguf" --heads 3 --kv-heads 2
[ ! -e "$dir/m.gguf" ] || fail "a rejected make-test left a file behind"

expect 1 'cannot open: No such file' -- "$gm" info "$dir/missing.gguf"
expect 1 'not a regular file' -- "$gm" info "$dir"
printf 'NOPE-not-a-model-at-all-no-no-no' > "$dir/bad-magic.gguf"
expect 1 'not a GGUF file \(bad magic\)' -- "$gm" info "$dir/bad-magic.gguf"
head -c 100000 "$oracle/model.gguf" > "$dir/truncated.gguf"
expect 1 "tensor '[^']+' extends past end of file \(offset [0-9]+, size [0-9]+" -- "$gm" info "$dir/truncated.gguf"
head -c 3000 "$oracle/model.gguf" > "$dir/short.gguf"
expect 1 'tensor count 175 cannot fit in a file of 3000 bytes' -- "$gm" info "$dir/short.gguf"
head -c 6000 "$oracle/model.gguf" > "$dir/cut-in-vocabulary.gguf"
expect 1 "file truncated in element of string array 'tokenizer.ggml.tokens' \\(needs 8 bytes at offset 6000, file has 6000\\)" -- "$gm" info "$dir/cut-in-vocabulary.gguf"

expect 1 'token id 400 at position 1 is out of range \(vocabulary 400\)' -- "$gm" eval "$oracle/model.gguf" --tokens 2,400 --top
expect 1 '1000 FFN units requested \(allowed 1..160' -- "$gm" eval "$oracle/model.gguf" --tokens 2,3 --top --ffn-units 1000
expect 0 '^1: [0-9]+\(' -- "$gm" eval "$oracle/model.gguf" --tokens 2,3 --top
echo "all CLI checks passed"
