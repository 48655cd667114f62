/* Parsing and printing of the backend choice string (see backend-spec.h for the forms). */
#include "backend-spec.h"

#include <stdio.h>
#include <string.h>

#define ACCEPTED "expected 'auto', 'cpu', 'opencl' or 'opencl:NAME' (NAME: a device index or part of a device or platform name)"

static const char *const kind_names[_BACKEND_KIND_MAX] = {
        [BACKEND_AUTO] = "auto",
        [BACKEND_CPU] = "cpu",
        [BACKEND_OPENCL] = "opencl",
};

const char *backend_kind_to_string(BackendKind k) {
        if (k < 0 || k >= _BACKEND_KIND_MAX)
                return NULL;
        return kind_names[k];
}

BackendKind backend_kind_from_string(const char *s) {
        if (!s)
                return _BACKEND_KIND_INVALID;
        for (int k = 0; k < _BACKEND_KIND_MAX; k++)
                if (strcmp(s, kind_names[k]) == 0)
                        return (BackendKind) k;
        return _BACKEND_KIND_INVALID;
}

int backend_spec_parse(const char *s, BackendSpec *ret, GemmaError *err) {
        BackendSpec spec = { 0 };

        if (!s)
                return gemma_error_set(err, -EINVAL, "no backend given: " ACCEPTED);

        /* The kind is everything before the first ':'; it is compared whole, so "opencl2" or
         * "CPU" are refused rather than read as something close. */
        const char *colon = strchr(s, ':');
        size_t kind_len = colon ? (size_t) (colon - s) : strlen(s);
        char kind[sizeof("opencl")];
        if (kind_len == 0 || kind_len >= sizeof(kind))
                goto unknown;
        memcpy(kind, s, kind_len);
        kind[kind_len] = '\0';
        spec.kind = backend_kind_from_string(kind);
        if (spec.kind < 0)
                goto unknown;

        if (colon) {
                const char *dev = colon + 1;
                size_t len = strlen(dev);
                if (spec.kind != BACKEND_OPENCL)
                        return gemma_error_set(err, -EINVAL, "invalid backend '%s': '%s' takes no device; " ACCEPTED,
                                               s, kind);
                if (len == 0)
                        return gemma_error_set(err, -EINVAL,
                                               "invalid backend '%s': empty device after 'opencl:'; " ACCEPTED, s);
                if (len > BACKEND_SPEC_DEVICE_MAX)
                        return gemma_error_set(err, -EINVAL,
                                               "invalid backend: device name of %zu bytes is too long (at most %d)",
                                               len, BACKEND_SPEC_DEVICE_MAX);
                /* Control characters have no place in a device name and would garble the logs
                 * and the D-Bus properties that repeat it. */
                for (size_t i = 0; i < len; i++)
                        if ((unsigned char) dev[i] < 0x20 || dev[i] == 0x7f)
                                return gemma_error_set(err, -EINVAL,
                                                       "invalid backend: the device name contains control character 0x%02x at offset %zu",
                                                       (unsigned) (unsigned char) dev[i], i);
                /* "opencl: 0" would otherwise name a device " 0" instead of index 0. */
                if (dev[0] == ' ' || dev[len - 1] == ' ')
                        return gemma_error_set(err, -EINVAL,
                                               "invalid backend '%s': spaces around the device name; " ACCEPTED, s);
                memcpy(spec.device, dev, len + 1);
        }
        *ret = spec;
        return 0;

unknown:
        /* Quote at most a prefix of the input: the message is one line of bounded length. */
        return gemma_error_set(err, -EINVAL, "invalid backend '%.64s%s': " ACCEPTED, s, strlen(s) > 64 ? "…" : "");
}

const char *backend_spec_format(const BackendSpec *spec, char *buf, size_t n) {
        const char *kind = backend_kind_to_string(spec->kind);

        if (n == 0)
                return buf;
        if (!kind)
                snprintf(buf, n, "invalid");
        else if (spec->kind == BACKEND_OPENCL && spec->device[0])
                snprintf(buf, n, "%s:%.*s", kind, BACKEND_SPEC_DEVICE_MAX, spec->device);
        else
                snprintf(buf, n, "%s", kind);
        return buf;
}
