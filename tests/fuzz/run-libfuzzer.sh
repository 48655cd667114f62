#!/bin/bash
# Builds one fuzz target with clang's libFuzzer (plus ASan and UBSan) and runs it for a bounded
# time, starting from a copy of its corpus. A crash fails the test and prints the input's path.
# Usage: run-libfuzzer.sh CLANG SOURCE_ROOT TARGET.c WORK_DIR CORPUS_DIR SECONDS [CLANG_ARG...]
# The CLANG_ARGs (include dirs, more sources, -l libraries) follow the parser sources on the
# command line, for targets outside models/.
set -euo pipefail
clang=$1 root=$2 target=$3 work=$4 corpus=$5 seconds=$6
shift 6
extra=("$@")
mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$corpus"/* "$work/corpus/" 2>/dev/null || true

# The parsers' rooms: base, gguf, tensor, and the tokenizer.
sources=("$root"/models/base/*.c "$root"/models/gguf/*.c "$root"/models/tensor/*.c
         "$root"/models/text/tokenizer.c "$root"/models/text/utf8.c)
if ! "$clang" -g -O1 -std=gnu17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$root/models" "$target" "${sources[@]}" ${extra[@]+"${extra[@]}"} -lm -o "$work/fuzzer" 2>"$work/build.log"; then
        if grep -q -e 'libclang_rt.fuzzer' -e 'cannot find' -e 'unsupported option' "$work/build.log"; then
                echo "SKIP: clang cannot link libFuzzer here:"; cat "$work/build.log"
                exit 77
        fi
        cat "$work/build.log"; exit 1
fi
echo "running $(basename "$target") for ${seconds}s from $(ls "$work/corpus" | wc -l) corpus inputs"
set +o pipefail
"$work/fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
        echo "fuzzer failed (status $status); inputs: $(ls "$work/artifacts")"
        exit 1
fi
