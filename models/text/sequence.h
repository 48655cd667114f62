/* One sequence being served: its KV cache, the tokens waiting to be prefilled, and while a turn
 * is generated, its sampler, stop strings and text stream. Advanced one bounded step at a time
 * (a prefill chunk or one generated token), so an engine can interleave many sequences fairly
 * and cancel between steps; generator_run() simply steps one sequence to the end.
 *
 * The KV cache outlives turns: a conversation queues each new turn's tokens after the previous
 * ones and only those are computed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gemma3n/forward.h"
#include "sampler.h"
#include "tokenizer.h"

typedef enum FinishReason {
        FINISH_STOP,       /* end-of-turn / end-of-sequence token, or a stop string */
        FINISH_LENGTH,     /* max_tokens reached, or the context is full */
        FINISH_CANCELLED,  /* sequence_cancel(), or the emit callback asked to stop */
        _FINISH_REASON_MAX,
} FinishReason;

const char *finish_reason_to_string(FinishReason r);

typedef struct TurnParams {
        SamplerParams sampling;
        uint32_t max_tokens;          /* 1.. */
        const char *const *stops;     /* stop strings, never emitted; copied */
        size_t n_stops;
} TurnParams;

typedef struct SequenceStats {
        uint32_t n_prompt;            /* tokens computed for this turn before its first token */
        uint32_t n_generated;         /* tokens sampled and kept (an end token is not counted) */
        double ttft_sec;              /* turn start to the first sampled token */
        double prefill_sec;
        double decode_sec;
        FinishReason finish;
} SequenceStats;

typedef enum SequenceStep {
        SEQUENCE_IDLE,                /* nothing queued, no turn running */
        SEQUENCE_PREFILLED,           /* computed a chunk of queued tokens */
        SEQUENCE_TOKEN,               /* generated one token (its text may still be held back) */
        SEQUENCE_FINISHED,            /* the turn ended: see sequence_stats() */
} SequenceStep;

/* Receives whole UTF-8 characters as soon as they are safe to show. Return negative to cancel. */
typedef int (*SequenceEmit)(void *userdata, const char *text, size_t len);

typedef struct Sequence Sequence;

/* n_ctx: positions this sequence may use (at most the model's trained context). The KV cache
 * has a pool of its own; sequence_new_in() draws its pages from a shared one (pool NULL: own). */
int sequence_new(const Gemma3nModel *m, const Tokenizer *tok, uint32_t n_ctx, Sequence **ret, GemmaError *err);
int sequence_new_in(const Gemma3nModel *m, const Tokenizer *tok, KvPool *pool, uint32_t n_ctx, Sequence **ret,
                    GemmaError *err);
Sequence *sequence_free(Sequence *s);

static inline void sequence_freep(Sequence **s) {
        if (*s)
                sequence_free(*s);
}

/* A new sequence in the same state as s between turns: the same KV pages (shared, copied on
 * write), queued tokens and last logits; later turns of either do not affect the other. -EBUSY
 * while s runs a turn. */
int sequence_clone(const Sequence *s, Sequence **ret, GemmaError *err);

/* Queues tokens to be computed. -EMSGSIZE (nothing queued) when they would leave no room in the
 * context for an answer: the message names the tokens asked for and the room left. */
int sequence_queue(Sequence *s, const int32_t *ids, size_t n, GemmaError *err);

/* Starts generating a turn after the queued tokens (at least one token must be queued, or the
 * previous turn's last logits be available), with the given slice (sequence_set_slice()).
 * -EBUSY while a turn runs. */
int sequence_begin_turn(Sequence *s, const TurnParams *p, const Gemma3nSlice *slice, GemmaError *err);

/* One step: prefill up to max_prefill queued tokens, else generate one token of the running
 * turn. Text goes to emit. */
int sequence_step(Sequence *s, CpuCompute *c, uint32_t max_prefill, SequenceEmit emit, void *userdata,
                  SequenceStep *ret, GemmaError *err);

/* Batched stepping: sequence_step() in two halves around a forward pass that the caller runs for
 * many sequences at once (gemma3n_forward_multi()):
 *   n = sequence_work(s, max_prefill, &tokens, &want_logits);   0: nothing to compute now
 *   forward tokens[0 .. n) on sequence_kv(s) with sequence_slice(s), logits of the last row
 *   when want_logits (the forward pass advances the cache's n_pos)
 *   sequence_step_after(s, n, logits, seconds, emit, userdata, &step, &err);
 * With n == 0, sequence_step_after() runs a step that needs no computation (ending a cancelled
 * turn, or sampling from logits already there). */
uint32_t sequence_work(const Sequence *s, uint32_t max_prefill, const int32_t **ret_tokens, bool *ret_want_logits);
int sequence_step_after(Sequence *s, uint32_t n, const float *logits, double seconds, SequenceEmit emit,
                        void *userdata, SequenceStep *ret, GemmaError *err);
KvCache *sequence_kv(Sequence *s);
/* The MatFormer slice the sequence computes with (the full model unless set). */
const Gemma3nSlice *sequence_slice(const Sequence *s);
/* Switches the slice (NULL: the full model). KV computed by the old slice is dropped and its
 * tokens are queued again, so the next steps recompute the context with the new one; a running
 * turn goes on with the new slice after that. -EINVAL for a slice the model cannot run. */
int sequence_set_slice(Sequence *s, const Gemma3nSlice *slice, GemmaError *err);

/* The tokens at KV positions 0 .. n (*ret_n = n); NULL when empty. */
const int32_t *sequence_history(const Sequence *s, uint32_t *ret_n);
/* For a sequence whose empty cache was given n positions of someone else's pages (a cached
 * prefix): records which tokens they hold. The next turn's tokens are queued after them. */
int sequence_adopt_prefix(Sequence *s, const int32_t *ids, uint32_t n, GemmaError *err);

/* Ends the running turn at the next step with FINISH_CANCELLED. */
void sequence_cancel(Sequence *s);

const SequenceStats *sequence_stats(const Sequence *s);
uint32_t sequence_n_past(const Sequence *s);      /* positions in the KV cache */
uint32_t sequence_n_queued(const Sequence *s);
uint32_t sequence_n_ctx(const Sequence *s);
uint64_t sequence_kv_bytes(const Sequence *s);   /* KV storage held */
bool sequence_turn_running(const Sequence *s);
