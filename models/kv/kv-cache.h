/* KV storage for one sequence: per layer that owns KV, K and V rows indexed by position.
 *
 * Global layers keep every position up to n_ctx. Sliding layers keep a ring of
 * window + max_ubatch - 1 positions: enough for every query of a batch of max_ubatch tokens to
 * see its whole window after the batch has written its own keys. Layers that reuse another
 * layer's KV keep nothing. The storage is addressed only through kv_cache_k()/kv_cache_v(), so
 * a paged pool can replace the flat arrays without touching the attention code. */
#pragma once

#include <stdint.h>

#include "base/error.h"

#define KV_LAYER_FULL UINT32_MAX   /* a layer that attends to every earlier position */

typedef struct KvLayer {
        uint32_t capacity;   /* positions held; 0 for a layer without KV of its own */
        float *k;            /* [capacity][kv_dim] */
        float *v;            /* [capacity][kv_dim] */
} KvLayer;

typedef struct KvCache {
        uint32_t n_layer;
        uint32_t kv_dim;     /* KV heads x head dimension */
        uint32_t n_ctx;      /* positions the sequence may reach */
        uint32_t max_ubatch; /* most tokens written before attention reads (forward splits batches) */
        uint32_t n_pos;      /* positions stored so far: the next token's position */
        KvLayer *layers;
} KvCache;

/* window[l]: 0 = layer l keeps no KV; KV_LAYER_FULL = keeps all; else the sliding window. */
int kv_cache_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t n_ctx, uint32_t max_ubatch,
                 KvCache **ret, GemmaError *err);
KvCache *kv_cache_free(KvCache *kv);

static inline void kv_cache_freep(KvCache **kv) {
        if (*kv)
                kv_cache_free(*kv);
}

/* Copies dst <- src: the stored positions and their K/V rows. Both caches must have the same
 * shape (layers, windows, kv_dim, n_ctx, max_ubatch); -EINVAL otherwise. */
int kv_cache_copy(KvCache *dst, const KvCache *src, GemmaError *err);

/* Bytes of K and V storage held. */
uint64_t kv_cache_bytes(const KvCache *kv);

static inline float *kv_cache_k(const KvCache *kv, uint32_t layer, uint32_t pos) {
        const KvLayer *l = &kv->layers[layer];
        return l->k + (uint64_t) (pos % l->capacity) * kv->kv_dim;
}

static inline float *kv_cache_v(const KvCache *kv, uint32_t layer, uint32_t pos) {
        const KvLayer *l = &kv->layers[layer];
        return l->v + (uint64_t) (pos % l->capacity) * kv->kv_dim;
}
