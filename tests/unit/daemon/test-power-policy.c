/* Unit tests for daemon/power/power-policy.c: every reason and the priorities between them
 * (table), the hysteresis bands, the down delay, the up dwell and minimum dwell, the deadline the
 * policy returns, and flickering inputs over simulated minutes. Time is simulated: the tests call
 * the policy at input changes and at its deadlines, as the monitor's timer would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "power/power-policy.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))
#define MS(x) ((uint64_t) (x) * 1000ULL)
#define SEC(x) ((uint64_t) (x) * 1000000ULL)

/* ---- helpers ----------------------------------------------------------------------------- */

static PowerRules defaults(void) {
        PowerRules r;
        power_rules_default(&r);
        return r;
}

static PowerInputs ac(void) {
        return (PowerInputs) { .on_battery_known = true, .on_battery = false };
}

static PowerInputs battery(void) {
        return (PowerInputs) { .on_battery_known = true, .on_battery = true };
}

/* A decision already made at t0 for in. */
static PowerDecision decided_at(const PowerRules *r, const PowerInputs *in, uint64_t t0) {
        PowerDecision d = power_policy_evaluate(r, in, NULL, t0);
        assert_true(d.initialized);
        assert_int_equal(d.changed_usec, t0);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
        return d;
}

static void assert_decision(const PowerDecision *d, PowerLevel level, PowerReason reason) {
        if (d->level != level || d->reason != reason)
                fail_msg("decision is %s/%s, wanted %s/%s", power_level_to_string(d->level),
                         power_reason_to_string(d->reason), power_level_to_string(level), power_reason_to_string(reason));
}

/* ---- reasons and priorities (table) ------------------------------------------------------- */

typedef struct ReasonRow {
        const char *name;
        PowerInputs in;
        PowerReason reason;
        PowerLevel level;
} ReasonRow;

#define BAT .on_battery_known = true, .on_battery = true
#define AC .on_battery_known = true, .on_battery = false
#define PCT(x) .percentage_known = true, .percentage = (x)
#define WARN(x) .warning_level_known = true, .warning_level = (x)
#define PROFILE(x) .profile_known = true, .profile = (x)
#define THERMAL(x) .thermal_known = true, .thermal = (x), .thermal_hyst = (x)
#define CPU(x) .psi_cpu_known = true, .psi_cpu_avg10 = (x)
#define MEM(x) .psi_memory_known = true, .psi_memory_avg10 = (x)

