/* gemmactl streaming, shared by ask and chat: a session object, the Chunk/Finished subscription on
 * it (made before the first Prompt), one turn at a time with cancel on SIGINT/SIGTERM, and the exit
 * code of each Finished reason. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemmactl.h"

/* After a cancel, how long to wait for the daemon's Finished before giving up on it. */
#define CANCEL_WAIT_USEC (3 * 1000000ull)
/* Close() at the end: it never waits for the model. */
#define CLOSE_TIMEOUT_USEC (5 * 1000000ull)

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void stream_reset_turn(Stream *s) {
        s->in_flight = s->finished = false;
        s->request = 0;
        free(s->reason);
        s->reason = NULL;
        if (s->info)
                json_object_put(s->info);
        s->info = NULL;
        free(s->text);
        s->text = NULL;
        s->n_text = s->text_allocated = 0;
        s->wrote_any = false;
        s->ends_with_newline = false;
        s->write_error = 0;
}

Stream *stream_free(Stream *s) {
        if (!s)
                return NULL;
        stream_close(s);
        stream_reset_turn(s);
        free(s);
        return NULL;
}

static int append_text(Stream *s, const char *text, size_t n) {
        if (s->text_allocated - s->n_text < n + 1) {
                size_t want = MAX(s->text_allocated * 2, s->n_text + n + 1);
                want = MAX(want, (size_t) 4096);
                char *p = realloc(s->text, want);
                if (!p)
                        return -ENOMEM;
                s->text = p;
                s->text_allocated = want;
        }
        memcpy(s->text + s->n_text, text, n);
        s->n_text += n;
        s->text[s->n_text] = '\0';
        return 0;
}

/* A signal for this session, from the daemon, for the request in flight. */
static bool stream_signal_is_ours(Stream *s, sd_bus_message *m, uint64_t request) {
        const char *sender = sd_bus_message_get_sender(m);
        if (!s->in_flight || s->finished)
                return false;
        /* sd-bus cannot check a well-known sender name locally; compare the unique name. */
        if (s->client->daemon && (!sender || strcmp(sender, s->client->daemon) != 0))
                return false;
        /* Until Prompt replies the id is unknown; one request runs per session, so it is ours,
         * unless it is one given up on earlier whose Finished comes late. */
        if (s->abandoned != 0 && request == s->abandoned)
                return false;
        return s->request == 0 || s->request == request;
}

static int on_chunk(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Stream *s = userdata;
        uint64_t request;
        const char *text;
        (void) ret_error;

        if (sd_bus_message_read(m, "ts", &request, &text) < 0)
                return 0;
        if (!stream_signal_is_ours(s, m, request))
                return 0;
        size_t n = strlen(text);
        if (n == 0)
                return 0;
        if (!s->out) {
                if (append_text(s, text, n) < 0)
                        s->write_error = -ENOMEM;
                return 0;
        }
        if (s->write_error)
                return 0;
        if (fwrite(text, 1, n, s->out) != n || fflush(s->out) != 0)
                s->write_error = -errno ?: -EIO;
        s->wrote_any = true;
        s->ends_with_newline = text[n - 1] == '\n';
        return 0;
}

static int on_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Stream *s = userdata;
        uint64_t request;
        const char *reason;
        json_object *info = NULL;
        (void) ret_error;

        if (sd_bus_message_read(m, "ts", &request, &reason) < 0)
                return 0;
        if (!stream_signal_is_ours(s, m, request))
                return 0;
        if (json_from_message(m, &info) < 0)
                info = NULL;
        s->reason = strdup(reason);
        s->info = info;
        s->finished = true;
        return 0;
}

static int stream_subscribe(Stream *s) {
        Client *c = s->client;
        /* The unique name when known (it is: CreateSession replied), else the well-known one. */
        const char *sender = c->daemon ?: GEMMAD_BUS_NAME;
        int r = sd_bus_match_signal(c->bus, &s->chunk_slot, sender, s->path, GEMMAD_SESSION_INTERFACE, "Chunk",
                                    on_chunk, s);
        if (r < 0)
                return r;
        return sd_bus_match_signal(c->bus, &s->finished_slot, sender, s->path, GEMMAD_SESSION_INTERFACE, "Finished",
                                   on_finished, s);
}

