/* The elastic inference policy (see power-policy.h): hysteresis latches turn readings into
 * conditions, the conditions into one target reason, and a debounce window turns targets into
 * decisions. */
#include "power-policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/macro.h"

#define MAX_DELAY_USEC (3600 * POWER_USEC_PER_SEC)

static const char *const level_names[_POWER_LEVEL_MAX] = {
        [POWER_LEVEL_FULL] = "full",
        [POWER_LEVEL_REDUCED] = "reduced",
        [POWER_LEVEL_MINIMAL] = "minimal",
};

static const char *const reason_names[_POWER_REASON_MAX] = {
        [POWER_REASON_NO_SENSORS] = "no-sensors",
        [POWER_REASON_AC] = "ac",
        [POWER_REASON_BATTERY] = "battery",
        [POWER_REASON_BATTERY_LOW] = "battery-low",
        [POWER_REASON_POWER_SAVER] = "power-saver",
        [POWER_REASON_PRESSURE] = "pressure",
        [POWER_REASON_THERMAL] = "thermal",
};

static const char *const thermal_names[_POWER_THERMAL_MAX] = {
        [POWER_THERMAL_NONE] = "none",
        [POWER_THERMAL_PASSIVE] = "passive",
        [POWER_THERMAL_HOT] = "hot",
};

static const char *const profile_names[_POWER_PROFILE_MAX] = {
        [POWER_PROFILE_PERFORMANCE] = "performance",
        [POWER_PROFILE_BALANCED] = "balanced",
        [POWER_PROFILE_POWER_SAVER] = "power-saver",
};

static int lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *power_level_to_string(PowerLevel l) {
        return l >= 0 && l < _POWER_LEVEL_MAX ? level_names[l] : NULL;
}

PowerLevel power_level_from_string(const char *s) {
        return (PowerLevel) lookup(level_names, ELEMENTSOF(level_names), s);
}

const char *power_reason_to_string(PowerReason r) {
        return r >= 0 && r < _POWER_REASON_MAX ? reason_names[r] : NULL;
}

PowerReason power_reason_from_string(const char *s) {
        return (PowerReason) lookup(reason_names, ELEMENTSOF(reason_names), s);
}

const char *power_thermal_to_string(PowerThermal t) {
        return t >= 0 && t < _POWER_THERMAL_MAX ? thermal_names[t] : NULL;
}

PowerThermal power_thermal_from_string(const char *s) {
        return (PowerThermal) lookup(thermal_names, ELEMENTSOF(thermal_names), s);
}

const char *power_profile_to_string(PowerProfile p) {
        return p >= 0 && p < _POWER_PROFILE_MAX ? profile_names[p] : NULL;
}

PowerProfile power_profile_from_string(const char *s) {
        return (PowerProfile) lookup(profile_names, ELEMENTSOF(profile_names), s);
}

void power_rules_default(PowerRules *r) {
        *r = (PowerRules) {
                .battery_low_enter_percent = 20,
                .battery_low_leave_percent = 25,
                .psi_cpu_enter = 80,
                .psi_cpu_leave = 64,
                .psi_memory_enter = 40,
                .psi_memory_leave = 32,
                .down_delay_usec = POWER_USEC_PER_SEC / 2,
                .up_dwell_usec = 30 * POWER_USEC_PER_SEC,
                .min_dwell_usec = 30 * POWER_USEC_PER_SEC,
                .level = {
                        [POWER_REASON_NO_SENSORS] = POWER_LEVEL_FULL,
                        [POWER_REASON_AC] = POWER_LEVEL_FULL,
                        [POWER_REASON_BATTERY] = POWER_LEVEL_REDUCED,
                        [POWER_REASON_BATTERY_LOW] = POWER_LEVEL_MINIMAL,
                        [POWER_REASON_POWER_SAVER] = POWER_LEVEL_MINIMAL,
                        [POWER_REASON_PRESSURE] = POWER_LEVEL_MINIMAL,
                        [POWER_REASON_THERMAL] = POWER_LEVEL_MINIMAL,
                },
        };
}

static bool percent_ok(double v) {
        return v >= 0 && v <= 100; /* false for NaN */
}

