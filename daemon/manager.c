/* Manager: engine start and loading state, one-shot requests, limits, and the routing of engine
 * events to requests. Event thread only. */
#include "manager-internal.h"

#include <errno.h>
#include <stdio.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "accel-select.h"
#include "base/alloc.h"
#include "gguf/gguf.h"
#include "log.h"
#include "prompt.h"

static const char *const state_names[_MANAGER_STATE_MAX] = {
        [MANAGER_LOADING] = "loading",
        [MANAGER_READY] = "ready",
        [MANAGER_ERROR] = "error",
        [MANAGER_STOPPED] = "stopped",
};

const char *manager_state_to_string(ManagerState s) {
        return s >= 0 && s < _MANAGER_STATE_MAX ? state_names[s] : NULL;
}

double manager_now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

void manager_notify_state(Manager *m) {
        if (m->observer.state_changed)
                m->observer.state_changed(m, m->observer.userdata);
}

void manager_notify_counters(Manager *m) {
        if (m->observer.counters_changed)
                m->observer.counters_changed(m, m->observer.userdata);
}

uint32_t manager_n_owner_sessions(const Manager *m, const char *owner) {
        uint32_t n = 0;
        for (const Session *s = m->sessions; s; s = s->next)
                n += strcmp(s->owner, owner) == 0;
        return n;
}

uint32_t manager_n_owner_requests(const Manager *m, const char *owner) {
        uint32_t n = 0;
        for (const Request *r = m->requests; r; r = r->next)
                n += strcmp(r->owner, owner) == 0;
        return n;
}

ManagerStats manager_stats(const Manager *m) {
        ManagerStats st = m->stats;
        if (m->engine && m->state == MANAGER_READY) {
                EngineCacheStats c = engine_cache_stats(m->engine);
                st.cache_hits = c.hits;
                st.cache_misses = c.misses;
                st.evictions = c.evictions;
                st.cached_tokens = c.cached_tokens;
        }
        return st;
}

uint32_t manager_n_active_requests(const Manager *m) {
        return m->n_requests;
}

