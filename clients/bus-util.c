/* gemmactl's bus plumbing: connecting, the one table from D-Bus error names to exit codes, the
 * a{sv} of generation options, and a Client whose event loop waits for replies and signals while
 * it notices SIGINT/SIGTERM, gemmad leaving the bus and a lost connection. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemmactl.h"

int bus_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (arg_bus_address) {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, arg_bus_address);
                if (r == -EINVAL) {
                        fprintf(stderr, "gemmactl: --bus-address: '%s' is not a D-Bus address\n", arg_bus_address);
                        return EXIT_USAGE;
                }
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, true);
                if (r >= 0)
                        r = sd_bus_set_description(bus, "gemmactl");
                if (r >= 0)
                        r = sd_bus_start(bus);
                if (r < 0) {
                        fprintf(stderr, "gemmactl: cannot connect to the bus at '%s': %s\n", arg_bus_address,
                                strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        } else {
                r = sd_bus_open_user_with_description(&bus, "gemmactl");
                if (r == -ENOMEDIUM) {
                        fputs("gemmactl: no session bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set "
                              "(or use --bus-address)\n",
                              stderr);
                        return EXIT_UNREACHABLE;
                }
                if (r < 0) {
                        fprintf(stderr, "gemmactl: cannot connect to the session bus: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        }
        /* The default for calls that do not wait for the model; waiting calls pass their own. */
        (void) sd_bus_set_method_call_timeout(bus, call_timeout_usec(false));
        *ret = TAKE_PTR(bus);
        return EXIT_OK;
}

static bool startswith(const char *s, const char *prefix) {
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool name_unreachable(const char *name) {
        return name && (strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                        strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0 ||
                        startswith(name, "org.freedesktop.DBus.Error.Spawn.") ||
                        startswith(name, "org.freedesktop.systemd1."));
}

int bus_error_exit_code(const char *name) {
        static const struct {
                const char *name;
                int exit_code;
        } table[] = {
                { "org.gemmad.Gemmad1.Error.NotReady", EXIT_NOT_READY },
                { "org.gemmad.Gemmad1.Error.ContextOverflow", EXIT_CONTEXT },
                { "org.gemmad.Gemmad1.Error.Busy", EXIT_BUSY },
                { SD_BUS_ERROR_LIMITS_EXCEEDED, EXIT_BUSY },
                { SD_BUS_ERROR_DISCONNECTED, EXIT_UNREACHABLE },
        };

        if (!name)
                return EXIT_FAILED;
        if (name_unreachable(name))
                return EXIT_UNREACHABLE;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(name, table[i].name) == 0)
                        return table[i].exit_code;
        return EXIT_FAILED;
}

int bus_error_report(const sd_bus_error *error, int r, const char *what) {
        const char *name = error && sd_bus_error_is_set(error) ? error->name : NULL;
        const char *message = name && error->message && *error->message ? error->message : NULL;

        if (name_unreachable(name)) {
                fprintf(stderr, "gemmactl: gemmad is not running on this bus and could not be activated: %s\n",
                        message ?: name);
                return EXIT_UNREACHABLE;
        }
        if (name && (strcmp(name, SD_BUS_ERROR_TIMEOUT) == 0 ||
                     (strcmp(name, SD_BUS_ERROR_NO_REPLY) == 0 && message && strstr(message, "timed out")))) {
                fprintf(stderr, "gemmactl: %s: no reply from gemmad in time (see --timeout; 0 = no limit)\n", what);
                return EXIT_FAILED;
        }
        if (name && strcmp(name, SD_BUS_ERROR_UNKNOWN_METHOD) == 0) {
                fprintf(stderr, "gemmactl: %s: %s (is gemmad older than gemmactl?)\n", what, message ?: name);
                return EXIT_FAILED;
        }
        if (name) {
                if (message)
                        fprintf(stderr, "gemmactl: %s\n", message);
                else
                        fprintf(stderr, "gemmactl: %s failed: %s\n", what, name);
                return bus_error_exit_code(name);
        }
        if (r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE) {
                fprintf(stderr, "gemmactl: %s: lost the connection to the bus\n", what);
                return EXIT_UNREACHABLE;
        }
        fprintf(stderr, "gemmactl: %s failed: %s\n", what, strerror(r < 0 ? -r : EIO));
        return EXIT_FAILED;
}

int gen_options_append(sd_bus_message *m, const GenOptions *o) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
#define ENTRY(key, type, value)                                                         \
        do {                                                                            \
                r = sd_bus_message_append(m, "{sv}", key, type, value);                 \
                if (r < 0)                                                              \
                        return r;                                                       \
        } while (0)
        if (o->system)
                ENTRY("system", "s", o->system);
        if (o->has_max_tokens)
                ENTRY("max_tokens", "u", o->max_tokens);
        if (o->has_temperature)
                ENTRY("temperature", "d", o->temperature);
        if (o->has_top_k)
                ENTRY("top_k", "u", o->top_k);
        if (o->has_top_p)
                ENTRY("top_p", "d", o->top_p);
        if (o->has_min_p)
                ENTRY("min_p", "d", o->min_p);
        if (o->has_repeat_penalty)
                ENTRY("repeat_penalty", "d", o->repeat_penalty);
        if (o->has_seed)
                ENTRY("seed", "t", o->seed);
        if (o->raw)
                ENTRY("raw", "b", 1);
        if (o->has_context)
                ENTRY("context", "u", o->context);
        if (o->no_wait)
                ENTRY("no_wait", "b", 1);
