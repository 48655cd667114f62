/* Unit tests for daemon/power/power-sysfs.c: the value parsers on valid, boundary and malformed
 * text, and the readers on fake trees in a fresh temporary directory per test (zones with
 * passive/hot trips and hysteresis, zones without trips, garbage, missing and oversized files, a
 * FIFO where a file should be, a hwmon sensor with and without max/crit/emergency limits merged
 * with the zones, PSI files valid and malformed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/test-util.h"
#include "power/power-sysfs.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

/* Writes text to ROOT/REL, creating the directories on the way. */
static void put(const char *root, const char *rel, const char *text) {
        char *path;
        assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
        for (char *slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        fail_msg("mkdir %s: %s", path, strerror(errno));
                *slash = '/';
        }
        FILE *f = fopen(path, "w");
        if (!f)
                fail_msg("cannot write %s: %s", path, strerror(errno));
        fputs(text, f);
        fclose(f);
        free(path);
}

static void put_zone(const char *root, unsigned zone, const char *name, const char *text) {
        char rel[128];
        snprintf(rel, sizeof(rel), "sys/class/thermal/thermal_zone%u/%s", zone, name);
        put(root, rel, text);
}

/* A zone at temp_mc with a passive and a hot trip point. */
static void put_zone_with_trips(const char *root, unsigned zone, const char *temp, const char *passive, const char *hot) {
        put_zone(root, zone, "type", "x86_pkg_temp\n");
        put_zone(root, zone, "temp", temp);
        put_zone(root, zone, "trip_point_0_type", "passive\n");
        put_zone(root, zone, "trip_point_0_temp", passive);
        put_zone(root, zone, "trip_point_1_type", "hot\n");
        put_zone(root, zone, "trip_point_1_temp", hot);
        put_zone(root, zone, "trip_point_2_type", "critical\n");
        put_zone(root, zone, "trip_point_2_temp", "105000\n");
}

/* An attribute of the fake GPU sensor ROOT/hwmon/hwmon3 (temp1_*). */
static void put_hwmon(const char *root, const char *name, const char *text) {
        char rel[128];
        snprintf(rel, sizeof(rel), "hwmon/hwmon3/%s", name);
        put(root, rel, text);
}

/* The path of the fake sensor's temp1_input; freed by the caller. */
static char *hwmon_input(const char *root) {
        char *path;
        assert_true(asprintf(&path, "%s/hwmon/hwmon3/temp1_input", root) > 0);
        return path;
}

static bool warned(const PowerWarnings *w, const char *a, const char *b) {
        for (unsigned i = 0; i < w->n; i++)
                if (strstr(w->line[i], a) && (!b || strstr(w->line[i], b)))
                        return true;
        return false;
}

static void assert_warned(const PowerWarnings *w, const char *a, const char *b) {
        if (warned(w, a, b))
                return;
        for (unsigned i = 0; i < w->n; i++)
                fprintf(stderr, "warning %u: %s\n", i, w->line[i]);
        fail_msg("no warning with '%s' and '%s'", a, b ? b : "");
}

static int setup(void **state) {
        *state = test_tmpdir();
        return *state ? 0 : -1;
}

static int teardown(void **state) {
        test_tmpdir_remove(*state);
        return 0;
}

/* ---- parsers ------------------------------------------------------------------------------- */

static void test_power_parse_int(void **state) {
        static const struct {
                const char *text;
                int r;
                int64_t value;
        } rows[] = {
                { "0", 0, 0 },
                { "42\n", 0, 42 },
                { "-7", 0, -7 },
                { "-32768000\n", 0, -32768000 },
                { "9223372036854775807", 0, INT64_MAX },
                { "9223372036854775808", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "\n", -EINVAL, 0 },
                { "-", -EINVAL, 0 },
                { "+5", -EINVAL, 0 },
                { " 5", -EINVAL, 0 },
                { "5 ", -EINVAL, 0 },
                { "4 2", -EINVAL, 0 },
                { "12a", -EINVAL, 0 },
                { "42\n\n", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "--1", -EINVAL, 0 },
                { "99999999999999999999x", -EINVAL, 0 },
        };
        for (size_t i = 0; i < N_ELEMS(rows); i++) {
                int64_t v = 12345;
                int r = power_parse_int(rows[i].text, strlen(rows[i].text), &v);
                if (r != rows[i].r)
                        fail_msg("power_parse_int('%s') = %d, wanted %d", rows[i].text, r, rows[i].r);
                if (r == 0 && v != rows[i].value)
                        fail_msg("power_parse_int('%s') gave %lld", rows[i].text, (long long) v);
                if (r < 0 && v != 12345)
                        fail_msg("power_parse_int('%s') failed but wrote its output", rows[i].text);
        }
        /* Bounded by len, not by a terminator. */
        int64_t v;
        assert_int_equal(power_parse_int("123456", 3, &v), 0);
        assert_int_equal(v, 123);
        assert_int_equal(power_parse_int("1\0002", 3, &v), -EINVAL);
}

