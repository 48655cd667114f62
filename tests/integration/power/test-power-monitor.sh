#!/bin/bash
# The power monitor against python3-dbusmock's upower and power_profiles_daemon templates on a
# private system bus, with a fake sysfs root: no services and no files -> full/no-sensors; the
# services appear -> full/ac; unplug -> reduced/battery within 1 s; replug -> full/ac only after
# the dwell; battery low, power-saver (from either power-profiles-daemon name; the current one
# wins), a thermal zone past its passive trip, the GPU's hwmon sensor past its max (until it cools
# below the hysteresis band) and CPU pressure each -> minimal with their reason; malformed files
# -> warnings, no crash; OnBattery flickering every 100 ms for 5 s -> no
# flapping; the services gone -> full/no-sensors.
# Every wait is a bounded poll; the only plain sleeps are observation windows in which nothing
# may happen.
# Usage: test-power-monitor.sh PROBE SYSTEM_BUS_CONF
set -euo pipefail
probe=$1 conf=$2
py=/usr/bin/python3

command -v dbus-daemon >/dev/null || { echo "SKIP: dbus-daemon not installed"; exit 77; }
command -v busctl >/dev/null || { echo "SKIP: busctl not installed"; exit 77; }
"$py" -c 'import dbusmock' 2>/dev/null || { echo "SKIP: python3-dbusmock not installed"; exit 77; }

DOWN_MS=500 UP_MS=1500
work=$(mktemp -d "${TMPDIR:-/tmp}/test-power-monitor.XXXXXX")
root=$work/root
gpu=$root/sys/class/drm/renderD128/device/hwmon/hwmon3 # absent until the GPU section
out=$work/probe.out err=$work/probe.err
bus_pid='' probe_pid='' upower_pid='' ppd_pid='' ppd_new_pid=''

