/* Thermal zone, hwmon and PSI readers (see power-sysfs.h): directory walks with openat(), reads
 * capped at POWER_SYSFS_READ_MAX bytes, hand-written number parsers (no locale, no strtod). */
#include "power-sysfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/macro.h"

/* ---- parsers -------------------------------------------------------------------------------- */

static size_t strip_newline(const char *s, size_t len) {
        return len > 0 && s[len - 1] == '\n' ? len - 1 : len;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

int power_parse_int(const char *s, size_t len, int64_t *ret) {
        size_t i = 0;
        bool negative = false;
        uint64_t v = 0;

        len = strip_newline(s, len);
        if (i < len && s[i] == '-') {
                negative = true;
                i++;
        }
        if (i >= len)
                return -EINVAL;
        for (size_t j = i; j < len; j++)
                if (!is_digit(s[j]))
                        return -EINVAL;
        if (len - i > 19)
                return -ERANGE;
        for (; i < len; i++)
                v = v * 10 + (uint64_t) (s[i] - '0'); /* 19 digits cannot overflow 64 bits */
        if (v > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = negative ? -(int64_t) v : (int64_t) v;
        return 0;
}

int power_parse_millicelsius(const char *s, size_t len, int64_t *ret_mc) {
        int64_t v;
        int r = power_parse_int(s, len, &v);
        if (r < 0)
                return r;
        if (v < 0 || v > POWER_TEMP_MAX_MC)
                return -ERANGE;
        *ret_mc = v;
        return 0;
}

PowerTripType power_parse_trip_type(const char *s, size_t len) {
        static const char *const names[_POWER_TRIP_MAX] = {
                [POWER_TRIP_ACTIVE] = "active",
                [POWER_TRIP_PASSIVE] = "passive",
                [POWER_TRIP_HOT] = "hot",
                [POWER_TRIP_CRITICAL] = "critical",
        };

        len = strip_newline(s, len);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
                        return (PowerTripType) i;
        return _POWER_TRIP_INVALID;
}

int power_parse_hwmon_input_name(const char *s, size_t len, unsigned *ret_index) {
        static const char prefix[] = "temp", suffix[] = "_input";
        const size_t n_prefix = sizeof(prefix) - 1, n_suffix = sizeof(suffix) - 1;
        unsigned v = 0;

        if (len <= n_prefix + n_suffix || memcmp(s, prefix, n_prefix) != 0 ||
            memcmp(s + len - n_suffix, suffix, n_suffix) != 0)
                return -EINVAL;
        const char *digits = s + n_prefix;
        size_t n_digits = len - n_prefix - n_suffix;
        if (n_digits > 6 || digits[0] == '0') /* 6 digits: POWER_HWMON_INDEX_MAX; "0" is no channel */
                return -EINVAL;
        for (size_t i = 0; i < n_digits; i++) {
                if (!is_digit(digits[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned) (digits[i] - '0');
        }
        *ret_index = v;
        return 0;
}

/* A cursor over one line. */
typedef struct Cursor {
        const char *p, *end;
} Cursor;

static bool cursor_word(Cursor *c, const char *word) {
        size_t n = strlen(word);
        if ((size_t) (c->end - c->p) < n || memcmp(c->p, word, n) != 0)
                return false;
        c->p += n;
        return true;
}

static bool cursor_blanks(Cursor *c) {
        const char *start = c->p;
        while (c->p < c->end && is_blank(*c->p))
                c->p++;
        return c->p > start;
}

/* A percentage written "D[DD][.D...]" with at most 3 integer and 6 fraction digits, <= 100. */
static bool cursor_percent(Cursor *c, double *ret) {
        uint64_t whole = 0, frac = 0, scale = 1;
        size_t n_whole = 0, n_frac = 0;

        while (c->p < c->end && is_digit(*c->p)) {
                if (++n_whole > 3)
                        return false;
                whole = whole * 10 + (uint64_t) (*c->p++ - '0');
        }
        if (n_whole == 0)
                return false;
        if (c->p < c->end && *c->p == '.') {
                c->p++;
                while (c->p < c->end && is_digit(*c->p)) {
                        if (++n_frac > 6)
                                return false;
                        frac = frac * 10 + (uint64_t) (*c->p++ - '0');
                        scale *= 10;
                }
                if (n_frac == 0)
                        return false;
        }
        double v = (double) whole + (double) frac / (double) scale;
        if (v > 100.0)
                return false;
        *ret = v;
        return true;
}

static bool cursor_u64(Cursor *c, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = 0;

        while (c->p < c->end && is_digit(*c->p)) {
                unsigned d = (unsigned) (*c->p++ - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
                n++;
        }
        if (n == 0)
                return false;
        *ret = v;
        return true;
}

int power_parse_pressure_line(const char *line, size_t len, PowerPressure *ret) {
        Cursor c = { line, line + strip_newline(line, len) };
        PowerPressure p;
        int kind;

        if (cursor_word(&c, "some"))
                kind = POWER_PRESSURE_SOME;
        else if (cursor_word(&c, "full"))
                kind = POWER_PRESSURE_FULL;
        else
                return -EINVAL;
        if (!cursor_blanks(&c) || !cursor_word(&c, "avg10=") || !cursor_percent(&c, &p.avg10) ||
            !cursor_blanks(&c) || !cursor_word(&c, "avg60=") || !cursor_percent(&c, &p.avg60) ||
            !cursor_blanks(&c) || !cursor_word(&c, "avg300=") || !cursor_percent(&c, &p.avg300) ||
            !cursor_blanks(&c) || !cursor_word(&c, "total=") || !cursor_u64(&c, &p.total_usec))
                return -EINVAL;
        cursor_blanks(&c);
        if (c.p != c.end)
                return -EINVAL;
        *ret = p;
        return kind;
}

/* ---- warnings ------------------------------------------------------------------------------- */

void power_warnings_add(PowerWarnings *w, const char *fmt, ...) {
        va_list ap;

        if (!w)
                return;
        if (w->n >= POWER_WARNINGS_MAX) {
                w->n_dropped++;
                return;
        }
        va_start(ap, fmt);
        vsnprintf(w->line[w->n++], POWER_WARNING_LEN, fmt, ap);
        va_end(ap);
}

/* What a file held, for a warning: at most 24 bytes, anything unprintable as '?'. */
static void describe_value(const char *s, size_t len, char out[static 32]) {
        size_t n = MIN(strip_newline(s, len), (size_t) 24), j = 0;
        for (size_t i = 0; i < n; i++)
                out[j++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' ? s[i] : '?';
        if (strip_newline(s, len) > n) {
                memcpy(out + j, "...", 3);
                j += 3;
        }
        out[j] = '\0';
}

/* ---- file access ---------------------------------------------------------------------------- */

static const char *read_error(ssize_t n) {
        if (n == -EBADFD)
                return "not a regular file";
        if (n == -EFBIG)
                return "too long";
        return strerror((int) -n);
}

/* Reads a whole small regular file relative to dir_fd into buf (cap bytes). Returns the length,
 * -ENOENT when absent, -EFBIG when longer than cap, other -errno. */
static ssize_t read_small(int dir_fd, const char *name, char *buf, size_t cap) {
        struct stat st;
        size_t len = 0;

        int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return S_ISDIR(st.st_mode) ? -EISDIR : -EBADFD;
        }
        for (;;) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len == cap) {
                        char extra;
                        n = read(fd, &extra, 1);
                        close(fd);
                        return n == 0 ? (ssize_t) len : -EFBIG;
                }
        }
        close(fd);
        return (ssize_t) len;
}

static char *path_join(const char *root, const char *rel) {
        char *p;
        if (!root || !*root)
                root = "/";
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        if (asprintf(&p, "%.*s%s%s", (int) n, root, root[n - 1] == '/' ? "" : "/", rel) < 0)
                return NULL;
        return p;
}

/* ---- thermal -------------------------------------------------------------------------------- */

typedef struct ZoneResult {
        int64_t temp_mc;
        bool has_trips;
        PowerThermal state, state_hyst;
} ZoneResult;

/* Reads an attribute in dir_fd (dir: its path, for messages) into buf; adds a warning unless the
 * file is absent. */
static ssize_t attr_read(int dir_fd, const char *dir, const char *name, char *buf, PowerWarnings *w) {
        ssize_t n = read_small(dir_fd, name, buf, POWER_SYSFS_READ_MAX);
        if (n == -EFBIG)
                power_warnings_add(w, "%s/%s: longer than %d bytes, ignoring", dir, name, POWER_SYSFS_READ_MAX);
        else if (n < 0 && n != -ENOENT)
                power_warnings_add(w, "%s/%s: cannot read: %s, ignoring", dir, name, read_error(n));
        return n;
}

/* Reads a temperature limit (a trip point, an hwmon tempN_max/crit) in millidegrees into *ret_mc.
 * Returns 1 for a usable limit, 0 when there is none to use: the file is absent (a warning only
 * with warn_missing), unreadable, at or below 0 (unset), or not a plausible temperature (warned
 * about, as ignoring `what`). */
static int limit_read(int dir_fd, const char *dir, const char *name, const char *what, bool warn_missing,
                      int64_t *ret_mc, PowerWarnings *w) {
        char buf[POWER_SYSFS_READ_MAX];
        char value[32];
        ssize_t n = attr_read(dir_fd, dir, name, buf, w);
        if (n < 0) {
                if (n == -ENOENT && warn_missing)
                        power_warnings_add(w, "%s/%s: missing, ignoring %s", dir, name, what);
                return 0;
        }
        int r = power_parse_int(buf, (size_t) n, ret_mc);
        if (r == 0 && *ret_mc <= 0)
                return 0;
        if (r == 0 && *ret_mc > POWER_TEMP_MAX_MC)
                r = -ERANGE;
        if (r < 0) {
                describe_value(buf, (size_t) n, value);
                power_warnings_add(w, "%s/%s: %s '%s', ignoring %s", dir, name,
                                   r == -ERANGE ? "implausible temperature" : "not a temperature", value, what);
                return 0;
        }
        return 1;
}

static PowerThermal trip_state(PowerTripType type) {
        return type == POWER_TRIP_PASSIVE ? POWER_THERMAL_PASSIVE : POWER_THERMAL_HOT;
}

/* Returns false when the zone has no usable temperature. */
static bool zone_read_all(int zone_fd, const char *zone, ZoneResult *z, PowerWarnings *w) {
        char buf[POWER_SYSFS_READ_MAX];
        char value[32];
        char name[64];
        ssize_t n;
        int r;

        *z = (ZoneResult) { .state = POWER_THERMAL_NONE, .state_hyst = POWER_THERMAL_NONE };
        n = attr_read(zone_fd, zone, "temp", buf, w);
        if (n < 0) {
                if (n == -ENOENT)
                        power_warnings_add(w, "%s/temp: missing, ignoring zone", zone);
                return false;
        }
        r = power_parse_millicelsius(buf, (size_t) n, &z->temp_mc);
        if (r < 0) {
                describe_value(buf, (size_t) n, value);
                power_warnings_add(w, "%s/temp: %s '%s', ignoring zone", zone,
                                   r == -ERANGE ? "implausible temperature" : "not a temperature", value);
                return false;
        }

        for (unsigned i = 0; i < POWER_SYSFS_TRIPS_MAX; i++) {
                int64_t trip_mc, hyst_mc;

                snprintf(name, sizeof(name), "trip_point_%u_type", i);
                n = attr_read(zone_fd, zone, name, buf, w);
                if (n == -ENOENT)
                        break; /* trip points are numbered from 0 without gaps */
                if (n < 0)
                        continue;
                PowerTripType type = power_parse_trip_type(buf, (size_t) n);
                if (type < 0) {
                        describe_value(buf, (size_t) n, value);
                        power_warnings_add(w, "%s/%s: unknown trip type '%s', ignoring", zone, name, value);
                        continue;
                }
                if (type == POWER_TRIP_ACTIVE)
                        continue; /* fans: not a reason to slow down */

                snprintf(name, sizeof(name), "trip_point_%u_temp", i);
                if (!limit_read(zone_fd, zone, name, "trip", true, &trip_mc, w))
                        continue; /* absent, unused (<= 0) or bad: warned about where it matters */

                hyst_mc = POWER_TRIP_HYST_DEFAULT_MC;
                snprintf(name, sizeof(name), "trip_point_%u_hyst", i);
                n = attr_read(zone_fd, zone, name, buf, w);
                if (n >= 0) {
                        int64_t v;
                        if (power_parse_int(buf, (size_t) n, &v) < 0 || v < 0 || v > POWER_TRIP_HYST_MAX_MC) {
                                describe_value(buf, (size_t) n, value);
                                power_warnings_add(w, "%s/%s: bad hysteresis '%s', using %d", zone, name, value,
                                                   POWER_TRIP_HYST_DEFAULT_MC);
                        } else if (v > 0)
                                hyst_mc = v;
                }

                z->has_trips = true;
                if (z->temp_mc >= trip_mc)
                        z->state = MAX(z->state, trip_state(type));
                if (z->temp_mc >= trip_mc - hyst_mc)
                        z->state_hyst = MAX(z->state_hyst, trip_state(type));
        }
        return true;
}

static bool is_zone_name(const char *s) {
        const char *prefix = "thermal_zone";
        size_t n = strlen(prefix);
        if (strncmp(s, prefix, n) != 0 || s[n] == '\0' || strlen(s + n) > 9)
                return false;
        for (const char *c = s + n; *c; c++)
                if (!is_digit(*c))
                        return false;
        return true;
}

int power_sysfs_read_thermal(const char *root, PowerThermalReading *ret, PowerWarnings *warnings) {
        PowerThermalReading t = { .state = POWER_THERMAL_NONE, .state_hyst = POWER_THERMAL_NONE };
        int64_t max_mc = -1;
        unsigned n_seen = 0;

        _cleanup_free_ char *dir_path = path_join(root, "sys/class/thermal");
        if (!dir_path)
                return -ENOMEM;
        DIR *d = opendir(dir_path);
        if (!d) {
                if (errno != ENOENT)
                        power_warnings_add(warnings, "%s: cannot open: %s, ignoring", dir_path, strerror(errno));
                *ret = t;
                return 0;
        }
        for (struct dirent *e; (e = readdir(d));) {
                ZoneResult z;

                if (!is_zone_name(e->d_name))
                        continue;
                if (++n_seen > POWER_SYSFS_ZONES_MAX) {
                        if (n_seen == POWER_SYSFS_ZONES_MAX + 1)
                                power_warnings_add(warnings, "%s: more than %d zones, ignoring the rest", dir_path,
                                                   POWER_SYSFS_ZONES_MAX);
                        continue;
                }
                int zone_fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
                if (zone_fd < 0) {
                        power_warnings_add(warnings, "%s/%s: cannot open: %s, ignoring zone", dir_path, e->d_name,
                                           strerror(errno));
                        continue;
                }
                char *zone_path;
                if (asprintf(&zone_path, "%s/%s", dir_path, e->d_name) < 0) {
                        close(zone_fd);
                        closedir(d);
                        return -ENOMEM;
                }
                bool ok = zone_read_all(zone_fd, zone_path, &z, warnings);
                free(zone_path);
                close(zone_fd);
                if (!ok)
                        continue;
                t.n_zones++;
                max_mc = MAX(max_mc, z.temp_mc);
                if (z.has_trips) {
                        t.state_known = true;
                        t.state = MAX(t.state, z.state);
                        t.state_hyst = MAX(t.state_hyst, z.state_hyst);
                }
        }
        closedir(d);
        if (max_mc >= 0) {
                t.temp_known = true;
                t.temp_c = (double) max_mc / 1000.0;
        }
        *ret = t;
        return 0;
}

/* ---- hwmon ---------------------------------------------------------------------------------- */

/* The upper limits of a temperature channel (Documentation/hwmon/sysfs-interface), lowest first. */
static const struct {
        const char *name;                       /* tempN_<name> */
        PowerThermal state;
} hwmon_limits[] = {
        { "max", POWER_THERMAL_PASSIVE },
        { "crit", POWER_THERMAL_HOT },
        { "emergency", POWER_THERMAL_HOT },     /* above crit, on chips with three upper limits */
};

/* The band below a limit. tempN_<limit>_hyst is an absolute temperature; at or below 0 °C it is
 * unset (amdgpu reports -273150), equal to the limit it is no band: the default then, as for a
 * trip point without hysteresis. */
static int64_t hwmon_band(int dir_fd, const char *dir, unsigned index, const char *limit, int64_t limit_mc,
                          PowerWarnings *w) {
        char buf[POWER_SYSFS_READ_MAX];
        char value[32];
        char name[64];
        int64_t v;

        snprintf(name, sizeof(name), "temp%u_%s_hyst", index, limit);
        ssize_t n = attr_read(dir_fd, dir, name, buf, w);
        if (n < 0)
                return POWER_TRIP_HYST_DEFAULT_MC;
        if (power_parse_int(buf, (size_t) n, &v) < 0 ||
            (v > 0 && (v > limit_mc || limit_mc - v > POWER_TRIP_HYST_MAX_MC))) {
                describe_value(buf, (size_t) n, value);
                power_warnings_add(w, "%s/%s: bad hysteresis '%s', using %d", dir, name, value,
                                   POWER_TRIP_HYST_DEFAULT_MC);
                return POWER_TRIP_HYST_DEFAULT_MC;
        }
        if (v <= 0 || v == limit_mc)
                return POWER_TRIP_HYST_DEFAULT_MC;
        return limit_mc - v;
}

/* Reads the channel's temperature and limits into z; false when the temperature is unusable. */
static bool hwmon_read_all(int dir_fd, const char *dir, unsigned index, ZoneResult *z, PowerWarnings *w) {
        char buf[POWER_SYSFS_READ_MAX];
        char value[32];
        char name[64];
        ssize_t n;
        int r;

        *z = (ZoneResult) { .state = POWER_THERMAL_NONE, .state_hyst = POWER_THERMAL_NONE };
        snprintf(name, sizeof(name), "temp%u_input", index);
        n = attr_read(dir_fd, dir, name, buf, w);
        if (n < 0) {
                if (n == -ENOENT)
                        power_warnings_add(w, "%s/%s: missing, ignoring sensor", dir, name);
                return false;
        }
        r = power_parse_millicelsius(buf, (size_t) n, &z->temp_mc);
        if (r < 0) {
                describe_value(buf, (size_t) n, value);
                power_warnings_add(w, "%s/%s: %s '%s', ignoring sensor", dir, name,
                                   r == -ERANGE ? "implausible temperature" : "not a temperature", value);
                return false;
        }

        for (size_t i = 0; i < ELEMENTSOF(hwmon_limits); i++) {
                int64_t limit_mc;

                snprintf(name, sizeof(name), "temp%u_%s", index, hwmon_limits[i].name);
                /* absent: this state is unknown for the sensor; <= 0: unset */
                if (!limit_read(dir_fd, dir, name, "limit", false, &limit_mc, w))
                        continue;
                int64_t band = hwmon_band(dir_fd, dir, index, hwmon_limits[i].name, limit_mc, w);

                z->has_trips = true;
                if (z->temp_mc >= limit_mc)
                        z->state = MAX(z->state, hwmon_limits[i].state);
                if (z->temp_mc >= limit_mc - band)
                        z->state_hyst = MAX(z->state_hyst, hwmon_limits[i].state);
        }
        return true;
}

int power_sysfs_read_hwmon(const char *input_path, PowerThermalReading *reading, PowerWarnings *warnings) {
        ZoneResult z;
        unsigned index;

        if (!input_path || !*input_path)
                return -EINVAL;
        const char *slash = strrchr(input_path, '/');
        if (input_path[0] != '/' || power_parse_hwmon_input_name(slash + 1, strlen(slash + 1), &index) < 0) {
                power_warnings_add(warnings, "%s: not an absolute path to a hwmon tempN_input file, ignoring",
                                   input_path);
                return 0;
        }
        _cleanup_free_ char *dir = slash == input_path ? strdup("/")
                                                       : strndup(input_path, (size_t) (slash - input_path));
        if (!dir)
                return -ENOMEM;
        int dir_fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
        if (dir_fd < 0) {
                power_warnings_add(warnings, "%s: cannot open its directory: %s, ignoring sensor", input_path,
                                   strerror(errno));
                return 0;
        }
        bool ok = hwmon_read_all(dir_fd, slash == input_path ? "" : dir, index, &z, warnings);
        close(dir_fd);
        if (!ok)
                return 0;

        const double temp_c = (double) z.temp_mc / 1000.0;
        if (!reading->temp_known || temp_c > reading->temp_c) {
                reading->temp_known = true;
                reading->temp_c = temp_c;
        }
        if (z.has_trips) {
                reading->state_known = true;
                reading->state = MAX(reading->state, z.state);
                reading->state_hyst = MAX(reading->state_hyst, z.state_hyst);
        }
        reading->hwmon_known = true;
        reading->hwmon_temp_c = temp_c;
        return 1;
}

/* ---- pressure ------------------------------------------------------------------------------- */

int power_sysfs_read_pressure(const char *root, const char *resource, PowerPressure *ret, PowerWarnings *warnings) {
        char buf[POWER_SYSFS_READ_MAX];
        char value[32];

        if (!resource || !*resource || strlen(resource) > 16 || strchr(resource, '/') || resource[0] == '.')
                return -EINVAL;
        _cleanup_free_ char *dir_path = path_join(root, "proc/pressure");
        if (!dir_path)
                return -ENOMEM;
        int dir_fd = open(dir_path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
        if (dir_fd < 0) {
                if (errno != ENOENT)
                        power_warnings_add(warnings, "%s: cannot open: %s, ignoring", dir_path, strerror(errno));
                return 0;
        }
        ssize_t n = read_small(dir_fd, resource, buf, sizeof(buf));
        close(dir_fd);
        if (n == -ENOENT)
                return 0;
        if (n < 0) {
                power_warnings_add(warnings, "%s/%s: %s, ignoring", dir_path, resource, read_error(n));
                return 0;
        }
        for (const char *line = buf, *end = buf + n; line < end;) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                size_t len = nl ? (size_t) (nl - line) : (size_t) (end - line);
                if (len >= 4 && memcmp(line, "some", 4) == 0) {
                        PowerPressure p;
                        if (power_parse_pressure_line(line, len, &p) == POWER_PRESSURE_SOME) {
                                *ret = p;
                                return 1;
                        }
                        describe_value(line, len, value);
                        power_warnings_add(warnings, "%s/%s: malformed line '%s', ignoring", dir_path, resource,
                                           value);
                        return 0;
                }
                line += len + 1;
        }
        power_warnings_add(warnings, "%s/%s: no 'some' line, ignoring", dir_path, resource);
        return 0;
}
