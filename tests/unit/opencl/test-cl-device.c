/* Unit tests for opencl/cl-device.c and cl-drm.c. Listing and choosing run on whatever OpenCL the
 * machine has (POCL in CI: one CPU device) and derive what they expect from the list itself, never
 * from a hard-coded machine; the DRM matching and the sysfs lookups run on made-up nodes and a
 * fake /sys tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl-device.h"
#include "cl-drm.h"
#include "harness/test-util.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

static ClDevice *list_devices(size_t *ret_n) {
        ClDevice *devs = NULL;
        GemmaError err = { 0 };
        int r = cl_devices_list(&devs, ret_n, &err);
        if (r < 0)
                fail_msg("cl_devices_list: %d %s", r, err.message);
        if (*ret_n == 0)
                fail_msg("no OpenCL device listed (%s); the tests need POCL with POCL_CACHE_DIR writable",
                         err.message);
        return devs;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f)
                fail_msg("cannot create %s", path);
        fputs(text, f);
        fclose(f);
}

static void make_dirs(const char *root, const char *rel) {
        char *cmd;
        assert_true(asprintf(&cmd, "mkdir -p '%s/%s'", root, rel) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

/* ---- cl_platforms_list, cl_devices_list ----------------------------------------------------- */

static void test_cl_platforms_list_sorted(void **state) {
        ClPlatform *p = NULL;
        size_t n = 0;
        GemmaError err = { 0 };
        assert_int_equal(cl_platforms_list(&p, &n, &err), 0);
        assert_true(n >= 1);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(p[i].index, i);
                assert_true(p[i].name[0] != '\0');
                if (i > 0 && strcmp(p[i - 1].name, p[i].name) > 0)
                        fail_msg("platforms not sorted: '%s' before '%s'", p[i - 1].name, p[i].name);
                if (p[i].n_devices == 0)
                        assert_int_not_equal(p[i].devices_error, CL_SUCCESS);
        }
        free(p);
}

static void test_cl_devices_list_fields(void **state) {
        size_t n = 0, n_pocl = 0, n_from_platforms = 0;
        ClDevice *devs = list_devices(&n);
        ClPlatform *p = NULL;
        size_t np = 0;

        for (size_t i = 0; i < n; i++) {
                const ClDevice *d = &devs[i];
                assert_int_equal(d->index, i);
                assert_non_null(d->id);
                assert_non_null(d->platform);
                if (!d->name[0] || !d->platform_name[0] || !d->vendor[0] || !d->driver_version[0] || !d->version[0] ||
                    !d->c_version[0])
                        fail_msg("device #%zu has an empty field: name '%s' platform '%s' vendor '%s' driver '%s' "
                                 "version '%s' C '%s'",
                                 i, d->name, d->platform_name, d->vendor, d->driver_version, d->version, d->c_version);
                assert_true(d->global_mem > 0);
                assert_true(d->max_alloc > 0 && d->max_alloc <= d->global_mem);
                assert_true(d->compute_units > 0);
                assert_false(d->is_gpu && d->is_cpu);
                assert_true(strncmp(d->version, "OpenCL ", 7) == 0);
                assert_true(strncmp(d->c_version, "OpenCL C ", 9) == 0);
                /* A CPU device has no render node; a node, when there is one, is a render node. */
                if (d->is_cpu)
                        assert_string_equal(d->drm_node, "");
                if (d->drm_node[0])
                        assert_true(strncmp(d->drm_node, "/dev/dri/renderD", 16) == 0);
                if (strstr(d->platform_name, "Portable Computing Language")) {
                        /* POCL's device runs on the CPU (TESTING.md §2). */
                        assert_true(d->is_cpu);
                        assert_false(d->has_pci);
                        n_pocl++;
                }
        }
        fprintf(stderr, "# %zu OpenCL device(s), %zu from POCL\n", n, n_pocl);

        /* The per-platform counts add up to the list. */
        assert_int_equal(cl_platforms_list(&p, &np, NULL), 0);
        for (size_t i = 0; i < np; i++)
                n_from_platforms += p[i].n_devices;
        assert_int_equal(n_from_platforms, n);
        free(p);
        free(devs);
}

