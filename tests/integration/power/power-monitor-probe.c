/* Test driver for the power monitor: runs it on an sd-event loop (system bus from
 * DBUS_SYSTEM_BUS_ADDRESS, sysfs from --sysfs-root, the GPU sensor from --gpu-hwmon) and prints
 * one line per decision and per change of inputs, each with its CLOCK_MONOTONIC time in
 * microseconds:
 *   decision USEC LEVEL REASON
 *   inputs USEC key=value ...
 * Runs until SIGTERM or SIGINT. "--now" prints the current CLOCK_MONOTONIC time and exits, so a
 * test script can time a change on the same clock. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "log.h"
#include "power/power-monitor.h"

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void on_decided(PowerLevel level, const char *reason, void *userdata) {
        printf("decision %" PRIu64 " %s %s\n", mono_usec(), power_level_to_string(level), reason);
        fflush(stdout);
}

static void on_inputs_changed(void *userdata) {
        PowerMonitor **m = userdata;
        PowerInputEntry e[POWER_INPUT_ENTRIES_MAX];

        if (!*m)
                return;
        size_t n = power_monitor_inputs(*m, e);
        printf("inputs %" PRIu64, mono_usec());
        for (size_t i = 0; i < n; i++)
                switch (e[i].type) {
                case 'b':
                        printf(" %s=%s", e[i].key, e[i].b ? "true" : "false");
                        break;
                case 'd':
                        printf(" %s=%.2f", e[i].key, e[i].d);
                        break;
                case 'u':
                        printf(" %s=%u", e[i].key, (unsigned) e[i].u);
                        break;
                default:
                        printf(" %s=%s", e[i].key, e[i].s);
                }
        printf("\n");
        fflush(stdout);
}

static int parse_ms(const char *s, uint64_t *ret_usec) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v > 3600000ULL)
                return -EINVAL;
        *ret_usec = v * 1000ULL;
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "sysfs-root", required_argument, NULL, 'r' },
                { "gpu-hwmon", required_argument, NULL, 'g' },
                { "poll-ms", required_argument, NULL, 'p' },
                { "down-ms", required_argument, NULL, 'd' },
                { "up-ms", required_argument, NULL, 'u' },
                { "min-dwell-ms", required_argument, NULL, 'm' },
                { "no-upower", no_argument, NULL, 'U' },
                { "no-thermal", no_argument, NULL, 'T' },
                { "no-pressure", no_argument, NULL, 'P' },
                { "now", no_argument, NULL, 'n' },
                { "verbose", no_argument, NULL, 'v' },
                { 0 },
        };
        PowerMonitorConfig cfg;
        PowerMonitor *monitor = NULL;
        const char *gpu_hwmon = NULL;
        sd_event *e = NULL;
        sigset_t mask;
        int c, r;

        power_monitor_config_default(&cfg);
        while ((c = getopt_long(argc, argv, "v", options, NULL)) >= 0) {
                uint64_t *target = NULL;
                switch (c) {
                case 'r':
                        cfg.sysfs_root = optarg;
                        break;
                case 'g':
                        gpu_hwmon = optarg;
                        break;
                case 'p':
                        target = &cfg.poll_usec;
                        break;
                case 'd':
                        target = &cfg.rules.down_delay_usec;
                        break;
                case 'u':
                        target = &cfg.rules.up_dwell_usec;
                        break;
                case 'm':
                        target = &cfg.rules.min_dwell_usec;
                        break;
                case 'U':
                        cfg.use_upower = false;
                        break;
                case 'T':
                        cfg.use_thermal = false;
                        break;
                case 'P':
                        cfg.use_pressure = false;
                        break;
                case 'n':
                        printf("%" PRIu64 "\n", mono_usec());
                        return 0;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                default:
                        return 2;
                }
                if (target && parse_ms(optarg, target) < 0) {
                        fprintf(stderr, "invalid milliseconds '%s'\n", optarg);
                        return 2;
                }
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&e);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "event loop: %s\n", strerror(-r));
                return 1;
        }
        r = power_monitor_new(e, &cfg,
                              (PowerMonitorCallbacks) {
                                      .decided = on_decided,
                                      .inputs_changed = on_inputs_changed,
                                      .userdata = &monitor,
                              },
                              &monitor);
        if (r < 0) {
                fprintf(stderr, "power_monitor_new: %s\n", strerror(-r));
                sd_event_unref(e);
                return 1;
        }
        if (gpu_hwmon && power_monitor_set_gpu_hwmon(monitor, gpu_hwmon) < 0) {
                fprintf(stderr, "power_monitor_set_gpu_hwmon: out of memory\n");
                monitor = power_monitor_free(monitor);
                sd_event_unref(e);
                return 1;
        }
        r = sd_event_loop(e);
        monitor = power_monitor_free(monitor);
        sd_event_unref(e);
        if (r < 0) {
                fprintf(stderr, "event loop: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
