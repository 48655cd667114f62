/* OpenCL platform and device enumeration, capability probe, the device choice by spec, and the
 * link to DRM (see cl-drm.c). */
#include "cl-device.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cl-drm.h"

/* Sanity bounds on what an ICD reports; real machines have a handful of each. */
#define PLATFORMS_MAX 64
#define DEVICES_PER_PLATFORM_MAX 256

/* Vendor queries for the PCI address, for drivers without cl_khr_pci_bus_info. The values are
 * those of the vendors' extension specifications; they are spelled out so that older headers do
 * not matter. */
#define GEMMAD_CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
#define GEMMAD_CL_DEVICE_PCI_BUS_ID_NV 0x4008
#define GEMMAD_CL_DEVICE_PCI_SLOT_ID_NV 0x4009
#define GEMMAD_CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A
#define GEMMAD_CL_DEVICE_TOPOLOGY_AMD 0x4037
#define GEMMAD_CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD 1

typedef struct {
        cl_uint pci_domain, pci_bus, pci_device, pci_function;
} PciBusInfoKhr;

typedef union {
        struct {
                cl_uint type;
                cl_uint data[5];
        } raw;
        struct {
                cl_uint type;
                cl_char unused[17];
                cl_char bus, device, function;
        } pcie;
} TopologyAmd;

static void probe_pci(ClDevice *d, const char *extensions) {
        if (cl_extension_listed(extensions, "cl_khr_pci_bus_info")) {
                PciBusInfoKhr info;
                if (clGetDeviceInfo(d->id, GEMMAD_CL_DEVICE_PCI_BUS_INFO_KHR, sizeof(info), &info, NULL) == CL_SUCCESS) {
                        d->pci_domain = info.pci_domain;
                        d->pci_bus = info.pci_bus;
                        d->pci_device = info.pci_device;
                        d->pci_function = info.pci_function;
                        d->has_pci = true;
                        return;
                }
        }
        if (cl_extension_listed(extensions, "cl_nv_device_attribute_query")) {
                cl_uint bus, slot, domain = 0;
                if (clGetDeviceInfo(d->id, GEMMAD_CL_DEVICE_PCI_BUS_ID_NV, sizeof(bus), &bus, NULL) == CL_SUCCESS &&
                    clGetDeviceInfo(d->id, GEMMAD_CL_DEVICE_PCI_SLOT_ID_NV, sizeof(slot), &slot, NULL) == CL_SUCCESS) {
                        /* The domain query is newer than the other two; older drivers mean 0. */
                        if (clGetDeviceInfo(d->id, GEMMAD_CL_DEVICE_PCI_DOMAIN_ID_NV, sizeof(domain), &domain, NULL) !=
                            CL_SUCCESS)
                                domain = 0;
                        d->pci_domain = domain;
                        d->pci_bus = bus;
                        d->pci_device = slot >> 3;
                        d->pci_function = slot & 7;
                        d->has_pci = true;
                        return;
                }
        }
        if (cl_extension_listed(extensions, "cl_amd_device_attribute_query")) {
                TopologyAmd t;
                if (clGetDeviceInfo(d->id, GEMMAD_CL_DEVICE_TOPOLOGY_AMD, sizeof(t), &t, NULL) == CL_SUCCESS &&
                    t.raw.type == GEMMAD_CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD) {
                        d->pci_domain = 0;
                        d->pci_bus = (uint8_t) t.pcie.bus;
                        d->pci_device = (uint8_t) t.pcie.device;
                        d->pci_function = (uint8_t) t.pcie.function;
                        d->has_pci = true;
                }
        }
}

/* Fills everything but the index and the DRM fields. A query a driver does not answer leaves
 * its field zero or empty: listing must not fail because one property is missing. */
