/* org.gemmad.Gemmad1.Session objects at /org/gemmad/Gemmad1/session/<hex>: owner checks,
 * owner tracking, methods, and the Chunk/Finished signals, unicast to the owner, with chunks
 * coalesced and a bound on text a slow client has not taken. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "bus-errors.h"
#include "bus-internal.h"

/* More messages than this waiting in our connection's write queue means the bus (and so some
 * reader behind it) is not keeping up: hold Chunk signals back and let them coalesce. */
#define WRITE_QUEUE_HIGH 1024

static const char *caller(sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        return sender ? sender : "";
}

static bool parse_session_path(const char *path, uint64_t *ret) {
        static const char prefix[] = GEMMAD_SESSION_PREFIX "/";
        if (strncmp(path, prefix, strlen(prefix)) != 0)
                return false;
        const char *hex = path + strlen(prefix);
        if (strlen(hex) != 16)
                return false;
        uint64_t id = 0;
        for (const char *p = hex; *p; p++) {
                int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
                if (v < 0)
                        return false;
                id = id << 4 | (uint64_t) v;
        }
        *ret = id;
        return id != 0;
}

/* ---- signals ---- */

static int send_unicast(BusSession *bs, const char *member, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_signal(bs->b->bus, &m, bs->s->path, GEMMAD_SESSION_INTERFACE, member);
        if (r < 0)
                return r;
        /* libsystemd 252 has no sd_bus_message_new_signal_to(): address it by hand, so that only
         * the owner receives it (a broadcast would show every client the text). */
        r = sd_bus_message_set_destination(m, bs->s->owner);
        if (r >= 0)
                r = sd_bus_message_sensitive(m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}


static int flush_chunk(BusSession *bs) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        if (bs->pending.len == 0)
                return 0;
        int r = send_unicast(bs, "Chunk", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ts", bs->request_id, bs->pending.buf);
        if (r >= 0)
                r = sd_bus_send(bs->b->bus, m, NULL);
        sensitive_text_clear(&bs->pending);
        return r;
}

static int on_flush_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        BusSession *bs = userdata;
        uint64_t queued = 0;
        if (sd_bus_get_n_queued_write(bs->b->bus, &queued) >= 0 && queued > WRITE_QUEUE_HIGH && !bs->slow) {
                /* Try again later; the text keeps coalescing meanwhile. */
                (void) sd_event_source_set_time_relative(source, (uint64_t) bs->b->config->flush_ms * 1000);
                (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
                return 0;
        }
        (void) flush_chunk(bs);
        return 0;
}

static void arm_flush(BusSession *bs) {
        uint64_t usec = (uint64_t) bs->b->config->flush_ms * 1000;
        if (bs->flush_timer) {
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(bs->flush_timer, &enabled);
                if (enabled != SD_EVENT_OFF)
                        return;
                (void) sd_event_source_set_time_relative(bs->flush_timer, usec);
                (void) sd_event_source_set_enabled(bs->flush_timer, SD_EVENT_ONESHOT);
                return;
        }
        if (sd_event_add_time_relative(sd_bus_get_event(bs->b->bus), &bs->flush_timer, CLOCK_MONOTONIC, usec, 0,
                                       on_flush_timer, bs) < 0)
                (void) flush_chunk(bs);   /* no timer: send at once rather than lose it */
}

static void session_text(Request *r, const char *text, size_t len, void *userdata) {
        BusSession *bs = userdata;
        if (bs->slow)
                return;
        bs->request_id = r->id;
        if (bs->pending.len + len > bs->b->config->slow_consumer_bytes) {
                /* The client is not reading its signals: end the request instead of buffering
                 * without bound (text is never silently dropped in the middle). */
                bs->slow = true;
                manager_cancel_request(bs->b->manager, r);
                return;
        }
        if (sensitive_text_append(&bs->pending, text, len) < 0) {
                manager_cancel_request(bs->b->manager, r);
                return;
        }
        arm_flush(bs);
}

static void session_finished(Request *r, const EngineResult *result, void *userdata) {
        BusSession *bs = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const char *reason = bs->slow && result->finish == ENGINE_FINISH_CANCELLED ? "slow-consumer" : NULL;

        if (bs->flush_timer)
                (void) sd_event_source_set_enabled(bs->flush_timer, SD_EVENT_OFF);
        if (bs->slow)
                sensitive_text_clear(&bs->pending);
        else
                (void) flush_chunk(bs);
        bs->slow = false;
        int k = send_unicast(bs, "Finished", &m);
        if (k >= 0)
                k = sd_bus_message_append(m, "ts", r->id, reason ? reason : engine_finish_to_string(result->finish));
        if (k >= 0)
                k = bus_append_info(m, bs->b, result, reason);
        if (k >= 0)
                (void) sd_bus_send(bs->b->bus, m, NULL);
}

/* ---- object lookup and ownership ---- */

static Session *find_owned(Bus *b, const char *path, sd_bus_message *m, sd_bus_error *error, int *ret) {
        uint64_t id;
        *ret = 0;
        if (!b->manager || !parse_session_path(path, &id))
                return NULL;
        Session *s = manager_find_session(b->manager, id);
        if (!s)
                return NULL;
        if (!m || strcmp(caller(m), s->owner) != 0) {
                *ret = sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Only the session's owner may use it.");
                return NULL;
        }
        return s;
}

static int session_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                               sd_bus_error *error) {
        int r;
        Session *s = find_owned(userdata, path, sd_bus_get_current_message(bus), error, &r);
        if (!s)
                return r;
        *found = s->bus_data;
        return 1;
}

