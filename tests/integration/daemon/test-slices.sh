#!/bin/bash
# Elastic inference through the daemon: with python3-dbusmock's UPower on a private system bus,
# unplugging the power moves ActiveSlice to the reduced slice with SliceReason battery within a
# second, replugging moves it back after the dwell, a pinned policy ignores the power state, and
# answers after a switch equal a cold run on that slice.
# Usage: test-slices.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

py=/usr/bin/python3
"$py" -c 'import dbusmock' 2>/dev/null || { echo "SKIP: python3-dbusmock is not installed"; exit 77; }

# A private system bus with the UPower mock, and an empty sysfs root (no thermal zones, no PSI).
start_bus
sed 's|<type>session</type>|<type>system</type>|' "$DIR/session.conf" > "$DIR/system.conf"
dbus-daemon --config-file="$DIR/system.conf" --address="unix:path=$DIR/system_bus" --nofork --nopidfile \
        2>"$DIR/system-bus.log" &
track $!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$DIR/system_bus
poll_until "the system bus" busctl --system status org.freedesktop.DBus
"$py" -m dbusmock --system -t upower -p '{"OnBattery": false}' >"$DIR/upower.log" 2>&1 &
track $!
poll_until "the UPower mock" busctl --system status org.freedesktop.UPower
mkdir -p "$DIR/sysfs"

GEMMAD_POWER=
GEMMAD_CONF="[slice]
custom = ffn=96
[power]
sysfs_root = $DIR/sysfs
down_delay_ms = 200
up_dwell_ms = 1000
min_dwell_ms = 1000
pressure = false"
start_gemmad "$SMALL_MODEL"
M="org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager"
slices=$(busctl --address="$BUS_ADDRESS" get-property $M AvailableSlices)
check "presets: $slices"
[ "$slices" = 'as 4 "full" "ffn-75" "ffn-50" "custom"' ] || fail "AvailableSlices is $slices"
poll_until "SliceReason ac" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property $M SliceReason)\" = 's \"ac\"' ]"
[ "$(propval ActiveSlice)" = full ] || fail "on AC the slice is $(propval ActiveSlice)"
ok "on AC: full"

check "unplugged: the reduced slice within a second"
client generate "Tell me about pipes" -o max_tokens=u:12 -o seed=t:3 > "$DIR/before" || fail "Generate failed"
t0=$(now_ms)
busctl --system set-property org.freedesktop.UPower /org/freedesktop/UPower org.freedesktop.UPower OnBattery b true
poll_until "ActiveSlice ffn-75" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property $M ActiveSlice)\" = 's \"ffn-75\"' ]"
dt=$(($(now_ms) - t0))
[ "$dt" -lt 1000 ] || fail "the switch took $dt ms"
[ "$(propval SliceReason)" = battery ] || fail "SliceReason is $(propval SliceReason)"
inputs=$(busctl --address="$BUS_ADDRESS" get-property $M SliceInputs)
grep -q '"on_battery" b true' <<<"$inputs" || fail "SliceInputs lacks on_battery: $inputs"
ok "ffn-75 (battery) after $dt ms; SliceInputs: $inputs"

check "an answer on the new slice equals a cold run pinned to it"
client generate "Tell me about pipes" -o max_tokens=u:12 -o seed=t:3 > "$DIR/after" || fail "Generate failed"
busctl --address="$BUS_ADDRESS" call $M SetSlicePolicy s ffn-75
client generate "Tell me about pipes" -o max_tokens=u:12 -o seed=t:3 -o cache_scope=s:private > "$DIR/pinned" ||
        fail "Generate failed"
cmp -s "$DIR/after" "$DIR/pinned" || fail "the answer after the switch differs from a pinned cold run"
cmp -s "$DIR/before" "$DIR/after" && fail "the slices gave the same answer: was the slice really switched?"
ok "identical to the pinned run, different from the full model's"

check "the custom slice from gemmad.conf can be pinned"
busctl --address="$BUS_ADDRESS" call $M SetSlicePolicy s custom
[ "$(propval ActiveSlice)" = custom ] || fail "ActiveSlice is $(propval ActiveSlice)"
client generate "Tell me about pipes" -o max_tokens=u:12 -o seed=t:3 > "$DIR/custom" || fail "Generate failed"
cmp -s "$DIR/custom" "$DIR/before" && fail "the custom slice answered like the full model"
ok "custom is active and answers differently from full"

check "a pinned policy ignores the power state"
busctl --address="$BUS_ADDRESS" call $M SetSlicePolicy s full
[ "$(propval ActiveSlice)" = full ] && [ "$(propval SliceReason)" = pinned ] ||
        fail "pinned: ActiveSlice $(propval ActiveSlice), SliceReason $(propval SliceReason)"
busctl --address="$BUS_ADDRESS" call $M SetSlicePolicy s auto
poll_until "back to ffn-75 under auto" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property $M ActiveSlice)\" = 's \"ffn-75\"' ]"
ok "pinned full, then auto again: ffn-75"

check "replugged: back to full after the dwell, not before"
t0=$(now_ms)
busctl --system set-property org.freedesktop.UPower /org/freedesktop/UPower org.freedesktop.UPower OnBattery b false
poll_until "ActiveSlice full" sh -c "[ \"\$(busctl --address=$BUS_ADDRESS get-property $M ActiveSlice)\" = 's \"full\"' ]"
dt=$(($(now_ms) - t0))
[ "$dt" -ge 900 ] || fail "went back after $dt ms, before the 1000 ms dwell"
[ "$(propval SliceReason)" = ac ] || fail "SliceReason is $(propval SliceReason)"
ok "full (ac) after $dt ms"

finish
