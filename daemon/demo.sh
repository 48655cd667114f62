#!/bin/bash
# The main job: build everything, then serve a Gemma 3n model with gemmad on a private session
# bus and ask it questions the ways a desktop program would: gemmactl, a raw busctl call, and
# gdbus streaming into the terminal. Without a model argument it generates a random-weight test
# model (its answers are noise; a real Gemma 3n GGUF answers for real). Nothing is installed and
# no running desktop session is touched; everything stops at the end.
# Usage: daemon/demo.sh [MODEL.gguf]
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
gm=build/models/gemma-model gemmad=build/daemon/gemmad gemmactl=build/clients/gemmactl

model=${1:-}
if [ -z "$model" ]; then
        model=build/demo-model.gguf
        echo "== No model given: generating a random-weight Gemma 3n test model at $model"
        "$gm" make-test "$model" --seed 42 --layers 12 --hidden 256 --heads 4 --kv-heads 2 --head-dim 64 \
                --ffn 1024 --vocab 2048 --window 16 --kv-shared 4 --sparse-layers 4 --type q8_0
fi

dir=$(mktemp -d /tmp/gemmad-demo.XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$dir"
}
trap cleanup EXIT

export DBUS_SESSION_BUS_ADDRESS=unix:path=$dir/bus
echo "== Starting a private session bus at $DBUS_SESSION_BUS_ADDRESS"
dbus-daemon --config-file=tests/env/session.conf --address="$DBUS_SESSION_BUS_ADDRESS" --nofork --nopidfile \
        2> "$dir/dbus.log" &
pids+=($!)
for _ in $(seq 200); do busctl --user list > /dev/null 2>&1 && break; sleep 0.05; done

echo "== Starting gemmad --model $model"
"$gemmad" --model "$model" 2> "$dir/gemmad.log" &
gemmad_pid=$!
pids+=($gemmad_pid)
# gemmad owns its name at once and loads the model in the background: follow State.
state=
for _ in $(seq 6000); do
        state=$(busctl --user get-property org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager \
                State 2> /dev/null | cut -d'"' -f2) || true
        [ "$state" = ready ] || [ "$state" = error ] && break
        sleep 0.1
done
if [ "$state" != ready ]; then
        echo "gemmad did not become ready (State '$state'):" >&2
        cat "$dir/gemmad.log" >&2
        exit 1
fi

echo "== gemmactl status"
"$gemmactl" status

prompt="Write a haiku about pipes."
echo "== gemmactl ask '$prompt' (streams as it is generated)"
"$gemmactl" ask --seed 1 --max-tokens 48 --stats "$prompt"

echo "== busctl: the one-shot Generate method, as a shell script would call it"
busctl --user --timeout=300 call org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager \
        Generate 'sa{sv}' "$prompt" 2 max_tokens u 32 seed t 1

echo "== gdbus: GenerateToFd streams the answer into file descriptor 1 (this terminal)"
gdbus call --session -t 300 -d org.gemmad.Gemmad1 -o /org/gemmad/Gemmad1 \
        -m org.gemmad.Gemmad1.Manager.GenerateToFd 1 "$prompt" "{'max_tokens': <uint32 32>, 'seed': <uint64 1>}"

echo "== Stopping gemmad (SIGTERM)"
kill -TERM "$gemmad_pid"
rc=0
wait "$gemmad_pid" || rc=$?
echo "== gemmad exited with status $rc"
exit "$rc"
