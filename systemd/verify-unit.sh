#!/bin/bash
# Checks gemmad.service.in with systemd-analyze as a user unit: `verify` must pass without a
# single warning (unknown keys and sections are only warnings to it, with rc 0), and `security
# --offline=true` prints the exposure score for the reader (not judged here).
# Usage: verify-unit.sh SYSTEMD_ANALYZE UNIT.in DAEMON_PATH
set -euo pipefail
analyze=$1 unit_in=$2 daemon=$3

if [ ! -x "$daemon" ]; then
        echo "FAIL: $daemon does not exist or is not executable (build the daemon first):" \
             "verify needs ExecStart= to name a real file"
        exit 1
fi
work=$(mktemp -d /tmp/gemmad-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -m 700 "$work/runtime"
# The user manager's verify needs XDG_RUNTIME_DIR; keep it away from a real session's.
export XDG_RUNTIME_DIR=$work/runtime
sed -e "s|@bindir@/gemmad|$daemon|g" "$unit_in" >"$work/gemmad.service"
if grep -n '@[a-z_]*@' "$work/gemmad.service"; then
        echo "FAIL: unsubstituted placeholders left in the unit"
        exit 1
fi

status=0
# --man=no: Documentation= names man pages that are installed only with the package.
"$analyze" --user verify --man=no "$work/gemmad.service" >"$work/verify.log" 2>&1 || status=$?
echo "systemd-analyze --user verify: rc $status"
cat "$work/verify.log"
if [ "$status" -ne 0 ]; then
        echo "FAIL: verify returned $status"
        exit 1
fi
if grep -q -i -e 'unknown key' -e 'unknown section' -e 'ignoring' -e 'warning' -e 'failed' \
        -e 'not supported' -e 'deprecated' "$work/verify.log"; then
        echo "FAIL: verify printed warnings"
        exit 1
fi

echo "systemd-analyze --user security --offline=true (informational):"
"$analyze" --user security --offline=true --no-pager "$work/gemmad.service" >"$work/security.log" 2>&1 || true
grep -e '✗' "$work/security.log" | head -n 40 || true
grep -i -e 'overall exposure' -e 'exposure level' "$work/security.log" || tail -n 5 "$work/security.log"
exit 0
