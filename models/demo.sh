#!/bin/bash
# The main job, for now: build gemmad's engine, then run Gemma 3n on a model. Without a model
# argument it generates a small random-weight one (these weights produce no meaningful text;
# they show the file layout, the loader's report and the decoder at work).
# Usage: models/demo.sh [MODEL.gguf]
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
gm=build/models/gemma-model

model=${1:-}
if [ -z "$model" ]; then
        model=build/demo-model.gguf
        echo "== No model given: generating a random-weight Gemma 3n test model at $model"
        "$gm" make-test "$model" --seed 42 --layers 12 --hidden 256 --heads 4 --kv-heads 2 --head-dim 64 \
                --ffn 1024 --vocab 2048 --window 16 --kv-shared 4 --sparse-layers 4 --type q8_0
fi
echo "== gemma-model info $model"
"$gm" info "$model"
tokens=2,105,1000,200,300,400,500,600,106
echo "== gemma-model eval: next-token candidates after each of the tokens $tokens (batch, then decode)"
"$gm" eval "$model" --tokens "$tokens" --logits build/demo-batch.f32 --top
"$gm" eval "$model" --tokens "$tokens" --logits build/demo-decode.f32 --decode >/dev/null
if cmp -s build/demo-batch.f32 build/demo-decode.f32; then
        echo "== batch and one-token-at-a-time decoding gave bit-identical logits"
else
        echo "== batch and decode logits differ in the last bits (summation order); the tests bound the difference"
fi
prompt="Write a haiku about pipes."
echo "== gemma-model generate: '$prompt' (a random-weight model answers with noise; a real one does not)"
"$gm" generate "$model" --seed 1 --max-tokens 48 --stats "$prompt"
