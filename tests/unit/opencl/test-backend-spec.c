/* Unit tests for opencl/backend-spec.c: the backend strings users write in gemmad.conf and on
 * gemma-model's command line. The accepted and refused strings are written out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend-spec.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- backend_spec_parse ------------------------------------------------------------------ */

static void test_backend_spec_parse_good(void **state) {
        static const struct {
                const char *s;
                BackendKind kind;
                const char *device;
        } cases[] = {
                { "auto", BACKEND_AUTO, "" },
                { "cpu", BACKEND_CPU, "" },
                { "opencl", BACKEND_OPENCL, "" },
                { "opencl:0", BACKEND_OPENCL, "0" },
                { "opencl:12", BACKEND_OPENCL, "12" },
                { "opencl:pthread", BACKEND_OPENCL, "pthread" },
                { "opencl:Intel(R) Arc(TM) A770 Graphics", BACKEND_OPENCL, "Intel(R) Arc(TM) A770 Graphics" },
                { "opencl:a:b", BACKEND_OPENCL, "a:b" },
                { "opencl:Radeon RX 7900", BACKEND_OPENCL, "Radeon RX 7900" },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                BackendSpec spec;
                GemmaError err = { 0 };
                memset(&spec, 0x5a, sizeof(spec));
                int r = backend_spec_parse(cases[i].s, &spec, &err);
                if (r != 0)
                        fail_msg("'%s': %d %s", cases[i].s, r, err.message);
                assert_int_equal(spec.kind, cases[i].kind);
                assert_string_equal(spec.device, cases[i].device);
        }
}

static void test_backend_spec_parse_device_length_limit(void **state) {
        char s[sizeof("opencl:") + BACKEND_SPEC_DEVICE_MAX + 1];
        BackendSpec spec;
        GemmaError err = { 0 };

        /* Exactly the limit is fine ... */
        strcpy(s, "opencl:");
        memset(s + 7, 'x', BACKEND_SPEC_DEVICE_MAX);
        s[7 + BACKEND_SPEC_DEVICE_MAX] = '\0';
        assert_int_equal(backend_spec_parse(s, &spec, &err), 0);
        assert_int_equal(strlen(spec.device), BACKEND_SPEC_DEVICE_MAX);

        /* ... one more byte is refused, saying how long it was. */
        s[7 + BACKEND_SPEC_DEVICE_MAX] = 'x';
        s[8 + BACKEND_SPEC_DEVICE_MAX] = '\0';
        assert_int_equal(backend_spec_parse(s, &spec, &err), -EINVAL);
        assert_non_null(strstr(err.message, "too long"));
        assert_non_null(strstr(err.message, "128 bytes"));
}

static void test_backend_spec_parse_bad(void **state) {
        static const struct {
                const char *s;
                const char *message_part;
        } cases[] = {
                { "", "expected 'auto', 'cpu', 'opencl' or 'opencl:NAME'" },
                { "gpu", "invalid backend 'gpu': expected 'auto', 'cpu', 'opencl' or 'opencl:NAME'" },
                { "cuda", "invalid backend 'cuda'" },
                { "AUTO", "invalid backend 'AUTO'" },
                { "Cpu", "invalid backend 'Cpu'" },
                { "opencl2", "invalid backend 'opencl2'" },
                { "openclx:0", "invalid backend 'openclx:0'" },
                { " cpu", "invalid backend ' cpu'" },
                { "cpu ", "invalid backend 'cpu '" },
                { ":0", "invalid backend ':0'" },
                { "opencl:", "empty device after 'opencl:'" },
                { "cpu:0", "'cpu' takes no device" },
                { "auto:gpu", "'auto' takes no device" },
                { "cpu:", "'cpu' takes no device" },
                { "opencl: 0", "spaces around the device name" },
                { "opencl:Arc ", "spaces around the device name" },
                { "opencl:a\nb", "control character 0x0a at offset 1" },
                { "opencl:\x1b[31m", "control character 0x1b at offset 0" },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                BackendSpec spec = { .kind = BACKEND_CPU, .device = "untouched" };
                GemmaError err = { 0 };
                int r = backend_spec_parse(cases[i].s, &spec, &err);
                if (r != -EINVAL)
                        fail_msg("'%s': expected -EINVAL, got %d", cases[i].s, r);
                if (!strstr(err.message, cases[i].message_part))
                        fail_msg("'%s': message '%s' lacks '%s'", cases[i].s, err.message, cases[i].message_part);
                assert_int_equal(err.code, -EINVAL);
                /* The output stays as it was on failure. */
                assert_int_equal(spec.kind, BACKEND_CPU);
                assert_string_equal(spec.device, "untouched");
        }
}

