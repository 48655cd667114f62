#!/bin/bash
# Every test: installs what is missing, builds with AddressSanitizer and UndefinedBehaviorSanitizer
# in build/, runs the whole suite (unit, oracle, cli, fuzz), and ends with one summary line.
# Benchmarks are not part of it (meson test -C build --suite bench).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh

if [ -f build/build.ninja ]; then
        meson configure build -Db_sanitize=address,undefined -Dbuildtype=debugoptimized >/dev/null
else
        meson setup build -Db_sanitize=address,undefined -Dbuildtype=debugoptimized
fi
meson compile -C build
status=0
meson test -C build --print-errorlogs --num-processes "$(nproc)" || status=$?

# meson's own summary is not a format CI reads; print the plain closing line from its log.
python3 - <<'PY'
import json
results = [json.loads(line)['result'] for line in open('build/meson-logs/testlog.json')]
passed = sum(r in ('OK', 'EXPECTEDFAIL') for r in results)
skipped = results.count('SKIP')
print(f'{passed} passed, {len(results) - passed - skipped} failed, {skipped} skipped')
PY
exit "$status"