/* Two listings give the same order: indices are what users write in 'opencl:INDEX'. */
static void test_cl_devices_list_stable(void **state) {
        size_t n1, n2;
        ClDevice *a = list_devices(&n1), *b = list_devices(&n2);
        assert_int_equal(n1, n2);
        for (size_t i = 0; i < n1; i++) {
                assert_string_equal(a[i].name, b[i].name);
                assert_string_equal(a[i].platform_name, b[i].platform_name);
                assert_ptr_equal(a[i].id, b[i].id);
        }
        free(a);
        free(b);
}

/* ---- cl_device_choose ----------------------------------------------------------------------- */

static void test_cl_device_choose_index(void **state) {
        size_t n;
        ClDevice *devs = list_devices(&n);
        for (size_t i = 0; i < n; i++) {
                char spec[32];
                ClDevice d;
                GemmaError err = { 0 };
                snprintf(spec, sizeof(spec), "%zu", i);
                assert_int_equal(cl_device_choose(spec, &d, &err), 0);
                assert_int_equal(d.index, i);
                assert_ptr_equal(d.id, devs[i].id);
                assert_string_equal(d.name, devs[i].name);
        }
        /* Leading zeros are still the index. */
        ClDevice d;
        assert_int_equal(cl_device_choose("000", &d, NULL), 0);
        assert_int_equal(d.index, 0);
        free(devs);
}

static void test_cl_device_choose_name(void **state) {
        size_t n;
        ClDevice *devs = list_devices(&n);
        /* A piece of the last device's name, upper-cased: the first device whose name or platform
         * name holds it, ignoring case, is the answer (computed here from the list). */
        const ClDevice *target = &devs[n - 1];
        char piece[8] = "";
        size_t len = strlen(target->name) < 5 ? strlen(target->name) : 5;
        for (size_t i = 0; i < len; i++)
                piece[i] = (char) toupper((unsigned char) target->name[i]);
        size_t want = n;
        for (size_t i = 0; i < n && want == n; i++)
                if (strcasestr(devs[i].name, piece) || strcasestr(devs[i].platform_name, piece))
                        want = i;
        ClDevice d;
        GemmaError err = { 0 };
        int r = cl_device_choose(piece, &d, &err);
        if (r != 0)
                fail_msg("cl_device_choose('%s'): %d %s", piece, r, err.message);
        assert_int_equal(d.index, want);

        /* The platform name works as well. */
        r = cl_device_choose(devs[0].platform_name, &d, &err);
        assert_int_equal(r, 0);
        assert_string_equal(d.platform_name, devs[0].platform_name);
        free(devs);
}

static void test_cl_device_choose_bad_index(void **state) {
        size_t n;
        ClDevice *devs = list_devices(&n);
        ClDevice d = { .index = 4242 };
        GemmaError err = { 0 };
        char spec[32], first[160];

        snprintf(spec, sizeof(spec), "%zu", n);
        assert_int_equal(cl_device_choose(spec, &d, &err), -ENODEV);
        assert_int_equal(err.code, -ENODEV);
        assert_non_null(strstr(err.message, "no OpenCL device with index"));
        /* The message names what exists. */
        snprintf(first, sizeof(first), "#0 '%s'", devs[0].name);
        if (!strstr(err.message, first))
                fail_msg("'%s' does not name '%s'", err.message, first);
        assert_int_equal(d.index, 4242);

        /* An index beyond any integer type is the same error, not a wrap-around. */
        assert_int_equal(cl_device_choose("184467440737095516160", &d, &err), -ENODEV);
        assert_non_null(strstr(err.message, "no OpenCL device with index"));
        assert_int_equal(d.index, 4242);
        free(devs);
}

static void test_cl_device_choose_bad_name(void **state) {
        size_t n;
        ClDevice *devs = list_devices(&n);
        ClDevice d = { .index = 4242 };
        GemmaError err = { 0 };

        assert_int_equal(cl_device_choose("no-such-device-xyz", &d, &err), -ENODEV);
        assert_non_null(strstr(err.message, "no OpenCL device matches 'no-such-device-xyz'"));
        assert_non_null(strstr(err.message, devs[0].name));
        assert_int_equal(d.index, 4242);
        free(devs);
}

