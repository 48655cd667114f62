/* Unit tests for daemon/config.c. Expected defaults and ranges are written out here from
 * config.h's comments, not read from config.c's table, so a change to either shows up as a
 * failure; files for config_load_file() and config_find_default_path() live in a fresh temporary
 * directory per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))
#define CONF_NAME "/etc/gemmad/gemmad.conf"

/* ---- helpers ----------------------------------------------------------------------------- */

static int load(Config *c, const char *text, GemmaError *err) {
        *err = (GemmaError) { 0 };
        return config_load_string(c, CONF_NAME, text, strlen(text), err);
}

/* Loads text into a fresh Config and expects success. */
static void load_ok(Config *c, const char *text) {
        GemmaError err = { 0 };
        assert_int_equal(config_init(c), 0);
        int r = load(c, text, &err);
        if (r != 0)
                fail_msg("config_load_string(\"%s\") = %d: %s", text, r, err.message);
}

/* Loads text into a fresh Config and expects -EINVAL with a message that starts with
 * "NAME:LINE: " and contains every string in the NULL-terminated list. */
static void load_fails(const char *text, unsigned line, ...) {
        GemmaError err = { 0 };
        Config c;
        char prefix[64];
        va_list ap;

        assert_int_equal(config_init(&c), 0);
        int r = load(&c, text, &err);
        if (r != -EINVAL)
                fail_msg("config_load_string(\"%s\") = %d (wanted -EINVAL); message: %s", text, r, err.message);
        assert_int_equal(err.code, -EINVAL);
        snprintf(prefix, sizeof(prefix), CONF_NAME ":%u: ", line);
        if (strncmp(err.message, prefix, strlen(prefix)) != 0)
                fail_msg("message \"%s\" does not start with \"%s\" (input \"%s\")", err.message, prefix, text);
        va_start(ap, line);
        for (const char *want; (want = va_arg(ap, const char *));)
                if (!strstr(err.message, want))
                        fail_msg("message \"%s\" lacks \"%s\" (input \"%s\")", err.message, want, text);
        va_end(ap);
        /* A failed load leaves the values alone. */
        assert_int_equal(c.threads, 0);
        assert_int_equal(c.context, 4096);
        assert_null(c.model_path);
        assert_string_equal(c.slice_policy, "auto");
        config_done(&c);
}

static char *make_temp_dir(void) {
        char tmpl[] = "/tmp/test-config-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        return strdup(tmpl);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        assert_int_equal(fclose(f), 0);
}

static char *join(const char *a, const char *b) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