static const ReasonRow reason_rows[] = {
        { "nothing known", { 0 }, POWER_REASON_NO_SENSORS, POWER_LEVEL_FULL },
        { "temperature without trips", { .temp_known = true, .temp_c = 50 }, POWER_REASON_NO_SENSORS, POWER_LEVEL_FULL },
        { "quiet pressure, power source unknown", { CPU(1), MEM(0) }, POWER_REASON_NO_SENSORS, POWER_LEVEL_FULL },
        { "on AC", { AC }, POWER_REASON_AC, POWER_LEVEL_FULL },
        { "on AC, everything quiet", { AC, PCT(90), WARN(1), PROFILE(POWER_PROFILE_BALANCED), THERMAL(POWER_THERMAL_NONE), CPU(10), MEM(5) },
          POWER_REASON_AC, POWER_LEVEL_FULL },
        { "on AC, performance", { AC, PROFILE(POWER_PROFILE_PERFORMANCE) }, POWER_REASON_AC, POWER_LEVEL_FULL },
        { "on AC, low percentage (charging)", { AC, PCT(5) }, POWER_REASON_AC, POWER_LEVEL_FULL },
        { "on AC, WarningLevel critical", { AC, WARN(4) }, POWER_REASON_AC, POWER_LEVEL_FULL },
        { "on battery", { BAT }, POWER_REASON_BATTERY, POWER_LEVEL_REDUCED },
        { "on battery, 21 %", { BAT, PCT(21) }, POWER_REASON_BATTERY, POWER_LEVEL_REDUCED },
        { "on battery, 20 %", { BAT, PCT(20) }, POWER_REASON_BATTERY_LOW, POWER_LEVEL_MINIMAL },
        { "on battery, WarningLevel discharging", { BAT, PCT(50), WARN(2) }, POWER_REASON_BATTERY, POWER_LEVEL_REDUCED },
        { "on battery, WarningLevel low", { BAT, PCT(50), WARN(3) }, POWER_REASON_BATTERY_LOW, POWER_LEVEL_MINIMAL },
        { "on battery, WarningLevel action", { BAT, WARN(5) }, POWER_REASON_BATTERY_LOW, POWER_LEVEL_MINIMAL },
        { "WarningLevel critical, source unknown", { WARN(4) }, POWER_REASON_BATTERY_LOW, POWER_LEVEL_MINIMAL },
        { "percentage alone", { PCT(3) }, POWER_REASON_NO_SENSORS, POWER_LEVEL_FULL },
        { "power-saver", { AC, PROFILE(POWER_PROFILE_POWER_SAVER) }, POWER_REASON_POWER_SAVER, POWER_LEVEL_MINIMAL },
        { "power-saver, source unknown", { PROFILE(POWER_PROFILE_POWER_SAVER) }, POWER_REASON_POWER_SAVER, POWER_LEVEL_MINIMAL },
        { "thermal passive", { AC, THERMAL(POWER_THERMAL_PASSIVE) }, POWER_REASON_THERMAL, POWER_LEVEL_MINIMAL },
        { "thermal hot", { AC, THERMAL(POWER_THERMAL_HOT) }, POWER_REASON_THERMAL, POWER_LEVEL_MINIMAL },
        { "thermal within hysteresis only", { AC, .thermal_known = true, .thermal = POWER_THERMAL_NONE, .thermal_hyst = POWER_THERMAL_PASSIVE },
          POWER_REASON_AC, POWER_LEVEL_FULL },
        { "cpu pressure 80", { AC, CPU(80) }, POWER_REASON_PRESSURE, POWER_LEVEL_MINIMAL },
        { "cpu pressure 79.99", { AC, CPU(79.99) }, POWER_REASON_AC, POWER_LEVEL_FULL },
        { "memory pressure 40", { AC, MEM(40) }, POWER_REASON_PRESSURE, POWER_LEVEL_MINIMAL },
        { "memory pressure 39.99", { AC, MEM(39.99) }, POWER_REASON_AC, POWER_LEVEL_FULL },
        /* priorities */
        { "battery-low beats battery", { BAT, PCT(10) }, POWER_REASON_BATTERY_LOW, POWER_LEVEL_MINIMAL },
        { "power-saver beats battery", { BAT, PROFILE(POWER_PROFILE_POWER_SAVER) }, POWER_REASON_POWER_SAVER, POWER_LEVEL_MINIMAL },
        { "power-saver beats battery-low", { BAT, PCT(10), PROFILE(POWER_PROFILE_POWER_SAVER) }, POWER_REASON_POWER_SAVER,
          POWER_LEVEL_MINIMAL },
        { "pressure beats power-saver", { BAT, PROFILE(POWER_PROFILE_POWER_SAVER), MEM(50) }, POWER_REASON_PRESSURE,
          POWER_LEVEL_MINIMAL },
        { "pressure beats battery", { BAT, CPU(99) }, POWER_REASON_PRESSURE, POWER_LEVEL_MINIMAL },
        { "thermal beats everything", { BAT, PCT(1), WARN(5), PROFILE(POWER_PROFILE_POWER_SAVER), THERMAL(POWER_THERMAL_HOT), CPU(100), MEM(100) },
          POWER_REASON_THERMAL, POWER_LEVEL_MINIMAL },
        { "thermal beats battery", { BAT, THERMAL(POWER_THERMAL_PASSIVE) }, POWER_REASON_THERMAL, POWER_LEVEL_MINIMAL },
};

