/* The Gemma 3n text decoder forward pass: a batch of positions in, logits out, KV cache updated. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cpu/matmul.h"
#include "kv/kv-cache.h"
#include "model.h"

/* A MatFormer slice: how many FFN units each layer uses (the first rows of gate/up, the first
 * columns of down) and which layers are skipped. Applied as a view of the full weights, never a
 * copy: switching slices costs no weight copy. Layers are indexed as in the full model.
 *
 * Skipped layers (the MatFormer Lab's "layers_to_skip", spec gemma3n-text.md §5.1 and §5.4): a
 * skipped layer is removed, so it is the identity on everything that flows between layers:
 *   - all n AltUp streams pass through unchanged (no predict, no correct, and no per-layer-input
 *     injection into streams 1..n-1);
 *   - its per-layer input chunk (its P columns of per_layer_token_embd and its P rows of
 *     per_layer_model_proj) is not computed (nor read, where chunks are whole blocks of the
 *     table's type); the kept layers keep their own chunks;
 *   - it writes no KV.
 * Each kept layer keeps its own attention type, RoPE base, activation sparsity and KV source.
 * This is exactly the model the Lab exports: layers dropped and renumbered, PLE chunks of the
 * kept layers selected in order, num_kv_shared_layers reduced by the skipped shared layers,
 * sparsity kept on the same (kept) layers. (The Lab leaves layer_types unedited, which changes
 * the attention type of later layers when a skip is not a whole 4-local + 1-global block; no
 * official configuration does that. Here and in gemma3n_slice_export() every layer keeps its own
 * type, written as a per-layer array.)
 *
 * KV sharing: a layer that another layer reads KV from (hp->kv_source[], in Gemma 3n the last
 * sliding and the last global layer before the shared ones: 18 and 19) may not be skipped. This
 * is the MatFormer Lab's rule: its "Update configuration" step raises "Layers 18 and 19 are
 * reserved" (num_kv_comp_layers - 2 and - 1) when they are in the skip list (Gemma cookbook,
 * Gemma/[Gemma_3n]MatFormer_Lab.ipynb; spec §5.1 step 6). With sources never skipped every kept
 * shared layer reads the same source as in the full model, and the exported file (whose loader
 * re-derives sources as "the last earlier KV-owning layer of the same type") agrees. Skipping a
 * KV-owning layer that is not a source is allowed: it writes no KV and no layer reads it.
 *
 * Skipped layers' ffn_units are ignored; the constructors (here and in matformer.h) set them to
 * 0 so that equal slices compare equal with memcmp(). */
typedef struct Gemma3nSlice {
        uint32_t ffn_units[GEMMA3N_MAX_LAYERS];
        bool skip[GEMMA3N_MAX_LAYERS];
} Gemma3nSlice;

/* The full model: every layer uses all its FFN units, none is skipped. */
void gemma3n_slice_full(const Gemma3nModel *m, Gemma3nSlice *ret);

/* Every layer uses its first `units` FFN units (capped at each layer's width, for models whose
 * layers differ). Fails when units is zero, wider than the widest layer, or not a whole number of
 * quantisation blocks of ffn_down's type. */
int gemma3n_slice_uniform(const Gemma3nModel *m, uint32_t units, Gemma3nSlice *ret, GemmaError *err);

/* Checks a slice against the model: every kept layer uses 1..n_ff units in whole blocks of
 * ffn_down's type, at least one layer is kept, and no KV source is skipped. The message names
 * the layer. */
int gemma3n_slice_validate(const Gemma3nModel *m, const Gemma3nSlice *s, GemmaError *err);

/* Layers the slice keeps. */
uint32_t gemma3n_slice_n_kept(const Gemma3nModel *m, const Gemma3nSlice *s);

/* Whether two (valid) slices produce the same KV for the same tokens: they agree on every layer up
 * to the last one that writes KV (same skip flag, and the same units where kept). Layers after it
 * only shape the logits, so a switch between such slices keeps the KV cache; any other switch
 * must recompute the context under the new slice. */
bool gemma3n_slice_same_kv(const Gemma3nModel *m, const Gemma3nSlice *a, const Gemma3nSlice *b);

/* The same slice: equal skip flags and equal units on the kept layers. */
bool gemma3n_slice_equal(const Gemma3nModel *m, const Gemma3nSlice *a, const Gemma3nSlice *b);

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

/* A KV cache shaped for the model: sliding layers keep their window, KV-sharing layers nothing.
 * It serves every slice. */
int gemma3n_kv_cache_new(const Gemma3nModel *m, uint32_t n_ctx, uint32_t max_ubatch, KvCache **ret, GemmaError *err);
/* A page pool shaped for the model, for caches that share pages (kv_cache_new_in()). */
int gemma3n_kv_pool_new(const Gemma3nModel *m, uint32_t page_size, uint64_t budget_bytes, KvPool **ret,
                        GemmaError *err);

/* The same, shaped for one slice: layers the slice skips keep nothing either. Such a cache serves
 * the slices that keep no KV-owning layer it lacks (the forward pass checks and fails with -EINVAL
 * otherwise); the official MatFormer configurations skip only KV-sharing layers, so for them this
 * is the model's shape. slice NULL: the full model. */
int gemma3n_kv_cache_new_for_slice(const Gemma3nModel *m, const Gemma3nSlice *slice, uint32_t n_ctx,
                                   uint32_t max_ubatch, KvCache **ret, GemmaError *err);
int gemma3n_kv_pool_new_for_slice(const Gemma3nModel *m, const Gemma3nSlice *slice, uint32_t page_size,
                                  uint64_t budget_bytes, KvPool **ret, GemmaError *err);
