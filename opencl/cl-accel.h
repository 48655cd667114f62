/* The OpenCL accelerator for Gemma 3n: decoder layers on the device, the PLE table and the token
 * embedding in the mapped file on the host (gemma3n/accel.h says how the work is divided). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cl-device.h"
#include "gemma3n/model.h"

typedef struct ClAccelOptions {
        /* Device memory this accelerator may use (weights, KV pages, activations); 0: 90% of the
         * device's global memory. Layers that do not fit stay on the CPU. */
        uint64_t max_device_bytes;
        const char *cache_dir;       /* compiled-program cache; NULL: $XDG_CACHE_HOME/gemmad/opencl */
        bool break_source;           /* test hook: compile a kernel source that cannot build */
} ClAccelOptions;

/* Makes the accelerator for m on dev and places as many layers as fit, in order from the first
 * (later layers only ever read KV of earlier ones, so the device never waits on the CPU's KV).
 * Fails when the program does not build or not even the first layer fits. *summary (may be NULL)
 * receives one line for the log: device, layers placed, bytes, conversions. */
int cl_accel_new(const Gemma3nModel *m, const ClDevice *dev, const ClAccelOptions *o, Gemma3nAccel **ret,
                 char *summary, size_t summary_size, GemmaError *err);

/* Layers on the device (the first n of the model). */
uint32_t cl_accel_device_layers(const Gemma3nAccel *a);