/* auto takes the first GPU or, on a machine without one, refuses and names the devices there. */
static void test_cl_device_choose_auto(void **state) {
        static const char *const specs[] = { "auto", "", NULL };
        size_t n, first_gpu = SIZE_MAX;
        ClDevice *devs = list_devices(&n);

        for (size_t i = 0; i < n && first_gpu == SIZE_MAX; i++)
                if (devs[i].is_gpu)
                        first_gpu = i;
        for (size_t k = 0; k < N_ELEMS(specs); k++) {
                ClDevice d = { .index = 4242 };
                GemmaError err = { 0 };
                int r = cl_device_choose(specs[k], &d, &err);
                if (first_gpu != SIZE_MAX) {
                        assert_int_equal(r, 0);
                        assert_int_equal(d.index, first_gpu);
                        assert_true(d.is_gpu);
                } else {
                        assert_int_equal(r, -ENODEV);
                        assert_non_null(strstr(err.message, "no OpenCL GPU found (devices: #0 '"));
                        assert_non_null(strstr(err.message, devs[0].name));
                        assert_int_equal(d.index, 4242);
                }
        }
        fprintf(stderr, "# auto: %s\n", first_gpu != SIZE_MAX ? devs[first_gpu].name : "no GPU");
        free(devs);
}

/* ---- cl_drm_match (made-up devices and nodes) ------------------------------------------------ */

static ClDevice gpu(uint32_t vendor, bool pci, uint32_t dom, uint32_t bus, uint32_t dev, uint32_t fn) {
        return (ClDevice) { .is_gpu = true, .vendor_id = vendor, .has_pci = pci, .pci_domain = dom, .pci_bus = bus,
                            .pci_device = dev, .pci_function = fn, .drm_node = "stale" };
}

static ClDrmNode node(const char *path, uint32_t vendor, uint32_t dom, uint32_t bus, uint32_t dev, uint32_t fn) {
        ClDrmNode x = { .is_pci = true, .vendor_id = vendor, .pci_domain = dom, .pci_bus = bus, .pci_device = dev,
                        .pci_function = fn };
        snprintf(x.render_node, sizeof(x.render_node), "%s", path);
        return x;
}

static void test_cl_drm_match_pci_address(void **state) {
        const ClDrmNode nodes[] = {
                node("/dev/dri/renderD128", 0x8086, 0, 0x00, 0x02, 0),
                node("/dev/dri/renderD129", 0x1002, 0, 0x03, 0x00, 0),
                node("/dev/dri/renderD130", 0x1002, 1, 0x03, 0x00, 0),
        };
        ClDevice devs[] = {
                gpu(0x1002, true, 1, 0x03, 0x00, 0),     /* same bus/device as D129, other domain */
                gpu(0x1002, true, 0, 0x03, 0x00, 0),
                gpu(0x8086, true, 0, 0x00, 0x02, 0),
                gpu(0x8086, true, 0, 0x00, 0x02, 1),     /* another function: no node */
        };
        cl_drm_match(devs, N_ELEMS(devs), nodes, N_ELEMS(nodes));
        assert_string_equal(devs[0].drm_node, "/dev/dri/renderD130");
        assert_string_equal(devs[1].drm_node, "/dev/dri/renderD129");
        assert_string_equal(devs[2].drm_node, "/dev/dri/renderD128");
        assert_string_equal(devs[3].drm_node, "");
}

