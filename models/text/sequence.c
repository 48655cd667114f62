/* A sequence stepped one prefill chunk or one token at a time (see sequence.h). Generated text
 * goes token -> TokenStream (whole UTF-8 characters, control pieces dropped) -> StopMatcher
 * (holds back what could become a stop string) -> emit. */
#include "sequence.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "stop.h"

struct Sequence {
        const Gemma3nModel *model;
        const Tokenizer *tok;
        KvCache *kv;
        float *logits;              /* of the last computed position, when logits_valid */
        bool logits_valid;

        int32_t *queue;             /* tokens waiting to be computed */
        size_t n_queued, queue_cap;
        int32_t *history;           /* the tokens at KV positions 0 .. kv->n_pos */
        size_t history_cap;

        /* The running turn. */
        bool turn_running, cancel_requested;
        TurnParams params;
        Gemma3nSlice slice;
        Sampler *sampler;
        StopMatcher *stop;
        TokenStream *stream;
        SequenceEmit emit;
        void *emit_userdata;
        bool stopped_by_string, emit_cancelled;
        double t_turn_start;
        SequenceStats stats;
};

const char *finish_reason_to_string(FinishReason r) {
        static const char *const names[_FINISH_REASON_MAX] = {
                [FINISH_STOP] = "stop",
                [FINISH_LENGTH] = "length",
                [FINISH_CANCELLED] = "cancelled",
        };
        return (unsigned) r < _FINISH_REASON_MAX ? names[r] : "unknown";
}

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int sequence_new_in(const Gemma3nModel *m, const Tokenizer *tok, KvPool *pool, uint32_t n_ctx, Sequence **ret,
                    GemmaError *err) {
        Sequence *s;
        int k;

        if (n_ctx < 2 || n_ctx > m->hp.n_ctx_train)
                return gemma_error_set(err, -EINVAL, "context of %u positions is out of range (2..%u)", n_ctx,
                                       m->hp.n_ctx_train);
        s = new0(Sequence, 1);
        if (!s)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        s->model = m;
        s->tok = tok;
        gemma3n_slice_full(m, &s->slice);
        s->logits = malloc_multiply(m->hp.n_vocab, sizeof(float));
        if (!s->logits) {
                sequence_free(s);
                return gemma_error_set(err, -ENOMEM, "out of memory");
        }
        k = pool ? kv_cache_new_in(pool, n_ctx, 512, &s->kv, err) : gemma3n_kv_cache_new(m, n_ctx, 512, &s->kv, err);
        if (k < 0) {
                sequence_free(s);
                return k;
        }
        *ret = s;
        return 0;
}

int sequence_new(const Gemma3nModel *m, const Tokenizer *tok, uint32_t n_ctx, Sequence **ret, GemmaError *err) {
        return sequence_new_in(m, tok, NULL, n_ctx, ret, err);
}

/* Remembers the tokens written at KV positions pos .. pos + n (the prefix cache keys pages by
 * them). The array is sized for the whole context once. */
static int record_history(Sequence *s, uint32_t pos, const int32_t *ids, size_t n, GemmaError *err) {
        if (!s->history) {
                s->history = malloc_multiply(s->kv->n_ctx, sizeof(int32_t));
                if (!s->history)
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                s->history_cap = s->kv->n_ctx;
        }
        if (pos > s->history_cap || n > s->history_cap - pos)
                return gemma_error_set(err, -ENOSPC, "history past the context");
        memcpy(s->history + pos, ids, n * sizeof(int32_t));
        return 0;
}