static int probe_device(ClDevice *d, const ClPlatform *p, cl_device_id id) {
        cl_device_type type = 0;
        cl_ulong global_mem = 0, max_alloc = 0;
        cl_uint compute_units = 0, vendor_id = 0;
        size_t ext_size = 0;

        *d = (ClDevice) { .platform = p->id, .id = id };
        snprintf(d->platform_name, sizeof(d->platform_name), "%s", p->name);
        cl_device_info_string(id, CL_DEVICE_NAME, d->name, sizeof(d->name));
        cl_device_info_string(id, CL_DEVICE_VENDOR, d->vendor, sizeof(d->vendor));
        cl_device_info_string(id, CL_DRIVER_VERSION, d->driver_version, sizeof(d->driver_version));
        cl_device_info_string(id, CL_DEVICE_VERSION, d->version, sizeof(d->version));
        cl_device_info_string(id, CL_DEVICE_OPENCL_C_VERSION, d->c_version, sizeof(d->c_version));
        if (clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof(type), &type, NULL) == CL_SUCCESS) {
                d->is_gpu = type & CL_DEVICE_TYPE_GPU;
                d->is_cpu = type & CL_DEVICE_TYPE_CPU;
        }
        if (clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(global_mem), &global_mem, NULL) == CL_SUCCESS)
                d->global_mem = global_mem;
        if (clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(max_alloc), &max_alloc, NULL) == CL_SUCCESS)
                d->max_alloc = max_alloc;
        if (clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(compute_units), &compute_units, NULL) ==
            CL_SUCCESS)
                d->compute_units = compute_units;
        if (clGetDeviceInfo(id, CL_DEVICE_VENDOR_ID, sizeof(vendor_id), &vendor_id, NULL) == CL_SUCCESS)
                d->vendor_id = vendor_id;

        /* The extension list runs to kilobytes; it is read whole and only searched. */
        if (clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_size) == CL_SUCCESS && ext_size > 0) {
                _cleanup_free_ char *ext = malloc(ext_size + 1);
                if (!ext)
                        return -ENOMEM;
                if (clGetDeviceInfo(id, CL_DEVICE_EXTENSIONS, ext_size, ext, NULL) == CL_SUCCESS) {
                        ext[ext_size] = '\0';
                        d->fp16 = cl_extension_listed(ext, "cl_khr_fp16");
                        probe_pci(d, ext);
                }
        }
        return 0;
}

/* Records why a listing came out empty: code 0, since it is an answer rather than a failure. */
static void set_reason(GemmaError *err, const char *fmt, ...) _printf_(2, 3);
static void set_reason(GemmaError *err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        gemma_error_setv(err, 0, fmt, ap);
        va_end(ap);
}

int cl_platforms_list(ClPlatform **ret, size_t *ret_n, GemmaError *err) {
        cl_platform_id ids[PLATFORMS_MAX];
        _cleanup_free_ ClPlatform *platforms = NULL;
        cl_uint n = 0;
        cl_int e;

        /* ocl-icd answers CL_PLATFORM_NOT_FOUND_KHR when no ICD file is installed. */
        e = clGetPlatformIDs(PLATFORMS_MAX, ids, &n);
        if (e == CL_PLATFORM_NOT_FOUND_KHR || (e == CL_SUCCESS && n == 0)) {
                set_reason(err, "no OpenCL platforms (no ICD installed)");
                goto none;
        }
        if (e != CL_SUCCESS) {
                set_reason(err, "no OpenCL platforms (clGetPlatformIDs: %s)", cl_error_name(e));
                goto none;
        }
        n = MIN(n, (cl_uint) PLATFORMS_MAX);
        platforms = new0(ClPlatform, n);
        if (!platforms)
                return gemma_error_set(err, -ENOMEM, "out of memory listing OpenCL platforms");
        for (cl_uint i = 0; i < n; i++) {
                ClPlatform *p = &platforms[i];
                cl_uint n_devices = 0;

                p->id = ids[i];
                cl_platform_info_string(p->id, CL_PLATFORM_NAME, p->name, sizeof(p->name));
                cl_platform_info_string(p->id, CL_PLATFORM_VENDOR, p->vendor, sizeof(p->vendor));
                cl_platform_info_string(p->id, CL_PLATFORM_VERSION, p->version, sizeof(p->version));
                e = clGetDeviceIDs(p->id, CL_DEVICE_TYPE_ALL, 0, NULL, &n_devices);
                if (e != CL_SUCCESS)
                        n_devices = 0;
                p->n_devices = MIN(n_devices, (cl_uint) DEVICES_PER_PLATFORM_MAX);
                p->devices_error = n_devices == 0 ? (e != CL_SUCCESS ? e : CL_DEVICE_NOT_FOUND) : CL_SUCCESS;
        }
        /* The loader's platform order follows its ICD directory listing; sorting by name keeps
         * device indices stable when an unrelated ICD is installed or the directory reshuffled.
         * Insertion sort: stable, and n is tiny. */
        for (cl_uint i = 1; i < n; i++) {
                ClPlatform key = platforms[i];
                cl_uint j = i;
                for (; j > 0 && strcmp(platforms[j - 1].name, key.name) > 0; j--)
                        platforms[j] = platforms[j - 1];
                platforms[j] = key;
        }
        for (cl_uint i = 0; i < n; i++)
                platforms[i].index = i;
        *ret = TAKE_PTR(platforms);
        *ret_n = n;
        return 0;

none:
        *ret = NULL;
        *ret_n = 0;
        return 0;
}