static void test_backend_spec_parse_null(void **state) {
        BackendSpec spec = { .kind = BACKEND_CPU };
        GemmaError err = { 0 };
        assert_int_equal(backend_spec_parse(NULL, &spec, &err), -EINVAL);
        assert_non_null(strstr(err.message, "expected 'auto'"));
        /* err may be NULL: the code alone comes back. */
        assert_int_equal(backend_spec_parse("nope", &spec, NULL), -EINVAL);
        assert_int_equal(spec.kind, BACKEND_CPU);
}

/* An unknown kind of any length is quoted only in part: the message stays one bounded line. */
static void test_backend_spec_parse_long_garbage(void **state) {
        char s[4096];
        BackendSpec spec;
        GemmaError err = { 0 };
        memset(s, 'g', sizeof(s) - 1);
        s[sizeof(s) - 1] = '\0';
        assert_int_equal(backend_spec_parse(s, &spec, &err), -EINVAL);
        assert_true(strlen(err.message) < sizeof(err.message));
        assert_non_null(strstr(err.message, "expected 'auto'"));
}

/* ---- backend_spec_format ----------------------------------------------------------------- */

static void test_backend_spec_format_round_trip(void **state) {
        static const char *const strings[] = { "auto", "cpu", "opencl", "opencl:0", "opencl:NVIDIA GeForce RTX 4090" };
        for (size_t i = 0; i < N_ELEMS(strings); i++) {
                BackendSpec spec, again;
                char buf[BACKEND_SPEC_STRING_MAX];
                assert_int_equal(backend_spec_parse(strings[i], &spec, NULL), 0);
                assert_string_equal(backend_spec_format(&spec, buf, sizeof(buf)), strings[i]);
                assert_int_equal(backend_spec_parse(buf, &again, NULL), 0);
                assert_int_equal(again.kind, spec.kind);
                assert_string_equal(again.device, spec.device);
        }
}

static void test_backend_spec_format_longest_fits(void **state) {
        BackendSpec spec = { .kind = BACKEND_OPENCL };
        char buf[BACKEND_SPEC_STRING_MAX];
        memset(spec.device, 'd', BACKEND_SPEC_DEVICE_MAX);
        spec.device[BACKEND_SPEC_DEVICE_MAX] = '\0';
        backend_spec_format(&spec, buf, sizeof(buf));
        assert_int_equal(strlen(buf), strlen("opencl:") + BACKEND_SPEC_DEVICE_MAX);
}

static void test_backend_spec_format_small_buffer(void **state) {
        BackendSpec spec = { .kind = BACKEND_OPENCL, .device = "pthread" };
        char buf[5];
        assert_string_equal(backend_spec_format(&spec, buf, sizeof(buf)), "open");
}

/* ---- the kind table ------------------------------------------------------------------------ */

static void test_backend_kind_table_selfcheck(void **state) {
        for (int k = 0; k < _BACKEND_KIND_MAX; k++) {
                const char *s = backend_kind_to_string((BackendKind) k);
                assert_non_null(s);
                assert_int_equal(backend_kind_from_string(s), k);
        }
        assert_null(backend_kind_to_string(_BACKEND_KIND_MAX));
        assert_null(backend_kind_to_string(_BACKEND_KIND_INVALID));
        assert_int_equal(backend_kind_from_string("gpu"), _BACKEND_KIND_INVALID);
        assert_int_equal(backend_kind_from_string(NULL), _BACKEND_KIND_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backend_spec_parse_good),
                cmocka_unit_test(test_backend_spec_parse_device_length_limit),
                cmocka_unit_test(test_backend_spec_parse_bad),
                cmocka_unit_test(test_backend_spec_parse_null),
                cmocka_unit_test(test_backend_spec_parse_long_garbage),
                cmocka_unit_test(test_backend_spec_format_round_trip),
                cmocka_unit_test(test_backend_spec_format_longest_fits),
                cmocka_unit_test(test_backend_spec_format_small_buffer),
                cmocka_unit_test(test_backend_kind_table_selfcheck),
        };
        return cmocka_run_group_tests_name("backend-spec.c", tests, NULL, NULL);
}
