/* OpenCL device discovery: every device of every platform with the facts a backend choice needs,
 * each matched to its DRM render node (libdrm) so power and thermal readers can find it.
 *
 * No ICD, no platform or no device is a normal state on machines without a GPU driver: listing
 * then succeeds with zero devices and says why, and the host uses the CPU backend. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "cl-common.h"

typedef struct ClPlatform {
        cl_platform_id id;
        unsigned index;            /* position in cl_platforms_list() order */
        char name[128];
        char vendor[128];
        char version[128];         /* CL_PLATFORM_VERSION: "OpenCL 3.0 PoCL 3.1+debian ..." */
        unsigned n_devices;
        cl_int devices_error;      /* clGetDeviceIDs' answer when n_devices is 0 (POCL says
                                    * CL_DEVICE_NOT_FOUND when its cache dir is not writable) */
} ClPlatform;

typedef struct ClDevice {
        cl_platform_id platform;
        cl_device_id id;
        unsigned index;            /* position in cl_devices_list() order */
        char platform_name[128];
        char name[128];
        char vendor[128];
        char driver_version[64];
        char version[64];          /* CL_DEVICE_VERSION: "OpenCL 3.0 ..." */
        char c_version[64];        /* CL_DEVICE_OPENCL_C_VERSION: "OpenCL C 1.2 ..." */
        bool is_gpu;
        bool is_cpu;               /* neither: an accelerator or a custom device */
        uint64_t global_mem;       /* bytes */
        uint64_t max_alloc;        /* bytes, largest single buffer */
        uint32_t compute_units;
        bool fp16;                 /* cl_khr_fp16: half arithmetic (storage-only half is core) */
        bool has_pci;              /* the pci_* fields are valid (cl_khr_pci_bus_info, or the
                                    * NVIDIA/AMD attribute queries) */
        uint32_t pci_domain, pci_bus, pci_device, pci_function;
        uint32_t vendor_id;        /* CL_DEVICE_VENDOR_ID: the PCI vendor id for PCI devices */
        char drm_node[64];         /* "/dev/dri/renderD128", or "" when not matched */
        char drm_driver[32];       /* kernel driver of that node ("amdgpu", "i915"), or "" */
} ClDevice;

/* Every platform the ICD loader offers, sorted by name (the loader's order breaks ties), so
 * indices stay the same from run to run. With none, returns 0 with *ret = NULL, *ret_n = 0 and,
 * when err is given, err->code = 0 and err->message saying why ("no OpenCL platforms (no ICD
 * installed)"). Negative errno only for allocation failures. Free *ret with free(). */
int cl_platforms_list(ClPlatform **ret, size_t *ret_n, GemmaError *err);

/* Every device of every platform, in platform order (as above) and then the driver's device
 * order; d->index is the position in that list. Devices are matched to DRM render nodes. With no
 * device at all, returns 0 with *ret = NULL, *ret_n = 0 and, when err is given, err->code = 0 and
 * err->message saying why (no ICD, or what each platform answered). Negative errno only for
 * allocation failures. Free *ret with free(). */
int cl_devices_list(ClDevice **ret, size_t *ret_n, GemmaError *err);

/* Picks one device by spec:
 *   NULL, "" or "auto"   the first GPU; -ENODEV when there is none ("no OpenCL GPU found
 *                        (devices: ...)"): CPU devices are taken only when asked for by name or
 *                        index, since the CPU backend beats OpenCL-on-CPU;
 *   digits only          that index of cl_devices_list();
 *   anything else        the first device whose name or platform name contains spec, ignoring
 *                        case.
 * Returns 0 and fills *ret, or -ENODEV with a message naming the devices that exist (*ret
 * untouched), or -ENOMEM. */
int cl_device_choose(const char *spec, ClDevice *ret, GemmaError *err);

/* "GPU", "CPU" or "accelerator". */
const char *cl_device_type_string(const ClDevice *d);

/* "0000:03:00.0" for a device with PCI bus info, "-" without; returns buf. 13 bytes suffice. */
const char *cl_device_pci_string(const ClDevice *d, char *buf, size_t n);

/* The GPU temperature file of d's DRM device, /sys/class/drm/renderDN/device/hwmon/hwmonM/
 * temp1_input (millidegrees Celsius), with the lowest M that has one. Returns 0 and writes the
 * path into buf; -ENOENT when d has no render node or the driver exports no such sensor;
 * -ENAMETOOLONG when buf is too small. */
int cl_device_hwmon_temp_path(const ClDevice *d, char *buf, size_t n);
