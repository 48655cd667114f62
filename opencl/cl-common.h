/* The one place opencl/ includes the OpenCL headers, plus what every file here shares: the API
 * level we target, error names, cleanup helpers for CL objects, and string queries. */
#pragma once

/* OpenCL 1.2 is what POCL (CI), Mesa rusticl, Intel NEO, ROCm and NVIDIA all provide; asking for
 * more would only hide functions behind deprecation warnings without gaining a feature we use. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <CL/cl_ext.h>

#include <stdbool.h>
#include <stddef.h>

#include "base/macro.h"

/* "CL_BUILD_PROGRAM_FAILURE" for -11; "CL error -1234" style text (in a static buffer per thread)
 * for codes without a name. */
const char *cl_error_name(cl_int e);

/* The negative errno a CL failure maps to: -ENOMEM for the out-of-memory codes, -ENODEV for a
 * missing device or platform, -EINVAL for bad programs, options and arguments, -EIO otherwise. */
int cl_error_to_errno(cl_int e);

/* String-valued clGetPlatformInfo()/clGetDeviceInfo(), cut to fit buf (n >= 1) and cleaned for
 * printing: control characters become '?', surrounding spaces go (drivers pad some names).
 * Returns 0, or the CL error of the query (buf then holds ""). */
cl_int cl_platform_info_string(cl_platform_id p, cl_platform_info what, char *buf, size_t n);
cl_int cl_device_info_string(cl_device_id d, cl_device_info what, char *buf, size_t n);

/* Whether the space-separated extension list ext holds exactly the word name. */
bool cl_extension_listed(const char *ext, const char *name);

/* Cleanup helpers: _cleanup_(cl_program_releasep) cl_program p = NULL; */
static inline void cl_context_releasep(cl_context *c) {
        if (*c)
                clReleaseContext(*c);
}
static inline void cl_command_queue_releasep(cl_command_queue *q) {
        if (*q)
                clReleaseCommandQueue(*q);
}
static inline void cl_program_releasep(cl_program *p) {
        if (*p)
                clReleaseProgram(*p);
}
static inline void cl_kernel_releasep(cl_kernel *k) {
        if (*k)
                clReleaseKernel(*k);
}
static inline void cl_mem_releasep(cl_mem *m) {
        if (*m)
                clReleaseMemObject(*m);
}
