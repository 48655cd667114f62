#!/bin/bash
# Runs one benchmark program on the E2B preset (real E2B dimensions, random weights) in each of
# the given weight types (default q4_0), each model generated once into the cache directory.
# Usage: run-on-e2b.sh GEMMA_MODEL BENCH_PROGRAM CACHE_DIR [THREADS] [TYPE...]
set -euo pipefail
gm=$1 bench=$2 cache=$3 threads=${4:-0}
shift $(($# < 4 ? $# : 4))
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(q4_0)
mkdir -p "$cache"
for type in "${types[@]}"; do
        model=$cache/e2b-$type.gguf
        if [ ! -s "$model" ]; then
                echo "generating $model"
                "$gm" make-test "$model" --preset e2b --type "$type"
        fi
        echo "== E2B preset, $type: $(basename "$bench")"
        "$bench" "$model" "$threads"
done
