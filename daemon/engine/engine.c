/* The engine thread: model loading, the job and event queues, and the round-robin step loop. */
#include "engine/engine-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "cpu/matmul.h"

static const char *const finish_names[_ENGINE_FINISH_MAX] = {
        [ENGINE_FINISH_STOP] = "stop",
        [ENGINE_FINISH_LENGTH] = "length",
        [ENGINE_FINISH_CANCELLED] = "cancelled",
        [ENGINE_FINISH_OVERFLOW] = "overflow",
        [ENGINE_FINISH_ERROR] = "error",
};

const char *engine_finish_to_string(EngineFinish f) {
        return f >= 0 && f < _ENGINE_FINISH_MAX ? finish_names[f] : NULL;
}

void engine_event_free_list(EngineEvent *e) {
        while (e) {
                EngineEvent *next = e->next;
                free(e->text);
                free(e);
                e = next;
        }
}

void engine_command_free(Command *c) {
        if (!c)
                return;
        if (c->stops)
                for (size_t i = 0; i < c->job.turn.n_stops; i++)
                        free(c->stops[i]);
        free(c->stops);
        free(c->cache_key);
        free(c->job.tokens);
        free(c);
}

static void command_free_list(Command *c) {
        while (c) {
                Command *next = c->next;
                engine_command_free(c);
                c = next;
        }
}

/* ---- events (engine thread -> event thread) ---- */

void engine_post_event(Engine *e, EngineEvent *ev) {
        static const uint64_t one = 1;
        pthread_mutex_lock(&e->lock);
        *e->events_tail = ev;
        e->events_tail = &ev->next;
        pthread_mutex_unlock(&e->lock);
        /* An eventfd write only fails when the counter would overflow, which a reader resets. */
        (void) !write(e->event_fd, &one, sizeof(one));
}

/* Events are small; when even those cannot be allocated the daemon is out of memory and the
 * request's client will see it end without a FINISHED, so retry a few times before giving up. */
