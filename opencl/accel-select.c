/* Backend choice: see accel-select.h. */
#include "accel-select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma3n/weights.h"

#if GEMMAD_HAVE_OPENCL
#include "cl-accel.h"
#include "cl-device.h"

/* For "opencl" without a device: a GPU when there is one, else any device. */
static int choose_any(ClDevice *ret, GemmaError *err) {
        if (cl_device_choose("auto", ret, err) == 0)
                return 0;
        return cl_device_choose("0", ret, err);
}

static void select_opencl(Gemma3nModel *m, const BackendSpec *spec, const AccelSelectOptions *o, AccelReport *r) {
        GemmaError err = { 0 };
        ClDevice dev;
        int k;

        if (spec->kind == BACKEND_AUTO)
                k = cl_device_choose("auto", &dev, &err);
        else if (spec->device[0])
                k = cl_device_choose(spec->device, &dev, &err);
        else
                k = choose_any(&dev, &err);
        if (k < 0) {
                r->fell_back = spec->kind == BACKEND_OPENCL;
                snprintf(r->message, sizeof(r->message), "using the CPU: %s", err.message[0] ? err.message : "no OpenCL device");
                return;
        }
        const char *hook = getenv("GEMMAD_OPENCL_TEST_BREAK_SOURCE");
        const ClAccelOptions co = { .max_device_bytes = o ? o->max_device_bytes : 0, .cache_dir = o ? o->cache_dir : NULL,
                                    .break_source = hook && strcmp(hook, "1") == 0 };
        Gemma3nAccel *accel = NULL;
        char summary[sizeof(r->message)];
        err = (GemmaError) { 0 };
        if (cl_accel_new(m, &dev, &co, &accel, summary, sizeof(summary), &err) < 0) {
                r->fell_back = true;
                snprintf(r->message, sizeof(r->message), "using the CPU: OpenCL device %s failed: %.600s", dev.name, err.message);
                return;
        }
        gemma3n_model_attach_accel(m, accel);
        snprintf(r->active, sizeof(r->active), "%s", accel->name);
        snprintf(r->message, sizeof(r->message), "%s", summary);
        r->device_bytes = accel->device_bytes;
        r->host_bytes = accel->host_bytes;
        r->device_layers = cl_accel_device_layers(accel);
        if (cl_device_hwmon_temp_path(&dev, r->hwmon_temp, sizeof(r->hwmon_temp)) < 0)
                r->hwmon_temp[0] = '\0';
}
#endif

void accel_select(Gemma3nModel *m, const BackendSpec *spec, const AccelSelectOptions *o, AccelReport *r) {
        memset(r, 0, sizeof(*r));
        snprintf(r->active, sizeof(r->active), "cpu");
        r->host_bytes = m->w.bytes_total;
        if (spec->kind == BACKEND_CPU) {
                snprintf(r->message, sizeof(r->message), "using the CPU (backend cpu)");
                return;
        }
#if GEMMAD_HAVE_OPENCL
        select_opencl(m, spec, o, r);
#else
        (void) o;
        r->fell_back = spec->kind == BACKEND_OPENCL;
        snprintf(r->message, sizeof(r->message), "using the CPU: this build has no OpenCL support");
#endif
}
