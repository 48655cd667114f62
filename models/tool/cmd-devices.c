/* gemma-model devices: the OpenCL platforms and devices of this machine as gemmad sees them, with
 * the indices and names its backend option accepts. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#ifdef GEMMAD_HAVE_OPENCL
#include "cl-device.h"
#endif

static void help(FILE *out) {
        fputs("Usage: gemma-model devices [--json]\n"
              "\n"
              "List the OpenCL platforms and devices of this machine as gemmad sees them, numbered the\n"
              "way its backend option 'opencl:INDEX' counts them, and say which device 'auto' picks.\n"
              "\n"
              "For each device: index, platform, name, type (GPU, CPU or accelerator), vendor, driver\n"
              "version, OpenCL and OpenCL C versions, global memory and largest single allocation in\n"
              "MiB, compute units, whether half-precision arithmetic (cl_khr_fp16) is offered, the PCI\n"
              "address, and the DRM render node and kernel driver the device was matched to. A '-'\n"
              "means none: CPU devices have no render node, and a GPU whose driver reports no PCI\n"
              "address is matched only when it is the one GPU of its vendor.\n"
              "\n"
              "Devices are numbered in a stable order: platforms sorted by name, then each driver's own\n"
              "order. 'opencl:NAME' picks the first device whose name or platform name contains NAME\n"
              "(any case). 'auto' picks the first GPU; without one gemmad runs on its CPU backend, which\n"
              "is faster than OpenCL on a CPU (such as POCL), so CPU devices are used only when named.\n"
              "\n"
              "A machine without an OpenCL driver (no ICD installed) has no platforms. That is reported\n"
              "and is not an error.\n"
              "\n"
              "Options:\n"
              "  --json      one JSON object on stdout:\n"
              "                platforms  [{index, name, vendor, version, n_devices, error}]\n"
              "                devices    [{index, platform, name, vendor, type, driver_version, version,\n"
              "                             c_version, global_mem_bytes, max_alloc_bytes,\n"
              "                             compute_units, fp16, pci, vendor_id, drm_node,\n"
              "                             drm_driver}]\n"
              "                auto       index of the device 'auto' picks, or null\n"
              "                auto_error why 'auto' finds none, or null\n"
              "                note       why the device list is empty, or null\n"
              "              (absent values are null)\n"
              "  -h, --help  show this help\n"
              "\n"
              "Environment:\n"
              "  OCL_ICD_VENDORS  the ICD files the loader reads: a directory or one .icd file\n"
              "                   (default /etc/OpenCL/vendors)\n"
              "  POCL_CACHE_DIR   POCL's kernel cache; POCL hides its device when it cannot write there\n"
              "\n"
              "Exit status: 0 success (also when there is no OpenCL platform), 1 this gemma-model was built\n"
              "without OpenCL support or listing failed, 2 bad command line.\n",
              out);
}

#ifdef GEMMAD_HAVE_OPENCL

static double mib(uint64_t bytes) {
        return (double) bytes / (1024.0 * 1024.0);
}

static const char *or_dash(const char *s) {
        return s && *s ? s : "-";
}

static json_object *string_or_null(const char *s) {
        return s && *s ? json_object_new_string(s) : NULL;
}

static void print_text(const ClPlatform *platforms, size_t n_platforms, const ClDevice *devs, size_t n,
                       const char *note, const ClDevice *chosen, const char *auto_error) {
        if (n_platforms == 0) {
                printf("%s\n", note);
                return;
        }
        printf("OpenCL platforms:\n");
        for (size_t i = 0; i < n_platforms; i++) {
                const ClPlatform *p = &platforms[i];
                printf("  %s (%s), %s: ", or_dash(p->name), or_dash(p->vendor), or_dash(p->version));
                if (p->n_devices)
                        printf("%u device%s\n", p->n_devices, p->n_devices == 1 ? "" : "s");
                else
                        printf("no devices (%s)\n", cl_error_name(p->devices_error));
        }
        if (n == 0) {
                printf("\n%s\n", note);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const ClDevice *d = &devs[i];
                char pci[32];
                printf("\n#%u  %s\n", d->index, or_dash(d->name));
                printf("    platform:        %s\n", or_dash(d->platform_name));
                printf("    type:            %s\n", cl_device_type_string(d));
                printf("    vendor:          %s (id 0x%04" PRIx32 ")\n", or_dash(d->vendor), d->vendor_id);
                printf("    driver version:  %s\n", or_dash(d->driver_version));
                printf("    OpenCL:          %s\n", or_dash(d->version));
                printf("    OpenCL C:        %s\n", or_dash(d->c_version));
                printf("    global memory:   %.0f MiB\n", mib(d->global_mem));
                printf("    max allocation:  %.0f MiB\n", mib(d->max_alloc));
                printf("    compute units:   %" PRIu32 "\n", d->compute_units);
                printf("    fp16:            %s\n", d->fp16 ? "yes" : "no");
                printf("    PCI address:     %s\n", cl_device_pci_string(d, pci, sizeof(pci)));
                printf("    DRM render node: %s\n", or_dash(d->drm_node));
                printf("    DRM driver:      %s\n", or_dash(d->drm_driver));
        }
        if (chosen)
                printf("\nauto: #%u '%s'\n", chosen->index, chosen->name);
        else
                printf("\nauto: %s; gemmad uses its CPU backend\n", auto_error);
}

static int print_json(const ClPlatform *platforms, size_t n_platforms, const ClDevice *devs, size_t n,
                      const char *note, const ClDevice *chosen, const char *auto_error) {
        json_object *o = json_object_new_object(), *jp = json_object_new_array(), *jd = json_object_new_array();

        if (!o || !jp || !jd) {
                json_object_put(o);
                json_object_put(jp);
                json_object_put(jd);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_platforms; i++) {
                const ClPlatform *p = &platforms[i];
                json_object *x = json_object_new_object();
                json_object_object_add(x, "index", json_object_new_int((int) p->index));
                json_object_object_add(x, "name", json_object_new_string(p->name));
                json_object_object_add(x, "vendor", json_object_new_string(p->vendor));
                json_object_object_add(x, "version", json_object_new_string(p->version));
                json_object_object_add(x, "n_devices", json_object_new_int((int) p->n_devices));
                json_object_object_add(x, "error",
                                       p->n_devices ? NULL : json_object_new_string(cl_error_name(p->devices_error)));
                json_object_array_add(jp, x);
        }
        for (size_t i = 0; i < n; i++) {
                const ClDevice *d = &devs[i];
                json_object *x = json_object_new_object();
                char pci[32];
                json_object_object_add(x, "index", json_object_new_int((int) d->index));
                json_object_object_add(x, "platform", json_object_new_string(d->platform_name));
                json_object_object_add(x, "name", json_object_new_string(d->name));
                json_object_object_add(x, "vendor", json_object_new_string(d->vendor));
                json_object_object_add(x, "type", json_object_new_string(cl_device_type_string(d)));
                json_object_object_add(x, "driver_version", json_object_new_string(d->driver_version));
                json_object_object_add(x, "version", json_object_new_string(d->version));
                json_object_object_add(x, "c_version", json_object_new_string(d->c_version));
                json_object_object_add(x, "global_mem_bytes", json_object_new_int64((int64_t) d->global_mem));
                json_object_object_add(x, "max_alloc_bytes", json_object_new_int64((int64_t) d->max_alloc));
                json_object_object_add(x, "compute_units", json_object_new_int64(d->compute_units));
                json_object_object_add(x, "fp16", json_object_new_boolean(d->fp16));
                json_object_object_add(x, "pci", d->has_pci ? json_object_new_string(cl_device_pci_string(d, pci, sizeof(pci))) : NULL);
                json_object_object_add(x, "vendor_id", json_object_new_int64(d->vendor_id));
                json_object_object_add(x, "drm_node", string_or_null(d->drm_node));
                json_object_object_add(x, "drm_driver", string_or_null(d->drm_driver));
                json_object_array_add(jd, x);
        }
        json_object_object_add(o, "platforms", jp);
        json_object_object_add(o, "devices", jd);
        json_object_object_add(o, "auto", chosen ? json_object_new_int((int) chosen->index) : NULL);
        json_object_object_add(o, "auto_error", chosen ? NULL : string_or_null(auto_error));
        json_object_object_add(o, "note", n == 0 ? string_or_null(note) : NULL);
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
}

static int list_devices(bool json) {
        _cleanup_free_ ClPlatform *platforms = NULL;
        _cleanup_free_ ClDevice *devs = NULL;
        GemmaError note = { 0 }, auto_err = { 0 };
        size_t n_platforms = 0, n = 0;
        ClDevice chosen;
        bool have_chosen;

        if (cl_platforms_list(&platforms, &n_platforms, &note) < 0 || cl_devices_list(&devs, &n, &note) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&note));
                return EXIT_FAILED;
        }
        /* The same rule gemmad applies, from the same function, so the two never disagree. */
        have_chosen = cl_device_choose("auto", &chosen, &auto_err) == 0;
        if (json) {
                if (print_json(platforms, n_platforms, devs, n, note.message, have_chosen ? &chosen : NULL,
                               auto_err.message) < 0) {
                        fprintf(stderr, "gemma-model: out of memory\n");
                        return EXIT_FAILED;
                }
        } else
                print_text(platforms, n_platforms, devs, n, gemma_error_message(&note), have_chosen ? &chosen : NULL,
                           gemma_error_message(&auto_err));
        return EXIT_OK;
}

#endif

int cmd_devices(int argc, char **argv) {
        enum { OPT_JSON = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, OPT_JSON },
                {},
        };
        bool json = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_JSON: json = true; break;
                default: return EXIT_USAGE;
                }
        if (optind != argc) {
                usage_error("devices: unexpected argument '%s'", argv[optind]);
                return EXIT_USAGE;
        }
#ifdef GEMMAD_HAVE_OPENCL
        return list_devices(json);
#else
        (void) json;
        fprintf(stderr, "gemma-model: devices: this gemma-model was built without OpenCL support "
                        "(rebuild with the OpenCL ICD loader and libdrm installed, meson -Dopencl=enabled)\n");
        return EXIT_FAILED;
#endif
}