static void remove_tree(const char *dir) {
        char *cmd;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

/* ---- config_init / config_done ------------------------------------------------------------ */

static void test_config_init_defaults(void **state) {
        Config c;
        assert_int_equal(config_init(&c), 0);
        assert_null(c.model_path);
        assert_int_equal(c.threads, 0);
        assert_int_equal(c.context, 4096);
        assert_true(c.prefault);
        assert_true(c.pack_weights);
        assert_int_equal(c.prefill_chunk, 128);
        assert_int_equal(c.kv_cache_mib, 1024);
        assert_string_equal(c.backend, "auto");
        assert_int_equal(c.opencl_max_device_mib, 0);
        assert_string_equal(c.slice_reduced, "auto");
        assert_string_equal(c.slice_minimal, "auto");
        assert_null(c.slice_custom);
        assert_true(c.power_upower && c.power_thermal && c.power_pressure);
        assert_string_equal(c.power_sysfs_root, "/");
        assert_string_equal(c.power_gpu_hwmon, "auto");
        assert_int_equal(c.power_poll_ms, 2000);
        assert_int_equal(c.power_battery_low_percent, 20);
        assert_int_equal(c.power_down_delay_ms, 500);
        assert_int_equal(c.power_up_dwell_ms, 30000);
        assert_int_equal(c.power_min_dwell_ms, 30000);
        assert_int_equal(c.sessions_per_client, 16);
        assert_int_equal(c.max_sessions, 256);
        assert_int_equal(c.queued_requests, 64);
        assert_int_equal(c.prompt_bytes, 1048576);
        assert_int_equal(c.default_max_tokens, 512);
        assert_int_equal(c.flush_ms, 40);
        assert_int_equal(c.slow_consumer_bytes, 1048576);
        assert_string_equal(c.slice_policy, "auto");
        config_done(&c);
        assert_null(c.model_path);
        assert_null(c.slice_policy);
        config_done(&c); /* twice is harmless */
        config_done(NULL);
        assert_int_equal(config_init(&c), 0); /* and the struct can be used again */
        assert_string_equal(c.slice_policy, "auto");
        config_done(&c);
}

static void test_config_load_string_empty(void **state) {
        Config c;
        load_ok(&c, "");
        assert_int_equal(c.context, 4096);
        config_done(&c);
        load_ok(&c, "# only a comment\n; and another\n\n   \n");
        assert_int_equal(c.context, 4096);
        config_done(&c);
        load_ok(&c, "[model]\n[engine]\n[limits]\n[stream]\n[slice]\n");
        assert_int_equal(c.context, 4096);
        config_done(&c);
}

/* ---- every key ---------------------------------------------------------------------------- */

static void test_config_load_string_every_key(void **state) {
        Config c;
        load_ok(&c,
                "# gemmad.conf\n"
                "[model]\n"
                "path = /srv/models/gemma-3n-E2B.gguf\n"
                "threads = 6\n"
                "context = 8192\n"
                "prefault = no\n"
                "pack_weights = off\n"
                "\n"
                "[engine]\n"
                "prefill_chunk = 64\n"
                "[limits]\n"
                "sessions_per_client = 4\n"
                "max_sessions = 100\n"
                "queued_requests = 10\n"
                "prompt_bytes = 65536\n"
                "default_max_tokens = 300\n"
                "[stream]\n"
                "flush_ms = 25\n"
                "slow_consumer_bytes = 8192\n"
                "[slice]\n"
                "policy = e2b-ffn4096\n");
        assert_string_equal(c.model_path, "/srv/models/gemma-3n-E2B.gguf");
        assert_int_equal(c.threads, 6);
        assert_int_equal(c.context, 8192);
        assert_false(c.prefault);
        assert_false(c.pack_weights);
        assert_int_equal(c.prefill_chunk, 64);
        assert_int_equal(c.sessions_per_client, 4);
        assert_int_equal(c.max_sessions, 100);
        assert_int_equal(c.queued_requests, 10);
        assert_int_equal(c.prompt_bytes, 65536);
        assert_int_equal(c.default_max_tokens, 300);
        assert_int_equal(c.flush_ms, 25);
        assert_int_equal(c.slow_consumer_bytes, 8192);
        assert_string_equal(c.slice_policy, "e2b-ffn4096");
        config_done(&c);
}

static void test_config_load_string_syntax_variants(void **state) {
        Config c;
        /* Spaces around '=', ':' as separator, inline ';' comments, CRLF, a byte-order mark, a
         * section given twice, an indented first key (only lines after a key are continuations). */
        load_ok(&c, "\xef\xbb\xbf[model]\r\n"
                    "threads=3\r\n"
                    "context   :   2048   ; positions\r\n"
                    "[engine]\n"
                    "\tprefill_chunk = 7\n"
                    "[model]\n"
                    "prefault = off");
        assert_int_equal(c.threads, 3);
        assert_int_equal(c.context, 2048);
        assert_int_equal(c.prefill_chunk, 7);
        assert_false(c.prefault);
        config_done(&c);
}

static void test_config_load_string_over_current_values(void **state) {
        GemmaError err;
        Config c;
        load_ok(&c, "[model]\nthreads = 2\npath = /a.gguf\n");
        /* A second file changes what it names and keeps the rest; its keys are not duplicates. */
        assert_int_equal(load(&c, "[model]\nthreads = 5\n", &err), 0);
        assert_int_equal(c.threads, 5);
        assert_string_equal(c.model_path, "/a.gguf");
        assert_int_equal(load(&c, "[model]\npath = /b.gguf\n[slice]\npolicy = low\n", &err), 0);
        assert_string_equal(c.model_path, "/b.gguf");
        assert_string_equal(c.slice_policy, "low");
        /* A failing one changes nothing, not even the keys before its error. */
        assert_int_equal(load(&c, "[model]\nthreads = 9\npath = /c.gguf\ncontext = 1\n", &err), -EINVAL);
        assert_int_equal(c.threads, 5);
        assert_string_equal(c.model_path, "/b.gguf");
        config_done(&c);
}

/* ---- ranges ------------------------------------------------------------------------------- */

typedef struct RangeCase {
        const char *section;
        const char *key;
        size_t offset;
        uint32_t min, max;
} RangeCase;

static const RangeCase ranges[] = {
        { "model", "threads", offsetof(Config, threads), 0, 256 },
        { "model", "context", offsetof(Config, context), 128, 1048576 },
        { "engine", "prefill_chunk", offsetof(Config, prefill_chunk), 1, 4096 },
        { "engine", "kv_cache_mib", offsetof(Config, kv_cache_mib), 16, 1048576 },
        { "engine", "opencl_max_device_mib", offsetof(Config, opencl_max_device_mib), 0, 16777216 },
        { "power", "poll_ms", offsetof(Config, power_poll_ms), 100, 60000 },
        { "power", "battery_low_percent", offsetof(Config, power_battery_low_percent), 0, 100 },
        { "power", "down_delay_ms", offsetof(Config, power_down_delay_ms), 0, 3600000 },
        { "power", "up_dwell_ms", offsetof(Config, power_up_dwell_ms), 0, 3600000 },
        { "power", "min_dwell_ms", offsetof(Config, power_min_dwell_ms), 0, 3600000 },
        { "limits", "sessions_per_client", offsetof(Config, sessions_per_client), 1, 1024 },
        { "limits", "max_sessions", offsetof(Config, max_sessions), 1, 65536 },
        { "limits", "queued_requests", offsetof(Config, queued_requests), 1, 65536 },
        { "limits", "prompt_bytes", offsetof(Config, prompt_bytes), 1, 67108864 },
        { "limits", "default_max_tokens", offsetof(Config, default_max_tokens), 1, 1048576 },
        { "stream", "flush_ms", offsetof(Config, flush_ms), 1, 1000 },
        { "stream", "slow_consumer_bytes", offsetof(Config, slow_consumer_bytes), 4096, 268435456 },
};

static void test_config_load_string_range_boundaries(void **state) {
        for (size_t i = 0; i < N_ELEMS(ranges); i++) {
                const RangeCase *rc = &ranges[i];
                char text[128], range[64];
                Config c;

                snprintf(range, sizeof(range), "%" PRIu32 "..%" PRIu32, rc->min, rc->max);
                /* both ends are inside */
                snprintf(text, sizeof(text), "[%s]\n%s = %" PRIu32 "\n", rc->section, rc->key, rc->min);
                load_ok(&c, text);
                assert_int_equal(*(uint32_t *) ((uint8_t *) &c + rc->offset), rc->min);
                config_done(&c);
                snprintf(text, sizeof(text), "[%s]\n%s = %" PRIu32 "\n", rc->section, rc->key, rc->max);
                load_ok(&c, text);
                assert_int_equal(*(uint32_t *) ((uint8_t *) &c + rc->offset), rc->max);
                config_done(&c);
                /* one past either end is not */
                if (rc->min > 0) {
                        snprintf(text, sizeof(text), "[%s]\n%s = %" PRIu32 "\n", rc->section, rc->key, rc->min - 1);
                        load_fails(text, 2, rc->key, range, "out of range", NULL);
                }
                snprintf(text, sizeof(text), "[%s]\n%s = %" PRIu32 "\n", rc->section, rc->key, rc->max + 1);
                load_fails(text, 2, rc->key, range, "out of range", NULL);
                /* nor is an empty value, a number that does not fit in 32 bits, or anything else */
                snprintf(text, sizeof(text), "[%s]\n%s =\n", rc->section, rc->key);
                load_fails(text, 2, rc->key, range, "empty", NULL);
                snprintf(text, sizeof(text), "[%s]\n%s = 99999999999999999999\n", rc->section, rc->key);
                load_fails(text, 2, rc->key, range, "out of range", NULL);
                snprintf(text, sizeof(text), "[%s]\n%s = 4294967296\n", rc->section, rc->key);
                load_fails(text, 2, rc->key, range, "out of range", NULL);
        }
}

static void test_config_load_string_malformed_numbers(void **state) {
        static const char *const bad[] = {
                "-1", "+4", "4.0", "0x10", "4k", "4 4", "four", "1e3", " 4x", "\xc2\xb2",
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                char text[64];
                snprintf(text, sizeof(text), "[model]\nthreads = %s\n", bad[i]);
                load_fails(text, 2, "threads", "not a decimal integer", "0..256", NULL);
        }
        /* Leading zeros are still decimal. */
        Config c;
        load_ok(&c, "[model]\nthreads = 010\n");
        assert_int_equal(c.threads, 10);
        config_done(&c);
}

/* ---- booleans ----------------------------------------------------------------------------- */

static void test_config_load_string_booleans(void **state) {
        static const char *const yes[] = { "true", "yes", "1", "on", "TRUE", "Yes", "On" };
        static const char *const no[] = { "false", "no", "0", "off", "FALSE", "No", "OFF" };
        static const char *const bad[] = { "maybe", "2", "y", "n", "t", "enabled", "" };
        char text[64];
        Config c;

        for (size_t i = 0; i < N_ELEMS(yes); i++) {
                snprintf(text, sizeof(text), "[model]\nprefault = %s\n", yes[i]);
                load_ok(&c, text);
                assert_true(c.prefault);
                config_done(&c);
        }
        for (size_t i = 0; i < N_ELEMS(no); i++) {
                snprintf(text, sizeof(text), "[model]\nprefault = %s\n", no[i]);
                load_ok(&c, text);
                assert_false(c.prefault);
                config_done(&c);
        }
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                snprintf(text, sizeof(text), "[model]\nprefault = %s\n", bad[i]);
                load_fails(text, 2, "prefault", "not a boolean", "true/false", NULL);
        }
}

