/* cl-device.c on a machine where OpenCL lists nothing: run with OCL_ICD_VENDORS pointing at no
 * ICD ("no-icd"), or with POCL_CACHE_DIR unwritable so POCL hides its device ("pocl-hidden").
 * Both are normal states: listing succeeds with zero devices and says why; every choice is
 * -ENODEV with that reason. Usage: test-cl-device-absent no-icd|pocl-hidden */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl-device.h"

static const char *mode;

static const char *expected_reason(void) {
        return strcmp(mode, "no-icd") == 0
                       ? "no OpenCL platforms (no ICD installed)"
                       : "OpenCL platforms list no devices ('Portable Computing Language': CL_DEVICE_NOT_FOUND (POCL hides its device when its cache directory is not writable: set POCL_CACHE_DIR))";
}

static void test_cl_devices_list_empty(void **state) {
        ClDevice *devs = (ClDevice *) 1;
        size_t n = 99;
        GemmaError err = { .code = -1 };

        assert_int_equal(cl_devices_list(&devs, &n, &err), 0);
        assert_int_equal(n, 0);
        assert_null(devs);
        /* An answer, not a failure: code 0, the reason in the message. */
        assert_int_equal(err.code, 0);
        assert_string_equal(err.message, expected_reason());
        /* err is optional. */
        assert_int_equal(cl_devices_list(&devs, &n, NULL), 0);
        assert_int_equal(n, 0);
}

static void test_cl_platforms_list_absent(void **state) {
        ClPlatform *p = NULL;
        size_t n = 0;
        assert_int_equal(cl_platforms_list(&p, &n, NULL), 0);
        if (strcmp(mode, "no-icd") == 0) {
                assert_int_equal(n, 0);
                assert_null(p);
        } else {
                assert_true(n >= 1);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(p[i].n_devices, 0);
                        assert_int_equal(p[i].devices_error, CL_DEVICE_NOT_FOUND);
                }
        }
        free(p);
}

static void test_cl_device_choose_nothing(void **state) {
        static const char *const specs[] = { "auto", "0", "pthread" };
        static const char *const prefixes[] = {
                "no OpenCL GPU found: ",
                "no OpenCL device with index 0: ",
                "no OpenCL device matches 'pthread': ",
        };
        for (size_t i = 0; i < 3; i++) {
                ClDevice d = { .index = 4242 };
                GemmaError err = { 0 };
                char want[GEMMA_ERROR_MESSAGE_MAX];
                assert_int_equal(cl_device_choose(specs[i], &d, &err), -ENODEV);
                snprintf(want, sizeof(want), "%s%s", prefixes[i], expected_reason());
                assert_string_equal(err.message, want);
                assert_int_equal(d.index, 4242);
        }
}

int main(int argc, char **argv) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cl_devices_list_empty),
                cmocka_unit_test(test_cl_platforms_list_absent),
                cmocka_unit_test(test_cl_device_choose_nothing),
        };
        if (argc != 2 || (strcmp(argv[1], "no-icd") != 0 && strcmp(argv[1], "pocl-hidden") != 0)) {
                fprintf(stderr, "usage: %s no-icd|pocl-hidden\n", argv[0]);
                return 2;
        }
        mode = argv[1];
        return cmocka_run_group_tests_name(mode, tests, NULL, NULL);
}
