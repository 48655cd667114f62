/* Helpers every opencl/ file shares: CL error names and errno mapping, cleaned string queries. */
#include "cl-common.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cl_error_name(cl_int e) {
        static _Thread_local char unknown[32];

        switch (e) {
#define NAME(x) case x: return #x
        NAME(CL_SUCCESS);
        NAME(CL_DEVICE_NOT_FOUND);
        NAME(CL_DEVICE_NOT_AVAILABLE);
        NAME(CL_COMPILER_NOT_AVAILABLE);
        NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE);
        NAME(CL_OUT_OF_RESOURCES);
        NAME(CL_OUT_OF_HOST_MEMORY);
        NAME(CL_PROFILING_INFO_NOT_AVAILABLE);
        NAME(CL_MEM_COPY_OVERLAP);
        NAME(CL_IMAGE_FORMAT_MISMATCH);
        NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED);
        NAME(CL_BUILD_PROGRAM_FAILURE);
        NAME(CL_MAP_FAILURE);
        NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET);
        NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
        NAME(CL_COMPILE_PROGRAM_FAILURE);
        NAME(CL_LINKER_NOT_AVAILABLE);
        NAME(CL_LINK_PROGRAM_FAILURE);
        NAME(CL_DEVICE_PARTITION_FAILED);
        NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
        NAME(CL_INVALID_VALUE);
        NAME(CL_INVALID_DEVICE_TYPE);
        NAME(CL_INVALID_PLATFORM);
        NAME(CL_INVALID_DEVICE);
        NAME(CL_INVALID_CONTEXT);
        NAME(CL_INVALID_QUEUE_PROPERTIES);
        NAME(CL_INVALID_COMMAND_QUEUE);
        NAME(CL_INVALID_HOST_PTR);
        NAME(CL_INVALID_MEM_OBJECT);
        NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
        NAME(CL_INVALID_IMAGE_SIZE);
        NAME(CL_INVALID_SAMPLER);
        NAME(CL_INVALID_BINARY);
        NAME(CL_INVALID_BUILD_OPTIONS);
        NAME(CL_INVALID_PROGRAM);
        NAME(CL_INVALID_PROGRAM_EXECUTABLE);
        NAME(CL_INVALID_KERNEL_NAME);
        NAME(CL_INVALID_KERNEL_DEFINITION);
        NAME(CL_INVALID_KERNEL);
        NAME(CL_INVALID_ARG_INDEX);
        NAME(CL_INVALID_ARG_VALUE);
        NAME(CL_INVALID_ARG_SIZE);
        NAME(CL_INVALID_KERNEL_ARGS);
        NAME(CL_INVALID_WORK_DIMENSION);
        NAME(CL_INVALID_WORK_GROUP_SIZE);
        NAME(CL_INVALID_WORK_ITEM_SIZE);
        NAME(CL_INVALID_GLOBAL_OFFSET);
        NAME(CL_INVALID_EVENT_WAIT_LIST);
        NAME(CL_INVALID_EVENT);
        NAME(CL_INVALID_OPERATION);
        NAME(CL_INVALID_GL_OBJECT);
        NAME(CL_INVALID_BUFFER_SIZE);
        NAME(CL_INVALID_MIP_LEVEL);
        NAME(CL_INVALID_GLOBAL_WORK_SIZE);
        NAME(CL_INVALID_PROPERTY);
        NAME(CL_INVALID_IMAGE_DESCRIPTOR);
        NAME(CL_INVALID_COMPILER_OPTIONS);
        NAME(CL_INVALID_LINKER_OPTIONS);
        NAME(CL_INVALID_DEVICE_PARTITION_COUNT);
        NAME(CL_PLATFORM_NOT_FOUND_KHR);
#undef NAME
        default:
                snprintf(unknown, sizeof(unknown), "CL error %d", (int) e);
                return unknown;
        }
}

int cl_error_to_errno(cl_int e) {
        switch (e) {
        case CL_SUCCESS:
                return 0;
        case CL_OUT_OF_HOST_MEMORY:
        case CL_OUT_OF_RESOURCES:
        case CL_MEM_OBJECT_ALLOCATION_FAILURE:
                return -ENOMEM;
        case CL_DEVICE_NOT_FOUND:
        case CL_DEVICE_NOT_AVAILABLE:
        case CL_PLATFORM_NOT_FOUND_KHR:
        case CL_COMPILER_NOT_AVAILABLE:
        case CL_LINKER_NOT_AVAILABLE:
                return -ENODEV;
        case CL_BUILD_PROGRAM_FAILURE:
        case CL_COMPILE_PROGRAM_FAILURE:
        case CL_LINK_PROGRAM_FAILURE:
        case CL_INVALID_BINARY:
        case CL_INVALID_BUILD_OPTIONS:
        case CL_INVALID_COMPILER_OPTIONS:
        case CL_INVALID_LINKER_OPTIONS:
        case CL_INVALID_VALUE:
        case CL_INVALID_KERNEL_NAME:
        case CL_INVALID_ARG_INDEX:
        case CL_INVALID_ARG_VALUE:
        case CL_INVALID_ARG_SIZE:
        case CL_INVALID_BUFFER_SIZE:
        case CL_INVALID_WORK_GROUP_SIZE:
        case CL_INVALID_GLOBAL_WORK_SIZE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Cleans what a driver returned, in place: see cl_device_info_string(). */
static void clean_string(char *s) {
        size_t len = strlen(s), start = 0;

        for (size_t i = 0; i < len; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        s[i] = '?';
        while (len > 0 && s[len - 1] == ' ')
                len--;
        while (start < len && s[start] == ' ')
                start++;
        memmove(s, s + start, len - start);
        s[len - start] = '\0';
}

/* Drivers may return strings of any length (extension lists run to kilobytes): ask for the
 * size, read all of it, then keep what fits. */
#define DEFINE_INFO_STRING(func, obj_type, info_type, getter)                                   \
        cl_int func(obj_type o, info_type what, char *buf, size_t n) {                          \
                size_t size = 0;                                                                \
                cl_int e;                                                                       \
                buf[0] = '\0';                                                                  \
                e = getter(o, what, 0, NULL, &size);                                            \
                if (e != CL_SUCCESS)                                                            \
                        return e;                                                               \
                _cleanup_free_ char *tmp = malloc(size + 1);                                    \
                if (!tmp)                                                                       \
                        return CL_OUT_OF_HOST_MEMORY;                                           \
                e = getter(o, what, size, tmp, NULL);                                           \
                if (e != CL_SUCCESS)                                                            \
                        return e;                                                               \
                tmp[size] = '\0';                                                               \
                snprintf(buf, n, "%s", tmp);                                                    \
                clean_string(buf);                                                              \
                return CL_SUCCESS;                                                              \
        }

DEFINE_INFO_STRING(cl_platform_info_string, cl_platform_id, cl_platform_info, clGetPlatformInfo)
DEFINE_INFO_STRING(cl_device_info_string, cl_device_id, cl_device_info, clGetDeviceInfo)

bool cl_extension_listed(const char *ext, const char *name) {
        size_t len = strlen(name);

        if (!ext || len == 0)
                return false;
        for (const char *p = ext; (p = strstr(p, name)); p += len) {
                bool starts = p == ext || p[-1] == ' ';
                bool ends = p[len] == '\0' || p[len] == ' ';
                if (starts && ends)
                        return true;
        }
        return false;
}
