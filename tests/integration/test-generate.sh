#!/bin/bash
# gemma-model generate and tokenize as a user runs them, on a generated model: the same seed
# gives the same text, --stats reports what was computed, stop strings end the text without being
# printed, and the context and sampling limits give clear errors.
# Usage: test-generate.sh GEMMA_MODEL
set -euo pipefail
gm=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/generate.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
model=$dir/model.gguf
"$gm" make-test "$model" --seed 5 --vocab 600 --layers 8 --kv-shared 2 --hidden 64 --type q8_0

gen() { "$gm" generate "$model" --threads 2 "$@"; }

# Determinism: the same seed twice, byte for byte; a different seed differs.
gen --seed 11 --max-tokens 40 --temperature 1 "Hello world" > "$dir/a"
gen --seed 11 --max-tokens 40 --temperature 1 "Hello world" > "$dir/b"
gen --seed 12 --max-tokens 40 --temperature 1 "Hello world" > "$dir/c"
cmp "$dir/a" "$dir/b" || fail "same seed, different text"
! cmp -s "$dir/a" "$dir/c" || fail "seeds 11 and 12 gave the same 40 tokens"
[ -s "$dir/a" ] || fail "no text generated"
echo "ok: seed 11 twice gives the same $(wc -c < "$dir/a") bytes; seed 12 differs"

# Stats: the prompt is the chat template around the text, as tokenize counts it.
gen --seed 11 --max-tokens 40 --temperature 1 --stats "Hello world" > /dev/null 2> "$dir/stats"
cat "$dir/stats"
template=$'<bos><start_of_turn>user\nHello world<end_of_turn>\n<start_of_turn>model\n'
n_prompt=$("$gm" tokenize "$model" --special "$template" | tr ',' '\n' | grep -c .)
grep -q "^prompt tokens: *$n_prompt\$" "$dir/stats" || fail "--stats prompt tokens differ from tokenize's $n_prompt"
grep -qE '^generated tokens: *40 \(finish: length\)$' "$dir/stats" || fail "40 tokens should end with reason length"
grep -qE '^time to first: *[0-9.]+ ms$' "$dir/stats" || fail "no time to first token"
grep -qE '^decode: *[0-9.]+ tokens/s$' "$dir/stats" || fail "no decode speed"

# Greedy is deterministic without a seed; --raw skips the template.
gen --temperature 0 --max-tokens 20 --raw "abc" > "$dir/g1"
gen --temperature 0 --max-tokens 20 --raw "abc" --seed 999 > "$dir/g2"
cmp "$dir/g1" "$dir/g2" || fail "greedy output depends on the seed"

# A stop string taken from the middle of the text: output is exactly what came before it.
text=$(cat "$dir/a")
stop= prefix=
for ((i = 6; i + 3 < ${#text}; i++)); do   # the first 3 characters whose first occurrence is past 5
        stop=${text:i:3}
        prefix=${text%%"$stop"*}
        [ ${#prefix} -ge 5 ] && break
done
if [ ${#prefix} -ge 5 ]; then
        gen --seed 11 --max-tokens 40 --temperature 1 --stop "$stop" "Hello world" > "$dir/s"
        [ "$(cat "$dir/s")" = "$prefix" ] || fail "stop '$stop': got '$(cat "$dir/s")', expected '$prefix'"
        echo "ok: stop string '$stop' ends the text after ${#prefix} characters"
else
        fail "no usable stop string in '$text'"
fi

# The prompt from standard input equals the argument.
echo -n "Hello world" | gen --seed 11 --max-tokens 40 --temperature 1 - > "$dir/stdin"
cmp "$dir/a" "$dir/stdin" || fail "prompt from stdin differs"

# Context: a prompt longer than the context is an error naming both numbers.
out=$(gen --context 8 "one two three four five six seven eight nine ten" 2>&1) && fail "long prompt accepted"
grep -qE 'has [0-9]+ tokens but the context holds 8' <<<"$out" || fail "unclear context error: $out"
# Reaching the end of the context ends with reason length.
gen --context 24 --max-tokens 1000 --stats --temperature 1 --seed 3 "Hi" > /dev/null 2> "$dir/ctx"
grep -qE 'finish: length' "$dir/ctx" || fail "context end should finish with length: $(cat "$dir/ctx")"

# Bad sampling parameters are usage errors naming the parameter.
for bad in "--top-p 1.5" "--temperature -1" "--min-p 2" "--repeat-penalty 0" "--temperature nan"; do
        status=0
        out=$(gen $bad "x" 2>&1) || status=$?
        [ "$status" = 2 ] || fail "'$bad' exited $status, expected 2: $out"
        name=${bad%% *}; name=${name#--}; name=${name//-/_}
        grep -q "$name" <<<"$out" || fail "'$bad' error does not name $name: $out"
done
status=0; out=$(gen --system S --raw "x" 2>&1) || status=$?
[ "$status" = 2 ] || fail "--system with --raw should be a usage error"
echo "all generate checks passed"
