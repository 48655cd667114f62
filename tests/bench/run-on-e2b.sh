#!/bin/bash
# Runs one benchmark program on the E2B preset in Q4_0 (real E2B dimensions, random weights),
# generated once into the cache directory.
# Usage: run-on-e2b.sh GEMMA_MODEL BENCH_PROGRAM CACHE_DIR [THREADS]
set -euo pipefail
gm=$1 bench=$2 cache=$3 threads=${4:-0}
mkdir -p "$cache"
model=$cache/e2b-q4_0.gguf
if [ ! -s "$model" ]; then
        echo "generating $model"
        "$gm" make-test "$model" --preset e2b --type q4_0
fi
echo "== E2B preset, q4_0: $(basename "$bench")"
"$bench" "$model" "$threads"
