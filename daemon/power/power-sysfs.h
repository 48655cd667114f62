/* Thermal zones, hwmon temperature sensors and pressure stall information, read from files under
 * an injectable root or path (tests point them at a fake tree). This is the door for those files:
 * every value is parsed with bounded reads and range checks here; what does not parse is left out
 * and described in a warning. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "power-policy.h"

#define POWER_SYSFS_READ_MAX 4096               /* a longer attribute file is malformed */
#define POWER_SYSFS_ZONES_MAX 64                /* zones looked at; more are ignored (warning) */
#define POWER_SYSFS_TRIPS_MAX 32                /* trip points looked at per zone */
#define POWER_TEMP_MAX_MC 200000                /* 200 °C: hotter readings are not believed */
#define POWER_TRIP_HYST_DEFAULT_MC 2000         /* band when a trip has no (or a zero) hysteresis */
#define POWER_TRIP_HYST_MAX_MC 20000
#define POWER_HWMON_INDEX_MAX 999999             /* tempN_input: N in 1..this */

#define POWER_WARNINGS_MAX 8
#define POWER_WARNING_LEN 240

/* Warnings collected while reading: one line each, "PATH: what is wrong, ignoring". */
typedef struct PowerWarnings {
        unsigned n;                             /* lines stored */
        unsigned n_dropped;                     /* lines that did not fit */
        char line[POWER_WARNINGS_MAX][POWER_WARNING_LEN];
} PowerWarnings;

typedef enum PowerTripType {
        POWER_TRIP_ACTIVE,
        POWER_TRIP_PASSIVE,
        POWER_TRIP_HOT,
        POWER_TRIP_CRITICAL,
        _POWER_TRIP_MAX,
        _POWER_TRIP_INVALID = -EINVAL,
} PowerTripType;

/* Zero-initialised means "nothing read" (every state POWER_THERMAL_NONE). A hwmon sensor added
 * with power_sysfs_read_hwmon() counts like one more zone, its limits like trip points. */
typedef struct PowerThermalReading {
        unsigned n_zones;                       /* zones whose temperature could be read */
        bool temp_known;
        double temp_c;                          /* the hottest of those zones and sensors */
        bool state_known;                       /* some zone or sensor had a usable threshold */
        PowerThermal state;                     /* the worst zone: temperature >= a trip */
        PowerThermal state_hyst;                /* the worst zone: temperature >= trip - hysteresis
                                                 * (trip_point_N_hyst, else POWER_TRIP_HYST_DEFAULT_MC) */
        bool hwmon_known;                       /* the hwmon sensor's temperature could be read */
        double hwmon_temp_c;                    /* ... and was this (also counted in temp_c) */
} PowerThermalReading;

typedef struct PowerPressure {
        double avg10, avg60, avg300;            /* percent of wall time, 0..100 */
        uint64_t total_usec;
} PowerPressure;

enum {
        POWER_PRESSURE_SOME = 0,
        POWER_PRESSURE_FULL = 1,
};

/* ---- parsers (pure; the fuzz target calls these) ------------------------------------------ */

/* One PSI line, "some avg10=0.12 avg60=1.00 avg300=3.45 total=123456" (or "full ..."); blanks
 * between fields and one trailing newline are accepted, nothing else. Returns POWER_PRESSURE_SOME
 * or POWER_PRESSURE_FULL and fills ret; -EINVAL for anything malformed (averages must lie in
 * 0..100, total must fit 64 bits); ret untouched then. */
int power_parse_pressure_line(const char *line, size_t len, PowerPressure *ret);

/* A sysfs integer attribute: optional '-', 1..19 decimal digits, optional trailing newline.
 * Returns 0 and sets *ret; -EINVAL malformed, -ERANGE too large. */
int power_parse_int(const char *s, size_t len, int64_t *ret);

/* A temperature attribute (temp, trip_point_N_temp) in millidegrees Celsius. Returns 0 and sets
 * *ret_mc; -EINVAL malformed, -ERANGE below 0 or above POWER_TEMP_MAX_MC. */
int power_parse_millicelsius(const char *s, size_t len, int64_t *ret_mc);

/* trip_point_N_type: "active", "passive", "hot" or "critical", optional trailing newline.
 * Returns the type, or _POWER_TRIP_INVALID. */
PowerTripType power_parse_trip_type(const char *s, size_t len);

/* The file name of a hwmon temperature input, "tempN_input" (Documentation/hwmon/sysfs-interface
 * numbers channels from 1): N is 1..POWER_HWMON_INDEX_MAX without leading zeros; nothing may
 * follow. Returns 0 and sets *ret_index; -EINVAL otherwise (*ret_index untouched). */
int power_parse_hwmon_input_name(const char *s, size_t len, unsigned *ret_index);

/* Appends one line to w (NULL: dropped). */
void power_warnings_add(PowerWarnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- readers -------------------------------------------------------------------------------- */

/* Reads every ROOT/sys/class/thermal/thermal_zoneN (root NULL or "" means "/"). A zone whose
 * temperature cannot be read or parsed is skipped; a trip point that does not parse is skipped;
 * trips at or below 0 °C are how drivers mark unused ones and are skipped silently; zones without
 * usable trips still count for temp_c. Each skip adds a warning. No thermal directory: nothing
 * known, no warning. Returns 0 and fills ret; -ENOMEM (ret untouched). */
int power_sysfs_read_thermal(const char *root, PowerThermalReading *ret, PowerWarnings *warnings);

/* Reads one hwmon temperature sensor: input_path is its absolute tempN_input file, and its limits
 * are the sibling files of the same channel (Documentation/hwmon/sysfs-interface): tempN_max is
 * the passive threshold, tempN_crit and tempN_emergency are hot. Each limit's hysteresis is
 * tempN_<limit>_hyst, an absolute temperature (not a delta as for trip points) that must lie
 * within POWER_TRIP_HYST_MAX_MC below the limit; else POWER_TRIP_HYST_DEFAULT_MC applies.
 * A limit that is absent is unknown for this sensor (no warning); limits and hysteresis values at
 * or below 0 °C are how drivers mark unset ones and are skipped silently; a file that cannot be
 * read, does not parse or is out of range adds a warning and is skipped. A sensor without a usable
 * limit still counts for the temperature.
 * Adds the sensor to *reading as one more zone (the hottest temperature and the worst state win)
 * and sets hwmon_known and hwmon_temp_c. Returns 1 when the temperature was read; 0 when it was
 * not (a warning, also for a missing file or a path that is not an absolute .../tempN_input;
 * *reading untouched); -EINVAL for a NULL or empty path; -ENOMEM. */
int power_sysfs_read_hwmon(const char *input_path, PowerThermalReading *reading, PowerWarnings *warnings);

/* Reads the "some" line of ROOT/proc/pressure/RESOURCE ("cpu", "memory", "io"). Returns 1 and
 * fills ret; 0 when the file is absent (no warning) or malformed (a warning); ret untouched then.
 * -ENOMEM, -EINVAL for a resource name that is not a plain word. */
int power_sysfs_read_pressure(const char *root, const char *resource, PowerPressure *ret, PowerWarnings *warnings);
