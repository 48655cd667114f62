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
log=$(mktemp "${TMPDIR:-/tmp}/oracle-log.XXXXXX")
trap 'rm -f "$out" "$log"' EXIT
"$gemma_model" eval "$case_dir/model.gguf" --tokens "@$case_dir/tokens.txt" --logits "$out" "$@" 2> "$log" || { cat "$log" >&2; exit 1; }
cat "$log" >&2
# A run asked to use OpenCL must really have used it: the CPU fallback would match the
# reference too and prove nothing about the device.
case " $* " in
*" --backend opencl"*)
        grep -q 'layers 0-.* on the device' "$log" || { echo "FAIL: OpenCL was asked for but not used" >&2; exit 1; } ;;
esac
"$compare" "$out" "$case_dir/$ref" "$n_vocab" 1e-3 1e-3
