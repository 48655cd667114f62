/* What a daemon operation can fail with, in terms a client acts on. dbus/bus-errors.c maps each
 * kind to exactly one D-Bus error name; the message is written for the person reading it and
 * names the key, the limit or the numbers involved. */
#pragma once

#include <stdarg.h>

#include "base/macro.h"

typedef enum DaemonErrorKind {
        DAEMON_ERROR_NONE,
        DAEMON_ERROR_INVALID_ARGS,      /* bad option key, type or value */
        DAEMON_ERROR_ACCESS_DENIED,     /* not the owner of the object */
        DAEMON_ERROR_LIMITS_EXCEEDED,   /* per-client or global limits */
        DAEMON_ERROR_NOT_SUPPORTED,     /* a feature or modality this daemon does not have */
        DAEMON_ERROR_UNKNOWN_OBJECT,
        DAEMON_ERROR_NOT_READY,         /* state error or stopped, or loading with no_wait */
        DAEMON_ERROR_CONTEXT_OVERFLOW,  /* the text does not fit the context */
        DAEMON_ERROR_CANCELLED,
        DAEMON_ERROR_BUSY,              /* transient: retry later */
        DAEMON_ERROR_FAILED,            /* anything else, already logged */
        DAEMON_ERROR_NO_MEMORY,
        _DAEMON_ERROR_MAX,
} DaemonErrorKind;

#define DAEMON_ERROR_MESSAGE_MAX 512

typedef struct DaemonError {
        DaemonErrorKind kind;
        char message[DAEMON_ERROR_MESSAGE_MAX];
} DaemonError;

/* Records the error (err may be NULL) and returns -1, for "return daemon_error_set(...)". */
int daemon_error_set(DaemonError *err, DaemonErrorKind kind, const char *fmt, ...) _printf_(3, 4);

/* The machine token of a kind ("invalid-args", "not-ready", ...), for logs and Finished info. */
const char *daemon_error_kind_to_string(DaemonErrorKind kind);