cleanup() {
        local status=$?
        for p in $probe_pid $upower_pid $ppd_pid $ppd_new_pid $bus_pid; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        if [ "$status" -ne 0 ]; then
                echo "--- probe stdout"; cat "$out" 2>/dev/null || true
                echo "--- probe stderr"; tail -n 40 "$err" 2>/dev/null || true
        fi
        rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
now() { "$probe" --now; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 20 ms.
wait_until() {
        local seconds=$1 what=$2
        shift 2
        local deadline=$(( $(now) + seconds * 1000000 ))
        until "$@" >/dev/null 2>&1; do
                [ "$(now)" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
                sleep 0.02
        done
}

n_decisions() { grep -c '^decision ' "$out" || true; }
more_decisions_than() { [ "$(n_decisions)" -gt "$1" ]; }
seen=0
# expect_decision SECONDS LEVEL REASON: the next decision (none in between) must be this one;
# sets dec_usec to its time.
expect_decision() {
        local seconds=$1 level=$2 reason=$3
        wait_until "$seconds" "decision $level $reason" more_decisions_than "$seen"
        seen=$((seen + 1))
        local line
        line=$(grep '^decision ' "$out" | sed -n "${seen}p")
        read -r _ dec_usec got_level got_reason <<<"$line"
        [ "$got_level $got_reason" = "$level $reason" ] || fail "decision $seen is '$got_level $got_reason', wanted '$level $reason'"
        echo "ok: $level $reason"
}
last_inputs_has() { grep '^inputs ' "$out" | tail -n 1 | grep -q -- "$1"; }
no_new_decision() { [ "$(n_decisions)" -eq "$seen" ] || fail "unexpected decision: $(grep '^decision ' "$out" | tail -n 1)"; }

U="org.freedesktop.UPower /org/freedesktop/UPower"
P="net.hadess.PowerProfiles /net/hadess/PowerProfiles"
DISPLAY_DEVICE=/org/freedesktop/UPower/devices/DisplayDevice
on_battery() { busctl --system set-property $U org.freedesktop.UPower OnBattery b "$1"; }
percentage() {
        busctl --system call $U org.freedesktop.DBus.Mock SetDeviceProperties 'oa{sv}' $DISPLAY_DEVICE \
                2 IsPresent b true Percentage d "$1"
}
profile() { busctl --system set-property $P net.hadess.PowerProfiles ActiveProfile s "$1"; }
zone() { mkdir -p "$root/sys/class/thermal/$1"; }
put() { printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"; }
psi() { put "$root/proc/pressure/$1" "some avg10=$2 avg60=0.00 avg300=0.00 total=1000"; }

# ---- a private system bus ----------------------------------------------------------------------
dbus-daemon --config-file="$conf" --address="unix:path=$work/system_bus_socket" --nofork --nopidfile \
        2>"$work/bus.log" &
bus_pid=$!
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$work/system_bus_socket
wait_until 5 "the system bus" busctl --system status org.freedesktop.DBus

# ---- nothing at all: full, no-sensors ----------------------------------------------------------
mkdir -p "$root"
"$probe" --sysfs-root "$root" --gpu-hwmon "$gpu/temp1_input" --poll-ms 100 --down-ms $DOWN_MS --up-ms $UP_MS \
        --min-dwell-ms $UP_MS --verbose >"$out" 2>"$err" &
probe_pid=$!
expect_decision 5 full no-sensors
grep -q '^inputs [0-9]*$' "$out" && fail "inputs reported without any input"

# ---- the services and the files appear: full, ac -----------------------------------------------
"$py" -m dbusmock --system -t upower -p '{"OnBattery": false}' >"$work/upower.log" 2>&1 &
upower_pid=$!
wait_until 10 "the UPower mock" busctl --system status org.freedesktop.UPower
percentage 80
expect_decision 5 full ac
"$py" -m dbusmock --system -t power_profiles_daemon >"$work/ppd.log" 2>&1 &
ppd_pid=$!
wait_until 10 "the power-profiles-daemon mock" busctl --system status net.hadess.PowerProfiles
zone thermal_zone0
put "$root/sys/class/thermal/thermal_zone0/trip_point_0_type" passive
put "$root/sys/class/thermal/thermal_zone0/trip_point_0_temp" 80000
put "$root/sys/class/thermal/thermal_zone0/trip_point_1_type" hot
put "$root/sys/class/thermal/thermal_zone0/trip_point_1_temp" 95000
put "$root/sys/class/thermal/thermal_zone0/temp" 45000
zone thermal_zone1 # no trip points: counts for temp_c only
put "$root/sys/class/thermal/thermal_zone1/temp" 50000
mkdir -p "$root/proc/pressure"
psi cpu 1.00
psi memory 0.00
all_inputs='^inputs [0-9]* on_battery=false percentage=80.00 warning_level=1 profile=balanced temp_c=50.00 thermal=none psi_cpu_avg10=1.00 psi_memory_avg10=0.00$'
wait_until 5 "every input" grep -q "$all_inputs" "$out"
no_new_decision

# ---- unplug: reduced within 1 s; replug: full after the dwell ------------------------------------
t0=$(now)
on_battery true
expect_decision 3 reduced battery
[ $((dec_usec - t0)) -lt 1000000 ] || fail "unplug took $((dec_usec - t0)) us (limit 1 s)"
echo "   unplug -> reduced in $(((dec_usec - t0) / 1000)) ms"
t0=$(now)
on_battery false
expect_decision 5 full ac
[ $((dec_usec - t0)) -ge $((UP_MS * 1000)) ] || fail "replug took effect after $((dec_usec - t0)) us, before the ${UP_MS} ms dwell"
echo "   replug -> full in $(((dec_usec - t0) / 1000)) ms (dwell $UP_MS ms)"

# ---- battery low ---------------------------------------------------------------------------------
percentage 15
wait_until 3 "percentage 15" last_inputs_has percentage=15.00
no_new_decision # on AC a low percentage is no reason
t0=$(now)
on_battery true
expect_decision 3 minimal battery-low
[ $((dec_usec - t0)) -lt 1000000 ] || fail "battery-low took $((dec_usec - t0)) us"
on_battery false
percentage 80
expect_decision 5 full ac

# ---- power-saver profile -------------------------------------------------------------------------
t0=$(now)
profile power-saver
expect_decision 3 minimal power-saver
[ $((dec_usec - t0)) -lt 1000000 ] || fail "power-saver took $((dec_usec - t0)) us"
profile balanced
expect_decision 5 full ac

# ---- the current power-profiles-daemon name wins over the legacy one ------------------------------
# (Debian's dbusmock has only the legacy template: a bare mock object stands in for the new name.)
N="org.freedesktop.UPower.PowerProfiles /org/freedesktop/UPower/PowerProfiles"
"$py" -m dbusmock --system $N org.freedesktop.UPower.PowerProfiles >"$work/ppd-new.log" 2>&1 &
ppd_new_pid=$!
wait_until 10 "the new-name power-profiles-daemon mock" busctl --system status org.freedesktop.UPower.PowerProfiles
busctl --system call $N org.freedesktop.DBus.Mock AddProperty ssv org.freedesktop.UPower.PowerProfiles \
        ActiveProfile s performance
busctl --system set-property $N org.freedesktop.UPower.PowerProfiles ActiveProfile s performance
wait_until 3 "the profile from the new name" last_inputs_has profile=performance
t0=$(now)
busctl --system set-property $N org.freedesktop.UPower.PowerProfiles ActiveProfile s power-saver
expect_decision 3 minimal power-saver
[ $((dec_usec - t0)) -lt 1000000 ] || fail "power-saver (new name) took $((dec_usec - t0)) us"
kill "$ppd_new_pid"
wait "$ppd_new_pid" 2>/dev/null || true
ppd_new_pid=''
expect_decision 5 full ac # the legacy name's "balanced" again
last_inputs_has profile=balanced || fail "no fallback to the legacy name's profile"

# ---- thermal: zone 0 past its passive trip point ---------------------------------------------------
t0=$(now)
put "$root/sys/class/thermal/thermal_zone0/temp" 85000
expect_decision 3 minimal thermal
[ $((dec_usec - t0)) -lt 1500000 ] || fail "thermal took $((dec_usec - t0)) us (poll 100 ms + delay 500 ms)"
last_inputs_has "temp_c=85.00 thermal=passive" || fail "inputs do not show the passive zone"
put "$root/sys/class/thermal/thermal_zone0/temp" 45000
expect_decision 5 full ac

# ---- CPU pressure --------------------------------------------------------------------------------
psi cpu 90.00
expect_decision 3 minimal pressure
psi cpu 1.00
expect_decision 5 full ac

# ---- malformed files: warnings, nothing else -------------------------------------------------------
put "$root/sys/class/thermal/thermal_zone1/temp" "garbage"
put "$root/proc/pressure/memory" "some avg10=abc avg60=0.00 avg300=0.00 total=1"
wait_until 3 "a warning about thermal_zone1/temp" grep -q 'thermal_zone1/temp: not a temperature' "$err"
wait_until 3 "a warning about pressure/memory" grep -q 'pressure/memory: malformed line' "$err"
put "$root/sys/class/thermal/thermal_zone0/temp" -5000
wait_until 3 "a warning about a negative temperature" grep -q 'thermal_zone0/temp: implausible temperature' "$err"
kill -0 "$probe_pid" || fail "the probe died on malformed files"
put "$root/sys/class/thermal/thermal_zone0/temp" 45000
put "$root/sys/class/thermal/thermal_zone1/temp" 50000
psi memory 0.00
wait_until 3 "every input again" grep -q "$all_inputs" "$out"
no_new_decision

# ---- the GPU's hwmon sensor: past temp1_max, held within the 2 °C band, then cool ----------------
mkdir -p "$gpu"
put "$gpu/temp1_max" 90000
put "$gpu/temp1_crit" 100000
put "$gpu/temp1_input" 60000
wait_until 3 "the GPU temperature" last_inputs_has "temp_c=60.00 gpu_temp_c=60.00 thermal=none"
no_new_decision
t0=$(now)
put "$gpu/temp1_input" 91000
expect_decision 3 minimal thermal
[ $((dec_usec - t0)) -lt 1500000 ] || fail "GPU thermal took $((dec_usec - t0)) us (poll 100 ms + delay 500 ms)"
last_inputs_has "temp_c=91.00 gpu_temp_c=91.00 thermal=passive" || fail "inputs do not show the hot GPU"
put "$gpu/temp1_input" 88500
wait_until 3 "the GPU at 88.5" last_inputs_has "gpu_temp_c=88.50 thermal=none"
sleep $(((UP_MS + 500) / 1000)).5 # observation window: inside the band, thermal holds past the dwell
no_new_decision
put "$gpu/temp1_input" 60000
expect_decision 5 full ac
put "$gpu/temp1_input" garbage
wait_until 3 "a warning about the GPU sensor" grep -q 'hwmon3/temp1_input: not a temperature' "$err"
kill -0 "$probe_pid" || fail "the probe died on a malformed GPU sensor"
rm -rf "${root:?}/sys/class/drm"
wait_until 3 "every input again" grep -q "$all_inputs" "$out"
no_new_decision

# ---- a sensor flickering every 100 ms for 5 s does not flap ----------------------------------------
before=$seen
unplugs() { grep -c '^inputs .*on_battery=true' "$out" || true; }
unplugs_before=$(unplugs)
"$py" - <<'EOF'
import time
import dbus
o = dbus.SystemBus().get_object('org.freedesktop.UPower', '/org/freedesktop/UPower')
t = time.monotonic()
for i in range(50):  # battery, AC, battery, ... ending on AC
    o.Set('org.freedesktop.UPower', 'OnBattery', dbus.Boolean(i % 2 == 0),
          dbus_interface='org.freedesktop.DBus.Properties')
    t += 0.1
    time.sleep(max(0.0, t - time.monotonic()))
EOF
flips=$(( $(unplugs) - unplugs_before ))
[ "$flips" -ge 10 ] || fail "the monitor saw only $flips of the 25 unplugs"
sleep $(((UP_MS + 500) / 1000)).5 # observation window: the dwell and then some
changes=$(( $(n_decisions) - before ))
[ "$changes" -le 1 ] || fail "the level flapped: $changes decisions during the flicker"
echo "ok: flicker: $changes decisions, $flips unplugs seen"
seen=$(n_decisions)
[ "$changes" -eq 0 ] || grep '^decision ' "$out" | tail -n 1 | grep -q ' full ac$' || fail "not back to full ac"

# ---- the services go away: full, no-sensors ---------------------------------------------------------
kill "$upower_pid" "$ppd_pid"
wait "$upower_pid" "$ppd_pid" 2>/dev/null || true
upower_pid='' ppd_pid=''
expect_decision 5 full no-sensors
rm -rf "${root:?}/sys" "${root:?}/proc"
wait_until 3 "no inputs at all" last_inputs_has '^inputs [0-9]*$'
no_new_decision

kill "$probe_pid"
wait "$probe_pid" || fail "the probe exited with status $?"
probe_pid=''
grep -q 'ERROR: \|runtime error' "$err" && fail "sanitizer report in the probe's stderr"
echo "PASS"