/* ---- unknown, duplicate, malformed -------------------------------------------------------- */

static void test_config_load_string_unknown_key(void **state) {
        load_fails("[model]\nthreads = 1\nthread = 2\n", 3, "unknown key 'thread'", "[model]", NULL);
        /* a key of another section */
        load_fails("[engine]\nthreads = 2\n", 2, "unknown key 'threads'", "[engine]", NULL);
        /* keys are case-sensitive */
        load_fails("[model]\nThreads = 2\n", 2, "unknown key 'Threads'", NULL);
        load_fails("threads = 2\n", 1, "'threads'", "before any section", NULL);
}

static void test_config_load_string_unknown_section(void **state) {
        load_fails("[model]\nthreads = 1\n[modle]\ncontext = 256\n", 3, "unknown section [modle]", "[model]", NULL);
        /* even an empty one, which libinih would never report */
        load_fails("[model]\n[Model]\n", 2, "unknown section [Model]", NULL);
        load_fails("# x\n[]\n", 2, "unknown section []", NULL);
        load_fails("[model] threads = 4\n", 1, "unexpected text after [model]", NULL);
        Config c;
        load_ok(&c, "[model] ; the model\n[engine]   # comment\n");
        config_done(&c);
}

static void test_config_load_string_duplicate(void **state) {
        load_fails("[model]\nthreads = 1\ncontext = 256\nthreads = 1\n", 4, "duplicate key 'threads'",
                   "first set on line 2", NULL);
        /* also across two [model] headers */
        load_fails("[model]\npath = /a\n[engine]\nprefill_chunk = 1\n[model]\npath = /a\n", 6,
                   "duplicate key 'path'", NULL);
}