/* Fills drm_node and drm_driver of the devices from libdrm's render nodes. */
static int match_drm(ClDevice *devs, size_t n) {
        _cleanup_free_ ClDrmNode *nodes = NULL;
        size_t n_nodes = 0;
        int r;

        r = cl_drm_nodes_list(&nodes, &n_nodes);
        if (r < 0)
                return r;
        cl_drm_match(devs, n, nodes, n_nodes);
        for (size_t i = 0; i < n; i++) {
                ClDevice *d = &devs[i];
                if (!d->drm_node[0])
                        continue;
                if (cl_drm_driver_name("/sys", d->drm_node, d->drm_driver, sizeof(d->drm_driver)) < 0 &&
                    cl_drm_driver_name_ioctl(d->drm_node, d->drm_driver, sizeof(d->drm_driver)) < 0)
                        d->drm_driver[0] = '\0';
        }
        return 0;
}

int cl_devices_list(ClDevice **ret, size_t *ret_n, GemmaError *err) {
        _cleanup_free_ ClPlatform *platforms = NULL;
        _cleanup_free_ ClDevice *devs = NULL;
        size_t n_platforms = 0, n_total = 0, n = 0;
        int r;

        r = cl_platforms_list(&platforms, &n_platforms, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_platforms; i++)
                n_total += platforms[i].n_devices;
        if (n_total > 0) {
                devs = new0(ClDevice, n_total);
                if (!devs)
                        return gemma_error_set(err, -ENOMEM, "out of memory listing OpenCL devices");
        }
        for (size_t i = 0; i < n_platforms; i++) {
                const ClPlatform *p = &platforms[i];
                cl_device_id ids[DEVICES_PER_PLATFORM_MAX];
                cl_uint got = 0;

                if (p->n_devices == 0)
                        continue;
                if (clGetDeviceIDs(p->id, CL_DEVICE_TYPE_ALL, p->n_devices, ids, &got) != CL_SUCCESS)
                        continue;
                /* A second call may see fewer devices (one went away) but never uses more room
                 * than the first call counted. */
                got = MIN(got, p->n_devices);
                for (cl_uint j = 0; j < got && n < n_total; j++) {
                        r = probe_device(&devs[n], p, ids[j]);
                        if (r < 0)
                                return gemma_error_set(err, r, "out of memory probing OpenCL devices");
                        devs[n].index = (unsigned) n;
                        n++;
                }
        }

        if (n == 0) {
                /* Keep the reason cl_platforms_list() gave; else say what each platform answered. */
                if (n_platforms > 0 && err) {
                        char why[GEMMA_ERROR_MESSAGE_MAX] = "";
                        size_t used = 0;
                        for (size_t i = 0; i < n_platforms && used < sizeof(why); i++) {
                                const ClPlatform *p = &platforms[i];
                                int k = snprintf(why + used, sizeof(why) - used, "%s'%s': %s%s", i ? "; " : "",
                                                 p->name, cl_error_name(p->devices_error),
                                                 strstr(p->name, "Portable Computing Language") &&
                                                                 p->devices_error == CL_DEVICE_NOT_FOUND
                                                         ? " (POCL hides its device when its cache directory is not writable: set POCL_CACHE_DIR)"
                                                         : "");
                                if (k < 0)
                                        break;
                                used += (size_t) k;
                        }
                        set_reason(err, "OpenCL platforms list no devices (%s)", why);
                }
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }

        /* Matching is best effort: a device without a node is still usable for compute. */
        r = match_drm(devs, n);
        if (r < 0)
                return gemma_error_set(err, r, "out of memory matching OpenCL devices to DRM nodes");
        *ret = TAKE_PTR(devs);
        *ret_n = n;
        return 0;
}