EngineEvent *engine_event_new(EngineEventKind kind, uint64_t request_id) {
        for (int attempt = 0; attempt < 100; attempt++) {
                EngineEvent *ev = calloc(1, sizeof(*ev));
                if (ev) {
                        ev->kind = kind;
                        ev->request_id = request_id;
                        return ev;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return NULL;
}

static void post_progress(Engine *e, double progress, const char *stage) {
        EngineEvent *ev = engine_event_new(ENGINE_EVENT_LOAD_PROGRESS, 0);
        if (!ev)
                return;
        ev->progress = progress;
        ev->stage = stage;
        engine_post_event(e, ev);
}

void engine_post_finished(Engine *e, uint64_t request_id, const EngineResult *r) {
        EngineEvent *ev = engine_event_new(ENGINE_EVENT_FINISHED, request_id);
        if (!ev)
                return;
        ev->result = *r;
        engine_post_event(e, ev);
}

EngineEvent *engine_take_events(Engine *e) {
        uint64_t counter;
        (void) !read(e->event_fd, &counter, sizeof(counter));
        pthread_mutex_lock(&e->lock);
        EngineEvent *list = e->events;
        e->events = NULL;
        e->events_tail = &e->events;
        pthread_mutex_unlock(&e->lock);
        return list;
}

/* ---- commands (event thread -> engine thread) ---- */

static void push_command(Engine *e, Command *c) {
        pthread_mutex_lock(&e->lock);
        *e->commands_tail = c;
        e->commands_tail = &c->next;
        pthread_cond_signal(&e->wake);
        pthread_mutex_unlock(&e->lock);
}

int engine_submit(Engine *e, EngineJob *job, GemmaError *err) {
        if (!job->request_id || !job->n_tokens || !job->tokens || job->n_ctx == 0)
                return gemma_error_set(err, -EINVAL, "empty request");
        if (job->generate && job->turn.n_stops > 0 && !job->turn.stops)
                return gemma_error_set(err, -EINVAL, "stop strings missing");

        _cleanup_free_ Command *c = calloc(1, sizeof(*c));
        if (!c)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        c->kind = COMMAND_SUBMIT;
        c->job = *job;
        if (job->generate && job->turn.n_stops > 0) {
                c->stops = calloc(job->turn.n_stops, sizeof(char *));
                if (!c->stops)
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                for (size_t i = 0; i < job->turn.n_stops; i++) {
                        c->stops[i] = strdup(job->turn.stops[i]);
                        if (!c->stops[i]) {
                                c->job.tokens = NULL;
                                engine_command_free(TAKE_PTR(c));
                                return gemma_error_set(err, -ENOMEM, "out of memory");
                        }
                }
                c->job.turn.stops = (const char *const *) c->stops;
        } else {
                c->job.turn.stops = NULL;
                c->job.turn.n_stops = 0;
        }
        c->job.cache_key = NULL;
        if (job->cache_key && !(c->cache_key = strdup(job->cache_key))) {
                c->job.tokens = NULL;
                engine_command_free(TAKE_PTR(c));
                return gemma_error_set(err, -ENOMEM, "out of memory");
        }
        c->job.cache_key = c->cache_key;
        job->tokens = NULL;   /* ours now */
        push_command(e, TAKE_PTR(c));
        return 0;
}

static void push_simple(Engine *e, CommandKind kind, uint64_t id) {
        Command *c = NULL;
        /* Losing a cancel would leave a client's request running to its end: retry. */
        for (int attempt = 0; attempt < 100 && !c; attempt++) {
                c = calloc(1, sizeof(*c));
                if (!c)
                        nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        if (!c)
                return;
        c->kind = kind;
        c->id = id;
        push_command(e, c);
}

void engine_cancel(Engine *e, uint64_t request_id) {
        push_simple(e, COMMAND_CANCEL, request_id);
}

int engine_clone_sequence(Engine *e, uint64_t src, uint64_t dst, uint32_t n_ctx, uint64_t request_id, GemmaError *err) {
        Command *c = calloc(1, sizeof(*c));
        if (!c)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        c->kind = COMMAND_CLONE;
        c->id = src;
        c->job.sequence_id = dst;
        c->job.n_ctx = n_ctx;
        c->job.request_id = request_id;
        push_command(e, c);
        return 0;
}

int engine_set_slice(Engine *e, const Gemma3nSlice *slice, GemmaError *err) {
        Command *c = calloc(1, sizeof(*c));
        if (!c)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        c->kind = COMMAND_SET_SLICE;
        if (slice)
                c->slice = *slice;
        c->full_slice = !slice;
        push_command(e, c);
        return 0;
}

void engine_release_sequence(Engine *e, uint64_t sequence_id) {
        push_simple(e, COMMAND_RELEASE, sequence_id);
}

void engine_request_stop(Engine *e) {
        pthread_mutex_lock(&e->lock);
        e->stop_requested = true;
        pthread_cond_signal(&e->wake);
        pthread_mutex_unlock(&e->lock);
}

static bool stop_requested(Engine *e) {
        pthread_mutex_lock(&e->lock);
        bool stop = e->stop_requested;
        pthread_mutex_unlock(&e->lock);
        return stop;
}

/* ---- slots ---- */

Slot *engine_slot_find(Engine *e, uint64_t id) {
        for (Slot *s = e->slots; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

void engine_slot_unlink_free(Engine *e, Slot *s) {
        for (Slot **p = &e->slots; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        if (e->rr_next == s)
                e->rr_next = s->next;
        sequence_free(s->seq);
        engine_command_free(s->job);
        command_free_list(s->waiting);
        free(s->text);
        free(s);
}

void engine_slot_finish_job(Engine *e, Slot *s, const EngineResult *r) {
        Command *job = s->job;
        engine_post_finished(e, job->job.request_id, r);
        bool release = job->job.release_after;
        s->job = NULL;
        s->started = s->cancelled = false;
        s->n_prefill = 0;
        engine_command_free(job);
        if (s->waiting) {
                s->job = s->waiting;
                s->waiting = s->waiting->next;
                s->job->next = NULL;
        } else if (release) {
                engine_slot_unlink_free(e, s);
        }
}

void engine_result_init(EngineResult *r, EngineFinish finish) {
        *r = (EngineResult) { .finish = finish };
}

/* Ends every request of a slot as cancelled (release, shutdown). */
static void slot_cancel_all(Engine *e, Slot *s) {
        EngineResult r;
        engine_result_init(&r, ENGINE_FINISH_CANCELLED);
        if (s->seq)
                r.n_past = sequence_n_past(s->seq);
        if (s->job) {
                /* The running request reports what it did before it was stopped. */
                EngineResult running = r;
                running.n_prompt = s->n_prefill + s->n_cached;
                running.n_cached = s->n_cached;
                if (s->seq && s->started && s->job->job.generate && sequence_turn_running(s->seq)) {
                        const SequenceStats *st = sequence_stats(s->seq);
                        running.n_prompt = st->n_prompt + s->n_cached;
                        running.n_generated = st->n_generated;
                        running.ttft_sec = st->ttft_sec;
                        running.prefill_sec = st->prefill_sec;
                        running.decode_sec = st->decode_sec;
                }
                engine_post_finished(e, s->job->job.request_id, &running);
        }
        for (Command *w = s->waiting; w; w = w->next)
                engine_post_finished(e, w->job.request_id, &r);
}

static void handle_submit(Engine *e, Command *c) {
        Slot *s = engine_slot_find(e, c->job.sequence_id);
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s) {
                        EngineResult r;
                        engine_result_init(&r, ENGINE_FINISH_ERROR);
                        snprintf(r.message, sizeof(r.message), "out of memory");
                        engine_post_finished(e, c->job.request_id, &r);
                        engine_command_free(c);
                        return;
                }
                s->id = c->job.sequence_id;
                s->next = e->slots;
                e->slots = s;
        }
        c->next = NULL;
        if (!s->job) {
                s->job = c;
                return;
        }
        Command **tail = &s->waiting;
        while (*tail)
                tail = &(*tail)->next;
        *tail = c;
}

static void handle_cancel(Engine *e, uint64_t request_id) {
        for (Slot *s = e->slots; s; s = s->next) {
                if (s->job && s->job->job.request_id == request_id) {
                        s->cancelled = true;
                        if (s->seq)
                                sequence_cancel(s->seq);
                        return;
                }
                for (Command **w = &s->waiting; *w; w = &(*w)->next)
                        if ((*w)->job.request_id == request_id) {
                                Command *c = *w;
                                *w = c->next;
                                EngineResult r;
                                engine_result_init(&r, ENGINE_FINISH_CANCELLED);
                                r.n_past = s->seq ? sequence_n_past(s->seq) : 0;
                                engine_post_finished(e, request_id, &r);
                                engine_command_free(c);
                                return;
                        }
        }
}

static void handle_clone(Engine *e, const Command *c) {
        const Slot *src = engine_slot_find(e, c->id);
        EngineResult r;
        GemmaError err = {};
        Sequence *copy = NULL;

        engine_result_init(&r, ENGINE_FINISH_STOP);
        if (engine_slot_find(e, c->job.sequence_id)) {
                r.finish = ENGINE_FINISH_ERROR;
                snprintf(r.message, sizeof(r.message), "sequence %" PRIu64 " exists", c->job.sequence_id);
        } else if (src && src->job) {
                r.finish = ENGINE_FINISH_ERROR;
                snprintf(r.message, sizeof(r.message), "the session is busy");
        } else if (src && src->seq && sequence_clone(src->seq, &copy, &err) < 0) {
                r.finish = ENGINE_FINISH_ERROR;
                snprintf(r.message, sizeof(r.message), "%s", gemma_error_message(&err));
        } else if (copy) {
                Slot *s = calloc(1, sizeof(*s));
                if (!s) {
                        sequence_free(copy);
                        r.finish = ENGINE_FINISH_ERROR;
                        snprintf(r.message, sizeof(r.message), "out of memory");
                } else {
                        s->id = c->job.sequence_id;
                        s->seq = copy;
                        s->next = e->slots;
                        e->slots = s;
                        r.n_past = sequence_n_past(copy);
                }
        }
        engine_post_finished(e, c->job.request_id, &r);
}

static void handle_commands(Engine *e, Command *list) {
        while (list) {
                Command *c = list;
                list = c->next;
                switch (c->kind) {
                case COMMAND_SUBMIT:
                        handle_submit(e, c);
                        continue;   /* the slot owns it now */
                case COMMAND_CANCEL:
                        handle_cancel(e, c->id);
                        break;
                case COMMAND_CLONE:
                        handle_clone(e, c);
                        break;
                case COMMAND_SET_SLICE: {
                        GemmaError err = {};
                        if (c->full_slice)
                                gemma3n_slice_full(e->model, &e->slice);
                        else if (gemma3n_slice_validate(e->model, &c->slice, &err) >= 0)
                                e->slice = c->slice;
                        /* An invalid slice was refused by the caller already; keep the old one. */
                        break;
                }
                case COMMAND_RELEASE: {
                        Slot *s = engine_slot_find(e, c->id);
                        if (s) {
                                slot_cancel_all(e, s);
                                engine_slot_unlink_free(e, s);
                        }
                        break;
                }
                }
                engine_command_free(c);
        }
}

/* ---- loading ---- */

/* Reads every page of the weights once, so that the first request does not stall on page faults
 * of a 2+ GB file. Progress goes from `from` to `to`. */
static int prefault(Engine *e, double from, double to) {
        const GgufFile *f = e->model->file;
        if (!f->mapped || f->size <= f->data_offset)
                return 0;
        const uint8_t *p = f->base + f->data_offset;
        size_t n = f->size - f->data_offset;
        const size_t chunk = 64u << 20;
        const long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
        volatile uint8_t sink = 0;
        for (size_t off = 0; off < n; off += chunk) {
                if (stop_requested(e))
                        return -ECANCELED;
                size_t len = MIN(chunk, n - off);
                (void) madvise((void *) ((uintptr_t) (p + off) & ~(uintptr_t) (page - 1)), len, MADV_WILLNEED);
                for (size_t i = 0; i < len; i += (size_t) page)
                        sink ^= p[off + i];
                atomic_fetch_add(&e->heartbeat, 1);
                post_progress(e, from + (to - from) * (double) (off + len) / (double) n, "prefault");
        }
        (void) sink;
        return 0;
}

/* Packs the CPU's matrices in the background (cpu/packed.h): ready does not wait for it, and until
 * a matrix is packed it is read from the file, with the same results. */
static void start_packing(Engine *e) {
        GemmaError err = {};
        if (gemma3n_model_pack_weights(e->model, e->compute->features, &err) < 0) {
                e->pack_failed = true;
                snprintf(e->pack_report, sizeof(e->pack_report), "weights are read from the file only: %s",
                         gemma_error_message(&err));
                return;
        }
        const WeightPackerProgress p = gemma3n_model_pack_progress(e->model);
        if (p.matrices > 0)
                snprintf(e->pack_report, sizeof(e->pack_report),
                         "packing %" PRIu32 " matrices (%" PRIu64 " MiB) for the CPU's tiles in the background",
                         p.matrices, p.bytes >> 20);
}

static int load(Engine *e, GemmaError *err) {
        int r;
        post_progress(e, 0.0, "mapping");
        r = gemma3n_model_load(e->model_path, &e->model, err);
        if (r < 0)
                return r;
        /* The accelerator first: the layers it takes need not be read in on the host. */
        post_progress(e, 0.1, "accelerator");
        const AccelSelectOptions ao = { .max_device_bytes = e->params.max_device_bytes };
        BackendSpec spec = { .kind = BACKEND_CPU };
        if (e->backend && backend_spec_parse(e->backend, &spec, err) < 0)
                return -EINVAL;
        accel_select(e->model, &spec, &ao, &e->accel);
        post_progress(e, 0.2, "tokenizer");
        r = tokenizer_load(e->model->file, &e->tok, err);
        if (r < 0)
                return r;
        r = gemma3n_kv_pool_new(e->model, e->params.page_size ? e->params.page_size : 32, e->params.kv_budget_bytes,
                                &e->pool, err);
        if (r < 0)
                return r;
        gemma3n_slice_full(e->model, &e->slice);
        e->prefix = prefix_cache_new(e->pool);
        if (!e->prefix)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        post_progress(e, 0.25, "compute");
        r = cpu_compute_new(e->params.n_threads, &e->compute, err);
        if (r < 0)
                return r;
        e->n_threads = threadpool_size(e->compute->pool);
        if (e->params.prefault) {
                r = prefault(e, 0.25, 1.0);
                if (r < 0)
                        return gemma_error_set(err, r, "loading cancelled");
        }
        /* after prefaulting, which would map again the file pages the packer lets go */
        if (e->params.pack_weights)
                start_packing(e);
        post_progress(e, 1.0, "ready");
        return 0;
}

/* ---- the thread ---- */

static void run_loop(Engine *e) {
        for (;;) {
                pthread_mutex_lock(&e->lock);
                for (;;) {
                        if (e->stop_requested || e->commands)
                                break;
                        bool runnable = false;
                        for (Slot *s = e->slots; s && !runnable; s = s->next)
                                runnable = s->job != NULL;
                        if (runnable)
                                break;
                        atomic_store(&e->idle, true);
                        atomic_fetch_add(&e->heartbeat, 1);
                        pthread_cond_wait(&e->wake, &e->lock);
                }
                atomic_store(&e->idle, false);
                Command *list = e->commands;
                e->commands = NULL;
                e->commands_tail = &e->commands;
                bool stop = e->stop_requested;
                pthread_mutex_unlock(&e->lock);

                handle_commands(e, list);
                if (stop)
                        return;
                engine_schedule_step(e);
                atomic_fetch_add(&e->heartbeat, 1);
        }
}

static void *engine_thread(void *userdata) {
        Engine *e = userdata;
        GemmaError err = {};

        if (load(e, &err) < 0) {
                EngineEvent *ev = engine_event_new(ENGINE_EVENT_LOAD_FAILED, 0);
                if (ev) {
                        snprintf(ev->message, sizeof(ev->message), "%s", gemma_error_message(&err));
                        engine_post_event(e, ev);
                }
                /* Without a model every request fails; keep answering them until told to stop. */
                for (;;) {
                        pthread_mutex_lock(&e->lock);
                        while (!e->stop_requested && !e->commands) {
                                atomic_store(&e->idle, true);
                                pthread_cond_wait(&e->wake, &e->lock);
                        }
                        Command *list = e->commands;
                        e->commands = NULL;
                        e->commands_tail = &e->commands;
                        bool stop = e->stop_requested;
                        pthread_mutex_unlock(&e->lock);
                        for (Command *c = list; c; c = c->next)
                                if (c->kind == COMMAND_SUBMIT) {
                                        EngineResult r;
                                        engine_result_init(&r, ENGINE_FINISH_ERROR);
                                        snprintf(r.message, sizeof(r.message), "no model loaded");
                                        engine_post_finished(e, c->job.request_id, &r);
                                }
                        command_free_list(list);
                        if (stop)
                                break;
                }
        } else {
                EngineEvent *ready = engine_event_new(ENGINE_EVENT_READY, 0);
                if (ready)
                        engine_post_event(e, ready);
                run_loop(e);
                /* Stop: every request still known ends cancelled, so every caller gets its answer. */
                while (e->slots) {
                        slot_cancel_all(e, e->slots);
                        engine_slot_unlink_free(e, e->slots);
                }
                pthread_mutex_lock(&e->lock);
                Command *list = e->commands;
                e->commands = NULL;
                e->commands_tail = &e->commands;
                pthread_mutex_unlock(&e->lock);
                for (Command *c = list; c; c = c->next)
                        if (c->kind == COMMAND_SUBMIT) {
                                EngineResult r;
                                engine_result_init(&r, ENGINE_FINISH_CANCELLED);
                                engine_post_finished(e, c->job.request_id, &r);
                        }
                command_free_list(list);
        }
        atomic_store(&e->idle, true);
        EngineEvent *ev = engine_event_new(ENGINE_EVENT_STOPPED, 0);
        if (ev)
                engine_post_event(e, ev);
        return NULL;
}

int engine_new(const EngineParams *p, Engine **ret, GemmaError *err) {
        if (!p->model_path || !p->model_path[0])
                return gemma_error_set(err, -EINVAL, "no model file given");

        Engine *e = calloc(1, sizeof(*e));
        if (!e)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        e->params = *p;
        if (e->params.prefill_chunk == 0)
                e->params.prefill_chunk = 1;
        e->event_fd = -1;
        e->commands_tail = &e->commands;
        e->events_tail = &e->events;
        atomic_init(&e->heartbeat, 0);
        atomic_init(&e->idle, false);
        atomic_init(&e->kv_bytes, 0);
        atomic_init(&e->cache_hits, 0);
        atomic_init(&e->cache_misses, 0);
        atomic_init(&e->cache_evictions, 0);
        atomic_init(&e->cached_tokens, 0);
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->wake, NULL);

        e->model_path = strdup(p->model_path);
        e->backend = p->backend ? strdup(p->backend) : NULL;
        if (!e->model_path || (p->backend && !e->backend)) {
                engine_free(e);
                return gemma_error_set(err, -ENOMEM, "out of memory");
        }
        e->params.model_path = e->model_path;
        e->params.backend = e->backend;
        e->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (e->event_fd < 0) {
                int r = -errno;
                engine_free(e);
                return gemma_error_set(err, r, "cannot create an eventfd: %s", strerror(-r));
        }
        int r = pthread_create(&e->thread, NULL, engine_thread, e);
        if (r != 0) {
                engine_free(e);
                return gemma_error_set(err, -r, "cannot start the engine thread: %s", strerror(r));
        }
        e->thread_started = true;
        *ret = e;
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        if (e->thread_started) {
                engine_request_stop(e);
                pthread_join(e->thread, NULL);
        }
        while (e->slots)
                engine_slot_unlink_free(e, e->slots);
        command_free_list(e->commands);
        engine_event_free_list(e->events);
        if (e->event_fd >= 0)
                close(e->event_fd);
        prefix_cache_free(e->prefix);
        kv_pool_unref(e->pool);
        free(e->logits);
        cpu_compute_free(e->compute);
        tokenizer_free(e->tok);
        gemma3n_model_free(e->model);
        pthread_cond_destroy(&e->wake);
        pthread_mutex_destroy(&e->lock);
        free(e->model_path);
        free(e->backend);
        free(e);
        return NULL;
}

int engine_event_fd(const Engine *e) {
        return e->event_fd;
}

const Gemma3nModel *engine_model(const Engine *e) {
        return e->model;
}

const Tokenizer *engine_tokenizer(const Engine *e) {
        return e->tok;
}

const char *engine_backend_name(const Engine *e) {
        return e->accel.active[0] ? e->accel.active : "cpu";
}

const AccelReport *engine_accel_report(const Engine *e) {
        return &e->accel;
}

uint64_t engine_packed_bytes(const Engine *e) {
        const WeightPackerProgress p = gemma3n_model_pack_progress(e->model);
        return p.matrices > 0 && p.matrices_done == p.matrices ? p.bytes : 0;
}

const char *engine_pack_report(const Engine *e, bool *ret_failed) {
        *ret_failed = e->pack_failed;
        return e->pack_report;
}

uint32_t engine_n_threads(const Engine *e) {
        return e->n_threads;
}

uint64_t engine_heartbeat(const Engine *e) {
        return atomic_load(&((Engine *) e)->heartbeat);
}

bool engine_is_idle(const Engine *e) {
        return atomic_load(&((Engine *) e)->idle);
}

uint64_t engine_kv_bytes(const Engine *e) {
        return atomic_load(&((Engine *) e)->kv_bytes);
}

EngineCacheStats engine_cache_stats(const Engine *e) {
        Engine *m = (Engine *) e;
        return (EngineCacheStats) {
                .hits = atomic_load(&m->cache_hits),
                .misses = atomic_load(&m->cache_misses),
                .evictions = atomic_load(&m->cache_evictions),
                .cached_tokens = atomic_load(&m->cached_tokens),
        };
}
