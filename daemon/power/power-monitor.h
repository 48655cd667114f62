/* The power monitor: on the event thread, gathers the inputs (UPower and power-profiles-daemon on
 * the system bus, thermal zones, the GPU's hwmon sensor and PSI re-read on a timer), runs the
 * policy whenever one changes or a waiting change falls due (a timer at the policy's deadline, no
 * polling for it), and tells its owner when the decision changes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "power-config.h"
#include "power-policy.h"

/* Without the first UPower answers, the first decision waits at most this long. */
#define POWER_MONITOR_START_GRACE_USEC (1 * POWER_USEC_PER_SEC)
/* After the system bus connection is lost (or could not be made), the next try comes this late. */
#define POWER_MONITOR_RECONNECT_USEC (30 * POWER_USEC_PER_SEC)

typedef struct PowerMonitor PowerMonitor;

typedef struct PowerMonitorCallbacks {
        /* The decision changed; also called for the first decision, once the first UPower answers
         * are in (or POWER_MONITOR_START_GRACE_USEC passed). reason is a static token of
         * power_reason_to_string(). Must not free the monitor. */
        void (*decided)(PowerLevel level, const char *reason, void *userdata);
        /* Optional: what power_monitor_inputs() returns changed (for SliceInputs' PropertiesChanged). */
        void (*inputs_changed)(void *userdata);
        void *userdata;
} PowerMonitorCallbacks;

/* Starts the monitor on e. cfg is copied (sysfs_root included). Reads sysfs/PSI once right away;
 * UPower is asked asynchronously; no callback runs before this returns. A system bus that cannot
 * be reached is not an error (UPower inputs stay unknown; retried every
 * POWER_MONITOR_RECONNECT_USEC). Returns 0 and sets *ret; -EINVAL for a config whose rules fail
 * power_rules_validate() or whose poll_usec is out of range (logged), -ENOMEM, or the errno of
 * creating an event source (*ret untouched). */
int power_monitor_new(sd_event *e, const PowerMonitorConfig *cfg, PowerMonitorCallbacks cb, PowerMonitor **ret);

/* Stops everything. Takes NULL, returns NULL. */
PowerMonitor *power_monitor_free(PowerMonitor *m);

static inline void power_monitor_freep(PowerMonitor **m) {
        if (*m)
                power_monitor_free(*m);
}

/* The GPU's hwmon temperature input (an absolute .../tempN_input path, see
 * power_sysfs_read_hwmon()), read with the thermal zones on every poll while cfg.use_thermal is
 * set; NULL or "" stops reading one. The path is copied. It is read at once and decided on at the
 * next loop iteration (no callback runs before this returns), so a hot GPU counts without waiting
 * for a poll. Returns 0; -ENOMEM (the previous path stays). */
int power_monitor_set_gpu_hwmon(PowerMonitor *m, const char *path);

/* The inputs the last decision was made from, as (key, type, value) for SliceInputs a{sv}: see
 * power_inputs_to_entries(). Returns how many entries were written (0 before the first decision). */
size_t power_monitor_inputs(const PowerMonitor *m, PowerInputEntry ret[static POWER_INPUT_ENTRIES_MAX]);

/* The inputs as a struct (all unknown before the first decision). */
void power_monitor_get_inputs(const PowerMonitor *m, PowerInputs *ret);

/* The current decision: true and sets level and reason once the first decision is made; false
 * (outputs untouched) before. */
bool power_monitor_decision(const PowerMonitor *m, PowerLevel *ret_level, const char **ret_reason);
