/* The power monitor's settings: where it reads, how often, which sources it uses, and the
 * policy's rules. Header-only; the daemon fills it from gemmad.conf.
 *
 * Intended gemmad.conf keys, section [power] (defaults; ranges to enforce in config.c):
 *   upower = true                   read UPower and power-profiles-daemon on the system bus
 *   thermal = true                  read thermal zones
 *   pressure = true                 read /proc/pressure/{cpu,memory}
 *   sysfs_root = /                  prefix for /sys/class/thermal and /proc/pressure (tests)
 *   gpu_hwmon = auto                auto, none or an absolute .../tempN_input path: the GPU's
 *                                    hwmon sensor, read with the zones (the daemon hands it over
 *                                    with power_monitor_set_gpu_hwmon())
 *   poll_ms = 2000                  sysfs/PSI re-read period, 100..60000
 *   battery_low_percent = 20        battery-low at <= this on battery, 0..100
 *   battery_low_leave_percent = 25  ... until >= this, battery_low_percent..100
 *   psi_cpu_avg10 = 80              pressure at cpu "some avg10" >= this, 0..100
 *   psi_cpu_leave_avg10 = 64        ... until < this, 0..psi_cpu_avg10
 *   psi_memory_avg10 = 40           same for memory
 *   psi_memory_leave_avg10 = 32
 *   down_delay_ms = 500             a smaller level applies after being asked for this long, 0..3600000
 *   up_dwell_ms = 30000             a larger level applies after being asked for this long, 0..3600000
 *   min_dwell_ms = 30000            ... and this long after the previous change, 0..3600000
 *   level_battery = reduced         the level of each reason: full, reduced or minimal
 *   level_battery_low = minimal     (also level_power_saver, level_pressure, level_thermal;
 *                                    no-sensors and ac stay full unless level_ac is given)
 * The daemon then maps the three levels to slice names ([slice] section). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "power-policy.h"

#define POWER_POLL_USEC_DEFAULT (2 * POWER_USEC_PER_SEC)
#define POWER_POLL_USEC_MIN (100 * 1000ULL)
#define POWER_POLL_USEC_MAX (60 * POWER_USEC_PER_SEC)

typedef struct PowerMonitorConfig {
        const char *sysfs_root;        /* NULL or "/": the real files; not copied, must outlive the monitor */
        uint64_t poll_usec;            /* POWER_POLL_USEC_MIN..POWER_POLL_USEC_MAX */
        bool use_upower;               /* UPower + power-profiles-daemon on the system bus */
        bool use_thermal;              /* ROOT/sys/class/thermal */
        bool use_pressure;             /* ROOT/proc/pressure */
        PowerRules rules;
} PowerMonitorConfig;

static inline void power_monitor_config_default(PowerMonitorConfig *c) {
        *c = (PowerMonitorConfig) {
                .sysfs_root = NULL,
                .poll_usec = POWER_POLL_USEC_DEFAULT,
                .use_upower = true,
                .use_thermal = true,
                .use_pressure = true,
        };
        power_rules_default(&c->rules);
}