static void test_power_policy_target_table(void **state) {
        const PowerRules r = defaults();
        bool reason_seen[_POWER_REASON_MAX] = { false };

        for (size_t i = 0; i < N_ELEMS(reason_rows); i++) {
                const ReasonRow *row = &reason_rows[i];
                PowerReason got = power_policy_target(&r, &row->in, NULL);
                if (got != row->reason)
                        fail_msg("'%s': reason %s, wanted %s", row->name, power_reason_to_string(got),
                                 power_reason_to_string(row->reason));
                /* The first decision applies at once. */
                PowerDecision d = power_policy_evaluate(&r, &row->in, NULL, SEC(7));
                if (d.level != row->level || d.reason != row->reason)
                        fail_msg("'%s': first decision %s/%s, wanted %s/%s", row->name, power_level_to_string(d.level),
                                 power_reason_to_string(d.reason), power_level_to_string(row->level),
                                 power_reason_to_string(row->reason));
                assert_int_equal(d.changed_usec, SEC(7));
                assert_true(d.next_usec == POWER_USEC_INFINITY);
                reason_seen[row->reason] = true;
        }
        for (int i = 0; i < _POWER_REASON_MAX; i++)
                if (!reason_seen[i])
                        fail_msg("no row for reason %s", power_reason_to_string(i));
}

static void test_power_policy_no_sensors(void **state) {
        const PowerRules r = defaults();
        const PowerInputs none = { 0 };
        PowerInputEntry e[POWER_INPUT_ENTRIES_MAX];

        assert_true(power_inputs_empty(&none));
        PowerDecision d = power_policy_evaluate(&r, &none, NULL, 0);
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_NO_SENSORS);
        assert_string_equal(power_reason_to_string(d.reason), "no-sensors");
        assert_int_equal(power_inputs_to_entries(&none, e), 0);
        /* And it stays so, with no timer needed. */
        d = power_policy_evaluate(&r, &none, &d, SEC(3600));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_NO_SENSORS);
        assert_int_equal(d.changed_usec, 0);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
        const PowerInputs some = { CPU(0) };
        assert_false(power_inputs_empty(&some));
        const PowerInputs gpu_only = { .gpu_temp_known = true, .gpu_temp_c = 40 };
        assert_false(power_inputs_empty(&gpu_only));
}

/* Levels come from the rules: a battery mapped to full stays full, and order follows levels. */
static void test_power_policy_level_table(void **state) {
        PowerRules r = defaults();
        r.level[POWER_REASON_BATTERY] = POWER_LEVEL_FULL;
        r.level[POWER_REASON_POWER_SAVER] = POWER_LEVEL_REDUCED;
        assert_int_equal(power_rules_validate(&r, NULL, 0), 0);

        PowerInputs in = battery();
        PowerDecision d = power_policy_evaluate(&r, &in, NULL, 0);
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_BATTERY);
        /* battery-low (minimal) beats power-saver (now reduced) despite its lower priority. */
        in = (PowerInputs) { BAT, PCT(5), PROFILE(POWER_PROFILE_POWER_SAVER) };
        assert_int_equal(power_policy_target(&r, &in, NULL), POWER_REASON_BATTERY_LOW);
}

/* ---- hysteresis bands --------------------------------------------------------------------- */

typedef struct BandStep {
        double value;
        bool active;
} BandStep;

static void run_band(const char *what, PowerInputs (*make)(double), const BandStep *steps, size_t n, PowerReason reason) {
        const PowerRules r = defaults();
        PowerDecision latches;
        power_decision_init(&latches);
        for (size_t i = 0; i < n; i++) {
                PowerInputs in = make(steps[i].value);
                bool active = power_policy_target(&r, &in, &latches) == reason;
                if (active != steps[i].active)
                        fail_msg("%s step %zu (value %g): %s, wanted %s", what, i, steps[i].value,
                                 active ? "active" : "inactive", steps[i].active ? "active" : "inactive");
        }
}

static PowerInputs make_battery_percent(double v) {
        return (PowerInputs) { BAT, PCT(v) };
}

static PowerInputs make_cpu(double v) {
        return (PowerInputs) { AC, CPU(v) };
}

static PowerInputs make_memory(double v) {
        return (PowerInputs) { AC, MEM(v) };
}

static void test_power_policy_band_battery(void **state) {
        static const BandStep steps[] = {
                { 30, false }, { 20.01, false }, { 20, true }, { 22, true }, { 24.99, true },
                { 25, false }, { 21, false }, { 20, true }, { 5, true }, { 100, false },
        };
        run_band("battery", make_battery_percent, steps, N_ELEMS(steps), POWER_REASON_BATTERY_LOW);
}

