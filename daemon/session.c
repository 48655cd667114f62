/* Session: a client's conversation on the event thread: creation and limits, turns, cancel,
 * clone, close. The engine sequence behind it is addressed by sequence_id only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/alloc.h"
#include "manager-internal.h"
#include "prompt.h"

static int session_alloc_id(Manager *m, uint64_t *ret) {
        for (int attempt = 0; attempt < 16; attempt++) {
                uint64_t id;
                if (getrandom(&id, sizeof(id), 0) != sizeof(id))
                        return -errno;
                if (id != 0 && !manager_find_session(m, id)) {
                        *ret = id;
                        return 0;
                }
        }
        return -EEXIST;
}

static int session_new_internal(Manager *m, const char *owner, Session **ret, DaemonError *err) {
        if (m->state != MANAGER_READY || m->stopping)
                return manager_check_ready(m, true, err) < 0 ? -1
                                                            : daemon_error_set(err, DAEMON_ERROR_NOT_READY,
                                                                               "The model is not loaded yet.");
        if (manager_n_owner_sessions(m, owner) >= m->config->sessions_per_client)
                return daemon_error_set(err, DAEMON_ERROR_LIMITS_EXCEEDED,
                                        "This client already has %" PRIu32 " sessions, the most allowed "
                                        "(sessions_per_client); close one first.",
                                        m->config->sessions_per_client);
        if (m->n_sessions >= m->config->max_sessions)
                return daemon_error_set(err, DAEMON_ERROR_LIMITS_EXCEEDED,
                                        "gemmad already serves %" PRIu32 " sessions, the most allowed (max_sessions).",
                                        m->n_sessions);
        Session *s = new0(Session, 1);
        if (!s)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        s->manager = m;
        if (session_alloc_id(m, &s->id) < 0 || asprintf(&s->path, "/org/gemmad/Gemmad1/session/%016" PRIx64, s->id) < 0) {
                s->path = NULL;
                free(s);
                return daemon_error_set(err, DAEMON_ERROR_FAILED, "cannot create a session id");
        }
        s->owner = strdup(owner);
        if (!s->owner) {
                free(s->path);
                free(s);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        s->sequence_id = ++m->next_sequence_id;
        s->n_ctx = m->n_ctx;
        s->next = m->sessions;
        m->sessions = s;
        m->n_sessions++;
        *ret = s;
        return 0;
}

int session_new(Manager *m, const char *owner, const RequestOptions *options, Session **ret, DaemonError *err) {
        Session *s;
        if (session_new_internal(m, owner, &s, err) < 0)
                return -1;
        if (request_options_merge(&s->defaults, options) < 0) {
                session_free(s);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        if (options->has_context)
                s->n_ctx = MIN(options->context, m->n_ctx);
        s->cache_scope = request_cache_scope(options);
        manager_notify_counters(m);
        *ret = s;
        return 0;
}

Session *session_free(Session *s) {
        if (!s)
                return NULL;
        Manager *m = s->manager;
        if (m->observer.session_freed)
                m->observer.session_freed(m, s, m->observer.userdata);
        /* The running request still gets its FINISHED; it no longer points here. */
        for (Request *r = m->requests; r; r = r->next)
                if (r->session == s) {
                        r->session = NULL;
                        r->sink = (RequestSink) {};   /* it belonged to the session's binding */
                }
        if (m->engine)
                engine_release_sequence(m->engine, s->sequence_id);
        for (Session **p = &m->sessions; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        m->n_sessions--;
                        break;
                }
        request_options_done(&s->defaults);
        free(s->owner);
        free(s->path);
        free(s);
        manager_notify_counters(m);
        return NULL;
}

uint32_t session_context_usage(const Session *s) {
        return s->n_past;
}

