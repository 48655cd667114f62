/* gemmad: the composition root. Reads the command line and the config, takes the bus name before
 * the model loads (so D-Bus activation returns at once and clients watch State), starts the
 * manager (engine thread), talks to systemd (READY, STATUS, WATCHDOG), and shuts down cleanly on
 * SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "backend-spec.h"
#include "bus.h"
#include "config.h"
#include "log.h"
#include "manager.h"
#include "power/power-monitor.h"

#define EXIT_USAGE 2
/* How long a shutdown may wait for running requests to end before exiting regardless. */
#define STOP_TIMEOUT_USEC (2 * 1000 * 1000ULL)

static const char *arg_model = NULL;
static const char *arg_config = NULL;
static const char *arg_bus_address = NULL;
static long arg_threads = -1;
static long arg_context = -1;
static bool arg_no_prefault = false;
static const char *arg_backend = NULL;
static bool arg_verbose = false;

typedef struct Daemon {
        Config config;
        sd_event *event;
        sd_bus *bus;
        Bus *binding;
        Manager *manager;
        PowerMonitor *power;
        ManagerObserver bus_observer;
        sd_event_source *watchdog, *stop_timer;
        uint64_t watchdog_usec;
        uint64_t last_heartbeat;
        const char *last_status;
        bool stopping;
} Daemon;

static void help(void) {
        printf("Usage: gemmad [OPTIONS]\n"
               "\n"
               "Serve one on-device Gemma 3n model to every program of the desktop session over\n"
               "D-Bus (name org.gemmad.Gemmad1 on the session bus). The bus name is taken at once;\n"
               "the model then loads in the background (property State: loading -> ready).\n"
               "\n"
               "Options:\n"
               "  -m, --model PATH        the GGUF model file (overrides [model] path in the config)\n"
               "  -c, --config FILE       read this config file instead of the default search:\n"
               "                          $XDG_CONFIG_HOME/gemmad/gemmad.conf, then /etc/gemmad/gemmad.conf\n"
               "      --bus-address ADDR  connect to this D-Bus address instead of the session bus\n"
               "                          (for tests: unix:path=/run/.../bus)\n"
               "  -t, --threads N         compute threads (0 = one per core; default from the config)\n"
               "      --context N         positions per session (capped at the model's context)\n"
               "      --no-prefault       do not read the weights into memory while loading\n"
               "      --backend B         where the decoder layers run: auto (an OpenCL GPU if there\n"
               "                          is one, else the CPU), cpu, opencl, opencl:NAME-or-INDEX\n"
               "                          (default from the config: [engine] backend = auto)\n"
               "  -v, --verbose           log debug messages\n"
               "  -h, --help              show this help\n"
               "      --version           show the version\n"
               "\n"
               "Signals: SIGTERM and SIGINT stop accepting work, cancel running requests (each caller\n"
               "gets its answer), release the bus name and exit 0 within 2 seconds.\n"
               "\n"
               "Exit status: 0 after a clean shutdown, 1 on a fatal error (bus unreachable, name\n"
               "taken, bad config), 2 on a usage error. A model that fails to load is not fatal:\n"
               "gemmad stays on the bus in State 'error' and answers NotReady.\n"
               "\n"
               "See gemmad(8), gemmad.conf(5) and gemmactl(1).\n");
}