static void test_power_policy_band_pressure(void **state) {
        static const BandStep cpu[] = {
                { 10, false }, { 79.99, false }, { 80, true }, { 70, true }, { 64, true },
                { 63.99, false }, { 79, false }, { 100, true }, { 0, false },
        };
        static const BandStep mem[] = {
                { 39.9, false }, { 40, true }, { 32, true }, { 31.99, false }, { 35, false }, { 41, true },
        };
        run_band("cpu", make_cpu, cpu, N_ELEMS(cpu), POWER_REASON_PRESSURE);
        run_band("memory", make_memory, mem, N_ELEMS(mem), POWER_REASON_PRESSURE);
}

static void test_power_policy_band_thermal(void **state) {
        const PowerRules r = defaults();
        PowerDecision l;
        power_decision_init(&l);
        PowerInputs in = { AC, .thermal_known = true, .thermal = POWER_THERMAL_NONE, .thermal_hyst = POWER_THERMAL_PASSIVE };

        /* Within the band but never past the trip: not entered. */
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_AC);
        in.thermal = POWER_THERMAL_PASSIVE;
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_THERMAL);
        /* Cooled below the trip but not below trip - hysteresis: still thermal. */
        in.thermal = POWER_THERMAL_NONE;
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_THERMAL);
        in.thermal_hyst = POWER_THERMAL_NONE;
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_AC);
        /* Zones gone: unknown is not hot. */
        in.thermal = POWER_THERMAL_HOT;
        in.thermal_hyst = POWER_THERMAL_HOT;
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_THERMAL);
        in.thermal_known = false;
        assert_int_equal(power_policy_target(&r, &in, &l), POWER_REASON_AC);
}

/* ---- delays -------------------------------------------------------------------------------- */

static void test_power_policy_down_after_delay(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = ac();
        PowerDecision d = decided_at(&r, &in, SEC(0));

        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(10));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
        assert_int_equal(d.next_usec, SEC(10) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, SEC(10) + MS(499));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
        assert_int_equal(d.next_usec, SEC(10) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.changed_usec, SEC(10) + MS(500));
        assert_true(d.next_usec == POWER_USEC_INFINITY);
        /* A late timer still applies (the change is stamped when it is seen). */
        in = (PowerInputs) { BAT, THERMAL(POWER_THERMAL_HOT) };
        d = power_policy_evaluate(&r, &in, &d, SEC(20));
        d = power_policy_evaluate(&r, &in, &d, SEC(25));
        assert_decision(&d, POWER_LEVEL_MINIMAL, POWER_REASON_THERMAL);
        assert_int_equal(d.changed_usec, SEC(25));
}

static void test_power_policy_down_interrupted(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = ac();
        PowerDecision d = decided_at(&r, &in, 0);

        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(1));
        assert_int_equal(d.next_usec, SEC(1) + MS(500));
        in = ac();
        d = power_policy_evaluate(&r, &in, &d, SEC(1) + MS(300));
        assert_false(d.pending);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(1) + MS(400));
        assert_int_equal(d.next_usec, SEC(1) + MS(900));
        /* The old deadline passes without effect. */
        d = power_policy_evaluate(&r, &in, &d, SEC(1) + MS(500));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
        d = power_policy_evaluate(&r, &in, &d, SEC(1) + MS(900));
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
}

/* Down to the level every instant of the delay asked for: battery for 0.5 s, thermal only for
 * the last 0.1 s of it -> reduced first, minimal after its own delay. */
static void test_power_policy_down_holds_least(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = ac();
        PowerDecision d = decided_at(&r, &in, 0);

        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(1));
        in.thermal_known = true;
        in.thermal = in.thermal_hyst = POWER_THERMAL_PASSIVE;
        d = power_policy_evaluate(&r, &in, &d, SEC(1) + MS(400));
        assert_int_equal(d.next_usec, SEC(1) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.next_usec, SEC(2));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_MINIMAL, POWER_REASON_THERMAL);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
}