int session_prompt(Session *s, const char *text, const RequestOptions *options, bool generate,
                   const RequestSink *sink, Request **ret, DaemonError *err) {
        Manager *m = s->manager;

        if (s->current)
                return daemon_error_set(err, DAEMON_ERROR_BUSY,
                                        "Request %" PRIu64 " is still running in this session; wait for its Finished "
                                        "signal or Cancel it.",
                                        s->current->id);
        if (manager_check_admission(m, s->owner, err) < 0)
                return -1;
        if (strlen(text) > m->config->prompt_bytes)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "The text is %zu bytes, more than the %" PRIu32 " allowed (prompt_bytes).",
                                        strlen(text), m->config->prompt_bytes);

        _cleanup_(request_options_done) RequestOptions merged = {};
        if (request_options_merge(&merged, &s->defaults) < 0 || request_options_merge(&merged, options) < 0)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        TurnParams turn;
        if (generate && manager_build_turn_params(m, &merged, s->n_ctx, &turn, err) < 0)
                return -1;

        bool raw = merged.has_raw && merged.raw;
        PromptTurn t = {
                .system = s->started ? NULL : s->defaults.system,
                .text = text,
                .raw = raw,
                .generate = generate,
                .started = s->started,
                .model_turn_open = s->model_turn_open,
        };
        _cleanup_free_ int32_t *ids = NULL;
        size_t n = 0;
        if (prompt_render(engine_tokenizer(m->engine), &t, &ids, &n, err) < 0)
                return -1;
        if ((uint64_t) s->n_past + n + 1 > s->n_ctx)
                return daemon_error_set(err, DAEMON_ERROR_CONTEXT_OVERFLOW,
                                        "The text needs %zu tokens but the session has room for %" PRIu32
                                        " (%" PRIu32 " of %" PRIu32 " positions used, one kept for the answer).",
                                        n, s->n_ctx > s->n_past + 1 ? s->n_ctx - s->n_past - 1 : 0, s->n_past,
                                        s->n_ctx);

        _cleanup_free_ char *key = NULL;
        if (request_cache_key(&s->defaults, s->cache_scope, s->owner, &key) < 0)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        Request *r;
        if (manager_submit(m, generate ? REQUEST_PROMPT : REQUEST_APPEND, s, s->owner, s->sequence_id, s->n_ctx, &ids, n,
                   generate ? &turn : NULL, false, key, sink, &r, err) < 0)
                return -1;
        s->started = true;
        s->model_turn_open = generate && !raw;
        s->current = r;
        *ret = r;
        return 0;
}

int session_cancel(Session *s, uint64_t request_id, DaemonError *err) {
        if (s->current && (request_id == 0 || request_id == s->current->id))
                manager_cancel_request(s->manager, s->current);
        return 0;
}

static void clone_finished(Request *r, const EngineResult *result, void *userdata) {
        Session *s = r->session;
        if (s && result->finish != ENGINE_FINISH_STOP) {
                /* The copy failed: the session has no conversation to continue. */
                s->n_past = s->n_ctx;
        }
}

int session_clone(Session *s, const RequestOptions *options, Session **ret, DaemonError *err) {
        Manager *m = s->manager;
        if (s->current)
                return daemon_error_set(err, DAEMON_ERROR_BUSY,
                                        "Request %" PRIu64 " is still running in this session; a copy can only be "
                                        "made between requests.",
                                        s->current->id);
        if (options->system || options->has_context || options->has_raw)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "Options 'system', 'context' and 'raw' belong to the conversation being "
                                        "copied and cannot be changed by Clone.");
        Session *c;
        if (session_new_internal(m, s->owner, &c, err) < 0)
                return -1;
        if (request_options_merge(&c->defaults, &s->defaults) < 0 || request_options_merge(&c->defaults, options) < 0) {
                session_free(c);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        c->n_ctx = s->n_ctx;
        c->cache_scope = options->has_cache_scope ? options->cache_scope : s->cache_scope;
        c->n_past = s->n_past;
        c->started = s->started;
        c->model_turn_open = s->model_turn_open;

        Request *r = new0(Request, 1);
        if (!r || !(r->owner = strdup(s->owner))) {
                free(r);
                session_free(c);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        r->id = ++m->next_request_id;
        r->kind = REQUEST_APPEND;
        r->session = c;
        r->sink = (RequestSink) { .finished = clone_finished };
        r->t_submit = manager_now_sec();
        GemmaError gerr = {};
        if (engine_clone_sequence(m->engine, s->sequence_id, c->sequence_id, c->n_ctx, r->id, &gerr) < 0) {
                manager_request_free(r);
                session_free(c);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "%s", gemma_error_message(&gerr));
        }
        r->next = m->requests;
        m->requests = r;
        m->n_requests++;
        /* Requests on the copy wait for the copy to be made: the engine runs commands in order. */
        c->current = r;
        manager_notify_counters(m);
        *ret = c;
        return 0;
}