static int session_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Bus *b = userdata;
        sd_bus_message *m = sd_bus_get_current_message(bus);
        const char *owner = m ? caller(m) : "";
        size_t n = 0;
        char **list = NULL;

        if (b->manager)
                for (Session *s = b->manager->sessions; s; s = s->next)
                        n += strcmp(s->owner, owner) == 0;
        list = calloc(n + 1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        size_t i = 0;
        if (b->manager)
                for (Session *s = b->manager->sessions; s && i < n; s = s->next)
                        if (strcmp(s->owner, owner) == 0 && !(list[i++] = strdup(s->path))) {
                                for (size_t j = 0; j < i; j++)
                                        free(list[j]);
                                free(list);
                                return -ENOMEM;
                        }
        *nodes = list;
        return 0;
}

int bus_append_owner_sessions(sd_bus_message *reply, Bus *b, const char *owner) {
        int r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        if (b->manager)
                for (Session *s = b->manager->sessions; s; s = s->next)
                        if (strcmp(s->owner, owner) == 0 && (r = sd_bus_message_append(reply, "o", s->path)) < 0)
                                return r;
        return sd_bus_message_close_container(reply);
}

static int on_owner_gone(sd_bus_track *track, void *userdata) {
        BusSession *bs = userdata;
        /* The owner left the bus: nobody may ever use this session again. */
        session_free(bs->s);
        return 0;
}

int bus_session_create(Bus *b, Session *s, sd_bus_message *m, sd_bus_error *error) {
        BusSession *bs = new0(BusSession, 1);
        if (!bs)
                return -ENOMEM;
        bs->b = b;
        bs->s = s;
        int r = sd_bus_track_new(b->bus, &bs->track, on_owner_gone, bs);
        if (r >= 0)
                r = sd_bus_track_add_name(bs->track, s->owner);
        if (r < 0) {
                sd_bus_track_unref(bs->track);
                free(bs);
                return sd_bus_error_set_errnof(error, -r, "Cannot follow the caller on the bus: %s", strerror(-r));
        }
        s->bus_data = bs;
        return 0;
}

void bus_session_on_freed(Bus *b, Session *s) {
        BusSession *bs = s->bus_data;
        if (!bs)
                return;
        if (bs->fd_call) {
                BusCall *c = bs->fd_call;
                (void) sd_bus_reply_method_errorf(c->message, GEMMAD_ERROR_CANCELLED, "The session was closed.");
                bus_call_free(c);
        }
        sd_bus_track_unref(bs->track);
        sd_event_source_disable_unref(bs->flush_timer);
        sensitive_text_done(&bs->pending);
        free(bs);
        s->bus_data = NULL;
}

/* ---- methods ---- */

static int read_text_and_options(sd_bus_message *m, Bus *b, unsigned allowed, const char **ret_text,
                                 RequestOptions *o, sd_bus_error *error) {
        int r = sd_bus_message_read(m, "s", ret_text);
        if (r < 0)
                return r;
        BusOptionLimits limits = bus_option_limits(b);
        return bus_read_options(m, allowed, &limits, o, NULL, error);
}

static int method_prompt(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        DaemonError err = {};
        const char *text;
        Request *req;
        int r = read_text_and_options(m, bs->b, BUS_OPTS_PROMPT, &text, &o, error);
        if (r < 0)
                return r;
        RequestSink sink = { .text = session_text, .finished = session_finished, .userdata = bs };
        sensitive_text_clear(&bs->pending);
        bs->slow = false;
        if (session_prompt(bs->s, text, &o, true, &sink, &req, &err) < 0)
                return bus_error_set_daemon(error, &err);
        bs->request_id = req->id;
        return sd_bus_reply_method_return(m, "t", req->id);
}