static void test_power_policy_up_after_dwell(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = battery();
        PowerDecision d = decided_at(&r, &in, 0);

        in = ac();
        d = power_policy_evaluate(&r, &in, &d, SEC(100));
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.next_usec, SEC(130));
        d = power_policy_evaluate(&r, &in, &d, SEC(130) - 1);
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        d = power_policy_evaluate(&r, &in, &d, SEC(130));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
}

static void test_power_policy_up_waits_min_dwell(void **state) {
        PowerRules r = defaults();
        r.min_dwell_usec = SEC(60);
        PowerInputs in = ac();
        PowerDecision d = decided_at(&r, &in, 0);

        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(1));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.changed_usec, SEC(1) + MS(500));
        in = ac();
        d = power_policy_evaluate(&r, &in, &d, SEC(2));
        /* The dwell would allow 32 s; the minimum dwell since the change says 61.5 s. */
        assert_int_equal(d.next_usec, SEC(61) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, SEC(32));
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.next_usec, SEC(61) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
}

/* Up to the level every instant of the dwell allowed: thermal clears with the battery and AC
 * alternating -> battery after the dwell, AC one dwell later. */
static void test_power_policy_up_holds_most(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = { AC, THERMAL(POWER_THERMAL_PASSIVE) };
        PowerDecision d = decided_at(&r, &in, 0);

        in = battery();
        d = power_policy_evaluate(&r, &in, &d, SEC(10));
        assert_int_equal(d.next_usec, SEC(40));
        in = ac();
        d = power_policy_evaluate(&r, &in, &d, SEC(15));
        assert_int_equal(d.next_usec, SEC(40));
        d = power_policy_evaluate(&r, &in, &d, SEC(40));
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        assert_int_equal(d.next_usec, SEC(70));
        d = power_policy_evaluate(&r, &in, &d, SEC(70));
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
}

/* Same level, other reason: a higher priority follows the down delay, a lower the up dwell. */
static void test_power_policy_reason_change_same_level(void **state) {
        const PowerRules r = defaults();
        PowerInputs in = { AC, PROFILE(POWER_PROFILE_POWER_SAVER) };
        PowerDecision d = decided_at(&r, &in, 0);

        in.thermal_known = true;
        in.thermal = in.thermal_hyst = POWER_THERMAL_HOT;
        d = power_policy_evaluate(&r, &in, &d, SEC(100));
        assert_int_equal(d.next_usec, SEC(100) + MS(500));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_MINIMAL, POWER_REASON_THERMAL);
        in.thermal = in.thermal_hyst = POWER_THERMAL_NONE;
        d = power_policy_evaluate(&r, &in, &d, SEC(110));
        assert_int_equal(d.next_usec, SEC(140));
        d = power_policy_evaluate(&r, &in, &d, d.next_usec);
        assert_decision(&d, POWER_LEVEL_MINIMAL, POWER_REASON_POWER_SAVER);
}

/* next_usec is exactly when the waiting change applies: one microsecond before changes nothing
 * and keeps the same deadline; none is asked for while nothing waits. */
