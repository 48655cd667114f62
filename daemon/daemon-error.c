/* DaemonError helpers. */
#include "daemon-error.h"

#include <stdio.h>

int daemon_error_set(DaemonError *err, DaemonErrorKind kind, const char *fmt, ...) {
        if (err) {
                va_list ap;
                err->kind = kind;
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
        }
        return -1;
}

static const char *const kind_names[_DAEMON_ERROR_MAX] = {
        [DAEMON_ERROR_NONE] = "none",
        [DAEMON_ERROR_INVALID_ARGS] = "invalid-args",
        [DAEMON_ERROR_ACCESS_DENIED] = "access-denied",
        [DAEMON_ERROR_LIMITS_EXCEEDED] = "limits-exceeded",
        [DAEMON_ERROR_NOT_SUPPORTED] = "not-supported",
        [DAEMON_ERROR_UNKNOWN_OBJECT] = "unknown-object",
        [DAEMON_ERROR_NOT_READY] = "not-ready",
        [DAEMON_ERROR_CONTEXT_OVERFLOW] = "context-overflow",
        [DAEMON_ERROR_CANCELLED] = "cancelled",
        [DAEMON_ERROR_BUSY] = "busy",
        [DAEMON_ERROR_FAILED] = "failed",
        [DAEMON_ERROR_NO_MEMORY] = "no-memory",
};

const char *daemon_error_kind_to_string(DaemonErrorKind kind) {
        return kind >= 0 && kind < _DAEMON_ERROR_MAX ? kind_names[kind] : NULL;
}
