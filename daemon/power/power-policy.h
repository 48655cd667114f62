/* Elastic inference policy: from power, profile, thermal and pressure readings to a model level
 * (full, reduced, minimal) and the reason for it. Pure: no I/O, no clock, no globals; the caller
 * passes the time and keeps the previous decision, so every case is a table row in a test. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POWER_USEC_PER_SEC 1000000ULL
#define POWER_USEC_INFINITY UINT64_MAX

/* The model the daemon should run: the full model or a smaller MatFormer slice. The slice names
 * behind each level are the daemon's business. Higher values are smaller models. */
typedef enum PowerLevel {
        POWER_LEVEL_FULL,
        POWER_LEVEL_REDUCED,
        POWER_LEVEL_MINIMAL,
        _POWER_LEVEL_MAX,
        _POWER_LEVEL_INVALID = -EINVAL,
} PowerLevel;

/* Why: the condition behind the level. In ascending priority; when several conditions hold, the
 * one whose level is smallest wins, and among equal levels the later one in this list. */
typedef enum PowerReason {
        POWER_REASON_NO_SENSORS,        /* nothing asks for less and the power source is unknown */
        POWER_REASON_AC,                /* on mains power, nothing asks for less */
        POWER_REASON_BATTERY,           /* on battery */
        POWER_REASON_BATTERY_LOW,       /* on battery and low (percentage band or UPower WarningLevel) */
        POWER_REASON_POWER_SAVER,       /* power-profiles-daemon says power-saver */
        POWER_REASON_PRESSURE,          /* CPU or memory pressure stall (PSI some avg10) */
        POWER_REASON_THERMAL,           /* a thermal zone at or above a passive or hot trip point,
                                         * or the GPU's hwmon sensor at or above its max or crit */
        _POWER_REASON_MAX,
        _POWER_REASON_INVALID = -EINVAL,
} PowerReason;

typedef enum PowerThermal {
        POWER_THERMAL_NONE,             /* below every passive/hot trip point */
        POWER_THERMAL_PASSIVE,          /* at or above a passive trip point */
        POWER_THERMAL_HOT,              /* at or above a hot (or critical) trip point */
        _POWER_THERMAL_MAX,
        _POWER_THERMAL_INVALID = -EINVAL,
} PowerThermal;

typedef enum PowerProfile {
        POWER_PROFILE_PERFORMANCE,
        POWER_PROFILE_BALANCED,
        POWER_PROFILE_POWER_SAVER,
        _POWER_PROFILE_MAX,
        _POWER_PROFILE_INVALID = -EINVAL,
} PowerProfile;

/* UPower's WarningLevel values (org.freedesktop.UPower.Device). */
enum {
        POWER_WARNING_UNKNOWN = 0,
        POWER_WARNING_NONE = 1,
        POWER_WARNING_DISCHARGING = 2, /* UPS only */
        POWER_WARNING_LOW = 3,
        POWER_WARNING_CRITICAL = 4,
        POWER_WARNING_ACTION = 5,
};

/* One reading of every signal. A field is used only when its *_known flag is set; an unknown
 * input is ignored, never taken as a default. */
typedef struct PowerInputs {
        bool on_battery_known, on_battery;         /* UPower OnBattery */
        bool percentage_known;                     /* UPower display device Percentage, 0..100 */
        double percentage;
        bool warning_level_known;                  /* display device WarningLevel, 1..5 */
        uint32_t warning_level;
        bool profile_known;                        /* power-profiles-daemon ActiveProfile */
        PowerProfile profile;
        bool thermal_known;                        /* some zone (or the GPU's hwmon sensor) has a
                                                    * usable passive/hot trip */
        PowerThermal thermal;                      /* worst zone state: temperature >= trip */
        PowerThermal thermal_hyst;                 /* same with every trip lowered by its hysteresis:
                                                    * what the state stays at while cooling down */
        bool temp_known;                           /* hottest zone or GPU sensor; reported, not used
                                                    * by the policy */
        double temp_c;
        bool gpu_temp_known;                       /* the GPU's hwmon sensor alone; reported, its
                                                    * limits are in thermal */
        double gpu_temp_c;
        bool psi_cpu_known;                        /* /proc/pressure/cpu "some avg10", 0..100 */
        double psi_cpu_avg10;
        bool psi_memory_known;                     /* /proc/pressure/memory "some avg10", 0..100 */
        double psi_memory_avg10;
} PowerInputs;

/* Thresholds, delays and the level each reason asks for. Enter/leave pairs are hysteresis
 * bands: a condition starts at the enter value and ends only past the leave value. */
typedef struct PowerRules {
        double battery_low_enter_percent;          /* 20: low at <= this */
        double battery_low_leave_percent;          /* 25: no longer low at >= this */
        double psi_cpu_enter;                      /* 80: pressure at cpu some avg10 >= this */
        double psi_cpu_leave;                      /* 64 (enter - 20 %): over at < this */
        double psi_memory_enter;                   /* 40 */
        double psi_memory_leave;                   /* 32 */
        uint64_t down_delay_usec;                  /* 0.5 s: a smaller level must be asked for this
                                                    * long without interruption before it applies */
        uint64_t up_dwell_usec;                    /* 30 s: same for a larger level ... */
        uint64_t min_dwell_usec;                   /* 30 s: ... which also waits this long after the
                                                    * last change */
        PowerLevel level[_POWER_REASON_MAX];       /* the level of each reason; defaults: full for
                                                    * no-sensors and ac, reduced for battery, minimal
                                                    * for the rest */
} PowerRules;