static void test_power_policy_deadline(void **state) {
        PowerRules r = defaults();
        r.down_delay_usec = MS(250);
        r.up_dwell_usec = SEC(5);
        r.min_dwell_usec = SEC(7);
        static const struct {
                uint64_t at;
                bool battery;
                uint64_t next;                  /* expected deadline after the call */
                PowerReason reason;             /* expected reason after the call */
        } steps[] = {
                { SEC(0), false, POWER_USEC_INFINITY, POWER_REASON_AC },
                { SEC(1), false, POWER_USEC_INFINITY, POWER_REASON_AC },
                { SEC(2), true, SEC(2) + MS(250), POWER_REASON_AC },
                { SEC(2) + MS(249), true, SEC(2) + MS(250), POWER_REASON_AC },
                { SEC(2) + MS(250), true, POWER_USEC_INFINITY, POWER_REASON_BATTERY },
                { SEC(3), false, SEC(9) + MS(250), POWER_REASON_BATTERY }, /* min dwell: 2.25 + 7 */
                { SEC(8), false, SEC(9) + MS(250), POWER_REASON_BATTERY },
                { SEC(9) + MS(250) - 1, false, SEC(9) + MS(250), POWER_REASON_BATTERY },
                { SEC(9) + MS(250), false, POWER_USEC_INFINITY, POWER_REASON_AC },
                { SEC(20), true, SEC(20) + MS(250), POWER_REASON_AC },
                { SEC(20) + MS(250), true, POWER_USEC_INFINITY, POWER_REASON_BATTERY },
                { SEC(40), false, SEC(45), POWER_REASON_BATTERY }, /* dwell: 40 + 5 > 20.25 + 7 */
                { SEC(45), false, POWER_USEC_INFINITY, POWER_REASON_AC },
        };
        PowerDecision d;
        power_decision_init(&d);
        for (size_t i = 0; i < N_ELEMS(steps); i++) {
                PowerInputs in = steps[i].battery ? battery() : ac();
                d = power_policy_evaluate(&r, &in, &d, steps[i].at);
                if (d.next_usec != steps[i].next || d.reason != steps[i].reason)
                        fail_msg("step %zu (t=%" PRIu64 " us): next %" PRIu64 " reason %s, wanted next %" PRIu64 " reason %s", i,
                                 steps[i].at, d.next_usec, power_reason_to_string(d.reason), steps[i].next,
                                 power_reason_to_string(steps[i].reason));
        }
}

/* Zero delays: changes apply at the call that sees them. */
static void test_power_policy_zero_delays(void **state) {
        PowerRules r = defaults();
        r.down_delay_usec = r.up_dwell_usec = r.min_dwell_usec = 0;
        PowerInputs in = ac();
        PowerDecision d = decided_at(&r, &in, 0);
        in = battery();
        d = power_policy_evaluate(&r, &in, &d, 5);
        assert_decision(&d, POWER_LEVEL_REDUCED, POWER_REASON_BATTERY);
        in = ac();
        d = power_policy_evaluate(&r, &in, &d, 6);
        assert_decision(&d, POWER_LEVEL_FULL, POWER_REASON_AC);
        assert_true(d.next_usec == POWER_USEC_INFINITY);
}

/* ---- flicker ------------------------------------------------------------------------------- */

typedef PowerInputs (*Flicker)(unsigned step);

static PowerInputs flicker_on_battery(unsigned step) {
        return step % 2 ? battery() : ac();
}

static PowerInputs flicker_on_battery_from_battery(unsigned step) {
        return step % 2 ? ac() : battery();
}

static PowerInputs flicker_thermal(unsigned step) {
        PowerInputs in = { AC, PROFILE(POWER_PROFILE_POWER_SAVER) };
        in.thermal_known = true;
        in.thermal = in.thermal_hyst = step % 2 ? POWER_THERMAL_HOT : POWER_THERMAL_NONE;
        return in;
}

static PowerInputs flicker_pressure(unsigned step) {
        return (PowerInputs) { AC, CPU(step % 2 ? 95.0 : 3.0) };
}

static PowerInputs flicker_percentage(unsigned step) {
        return (PowerInputs) { BAT, PCT(step % 2 ? 19.0 : 30.0) };
}

static PowerInputs flicker_profile(unsigned step) {
        static const PowerProfile p[] = { POWER_PROFILE_POWER_SAVER, POWER_PROFILE_BALANCED, POWER_PROFILE_PERFORMANCE };
        return (PowerInputs) { BAT, PROFILE(p[step % 3]) };
}

/* Runs seconds of simulated time with the inputs changing every period_usec; calls the policy at
 * every change and at every deadline in between, like the monitor. Returns how often the level
 * changed after the first decision. */
static unsigned simulate(const PowerRules *r, Flicker f, uint64_t period_usec, uint64_t seconds) {
        PowerDecision d;
        unsigned changes = 0;
        power_decision_init(&d);
        PowerInputs in = f(0);
        d = power_policy_evaluate(r, &in, &d, 0);
        PowerLevel level = d.level;
        for (unsigned step = 1; (uint64_t) step * period_usec <= SEC(seconds); step++) {
                const uint64_t t = (uint64_t) step * period_usec;
                while (d.next_usec < t) { /* the timer fires before the next change */
                        d = power_policy_evaluate(r, &in, &d, d.next_usec);
                        changes += d.level != level;
                        level = d.level;
                }
                in = f(step);
                d = power_policy_evaluate(r, &in, &d, t);
                changes += d.level != level;
                level = d.level;
        }
        return changes;
}

