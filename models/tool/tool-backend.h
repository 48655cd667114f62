/* --backend, --opencl-max-device-mib and --no-pack, shared by eval, generate and bench. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "accel-select.h"
#include "backend-spec.h"
#include "gemma3n/model.h"

typedef struct ToolBackend {
        BackendSpec spec;            /* default: cpu (the tool stays deterministic unless asked) */
        uint64_t max_device_bytes;   /* 0: 90% of the device */
        bool no_pack;                /* read the CPU's matrices from the file only */
} ToolBackend;

#define TOOL_BACKEND_HELP                                                                                     \
        "  --backend B       where the decoder layers run: cpu (default), auto (an OpenCL GPU if\n"          \
        "                    there is one), opencl, or opencl:NAME-or-INDEX ('gemma-model devices');\n"    \
        "                    a device that cannot be used leaves the CPU in charge, with the reason\n"      \
        "  --opencl-max-device-mib N\n"                                                                       \
        "                    device memory the OpenCL backend may use; layers beyond stay on the CPU\n"      \
        "  --no-pack         read the matrices the CPU multiplies from the file only, without the\n"       \
        "                    packed copy made in the background for AVX-512 VNNI (same results)\n"

enum { TOOL_OPT_BACKEND = 0x200, TOOL_OPT_OPENCL_MAX_MIB, TOOL_OPT_NO_PACK };

#define TOOL_BACKEND_OPTIONS                                                                                  \
        { "backend", required_argument, NULL, TOOL_OPT_BACKEND },                                             \
        { "opencl-max-device-mib", required_argument, NULL, TOOL_OPT_OPENCL_MAX_MIB },                     \
        { "no-pack", no_argument, NULL, TOOL_OPT_NO_PACK }

void tool_backend_init(ToolBackend *b);
/* Handles opt if it is one of the options above: returns 1 when handled, 0 when not ours, a
 * negative errno (message printed) on a bad value. */
int tool_backend_option(ToolBackend *b, int opt, const char *arg);
/* Attaches the accelerator; prints the placement or the reason for the CPU to stderr unless the
 * choice is cpu. report (may be NULL) receives what accel_select() said. Then, unless --no-pack,
 * starts packing the CPU's matrices for cpu_features in the background (a failure to is printed
 * and leaves them in the file). */
void tool_backend_attach(Gemma3nModel *m, const ToolBackend *b, uint32_t cpu_features, AccelReport *report);