static void test_config_load_string_syntax_errors(void **state) {
        load_fails("[model]\nthreads\n", 2, "syntax error", NULL);
        load_fails("[model\nthreads = 1\n", 1, "syntax error", NULL);
        /* an indented line after a key continues its value in libinih; not here */
        load_fails("[model]\nthreads = 1\n  2\n", 3, "continuation", NULL);
        /* the first error is the one reported */
        load_fails("[model]\nbogus\nthreads = 999\n", 2, "syntax error", NULL);
        load_fails("[model]\nthreads = 999\nbogus\n", 2, "threads", NULL);
}

static void test_config_load_string_long_line(void **state) {
        char text[600];
        Config c;

        /* A line too long for libinih's buffer would be split by it; it is an error instead. */
        int n = snprintf(text, sizeof(text), "[model]\npath = /");
        memset(text + n, 'a', 400);
        strcpy(text + n + 400, "\n");
        load_fails(text, 2, "line is longer than", NULL);
        /* one that fits is fine */
        n = snprintf(text, sizeof(text), "[model]\npath = /");
        memset(text + n, 'b', 150);
        strcpy(text + n + 150, "\n");
        load_ok(&c, text);
        assert_int_equal(strlen(c.model_path), 151);
        config_done(&c);
}

static void test_config_load_string_nul_byte(void **state) {
        static const char text[] = "[model]\nthreads = 1\0\ncontext = 256\n";
        GemmaError err = { 0 };
        Config c;

        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_string(&c, "x.conf", text, sizeof(text) - 1, &err), -EINVAL);
        assert_string_equal(err.message, "x.conf:2: contains a NUL byte");
        assert_int_equal(c.threads, 0);
        /* the length given is what is read: no NUL terminator is needed */
        assert_int_equal(config_load_string(&c, "x.conf", "[model]\nthreads = 12345", 20, &err), 0);
        assert_int_equal(c.threads, 12);
        config_done(&c);
}

/* ---- strings ------------------------------------------------------------------------------ */

