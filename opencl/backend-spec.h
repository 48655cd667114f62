/* The user-facing backend choice: "auto", "cpu", "opencl" or "opencl:NAME-or-INDEX".
 *
 * Engine-independent and free of OpenCL headers: it is built whether or not OpenCL is, so the
 * daemon's configuration and the command-line tools can validate the string on any build. What
 * the device part means (an index, or a substring of a device or platform name) is decided by
 * cl_device_choose() in cl-device.h. */
#pragma once

#include <errno.h>
#include <stddef.h>

#include "base/error.h"

typedef enum {
        BACKEND_AUTO,              /* an OpenCL GPU when there is one, else the CPU */
        BACKEND_CPU,               /* the CPU reference kernels, always */
        BACKEND_OPENCL,            /* OpenCL; device[] names which one ("" = the first GPU) */
        _BACKEND_KIND_MAX,
        _BACKEND_KIND_INVALID = -EINVAL,
} BackendKind;

/* Longest device part, in bytes: the device names OpenCL reports are shorter. */
#define BACKEND_SPEC_DEVICE_MAX 127

typedef struct {
        BackendKind kind;
        char device[BACKEND_SPEC_DEVICE_MAX + 1];   /* only with BACKEND_OPENCL; "" = not given */
} BackendSpec;

/* A buffer this long holds backend_spec_format() of any spec ("opencl:" + the device + NUL). */
#define BACKEND_SPEC_STRING_MAX (sizeof("opencl:") + BACKEND_SPEC_DEVICE_MAX)

/* Parses s strictly: exactly one of the forms above, lower case, no surrounding spaces, a device
 * part of 1..BACKEND_SPEC_DEVICE_MAX printable characters that neither starts nor ends with a
 * space ("opencl: 0" is a typo, not a device named " 0"). Returns 0 and fills *ret, or -EINVAL
 * with a message that quotes s and lists the accepted forms (*ret untouched). */
int backend_spec_parse(const char *s, BackendSpec *ret, GemmaError *err);

/* Writes the canonical string of spec into buf (cut to n bytes, always NUL-terminated) and
 * returns buf; backend_spec_parse() of it gives spec back. */
const char *backend_spec_format(const BackendSpec *spec, char *buf, size_t n);

/* "auto", "cpu", "opencl"; NULL for a value outside the enum. */
const char *backend_kind_to_string(BackendKind k);
/* The inverse; _BACKEND_KIND_INVALID for anything else (NULL included). */
BackendKind backend_kind_from_string(const char *s);
