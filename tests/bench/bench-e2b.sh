#!/bin/bash
# Benchmarks on the E2B preset (real E2B dimensions, random weights) in Q4_0 and Q8_0, 2 threads:
# prompt processing, generation, memory bandwidth and the decode bound, each figure from one run.
# The model files are generated once and cached in the build directory (about 2.5 and 4.5 GiB).
# Usage: bench-e2b.sh GEMMA_MODEL CACHE_DIR [THREADS]
set -euo pipefail
gm=$1 cache=$2 threads=${3:-2}
mkdir -p "$cache"
for type in q4_0 q8_0; do
        model=$cache/e2b-$type.gguf
        if [ ! -s "$model" ]; then
                echo "generating $model"
                "$gm" make-test "$model" --preset e2b --type "$type"
        fi
        echo "== E2B preset, $type, $threads threads"
        "$gm" bench "$model" --threads "$threads" -p 512 -n 128 -r 3
        "$gm" bench "$model" --threads "$threads" -p 512 -n 128 -r 3 --json > "$cache/bench-$type.json"
done