static void test_cl_drm_match_vendor_fallback(void **state) {
        const ClDrmNode one_amd[] = {
                node("/dev/dri/renderD128", 0x8086, 0, 0x00, 0x02, 0),
                node("/dev/dri/renderD129", 0x1002, 0, 0x03, 0x00, 0),
        };
        const ClDrmNode two_amd[] = {
                node("/dev/dri/renderD128", 0x1002, 0, 0x03, 0x00, 0),
                node("/dev/dri/renderD129", 0x1002, 0, 0x04, 0x00, 0),
        };
        ClDevice d = gpu(0x1002, false, 0, 0, 0, 0);

        /* One GPU of the vendor: that is the one. */
        cl_drm_match(&d, 1, one_amd, N_ELEMS(one_amd));
        assert_string_equal(d.drm_node, "/dev/dri/renderD129");
        /* Two of them and no PCI address: no guess. */
        cl_drm_match(&d, 1, two_amd, N_ELEMS(two_amd));
        assert_string_equal(d.drm_node, "");
        /* A vendor with no node. */
        d = gpu(0x10de, false, 0, 0, 0, 0);
        cl_drm_match(&d, 1, one_amd, N_ELEMS(one_amd));
        assert_string_equal(d.drm_node, "");
        /* A device with a PCI address never falls back to the vendor. */
        d = gpu(0x1002, true, 0, 0x09, 0, 0);
        cl_drm_match(&d, 1, one_amd, N_ELEMS(one_amd));
        assert_string_equal(d.drm_node, "");
}

static void test_cl_drm_match_cpu_and_no_nodes(void **state) {
        const ClDrmNode nodes[] = { node("/dev/dri/renderD128", 0x1002, 0, 0x03, 0x00, 0) };
        ClDevice cpu = { .is_cpu = true, .vendor_id = 0x1002, .drm_node = "stale" };
        ClDevice g = gpu(0x1002, true, 0, 0x03, 0x00, 0);

        cl_drm_match(&cpu, 1, nodes, N_ELEMS(nodes));
        assert_string_equal(cpu.drm_node, "");
        /* Machines here have no DRM device at all. */
        cl_drm_match(&g, 1, NULL, 0);
        assert_string_equal(g.drm_node, "");
}

static void test_cl_drm_nodes_list_copes(void **state) {
        ClDrmNode *nodes = NULL;
        size_t n = 1234;
        assert_int_equal(cl_drm_nodes_list(&nodes, &n), 0);
        assert_true(n < 1234);
        assert_true((n == 0) == (nodes == NULL));
        for (size_t i = 0; i < n; i++)
                assert_true(strncmp(nodes[i].render_node, "/dev/dri/renderD", 16) == 0);
        fprintf(stderr, "# %zu DRM render node(s)\n", n);
        free(nodes);
}

/* ---- sysfs lookups (fake tree) --------------------------------------------------------------- */

static void test_cl_drm_driver_name_sysfs(void **state) {
        char *root = test_tmpdir();
        char path[4096], buf[32], small[4];
        assert_non_null(root);

        make_dirs(root, "class/drm/renderD128/device");
        make_dirs(root, "bus/pci/drivers/amdgpu");
        snprintf(path, sizeof(path), "%s/class/drm/renderD128/device/driver", root);
        assert_int_equal(symlink("../../../../bus/pci/drivers/amdgpu", path), 0);

        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/renderD128", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "amdgpu");
        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/renderD128", small, sizeof(small)), -ENAMETOOLONG);
        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/renderD129", buf, sizeof(buf)), -ENOENT);
        /* Only /dev/dri/renderDN names are looked up: nothing walks out of class/drm. */
        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/../../etc", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/card0", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cl_drm_driver_name(root, "/dev/dri/renderD12x", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cl_drm_driver_name(root, "", buf, sizeof(buf)), -EINVAL);
        test_tmpdir_remove(root);
}