Session *manager_find_session(Manager *m, uint64_t id) {
        for (Session *s = m->sessions; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

int manager_check_ready(Manager *m, bool no_wait, DaemonError *err) {
        switch (m->state) {
        case MANAGER_READY:
                return 1;
        case MANAGER_LOADING:
                if (!no_wait)
                        return 0;
                return daemon_error_set(err, DAEMON_ERROR_NOT_READY, "The model is still loading (%.0f%%).",
                                        m->load_progress * 100);
        case MANAGER_ERROR:
                return daemon_error_set(err, DAEMON_ERROR_NOT_READY, "No model is loaded: %s",
                                        m->error_message ? m->error_message : "unknown error");
        default:
                return daemon_error_set(err, DAEMON_ERROR_NOT_READY, "gemmad is shutting down.");
        }
}

/* ---- requests ---- */

void manager_request_free(Request *r) {
        if (!r)
                return;
        free(r->owner);
        free(r);
}

static void request_unlink(Manager *m, Request *r) {
        for (Request **p = &m->requests; *p; p = &(*p)->next)
                if (*p == r) {
                        *p = r->next;
                        m->n_requests--;
                        return;
                }
}

static Request *request_find(Manager *m, uint64_t id) {
        for (Request *r = m->requests; r; r = r->next)
                if (r->id == id)
                        return r;
        return NULL;
}

/* The door every request passes: state, global queue and per-client limits. */
int manager_check_admission(Manager *m, const char *owner, DaemonError *err) {
        if (m->state != MANAGER_READY || m->stopping)
                return manager_check_ready(m, true, err) < 0 ? -1
                                                            : daemon_error_set(err, DAEMON_ERROR_NOT_READY,
                                                                               "The model is not loaded yet.");
        if (m->n_requests >= m->config->queued_requests)
                return daemon_error_set(err, DAEMON_ERROR_BUSY,
                                        "%" PRIu32 " requests are queued, the most gemmad accepts "
                                        "(queued_requests); retry when one has finished.",
                                        m->n_requests);
        /* One client may not fill the queue for everyone: its one-shot requests count against the
         * same limit as its sessions. */
        if (manager_n_owner_requests(m, owner) >= m->config->sessions_per_client)
                return daemon_error_set(err, DAEMON_ERROR_LIMITS_EXCEEDED,
                                        "This client already has %" PRIu32 " requests running, the most allowed "
                                        "(sessions_per_client).",
                                        m->config->sessions_per_client);
        return 0;
}

int manager_build_turn_params(const Manager *m, const RequestOptions *o, uint32_t n_ctx, TurnParams *ret,
                             DaemonError *err) {
        TurnParams p = { .sampling = SAMPLER_PARAMS_INIT };

        p.sampling.temperature = (float) (o->has_temperature ? o->temperature : REQUEST_DEFAULT_TEMPERATURE);
        p.sampling.top_k = o->has_top_k ? o->top_k : REQUEST_DEFAULT_TOP_K;
        p.sampling.top_p = (float) (o->has_top_p ? o->top_p : REQUEST_DEFAULT_TOP_P);
        p.sampling.min_p = (float) (o->has_min_p ? o->min_p : REQUEST_DEFAULT_MIN_P);
        p.sampling.repeat_penalty = (float) (o->has_repeat_penalty ? o->repeat_penalty : REQUEST_DEFAULT_REPEAT_PENALTY);
        if (o->has_seed)
                p.sampling.seed = o->seed;
        else if (getrandom(&p.sampling.seed, sizeof(p.sampling.seed), GRND_NONBLOCK) != sizeof(p.sampling.seed))
                p.sampling.seed = (uint64_t) (manager_now_sec() * 1e9);
        p.max_tokens = o->has_max_tokens ? o->max_tokens : MIN(m->config->default_max_tokens, n_ctx - 1);
        if (p.max_tokens == 0 || p.max_tokens >= n_ctx)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "Option 'max_tokens' is %" PRIu32 ", allowed 1..%" PRIu32 " (the context minus one).",
                                        p.max_tokens, n_ctx - 1);
        p.stops = (const char *const *) o->stops;
        p.n_stops = o->has_stop ? o->n_stops : 0;
        *ret = p;
        return 0;
}

/* Registers a request and hands its job to the engine. Takes *tokens on success. */
int manager_submit(Manager *m, RequestKind kind, Session *s, const char *owner, uint64_t sequence_id, uint32_t n_ctx,
                   int32_t **tokens, size_t n_tokens, const TurnParams *turn, bool release_after,
                   const char *cache_key, const RequestSink *sink, Request **ret, DaemonError *err) {
        if (n_tokens + 1 > n_ctx)
                return daemon_error_set(err, DAEMON_ERROR_CONTEXT_OVERFLOW,
                                        "The prompt needs %zu tokens but the context has room for %" PRIu32
                                        " (%" PRIu32 " positions, one kept for the answer).",
                                        n_tokens, n_ctx > 0 ? n_ctx - 1 : 0, n_ctx);

        Request *r = new0(Request, 1);
        if (!r)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        r->owner = strdup(owner);
        if (!r->owner) {
                manager_request_free(r);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        r->id = ++m->next_request_id;
        r->kind = kind;
        r->session = s;
        r->sink = *sink;
        r->n_tokens = (uint32_t) n_tokens;
        r->t_submit = manager_now_sec();

        EngineJob job = {
                .sequence_id = sequence_id,
                .n_ctx = n_ctx,
                .request_id = r->id,
                .tokens = *tokens,
                .n_tokens = n_tokens,
                .generate = kind != REQUEST_APPEND,
                .release_after = release_after,
                .cache_key = cache_key,
        };
        if (turn)
                job.turn = *turn;
        GemmaError gerr = {};
        if (engine_submit(m->engine, &job, &gerr) < 0) {
                manager_request_free(r);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "%s", gemma_error_message(&gerr));
        }
        *tokens = NULL;
        r->next = m->requests;
        m->requests = r;
        m->n_requests++;
        m->stats.requests++;
        manager_notify_counters(m);
        *ret = r;
        return 0;
}

int manager_generate(Manager *m, const char *owner, const char *prompt, const RequestOptions *options,
                     const RequestSink *sink, Request **ret, DaemonError *err) {
        if (manager_check_admission(m, owner, err) < 0)
                return -1;
        if (strlen(prompt) > m->config->prompt_bytes)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "The prompt is %zu bytes, more than the %" PRIu32 " allowed (prompt_bytes).",
                                        strlen(prompt), m->config->prompt_bytes);
        uint32_t n_ctx = options->has_context ? MIN(options->context, m->n_ctx) : m->n_ctx;
        TurnParams turn;
        if (manager_build_turn_params(m, options, n_ctx, &turn, err) < 0)
                return -1;

        _cleanup_free_ int32_t *ids = NULL;
        size_t n = 0;
        PromptTurn t = { .system = options->system, .text = prompt, .raw = options->has_raw && options->raw, .generate = true };
        if (prompt_render(engine_tokenizer(m->engine), &t, &ids, &n, err) < 0)
                return -1;
        _cleanup_free_ char *key = NULL;
        if (request_cache_key(options, request_cache_scope(options), owner, &key) < 0)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        return manager_submit(m, REQUEST_GENERATE, NULL, owner, ++m->next_sequence_id, n_ctx, &ids, n, &turn, true, key,
                              sink, ret, err);
}