static void test_power_policy_flicker_100ms(void **state) {
        const PowerRules r = defaults();
        static const struct {
                const char *name;
                Flicker f;
        } cases[] = {
                { "OnBattery from AC", flicker_on_battery },
                { "OnBattery from battery", flicker_on_battery_from_battery },
                { "thermal under power-saver", flicker_thermal },
                { "cpu pressure", flicker_pressure },
                { "percentage across the band", flicker_percentage },
                { "profile", flicker_profile },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                unsigned changes = simulate(&r, cases[i].f, MS(100), 60);
                if (changes > 1)
                        fail_msg("%s flickering every 100 ms for 60 s: the level changed %u times", cases[i].name, changes);
        }
}

/* A slower flicker (2 s phases) is followed down, but never back up faster than the dwell: one
 * change in 60 s. */
static void test_power_policy_flicker_slow(void **state) {
        const PowerRules r = defaults();
        unsigned changes = simulate(&r, flicker_on_battery, SEC(2), 60);
        /* Down after 0.5 s of each 2 s battery phase, up never (the AC phases last 2 s < 30 s). */
        assert_int_equal(changes, 1);
}

/* ---- rules, names, entries ----------------------------------------------------------------- */

static void test_power_rules_validate(void **state) {
        PowerRules r = defaults();
        char err[128];

        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), 0);
        assert_true(r.battery_low_enter_percent == 20 && r.battery_low_leave_percent == 25);
        assert_true(r.psi_cpu_enter == 80 && r.psi_cpu_leave == 64);
        assert_true(r.psi_memory_enter == 40 && r.psi_memory_leave == 32);
        assert_int_equal(r.down_delay_usec, MS(500));
        assert_int_equal(r.up_dwell_usec, SEC(30));
        assert_int_equal(r.min_dwell_usec, SEC(30));

        r = defaults();
        r.battery_low_leave_percent = 19;
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "battery low"));
        r = defaults();
        r.psi_cpu_leave = 81;
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "cpu pressure"));
        r = defaults();
        r.psi_memory_enter = 101;
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "0..100"));
        r = defaults();
        r.psi_memory_leave = NAN;
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        r = defaults();
        r.up_dwell_usec = SEC(3601);
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "one hour"));
        r = defaults();
        r.level[POWER_REASON_THERMAL] = _POWER_LEVEL_MAX;
        assert_int_equal(power_rules_validate(&r, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "'thermal'"));
        /* No buffer is fine too. */
        assert_int_equal(power_rules_validate(&r, NULL, 0), -EINVAL);
}

static void test_power_names(void **state) {
        static const char *const reasons[] = { "no-sensors", "ac", "battery", "battery-low", "power-saver", "pressure", "thermal" };
        static const char *const levels[] = { "full", "reduced", "minimal" };
        static const char *const thermal[] = { "none", "passive", "hot" };
        static const char *const profiles[] = { "performance", "balanced", "power-saver" };

        assert_int_equal(N_ELEMS(reasons), _POWER_REASON_MAX);
        for (int i = 0; i < _POWER_REASON_MAX; i++) {
                assert_string_equal(power_reason_to_string(i), reasons[i]);
                assert_int_equal(power_reason_from_string(reasons[i]), i);
        }
        assert_int_equal(N_ELEMS(levels), _POWER_LEVEL_MAX);
        for (int i = 0; i < _POWER_LEVEL_MAX; i++) {
                assert_string_equal(power_level_to_string(i), levels[i]);
                assert_int_equal(power_level_from_string(levels[i]), i);
        }
        for (int i = 0; i < _POWER_THERMAL_MAX; i++) {
                assert_string_equal(power_thermal_to_string(i), thermal[i]);
                assert_int_equal(power_thermal_from_string(thermal[i]), i);
        }
        for (int i = 0; i < _POWER_PROFILE_MAX; i++) {
                assert_string_equal(power_profile_to_string(i), profiles[i]);
                assert_int_equal(power_profile_from_string(profiles[i]), i);
        }
        assert_null(power_reason_to_string(_POWER_REASON_MAX));
        assert_null(power_reason_to_string(_POWER_REASON_INVALID));
        assert_null(power_level_to_string(-1));
        assert_int_equal(power_reason_from_string("AC"), -EINVAL);
        assert_int_equal(power_profile_from_string("low-power"), -EINVAL);
        assert_int_equal(power_level_from_string(NULL), -EINVAL);
        assert_int_equal(power_thermal_from_string(""), -EINVAL);
}