static void test_config_load_string_relative_path(void **state) {
        GemmaError err;
        Config c;

        load_ok(&c, "[model]\npath = gemma.gguf\n");
        assert_string_equal(c.model_path, "/etc/gemmad/gemma.gguf");
        config_done(&c);
        load_ok(&c, "[model]\npath = ./models/gemma.gguf\n");
        assert_string_equal(c.model_path, "/etc/gemmad/models/gemma.gguf");
        config_done(&c);
        load_ok(&c, "[model]\npath = ../gemma.gguf\n");
        assert_string_equal(c.model_path, "/etc/gemmad/../gemma.gguf");
        config_done(&c);
        load_ok(&c, "[model]\npath = /srv/gemma.gguf\n");
        assert_string_equal(c.model_path, "/srv/gemma.gguf");
        config_done(&c);

        /* a file at the root, and one named relative to the working directory */
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_string(&c, "/g.conf", "[model]\npath=m.gguf", 19, &err), 0);
        assert_string_equal(c.model_path, "/m.gguf");
        char *cwd = getcwd(NULL, 0), *want;
        assert_non_null(cwd);
        assert_int_equal(config_load_string(&c, "conf/g.conf", "[model]\npath=m.gguf", 19, &err), 0);
        assert_true(asprintf(&want, "%s/conf/m.gguf", strcmp(cwd, "/") ? cwd : "") > 0);
        assert_string_equal(c.model_path, want);
        free(want);
        assert_int_equal(config_load_string(&c, "g.conf", "[model]\npath=m.gguf", 19, &err), 0);
        assert_true(asprintf(&want, "%s/m.gguf", strcmp(cwd, "/") ? cwd : "") > 0);
        assert_string_equal(c.model_path, want);
        free(want);
        free(cwd);
        config_done(&c);

        load_fails("[model]\npath =\n", 2, "path", "empty", NULL);
        load_fails("[model]\npath = ~/gemma.gguf\n", 2, "'~' is not expanded", NULL);
        load_fails("[model]\npath = /a\xff.gguf\n", 2, "UTF-8", NULL);
        load_fails("[model]\npath = /a\x01.gguf\n", 2, "control character", NULL);
}

static void test_config_load_file_relative_path(void **state) {
        char *dir = make_temp_dir(), *sub = join(dir, "conf.d"), *file, *want;
        GemmaError err = { 0 };
        Config c;

        assert_int_equal(mkdir(sub, 0700), 0);
        file = join(sub, "gemmad.conf");
        write_file(file, "[model]\npath = weights/gemma.gguf\n");
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_file(&c, file, &err), 0);
        want = join(sub, "weights/gemma.gguf");
        assert_string_equal(c.model_path, want);
        config_done(&c);
        free(want);
        free(file);
        free(sub);
        remove_tree(dir);
        free(dir);
}

static void test_config_load_string_slice_policy(void **state) {
        static const char *const good[] = { "auto", "e2b", "E4B-full", "x.y_z-1" };
        static const char *const bad[] = { "", "a b", "a/b", "automatic!", "é",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 65 */ };
        char text[128];
        Config c;

        for (size_t i = 0; i < N_ELEMS(good); i++) {
                snprintf(text, sizeof(text), "[slice]\npolicy = %s\n", good[i]);
                load_ok(&c, text);
                assert_string_equal(c.slice_policy, good[i]);
                config_done(&c);
        }
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                snprintf(text, sizeof(text), "[slice]\npolicy = %s\n", bad[i]);
                load_fails(text, 2, "policy", "auto", NULL);
        }
}

/* ---- config_load_file --------------------------------------------------------------------- */

static void test_config_load_file_values(void **state) {
        char *dir = make_temp_dir(), *file = join(dir, "gemmad.conf");
        GemmaError err = { 0 };
        Config c;

        write_file(file, "[limits]\nmax_sessions = 3\n");
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_file(&c, file, &err), 0);
        assert_int_equal(c.max_sessions, 3);

        /* errors name the file as given */
        write_file(file, "[limits]\nmax_sessions = 0\n");
        assert_int_equal(config_load_file(&c, file, &err), -EINVAL);
        char *want;
        assert_true(asprintf(&want, "%s:2: ", file) > 0);
        assert_int_equal(strncmp(err.message, want, strlen(want)), 0);
        assert_non_null(strstr(err.message, "max_sessions"));
        assert_non_null(strstr(err.message, "1..65536"));
        assert_int_equal(c.max_sessions, 3);
        free(want);
        config_done(&c);
        free(file);
        remove_tree(dir);
        free(dir);
}

