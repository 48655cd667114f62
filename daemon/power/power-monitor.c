/* The power monitor (see power-monitor.h): three timers (sysfs poll, policy deadline, start
 * grace) and the UPower client, all on one sd-event loop. */
#include "power-monitor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "bus-upower.h"
#include "log.h"
#include "power-sysfs.h"

#define POLICY_TIMER_ACCURACY_USEC 1000ULL

struct PowerMonitor {
        sd_event *event;
        PowerMonitorConfig cfg;
        char *sysfs_root;                       /* cfg.sysfs_root points here */
        char *gpu_hwmon;                        /* the GPU's tempN_input, or NULL */
        PowerMonitorCallbacks cb;

        BusUPower *upower;
        uint64_t upower_retry_usec;             /* next connection attempt when upower is NULL or lost */
        sd_event_source *poll_timer, *policy_timer, *start_timer;

        PowerInputs sysfs;                      /* the thermal and PSI fields of the last poll */
        PowerWarnings warnings;                 /* of the last poll: only new lines are logged */
        bool started;                           /* the first decision was made */
        PowerInputs inputs;                     /* what the current decision was made from */
        PowerDecision decision;
        PowerInputEntry published[POWER_INPUT_ENTRIES_MAX];
        size_t n_published;
};

static int on_policy_timer(sd_event_source *s, uint64_t usec, void *userdata);

static uint64_t now_usec(PowerMonitor *m) {
        uint64_t t = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static bool entries_equal(const PowerInputEntry *a, size_t na, const PowerInputEntry *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++) {
                if (strcmp(a[i].key, b[i].key) != 0 || a[i].type != b[i].type)
                        return false;
                switch (a[i].type) {
                case 'b':
                        if (a[i].b != b[i].b)
                                return false;
                        break;
                case 'd':
                        if (a[i].d != b[i].d)
                                return false;
                        break;
                case 'u':
                        if (a[i].u != b[i].u)
                                return false;
                        break;
                default:
                        if (strcmp(a[i].s, b[i].s) != 0)
                                return false;
                }
        }
        return true;
}

static void arm_policy_timer(PowerMonitor *m, uint64_t when_usec) {
        int r;

        if (when_usec == POWER_USEC_INFINITY) {
                if (m->policy_timer)
                        (void) sd_event_source_set_enabled(m->policy_timer, SD_EVENT_OFF);
                return;
        }
        if (m->policy_timer) {
                r = sd_event_source_set_time(m->policy_timer, when_usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->policy_timer, SD_EVENT_ONESHOT);
        } else
                r = -ENOENT; /* created on first use */
        if (r == -ENOENT)
                r = sd_event_add_time(m->event, &m->policy_timer, CLOCK_MONOTONIC, when_usec,
                                      POLICY_TIMER_ACCURACY_USEC, on_policy_timer, m);
        if (r < 0)
                log_warning("Cannot arm the power policy timer: %s; the next change waits for the next poll",
                            strerror(-r));
}

/* Combines the inputs, runs the policy, arms its deadline and tells the owner what changed. */
static void evaluate(PowerMonitor *m) {
        PowerInputs in = m->sysfs;
        PowerInputEntry entries[POWER_INPUT_ENTRIES_MAX];

        if (!m->started)
                return;
        if (m->upower)
                bus_upower_get_inputs(m->upower, &in);
        const PowerDecision prev = m->decision;
        m->decision = power_policy_evaluate(&m->cfg.rules, &in, &prev, now_usec(m));
        m->inputs = in;
        arm_policy_timer(m, m->decision.next_usec);

        size_t n = power_inputs_to_entries(&in, entries);
        if (!entries_equal(entries, n, m->published, m->n_published)) {
                memcpy(m->published, entries, sizeof(entries));
                m->n_published = n;
                if (m->cb.inputs_changed)
                        m->cb.inputs_changed(m->cb.userdata);
        }
        if (prev.initialized && prev.level == m->decision.level && prev.reason == m->decision.reason)
                return;
        log_info("Power: model level %s, reason '%s'", power_level_to_string(m->decision.level),
                 power_reason_to_string(m->decision.reason));
        if (m->cb.decided)
                m->cb.decided(m->decision.level, power_reason_to_string(m->decision.reason), m->cb.userdata);
}

