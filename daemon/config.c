/* gemmad.conf: one table of keys with their defaults and ranges, and libinih callbacks that check
 * every value against it. A file is parsed into a copy that replaces the caller's Config only when
 * the whole file is valid, so a bad file never leaves half of its values behind. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend-spec.h"
#include "base/alloc.h"
#include "base/macro.h"
#include "text/utf8.h"

#define CONFIG_FILE_MAX_BYTES (1024 * 1024)
#define CONFIG_SLICE_NAME_MAX 64
#define CONFIG_SYSTEM_PATH "/etc/gemmad/gemmad.conf"

#define streq(a, b) (strcmp((a), (b)) == 0)

typedef enum ConfigType {
        CONFIG_TYPE_U32,
        CONFIG_TYPE_BOOL,
        CONFIG_TYPE_PATH,         /* char *; relative values are resolved against the file's directory */
        CONFIG_TYPE_SLICE_POLICY, /* char *; "auto" or a slice name */
        CONFIG_TYPE_SLICE_SPEC,   /* char *; a slice spec, checked against the model when it loads */
        CONFIG_TYPE_BACKEND,      /* char *; auto, cpu, opencl, opencl:DEVICE (backend-spec.h) */
        CONFIG_TYPE_HWMON,        /* char *; auto, none, or an absolute path to a tempN_input file */
} ConfigType;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ConfigType type;
        size_t offset;
        uint32_t def;             /* U32 and BOOL */
        uint32_t min, max;        /* U32 only */
        const char *sdef;         /* string types: the default, or NULL */
} ConfigKey;

/* Every key gemmad.conf may hold. config.h and gemmad.conf(5) say the same; the tests check each
 * default and each boundary against this table's numbers written out by hand. */
static const ConfigKey config_keys[] = {
        { "model", "path", CONFIG_TYPE_PATH, offsetof(Config, model_path), 0, 0, 0, NULL },
        { "model", "threads", CONFIG_TYPE_U32, offsetof(Config, threads), 0, 0, 256, NULL },
        { "model", "context", CONFIG_TYPE_U32, offsetof(Config, context), 4096, 128, 1048576, NULL },
        { "model", "prefault", CONFIG_TYPE_BOOL, offsetof(Config, prefault), 1, 0, 1, NULL },
        { "model", "pack_weights", CONFIG_TYPE_BOOL, offsetof(Config, pack_weights), 1, 0, 1, NULL },
        { "engine", "prefill_chunk", CONFIG_TYPE_U32, offsetof(Config, prefill_chunk), 128, 1, 4096, NULL },
        { "engine", "kv_cache_mib", CONFIG_TYPE_U32, offsetof(Config, kv_cache_mib), 1024, 16, 1048576, NULL },
        { "engine", "backend", CONFIG_TYPE_BACKEND, offsetof(Config, backend), 0, 0, 0, "auto" },
        { "engine", "opencl_max_device_mib", CONFIG_TYPE_U32, offsetof(Config, opencl_max_device_mib), 0, 0, 16777216, NULL },
        { "limits", "sessions_per_client", CONFIG_TYPE_U32, offsetof(Config, sessions_per_client), 16, 1, 1024, NULL },
        { "limits", "max_sessions", CONFIG_TYPE_U32, offsetof(Config, max_sessions), 256, 1, 65536, NULL },
        { "limits", "queued_requests", CONFIG_TYPE_U32, offsetof(Config, queued_requests), 64, 1, 65536, NULL },
        { "limits", "prompt_bytes", CONFIG_TYPE_U32, offsetof(Config, prompt_bytes), 1048576, 1, 67108864, NULL },
        { "limits", "default_max_tokens", CONFIG_TYPE_U32, offsetof(Config, default_max_tokens), 512, 1, 1048576, NULL },
        { "stream", "flush_ms", CONFIG_TYPE_U32, offsetof(Config, flush_ms), 40, 1, 1000, NULL },
        { "stream", "slow_consumer_bytes", CONFIG_TYPE_U32, offsetof(Config, slow_consumer_bytes), 1048576, 4096, 268435456, NULL },
        { "slice", "policy", CONFIG_TYPE_SLICE_POLICY, offsetof(Config, slice_policy), 0, 0, 0, "auto" },
        { "slice", "reduced", CONFIG_TYPE_SLICE_POLICY, offsetof(Config, slice_reduced), 0, 0, 0, "auto" },
        { "slice", "minimal", CONFIG_TYPE_SLICE_POLICY, offsetof(Config, slice_minimal), 0, 0, 0, "auto" },
        { "slice", "custom", CONFIG_TYPE_SLICE_SPEC, offsetof(Config, slice_custom), 0, 0, 0, NULL },
        { "power", "upower", CONFIG_TYPE_BOOL, offsetof(Config, power_upower), 1, 0, 1, NULL },
        { "power", "thermal", CONFIG_TYPE_BOOL, offsetof(Config, power_thermal), 1, 0, 1, NULL },
        { "power", "pressure", CONFIG_TYPE_BOOL, offsetof(Config, power_pressure), 1, 0, 1, NULL },
        { "power", "sysfs_root", CONFIG_TYPE_PATH, offsetof(Config, power_sysfs_root), 0, 0, 0, "/" },
        { "power", "gpu_hwmon", CONFIG_TYPE_HWMON, offsetof(Config, power_gpu_hwmon), 0, 0, 0, "auto" },
        { "power", "poll_ms", CONFIG_TYPE_U32, offsetof(Config, power_poll_ms), 2000, 100, 60000, NULL },
        { "power", "battery_low_percent", CONFIG_TYPE_U32, offsetof(Config, power_battery_low_percent), 20, 0, 100, NULL },
        { "power", "down_delay_ms", CONFIG_TYPE_U32, offsetof(Config, power_down_delay_ms), 500, 0, 3600000, NULL },
        { "power", "up_dwell_ms", CONFIG_TYPE_U32, offsetof(Config, power_up_dwell_ms), 30000, 0, 3600000, NULL },
        { "power", "min_dwell_ms", CONFIG_TYPE_U32, offsetof(Config, power_min_dwell_ms), 30000, 0, 3600000, NULL },
};