static void test_config_load_file_missing(void **state) {
        char *dir = make_temp_dir(), *file = join(dir, "absent.conf");
        GemmaError err = { 0 };
        Config c;

        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_file(&c, file, &err), -ENOENT);
        assert_int_equal(err.code, -ENOENT);
        assert_non_null(strstr(err.message, file));
        assert_int_equal(config_load_file(&c, dir, &err), -EISDIR);
        assert_int_equal(c.context, 4096);
        config_done(&c);
        free(file);
        remove_tree(dir);
        free(dir);
}

static void test_config_load_file_too_large(void **state) {
        char *dir = make_temp_dir(), *file = join(dir, "big.conf");
        GemmaError err = { 0 };
        Config c;

        FILE *f = fopen(file, "w");
        assert_non_null(f);
        for (int i = 0; i < 70000; i++) /* 16 bytes a line: more than 1 MiB */
                fputs("# comment line.\n", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_file(&c, file, &err), -EFBIG);
        config_done(&c);
        free(file);
        remove_tree(dir);
        free(dir);
}

/* ---- config_find_default_path ------------------------------------------------------------- */

/* What the lookup returns when no user file exists: the system file if this machine has one. */
static void assert_system_fallback(const char *got) {
        if (access("/etc/gemmad/gemmad.conf", F_OK) == 0)
                assert_string_equal(got, "/etc/gemmad/gemmad.conf");
        else
                assert_null(got);
}

static void test_config_find_default_path_xdg(void **state) {
        char *dir = make_temp_dir(), *app = join(dir, "gemmad"), *file = join(app, "gemmad.conf");
        char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
        char *found;

        assert_int_equal(setenv("XDG_CONFIG_HOME", dir, 1), 0);
        /* no file yet */
        found = config_find_default_path();
        assert_system_fallback(found);
        free(found);
        assert_int_equal(mkdir(app, 0700), 0);
        write_file(file, "[model]\n");
        found = config_find_default_path();
        assert_non_null(found);
        assert_string_equal(found, file);
        free(found);

        if (old_xdg)
                setenv("XDG_CONFIG_HOME", old_xdg, 1);
        else
                unsetenv("XDG_CONFIG_HOME");
        free(old_xdg);
        free(file);
        free(app);
        remove_tree(dir);
        free(dir);
}

static void test_config_find_default_path_home(void **state) {
        char *dir = make_temp_dir(), *cfg = join(dir, ".config"), *app = join(cfg, "gemmad");
        char *file = join(app, "gemmad.conf");
        char *old_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
        char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
        char *found;

        assert_int_equal(mkdir(cfg, 0700), 0);
        assert_int_equal(mkdir(app, 0700), 0);
        write_file(file, "");
        assert_int_equal(setenv("HOME", dir, 1), 0);
        /* XDG_CONFIG_HOME unset, empty or relative: ~/.config */
        unsetenv("XDG_CONFIG_HOME");
        found = config_find_default_path();
        assert_non_null(found);
        assert_string_equal(found, file);
        free(found);
        assert_int_equal(setenv("XDG_CONFIG_HOME", "", 1), 0);
        found = config_find_default_path();
        assert_non_null(found);
        assert_string_equal(found, file);
        free(found);
        assert_int_equal(setenv("XDG_CONFIG_HOME", "relative/dir", 1), 0);
        found = config_find_default_path();
        assert_non_null(found);
        assert_string_equal(found, file);
        free(found);
        /* an absolute XDG_CONFIG_HOME without the file does not fall back to ~/.config */
        assert_int_equal(setenv("XDG_CONFIG_HOME", app, 1), 0);
        found = config_find_default_path();
        assert_system_fallback(found);
        free(found);
        /* nothing at all: the system file, or NULL */
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("HOME");
        found = config_find_default_path();
        assert_system_fallback(found);
        free(found);

        if (old_xdg)
                setenv("XDG_CONFIG_HOME", old_xdg, 1);
        else
                unsetenv("XDG_CONFIG_HOME");
        if (old_home)
                setenv("HOME", old_home, 1);
        free(old_xdg);
        free(old_home);
        free(file);
        free(app);
        free(cfg);
        remove_tree(dir);
        free(dir);
}

/* ---- the installed example --------------------------------------------------------------- */

static const char *example_path; /* systemd/gemmad.conf, from the command line */

/* The example holds every key, commented out as "#key = default": uncommented, it must parse
 * and give exactly the defaults (path has none; its example value is absolute). */