int manager_tokenize(Manager *m, const char *text, bool chat, const RequestOptions *options, int32_t **ret_ids,
                     size_t *ret_n, DaemonError *err) {
        if (strlen(text) > m->config->prompt_bytes)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "The text is %zu bytes, more than the %" PRIu32 " allowed (prompt_bytes).",
                                        strlen(text), m->config->prompt_bytes);
        const Tokenizer *tok = engine_tokenizer(m->engine);
        if (chat) {
                PromptTurn t = {
                        .system = options ? options->system : NULL,
                        .text = text,
                        .raw = options && options->has_raw && options->raw,
                        .generate = true,
                };
                return prompt_render(tok, &t, ret_ids, ret_n, err);
        }
        GemmaError gerr = {};
        int r = tokenizer_encode(tok, text, strlen(text), false, ret_ids, ret_n, &gerr);
        if (r == -ENOMEM)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        if (r < 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "Cannot tokenize the text: %s",
                                        gemma_error_message(&gerr));
        return 0;
}

void manager_cancel_request(Manager *m, Request *r) {
        if (r->cancelled)
                return;
        r->cancelled = true;
        engine_cancel(m->engine, r->id);
}

/* ---- engine events ---- */

static void request_finished(Manager *m, Request *r, const EngineResult *result) {
        request_unlink(m, r);
        Session *s = r->session;
        if (s) {
                if (s->current == r)
                        s->current = NULL;
                if (result->finish != ENGINE_FINISH_ERROR && result->finish != ENGINE_FINISH_OVERFLOW)
                        s->n_past = result->n_past;
                /* A generated answer left open is closed by the next turn; a turn that never began
                 * (overflow, cancel before the first step) leaves the flags as they were. */
                if (r->kind == REQUEST_PROMPT && result->finish == ENGINE_FINISH_OVERFLOW)
                        s->model_turn_open = false;
        }
        if (result->finish == ENGINE_FINISH_CANCELLED)
                m->stats.cancelled++;
        m->stats.prefill_tokens += result->n_prompt - result->n_cached;
        m->stats.decoded_tokens += result->n_generated;
        if (r->sink.finished)
                r->sink.finished(r, result, r->sink.userdata);
        manager_request_free(r);
        manager_notify_counters(m);
}

static void summarize_model(Manager *m, const Gemma3nModel *model) {
        GgufString name = {};
        free(m->model.name);
        m->model = (ModelSummary) {
                .n_layer = model->hp.n_layer,
                .n_embd = model->hp.n_embd,
                .n_vocab = model->hp.n_vocab,
                .n_ctx_train = model->hp.n_ctx_train,
                .file_bytes = model->file->size,
                .n_threads = engine_n_threads(m->engine),
        };
        const AccelReport *accel = engine_accel_report(m->engine);
        snprintf(m->model.backend, sizeof(m->model.backend), "%s", accel->active[0] ? accel->active : "cpu");
        m->model.device_bytes = accel->device_bytes;
        m->model.host_bytes = accel->device_bytes ? accel->host_bytes : model->file->size;
        snprintf(m->model.hwmon_temp, sizeof(m->model.hwmon_temp), "%s", accel->hwmon_temp);
        if (accel->fell_back)
                log_warning("%s", accel->message);
        else
                log_info("%s", accel->message);
        bool pack_failed;
        const char *pack = engine_pack_report(m->engine, &pack_failed);
        if (pack_failed)
                log_warning("%s", pack);
        else if (pack[0])
                log_info("%s", pack);
        if (gguf_get_string(model->file, "general.name", &name, NULL) >= 0)
                m->model.name = strndup(name.ptr, (size_t) name.len);
}

static void set_state(Manager *m, ManagerState state, const char *reason) {
        m->state = state;
        m->state_reason = reason;
        manager_notify_state(m);
}

static void handle_event(Manager *m, EngineEvent *ev) {
        Request *r;
        switch (ev->kind) {
        case ENGINE_EVENT_LOAD_PROGRESS:
                if (m->state != MANAGER_LOADING)
                        break;
                m->load_progress = ev->progress;
                m->state_reason = ev->stage;
                manager_notify_state(m);
                break;
        case ENGINE_EVENT_READY: {
                const Gemma3nModel *model = engine_model(m->engine);
                m->n_ctx = MIN(m->config->context, model->hp.n_ctx_train);
                summarize_model(m, model);
                if (manager_slices_init(m) < 0)
                        log_warning("cannot build the model's slices; serving the full model only");
                m->load_progress = 1.0;
                if (!m->stopping)
                        set_state(m, MANAGER_READY, "ready");
                break;
        }
        case ENGINE_EVENT_LOAD_FAILED:
                free(m->error_message);
                m->error_message = strdup(ev->message);
                if (!m->stopping)
                        set_state(m, MANAGER_ERROR, "load-failed");
                break;
        case ENGINE_EVENT_TEXT:
                r = request_find(m, ev->request_id);
                if (r && r->sink.text)
                        r->sink.text(r, ev->text, ev->len, r->sink.userdata);
                break;
        case ENGINE_EVENT_FINISHED:
                r = request_find(m, ev->request_id);
                if (r)
                        request_finished(m, r, &ev->result);
                break;
        case ENGINE_EVENT_STOPPED:
                if (m->stopping && m->observer.stopped)
                        m->observer.stopped(m, m->observer.userdata);
                break;
        }
}