static const char *const config_sections[] = { "model", "engine", "limits", "stream", "slice", "power" };
#define CONFIG_SECTIONS_LIST "[model], [engine], [limits], [stream], [slice], [power]"

static void *config_field(Config *c, const ConfigKey *k) {
        return (uint8_t *) c + k->offset;
}

static bool config_section_known(const char *name, size_t len) {
        for (size_t i = 0; i < ELEMENTSOF(config_sections); i++)
                if (strlen(config_sections[i]) == len && memcmp(config_sections[i], name, len) == 0)
                        return true;
        return false;
}

static const ConfigKey *config_key_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
                        return &config_keys[i];
        return NULL;
}

int config_init(Config *c) {
        *c = (Config) { 0 };
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                if (k->type == CONFIG_TYPE_U32)
                        *(uint32_t *) config_field(c, k) = k->def;
                else if (k->type == CONFIG_TYPE_BOOL)
                        *(bool *) config_field(c, k) = k->def;
                else if (k->sdef && !(*(char **) config_field(c, k) = strdup(k->sdef))) {
                        config_done(c);
                        return -ENOMEM;
                }
        }
        return 0;
}

static bool key_is_string(const ConfigKey *k) {
        return k->type == CONFIG_TYPE_PATH || k->type == CONFIG_TYPE_SLICE_POLICY || k->type == CONFIG_TYPE_SLICE_SPEC ||
               k->type == CONFIG_TYPE_BACKEND || k->type == CONFIG_TYPE_HWMON;
}

void config_done(Config *c) {
        if (!c)
                return;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (key_is_string(&config_keys[i])) {
                        char **field = config_field(c, &config_keys[i]);
                        free(*field);
                        *field = NULL;
                }
}