int sequence_clone(const Sequence *s, Sequence **ret, GemmaError *err) {
        _cleanup_(sequence_freep) Sequence *c = NULL;
        int k;

        if (s->turn_running)
                return gemma_error_set(err, -EBUSY, "cannot copy a sequence while it generates");
        if ((k = sequence_new_in(s->model, s->tok, s->kv->pool, s->kv->n_ctx, &c, err)) < 0)
                return k;
        if ((k = kv_cache_share(c->kv, s->kv, s->kv->n_pos, err)) < 0)
                return k;
        c->slice = s->slice;   /* the shared pages were computed by it */
        if (s->kv->n_pos > 0 && (k = record_history(c, 0, s->history, s->kv->n_pos, err)) < 0)
                return k;
        memcpy(c->logits, s->logits, s->model->hp.n_vocab * sizeof(float));
        c->logits_valid = s->logits_valid;
        if (s->n_queued > 0) {
                c->queue = malloc_multiply(s->queue_cap, sizeof(int32_t));
                if (!c->queue)
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                memcpy(c->queue, s->queue, s->n_queued * sizeof(int32_t));
                c->queue_cap = s->queue_cap;
                c->n_queued = s->n_queued;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static void turn_done(Sequence *s) {
        s->sampler = sampler_free(s->sampler);
        s->stop = stop_matcher_free(s->stop);
        s->stream = tokenstream_free(s->stream);
        s->turn_running = false;
        s->cancel_requested = false;
}

Sequence *sequence_free(Sequence *s) {
        if (!s)
                return NULL;
        turn_done(s);
        kv_cache_free(s->kv);
        free(s->history);
        free(s->logits);
        free(s->queue);
        free(s);
        return NULL;
}

int sequence_queue(Sequence *s, const int32_t *ids, size_t n, GemmaError *err) {
        const uint32_t V = s->model->hp.n_vocab;
        const size_t used = s->kv->n_pos + s->n_queued, room = s->kv->n_ctx - used;

        /* One position must stay free for the answer's first token to be computed after. */
        if (n >= room)
                return gemma_error_set(err, -EMSGSIZE, "%zu tokens do not fit: the context holds %u and %zu are in use",
                                       n, s->kv->n_ctx, used);
        for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (uint32_t) ids[i] >= V)
                        return gemma_error_set(err, -EINVAL, "token id %d is out of range (vocabulary %u)", ids[i], V);
        if (s->n_queued + n > s->queue_cap) {
                size_t cap = MAX(s->queue_cap * 2, s->n_queued + n);
                int32_t *q = realloc(s->queue, cap * sizeof(int32_t));
                if (!q)
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                s->queue = q;
                s->queue_cap = cap;
        }
        memcpy(s->queue + s->n_queued, ids, n * sizeof(int32_t));
        s->n_queued += n;
        return 0;
}

int sequence_begin_turn(Sequence *s, const TurnParams *p, const Gemma3nSlice *slice, GemmaError *err) {
        int k;

        if (s->turn_running)
                return gemma_error_set(err, -EBUSY, "a turn is already being generated");
        if (s->n_queued == 0 && !s->logits_valid)
                return gemma_error_set(err, -EINVAL, "nothing to answer: no tokens were queued");
        if (p->max_tokens == 0)
                return gemma_error_set(err, -EINVAL, "max_tokens must be at least 1");
        if ((k = sequence_set_slice(s, slice, err)) < 0)
                return k;
        if ((k = sampler_new(&p->sampling, s->model->hp.n_vocab, &s->sampler, err)) < 0)
                return k;
        if ((k = stop_matcher_new(p->stops, p->n_stops, &s->stop, err)) < 0) {
                turn_done(s);
                return k;
        }
        s->stream = tokenstream_new(s->tok, false);
        if (!s->stream) {
                turn_done(s);
                return gemma_error_set(err, -ENOMEM, "out of memory");
        }
        s->params = *p;
        s->params.stops = NULL;      /* copied into the matcher; the caller's array may go away */
        s->stats = (SequenceStats) { .n_prompt = (uint32_t) s->n_queued };
        s->stopped_by_string = s->emit_cancelled = false;
        s->turn_running = true;
        s->t_turn_start = now_sec();
        return 0;
}

void sequence_cancel(Sequence *s) {
        if (s->turn_running)
                s->cancel_requested = true;
}

/* TokenStream callback: complete characters go through the stop matcher, then out. */
static int stream_text(void *userdata, const char *text, size_t len) {
        Sequence *s = userdata;
        StopMatch out;
        if (s->stopped_by_string)
                return 0;
        int r = stop_matcher_feed(s->stop, text, len, &out);
        if (r < 0)
                return r;
        if (out.n_bytes > 0 && !s->emit_cancelled && s->emit(s->emit_userdata, out.text, out.n_bytes) < 0)
                s->emit_cancelled = true;
        if (r > 0)
                s->stopped_by_string = true;
        return 0;
}

static void finish_turn(Sequence *s, FinishReason reason) {
        /* Text still held back (an incomplete character, a partial stop string) is released
         * unless a stop string or a cancel ended the turn. */
        if (reason != FINISH_CANCELLED && !s->stopped_by_string && !s->emit_cancelled) {
                StopMatch out;
                tokenstream_flush(s->stream, stream_text, s);
                if (!s->stopped_by_string && stop_matcher_flush(s->stop, &out) == 0 && out.n_bytes > 0)
                        s->emit(s->emit_userdata, out.text, out.n_bytes);
        }
        if (s->stopped_by_string)
                reason = FINISH_STOP;
        s->stats.finish = reason;
        turn_done(s);
}

uint32_t sequence_work(const Sequence *s, uint32_t max_prefill, const int32_t **ret_tokens, bool *ret_want_logits) {
        if ((s->turn_running && s->cancel_requested) || s->n_queued == 0)
                return 0;
        size_t n = MIN((size_t) MAX(max_prefill, 1u), s->n_queued);
        *ret_tokens = s->queue;
        /* Only the chunk that empties the queue needs logits (of its last token); the model skips
         * its top layers for every other position. */
        *ret_want_logits = n == s->n_queued;
        return (uint32_t) n;
}

KvCache *sequence_kv(Sequence *s) {
        return s->kv;
}

const Gemma3nSlice *sequence_slice(const Sequence *s) {
        return &s->slice;
}

int sequence_set_slice(Sequence *s, const Gemma3nSlice *slice, GemmaError *err) {
        Gemma3nSlice want;
        int k;

        if (slice) {
                if ((k = gemma3n_slice_validate(s->model, slice, err)) < 0)
                        return k;
                want = *slice;
        } else
                gemma3n_slice_full(s->model, &want);
        if (memcmp(&want, &s->slice, sizeof(want)) == 0)
                return 0;
        /* Slices that agree up to the last KV-writing layer computed the same KV: keep it. */
        if (s->kv->n_pos > 0 && !gemma3n_slice_same_kv(s->model, &s->slice, &want)) {
                /* KV computed by another slice is never mixed in: the whole context is queued
                 * again, in front of what was waiting, and recomputed by the new slice. */
                const uint32_t n = s->kv->n_pos;
                KvCache *fresh = NULL;
                if ((k = kv_cache_new_in(s->kv->pool, s->kv->n_ctx, s->kv->max_ubatch, &fresh, err)) < 0)
                        return k;
                if (s->n_queued + n > s->queue_cap) {
                        int32_t *q = realloc(s->queue, (s->n_queued + n) * sizeof(int32_t));
                        if (!q) {
                                kv_cache_free(fresh);
                                return gemma_error_set(err, -ENOMEM, "out of memory");
                        }
                        s->queue = q;
                        s->queue_cap = s->n_queued + n;
                }
                memmove(s->queue + n, s->queue, s->n_queued * sizeof(int32_t));
                memcpy(s->queue, s->history, n * sizeof(int32_t));
                s->n_queued += n;
                kv_cache_free(s->kv);
                s->kv = fresh;
                s->logits_valid = false;
        }
        s->slice = want;
        return 0;
}

int sequence_step(Sequence *s, CpuCompute *c, uint32_t max_prefill, SequenceEmit emit, void *userdata,
                  SequenceStep *ret, GemmaError *err) {
        const int32_t *tokens;
        bool want_logits;
        uint32_t n = sequence_work(s, max_prefill, &tokens, &want_logits);
        double t0 = now_sec();
        if (n > 0) {
                Gemma3nBatch b = { .n_tokens = n, .tokens = tokens };
                int k = gemma3n_forward(s->model, c, sequence_slice(s), s->kv, &b, s->logits, err);
                if (k < 0)
                        return k;
        }
        return sequence_step_after(s, n, s->logits, now_sec() - t0, emit, userdata, ret, err);
}

int sequence_step_after(Sequence *s, uint32_t n, const float *logits, double seconds, SequenceEmit emit,
                        void *userdata, SequenceStep *ret, GemmaError *err) {
        int k;

        if (s->turn_running && s->cancel_requested) {
                finish_turn(s, FINISH_CANCELLED);
                *ret = SEQUENCE_FINISHED;
                return 0;
        }
        if (n > 0) {
                const bool last_chunk = n == s->n_queued;
                if ((k = record_history(s, s->kv->n_pos - n, s->queue, n, err)) < 0)
                        return k;
                if (last_chunk && logits != s->logits)
                        memcpy(s->logits, logits, s->model->hp.n_vocab * sizeof(float));
                memmove(s->queue, s->queue + n, (s->n_queued - n) * sizeof(int32_t));
                s->n_queued -= n;
                s->logits_valid = last_chunk;
                if (s->turn_running) {
                        if (s->stats.n_generated == 0)
                                s->stats.prefill_sec += seconds;
                        else
                                s->stats.decode_sec += seconds;
                }
                /* A generated token that was just computed is part of the turn, not a prefill. */
                *ret = s->turn_running && s->stats.n_generated > 0 ? SEQUENCE_TOKEN : SEQUENCE_PREFILLED;
                if (*ret == SEQUENCE_PREFILLED || !s->logits_valid)
                        return 0;
        }
        if (!s->turn_running) {
                *ret = SEQUENCE_IDLE;
                return 0;
        }

        s->emit = emit;
        s->emit_userdata = userdata;
        int token = sampler_sample(s->sampler, s->logits);
        if (token < 0) {
                finish_turn(s, FINISH_CANCELLED);
                return gemma_error_set(err, token, "every logit is -inf or NaN");
        }
        if (s->stats.n_generated == 0)
                s->stats.ttft_sec = now_sec() - s->t_turn_start;
        if (tokenizer_is_end_of_generation(s->tok, token)) {
                finish_turn(s, FINISH_STOP);
                *ret = SEQUENCE_FINISHED;
                return 0;
        }
        sampler_accept(s->sampler, token);
        s->stats.n_generated++;
        if ((k = tokenstream_push(s->stream, token, stream_text, s)) < 0) {
                finish_turn(s, FINISH_CANCELLED);
                return gemma_error_set(err, k, "cannot decode token %d", token);
        }
        if (s->stopped_by_string || s->emit_cancelled) {
                finish_turn(s, s->emit_cancelled ? FINISH_CANCELLED : FINISH_STOP);
                *ret = SEQUENCE_FINISHED;
                return 0;
        }
        /* The token is kept in the conversation: it is computed at the next step. */
        const int32_t next = token;
        if (s->stats.n_generated >= s->params.max_tokens || s->kv->n_pos + 1 >= s->kv->n_ctx) {
                if (s->kv->n_pos + 1 < s->kv->n_ctx)
                        sequence_queue(s, &next, 1, NULL);
                finish_turn(s, FINISH_LENGTH);
                *ret = SEQUENCE_FINISHED;
                return 0;
        }
        s->queue[s->n_queued++] = next;   /* room was reserved by sequence_queue() */
        *ret = SEQUENCE_TOKEN;
        return 0;
}

const SequenceStats *sequence_stats(const Sequence *s) {
        return &s->stats;
}

uint32_t sequence_n_past(const Sequence *s) {
        return s->kv->n_pos;
}

uint32_t sequence_n_queued(const Sequence *s) {
        return (uint32_t) s->n_queued;
}

uint32_t sequence_n_ctx(const Sequence *s) {
        return s->kv->n_ctx;
}

bool sequence_turn_running(const Sequence *s) {
        return s->turn_running;
}

uint64_t sequence_kv_bytes(const Sequence *s) {
        return kv_cache_bytes(s->kv);
}

const int32_t *sequence_history(const Sequence *s, uint32_t *ret_n) {
        *ret_n = s->kv->n_pos;
        return s->history;
}

int sequence_adopt_prefix(Sequence *s, const int32_t *ids, uint32_t n, GemmaError *err) {
        if (s->kv->n_pos != n || s->n_queued > 0 || s->turn_running)
                return gemma_error_set(err, -EINVAL, "the KV cache does not hold exactly these %u positions", n);
        s->logits_valid = false;
        return record_history(s, 0, ids, n, err);
}
