/* Turns the user's backend choice into an accelerator attached to a loaded model, or into a
 * clear reason why the CPU runs it. Built with and without OpenCL: the callers (gemmad, the
 * gemma-model tool) need no #ifdef. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backend-spec.h"
#include "gemma3n/model.h"

typedef struct AccelSelectOptions {
        uint64_t max_device_bytes;   /* opencl_max_device_mib; 0: 90% of the device */
        const char *cache_dir;       /* compiled kernels; NULL: $XDG_CACHE_HOME/gemmad/opencl */
} AccelSelectOptions;

typedef struct AccelReport {
        char active[192];            /* "cpu" or "opencl:DEVICE" (the Backend property) */
        char message[768];           /* a line for the log: placement, or why the CPU runs it */
        bool fell_back;              /* an accelerator was asked for (or auto found one) and failed */
        uint64_t device_bytes;       /* weights on the device */
        uint64_t host_bytes;         /* weights read from the mapped file on the host */
        uint32_t device_layers;
        /* The device's hwmon temperature file (.../hwmon/hwmonN/temp1_input) when it is a DRM
         * device that has one, else "": the power policy reads it beside the thermal zones. */
        char hwmon_temp[256];
} AccelReport;

/* cpu: nothing to do. auto: the first OpenCL GPU, else the CPU. opencl: the named device, or the
 * first GPU, or else the first device of any kind (POCL on the CPU counts). Whatever fails — no
 * ICD, no device, a kernel that does not build, no memory — leaves the CPU in charge and says so
 * in report->message. Test hook: GEMMAD_OPENCL_TEST_BREAK_SOURCE=1 compiles a broken source. */
void accel_select(Gemma3nModel *m, const BackendSpec *spec, const AccelSelectOptions *o, AccelReport *report);