static int config_copy(Config *dst, const Config *src) {
        *dst = *src;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
                if (key_is_string(&config_keys[i]))
                        *(char **) config_field(dst, &config_keys[i]) = NULL;
        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                if (!key_is_string(&config_keys[i]))
                        continue;
                const char *from = *(char *const *) config_field((Config *) src, &config_keys[i]);
                if (from && !(*(char **) config_field(dst, &config_keys[i]) = strdup(from))) {
                        config_done(dst);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* State shared by the line reader and the key handler that ini_parse_stream() calls in turn: the
 * reader hands libinih one line at a time, so the handler always knows which line it is on. */
typedef struct Parser {
        Config *config;                         /* the copy being filled */
        const char *name;                       /* the file's name, for messages and relative paths */
        const char *pos, *end;                  /* what the reader has not handed out yet */
        unsigned line;                          /* the line the reader handed out last, from 1 */
        bool key_seen;                          /* a key line since the last [section]: libinih
                                                 * then takes an indented line as a continuation */
        bool continuation;                      /* the current line is such a continuation */
        unsigned seen_line[ELEMENTSOF(config_keys)]; /* where each key was set; 0: not yet */
        unsigned error_line;                    /* the first error this parser found; 0: none */
        int error_code;
        char error[GEMMA_ERROR_MESSAGE_MAX];
} Parser;

_printf_(2, 3) static int parser_fail(Parser *p, const char *fmt, ...) {
        va_list ap;
        int n;

        if (p->error_line)
                return 0;
        p->error_line = p->line;
        if (p->error_code == 0)
                p->error_code = -EINVAL;
        n = snprintf(p->error, sizeof(p->error), "%s:%u: ", p->name, p->line);
        if (n < 0 || (size_t) n >= sizeof(p->error))
                return 0;
        va_start(ap, fmt);
        vsnprintf(p->error + n, sizeof(p->error) - (size_t) n, fmt, ap);
        va_end(ap);
        return 0; /* libinih's "this line failed" */
}

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* Classifies the line the way libinih is about to, for what libinih does not tell its handler:
 * section headers (it never reports empty ones) and continuation lines (it reports them as the
 * previous key again). */
static void parser_inspect_line(Parser *p, const char *s, size_t len) {
        size_t i = 0;

        if (p->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
                i = 3; /* libinih skips a UTF-8 byte-order mark */
        const size_t indent_from = i;
        while (i < len && is_blank(s[i]))
                i++;
        p->continuation = false;
        if (i >= len || s[i] == '\n' || s[i] == ';' || s[i] == '#')
                return; /* blank or comment */
        if (p->key_seen && i > indent_from) {
                p->continuation = true;
                return;
        }
        if (s[i] == '[') {
                const char *close = memchr(s + i, ']', len - i);
                if (!close)
                        return; /* libinih reports the missing ']' */
                const char *name = s + i + 1;
                size_t name_len = (size_t) (close - name);
                if (!config_section_known(name, name_len)) {
                        parser_fail(p, "unknown section [%.*s]; known sections are " CONFIG_SECTIONS_LIST,
                                    (int) MIN(name_len, (size_t) 64), name);
                        return;
                }
                /* libinih ignores whatever follows the ']', so "[model] threads = 4" would lose a key. */
                for (const char *c = close + 1; c < s + len && *c != ';' && *c != '#'; c++)
                        if (!is_blank(*c) && *c != '\n') {
                                parser_fail(p, "unexpected text after [%.*s]", (int) name_len, name);
                                return;
                        }
                p->key_seen = false;
                return;
        }
        p->key_seen = true;
}

/* libinih's ini_reader: fgets() over the text. A line that does not fit libinih's buffer would be
 * split by it into two lines, the second parsed on its own, so such a line is an error here. */
static char *parser_read_line(char *str, int num, void *stream) {
        Parser *p = stream;

        if (p->error_line || p->pos >= p->end || num < 2)
                return NULL;
        const char *nl = memchr(p->pos, '\n', (size_t) (p->end - p->pos));
        size_t len = nl ? (size_t) (nl - p->pos) + 1 : (size_t) (p->end - p->pos);
        p->line++;
        if (len > (size_t) num - 1) {
                parser_fail(p, "line is longer than %d bytes", num - 2);
                return NULL;
        }
        memcpy(str, p->pos, len);
        str[len] = '\0';
        parser_inspect_line(p, p->pos, len);
        p->pos += len;
        if (p->error_line)
                return NULL;
        return str;
}

/* Decimal digits only: no sign, no spaces, no suffix, no base prefix. */
static int parse_u32(const char *s, uint32_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -ENODATA;
        for (const char *c = s; *c; c++) {
                if (*c < '0' || *c > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*c - '0');
                if (v > UINT32_MAX)
                        return -ERANGE;
        }
        *ret = (uint32_t) v;
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "true", "yes", "1", "on" };
        static const char *const no[] = { "false", "no", "0", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* A slice spec's characters ("ffn=75%;skip=20-24", "ffn=8192*4,4096*26"); the model checks the
 * rest when it loads. */
static bool slice_spec_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 512)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_=;,%*", s[i]))
                        return false;
        return true;
}

static bool slice_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > CONFIG_SLICE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '_' || ch == '-'))
                        return false;
        }
        return true;
}

