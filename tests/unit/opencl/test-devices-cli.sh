#!/bin/bash
# gemma-model devices as a user runs it: help and usage errors; the text and JSON listings agree
# with each other and with the rules (stable indices, 'auto' = first GPU); no ICD and a hidden
# POCL device are reported and exit 0. Built without OpenCL, the command says so and exits 1.
# What is expected comes from the listing itself, never from a particular machine.
# Usage: test-devices-cli.sh GEMMA_MODEL opencl|no-opencl
set -euo pipefail
gm=$1 mode=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli-devices.XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect STATUS PATTERN -- command...: exit status and a line of stdout+stderr matching PATTERN.
expect() {
        local want=$1 pattern=$2; shift 3
        local out status=0
        out=$("$@" 2>&1) || status=$?
        [ "$status" = "$want" ] || fail "'$*' exited $status, expected $want. Output:
$out"
        grep -qE -- "$pattern" <<<"$out" || fail "'$*' output lacks /$pattern/:
$out"
        echo "ok: $* -> $status"
}

expect 0 '^  devices ' -- "$gm" --help
expect 0 '^Usage: gemma-model devices \[--json\]' -- "$gm" devices --help
expect 0 '^Exit status: 0 success' -- "$gm" devices -h
expect 2 "unexpected argument 'extra'" -- "$gm" devices extra
expect 2 'unrecognized option' -- "$gm" devices --frobnicate

if [ "$mode" = no-opencl ]; then
        expect 1 'built without OpenCL support' -- "$gm" devices
        expect 1 'built without OpenCL support' -- "$gm" devices --json
        echo "all devices CLI checks passed (no OpenCL)"
        exit 0
fi

# The machine's own listing.
"$gm" devices > "$dir/text" || fail "devices exited $?"
"$gm" devices --json > "$dir/json" || fail "devices --json exited $?"
cat "$dir/text"
python3 - "$dir/json" "$dir/text" <<'PY'
import json, re, sys
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
def check(cond, what):
    if not cond:
        print('FAIL:', what); print(json.dumps(j, indent=2)); sys.exit(1)

check(set(j) == {'platforms', 'devices', 'auto', 'auto_error', 'note'}, 'top-level keys')
devs, plats = j['devices'], j['platforms']
check(len(plats) >= 1, 'at least one platform (POCL)')
check([p['index'] for p in plats] == list(range(len(plats))), 'platform indices')
check([p['name'] for p in plats] == sorted(p['name'] for p in plats), 'platforms sorted by name')
check(sum(p['n_devices'] for p in plats) == len(devs), 'platform device counts add up')
check(len(devs) >= 1, 'at least one device')
keys = {'index', 'platform', 'name', 'vendor', 'type', 'driver_version', 'version', 'c_version',
        'global_mem_bytes', 'max_alloc_bytes', 'compute_units', 'fp16', 'pci', 'vendor_id',
        'drm_node', 'drm_driver'}
for i, d in enumerate(devs):
    check(set(d) == keys, f'device {i} keys: {sorted(d)}')
    check(d['index'] == i, f'device {i} index')
    check(d['type'] in ('GPU', 'CPU', 'accelerator'), f'device {i} type')
    for k in ('platform', 'name', 'vendor', 'driver_version', 'version', 'c_version'):
        check(isinstance(d[k], str) and d[k], f'device {i} {k} empty')
    check(d['global_mem_bytes'] > 0 and 0 < d['max_alloc_bytes'] <= d['global_mem_bytes'], f'device {i} memory')
    check(d['compute_units'] > 0, f'device {i} compute units')
    check(isinstance(d['fp16'], bool), f'device {i} fp16')
    check(d['pci'] is None or re.fullmatch(r'[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]', d['pci']), f'device {i} pci')
    check(d['drm_node'] is None or d['drm_node'].startswith('/dev/dri/renderD'), f'device {i} drm node')
    if d['type'] == 'CPU':
        check(d['drm_node'] is None and d['drm_driver'] is None, f'CPU device {i} has a DRM node')
    if 'Portable Computing Language' in d['platform']:
        check(d['type'] == 'CPU', 'POCL device is a CPU device')
    # The text listing shows the same device under the same index.
    check(f"\n#{i}  {d['name']}\n" in text, f'device {i} in the text listing')
    check(f"    OpenCL C:        {d['c_version']}\n" in text, f'device {i} C version in the text')
gpus = [d['index'] for d in devs if d['type'] == 'GPU']
if gpus:
    check(j['auto'] == gpus[0] and j['auto_error'] is None, 'auto picks the first GPU')
    check(f"auto: #{gpus[0]} " in text, 'auto in the text')
else:
    check(j['auto'] is None, 'auto without a GPU')
    check(j['auto_error'].startswith("no OpenCL GPU found (devices: #0 '"), 'auto_error names the devices')
    check('gemmad uses its CPU backend' in text, 'text says the CPU backend is used')
check(j['note'] is None, 'no note when there are devices')
print(f'ok: JSON and text agree on {len(devs)} device(s), auto = {j["auto"]}')
PY

# No ICD: not an error.
export OCL_ICD_VENDORS=/nonexistent/gemmad-no-icd
expect 0 '^no OpenCL platforms \(no ICD installed\)$' -- "$gm" devices
"$gm" devices --json > "$dir/json-none"
python3 - "$dir/json-none" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
want = {'platforms': [], 'devices': [], 'auto': None,
        'auto_error': 'no OpenCL GPU found: no OpenCL platforms (no ICD installed)',
        'note': 'no OpenCL platforms (no ICD installed)'}
if j != want:
    print('FAIL: no-ICD JSON:', j); sys.exit(1)
print('ok: no-ICD JSON')
PY

# POCL hiding its device: the platform is listed with the reason and the way out.
pocl_icd=/etc/OpenCL/vendors/pocl.icd
if [ -f "$pocl_icd" ]; then
        export OCL_ICD_VENDORS=$pocl_icd POCL_CACHE_DIR=/proc/gemmad-no-such-dir
        expect 0 'Portable Computing Language .*: no devices \(CL_DEVICE_NOT_FOUND\)' -- "$gm" devices
        expect 0 'set POCL_CACHE_DIR' -- "$gm" devices
fi
echo "all devices CLI checks passed"