static void test_config_example_file(void **state) {
        char line[512], *text = NULL;
        size_t len = 0;
        unsigned n_keys = 0;
        GemmaError err = { 0 };
        Config c, def;

        if (!example_path)
                fail_msg("no example file given on the command line");
        FILE *in = fopen(example_path, "r");
        assert_non_null(in);
        FILE *out = open_memstream(&text, &len);
        assert_non_null(out);
        while (fgets(line, sizeof(line), in)) {
                const char *l = line;
                size_t key_len = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_");
                if (line[0] == '#' && key_len > 0 && strncmp(line + 1 + key_len, " = ", 3) == 0) {
                        l = line + 1;
                        n_keys++;
                }
                fputs(l, out);
        }
        fclose(in);
        assert_int_equal(fclose(out), 0);
        assert_int_equal(n_keys, 30);

        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_init(&def), 0);
        int r = config_load_string(&c, example_path, text, len, &err);
        if (r < 0)
                fail_msg("%s", err.message);
        assert_non_null(c.model_path);
        assert_true(c.model_path[0] == '/');
        free(c.model_path);
        c.model_path = NULL;
        assert_string_equal(c.slice_policy, def.slice_policy);
        assert_int_equal(c.threads, def.threads);
        assert_int_equal(c.context, def.context);
        assert_int_equal(c.prefault, def.prefault);
        assert_int_equal(c.pack_weights, def.pack_weights);
        assert_int_equal(c.prefill_chunk, def.prefill_chunk);
        assert_int_equal(c.kv_cache_mib, def.kv_cache_mib);
        assert_string_equal(c.backend, def.backend);
        assert_int_equal(c.opencl_max_device_mib, def.opencl_max_device_mib);
        assert_string_equal(c.slice_reduced, def.slice_reduced);
        assert_string_equal(c.slice_minimal, def.slice_minimal);
        assert_string_equal(c.slice_custom, "ffn=75%");
        assert_int_equal(c.power_upower, def.power_upower);
        assert_int_equal(c.power_thermal, def.power_thermal);
        assert_int_equal(c.power_pressure, def.power_pressure);
        assert_non_null(c.power_sysfs_root);
        assert_string_equal(c.power_gpu_hwmon, def.power_gpu_hwmon);
        assert_int_equal(c.power_poll_ms, def.power_poll_ms);
        assert_int_equal(c.power_battery_low_percent, def.power_battery_low_percent);
        assert_int_equal(c.power_down_delay_ms, def.power_down_delay_ms);
        assert_int_equal(c.power_up_dwell_ms, def.power_up_dwell_ms);
        assert_int_equal(c.power_min_dwell_ms, def.power_min_dwell_ms);
        assert_int_equal(c.sessions_per_client, def.sessions_per_client);
        assert_int_equal(c.max_sessions, def.max_sessions);
        assert_int_equal(c.queued_requests, def.queued_requests);
        assert_int_equal(c.prompt_bytes, def.prompt_bytes);
        assert_int_equal(c.default_max_tokens, def.default_max_tokens);
        assert_int_equal(c.flush_ms, def.flush_ms);
        assert_int_equal(c.slow_consumer_bytes, def.slow_consumer_bytes);
        config_done(&c);
        config_done(&def);
        free(text);
}

static void test_config_backend(void **state) {
        GemmaError err = { 0 };
        Config c;
        const char *good[] = { "auto", "cpu", "opencl", "opencl:0", "opencl:Intel(R) Arc" };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                char text[128];
                assert_int_equal(config_init(&c), 0);
                snprintf(text, sizeof(text), "[engine]\nbackend = %s\n", good[i]);
                if (load(&c, text, &err) < 0)
                        fail_msg("%s: %s", good[i], err.message);
                assert_string_equal(c.backend, good[i]);
                config_done(&c);
        }
        load_fails("[engine]\nbackend = gpu\n", 2, "backend", "gpu", NULL);
        load_fails("[engine]\nbackend = opencl:\n", 2, "backend", NULL);
        load_fails("[engine]\nbackend = CPU\n", 2, "backend", NULL);
}

static void test_config_slice_custom(void **state) {
        GemmaError err = { 0 };
        Config c;
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(load(&c, "[slice]\ncustom = ffn=75%;skip=20-24\n", &err), 0);
        assert_string_equal(c.slice_custom, "ffn=75%;skip=20-24");
        config_done(&c);
        load_fails("[slice]\ncustom = ffn=75% skip\n", 2, "custom", "slice spec", NULL);
        load_fails("[slice]\ncustom = ffn=<1>\n", 2, "custom", "slice spec", NULL);
}