/* The policy's state, kept by the caller between calls and passed back as prev. Zero-initialised
 * (or power_decision_init()) means "no decision yet". */
typedef struct PowerDecision {
        bool initialized;                          /* level and reason are valid */
        PowerLevel level;
        PowerReason reason;
        uint64_t changed_usec;                     /* when level or reason last changed */
        uint64_t next_usec;                        /* call again at this time even if no input
                                                    * changes; POWER_USEC_INFINITY: not needed */
        /* Debounce state, owned by the policy: */
        bool battery_low, psi_cpu, psi_memory, thermal; /* the hysteresis latches */
        bool pending;                              /* a change is waiting for its delay */
        PowerReason pending_reason;                /* the reason every instant since pending_since
                                                    * asked for at least (down) or at most (up) */
        uint64_t pending_since_usec;
} PowerDecision;

/* Fills r with the defaults listed in PowerRules. */
void power_rules_default(PowerRules *r);

/* Checks r: percentages in 0..100 with leave >= enter (battery) and leave <= enter (pressure),
 * pressure thresholds in 0..100, delays at most one hour, every level valid. Returns 0, or
 * -EINVAL with a one-line description in err (err_size bytes, may be 0). */
int power_rules_validate(const PowerRules *r, char *err, size_t err_size);

/* A decision with nothing decided yet. */
void power_decision_init(PowerDecision *d);

/* Decides the level for the inputs at now_usec (CLOCK_MONOTONIC), given the previous decision.
 * Call it whenever an input changes and when now_usec reaches the previous result's next_usec;
 * between calls the inputs are taken to have stayed as passed.
 *
 * Returns the new decision (never fails; rules must have passed power_rules_validate()):
 * - without a previous decision (prev NULL or not initialized), the target applies at once;
 * - a smaller level, or a higher-priority reason at the same level ("down"), applies once it has
 *   been asked for continuously for down_delay_usec;
 * - a larger level, or a lower-priority reason at the same level ("up"), applies once it has
 *   been asked for continuously for up_dwell_usec and min_dwell_usec have passed since the last
 *   change; what applies is the smallest level (highest reason) asked for during that time;
 * - any interruption (the target returning to the current decision or crossing to the other
 *   direction) restarts the wait, so a condition flickering faster than the delays changes
 *   nothing;
 * - next_usec is when a waiting change becomes due, or POWER_USEC_INFINITY when none waits.
 * Compare level and reason with prev to see whether the decision changed. */
PowerDecision power_policy_evaluate(const PowerRules *rules, const PowerInputs *in, const PowerDecision *prev,
                                    uint64_t now_usec);

/* The reason the inputs ask for right now, without any delay, with the hysteresis latches in
 * latches (a PowerDecision whose battery_low/psi_cpu/psi_memory/thermal fields are read and
 * updated; may be NULL to judge without hysteresis). */
PowerReason power_policy_target(const PowerRules *rules, const PowerInputs *in, PowerDecision *latches);

/* Whether no input at all is known. */
bool power_inputs_empty(const PowerInputs *in);

/* Name tables. *_to_string() returns NULL for an invalid value; *_from_string() returns
 * _*_INVALID (-EINVAL) for an unknown name. Reasons: "no-sensors", "ac", "battery",
 * "battery-low", "power-saver", "pressure", "thermal"; levels: "full", "reduced", "minimal";
 * thermal: "none", "passive", "hot"; profiles: "performance", "balanced", "power-saver". */
const char *power_level_to_string(PowerLevel l);
PowerLevel power_level_from_string(const char *s);
const char *power_reason_to_string(PowerReason r);
PowerReason power_reason_from_string(const char *s);
const char *power_thermal_to_string(PowerThermal t);
PowerThermal power_thermal_from_string(const char *s);
const char *power_profile_to_string(PowerProfile p);
PowerProfile power_profile_from_string(const char *s);

/* The known inputs as (key, D-Bus type, value), for the SliceInputs a{sv} property. Keys and
 * types: on_battery b, percentage d, warning_level u, profile s, temp_c d, gpu_temp_c d,
 * thermal s, psi_cpu_avg10 d, psi_memory_avg10 d, always in this order, only the known ones. */
#define POWER_INPUT_ENTRIES_MAX 9

typedef struct PowerInputEntry {
        const char *key;
        char type;                                 /* 'b', 'd', 'u' or 's' */
        union {
                bool b;
                double d;
                uint32_t u;
                const char *s;                     /* a static string */
        };
} PowerInputEntry;

/* Fills ret with the known inputs of in; returns how many (0..POWER_INPUT_ENTRIES_MAX). */
size_t power_inputs_to_entries(const PowerInputs *in, PowerInputEntry ret[static POWER_INPUT_ENTRIES_MAX]);