static int on_engine_event(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        EngineEvent *list = engine_take_events(m->engine);
        for (EngineEvent *ev = list; ev; ev = ev->next)
                handle_event(m, ev);
        engine_event_free_list(list);
        return 0;
}

int manager_new(const Config *config, const char *model_path, sd_event *event, const ManagerObserver *observer,
                Manager **ret, DaemonError *err) {
        _cleanup_(manager_freep) Manager *m = new0(Manager, 1);
        if (!m)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        m->config = config;
        m->event = sd_event_ref(event);
        if (observer)
                m->observer = *observer;
        m->state = MANAGER_LOADING;
        m->state_reason = "starting";
        m->n_ctx = config->context;
        m->slice_policy = strdup(config->slice_policy ? config->slice_policy : "auto");
        if (!m->slice_policy)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        if (!model_path)
                model_path = config->model_path;
        if (!model_path) {
                m->state = MANAGER_ERROR;
                m->state_reason = "no-model";
                m->error_message = strdup("no model file configured: give --model PATH or set [model] path in gemmad.conf");
                *ret = TAKE_PTR(m);
                return 0;
        }
        /* Absolute, so that ModelPath means the same to every client whatever its directory. */
        m->model_path = realpath(model_path, NULL);
        if (!m->model_path && errno != ENOMEM)
                m->model_path = strdup(model_path);   /* the loader will say what is wrong with it */
        if (!m->model_path)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");

        EngineParams p = {
                .model_path = m->model_path,
                .n_threads = config->threads,
                .prefill_chunk = config->prefill_chunk,
                .prefault = config->prefault,
                .pack_weights = config->pack_weights,
                .kv_budget_bytes = (uint64_t) config->kv_cache_mib << 20,
                .max_device_bytes = (uint64_t) config->opencl_max_device_mib << 20,
                .backend = config->backend,
        };
        GemmaError gerr = {};
        if (engine_new(&p, &m->engine, &gerr) < 0)
                return daemon_error_set(err, DAEMON_ERROR_FAILED, "%s", gemma_error_message(&gerr));
        int r = sd_event_add_io(event, &m->engine_source, engine_event_fd(m->engine), EPOLLIN, on_engine_event, m);
        if (r < 0)
                return daemon_error_set(err, DAEMON_ERROR_FAILED, "cannot watch the engine: %s", strerror(-r));
        *ret = TAKE_PTR(m);
        return 0;
}

const char *manager_slice_reason(const Manager *m) {
        if (strcmp(m->slice_policy, "auto") != 0)
                return "pinned";
        /* Until the monitor has decided (or without one), auto has nothing to react to. */
        return m->power_known && m->power_reason ? m->power_reason : "no-sensors";
}

void manager_apply_power(Manager *m, PowerLevel level, const char *reason) {
        m->power_known = true;
        m->power_level = level;
        m->power_reason = reason;
        manager_slices_apply(m);
        manager_notify_state(m);
}

void manager_set_power_inputs(Manager *m, const PowerInputEntry *entries, size_t n) {
        m->n_power_inputs = MIN(n, (size_t) POWER_INPUT_ENTRIES_MAX);
        memcpy(m->power_inputs, entries, m->n_power_inputs * sizeof(PowerInputEntry));
        manager_notify_state(m);
}

void manager_stop(Manager *m) {
        if (m->stopping)
                return;
        m->stopping = true;
        set_state(m, MANAGER_STOPPED, "shutdown");
        if (m->engine)
                engine_request_stop(m->engine);
        else if (m->observer.stopped)
                m->observer.stopped(m, m->observer.userdata);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        while (m->sessions)
                session_free(m->sessions);
        m->engine_source = sd_event_source_disable_unref(m->engine_source);
        m->engine = engine_free(m->engine);
        /* Requests whose FINISHED never arrived (the engine was stopped early) end here. */
        while (m->requests) {
                Request *r = m->requests;
                EngineResult res = { .finish = ENGINE_FINISH_CANCELLED };
                request_unlink(m, r);
                if (r->sink.finished)
                        r->sink.finished(r, &res, r->sink.userdata);
                manager_request_free(r);
        }
        sd_event_unref(m->event);
        free(m->model_path);
        free(m->error_message);
        free(m->slice_policy);
        manager_slices_done(m);
        free(m->model.name);
        free(m);
        return NULL;
}