static int on_policy_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        evaluate(userdata);
        return 0;
}

static void start(PowerMonitor *m) {
        if (m->started)
                return;
        m->started = true;
        m->start_timer = sd_event_source_disable_unref(m->start_timer);
        evaluate(m);
}

static int on_start_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        start(userdata);
        return 0;
}

static void on_upower_changed(void *userdata) {
        PowerMonitor *m = userdata;

        if (!m->started) {
                if (m->upower && bus_upower_settled(m->upower))
                        start(m);
                return;
        }
        evaluate(m);
}

static bool warning_seen(const PowerWarnings *w, const char *line) {
        for (unsigned i = 0; i < w->n; i++)
                if (strcmp(w->line[i], line) == 0)
                        return true;
        return false;
}

static void sysfs_read(PowerMonitor *m) {
        PowerWarnings w = { 0 };
        PowerInputs in = { 0 };
        int r;

        if (m->cfg.use_thermal) {
                PowerThermalReading t = { 0 };
                r = power_sysfs_read_thermal(m->cfg.sysfs_root, &t, &w);
                /* The GPU's sensor joins the zones: the hottest and the worst of all count. What
                 * it cannot read (-ENOMEM included) leaves the zones' reading as it was. */
                if (r >= 0 && m->gpu_hwmon)
                        (void) power_sysfs_read_hwmon(m->gpu_hwmon, &t, &w);
                if (r >= 0) {
                        in.temp_known = t.temp_known;
                        in.temp_c = t.temp_c;
                        in.gpu_temp_known = t.hwmon_known;
                        in.gpu_temp_c = t.hwmon_temp_c;
                        in.thermal_known = t.state_known;
                        in.thermal = t.state;
                        in.thermal_hyst = t.state_hyst;
                }
        }
        if (m->cfg.use_pressure) {
                PowerPressure p;
                if (power_sysfs_read_pressure(m->cfg.sysfs_root, "cpu", &p, &w) > 0) {
                        in.psi_cpu_known = true;
                        in.psi_cpu_avg10 = p.avg10;
                }
                if (power_sysfs_read_pressure(m->cfg.sysfs_root, "memory", &p, &w) > 0) {
                        in.psi_memory_known = true;
                        in.psi_memory_avg10 = p.avg10;
                }
        }
        for (unsigned i = 0; i < w.n; i++)
                if (!warning_seen(&m->warnings, w.line[i]))
                        log_warning("%s", w.line[i]);
        if (w.n_dropped > 0 && m->warnings.n_dropped == 0)
                log_warning("... and %u more problems with the thermal, hwmon and pressure files", w.n_dropped);
        m->warnings = w;
        m->sysfs = in;
}