static int start_call(BusSession *bs, sd_bus_message *m, const char *text, const RequestOptions *o, bool generate,
                      int fd, sd_bus_error *error) {
        DaemonError err = {};
        BusCall *c = bus_call_new(bs->b, m);
        if (!c)
                return -ENOMEM;
        c->append = !generate;
        if (fd >= 0 && fd_stream_new(sd_bus_get_event(bs->b->bus), fd, bs->b->config->slow_consumer_bytes, &c->fd, &err) < 0) {
                bus_call_free(c);
                return bus_error_set_daemon(error, &err);
        }
        RequestSink sink = bus_call_sink_template;
        sink.userdata = c;
        if (session_prompt(bs->s, text, o, generate, &sink, &c->request, &err) < 0) {
                bus_call_free(c);
                return bus_error_set_daemon(error, &err);
        }
        c->session = bs;
        bs->fd_call = c;
        return 1;
}

static int method_prompt_to_fd(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        const char *text;
        int fd;
        int r = sd_bus_message_read(m, "h", &fd);
        if (r < 0)
                return r;
        r = read_text_and_options(m, bs->b, BUS_OPTS_PROMPT, &text, &o, error);
        if (r < 0)
                return r;
        return start_call(bs, m, text, &o, true, fd, error);
}

static int method_append(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        const char *text;
        int r = read_text_and_options(m, bs->b, BUS_OPTS_APPEND, &text, &o, error);
        if (r < 0)
                return r;
        return start_call(bs, m, text, &o, false, -1, error);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        DaemonError err = {};
        uint64_t request;
        int r = sd_bus_message_read(m, "t", &request);
        if (r < 0)
                return r;
        if (session_cancel(bs->s, request, &err) < 0)
                return bus_error_set_daemon(error, &err);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_clone(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        BusOptionLimits limits = bus_option_limits(bs->b);
        DaemonError err = {};
        Session *c;
        int r = bus_read_options(m, BUS_OPTS_CLONE, &limits, &o, NULL, error);
        if (r < 0)
                return r;
        if (session_clone(bs->s, &o, &c, &err) < 0)
                return bus_error_set_daemon(error, &err);
        r = bus_session_create(bs->b, c, m, error);
        if (r < 0) {
                session_free(c);
                return r;
        }
        return sd_bus_reply_method_return(m, "o", c->path);
}

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *keep = sd_bus_message_ref(m);
        session_free(bs->s);   /* frees bs too */
        return sd_bus_reply_method_return(keep, NULL);
}

/* ---- properties ---- */

static int get_context_usage(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        return sd_bus_message_append(reply, "u", session_context_usage(bs->s));
}

static int get_context_window(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        return sd_bus_message_append(reply, "u", bs->s->n_ctx);
}

static int get_busy(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                    void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        return sd_bus_message_append(reply, "b", bs->s->current != NULL);
}

static int get_cache_scope(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusSession *bs = userdata;
        return sd_bus_message_append(reply, "s", cache_scope_to_string(bs->s->cache_scope));
}

/* Session properties change with every request but are the owner's business only: no
 * PropertiesChanged (it would be a broadcast); the owner reads them when it wants them. */
static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Prompt", SD_BUS_ARGS("s", text, "a{sv}", options), SD_BUS_RESULT("t", request),
                                method_prompt, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("PromptToFd", SD_BUS_ARGS("h", output, "s", text, "a{sv}", options),
                                SD_BUS_RESULT("a{sv}", info), method_prompt_to_fd, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Append", SD_BUS_ARGS("s", text, "a{sv}", options), SD_BUS_NO_RESULT, method_append,
                                SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_ARGS("t", request), SD_BUS_NO_RESULT, method_cancel, 0),
        SD_BUS_METHOD_WITH_ARGS("Clone", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", session), method_clone, 0),
        SD_BUS_METHOD_WITH_ARGS("Close", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_close, 0),
        SD_BUS_SIGNAL_WITH_ARGS("Chunk", SD_BUS_ARGS("t", request, "s", text), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Finished", SD_BUS_ARGS("t", request, "s", reason, "a{sv}", info), 0),
        SD_BUS_PROPERTY("ContextUsage", "u", get_context_usage, 0, 0),
        SD_BUS_PROPERTY("ContextWindow", "u", get_context_window, 0, 0),
        SD_BUS_PROPERTY("Busy", "b", get_busy, 0, 0),
        SD_BUS_PROPERTY("CacheScope", "s", get_cache_scope, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

int bus_session_setup(Bus *b) {
        int r = sd_bus_add_fallback_vtable(b->bus, &b->session_slot, GEMMAD_SESSION_PREFIX, GEMMAD_SESSION_INTERFACE,
                                           session_vtable, session_object_find, b);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(b->bus, &b->session_enum_slot, GEMMAD_SESSION_PREFIX, session_node_enumerator, b);
}