/* "tempN_input" with N a channel number (from 1, no leading zero): the only file a hwmon
 * temperature's limits can be found beside (Documentation/hwmon/sysfs-interface). */
static bool hwmon_input_name_valid(const char *s) {
        size_t n = strlen(s);
        if (n <= strlen("temp_input") || strncmp(s, "temp", 4) != 0 || !streq(s + n - 6, "_input"))
                return false;
        if (s[4] == '0' || n - strlen("temp_input") > 6)
                return false;
        for (size_t i = 4; i < n - 6; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* auto, none, or an absolute path naming a tempN_input file. Relative paths are refused rather
 * than resolved: the value names a file in /sys, not one beside this configuration. */
static int parser_set_hwmon(Parser *p, const ConfigKey *k, const char *value) {
        char **field = config_field(p->config, k);
        size_t bad;

        if (!*value)
                return parser_fail(p, "[%s] %s is empty; use auto, none or the absolute path of a hwmon "
                                   "tempN_input file", k->section, k->key);
        if (!streq(value, "auto") && !streq(value, "none")) {
                if (!utf8_validate(value, strlen(value), &bad))
                        return parser_fail(p, "[%s] %s is not valid UTF-8 (byte %zu)", k->section, k->key, bad);
                for (const char *c = value; *c; c++)
                        if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                return parser_fail(p, "[%s] %s contains a control character", k->section, k->key);
                if (value[0] != '/')
                        return parser_fail(p, "[%s] %s = '%.80s' is neither auto, none nor an absolute path",
                                           k->section, k->key, value);
                if (strlen(value) >= PATH_MAX)
                        return parser_fail(p, "[%s] %s is longer than %d bytes", k->section, k->key, PATH_MAX - 1);
                if (!hwmon_input_name_valid(strrchr(value, '/') + 1))
                        return parser_fail(p, "[%s] %s = '%.80s' does not name a hwmon temperature input: the "
                                           "file name must be tempN_input (N from 1), e.g. "
                                           "/sys/class/hwmon/hwmon3/temp1_input", k->section, k->key, value);
        }
        char *copy = strdup(value);
        if (!copy) {
                p->error_code = -ENOMEM;
                return parser_fail(p, "out of memory");
        }
        free(*field);
        *field = copy;
        return 1;
}

/* The directory relative paths in this file are resolved against, as an absolute path: the
 * file's own directory, made absolute with the working directory when the name is relative. */
static int parser_base_dir(const Parser *p, char **ret) {
        const char *slash = strrchr(p->name, '/');
        _cleanup_free_ char *cwd = NULL;
        char *dir;

        if (p->name[0] == '/') {
                size_t n = slash == p->name ? 1 : (size_t) (slash - p->name);
                dir = strndup(p->name, n);
        } else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                if (slash) {
                        if (asprintf(&dir, "%s/%.*s", streq(cwd, "/") ? "" : cwd,
                                     (int) (slash - p->name), p->name) < 0)
                                dir = NULL;
                } else
                        dir = strdup(cwd);
        }
        if (!dir)
                return -ENOMEM;
        *ret = dir;
        return 0;
}

static int parser_set_path(Parser *p, const ConfigKey *k, const char *value) {
        char **field = config_field(p->config, k);
        _cleanup_free_ char *dir = NULL;
        size_t bad;
        char *path;
        int r;

        if (!*value)
                return parser_fail(p, "[%s] %s is empty; give the model file's path", k->section, k->key);
        if (!utf8_validate(value, strlen(value), &bad))
                return parser_fail(p, "[%s] %s is not valid UTF-8 (byte %zu)", k->section, k->key, bad);
        for (const char *c = value; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        return parser_fail(p, "[%s] %s contains a control character", k->section, k->key);
        if (value[0] == '~')
                return parser_fail(p, "[%s] %s = '%.80s': '~' is not expanded; give an absolute path or one "
                                   "relative to the directory of %s", k->section, k->key, value, p->name);
        if (value[0] == '/')
                path = strdup(value);
        else {
                while (value[0] == '.' && value[1] == '/') {
                        value += 2;
                        while (*value == '/')
                                value++;
                }
                r = parser_base_dir(p, &dir);
                if (r < 0) {
                        p->error_code = r;
                        return parser_fail(p, "cannot resolve relative [%s] %s '%.80s': %s", k->section, k->key,
                                           value, strerror(-r));
                }
                if (asprintf(&path, "%s/%s", streq(dir, "/") ? "" : dir, value) < 0)
                        path = NULL;
        }
        if (!path) {
                p->error_code = -ENOMEM;
                return parser_fail(p, "out of memory");
        }
        if (strlen(path) >= PATH_MAX) {
                free(path);
                return parser_fail(p, "[%s] %s is longer than %d bytes once resolved", k->section, k->key,
                                   PATH_MAX - 1);
        }
        free(*field);
        *field = path;
        return 1;
}

static int parser_set_value(Parser *p, const ConfigKey *k, const char *value) {
        uint32_t u;
        bool b;
        int r;

        switch (k->type) {
        case CONFIG_TYPE_U32:
                r = parse_u32(value, &u);
                if (r == -ENODATA)
                        return parser_fail(p, "[%s] %s is empty; expected an integer in %" PRIu32 "..%" PRIu32,
                                           k->section, k->key, k->min, k->max);
                if (r == -EINVAL)
                        return parser_fail(p, "[%s] %s = '%.80s' is not a decimal integer; expected %" PRIu32
                                           "..%" PRIu32, k->section, k->key, value, k->min, k->max);
                if (r < 0 || u < k->min || u > k->max)
                        return parser_fail(p, "[%s] %s = %.80s is out of range %" PRIu32 "..%" PRIu32,
                                           k->section, k->key, value, k->min, k->max);
                *(uint32_t *) config_field(p->config, k) = u;
                return 1;
        case CONFIG_TYPE_BOOL:
                if (parse_bool(value, &b) < 0)
                        return parser_fail(p, "[%s] %s = '%.80s' is not a boolean; use true/false, yes/no, "
                                           "1/0 or on/off", k->section, k->key, value);
                *(bool *) config_field(p->config, k) = b;
                return 1;
        case CONFIG_TYPE_PATH:
                return parser_set_path(p, k, value);
        case CONFIG_TYPE_HWMON:
                return parser_set_hwmon(p, k, value);
        case CONFIG_TYPE_BACKEND:
        case CONFIG_TYPE_SLICE_SPEC:
        case CONFIG_TYPE_SLICE_POLICY: {
                BackendSpec spec;
                GemmaError berr = { 0 };
                if (k->type == CONFIG_TYPE_BACKEND && backend_spec_parse(value, &spec, &berr) < 0)
                        return parser_fail(p, "[%s] %s: %s", k->section, k->key, berr.message);
                if (k->type == CONFIG_TYPE_SLICE_SPEC && !slice_spec_valid(value))
                        return parser_fail(p, "[%s] %s = '%.80s' is not a slice spec such as ffn=75%%;skip=20-24 "
                                           "(1..512 of A-Z a-z 0-9 . _ - = ; , %% *)", k->section, k->key, value);
                if (k->type == CONFIG_TYPE_SLICE_POLICY && !streq(value, "auto") && !slice_name_valid(value))
                        return parser_fail(p, "[%s] %s = '%.80s' is neither 'auto' nor a slice name (1..%d of "
                                           "A-Z a-z 0-9 . _ -)", k->section, k->key, value,
                                           CONFIG_SLICE_NAME_MAX);
                char *copy = strdup(value);
                if (!copy) {
                        p->error_code = -ENOMEM;
                        return parser_fail(p, "out of memory");
                }
                char **field = config_field(p->config, k);
                free(*field);
                *field = copy;
                return 1;
        }
        }
        return parser_fail(p, "internal error: key '%s' has no type", k->key);
}

/* libinih's ini_handler: one key = value line. Returns 1 to go on, 0 when the line is an error. */
static int parser_handle(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;

        if (p->error_line)
                return 0;
        if (p->continuation)
                return parser_fail(p, "indented line continues the value of '%s'; continuation lines are not "
                                   "supported", name);
        if (!*section)
                return parser_fail(p, "key '%s' comes before any section; keys belong in " CONFIG_SECTIONS_LIST,
                                   name);
        if (!config_section_known(section, strlen(section)))
                return parser_fail(p, "unknown section [%s]", section);
        const ConfigKey *k = config_key_find(section, name);
        if (!k)
                return parser_fail(p, "unknown key '%s' in section [%s]", name, section);
        size_t i = (size_t) (k - config_keys);
        if (p->seen_line[i])
                return parser_fail(p, "duplicate key '%s' in section [%s] (first set on line %u)", name, section,
                                   p->seen_line[i]);
        p->seen_line[i] = p->line;
        return parser_set_value(p, k, value);
}

int config_load_string(Config *c, const char *name, const char *text, size_t len, GemmaError *err) {
        Config copy;
        Parser p = {
                .config = &copy,
                .name = name,
                .pos = text,
                .end = text + len,
        };
        int r;

        const char *nul = len > 0 ? memchr(text, '\0', len) : NULL;
        if (nul) {
                unsigned line = 1;
                for (const char *s = text; s < nul; s++)
                        line += *s == '\n';
                return gemma_error_set(err, -EINVAL, "%s:%u: contains a NUL byte", name, line);
        }
        if (len > CONFIG_FILE_MAX_BYTES)
                return gemma_error_set(err, -EFBIG, "%s: %zu bytes, more than a configuration file may have (%d)",
                                       name, len, CONFIG_FILE_MAX_BYTES);
        r = config_copy(&copy, c);
        if (r < 0)
                return gemma_error_set(err, r, "%s: out of memory", name);

        r = ini_parse_stream(parser_read_line, &p, parser_handle, &p);
        if (r > 0 && (p.error_line == 0 || (unsigned) r < p.error_line)) {
                /* libinih's own complaint, on a line before any of ours. */
                config_done(&copy);
                return gemma_error_set(err, -EINVAL, "%s:%d: syntax error: expected [section], key = value or a "
                                       "comment", name, r);
        }
        if (p.error_line) {
                config_done(&copy);
                return gemma_error_set(err, p.error_code, "%s", p.error);
        }
        if (r < 0) {
                config_done(&copy);
                return gemma_error_set(err, -ENOMEM, "%s: out of memory", name);
        }
        config_done(c);
        *c = copy;
        return 0;
}

int config_load_file(Config *c, const char *path, GemmaError *err) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;
        struct stat st;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return gemma_error_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return gemma_error_set(err, r, "%s: cannot stat: %s", path, strerror(-r));
        }
        if (S_ISDIR(st.st_mode)) {
                close(fd);
                return gemma_error_set(err, -EISDIR, "%s: is a directory", path);
        }
        /* Read to the end rather than trusting st_size, which is 0 for pipes and /proc files; one
         * byte past the limit tells "too large" from "exactly at the limit". */
        for (;;) {
                if (size == allocated) {
                        size_t want = allocated ? allocated * 2 : 4096;
                        if (want > CONFIG_FILE_MAX_BYTES + 1)
                                want = CONFIG_FILE_MAX_BYTES + 1;
                        if (want == allocated) {
                                close(fd);
                                return gemma_error_set(err, -EFBIG, "%s: larger than a configuration file may be "
                                                       "(%d bytes)", path, CONFIG_FILE_MAX_BYTES);
                        }
                        char *grown = realloc(buf, want);
                        if (!grown) {
                                close(fd);
                                return gemma_error_set(err, -ENOMEM, "%s: out of memory", path);
                        }
                        buf = grown;
                        allocated = want;
                }
                ssize_t n = read(fd, buf + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        close(fd);
                        return gemma_error_set(err, r, "%s: cannot read: %s", path, strerror(-r));
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        close(fd);
        if (size > CONFIG_FILE_MAX_BYTES)
                return gemma_error_set(err, -EFBIG, "%s: larger than a configuration file may be (%d bytes)", path,
                                       CONFIG_FILE_MAX_BYTES);
        return config_load_string(c, path, buf ? buf : "", size, err);
}

/* ---- where the file is -------------------------------------------------------------------- */

char *config_find_default_path(void) {
        const char *xdg = getenv("XDG_CONFIG_HOME");
        const char *home = getenv("HOME");
        char *path = NULL;
        int r = -1;

        if (xdg && xdg[0] == '/')
                r = asprintf(&path, "%s/gemmad/gemmad.conf", xdg);
        else if (home && home[0] == '/')
                r = asprintf(&path, "%s/.config/gemmad/gemmad.conf", streq(home, "/") ? "" : home);
        if (r >= 0) {
                if (access(path, F_OK) == 0)
                        return path;
                free(path);
        }
        if (access(CONFIG_SYSTEM_PATH, F_OK) == 0)
                return strdup(CONFIG_SYSTEM_PATH);
        return NULL;
}