static void upower_connect(PowerMonitor *m) {
        m->upower = bus_upower_free(m->upower);
        int r = bus_upower_new(m->event, NULL, on_upower_changed, m, &m->upower);
        if (r < 0)
                log_warning("Cannot connect to the system bus: %s; battery and power profile unknown, retrying in %us",
                            strerror(-r), (unsigned) (POWER_MONITOR_RECONNECT_USEC / POWER_USEC_PER_SEC));
        m->upower_retry_usec = now_usec(m) + POWER_MONITOR_RECONNECT_USEC;
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PowerMonitor *m = userdata;

        sysfs_read(m);
        if (m->cfg.use_upower && (!m->upower || !bus_upower_connected(m->upower)) &&
            now_usec(m) >= m->upower_retry_usec)
                upower_connect(m);
        evaluate(m);
        if (sd_event_source_set_time_relative(s, m->cfg.poll_usec) < 0 ||
            sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                log_warning("Cannot re-arm the power poll timer; thermal and pressure readings stop");
        return 0;
}

PowerMonitor *power_monitor_free(PowerMonitor *m) {
        if (!m)
                return NULL;
        sd_event_source_disable_unref(m->poll_timer);
        sd_event_source_disable_unref(m->policy_timer);
        sd_event_source_disable_unref(m->start_timer);
        bus_upower_free(m->upower);
        sd_event_unref(m->event);
        free(m->sysfs_root);
        free(m->gpu_hwmon);
        free(m);
        return NULL;
}

int power_monitor_new(sd_event *e, const PowerMonitorConfig *cfg, PowerMonitorCallbacks cb, PowerMonitor **ret) {
        _cleanup_(power_monitor_freep) PowerMonitor *m = NULL;
        char err[160];
        int r;

        if (power_rules_validate(&cfg->rules, err, sizeof(err)) < 0) {
                log_error("Invalid power rules: %s", err);
                return -EINVAL;
        }
        if (cfg->poll_usec < POWER_POLL_USEC_MIN || cfg->poll_usec > POWER_POLL_USEC_MAX) {
                log_error("Invalid power poll interval %llu ms: must be within %llu..%llu ms",
                          (unsigned long long) (cfg->poll_usec / 1000), POWER_POLL_USEC_MIN / 1000,
                          POWER_POLL_USEC_MAX / 1000);
                return -EINVAL;
        }
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->cfg = *cfg;
        m->cb = cb;
        power_decision_init(&m->decision);
        if (cfg->sysfs_root) {
                m->sysfs_root = strdup(cfg->sysfs_root);
                if (!m->sysfs_root)
                        return -ENOMEM;
        }
        m->cfg.sysfs_root = m->sysfs_root;

        sysfs_read(m);
        r = sd_event_add_time_relative(e, &m->poll_timer, CLOCK_MONOTONIC, m->cfg.poll_usec, m->cfg.poll_usec / 20,
                                       on_poll_timer, m);
        if (r < 0)
                return r;
        if (m->cfg.use_upower)
                upower_connect(m);
        /* The first decision: at the first loop iteration without UPower, else when its first
         * answers are in (on_upower_changed) or after the grace period, whichever comes first. */
        r = sd_event_add_time_relative(e, &m->start_timer, CLOCK_MONOTONIC,
                                       m->upower ? POWER_MONITOR_START_GRACE_USEC : 0, POLICY_TIMER_ACCURACY_USEC,
                                       on_start_timer, m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int power_monitor_set_gpu_hwmon(PowerMonitor *m, const char *path) {
        char *copy = NULL;

        if (path && *path) {
                if (m->gpu_hwmon && strcmp(m->gpu_hwmon, path) == 0)
                        return 0;
                copy = strdup(path);
                if (!copy)
                        return -ENOMEM;
        } else if (!m->gpu_hwmon)
                return 0;
        free(m->gpu_hwmon);
        m->gpu_hwmon = copy;
        if (!copy)
                log_info("Power: not reading a GPU temperature");
        else if (m->cfg.use_thermal)
                log_info("Power: reading the GPU temperature from %s", copy);
        else
                log_info("Power: thermal reading is off; not reading the GPU temperature from %s", copy);
        /* Read now, decide at the next loop iteration: the caller may itself be reacting to a
         * callback (gemmad sets the path while the model's "ready" is being announced), so no
         * callback runs from here. */
        sysfs_read(m);
        if (m->started)
                arm_policy_timer(m, now_usec(m));
        return 0;
}

size_t power_monitor_inputs(const PowerMonitor *m, PowerInputEntry ret[static POWER_INPUT_ENTRIES_MAX]) {
        memcpy(ret, m->published, m->n_published * sizeof(*ret));
        return m->n_published;
}

void power_monitor_get_inputs(const PowerMonitor *m, PowerInputs *ret) {
        *ret = m->inputs;
}

bool power_monitor_decision(const PowerMonitor *m, PowerLevel *ret_level, const char **ret_reason) {
        if (!m->started || !m->decision.initialized)
                return false;
        if (ret_level)
                *ret_level = m->decision.level;
        if (ret_reason)
                *ret_reason = power_reason_to_string(m->decision.reason);
        return true;
}
