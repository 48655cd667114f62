/* The binding's lifecycle: object registration, the manager observer, calls waiting for the
 * model, and the one-shot calls whose reply comes when their request ends. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "bus-errors.h"
#include "bus-internal.h"

/* ---- calls waiting for the model ---- */

int bus_wait_ready(Bus *b, sd_bus_message *m, sd_bus_message_handler_t handler, void *userdata, bool no_wait,
                   sd_bus_error *error) {
        DaemonError err = {};
        int r = b->manager ? manager_check_ready(b->manager, no_wait, &err)
                           : daemon_error_set(&err, DAEMON_ERROR_NOT_READY, "gemmad is starting.");
        if (r < 0)
                return bus_error_set_daemon(error, &err);
        if (r > 0)
                return 1;
        if (b->n_pending >= b->config->queued_requests)
                return sd_bus_error_setf(error, GEMMAD_ERROR_BUSY,
                                         "%u calls are already waiting for the model to load (queued_requests); "
                                         "retry later.",
                                         b->n_pending);
        PendingCall *p = new0(PendingCall, 1);
        if (!p)
                return -ENOMEM;
        p->message = sd_bus_message_ref(m);
        p->handler = handler;
        p->userdata = userdata;
        /* Keep arrival order: append. */
        PendingCall **tail = &b->pending;
        while (*tail)
                tail = &(*tail)->next;
        *tail = p;
        b->n_pending++;
        if (b->manager && b->manager->observer.counters_changed)
                b->manager->observer.counters_changed(b->manager, b);
        return 0;
}

void bus_dispatch_pending(Bus *b) {
        if (!b->manager || b->manager->state == MANAGER_LOADING)
                return;
        PendingCall *list = b->pending;
        b->pending = NULL;
        b->n_pending = 0;
        while (list) {
                PendingCall *p = list;
                list = p->next;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_message_rewind(p->message, true);
                if (r >= 0)
                        r = p->handler(p->message, p->userdata, &error);
                if (r < 0) {
                        if (sd_bus_error_is_set(&error))
                                (void) sd_bus_reply_method_error(p->message, &error);
                        else
                                (void) sd_bus_reply_method_errno(p->message, r, NULL);
                }
                sd_bus_error_free(&error);
                sd_bus_message_unref(p->message);
                free(p);
        }
}

/* ---- held text ---- */

int sensitive_text_append(SensitiveText *t, const char *text, size_t len) {
        if (t->len + len + 1 > t->cap) {
                size_t cap = MAX(MAX(t->cap * 2, t->len + len + 1), (size_t) 256);
                char *p = malloc(cap);
                if (!p)
                        return -ENOMEM;
                if (t->buf) {
                        memcpy(p, t->buf, t->len);
                        explicit_bzero(t->buf, t->cap);
                        free(t->buf);
                }
                t->buf = p;
                t->cap = cap;
        }
        memcpy(t->buf + t->len, text, len);
        t->len += len;
        t->buf[t->len] = '\0';
        return 0;
}

void sensitive_text_clear(SensitiveText *t) {
        if (t->buf)
                explicit_bzero(t->buf, t->cap);
        t->len = 0;
}

void sensitive_text_done(SensitiveText *t) {
        sensitive_text_clear(t);
        free(t->buf);
        *t = (SensitiveText) {};
}

/* ---- one-shot calls ---- */

static int on_caller_gone(sd_bus_track *track, void *userdata) {
        BusCall *c = userdata;
        /* Nobody is left to read the answer: stop computing it. */
        if (c->request && c->b->manager)
                manager_cancel_request(c->b->manager, c->request);
        /* Done with it: a track handler that keeps its (now empty) track is run again at once. */
        c->track = sd_bus_track_unref(c->track);
        return 0;
}

BusCall *bus_call_new(Bus *b, sd_bus_message *m) {
        BusCall *c = new0(BusCall, 1);
        if (!c)
                return NULL;
        c->b = b;
        c->message = sd_bus_message_ref(m);
        if (sd_bus_track_new(b->bus, &c->track, on_caller_gone, c) < 0 || sd_bus_track_add_sender(c->track, m) < 0) {
                bus_call_free(c);
                return NULL;
        }
        c->next = b->calls;
        b->calls = c;
        return c;
}

