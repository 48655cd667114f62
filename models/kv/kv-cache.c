/* Flat per-layer KV storage with ring buffers for sliding-window layers (see kv-cache.h). */
#include "kv-cache.h"

#include <errno.h>
#include <string.h>
#include <stdlib.h>

#include "base/alloc.h"

int kv_cache_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t n_ctx, uint32_t max_ubatch,
                 KvCache **ret, GemmaError *err) {
        KvCache *kv;

        if (n_ctx == 0 || max_ubatch == 0 || kv_dim == 0)
                return gemma_error_set(err, -EINVAL, "KV cache: context, batch and width must be positive");
        kv = new0(KvCache, 1);
        if (!kv || !(kv->layers = new0(KvLayer, n_layer))) {
                free(kv);
                return gemma_error_set(err, -ENOMEM, "KV cache: out of memory");
        }
        kv->n_layer = n_layer;
        kv->kv_dim = kv_dim;
        kv->n_ctx = n_ctx;
        kv->max_ubatch = max_ubatch;

        for (uint32_t l = 0; l < n_layer; l++) {
                uint64_t cap;
                if (window[l] == 0)
                        continue;
                cap = window[l] == KV_LAYER_FULL ? n_ctx : (uint64_t) window[l] + max_ubatch - 1;
                if (cap > n_ctx)
                        cap = n_ctx;
                size_t n;
                if (size_mul_overflow((size_t) cap, kv_dim, &n)) {
                        kv_cache_free(kv);
                        return gemma_error_set(err, -ENOMEM, "KV cache: size overflows");
                }
                kv->layers[l].capacity = (uint32_t) cap;
                kv->layers[l].k = malloc_multiply(n, sizeof(float));
                kv->layers[l].v = malloc_multiply(n, sizeof(float));
                if (!kv->layers[l].k || !kv->layers[l].v) {
                        kv_cache_free(kv);
                        return gemma_error_set(err, -ENOMEM, "KV cache: out of memory (%u positions x %u values)",
                                               (unsigned) cap, kv_dim);
                }
        }
        *ret = kv;
        return 0;
}

KvCache *kv_cache_free(KvCache *kv) {
        if (!kv)
                return NULL;
        for (uint32_t l = 0; l < kv->n_layer && kv->layers; l++) {
                free(kv->layers[l].k);
                free(kv->layers[l].v);
        }
        free(kv->layers);
        free(kv);
        return NULL;
}

uint64_t kv_cache_bytes(const KvCache *kv) {
        uint64_t bytes = 0;
        for (uint32_t l = 0; l < kv->n_layer; l++)
                bytes += 2ull * kv->layers[l].capacity * kv->kv_dim * sizeof(float);
        return bytes;
}

int kv_cache_copy(KvCache *dst, const KvCache *src, GemmaError *err) {
        if (dst->n_layer != src->n_layer || dst->kv_dim != src->kv_dim || dst->n_ctx != src->n_ctx ||
            dst->max_ubatch != src->max_ubatch)
                return gemma_error_set(err, -EINVAL, "KV caches of different shapes");
        for (uint32_t l = 0; l < src->n_layer; l++)
                if (dst->layers[l].capacity != src->layers[l].capacity)
                        return gemma_error_set(err, -EINVAL, "KV caches of different shapes (layer %u)", l);
        for (uint32_t l = 0; l < src->n_layer; l++) {
                const KvLayer *from = &src->layers[l];
                /* A ring holds position p at row p % capacity: the rows in use are the first
                 * min(n_pos, capacity), wherever the ring has wrapped to. */
                uint64_t rows = src->n_pos < from->capacity ? src->n_pos : from->capacity;
                if (rows == 0)
                        continue;
                memcpy(dst->layers[l].k, from->k, rows * src->kv_dim * sizeof(float));
                memcpy(dst->layers[l].v, from->v, rows * src->kv_dim * sizeof(float));
        }
        dst->n_pos = src->n_pos;
        return 0;
}