static int stream_create(Stream *s) {
        Client *c = s->client;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *path;
        int r;

        r = sd_bus_message_new_method_call(c->bus, &m, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE,
                                           "CreateSession");
        if (r >= 0)
                r = gen_options_append(m, &s->options);
        if (r >= 0)
                (void) sd_bus_message_sensitive(m); /* the system text */
        if (r < 0)
                return bus_error_report(NULL, r, "CreateSession");
        /* Waits while the model loads. */
        r = client_call(c, m, call_timeout_usec(true), &reply, &error);
        if (r < 0)
                return client_report(c, &error, r, "CreateSession");
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return bus_error_report(NULL, r, "CreateSession");
        s->path = strdup(path);
        if (!s->path)
                return bus_error_report(NULL, -ENOMEM, "CreateSession");
        r = stream_subscribe(s);
        if (r < 0)
                return bus_error_report(NULL, r, "subscribing to the session's signals");
        return EXIT_OK;
}

int stream_open(Client *c, const GenOptions *o, Stream **ret) {
        _cleanup_(stream_freep) Stream *s = calloc(1, sizeof(Stream));
        if (!s)
                return bus_error_report(NULL, -ENOMEM, "CreateSession");
        s->client = c;
        s->options = *o;
        int r = stream_create(s);
        if (r != EXIT_OK)
                return r;
        *ret = TAKE_PTR(s);
        return EXIT_OK;
}

void stream_close(Stream *s) {
        s->chunk_slot = sd_bus_slot_unref(s->chunk_slot);
        s->finished_slot = sd_bus_slot_unref(s->finished_slot);
        if (s->path && s->client->bus && sd_bus_is_open(s->client->bus) > 0 && !s->client->daemon_gone) {
                /* Best effort: leaving the bus frees the session anyway. */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                if (sd_bus_message_new_method_call(s->client->bus, &m, GEMMAD_BUS_NAME, s->path,
                                                   GEMMAD_SESSION_INTERFACE, "Close") >= 0)
                        (void) sd_bus_call(s->client->bus, m, CLOSE_TIMEOUT_USEC, NULL, NULL);
        }
        free(s->path);
        s->path = NULL;
}

int stream_reopen(Stream *s) {
        stream_close(s);
        return stream_create(s);
}

/* Asks the daemon to stop the running request; its Finished follows. */
static void stream_cancel(Stream *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        if (sd_bus_message_new_method_call(s->client->bus, &m, GEMMAD_BUS_NAME, s->path, GEMMAD_SESSION_INTERFACE,
                                           "Cancel") < 0 ||
            sd_bus_message_append(m, "t", s->request) < 0)
                return;
        /* Do not wait for the reply: Finished is what counts. */
        (void) sd_bus_message_set_expect_reply(m, false);
        (void) sd_bus_send(s->client->bus, m, NULL);
}

/* Before a message on stderr: end the partial answer's line on a terminal. */
static void stream_end_line(Stream *s) {
        if (s->out && s->wrote_any && !s->ends_with_newline && isatty(fileno(s->out))) {
                fputc('\n', s->out);
                fflush(s->out);
                s->ends_with_newline = true;
        }
}

/* The exit code of a Finished reason; prints why for the failures. */
static int stream_finish_code(Stream *s, int signal) {
        const char *reason = s->reason;

        if (strcmp(reason, "stop") != 0 && strcmp(reason, "length") != 0)
                stream_end_line(s);

        if (strcmp(reason, "stop") == 0 || strcmp(reason, "length") == 0)
                return EXIT_OK;
        if (strcmp(reason, "cancelled") == 0) {
                if (signal)
                        return EXIT_SIGNAL_BASE + signal;
                fputs("gemmactl: the daemon cancelled the answer (is it shutting down?)\n", stderr);
                return EXIT_FAILED;
        }
        if (strcmp(reason, "overflow") == 0) {
                fputs("gemmactl: the context is full: the answer was cut off (a new session, or a larger --context, "
                      "makes room)\n",
                      stderr);
                return EXIT_CONTEXT;
        }
        if (strcmp(reason, "slow-consumer") == 0) {
                fputs("gemmactl: the answer was cut off: its text was not read fast enough (slow-consumer)\n", stderr);
                return EXIT_FAILED;
        }
        if (strcmp(reason, "error") == 0) {
                const char *message = json_get_string(s->info, "message");
                const char *name = json_get_string(s->info, "error");
                fprintf(stderr, "gemmactl: %s\n", message && *message ? message : "the answer failed");
                return name ? bus_error_exit_code(name) : EXIT_FAILED;
        }
        fprintf(stderr, "gemmactl: the answer ended with reason '%s'\n", reason);
        return EXIT_FAILED;
}

