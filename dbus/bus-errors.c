/* DaemonErrorKind -> D-Bus error name (see bus-errors.h). */
#include "bus-errors.h"

#include <errno.h>

static const struct {
        const char *name;
        int errno_value;
} error_table[_DAEMON_ERROR_MAX] = {
        [DAEMON_ERROR_NONE] = { GEMMAD_ERROR_FAILED, EIO },
        [DAEMON_ERROR_INVALID_ARGS] = { SD_BUS_ERROR_INVALID_ARGS, EINVAL },
        [DAEMON_ERROR_ACCESS_DENIED] = { SD_BUS_ERROR_ACCESS_DENIED, EACCES },
        [DAEMON_ERROR_LIMITS_EXCEEDED] = { SD_BUS_ERROR_LIMITS_EXCEEDED, ENOBUFS },
        [DAEMON_ERROR_NOT_SUPPORTED] = { SD_BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP },
        [DAEMON_ERROR_UNKNOWN_OBJECT] = { SD_BUS_ERROR_UNKNOWN_OBJECT, ENXIO },
        [DAEMON_ERROR_NOT_READY] = { GEMMAD_ERROR_NOT_READY, EAGAIN },
        [DAEMON_ERROR_CONTEXT_OVERFLOW] = { GEMMAD_ERROR_CONTEXT_OVERFLOW, EMSGSIZE },
        [DAEMON_ERROR_CANCELLED] = { GEMMAD_ERROR_CANCELLED, ECANCELED },
        [DAEMON_ERROR_BUSY] = { GEMMAD_ERROR_BUSY, EBUSY },
        [DAEMON_ERROR_FAILED] = { GEMMAD_ERROR_FAILED, EIO },
        [DAEMON_ERROR_NO_MEMORY] = { SD_BUS_ERROR_NO_MEMORY, ENOMEM },
};

const char *bus_error_name(DaemonErrorKind kind) {
        if (kind < 0 || kind >= _DAEMON_ERROR_MAX)
                kind = DAEMON_ERROR_FAILED;
        return error_table[kind].name;
}

int bus_error_set_daemon(sd_bus_error *error, const DaemonError *err) {
        DaemonErrorKind kind = err->kind > DAEMON_ERROR_NONE && err->kind < _DAEMON_ERROR_MAX ? err->kind
                                                                                               : DAEMON_ERROR_FAILED;
        sd_bus_error_set(error, error_table[kind].name, err->message[0] ? err->message : "Request failed.");
        return -error_table[kind].errno_value;
}

static const sd_bus_error_map gemmad_error_map[] = {
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_NOT_READY, EAGAIN),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_CONTEXT_OVERFLOW, EMSGSIZE),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_CANCELLED, ECANCELED),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_INVALID_MEDIA, EBADMSG),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_CAPTURE_FAILED, EIO),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_PORTAL_DENIED, EPERM),
        SD_BUS_ERROR_MAP(GEMMAD_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void) {
        return sd_bus_error_add_map(gemmad_error_map);
}
