/* The one table from the daemon's error kinds to D-Bus error names. Standard
 * org.freedesktop.DBus.Error.* names for generic failures, org.gemmad.Gemmad1.Error.* for the
 * states a client acts on. */
#pragma once

#include <systemd/sd-bus.h>

#include "daemon-error.h"

#define GEMMAD_ERROR_NOT_READY "org.gemmad.Gemmad1.Error.NotReady"
#define GEMMAD_ERROR_CONTEXT_OVERFLOW "org.gemmad.Gemmad1.Error.ContextOverflow"
#define GEMMAD_ERROR_CANCELLED "org.gemmad.Gemmad1.Error.Cancelled"
#define GEMMAD_ERROR_BUSY "org.gemmad.Gemmad1.Error.Busy"
#define GEMMAD_ERROR_INVALID_MEDIA "org.gemmad.Gemmad1.Error.InvalidMedia"
#define GEMMAD_ERROR_CAPTURE_FAILED "org.gemmad.Gemmad1.Error.CaptureFailed"
#define GEMMAD_ERROR_PORTAL_DENIED "org.gemmad.Gemmad1.Error.PortalDenied"
#define GEMMAD_ERROR_FAILED "org.gemmad.Gemmad1.Error.Failed"

/* The D-Bus error name of a kind; never NULL for a valid kind. */
const char *bus_error_name(DaemonErrorKind kind);

/* Sets error from a DaemonError and returns a negative errno for a handler to return. */
int bus_error_set_daemon(sd_bus_error *error, const DaemonError *err);

/* Registers the errno mapping of our own names with sd-bus (sd_bus_error_add_map). */
int bus_errors_register(void);