const char *cl_device_type_string(const ClDevice *d) {
        return d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "accelerator";
}

const char *cl_device_pci_string(const ClDevice *d, char *buf, size_t n) {
        if (d->has_pci)
                snprintf(buf, n, "%04" PRIx32 ":%02" PRIx32 ":%02" PRIx32 ".%" PRIx32, d->pci_domain, d->pci_bus,
                         d->pci_device, d->pci_function);
        else
                snprintf(buf, n, "-");
        return buf;
}

int cl_device_hwmon_temp_path(const ClDevice *d, char *buf, size_t n) {
        if (!d->drm_node[0])
                return -ENOENT;
        return cl_drm_hwmon_temp_path("/sys", d->drm_node, buf, n);
}

/* "#0 'name' (CPU, 'platform'), #1 ..." cut to fit, for error messages that name what exists. */
static void describe_devices(const ClDevice *devs, size_t n, char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && used < size; i++) {
                int k = snprintf(buf + used, size - used, "%s#%u '%s' (%s, '%s')", i ? ", " : "", devs[i].index,
                                 devs[i].name, cl_device_type_string(&devs[i]), devs[i].platform_name);
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

static bool is_index(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

int cl_device_choose(const char *spec, ClDevice *ret, GemmaError *err) {
        _cleanup_free_ ClDevice *devs = NULL;
        char list[GEMMA_ERROR_MESSAGE_MAX];
        GemmaError why = { 0 };
        size_t n = 0;
        int r;

        r = cl_devices_list(&devs, &n, &why);
        if (r < 0)
                return gemma_error_set(err, r, "%s", why.message);
        describe_devices(devs, n, list, sizeof(list));

        if (!spec || !*spec || strcmp(spec, "auto") == 0) {
                for (size_t i = 0; i < n; i++)
                        if (devs[i].is_gpu) {
                                *ret = devs[i];
                                return 0;
                        }
                if (n == 0)
                        return gemma_error_set(err, -ENODEV, "no OpenCL GPU found: %s", gemma_error_message(&why));
                return gemma_error_set(err, -ENODEV, "no OpenCL GPU found (devices: %s)", list);
        }

        if (is_index(spec)) {
                char *end;
                errno = 0;
                unsigned long long k = strtoull(spec, &end, 10);
                if (errno == 0 && k < n) {
                        *ret = devs[k];
                        return 0;
                }
                if (n == 0)
                        return gemma_error_set(err, -ENODEV, "no OpenCL device with index %.20s: %s", spec,
                                               gemma_error_message(&why));
                return gemma_error_set(err, -ENODEV, "no OpenCL device with index %.20s (devices: %s)", spec, list);
        }

        for (size_t i = 0; i < n; i++)
                if (strcasestr(devs[i].name, spec) || strcasestr(devs[i].platform_name, spec)) {
                        *ret = devs[i];
                        return 0;
                }
        if (n == 0)
                return gemma_error_set(err, -ENODEV, "no OpenCL device matches '%.128s': %s", spec,
                                       gemma_error_message(&why));
        return gemma_error_set(err, -ENODEV, "no OpenCL device matches '%.128s' (devices: %s)", spec, list);
}
