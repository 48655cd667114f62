/* The scheduler: builds one batch per engine step from every active sequence — one decode row
 * for each sequence that is generating, plus one bounded prefill chunk, taken from the
 * sequences that have prompt tokens waiting in turn — and runs one forward pass for all of
 * them, so the weights are read once per step however many clients are served. Starting a
 * request consults the prefix cache; finishing one records its pages there. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "engine/engine-internal.h"
#include "gemma3n/matformer.h"

/* Decode rows per step: bounds the time of one step (the watchdog, and the latency of the
 * prefill chunk waiting behind them). */
#define MAX_DECODE_ROWS 64

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* ---- text ---- */

/* D-Bus strings cannot hold NUL, and a model can produce it (the <0x00> byte token): every
 * output path gets U+FFFD in its place, so all of them carry the same text. */
static const char replacement[] = "\xef\xbf\xbd";

static int append_text(Slot *s, const char *text, size_t len) {
        if (s->text_len + len + 1 > s->text_cap) {
                size_t cap = MAX(MAX(s->text_cap * 2, s->text_len + len + 1), (size_t) 256);
                char *p = realloc(s->text, cap);
                if (!p)
                        return -ENOMEM;   /* the turn ends cancelled rather than with holes in it */
                s->text = p;
                s->text_cap = cap;
        }
        memcpy(s->text + s->text_len, text, len);
        s->text_len += len;
        s->text[s->text_len] = '\0';
        return 0;
}

static int collect_text(void *userdata, const char *text, size_t len) {
        Slot *s = userdata;
        for (;;) {
                const char *nul = memchr(text, '\0', len);
                size_t n = nul ? (size_t) (nul - text) : len;
                int r = append_text(s, text, n);
                if (r < 0 || !nul)
                        return r;
                if ((r = append_text(s, replacement, sizeof(replacement) - 1)) < 0)
                        return r;
                text += n + 1;
                len -= n + 1;
        }
}

static void flush_text(Engine *e, Slot *s) {
        if (s->text_len == 0)
                return;
        EngineEvent *ev = engine_event_new(ENGINE_EVENT_TEXT, s->job->job.request_id);
        if (!ev)
                return;   /* kept for the next step */
        ev->text = TAKE_PTR(s->text);
        ev->len = s->text_len;
        s->text_len = s->text_cap = 0;
        engine_post_event(e, ev);
}

/* ---- finishing ---- */

/* The prefix-cache key of a request's scope and the exact slice the KV is computed with: KV of
 * two slices is never shared, whatever they are called on the bus. NULL: private, or no memory
 * (then nothing is cached, which is always correct). */
static char *cache_key(const Engine *e, const char *scope, const Gemma3nSlice *slice) {
        if (!scope)
                return NULL;
        _cleanup_free_ char *spec = gemma3n_slice_format(e->model, slice);
        char *key = NULL;
        if (!spec || asprintf(&key, "%s\n%s", scope, spec) < 0)
                return NULL;
        return key;
}

static void remember_prefix(Engine *e, Slot *s) {
        uint32_t n;
        if (!s->job->cache_key || !s->seq)
                return;
        _cleanup_free_ char *key = cache_key(e, s->job->cache_key, sequence_slice(s->seq));
        const int32_t *history = sequence_history(s->seq, &n);
        if (key && history)
                (void) prefix_cache_insert(e->prefix, key, history, n, sequence_kv(s->seq));
}

static void finish(Engine *e, Slot *s, EngineResult *r) {
        /* n_prompt counts the whole prompt; n_cached the part the prefix cache served. */
        r->n_cached = s->n_cached;
        r->n_prompt += s->n_cached;
        /* Positions the next request must find room after: computed ones, and tokens a cancelled
         * turn left queued (they are computed before anything that comes next). */
        if (s->seq)
                r->n_past = sequence_n_past(s->seq) + sequence_n_queued(s->seq);
        if (r->finish != ENGINE_FINISH_ERROR)
                remember_prefix(e, s);
        engine_slot_finish_job(e, s, r);
}

static void finish_from_error(Engine *e, Slot *s, EngineFinish how, const GemmaError *err) {
        EngineResult r;
        engine_result_init(&r, how);
        snprintf(r.message, sizeof(r.message), "%s", gemma_error_message(err));
        r.n_prompt = s->n_prefill;
        finish(e, s, &r);
}

