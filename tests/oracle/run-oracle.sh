#!/bin/bash
# Runs one oracle case through gemma-model eval and compares with the reference logits.
# Usage: run-oracle.sh GEMMA_MODEL COMPARE CASE_DIR REF_NAME [eval options...]
set -euo pipefail
gemma_model=$1 compare=$2 case_dir=$3 ref=$4
shift 4
out=$(mktemp "${TMPDIR:-/tmp}/oracle-logits.XXXXXX")
trap 'rm -f "$out"' EXIT
n_vocab=$(( $(stat -c %s "$case_dir/$ref") / 4 / $(tr ',' '\n' < "$case_dir/tokens.txt" | grep -c .) ))
echo "case $(basename "$case_dir"), reference $ref, eval options: ${*:-(batch)}"
"$gemma_model" eval "$case_dir/model.gguf" --tokens "@$case_dir/tokens.txt" --logits "$out" "$@"
"$compare" "$out" "$case_dir/$ref" "$n_vocab" 1e-3 1e-3
