#!/bin/bash
# The GPU's hwmon sensor in the slice policy, through the daemon: with gpu_hwmon naming a fake
# tempN_input file (and no UPower, no thermal zones, no PSI), a temperature past temp1_max moves
# ActiveSlice to the minimal slice with SliceReason thermal and shows in SliceInputs as
# gpu_temp_c; inside the 2 °C hysteresis band it stays there past the dwell; cooled down it goes
# back to the full model; a malformed reading is a warning, not a crash. Then gpu_hwmon = auto on
# the CPU backend reads no GPU sensor at all.
# Usage: test-gpu-thermal.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

M="org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager"
slice_is() { [ "$(busctl --address="$BUS_ADDRESS" get-property $M ActiveSlice)" = "s \"$1\"" ]; }
inputs() { busctl --address="$BUS_ADDRESS" get-property $M SliceInputs; }
inputs_have() { inputs | grep -qF -- "$1"; }
# gpu_temp MILLIDEGREES: the fake sensor's reading, replaced atomically.
gpu_temp() { printf '%s\n' "$1" > "$GPU/temp1_input.tmp" && mv "$GPU/temp1_input.tmp" "$GPU/temp1_input"; }

start_bus
mkdir -p "$DIR/sysfs"
GPU=$DIR/gpu/hwmon/hwmon3
mkdir -p "$GPU"
echo 90000 > "$GPU/temp1_max"
echo 100000 > "$GPU/temp1_crit"
gpu_temp 50000

DWELL_MS=1000
GEMMAD_POWER=
GEMMAD_CONF="[power]
upower = false
pressure = false
sysfs_root = $DIR/sysfs
gpu_hwmon = $GPU/temp1_input
poll_ms = 100
down_delay_ms = 200
up_dwell_ms = $DWELL_MS
min_dwell_ms = $DWELL_MS"

check "a cool GPU: the full model, gpu_temp_c in SliceInputs"
start_gemmad "$SMALL_MODEL"
slices=$(busctl --address="$BUS_ADDRESS" get-property $M AvailableSlices)
[ "$slices" = 'as 3 "full" "ffn-75" "ffn-50"' ] || fail "AvailableSlices is $slices"
poll_until "gpu_temp_c 50 in SliceInputs" inputs_have '"gpu_temp_c" d 50'
[ "$(propval ActiveSlice)" = full ] || fail "the slice is $(propval ActiveSlice)"
[ "$(propval SliceReason)" = no-sensors ] || fail "SliceReason is $(propval SliceReason)"
inputs_have '"thermal" s "none"' || fail "SliceInputs lacks thermal none: $(inputs)"
grep -qF "reading the GPU temperature from $GPU/temp1_input" "$GEMMAD_LOG" || fail "the log does not name the sensor"
ok "full (no-sensors); SliceInputs: $(inputs)"

check "past temp1_max: the minimal slice, reason thermal"
t0=$(now_ms)
gpu_temp 95000
poll_until "ActiveSlice ffn-50" slice_is ffn-50
dt=$(($(now_ms) - t0))
[ "$(propval SliceReason)" = thermal ] || fail "SliceReason is $(propval SliceReason)"
inputs_have '"gpu_temp_c" d 95' || fail "SliceInputs lacks gpu_temp_c 95: $(inputs)"
inputs_have '"temp_c" d 95' || fail "SliceInputs lacks temp_c 95 (the GPU is the hottest): $(inputs)"
inputs_have '"thermal" s "passive"' || fail "SliceInputs lacks thermal passive: $(inputs)"
ok "ffn-50 (thermal) after $dt ms"
client generate "Tell me about pipes" -o max_tokens=u:8 -o seed=t:3 > "$DIR/hot" || fail "Generate on the hot GPU failed"
ok "answers on the minimal slice"

check "cooling inside the hysteresis band keeps the minimal slice"
gpu_temp 88500
poll_until "gpu_temp_c 88.5 in SliceInputs" inputs_have '"gpu_temp_c" d 88.5'
inputs_have '"thermal" s "none"' || fail "at 88.5 °C the state should be none (below max): $(inputs)"
sleep $(((DWELL_MS + 500) / 1000)).5 # observation window: past the dwell, nothing may change
slice_is ffn-50 || fail "left the minimal slice inside the band: $(propval ActiveSlice)"
[ "$(propval SliceReason)" = thermal ] || fail "SliceReason is $(propval SliceReason)"
ok "still ffn-50 (thermal) at 88.5 °C"

check "cooled below the band: back to full after the dwell"
t0=$(now_ms)
gpu_temp 60000
poll_until "ActiveSlice full" slice_is full
dt=$(($(now_ms) - t0))
[ "$dt" -ge $((DWELL_MS - 100)) ] || fail "went back after $dt ms, before the $DWELL_MS ms dwell"
[ "$(propval SliceReason)" = no-sensors ] || fail "SliceReason is $(propval SliceReason)"
inputs_have '"gpu_temp_c" d 60' || fail "SliceInputs lacks gpu_temp_c 60: $(inputs)"
ok "full (no-sensors) after $dt ms"

check "a malformed or missing reading is a warning, not a crash"
gpu_temp garbage
poll_until "a warning about temp1_input" grep -q 'hwmon3/temp1_input: not a temperature' "$GEMMAD_LOG"
poll_until "gpu_temp_c gone from SliceInputs" sh -c "! busctl --address=$BUS_ADDRESS get-property $M SliceInputs | grep -q gpu_temp_c"
rm -f "$GPU/temp1_input"
poll_until "a warning about the missing file" grep -q 'hwmon3/temp1_input: missing' "$GEMMAD_LOG"
alive "$GEMMAD_PID" || fail "gemmad died on a malformed GPU sensor"
slice_is full || fail "the slice is $(propval ActiveSlice)"
gpu_temp 97000
poll_until "ActiveSlice ffn-50 again" slice_is ffn-50
ok "warned, stayed up, and reads the sensor again once it is back"
stop_gemmad

check "gpu_hwmon = auto on the CPU backend reads no GPU sensor"
GEMMAD_CONF="[power]
upower = false
pressure = false
sysfs_root = $DIR/sysfs
gpu_hwmon = auto
poll_ms = 100"
start_gemmad "$SMALL_MODEL"
poll_until "SliceReason no-sensors" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property $M SliceReason)\" = 's \"no-sensors\"' ]"
inputs_have gpu_temp_c && fail "SliceInputs has a GPU temperature without a GPU: $(inputs)"
grep -q "GPU temperature" "$GEMMAD_LOG" && fail "auto on the CPU backend set up a GPU sensor"
slice_is full || fail "the slice is $(propval ActiveSlice)"
ok "no gpu_temp_c; SliceInputs: $(inputs)"

finish