static bool same_slice(const Gemma3nSlice *a, const Gemma3nSlice *b) {
        if (!a || !b)
                return a == b;
        return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- starting ---- */

/* Queues the request's tokens (after whatever the prefix cache already holds) and begins the
 * turn. Returns false when the request ended instead. */
static bool start_job(Engine *e, Slot *s) {
        EngineJob *job = &s->job->job;
        GemmaError err = {};
        int r;

        if (s->cancelled) {
                EngineResult res;
                engine_result_init(&res, ENGINE_FINISH_CANCELLED);
                finish(e, s, &res);
                return false;
        }
        if (!s->seq && sequence_new_in(e->model, e->tok, e->pool, job->n_ctx, &s->seq, &err) < 0) {
                finish_from_error(e, s, ENGINE_FINISH_ERROR, &err);
                return false;
        }
        const int32_t *tokens = job->tokens;
        size_t n = job->n_tokens;
        /* A fresh sequence may start from a cached prefix computed by the active slice; one
         * token at least is computed, for the logits of the last. */
        if (sequence_n_past(s->seq) == 0 && sequence_n_queued(s->seq) == 0 && s->job->cache_key && n > 1) {
                _cleanup_free_ char *key = cache_key(e, s->job->cache_key, &e->slice);
                if (sequence_set_slice(s->seq, &e->slice, &err) < 0) {
                        finish_from_error(e, s, ENGINE_FINISH_ERROR, &err);
                        return false;
                }
                uint32_t hit = key ? prefix_cache_attach(e->prefix, key, tokens, (uint32_t) n, (uint32_t) n - 1,
                                                         sequence_kv(s->seq))
                                   : 0;
                if (hit > 0 && sequence_adopt_prefix(s->seq, tokens, hit, &err) < 0) {
                        /* The attached pages have no history to go with them: start afresh. */
                        s->seq = sequence_free(s->seq);
                        finish_from_error(e, s, ENGINE_FINISH_ERROR, &err);
                        return false;
                }
                s->n_cached = hit;
                tokens += hit;
                n -= hit;
                PrefixCacheStats st = prefix_cache_stats(e->prefix);
                atomic_store(&e->cache_hits, st.hits);
                atomic_store(&e->cache_misses, st.misses);
                atomic_store(&e->cached_tokens, st.cached_tokens);
        }
        r = sequence_queue(s->seq, tokens, n, &err);
        if (r < 0) {
                finish_from_error(e, s, r == -EMSGSIZE ? ENGINE_FINISH_OVERFLOW : ENGINE_FINISH_ERROR, &err);
                return false;
        }
        if (!job->generate && (r = sequence_set_slice(s->seq, &e->slice, &err)) < 0) {
                finish_from_error(e, s, ENGINE_FINISH_ERROR, &err);
                return false;
        }
        if (job->generate) {
                r = sequence_begin_turn(s->seq, &job->turn, &e->slice, &err);
                if (r < 0) {
                        finish_from_error(e, s, ENGINE_FINISH_ERROR, &err);
                        return false;
                }
        }
        s->started = true;
        return true;
}

/* ---- after a step ---- */

static void after_step(Engine *e, Slot *s, int r, SequenceStep step, const GemmaError *err) {
        const EngineJob *job = &s->job->job;

        flush_text(e, s);
        if (r < 0) {
                if (sequence_turn_running(s->seq))
                        sequence_cancel(s->seq);
                finish_from_error(e, s, ENGINE_FINISH_ERROR, err);
                return;
        }
        if (!job->generate) {
                if (s->cancelled || step == SEQUENCE_IDLE || sequence_n_queued(s->seq) == 0) {
                        EngineResult res;
                        engine_result_init(&res, s->cancelled && sequence_n_queued(s->seq) > 0 ? ENGINE_FINISH_CANCELLED
                                                                                                : ENGINE_FINISH_STOP);
                        res.n_prompt = s->n_prefill;
                        finish(e, s, &res);
                }
                return;
        }
        if (step == SEQUENCE_FINISHED) {
                static const EngineFinish map[_FINISH_REASON_MAX] = {
                        [FINISH_STOP] = ENGINE_FINISH_STOP,
                        [FINISH_LENGTH] = ENGINE_FINISH_LENGTH,
                        [FINISH_CANCELLED] = ENGINE_FINISH_CANCELLED,
                };
                const SequenceStats *st = sequence_stats(s->seq);
                EngineResult res;
                engine_result_init(&res, map[st->finish]);
                res.n_prompt = st->n_prompt;
                res.n_generated = st->n_generated;
                res.ttft_sec = st->ttft_sec;
                res.prefill_sec = st->prefill_sec;
                res.decode_sec = st->decode_sec;
                finish(e, s, &res);
        }
}

/* ---- the step ---- */

typedef struct Row {
        Slot *slot;
        uint32_t n;
        bool want_logits;
} Row;

/* What each row's sequence does with its logits once the forward pass is done: sampling,
 * detokenising, stop strings. A sequence touches only its own state and its slot's text, so the
 * rows are shared out over the compute threads: on the engine thread alone they took about
 * 0.6 ms a decoding session (most of it the sampler over the vocabulary) while the other
 * threads waited, 3.5 % of a step of four sessions. */
typedef struct StepAfter {
        const Row *rows;
        uint32_t n_rows, V;
        const float *logits;                          /* V floats for each row that wants them */
        double seconds;
        uint32_t logits_row[MAX_DECODE_ROWS + 1];     /* which of them is row i's */
        int r[MAX_DECODE_ROWS + 1];
        SequenceStep step[MAX_DECODE_ROWS + 1];
        GemmaError err[MAX_DECODE_ROWS + 1];
} StepAfter;

static void step_after_part(void *userdata, uint32_t part, uint32_t n_parts) {
        StepAfter *a = userdata;
        for (uint32_t i = a->n_rows * part / n_parts; i < a->n_rows * (part + 1) / n_parts; i++) {
                const Row *row = &a->rows[i];
                const float *logits = row->want_logits ? a->logits + (size_t) a->logits_row[i] * a->V : NULL;
                a->step[i] = SEQUENCE_IDLE;
                a->r[i] = sequence_step_after(row->slot->seq, row->n, logits, a->seconds, collect_text, row->slot,
                                              &a->step[i], &a->err[i]);
        }
}

static bool is_decode(const Slot *s) {
        return sequence_turn_running(s->seq) && sequence_stats(s->seq)->n_generated > 0 &&
               sequence_n_queued(s->seq) == 1;
}


void engine_schedule_step(Engine *e) {
        const uint32_t V = e->model->hp.n_vocab;
        const uint32_t chunk = MIN(e->params.prefill_chunk, 512u);
        Row rows[MAX_DECODE_ROWS + 1];
        Gemma3nSeqBatch batch[MAX_DECODE_ROWS + 1];
        uint32_t n_rows = 0;
        const Gemma3nSlice *slice = NULL;
        bool have_slice = false;
        Slot *next;

        /* Start new requests; steps that need no computation (a cancelled turn ending, an
         * Append with nothing left) happen right here. A running request whose KV came from
         * another slice recomputes its context with the active one first. */
        for (Slot *s = e->slots; s; s = next) {
                next = s->next;
                if (!s->job || (!s->started && !start_job(e, s)))
                        continue;
                if (!same_slice(sequence_slice(s->seq), &e->slice)) {
                        GemmaError err = {};
                        if (sequence_set_slice(s->seq, &e->slice, &err) < 0) {
                                after_step(e, s, -ENOMEM, SEQUENCE_IDLE, &err);
                                continue;
                        }
                }
                if (s->cancelled && !s->job->job.generate) {
                        /* An Append stops between chunks; what it computed stays in the context. */
                        EngineResult res;
                        engine_result_init(&res, ENGINE_FINISH_CANCELLED);
                        res.n_prompt = s->n_prefill;
                        finish(e, s, &res);
                        continue;
                }
                const int32_t *tokens;
                bool want;
                if (sequence_work(s->seq, chunk, &tokens, &want) == 0) {
                        GemmaError err = {};
                        SequenceStep step = SEQUENCE_IDLE;
                        int r = sequence_step_after(s->seq, 0, NULL, 0, collect_text, s, &step, &err);
                        after_step(e, s, r, step, &err);
                }
        }

        /* Decode rows: one for every generating sequence on the same slice. */
        for (Slot *s = e->slots; s && n_rows < MAX_DECODE_ROWS; s = s->next) {
                if (!s->job || !s->started || !is_decode(s))
                        continue;
                const Gemma3nSlice *sl = sequence_slice(s->seq);
                if (have_slice && !same_slice(sl, slice))
                        continue;
                slice = sl;
                have_slice = true;
                rows[n_rows++] = (Row) { s, 1, true };
        }
        /* One prefill chunk, offered to the sequences in turn. */
        Slot *start = e->rr_next ? e->rr_next : e->slots;
        Slot *s = start;
        for (int guard = 0; s && guard < 1 << 20; guard++) {
                if (s->job && s->started && !is_decode(s) && sequence_n_queued(s->seq) > 0 &&
                    (!have_slice || same_slice(sequence_slice(s->seq), slice))) {
                        const int32_t *tokens;
                        bool want;
                        uint32_t n = sequence_work(s->seq, chunk, &tokens, &want);
                        if (n > 0) {
                                slice = sequence_slice(s->seq);
                                rows[n_rows++] = (Row) { s, n, want };
                                e->rr_next = s->next;
                                break;
                        }
                }
                s = s->next ? s->next : e->slots;
                if (s == start)
                        break;
        }
        if (n_rows == 0)
                return;

        uint32_t n_logits = 0;
        for (uint32_t i = 0; i < n_rows; i++) {
                const int32_t *tokens;
                bool want;
                uint32_t n = sequence_work(rows[i].slot->seq, rows[i].n, &tokens, &want);
                batch[i] = (Gemma3nSeqBatch) { sequence_kv(rows[i].slot->seq), tokens, n, want };
                rows[i].want_logits = want;
                n_logits += want;
        }
        if (n_logits > e->logits_rows) {
                float *p = realloc(e->logits, (size_t) n_logits * V * sizeof(float));
                if (!p) {
                        GemmaError err = { .code = -ENOMEM };
                        snprintf(err.message, sizeof(err.message), "out of memory");
                        for (uint32_t i = 0; i < n_rows; i++)
                                after_step(e, rows[i].slot, -ENOMEM, SEQUENCE_IDLE, &err);
                        return;
                }
                e->logits = p;
                e->logits_rows = n_logits;
        }

        GemmaError err = {};
        double t0 = now_sec();
        int r = gemma3n_forward_multi(e->model, e->compute, slice, batch, n_rows, e->logits, &err);
        double dt = now_sec() - t0;

        if (r < 0) {
                for (uint32_t i = 0; i < n_rows; i++)
                        after_step(e, rows[i].slot, r, SEQUENCE_IDLE, &err);
        } else {
                static_assert(sizeof(StepAfter) < 64 * 1024, "a StepAfter lives on the engine thread's stack");
                StepAfter a = { .rows = rows, .n_rows = n_rows, .V = V, .logits = e->logits, .seconds = dt };
                bool prefill[MAX_DECODE_ROWS + 1];
                for (uint32_t i = 0, k = 0; i < n_rows; i++) {
                        a.logits_row[i] = rows[i].want_logits ? k++ : 0;
                        prefill[i] = !is_decode(rows[i].slot);
                        if (prefill[i])
                                rows[i].slot->n_prefill += rows[i].n;
                }
                threadpool_run(n_rows > 1 ? e->compute->pool : NULL, step_after_part, &a);
                for (uint32_t i = 0; i < n_rows; i++) {
                        /* Offer the pages this chunk completed to the prefix cache now, while the
                         * sequence still holds their sliding-window layers (it releases those
                         * as it moves on, and a later request needs them to start there). */
                        if (a.r[i] >= 0 && prefill[i])
                                remember_prefix(e, rows[i].slot);
                        after_step(e, rows[i].slot, a.r[i], a.step[i], &a.err[i]);
                }
        }

        /* Keep the pool within its budget by forgetting cached prefixes nobody uses. */
        if (kv_pool_over_budget(e->pool)) {
                prefix_cache_trim(e->prefix);
                atomic_store(&e->cache_evictions, prefix_cache_stats(e->prefix).evictions);
        }
        atomic_store(&e->kv_bytes, kv_pool_bytes(e->pool));
}