static void test_config_gpu_hwmon(void **state) {
        static const char *const good[] = {
                "auto",
                "none",
                "/sys/class/drm/renderD128/device/hwmon/hwmon3/temp1_input",
                "/sys/class/hwmon/hwmon0/temp12_input",
                "/tmp/fake tree/temp999999_input",
                "/temp1_input",
        };
        static const struct {
                const char *value;
                const char *message;
        } bad[] = {
                { "", "empty" },
                { "Auto", "neither auto, none nor an absolute path" },
                { "NONE", "neither auto, none nor an absolute path" },
                { "off", "neither auto, none nor an absolute path" },
                { "temp1_input", "neither auto, none nor an absolute path" },
                { "hwmon/hwmon3/temp1_input", "neither auto, none nor an absolute path" },
                { "./temp1_input", "neither auto, none nor an absolute path" },
                { "~/temp1_input", "neither auto, none nor an absolute path" },
                { "/sys/class/hwmon/hwmon0/temp1_max", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/temp0_input", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/temp01_input", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/temp_input", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/tempX_input", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/temp1000000_input", "tempN_input" },
                { "/sys/class/hwmon/hwmon0/temp1_input/", "tempN_input" },
                { "/sys/class/hwmon/hwmon0", "tempN_input" },
                { "/", "tempN_input" },
                { "/a\xff/temp1_input", "UTF-8" },
                { "/a\x01/temp1_input", "control character" },
        };
        char text[256];
        Config c;

        for (size_t i = 0; i < N_ELEMS(good); i++) {
                snprintf(text, sizeof(text), "[power]\ngpu_hwmon = %s\n", good[i]);
                load_ok(&c, text);
                assert_string_equal(c.power_gpu_hwmon, good[i]);
                config_done(&c);
        }
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                snprintf(text, sizeof(text), "[power]\ngpu_hwmon = %s\n", bad[i].value);
                load_fails(text, 2, "[power] gpu_hwmon", bad[i].message, NULL);
        }
        /* A relative value is refused even in a file whose directory it could be resolved against. */
        GemmaError err = { 0 };
        assert_int_equal(config_init(&c), 0);
        assert_int_equal(config_load_string(&c, "conf/g.conf", "[power]\ngpu_hwmon=temp1_input", 29, &err), -EINVAL);
        assert_string_equal(c.power_gpu_hwmon, "auto");
        /* Once set, a later file may switch it back. */
        assert_int_equal(load(&c, "[power]\ngpu_hwmon = /x/temp2_input\n", &err), 0);
        assert_string_equal(c.power_gpu_hwmon, "/x/temp2_input");
        assert_int_equal(load(&c, "[power]\ngpu_hwmon = none\n", &err), 0);
        assert_string_equal(c.power_gpu_hwmon, "none");
        config_done(&c);
        assert_null(c.power_gpu_hwmon);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_backend),
                cmocka_unit_test(test_config_slice_custom),
                cmocka_unit_test(test_config_gpu_hwmon),
                cmocka_unit_test(test_config_init_defaults),
                cmocka_unit_test(test_config_load_string_empty),
                cmocka_unit_test(test_config_load_string_every_key),
                cmocka_unit_test(test_config_load_string_syntax_variants),
                cmocka_unit_test(test_config_load_string_over_current_values),
                cmocka_unit_test(test_config_load_string_range_boundaries),
                cmocka_unit_test(test_config_load_string_malformed_numbers),
                cmocka_unit_test(test_config_load_string_booleans),
                cmocka_unit_test(test_config_load_string_unknown_key),
                cmocka_unit_test(test_config_load_string_unknown_section),
                cmocka_unit_test(test_config_load_string_duplicate),
                cmocka_unit_test(test_config_load_string_syntax_errors),
                cmocka_unit_test(test_config_load_string_long_line),
                cmocka_unit_test(test_config_load_string_nul_byte),
                cmocka_unit_test(test_config_load_string_relative_path),
                cmocka_unit_test(test_config_load_file_relative_path),
                cmocka_unit_test(test_config_load_string_slice_policy),
                cmocka_unit_test(test_config_load_file_values),
                cmocka_unit_test(test_config_load_file_missing),
                cmocka_unit_test(test_config_load_file_too_large),
                cmocka_unit_test(test_config_find_default_path_xdg),
                cmocka_unit_test(test_config_find_default_path_home),
                cmocka_unit_test(test_config_example_file),
        };

        if (argc > 1)
                example_path = argv[1];
        return cmocka_run_group_tests_name("config.c", tests, NULL, NULL);
}