#undef ENTRY
        if (o->n_stops > 0) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "stop");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t i = 0; r >= 0 && i < o->n_stops; i++)
                        r = sd_bus_message_append(m, "s", o->stops[i]);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int signals_block(void) {
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        return sigprocmask(SIG_BLOCK, &ss, NULL) < 0 ? -errno : 0;
}

/* ---- Client ---- */

Client *client_free(Client *c) {
        if (!c)
                return NULL;
        sd_bus_slot_unref(c->name_owner_slot);
        sd_event_source_unref(c->sigint);
        sd_event_source_unref(c->sigterm);
        if (c->bus) {
                sd_bus_detach_event(c->bus);
                sd_bus_flush_close_unref(c->bus);
        }
        sd_event_unref(c->event);
        free(c->daemon);
        free(c);
        return NULL;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Client *c = userdata;
        (void) s;
        /* A second signal while the first is being handled means "stop now". */
        if (c->signal)
                _exit(EXIT_SIGNAL_BASE + (int) si->ssi_signo);
        c->signal = (int) si->ssi_signo;
        return 0;
}

int client_new(Client **ret) {
        _cleanup_(client_freep) Client *c = calloc(1, sizeof(Client));
        int r;

        if (!c) {
                fputs("gemmactl: out of memory\n", stderr);
                return EXIT_FAILED;
        }
        r = bus_connect(&c->bus);
        if (r != EXIT_OK)
                return r;
        r = sd_event_new(&c->event);
        if (r >= 0)
                r = sd_event_add_signal(c->event, &c->sigint, SIGINT, on_signal, c);
        if (r >= 0)
                r = sd_event_add_signal(c->event, &c->sigterm, SIGTERM, on_signal, c);
        if (r >= 0)
                r = sd_bus_attach_event(c->bus, c->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                fprintf(stderr, "gemmactl: cannot set up the event loop: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        *ret = TAKE_PTR(c);
        return EXIT_OK;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Client *c = userdata;
        const char *name, *old_owner, *new_owner;
        (void) ret_error;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (c->daemon && strcmp(name, c->daemon) == 0 && !*new_owner)
                c->daemon_gone = true;
        return 0;
}

/* Remembers which connection is gemmad (the sender of a reply) and watches it leave the bus. */
static void client_learn_daemon(Client *c, sd_bus_message *reply) {
        const char *sender = sd_bus_message_get_sender(reply);
        _cleanup_free_ char *rule = NULL;

        if (c->daemon || !sender || sender[0] != ':')
                return;
        c->daemon = strdup(sender);
        if (!c->daemon)
                return;
        if (asprintf(&rule,
                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                     c->daemon) < 0) {
                rule = NULL;
                return;
        }
        /* Asynchronously: the broker handles it before any later call of ours. */
        (void) sd_bus_add_match_async(c->bus, &c->name_owner_slot, rule, on_name_owner_changed, NULL, c);
}

typedef struct CallState {
        bool done;
        sd_bus_message *reply;
} CallState;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        CallState *st = userdata;
        (void) ret_error;
        st->done = true;
        st->reply = sd_bus_message_ref(m);
        return 0;
}

int client_run_once(Client *c, uint64_t timeout_usec) {
        int r = sd_event_run(c->event, timeout_usec);
        if (r < 0)
                return r;
        if (sd_bus_is_open(c->bus) <= 0) {
                c->daemon_gone = true;
                return -ECONNRESET;
        }
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

int client_call(Client *c, sd_bus_message *m, uint64_t timeout_usec, sd_bus_message **ret_reply,
                sd_bus_error *error) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        CallState st = {};
        uint64_t start = now_usec();
        int r;

        r = sd_bus_call_async(c->bus, &slot, m, on_reply, &st, timeout_usec);
        if (r < 0)
                return r;
        while (!st.done) {
                if (c->signal)
                        return -EINTR;
                if (c->daemon_gone)
                        return -ECONNRESET;
                r = client_run_once(c, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        if (sd_bus_message_is_method_error(st.reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(st.reply);
                r = -sd_bus_error_get_errno(e);
                if (r >= 0)
                        r = -EIO;
                /* A timeout is our own doing: say which option changes it. */
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) && timeout_usec != UINT64_MAX &&
                    now_usec() - start + 100000 >= timeout_usec)
                        sd_bus_error_setf(error, SD_BUS_ERROR_NO_REPLY,
                                          "%s: no reply from gemmad within %.3g s (see --timeout; 0 = no limit)",
                                          sd_bus_message_get_member(m), (double) timeout_usec / 1e6);
                else
                        sd_bus_error_copy(error, e);
                sd_bus_message_unref(st.reply);
                return r;
        }
        client_learn_daemon(c, st.reply);
        *ret_reply = st.reply;
        return 0;
}

int client_report(Client *c, const sd_bus_error *error, int r, const char *what) {
        if (r == -EINTR && c->signal)
                return EXIT_SIGNAL_BASE + c->signal;
        if (c->daemon_gone && (!error || !sd_bus_error_is_set(error))) {
                fputs("gemmactl: lost gemmad: it left the bus, or the connection closed\n", stderr);
                return EXIT_UNREACHABLE;
        }
        return bus_error_report(error, r, what);
}
