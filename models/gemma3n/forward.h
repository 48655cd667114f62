/* The Gemma 3n text decoder forward pass: a batch of positions in, logits out, KV cache updated. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cpu/matmul.h"
#include "kv/kv-cache.h"
#include "model.h"

/* A MatFormer slice: how many FFN units (the first rows of gate/up, first columns of down) each
 * layer uses. Applied as a view of the full weights, never a copy. */
typedef struct Gemma3nSlice {
        uint32_t ffn_units[GEMMA3N_MAX_LAYERS];
} Gemma3nSlice;

/* The full model: every layer uses all its FFN units. */
void gemma3n_slice_full(const Gemma3nModel *m, Gemma3nSlice *ret);

/* Every layer uses its first `units` FFN units (capped at each layer's width, for models whose
 * layers differ). Fails when units is zero, wider than the widest layer, or not a whole number of
 * quantisation blocks of ffn_down's type. */
int gemma3n_slice_uniform(const Gemma3nModel *m, uint32_t units, Gemma3nSlice *ret, GemmaError *err);

/* Checks a slice against the model (1..n_ff units, whole blocks of ffn_down). */
int gemma3n_slice_validate(const Gemma3nModel *m, const Gemma3nSlice *s, GemmaError *err);

typedef struct Gemma3nBatch {
        uint32_t n_tokens;
        /* Token ids, one per position. At positions with an embedding input the id is ignored. */
        const int32_t *tokens;
        /* Optional soft-token input (audio and vision encoders): where has_embd[t] is true,
         * embd[t * n_embd ...] replaces the scaled token embedding, and the position's per-layer
         * input uses the padding token's row, as the reference model does. */
        const float *embd;
        const bool *has_embd;
        /* Logits for every position ([n_tokens x n_vocab]); otherwise only for the last. */
        bool logits_all;
        /* Without logits_all, the layers after the last KV-producing one run only for the last
         * position (their results are never read by later tokens). full_prefill runs them for
         * every position anyway: for tests and benchmarks of that saving. */
        bool full_prefill;
} Gemma3nBatch;

/* Runs the batch at positions kv->n_pos.. and advances kv->n_pos. Batches longer than
 * kv->max_ubatch are split. logits receives n_vocab floats per requested position. c holds the
 * compute threads (NULL: single-threaded); slice NULL means the full model.
 * Errors: -EINVAL (bad token id, bad slice), -ENOSPC (context full: nothing is changed). */
int gemma3n_forward(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice, KvCache *kv,
                    const Gemma3nBatch *batch, float *logits, GemmaError *err);

/* Batched decoding: rows of several sequences in one pass, so the weights are read once for all
 * of them. Each sequence adds n_tokens (1..its cache's max_ubatch) at its own positions
 * kv->n_pos.. and advances kv->n_pos; with want_logits its last row's logits go to the next
 * n_vocab floats of logits (sequences in order). Each cache may appear once. The prefill saving
 * applies to rows without logits. Token embeddings only (no soft tokens). */
typedef struct Gemma3nSeqBatch {
        KvCache *kv;
        const int32_t *tokens;
        uint32_t n_tokens;
        bool want_logits;
} Gemma3nSeqBatch;

int gemma3n_forward_multi(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice,
                          const Gemma3nSeqBatch *seqs, uint32_t n_seqs, float *logits, GemmaError *err);

/* A KV cache shaped for the model: sliding layers keep their window, KV-sharing layers nothing. */
int gemma3n_kv_cache_new(const Gemma3nModel *m, uint32_t n_ctx, uint32_t max_ubatch, KvCache **ret, GemmaError *err);
/* A page pool shaped for the model, for caches that share pages (kv_cache_new_in()). */
int gemma3n_kv_pool_new(const Gemma3nModel *m, uint32_t page_size, uint64_t budget_bytes, KvPool **ret,
                        GemmaError *err);