static void test_power_parse_millicelsius(void **state) {
        int64_t v = -1;

        assert_int_equal(power_parse_millicelsius("45000\n", 6, &v), 0);
        assert_int_equal(v, 45000);
        assert_int_equal(power_parse_millicelsius("0", 1, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(power_parse_millicelsius("200000", 6, &v), 0);
        assert_int_equal(v, POWER_TEMP_MAX_MC);
        v = 7;
        assert_int_equal(power_parse_millicelsius("200001", 6, &v), -ERANGE);
        assert_int_equal(power_parse_millicelsius("-1000", 5, &v), -ERANGE);
        assert_int_equal(power_parse_millicelsius("-273150", 7, &v), -ERANGE);
        assert_int_equal(power_parse_millicelsius("45.5", 4, &v), -EINVAL);
        assert_int_equal(power_parse_millicelsius("garbage", 7, &v), -EINVAL);
        assert_int_equal(v, 7);
}

static void test_power_parse_trip_type(void **state) {
        static const struct {
                const char *text;
                PowerTripType type;
        } rows[] = {
                { "active", POWER_TRIP_ACTIVE },     { "passive\n", POWER_TRIP_PASSIVE },
                { "hot", POWER_TRIP_HOT },           { "critical\n", POWER_TRIP_CRITICAL },
                { "Passive", _POWER_TRIP_INVALID },  { "passive ", _POWER_TRIP_INVALID },
                { "", _POWER_TRIP_INVALID },         { "\n", _POWER_TRIP_INVALID },
                { "active0", _POWER_TRIP_INVALID },  { "passivepassive", _POWER_TRIP_INVALID },
                { "hot\n\n", _POWER_TRIP_INVALID },  { "pass", _POWER_TRIP_INVALID },
        };
        for (size_t i = 0; i < N_ELEMS(rows); i++) {
                PowerTripType t = power_parse_trip_type(rows[i].text, strlen(rows[i].text));
                if (t != rows[i].type)
                        fail_msg("power_parse_trip_type('%s') = %d, wanted %d", rows[i].text, t, rows[i].type);
        }
}

static void test_power_parse_hwmon_input_name(void **state) {
        static const struct {
                const char *text;
                int r;
                unsigned index;
        } rows[] = {
                { "temp1_input", 0, 1 },
                { "temp2_input", 0, 2 },
                { "temp10_input", 0, 10 },
                { "temp999999_input", 0, POWER_HWMON_INDEX_MAX },
                { "temp1000000_input", -EINVAL, 0 },
                { "temp0_input", -EINVAL, 0 },
                { "temp01_input", -EINVAL, 0 },
                { "temp_input", -EINVAL, 0 },
                { "tempA_input", -EINVAL, 0 },
                { "temp-1_input", -EINVAL, 0 },
                { "temp1_max", -EINVAL, 0 },
                { "temp1_input\n", -EINVAL, 0 },
                { "temp1_input ", -EINVAL, 0 },
                { "Temp1_input", -EINVAL, 0 },
                { "in1_input", -EINVAL, 0 },
                { "temp1_inputs", -EINVAL, 0 },
                { "temp1", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "temp", -EINVAL, 0 },
                { "_input", -EINVAL, 0 },
        };
        for (size_t i = 0; i < N_ELEMS(rows); i++) {
                unsigned v = 12345;
                int r = power_parse_hwmon_input_name(rows[i].text, strlen(rows[i].text), &v);
                if (r != rows[i].r)
                        fail_msg("power_parse_hwmon_input_name('%s') = %d, wanted %d", rows[i].text, r, rows[i].r);
                if (r == 0 && v != rows[i].index)
                        fail_msg("power_parse_hwmon_input_name('%s') gave %u", rows[i].text, v);
                if (r < 0 && v != 12345)
                        fail_msg("power_parse_hwmon_input_name('%s') failed but wrote its output", rows[i].text);
        }
        /* Bounded by len: a longer buffer's tail is not part of the name. */
        unsigned v = 0;
        assert_int_equal(power_parse_hwmon_input_name("temp7_input/x", 11, &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(power_parse_hwmon_input_name("temp7\0_input", 12, &v), -EINVAL);
}

static void test_power_parse_pressure_line(void **state) {
        PowerPressure p;
        const char *line = "some avg10=12.34 avg60=5.00 avg300=0.01 total=123456789\n";

        assert_int_equal(power_parse_pressure_line(line, strlen(line), &p), POWER_PRESSURE_SOME);
        assert_true(p.avg10 > 12.3399 && p.avg10 < 12.3401);
        assert_true(p.avg60 == 5.0);
        assert_true(p.avg300 > 0.0099 && p.avg300 < 0.0101);
        assert_int_equal(p.total_usec, 123456789);

        line = "full avg10=100.00 avg60=0 avg300=99.999999 total=18446744073709551615";
        assert_int_equal(power_parse_pressure_line(line, strlen(line), &p), POWER_PRESSURE_FULL);
        assert_true(p.avg10 == 100.0 && p.avg60 == 0.0);
        assert_true(p.total_usec == UINT64_MAX);

        line = "some\tavg10=1.00  avg60=2.00 avg300=3.00 total=4 ";
        assert_int_equal(power_parse_pressure_line(line, strlen(line), &p), POWER_PRESSURE_SOME);
        assert_true(p.avg10 == 1.0 && p.avg300 == 3.0);

        static const char *const bad[] = {
                "",
                "some",
                "some ",
                "Some avg10=1.00 avg60=2.00 avg300=3.00 total=4",
                "none avg10=1.00 avg60=2.00 avg300=3.00 total=4",
                "someavg10=1.00 avg60=2.00 avg300=3.00 total=4",
                "some avg10=100.01 avg60=2.00 avg300=3.00 total=4",
                "some avg10=1000 avg60=2.00 avg300=3.00 total=4",
                "some avg10=-1.00 avg60=2.00 avg300=3.00 total=4",
                "some avg10=1.2.3 avg60=2.00 avg300=3.00 total=4",
                "some avg10=1. avg60=2.00 avg300=3.00 total=4",
                "some avg10=.5 avg60=2.00 avg300=3.00 total=4",
                "some avg10=1.0000001 avg60=2.00 avg300=3.00 total=4",
                "some avg10=abc avg60=2.00 avg300=3.00 total=4",
                "some avg60=2.00 avg10=1.00 avg300=3.00 total=4",
                "some avg10=1.00 avg60=2.00 avg300=3.00",
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=",
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=-4",
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=18446744073709551616",
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 extra",
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n\n",
                "some avg10=1,00 avg60=2.00 avg300=3.00 total=4",
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                p = (PowerPressure) { .avg10 = 77 };
                int r = power_parse_pressure_line(bad[i], strlen(bad[i]), &p);
                if (r != -EINVAL)
                        fail_msg("power_parse_pressure_line('%s') = %d, wanted -EINVAL", bad[i], r);
                assert_true(p.avg10 == 77);
        }
        /* An embedded NUL ends nothing early and is malformed. */
        static const char nul[] = "some avg10=1.00\0avg60=2.00 avg300=3.00 total=4";
        assert_int_equal(power_parse_pressure_line(nul, sizeof(nul) - 1, &p), -EINVAL);
}

/* ---- thermal ------------------------------------------------------------------------------- */

static void test_power_sysfs_thermal_absent(void **state) {
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        assert_int_equal(power_sysfs_read_thermal(*state, &t, &w), 0);
        assert_false(t.temp_known);
        assert_false(t.state_known);
        assert_int_equal(t.n_zones, 0);
        assert_int_equal(w.n, 0);
        /* An empty thermal class directory is the same. */
        put(*state, "sys/class/thermal/cooling_device0/type", "Processor\n");
        assert_int_equal(power_sysfs_read_thermal(*state, &t, &w), 0);
        assert_false(t.temp_known);
        assert_int_equal(w.n, 0);
}

static void test_power_sysfs_thermal_states(void **state) {
        const char *root = *state;
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        /* Cool zone with trips, warmer zone without trips: temp from the warmer, state none. */
        put_zone_with_trips(root, 0, "45000\n", "80000\n", "95000\n");
        put_zone(root, 1, "type", "acpitz\n");
        put_zone(root, 1, "temp", "52500\n");
        put(root, "sys/class/thermal/cooling_device0/cur_state", "0\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(w.n, 0);
        assert_int_equal(t.n_zones, 2);
        assert_true(t.temp_known && t.temp_c == 52.5);
        assert_true(t.state_known);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);

        /* At the passive trip exactly. */
        put_zone(root, 0, "temp", "80000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);
        assert_true(t.temp_c == 80.0);
        /* Past hot. */
        put_zone(root, 0, "temp", "96000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_int_equal(t.state_hyst, POWER_THERMAL_HOT);
        /* The worst zone counts, not the hottest: a cooler zone with a lower passive trip. */
        put_zone(root, 0, "temp", "45000\n");
        put_zone_with_trips(root, 2, "61000\n", "60000\n", "90000\n");
        put_zone(root, 1, "temp", "70000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.n_zones, 3);
        assert_true(t.temp_c == 70.0);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);
        /* Critical alone counts as hot. */
        put_zone(root, 2, "temp", "106000\n");
        put_zone(root, 2, "trip_point_0_temp", "0\n"); /* unused trip: ignored, no warning */
        put_zone(root, 2, "trip_point_1_temp", "-32768000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(w.n, 0);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_true(t.temp_c == 106.0);
}

static void test_power_sysfs_thermal_hysteresis(void **state) {
        const char *root = *state;
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        put_zone_with_trips(root, 0, "79000\n", "80000\n", "95000\n");
        /* No hyst file: POWER_TRIP_HYST_DEFAULT_MC (2 °C). */
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        put_zone(root, 0, "temp", "77999\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);
        /* The zone's own hysteresis. */
        put_zone(root, 0, "trip_point_0_hyst", "5000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        put_zone(root, 0, "temp", "74999\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);
        /* Zero means the default band; nonsense is a warning and the default. */
        put_zone(root, 0, "temp", "78500\n");
        put_zone(root, 0, "trip_point_0_hyst", "0\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        assert_int_equal(w.n, 0);
        put_zone(root, 0, "trip_point_0_hyst", "999999999\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        assert_warned(&w, "thermal_zone0/trip_point_0_hyst", "bad hysteresis");
}

static void test_power_sysfs_thermal_malformed(void **state) {
        const char *root = *state;
        PowerThermalReading t;
        PowerWarnings w = { 0 };
        char big[POWER_SYSFS_READ_MAX + 10];

        put_zone_with_trips(root, 0, "garbage\n", "80000\n", "95000\n");
        put_zone_with_trips(root, 1, "-5000\n", "80000\n", "95000\n");
        put_zone_with_trips(root, 2, "99999999999999999999999\n", "80000\n", "95000\n");
        put_zone_with_trips(root, 3, "", "80000\n", "95000\n");
        put_zone(root, 4, "type", "no temp file\n");
        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        put_zone_with_trips(root, 5, big, "80000\n", "95000\n");
        /* Zone 6 is fine except for its trip points. */
        put_zone_with_trips(root, 6, "85000\n", "banana\n", "95000\n");
        put_zone(root, 6, "trip_point_0_type", "banana\n");
        put_zone(root, 6, "trip_point_1_temp", "hot\n");
        put_zone(root, 6, "trip_point_3_type", "passive\n"); /* no trip_point_3_temp */
        put_zone(root, 6, "trip_point_4_type", "passive\n");
        put_zone(root, 6, "trip_point_4_temp", "300000\n");
        /* Zone 7 is good. */
        put_zone_with_trips(root, 7, "40000\n", "80000\n", "95000\n");
        /* Not zones. */
        put(root, "sys/class/thermal/thermal_zoneX/temp", "90000\n");
        put(root, "sys/class/thermal/thermal_zone/temp", "90000\n");

        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.n_zones, 2); /* 6 and 7 */
        assert_true(t.temp_known && t.temp_c == 85.0);
        /* Zone 6's only usable trip is critical at 105 °C; zone 7 is cool. */
        assert_true(t.state_known);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(w.n + w.n_dropped, 10);
        assert_int_equal(w.n, POWER_WARNINGS_MAX);
        assert_int_equal(w.n_dropped, 2);

        /* Each zone again on its own, to see every warning. */
        static const struct {
                unsigned keep;
                const char *a, *b;
        } expect[] = {
                { 0, "thermal_zone0/temp", "not a temperature 'garbage'" },
                { 1, "thermal_zone1/temp", "implausible temperature '-5000'" },
                { 2, "thermal_zone2/temp", "implausible temperature" },
                { 3, "thermal_zone3/temp", "not a temperature ''" },
                { 4, "thermal_zone4/temp", "missing" },
                { 5, "thermal_zone5/temp", "longer than" },
        };
        for (size_t i = 0; i < N_ELEMS(expect); i++) {
                char *sub;
                assert_true(asprintf(&sub, "%s/only%zu", root, i) > 0);
                char rel[64];
                snprintf(rel, sizeof(rel), "sys/class/thermal/thermal_zone%u", expect[i].keep);
                char *from, *to;
                assert_true(asprintf(&from, "%s/%s", root, rel) > 0);
                assert_true(asprintf(&to, "%s/sys/class/thermal", sub) > 0);
                char *cmd;
                assert_true(asprintf(&cmd, "mkdir -p '%s' && cp -r '%s' '%s/'", to, from, to) > 0);
                assert_int_equal(system(cmd), 0);
                w = (PowerWarnings) { 0 };
                assert_int_equal(power_sysfs_read_thermal(sub, &t, &w), 0);
                assert_int_equal(t.n_zones, 0);
                assert_false(t.temp_known);
                assert_false(t.state_known);
                assert_warned(&w, expect[i].a, expect[i].b);
                free(cmd);
                free(to);
                free(from);
                free(sub);
        }

        /* Zone 6's trip point warnings. */
        char *sub;
        assert_true(asprintf(&sub, "%s/only6", root) > 0);
        char *cmd;
        assert_true(asprintf(&cmd, "mkdir -p '%s/sys/class/thermal' && cp -r '%s/sys/class/thermal/thermal_zone6' '%s/sys/class/thermal/'",
                             sub, root, sub) > 0);
        assert_int_equal(system(cmd), 0);
        w = (PowerWarnings) { 0 };
        assert_int_equal(power_sysfs_read_thermal(sub, &t, &w), 0);
        assert_int_equal(t.n_zones, 1);
        assert_warned(&w, "trip_point_0_type", "unknown trip type 'banana'");
        assert_warned(&w, "trip_point_1_temp", "not a temperature 'hot'");
        assert_warned(&w, "trip_point_3_temp", "missing");
        assert_warned(&w, "trip_point_4_temp", "implausible temperature '300000'");
        free(cmd);
        free(sub);
}

static void test_power_sysfs_thermal_not_a_file(void **state) {
        const char *root = *state;
        PowerThermalReading t;
        PowerWarnings w = { 0 };
        char *path;

        /* A FIFO must neither block nor be read; a directory is not a value either. */
        put_zone(root, 0, "type", "fifo\n");
        assert_true(asprintf(&path, "%s/sys/class/thermal/thermal_zone0/temp", root) > 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        free(path);
        put_zone(root, 1, "trip_point_0_type", "passive\n");
        assert_true(asprintf(&path, "%s/sys/class/thermal/thermal_zone1/temp", root) > 0);
        assert_int_equal(mkdir(path, 0755), 0);
        free(path);
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.n_zones, 0);
        assert_warned(&w, "thermal_zone0/temp", "cannot read");
        assert_warned(&w, "thermal_zone1/temp", "cannot read");
}

static void test_power_sysfs_thermal_many_zones(void **state) {
        const char *root = *state;
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        for (unsigned i = 0; i < POWER_SYSFS_ZONES_MAX + 3; i++)
                put_zone(root, i, "temp", "30000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.n_zones, POWER_SYSFS_ZONES_MAX);
        assert_warned(&w, "more than", "zones");
}

/* ---- hwmon --------------------------------------------------------------------------------- */

static void test_power_sysfs_hwmon_states(void **state) {
        const char *root = *state;
        char *path = hwmon_input(root);
        PowerThermalReading t = { 0 };
        PowerWarnings w = { 0 };

        /* Cool, below max (passive), crit and emergency (hot). */
        put_hwmon(root, "temp1_input", "45000\n");
        put_hwmon(root, "temp1_max", "90000\n");
        put_hwmon(root, "temp1_crit", "100000\n");
        put_hwmon(root, "temp1_emergency", "105000\n");
        put_hwmon(root, "temp1_label", "edge\n");
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(w.n, 0);
        assert_true(t.hwmon_known && t.hwmon_temp_c == 45.0);
        assert_true(t.temp_known && t.temp_c == 45.0);
        assert_true(t.state_known);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);
        assert_int_equal(t.n_zones, 0); /* a sensor is not a zone */

        /* At max exactly: passive. */
        put_hwmon(root, "temp1_input", "90000\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        /* Past crit: hot. */
        put_hwmon(root, "temp1_input", "101000\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_true(t.hwmon_temp_c == 101.0);
        /* Emergency alone (no max, no crit) counts as hot too. */
        put_hwmon(root, "temp1_input", "106000\n");
        put_hwmon(root, "temp1_max", "0\n");          /* unset: ignored, no warning */
        put_hwmon(root, "temp1_crit", "-273150\n");   /* unset the way some drivers write it */
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(w.n, 0);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_int_equal(w.n, 0);

        /* Another channel of the same chip uses its own limits. */
        put_hwmon(root, "temp2_input", "70000\n");
        put_hwmon(root, "temp2_max", "65000\n");
        char *path2;
        assert_true(asprintf(&path2, "%s/hwmon/hwmon3/temp2_input", root) > 0);
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path2, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);
        assert_true(t.hwmon_temp_c == 70.0);
        free(path2);
        free(path);
}

static void test_power_sysfs_hwmon_merge(void **state) {
        const char *root = *state;
        char *path = hwmon_input(root);
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        /* A warm zone past its passive trip and a cooler GPU below its max: the zone's temperature
         * and state, the GPU's own temperature. */
        put_zone_with_trips(root, 0, "82000\n", "80000\n", "95000\n");
        put_hwmon(root, "temp1_input", "60000\n");
        put_hwmon(root, "temp1_max", "90000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_false(t.hwmon_known);
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.n_zones, 1);
        assert_true(t.temp_c == 82.0);
        assert_true(t.hwmon_known && t.hwmon_temp_c == 60.0);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);

        /* A cool zone and a GPU past crit: the GPU is the hottest and the worst. */
        put_zone(root, 0, "temp", "40000\n");
        put_hwmon(root, "temp1_input", "99000\n");
        put_hwmon(root, "temp1_crit", "97000\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_true(t.temp_c == 99.0);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_int_equal(t.state_hyst, POWER_THERMAL_HOT);

        /* A zone without trips and a GPU without limits: temperatures only, no state known. */
        char *fresh, *fresh_path;
        assert_true(asprintf(&fresh, "%s/fresh", root) > 0);
        assert_int_equal(mkdir(fresh, 0700), 0);
        put_zone(fresh, 0, "temp", "50000\n");
        put_hwmon(fresh, "temp1_input", "55000\n");
        fresh_path = hwmon_input(fresh);
        assert_int_equal(power_sysfs_read_thermal(fresh, &t, &w), 0);
        assert_int_equal(power_sysfs_read_hwmon(fresh_path, &t, &w), 1);
        assert_true(t.temp_c == 55.0);
        assert_false(t.state_known);
        assert_int_equal(w.n, 0);
        free(fresh_path);
        free(fresh);

        /* A sensor that cannot be read leaves the zones' reading as it was. */
        put_hwmon(root, "temp1_input", "garbage\n");
        assert_int_equal(power_sysfs_read_thermal(root, &t, &w), 0);
        PowerThermalReading before = t;
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 0);
        assert_memory_equal(&t, &before, sizeof(t));
        assert_warned(&w, "hwmon3/temp1_input", "not a temperature 'garbage'");
        free(path);
}

static void test_power_sysfs_hwmon_hysteresis(void **state) {
        const char *root = *state;
        char *path = hwmon_input(root);
        PowerThermalReading t;
        PowerWarnings w = { 0 };

        /* No hyst file: POWER_TRIP_HYST_DEFAULT_MC (2 °C) below max. */
        put_hwmon(root, "temp1_input", "89000\n");
        put_hwmon(root, "temp1_max", "90000\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_NONE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        put_hwmon(root, "temp1_input", "87999\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);

        /* The sensor's own hysteresis is an absolute temperature: 85 °C is a 5 °C band. */
        put_hwmon(root, "temp1_max_hyst", "85000\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        put_hwmon(root, "temp1_input", "84999\n");
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state_hyst, POWER_THERMAL_NONE);
        assert_int_equal(w.n, 0);

        /* Unset (at or below 0 °C, or equal to the limit): the default band, no warning. */
        put_hwmon(root, "temp1_input", "88500\n");
        static const char *const unset[] = { "-273150\n", "0\n", "90000\n" };
        for (size_t i = 0; i < N_ELEMS(unset); i++) {
                put_hwmon(root, "temp1_max_hyst", unset[i]);
                t = (PowerThermalReading) { 0 };
                assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
                assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
        }
        assert_int_equal(w.n, 0);

        /* Above the limit, more than POWER_TRIP_HYST_MAX_MC below it, or not a number: a warning
         * and the default band. */
        static const char *const bad[] = { "95000\n", "60000\n", "warm\n" };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                put_hwmon(root, "temp1_max_hyst", bad[i]);
                w = (PowerWarnings) { 0 };
                t = (PowerThermalReading) { 0 };
                assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
                assert_int_equal(t.state, POWER_THERMAL_NONE);
                assert_int_equal(t.state_hyst, POWER_THERMAL_PASSIVE);
                assert_warned(&w, "hwmon3/temp1_max_hyst", "bad hysteresis");
        }

        /* crit has its own band. */
        put_hwmon(root, "temp1_max_hyst", "85000\n");
        put_hwmon(root, "temp1_crit", "100000\n");
        put_hwmon(root, "temp1_crit_hyst", "95000\n");
        put_hwmon(root, "temp1_input", "96000\n");
        w = (PowerWarnings) { 0 };
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_PASSIVE);
        assert_int_equal(t.state_hyst, POWER_THERMAL_HOT);
        assert_int_equal(w.n, 0);
        free(path);
}

static void test_power_sysfs_hwmon_malformed(void **state) {
        const char *root = *state;
        char *path = hwmon_input(root);
        PowerThermalReading t;
        PowerWarnings w;
        char big[POWER_SYSFS_READ_MAX + 10];

        memset(big, '1', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';

        /* A temperature that cannot be used: nothing read, reading untouched, a warning. */
        static const struct {
                const char *text;
                const char *warning;
        } inputs[] = {
                { "garbage\n", "not a temperature 'garbage'" },
                { "", "not a temperature ''" },
                { "45000\n\n", "not a temperature" },
                { "45.5\n", "not a temperature '45.5'" },
                { "-5000\n", "implausible temperature '-5000'" },
                { "200001\n", "implausible temperature '200001'" },
                { "99999999999999999999999\n", "implausible temperature" },
                { "\x01\xff\n", "not a temperature '?" "?'" /* split: no trigraph */ },
                { NULL, "longer than" },
        };
        put_hwmon(root, "temp1_max", "90000\n");
        for (size_t i = 0; i < N_ELEMS(inputs); i++) {
                put_hwmon(root, "temp1_input", inputs[i].text ? inputs[i].text : big);
                w = (PowerWarnings) { 0 };
                t = (PowerThermalReading) { .temp_known = true, .temp_c = 33.0 };
                assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 0);
                assert_false(t.hwmon_known);
                assert_true(t.temp_known && t.temp_c == 33.0);
                assert_false(t.state_known);
                assert_warned(&w, "hwmon3/temp1_input", inputs[i].warning);
        }

        /* Limits that cannot be used are skipped with a warning; the temperature still counts. */
        put_hwmon(root, "temp1_input", "95000\n");
        static const struct {
                const char *name, *text, *warning;
        } limits[] = {
                { "temp1_max", "hot\n", "not a temperature 'hot'" },
                { "temp1_max", "300000\n", "implausible temperature '300000'" },
                { "temp1_max", "9223372036854775808\n", "implausible temperature" },
                { "temp1_max", NULL, "longer than" },
                { "temp1_crit", "90 000\n", "not a temperature '90 000'" },
                { "temp1_emergency", "0x1000\n", "not a temperature '0x1000'" },
        };
        for (size_t i = 0; i < N_ELEMS(limits); i++) {
                put_hwmon(root, "temp1_max", "0\n");
                put_hwmon(root, "temp1_crit", "0\n");
                put_hwmon(root, "temp1_emergency", "0\n");
                put_hwmon(root, limits[i].name, limits[i].text ? limits[i].text : big);
                w = (PowerWarnings) { 0 };
                t = (PowerThermalReading) { 0 };
                assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
                assert_true(t.hwmon_known && t.hwmon_temp_c == 95.0);
                assert_false(t.state_known);
                assert_int_equal(t.state, POWER_THERMAL_NONE);
                assert_warned(&w, limits[i].name, limits[i].warning);
        }
        /* One bad limit does not hide a good one. */
        put_hwmon(root, "temp1_max", "banana\n");
        put_hwmon(root, "temp1_crit", "94000\n");
        w = (PowerWarnings) { 0 };
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(t.state, POWER_THERMAL_HOT);
        assert_warned(&w, "temp1_max", "not a temperature 'banana'");
        free(path);
}

static void test_power_sysfs_hwmon_missing(void **state) {
        const char *root = *state;
        char *path = hwmon_input(root);
        PowerThermalReading t = { 0 };
        PowerWarnings w = { 0 };

        /* No such directory, then a directory without the file. */
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 0);
        assert_warned(&w, "hwmon3/temp1_input", "cannot open its directory");
        put_hwmon(root, "temp2_input", "40000\n");
        w = (PowerWarnings) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 0);
        assert_warned(&w, "hwmon3/temp1_input", "missing");
        assert_false(t.hwmon_known || t.temp_known || t.state_known);

        /* Only the input: every limit unknown, no warning. */
        put_hwmon(root, "temp1_input", "40000\n");
        w = (PowerWarnings) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_int_equal(w.n, 0);
        assert_true(t.hwmon_known && t.temp_known);
        assert_false(t.state_known);

        /* A FIFO must neither block nor be read; a directory is not a value either. */
        char *fifo;
        assert_true(asprintf(&fifo, "%s/hwmon/hwmon3/temp1_max", root) > 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        w = (PowerWarnings) { 0 };
        t = (PowerThermalReading) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(path, &t, &w), 1);
        assert_warned(&w, "hwmon3/temp1_max", "cannot read");
        assert_false(t.state_known);
        free(fifo);
        assert_true(asprintf(&fifo, "%s/hwmon/hwmon3/temp2_input", root) > 0);
        assert_int_equal(unlink(fifo), 0);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        w = (PowerWarnings) { 0 };
        assert_int_equal(power_sysfs_read_hwmon(fifo, &t, &w), 0);
        assert_warned(&w, "hwmon3/temp2_input", "cannot read");
        free(fifo);

        /* Paths that do not name a tempN_input file are refused without opening anything. */
        static const char *const bad[] = {
                "hwmon/hwmon3/temp1_input", "temp1_input", "/sys/class/hwmon/hwmon0/temp1_max",
                "/sys/class/hwmon/hwmon0/temp0_input", "/sys/class/hwmon/hwmon0/", "/",
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                w = (PowerWarnings) { 0 };
                t = (PowerThermalReading) { 0 };
                assert_int_equal(power_sysfs_read_hwmon(bad[i], &t, &w), 0);
                assert_warned(&w, bad[i], "not an absolute path to a hwmon tempN_input file");
                assert_false(t.hwmon_known);
        }
        assert_int_equal(power_sysfs_read_hwmon(NULL, &t, &w), -EINVAL);
        assert_int_equal(power_sysfs_read_hwmon("", &t, &w), -EINVAL);
        /* A warning list that is NULL is fine. */
        assert_int_equal(power_sysfs_read_hwmon("/nonexistent/temp1_input", &t, NULL), 0);
        free(path);
}

/* ---- pressure ------------------------------------------------------------------------------ */

static void test_power_sysfs_pressure(void **state) {
        const char *root = *state;
        PowerPressure p = { .avg10 = -1 };
        PowerWarnings w = { 0 };

        /* Absent: not known, no warning. */
        assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, &w), 0);
        put(root, "proc/pressure/io", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, &w), 0);
        assert_int_equal(w.n, 0);
        assert_true(p.avg10 == -1);

        put(root, "proc/pressure/cpu", "some avg10=81.50 avg60=20.00 avg300=5.00 total=99\n"
                                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, &w), 1);
        assert_true(p.avg10 == 81.5 && p.avg60 == 20.0 && p.avg300 == 5.0);
        assert_int_equal(p.total_usec, 99);
        /* "full" first, no final newline. */
        put(root, "proc/pressure/memory", "full avg10=9.00 avg60=0.00 avg300=0.00 total=0\n"
                                          "some avg10=45.00 avg60=0.00 avg300=0.00 total=7");
        assert_int_equal(power_sysfs_read_pressure(root, "memory", &p, &w), 1);
        assert_true(p.avg10 == 45.0);
        assert_int_equal(w.n, 0);
}

static void test_power_sysfs_pressure_malformed(void **state) {
        const char *root = *state;
        PowerPressure p = { .avg10 = -1 };
        PowerWarnings w = { 0 };
        char big[POWER_SYSFS_READ_MAX + 100];

        static const struct {
                const char *text;
                const char *warning;
        } rows[] = {
                { "some avg10=abc avg60=0.00 avg300=0.00 total=1\n", "malformed line 'some avg10=abc avg60=0.0...'" },
                { "some avg10=500.00 avg60=0.00 avg300=0.00 total=1\n", "malformed line" },
                { "full avg10=1.00 avg60=0.00 avg300=0.00 total=1\n", "no 'some' line" },
                { "", "no 'some' line" },
                { "\x01\x02\xff garbage\n", "no 'some' line" },
                { "some\n", "malformed line 'some'" },
                { "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\x01\n", "malformed line 'some avg10=1.00 avg60=0...." },
        };
        for (size_t i = 0; i < N_ELEMS(rows); i++) {
                put(root, "proc/pressure/cpu", rows[i].text);
                w = (PowerWarnings) { 0 };
                assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, &w), 0);
                assert_true(p.avg10 == -1);
                assert_warned(&w, "pressure/cpu", rows[i].warning);
        }
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, "some avg10=1.00 avg60=0.00 avg300=0.00 total=1\n", 47);
        put(root, "proc/pressure/cpu", big);
        w = (PowerWarnings) { 0 };
        assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, &w), 0);
        assert_warned(&w, "pressure/cpu", "too long");

        /* Resource names are plain words. */
        assert_int_equal(power_sysfs_read_pressure(root, "../cpu", &p, &w), -EINVAL);
        assert_int_equal(power_sysfs_read_pressure(root, "", &p, &w), -EINVAL);
        assert_int_equal(power_sysfs_read_pressure(root, ".", &p, &w), -EINVAL);
        /* A warning list that is NULL is fine. */
        put(root, "proc/pressure/cpu", "junk\n");
        assert_int_equal(power_sysfs_read_pressure(root, "cpu", &p, NULL), 0);
}

static void test_power_warnings_overflow(void **state) {
        PowerWarnings w = { 0 };
        char long_text[POWER_WARNING_LEN * 2];

        memset(long_text, 'a', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = '\0';
        for (unsigned i = 0; i < POWER_WARNINGS_MAX + 5; i++)
                power_warnings_add(&w, "%u %s", i, long_text);
        assert_int_equal(w.n, POWER_WARNINGS_MAX);
        assert_int_equal(w.n_dropped, 5);
        assert_int_equal(strlen(w.line[0]), POWER_WARNING_LEN - 1);
        power_warnings_add(NULL, "ignored");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_power_parse_int),
                cmocka_unit_test(test_power_parse_millicelsius),
                cmocka_unit_test(test_power_parse_trip_type),
                cmocka_unit_test(test_power_parse_hwmon_input_name),
                cmocka_unit_test(test_power_parse_pressure_line),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_absent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_states, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_hysteresis, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_not_a_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_thermal_many_zones, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_hwmon_states, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_hwmon_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_hwmon_hysteresis, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_hwmon_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_hwmon_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_pressure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_sysfs_pressure_malformed, setup, teardown),
                cmocka_unit_test(test_power_warnings_overflow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