_printf_(3, 4) static int rules_fail(char *err, size_t err_size, const char *fmt, ...) {
        va_list ap;

        if (err && err_size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

int power_rules_validate(const PowerRules *r, char *err, size_t err_size) {
        const struct {
                const char *name;
                double enter, leave;
                bool leave_above; /* the band lies above enter (battery) or below it (pressure) */
        } bands[] = {
                { "battery low", r->battery_low_enter_percent, r->battery_low_leave_percent, true },
                { "cpu pressure", r->psi_cpu_enter, r->psi_cpu_leave, false },
                { "memory pressure", r->psi_memory_enter, r->psi_memory_leave, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(bands); i++) {
                if (!percent_ok(bands[i].enter) || !percent_ok(bands[i].leave))
                        return rules_fail(err, err_size, "%s thresholds must be within 0..100 (enter %g, leave %g)",
                                          bands[i].name, bands[i].enter, bands[i].leave);
                if (bands[i].leave_above ? bands[i].leave < bands[i].enter : bands[i].leave > bands[i].enter)
                        return rules_fail(err, err_size, "%s: leave threshold %g must be %s enter threshold %g",
                                          bands[i].name, bands[i].leave, bands[i].leave_above ? ">=" : "<=",
                                          bands[i].enter);
        }
        if (r->down_delay_usec > MAX_DELAY_USEC || r->up_dwell_usec > MAX_DELAY_USEC ||
            r->min_dwell_usec > MAX_DELAY_USEC)
                return rules_fail(err, err_size, "delays must be at most one hour");
        for (size_t i = 0; i < _POWER_REASON_MAX; i++)
                if (r->level[i] < 0 || r->level[i] >= _POWER_LEVEL_MAX)
                        return rules_fail(err, err_size, "reason '%s' has an invalid level %d", reason_names[i],
                                          (int) r->level[i]);
        return 0;
}

void power_decision_init(PowerDecision *d) {
        *d = (PowerDecision) {
                .level = POWER_LEVEL_FULL,
                .reason = POWER_REASON_NO_SENSORS,
                .next_usec = POWER_USEC_INFINITY,
                .pending_reason = POWER_REASON_NO_SENSORS,
        };
}

bool power_inputs_empty(const PowerInputs *in) {
        return !in->on_battery_known && !in->percentage_known && !in->warning_level_known && !in->profile_known &&
               !in->thermal_known && !in->temp_known && !in->gpu_temp_known && !in->psi_cpu_known &&
               !in->psi_memory_known;
}

/* One total order over (level, reason): smaller models first by level, then by reason priority. */
static unsigned rank(const PowerRules *rules, PowerReason reason) {
        return (unsigned) rules->level[reason] * _POWER_REASON_MAX + (unsigned) reason;
}

/* Hysteresis band: active from >= enter until < leave (leave <= enter). */
static bool band_above(bool was, double value, double enter, double leave) {
        return was ? value >= leave : value >= enter;
}

PowerReason power_policy_target(const PowerRules *rules, const PowerInputs *in, PowerDecision *latches) {
        PowerDecision none = { 0 };
        PowerDecision *l = latches ? latches : &none;
        bool active[_POWER_REASON_MAX] = { false };
        const bool on_battery = in->on_battery_known && in->on_battery;
        const bool on_ac = in->on_battery_known && !in->on_battery;

        /* Percentage counts on battery only; UPower raises WarningLevel only while discharging,
         * so it counts unless UPower also says we are on AC. */
        l->battery_low = on_battery && in->percentage_known &&
                         (l->battery_low ? in->percentage < rules->battery_low_leave_percent
                                         : in->percentage <= rules->battery_low_enter_percent);
        const bool warning_low = in->warning_level_known && in->warning_level >= POWER_WARNING_LOW &&
                                 in->warning_level <= POWER_WARNING_ACTION && !on_ac;
        l->psi_cpu = in->psi_cpu_known &&
                     band_above(l->psi_cpu, in->psi_cpu_avg10, rules->psi_cpu_enter, rules->psi_cpu_leave);
        l->psi_memory = in->psi_memory_known && band_above(l->psi_memory, in->psi_memory_avg10,
                                                           rules->psi_memory_enter, rules->psi_memory_leave);
        l->thermal = in->thermal_known &&
                     (l->thermal ? MAX(in->thermal, in->thermal_hyst) >= POWER_THERMAL_PASSIVE
                                   : in->thermal >= POWER_THERMAL_PASSIVE);

        active[POWER_REASON_NO_SENSORS] = !in->on_battery_known;
        active[POWER_REASON_AC] = on_ac;
        active[POWER_REASON_BATTERY] = on_battery;
        active[POWER_REASON_BATTERY_LOW] = l->battery_low || warning_low;
        active[POWER_REASON_POWER_SAVER] = in->profile_known && in->profile == POWER_PROFILE_POWER_SAVER;
        active[POWER_REASON_PRESSURE] = l->psi_cpu || l->psi_memory;
        active[POWER_REASON_THERMAL] = l->thermal;

        /* Exactly one of no-sensors, ac and battery is active, so there is always a target. */
        PowerReason best = _POWER_REASON_INVALID;
        for (int r = 0; r < _POWER_REASON_MAX; r++)
                if (active[r] && (best < 0 || rank(rules, (PowerReason) r) > rank(rules, best)))
                        best = (PowerReason) r;
        return best;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void apply(PowerDecision *d, const PowerRules *rules, PowerReason reason, uint64_t now_usec) {
        d->level = rules->level[reason];
        d->reason = reason;
        d->changed_usec = now_usec;
        d->pending = false;
}

/* Folds the target of this instant into the waiting window (or starts one) and returns when the
 * waiting change is due. */
static uint64_t window_update(PowerDecision *d, const PowerRules *rules, PowerReason target, uint64_t now_usec) {
        const unsigned cur = rank(rules, d->reason), want = rank(rules, target);
        const bool down = want > cur;

        if (d->pending && (rank(rules, d->pending_reason) > cur) == down) {
                /* Same direction as before: keep what every instant since the start asked for. */
                if (down ? want < rank(rules, d->pending_reason) : want > rank(rules, d->pending_reason))
                        d->pending_reason = target;
        } else {
                d->pending = true;
                d->pending_reason = target;
                d->pending_since_usec = now_usec;
        }
        if (down)
                return add_sat(d->pending_since_usec, rules->down_delay_usec);
        return MAX(add_sat(d->pending_since_usec, rules->up_dwell_usec), add_sat(d->changed_usec, rules->min_dwell_usec));
}

PowerDecision power_policy_evaluate(const PowerRules *rules, const PowerInputs *in, const PowerDecision *prev,
                                    uint64_t now_usec) {
        PowerDecision d;

        if (prev)
                d = *prev;
        else
                power_decision_init(&d);
        d.next_usec = POWER_USEC_INFINITY;

        const PowerReason target = power_policy_target(rules, in, &d);
        if (!d.initialized) {
                d.initialized = true;
                apply(&d, rules, target, now_usec);
                return d;
        }
        if (target == d.reason) {
                d.pending = false;
                return d;
        }
        uint64_t due = window_update(&d, rules, target, now_usec);
        if (now_usec < due) {
                d.next_usec = due;
                return d;
        }
        apply(&d, rules, d.pending_reason, now_usec);
        /* An "up" may have applied less than the target asks for now: that rest waits anew. */
        if (target != d.reason)
                d.next_usec = window_update(&d, rules, target, now_usec);
        return d;
}

size_t power_inputs_to_entries(const PowerInputs *in, PowerInputEntry ret[static POWER_INPUT_ENTRIES_MAX]) {
        size_t n = 0;

        if (in->on_battery_known)
                ret[n++] = (PowerInputEntry) { .key = "on_battery", .type = 'b', .b = in->on_battery };
        if (in->percentage_known)
                ret[n++] = (PowerInputEntry) { .key = "percentage", .type = 'd', .d = in->percentage };
        if (in->warning_level_known)
                ret[n++] = (PowerInputEntry) { .key = "warning_level", .type = 'u', .u = in->warning_level };
        if (in->profile_known && power_profile_to_string(in->profile))
                ret[n++] = (PowerInputEntry) { .key = "profile", .type = 's', .s = power_profile_to_string(in->profile) };
        if (in->temp_known)
                ret[n++] = (PowerInputEntry) { .key = "temp_c", .type = 'd', .d = in->temp_c };
        if (in->gpu_temp_known)
                ret[n++] = (PowerInputEntry) { .key = "gpu_temp_c", .type = 'd', .d = in->gpu_temp_c };
        if (in->thermal_known && power_thermal_to_string(in->thermal))
                ret[n++] = (PowerInputEntry) { .key = "thermal", .type = 's', .s = power_thermal_to_string(in->thermal) };
        if (in->psi_cpu_known)
                ret[n++] = (PowerInputEntry) { .key = "psi_cpu_avg10", .type = 'd', .d = in->psi_cpu_avg10 };
        if (in->psi_memory_known)
                ret[n++] = (PowerInputEntry) { .key = "psi_memory_avg10", .type = 'd', .d = in->psi_memory_avg10 };
        return n;
}