static int parse_long(const char *opt, const char *s, long min, long max, long *ret) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "gemmad: %s: '%s' is not a number in %ld..%ld\n", opt, s, min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_BUS_ADDRESS = 0x100, ARG_CONTEXT, ARG_NO_PREFAULT, ARG_BACKEND, ARG_VERSION };
        static const struct option options[] = {
                { "model", required_argument, NULL, 'm' },
                { "config", required_argument, NULL, 'c' },
                { "bus-address", required_argument, NULL, ARG_BUS_ADDRESS },
                { "threads", required_argument, NULL, 't' },
                { "context", required_argument, NULL, ARG_CONTEXT },
                { "no-prefault", no_argument, NULL, ARG_NO_PREFAULT },
                { "backend", required_argument, NULL, ARG_BACKEND },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "m:c:t:vh", options, NULL)) >= 0) {
                switch (c) {
                case 'm':
                        arg_model = optarg;
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_BUS_ADDRESS:
                        arg_bus_address = optarg;
                        break;
                case 't':
                        if (parse_long("--threads", optarg, 0, 256, &arg_threads) < 0)
                                return -EINVAL;
                        break;
                case ARG_CONTEXT:
                        if (parse_long("--context", optarg, 128, 1048576, &arg_context) < 0)
                                return -EINVAL;
                        break;
                case ARG_NO_PREFAULT:
                        arg_no_prefault = true;
                        break;
                case ARG_BACKEND: {
                        BackendSpec spec;
                        GemmaError err = {};
                        if (backend_spec_parse(optarg, &spec, &err) < 0) {
                                fprintf(stderr, "gemmad: --backend: %s\n", err.message);
                                return -EINVAL;
                        }
                        arg_backend = optarg;
                        break;
                }
                case 'v':
                        arg_verbose = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("gemmad %s\n", GEMMAD_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'gemmad --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "gemmad: unexpected argument '%s'. Try 'gemmad --help'.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int load_config(Config *config) {
        GemmaError err = {};
        int r = config_init(config);
        if (r < 0)
                return r;
        _cleanup_free_ char *found = NULL;
        const char *path = arg_config;
        if (!path)
                path = found = config_find_default_path();
        if (path) {
                r = config_load_file(config, path, &err);
                if (r < 0) {
                        log_error("%s", gemma_error_message(&err));
                        return r;
                }
                log_info("read configuration from %s", path);
        }
        if (arg_threads >= 0)
                config->threads = (uint32_t) arg_threads;
        if (arg_context >= 0)
                config->context = (uint32_t) arg_context;
        if (arg_no_prefault)
                config->prefault = false;
        if (arg_backend) {
                char *copy = strdup(arg_backend);
                if (!copy) {
                        log_error("out of memory");
                        return -ENOMEM;
                }
                free(config->backend);
                config->backend = copy;
        }
        return 0;
}

/* ---- systemd notification ---- */

static void notify_status(Daemon *d) {
        const Manager *m = d->manager;
        char status[DAEMON_ERROR_MESSAGE_MAX + 64];
        if (!m)
                return;
        switch (m->state) {
        case MANAGER_LOADING:
                snprintf(status, sizeof(status), "STATUS=Loading model (%s, %.0f%%)", m->state_reason,
                         m->load_progress * 100);
                break;
        case MANAGER_READY:
                snprintf(status, sizeof(status), "STATUS=Ready: %u sessions, %u requests", m->n_sessions,
                         m->n_requests);
                break;
        case MANAGER_ERROR:
                snprintf(status, sizeof(status), "STATUS=No model: %s", m->error_message ? m->error_message : "");
                break;
        default:
                snprintf(status, sizeof(status), "STATUS=Stopping");
                break;
        }
        (void) sd_notify(false, status);
}

static void follow_gpu_hwmon(Daemon *d, const Manager *m);

static void on_state_changed(Manager *m, void *userdata) {
        Daemon *d = userdata;
        static ManagerState logged = _MANAGER_STATE_MAX;
        if (m->state != logged) {
                logged = m->state;
                if (m->state == MANAGER_READY) {
                        log_info("model '%s' loaded; ready", m->model_path);
                        follow_gpu_hwmon(d, m);
                } else if (m->state == MANAGER_ERROR)
                        log_error("no model loaded: %s", m->error_message ? m->error_message : "unknown error");
        }
        notify_status(d);
        d->bus_observer.state_changed(m, d->bus_observer.userdata);
}

static void on_counters_changed(Manager *m, void *userdata) {
        Daemon *d = userdata;
        if (m->state == MANAGER_READY)
                notify_status(d);
        d->bus_observer.counters_changed(m, d->bus_observer.userdata);
}

static void on_session_freed(Manager *m, Session *s, void *userdata) {
        Daemon *d = userdata;
        d->bus_observer.session_freed(m, s, d->bus_observer.userdata);
}

static void finish_shutdown(Daemon *d) {
        /* Every caller has its answer by now: hand the name back and go. */
        (void) sd_bus_flush(d->bus);
        (void) sd_bus_release_name(d->bus, GEMMAD_BUS_NAME);
        (void) sd_bus_flush(d->bus);
        (void) sd_event_exit(d->event, 0);
}

static void on_stopped(Manager *m, void *userdata) {
        Daemon *d = userdata;
        d->bus_observer.stopped(m, d->bus_observer.userdata);
        finish_shutdown(d);
}

/* The event loop being alive is not enough: ping only while the engine thread's heartbeat
 * advances or it is idle, so that a wedged forward pass gets the service restarted. */
static int on_watchdog(sd_event_source *source, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        Engine *e = d->manager ? d->manager->engine : NULL;
        uint64_t beat = e ? engine_heartbeat(e) : 0;
        if (!e || beat != d->last_heartbeat || engine_is_idle(e))
                (void) sd_notify(false, "WATCHDOG=1");
        else
                log_warning("engine made no progress for %" PRIu64 " ms; not feeding the watchdog",
                            d->watchdog_usec / 2 / 1000);
        d->last_heartbeat = beat;
        (void) sd_event_source_set_time_relative(source, d->watchdog_usec / 2);
        (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        return 0;
}

static int on_stop_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        /* A forward pass is still running and cannot be interrupted mid-step: callers got their
         * Cancelled answers from the manager already; exit without waiting for the thread. */
        log_warning("requests did not end within 2 s; exiting anyway");
        (void) sd_bus_flush(d->bus);
        (void) sd_bus_release_name(d->bus, GEMMAD_BUS_NAME);
        (void) sd_bus_flush(d->bus);
        _exit(EXIT_SUCCESS);
}

static int on_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        if (d->stopping)
                return 0;
        d->stopping = true;
        log_info("received %s; stopping", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        (void) sd_event_add_time_relative(d->event, &d->stop_timer, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0,
                                          on_stop_timeout, d);
        if (d->manager)
                manager_stop(d->manager);
        else
                finish_shutdown(d);
        return 0;
}

/* ---- power and thermal state ---- */

static void on_power_decided(PowerLevel level, const char *reason, void *userdata) {
        Daemon *d = userdata;
        manager_apply_power(d->manager, level, reason);
}

static void on_power_inputs(void *userdata) {
        Daemon *d = userdata;
        PowerInputEntry entries[POWER_INPUT_ENTRIES_MAX];
        size_t n = power_monitor_inputs(d->power, entries);
        manager_set_power_inputs(d->manager, entries, n);
}

/* gpu_hwmon = auto: the sensor of the device the model was just placed on, found by the OpenCL
 * backend under /sys. Under a sysfs_root other than "/" the same path is looked up in that tree,
 * so a fake root never mixes in the real machine's GPU. */
static void follow_gpu_hwmon(Daemon *d, const Manager *m) {
        const char *root = d->config.power_sysfs_root;
        const char *found = m->model.hwmon_temp;
        _cleanup_free_ char *path = NULL;

        if (!d->power || strcmp(d->config.power_gpu_hwmon, "auto") != 0)
                return;
        if (found[0] == '/' && root && strcmp(root, "/") != 0) {
                size_t n = strlen(root);
                while (n > 1 && root[n - 1] == '/')
                        n--;
                if (asprintf(&path, "%.*s%s", (int) n, root, found) < 0) {
                        log_warning("out of memory; not reading the GPU temperature");
                        return;
                }
        }
        if (!found[0])
                log_debug("gpu_hwmon = auto: no hwmon temperature sensor for backend %s", m->model.backend);
        if (power_monitor_set_gpu_hwmon(d->power, path ? path : found) < 0)
                log_warning("out of memory; not reading the GPU temperature");
}

static int start_power_monitor(Daemon *d) {
        const Config *c = &d->config;
        PowerMonitorConfig cfg;
        power_monitor_config_default(&cfg);
        cfg.sysfs_root = c->power_sysfs_root;
        cfg.poll_usec = (uint64_t) c->power_poll_ms * 1000;
        cfg.use_upower = c->power_upower;
        cfg.use_thermal = c->power_thermal;
        cfg.use_pressure = c->power_pressure;
        cfg.rules.battery_low_enter_percent = c->power_battery_low_percent;
        cfg.rules.battery_low_leave_percent = MIN(100.0, c->power_battery_low_percent + 5.0);
        cfg.rules.down_delay_usec = (uint64_t) c->power_down_delay_ms * 1000;
        cfg.rules.up_dwell_usec = (uint64_t) c->power_up_dwell_ms * 1000;
        cfg.rules.min_dwell_usec = (uint64_t) c->power_min_dwell_ms * 1000;
        PowerMonitorCallbacks cb = { .decided = on_power_decided, .inputs_changed = on_power_inputs, .userdata = d };
        int r = power_monitor_new(d->event, &cfg, cb, &d->power);
        if (r < 0)
                return r;
        /* A configured sensor is read from the start; auto waits for the model's device. */
        if (c->power_gpu_hwmon[0] == '/' && power_monitor_set_gpu_hwmon(d->power, c->power_gpu_hwmon) < 0)
                log_warning("out of memory; not reading the GPU temperature");
        return 0;
}

/* ---- setup ---- */

static int connect_bus(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;
        if (!arg_bus_address)
                return sd_bus_open_user_with_description(ret, "gemmad");
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, arg_bus_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_set_trusted(bus, false);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static void daemon_done(Daemon *d) {
        d->power = power_monitor_free(d->power);
        d->manager = manager_free(d->manager);
        d->binding = bus_free(d->binding);
        d->watchdog = sd_event_source_disable_unref(d->watchdog);
        d->stop_timer = sd_event_source_disable_unref(d->stop_timer);
        if (d->bus) {
                (void) sd_bus_flush(d->bus);
                d->bus = sd_bus_flush_close_unref(d->bus);
        }
        d->event = sd_event_unref(d->event);
        config_done(&d->config);
}

static int run(int argc, char **argv) {
        _cleanup_(daemon_done) Daemon d = {};
        DaemonError derr = {};
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        if (arg_verbose)
                log_set_max_level(LOG_DEBUG);
        if (load_config(&d.config) < 0)
                return EXIT_FAILURE;

        /* Block the stop signals before any thread starts, so only the event loop sees them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* A client that closes its GenerateToFd pipe must not kill the daemon. */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&d.event);
        if (r < 0) {
                log_error("cannot create the event loop: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        (void) sd_event_add_signal(d.event, NULL, SIGTERM, on_signal, &d);
        (void) sd_event_add_signal(d.event, NULL, SIGINT, on_signal, &d);

        r = connect_bus(&d.bus);
        if (r < 0) {
                log_error("cannot connect to the %s: %s", arg_bus_address ? arg_bus_address : "session bus",
                          strerror(-r));
                return EXIT_FAILURE;
        }
        r = sd_bus_attach_event(d.bus, d.event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = bus_new(d.bus, &d.config, GEMMAD_VERSION, &d.binding);
        if (r < 0) {
                log_error("cannot register the D-Bus objects: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        /* The name comes first: activation and `systemctl --user start` return now, and clients
         * follow State while the weights load. Calls made meanwhile wait for the model. */
        r = sd_bus_request_name(d.bus, GEMMAD_BUS_NAME, 0);
        if (r == -EEXIST) {
                log_error("another program already owns %s on this bus (is gemmad running?)", GEMMAD_BUS_NAME);
                return EXIT_FAILURE;
        }
        if (r < 0) {
                log_error("cannot own the name %s: %s", GEMMAD_BUS_NAME, strerror(-r));
                return EXIT_FAILURE;
        }

        d.bus_observer = bus_observer(d.binding);
        ManagerObserver observer = {
                .state_changed = on_state_changed,
                .counters_changed = on_counters_changed,
                .session_freed = on_session_freed,
                .stopped = on_stopped,
                .userdata = &d,
        };
        if (manager_new(&d.config, arg_model, d.event, &observer, &d.manager, &derr) < 0) {
                log_error("%s", derr.message);
                return EXIT_FAILURE;
        }
        bus_attach(d.binding, d.manager);
        if (d.manager->state == MANAGER_ERROR)
                log_error("%s", d.manager->error_message);
        else
                log_info("loading '%s'", d.manager->model_path);

        /* The slice policy's inputs. Without them gemmad still serves, on the full model. */
        r = start_power_monitor(&d);
        if (r < 0)
                log_warning("power and thermal monitoring is off: %s", strerror(-r));

        (void) sd_notify(false, "READY=1");
        notify_status(&d);

        if (sd_watchdog_enabled(false, &d.watchdog_usec) > 0 && d.watchdog_usec > 0) {
                r = sd_event_add_time_relative(d.event, &d.watchdog, CLOCK_MONOTONIC, d.watchdog_usec / 2, 0,
                                               on_watchdog, &d);
                if (r < 0)
                        log_warning("cannot arm the watchdog timer: %s", strerror(-r));
        }

        r = sd_event_loop(d.event);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
        return run(argc, argv);
}