static void test_cl_drm_hwmon_temp_path(void **state) {
        char *root = test_tmpdir();
        char path[4096], want[4096], buf[4096];
        assert_non_null(root);

        /* No hwmon directory at all. */
        make_dirs(root, "class/drm/renderD128/device");
        assert_int_equal(cl_drm_hwmon_temp_path(root, "/dev/dri/renderD128", buf, sizeof(buf)), -ENOENT);

        /* hwmon1 has no temperature; hwmon3 and hwmon10 have one: the lowest with one wins. */
        make_dirs(root, "class/drm/renderD128/device/hwmon/hwmon1");
        make_dirs(root, "class/drm/renderD128/device/hwmon/hwmon10");
        make_dirs(root, "class/drm/renderD128/device/hwmon/hwmon3");
        make_dirs(root, "class/drm/renderD128/device/hwmon/hwmonX");
        snprintf(path, sizeof(path), "%s/class/drm/renderD128/device/hwmon/hwmon10/temp1_input", root);
        write_file(path, "51000\n");
        snprintf(path, sizeof(path), "%s/class/drm/renderD128/device/hwmon/hwmon3/temp1_input", root);
        write_file(path, "48000\n");
        snprintf(path, sizeof(path), "%s/class/drm/renderD128/device/hwmon/hwmonX/temp1_input", root);
        write_file(path, "1\n");

        snprintf(want, sizeof(want), "%s/class/drm/renderD128/device/hwmon/hwmon3/temp1_input", root);
        assert_int_equal(cl_drm_hwmon_temp_path(root, "/dev/dri/renderD128", buf, sizeof(buf)), 0);
        assert_string_equal(buf, want);
        assert_int_equal(cl_drm_hwmon_temp_path(root, "/dev/dri/renderD128", buf, 10), -ENAMETOOLONG);
        assert_int_equal(cl_drm_hwmon_temp_path(root, "/dev/dri/renderD129", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(cl_drm_hwmon_temp_path(root, "/dev/dri/../x", buf, sizeof(buf)), -ENOENT);
        test_tmpdir_remove(root);
}

static void test_cl_device_hwmon_temp_path_no_node(void **state) {
        ClDevice d = { .is_cpu = true };
        char buf[256];
        assert_int_equal(cl_device_hwmon_temp_path(&d, buf, sizeof(buf)), -ENOENT);
}

/* ---- small helpers ----------------------------------------------------------------------------- */

static void test_cl_device_pci_string(void **state) {
        ClDevice d = { .has_pci = true, .pci_domain = 0, .pci_bus = 0x3, .pci_device = 0x1f, .pci_function = 7 };
        char buf[16];
        assert_string_equal(cl_device_pci_string(&d, buf, sizeof(buf)), "0000:03:1f.7");
        d.has_pci = false;
        assert_string_equal(cl_device_pci_string(&d, buf, sizeof(buf)), "-");
}

static void test_cl_extension_listed(void **state) {
        const char *ext = "cl_khr_fp64 cl_khr_fp16x cl_khr_int64 xcl_khr_fp16 cl_khr_pci_bus_info";
        assert_true(cl_extension_listed(ext, "cl_khr_fp64"));
        assert_true(cl_extension_listed(ext, "cl_khr_pci_bus_info"));
        assert_false(cl_extension_listed(ext, "cl_khr_fp16"));
        assert_false(cl_extension_listed(ext, "cl_khr"));
        assert_false(cl_extension_listed(NULL, "cl_khr_fp64"));
        assert_false(cl_extension_listed(ext, ""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cl_platforms_list_sorted),
                cmocka_unit_test(test_cl_devices_list_fields),
                cmocka_unit_test(test_cl_devices_list_stable),
                cmocka_unit_test(test_cl_device_choose_index),
                cmocka_unit_test(test_cl_device_choose_name),
                cmocka_unit_test(test_cl_device_choose_bad_index),
                cmocka_unit_test(test_cl_device_choose_bad_name),
                cmocka_unit_test(test_cl_device_choose_auto),
                cmocka_unit_test(test_cl_drm_match_pci_address),
                cmocka_unit_test(test_cl_drm_match_vendor_fallback),
                cmocka_unit_test(test_cl_drm_match_cpu_and_no_nodes),
                cmocka_unit_test(test_cl_drm_nodes_list_copes),
                cmocka_unit_test(test_cl_drm_driver_name_sysfs),
                cmocka_unit_test(test_cl_drm_hwmon_temp_path),
                cmocka_unit_test(test_cl_device_hwmon_temp_path_no_node),
                cmocka_unit_test(test_cl_device_pci_string),
                cmocka_unit_test(test_cl_extension_listed),
        };
        return cmocka_run_group_tests_name("cl-device.c", tests, NULL, NULL);
}