static void test_power_inputs_to_entries(void **state) {
        const PowerInputs all = { BAT, PCT(42.5), WARN(3), PROFILE(POWER_PROFILE_POWER_SAVER), THERMAL(POWER_THERMAL_PASSIVE),
                                  .temp_known = true, .temp_c = 81.5, .gpu_temp_known = true, .gpu_temp_c = 76.25,
                                  CPU(12.25), MEM(0.5) };
        PowerInputEntry e[POWER_INPUT_ENTRIES_MAX];

        assert_int_equal(power_inputs_to_entries(&all, e), 9);
        assert_int_equal(POWER_INPUT_ENTRIES_MAX, 9);
        assert_string_equal(e[0].key, "on_battery");
        assert_int_equal(e[0].type, 'b');
        assert_true(e[0].b);
        assert_string_equal(e[1].key, "percentage");
        assert_int_equal(e[1].type, 'd');
        assert_true(e[1].d == 42.5);
        assert_string_equal(e[2].key, "warning_level");
        assert_int_equal(e[2].type, 'u');
        assert_int_equal(e[2].u, 3);
        assert_string_equal(e[3].key, "profile");
        assert_int_equal(e[3].type, 's');
        assert_string_equal(e[3].s, "power-saver");
        assert_string_equal(e[4].key, "temp_c");
        assert_true(e[4].d == 81.5);
        assert_string_equal(e[5].key, "gpu_temp_c");
        assert_int_equal(e[5].type, 'd');
        assert_true(e[5].d == 76.25);
        assert_string_equal(e[6].key, "thermal");
        assert_string_equal(e[6].s, "passive");
        assert_string_equal(e[7].key, "psi_cpu_avg10");
        assert_true(e[7].d == 12.25);
        assert_string_equal(e[8].key, "psi_memory_avg10");
        assert_true(e[8].d == 0.5);

        const PowerInputs some = { AC, CPU(1) };
        assert_int_equal(power_inputs_to_entries(&some, e), 2);
        assert_string_equal(e[0].key, "on_battery");
        assert_false(e[0].b);
        assert_string_equal(e[1].key, "psi_cpu_avg10");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_power_policy_target_table),
                cmocka_unit_test(test_power_policy_no_sensors),
                cmocka_unit_test(test_power_policy_level_table),
                cmocka_unit_test(test_power_policy_band_battery),
                cmocka_unit_test(test_power_policy_band_pressure),
                cmocka_unit_test(test_power_policy_band_thermal),
                cmocka_unit_test(test_power_policy_down_after_delay),
                cmocka_unit_test(test_power_policy_down_interrupted),
                cmocka_unit_test(test_power_policy_down_holds_least),
                cmocka_unit_test(test_power_policy_up_after_dwell),
                cmocka_unit_test(test_power_policy_up_waits_min_dwell),
                cmocka_unit_test(test_power_policy_up_holds_most),
                cmocka_unit_test(test_power_policy_reason_change_same_level),
                cmocka_unit_test(test_power_policy_deadline),
                cmocka_unit_test(test_power_policy_zero_delays),
                cmocka_unit_test(test_power_policy_flicker_100ms),
                cmocka_unit_test(test_power_policy_flicker_slow),
                cmocka_unit_test(test_power_rules_validate),
                cmocka_unit_test(test_power_names),
                cmocka_unit_test(test_power_inputs_to_entries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