int stream_prompt(Stream *s, const char *text, FILE *out, uint64_t timeout_usec) {
        Client *c = s->client;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t deadline = timeout_usec == UINT64_MAX ? UINT64_MAX : now_usec() + timeout_usec;
        uint64_t cancel_deadline = UINT64_MAX;
        int signal = 0, r;
        bool cancelled = false, timed_out = false;

        stream_reset_turn(s);
        if (!s->path) {
                fputs("gemmactl: there is no session (opening a new one failed)\n", stderr);
                return EXIT_FAILED;
        }
        s->out = out;
        s->in_flight = true;

        r = sd_bus_message_new_method_call(c->bus, &m, GEMMAD_BUS_NAME, s->path, GEMMAD_SESSION_INTERFACE, "Prompt");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r >= 0)
                (void) sd_bus_message_sensitive(m);
        if (r < 0) {
                s->in_flight = false;
                return bus_error_report(NULL, r, "Prompt");
        }
        /* Prompt replies at once; waiting for the model happens in the signals. */
        r = client_call(c, m, call_timeout_usec(true), &reply, &error);
        if (r < 0) {
                s->in_flight = false;
                return client_report(c, &error, r, "Prompt");
        }
        r = sd_bus_message_read(reply, "t", &s->request);
        if (r < 0) {
                s->in_flight = false;
                return bus_error_report(NULL, r, "Prompt");
        }

        while (!s->finished) {
                uint64_t now = now_usec(), until = MIN(deadline, cancel_deadline);
                if (c->daemon_gone) {
                        s->in_flight = false;
                        stream_end_line(s);
                        fputs("gemmactl: lost gemmad before the answer was complete: it left the bus, or the connection "
                              "closed\n",
                              stderr);
                        return EXIT_UNREACHABLE;
                }
                if (c->signal && !signal) {
                        signal = c->signal;
                        if (!cancelled)
                                stream_cancel(s);
                        cancelled = true;
                        cancel_deadline = now + CANCEL_WAIT_USEC;
                        continue;
                }
                if (until != UINT64_MAX && now >= until) {
                        if (!cancelled) {
                                /* --timeout: cancel, and give the daemon a moment to confirm. */
                                timed_out = cancelled = true;
                                stream_cancel(s);
                                cancel_deadline = now + CANCEL_WAIT_USEC;
                                deadline = UINT64_MAX;
                                continue;
                        }
                        /* The daemon did not confirm the cancel: give up on the request. */
                        s->abandoned = s->request;
                        s->in_flight = false;
                        break;
                }
                r = client_run_once(c, until == UINT64_MAX ? UINT64_MAX : until - now);
                if (r < 0) {
                        s->in_flight = false;
                        stream_end_line(s);
                        return client_report(c, NULL, r, "waiting for the answer");
                }
                if (s->write_error && !cancelled) {
                        /* The reader went away (e.g. "| head") or output failed: stop generating. */
                        cancelled = true;
                        stream_cancel(s);
                        cancel_deadline = now_usec() + CANCEL_WAIT_USEC;
                }
        }
        s->in_flight = false;

        if (timed_out) {
                stream_end_line(s);
                fprintf(stderr, "gemmactl: the answer did not end within %.3g s (see --timeout; 0 = no limit)\n",
                        (double) timeout_usec / 1e6);
                return EXIT_FAILED;
        }
        if (!s->finished && signal)
                return EXIT_SIGNAL_BASE + signal;
        if (s->write_error) {
                if (s->write_error != -EPIPE)
                        fprintf(stderr, "gemmactl: cannot write the answer: %s\n", strerror(-s->write_error));
                return EXIT_FAILED;
        }
        if (!s->finished)
                return EXIT_FAILED;
        return stream_finish_code(s, signal);
}

int stream_get_u32(Stream *s, const char *property, uint32_t *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!s->path) {
                fputs("gemmactl: there is no session (opening a new one failed)\n", stderr);
                return EXIT_FAILED;
        }
        r = sd_bus_message_new_method_call(s->client->bus, &m, GEMMAD_BUS_NAME, s->path,
                                           "org.freedesktop.DBus.Properties", "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", GEMMAD_SESSION_INTERFACE, property);
        if (r < 0)
                return bus_error_report(NULL, r, "Get");
        r = client_call(s->client, m, call_timeout_usec(false), &reply, &error);
        if (r < 0)
                return client_report(s->client, &error, r, property);
        r = sd_bus_message_read(reply, "v", "u", ret);
        if (r < 0)
                return bus_error_report(NULL, r, property);
        return EXIT_OK;
}

int stream_start(const GenOptions *o, Client **ret_client, Stream **ret_stream) {
        int r;
        if (signals_block() < 0) {
                fputs("gemmactl: cannot block SIGINT and SIGTERM\n", stderr);
                return EXIT_FAILED;
        }
        r = client_new(ret_client);
        if (r != EXIT_OK)
                return r;
        return stream_open(*ret_client, o, ret_stream);
}