void bus_call_free(BusCall *c) {
        if (!c)
                return;
        for (BusCall **p = &c->b->calls; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        if (c->session && c->session->fd_call == c)
                c->session->fd_call = NULL;
        sd_bus_track_unref(c->track);
        sd_bus_message_unref(c->message);
        fd_stream_free(c->fd);
        sensitive_text_done(&c->text);
        free(c);
}

static void call_text(Request *r, const char *text, size_t len, void *userdata) {
        BusCall *c = userdata;
        if (c->fd) {
                if (fd_stream_write(c->fd, text, len) != FD_STREAM_OK && !c->slow) {
                        /* The reader does not keep up (or left): end the request rather than buffer
                         * without bound. */
                        c->slow = true;
                        manager_cancel_request(c->b->manager, r);
                }
                return;
        }
        if (sensitive_text_append(&c->text, text, len) < 0)
                manager_cancel_request(c->b->manager, r);
}

static void reply_call(BusCall *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const EngineResult *res = &c->result;
        Bus *b = c->b;
        int r;

        if (res->finish == ENGINE_FINISH_OVERFLOW)
                r = sd_bus_reply_method_errorf(c->message, GEMMAD_ERROR_CONTEXT_OVERFLOW, "%s", res->message);
        else if (res->finish == ENGINE_FINISH_ERROR)
                r = sd_bus_reply_method_errorf(c->message, GEMMAD_ERROR_FAILED, "%s", res->message);
        else if (res->finish == ENGINE_FINISH_CANCELLED && !c->slow)
                r = sd_bus_reply_method_errorf(c->message, GEMMAD_ERROR_CANCELLED, "The request was cancelled%s.",
                                               b->manager && b->manager->stopping ? ": gemmad is shutting down" : "");
        else {
                if (c->append)
                        return (void) sd_bus_reply_method_return(c->message, NULL);
                r = sd_bus_message_new_method_return(c->message, &reply);
                if (r >= 0)
                        (void) sd_bus_message_sensitive(reply);
                if (r >= 0 && !c->fd)
                        r = sd_bus_message_append(reply, "s", c->text.buf ? c->text.buf : "");
                if (r >= 0)
                        r = bus_append_info(reply, b, res, c->slow ? "slow-consumer" : NULL);
                if (r >= 0)
                        r = sd_bus_send(NULL, reply, NULL);
        }
        (void) r;   /* the caller may have left: nothing more to do */
}

static void call_drained(FdStream *s, FdStreamStatus st, void *userdata) {
        BusCall *c = userdata;
        if (st != FD_STREAM_OK && c->result.finish != ENGINE_FINISH_ERROR && c->result.finish != ENGINE_FINISH_OVERFLOW)
                c->slow = true;
        reply_call(c);
        bus_call_free(c);
}

static void call_finished(Request *r, const EngineResult *result, void *userdata) {
        BusCall *c = userdata;
        c->result = *result;
        c->request = NULL;
        /* The session is free for its next request while this reply waits for its reader. */
        if (c->session) {
                if (c->session->fd_call == c)
                        c->session->fd_call = NULL;
                c->session = NULL;
        }
        if (c->fd) {
                /* Reply once the reader has everything, so the reply never overtakes the text. */
                (void) fd_stream_drain(c->fd, 10 * 1000 * 1000ULL, call_drained, c);
                return;
        }
        reply_call(c);
        bus_call_free(c);
}

const RequestSink bus_call_sink_template = {
        .text = call_text,
        .finished = call_finished,
};

/* ---- lifecycle ---- */

static void observer_state_changed(Manager *m, void *userdata) {
        Bus *b = userdata;
        (void) sd_bus_emit_properties_changed(b->bus, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE, "State",
                                              "StateReason", "StateMessage", "LoadProgress", "ModelPath", "ModelInfo",
                                              "ContextLength", "HostBytes", "DeviceBytes", "Backend", "SlicePolicy", "SliceReason",
                                              "ActiveSlice", "SliceInputs", NULL);
        bus_dispatch_pending(b);
}

static void observer_counters_changed(Manager *m, void *userdata) {
        Bus *b = userdata;
        (void) sd_bus_emit_properties_changed(b->bus, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE, "Sessions",
                                              "ActiveRequests", "QueuedRequests", "KvCacheBytes", "Stats", NULL);
}

static void observer_session_freed(Manager *m, Session *s, void *userdata) {
        bus_session_on_freed(userdata, s);
}

static void observer_stopped(Manager *m, void *userdata) {
        bus_on_stopped(userdata);
}

ManagerObserver bus_observer(Bus *b) {
        return (ManagerObserver) {
                .state_changed = observer_state_changed,
                .counters_changed = observer_counters_changed,
                .session_freed = observer_session_freed,
                .stopped = observer_stopped,
                .userdata = b,
        };
}

void bus_attach(Bus *b, Manager *m) {
        b->manager = m;
        bus_dispatch_pending(b);
}

void bus_on_stopped(Bus *b) {
        bus_dispatch_pending(b);
        if (b->stopped_hook)
                b->stopped_hook(b->stopped_userdata);
}

BusOptionLimits bus_option_limits(const Bus *b) {
        return (BusOptionLimits) {
                .n_ctx = b->manager ? b->manager->n_ctx : b->config->context,
                .text_bytes = b->config->prompt_bytes,
        };
}

int bus_new(sd_bus *bus, const Config *config, const char *version, Bus **ret) {
        Bus *b = new0(Bus, 1);
        int r;
        if (!b)
                return -ENOMEM;
        b->bus = sd_bus_ref(bus);
        b->config = config;
        b->version = strdup(version);
        if (!b->version) {
                bus_free(b);
                return -ENOMEM;
        }
        r = bus_errors_register();
        if (r < 0) {
                bus_free(b);
                return r;
        }
        if ((r = bus_manager_setup(b)) < 0 || (r = bus_session_setup(b)) < 0) {
                bus_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

Bus *bus_free(Bus *b) {
        if (!b)
                return NULL;
        while (b->pending) {
                PendingCall *p = b->pending;
                b->pending = p->next;
                (void) sd_bus_reply_method_errorf(p->message, GEMMAD_ERROR_NOT_READY, "gemmad is shutting down.");
                sd_bus_message_unref(p->message);
                free(p);
        }
        /* Every call gets its one reply, also when the loop ends before its request or its
         * reader did. */
        while (b->calls) {
                BusCall *c = b->calls;
                if (c->request)
                        (void) sd_bus_reply_method_errorf(c->message, GEMMAD_ERROR_CANCELLED,
                                                          "The request was cancelled: gemmad is shutting down.");
                else
                        reply_call(c);
                bus_call_free(c);
        }
        sd_bus_slot_unref(b->manager_slot);
        sd_bus_slot_unref(b->session_slot);
        sd_bus_slot_unref(b->session_enum_slot);
        sd_bus_unref(b->bus);
        free(b->version);
        free(b);
        return NULL;
}
