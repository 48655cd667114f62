/* Paged KV storage. A KvPool hands out fixed-size pages — K and V of `page_size` consecutive
 * positions for every KV-owning layer of one class (global or sliding-window layers) — and
 * counts their bytes against a budget. A KvCache is one sequence's page table: position p of
 * layer l lives in page p / page_size of l's class. Layers that reuse another layer's KV keep
 * nothing.
 *
 * Pages are reference-counted and copy-on-write: several caches (a conversation and its clone,
 * sequences that start with the same cached prefix) may hold the same page, and the first
 * cache to write into a shared page gets its own copy first (kv_cache_prepare()). Sliding-window
 * layers drop pages that fell out of every future query's window, so they hold about
 * window + page_size positions whatever the context length.
 *
 * Only the thread running the model touches a pool and its caches (no locks). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define KV_LAYER_FULL UINT32_MAX   /* a layer that attends to every earlier position */

typedef enum KvClass {
        KV_CLASS_GLOBAL,
        KV_CLASS_SLIDING,
        _KV_CLASS_MAX,
        KV_CLASS_NONE = 0xff,
} KvClass;

typedef struct KvPage {
        uint32_t refs;
        uint8_t cls;
        /* Unique among every page any pool ever handed out (a recycled page gets a new one):
         * an accelerator's copy of a page is keyed by it, so stale copies never match. */
        uint64_t serial;
        struct KvPage *next_free;
        float data[];        /* [slot][K, V][page_size][kv_dim] */
} KvPage;

typedef struct KvPool KvPool;

/* window[l]: 0 = layer l keeps no KV; KV_LAYER_FULL = keeps all; else its sliding window (all
 * sliding layers must share one window). budget_bytes 0 = no budget. */
int kv_pool_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t page_size, uint64_t budget_bytes,
                KvPool **ret, GemmaError *err);
KvPool *kv_pool_ref(KvPool *p);
KvPool *kv_pool_unref(KvPool *p);

static inline void kv_pool_unrefp(KvPool **p) {
        if (*p)
                kv_pool_unref(*p);
}

uint64_t kv_pool_bytes(const KvPool *p);          /* pages allocated now */
uint64_t kv_pool_budget(const KvPool *p);
bool kv_pool_over_budget(const KvPool *p);
uint32_t kv_pool_page_size(const KvPool *p);
uint64_t kv_pool_page_bytes(const KvPool *p, KvClass cls);

/* Pages are handed between caches (and the prefix cache) by reference. */
KvPage *kv_page_ref(KvPage *page);
void kv_page_unref(KvPool *p, KvPage *page);

typedef struct KvCache {
        KvPool *pool;
        uint32_t n_layer;
        uint32_t kv_dim;     /* KV heads x head dimension */
        uint32_t n_ctx;      /* positions the sequence may reach */
        uint32_t max_ubatch; /* most tokens written in one forward step (forward splits batches) */
        uint32_t n_pos;      /* positions stored so far: the next token's position */
        uint32_t page_size;
        uint32_t window;     /* of the sliding class; 0 when the model has no sliding layers */
        uint32_t n_pages;    /* entries of each page table */
        const uint8_t *layer_class;   /* [n_layer] KvClass, owned by the pool */
        const uint32_t *layer_slot;   /* [n_layer] index of the layer within its class's page */
        KvPage **pages[_KV_CLASS_MAX]; /* [n_pages] each; NULL where nothing is held */
} KvCache;

/* A cache with its own pool (no budget, 64-position pages): for tools and tests. */
int kv_cache_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t n_ctx, uint32_t max_ubatch,
                 KvCache **ret, GemmaError *err);
/* A cache drawing pages from a shared pool. */
int kv_cache_new_in(KvPool *pool, uint32_t n_ctx, uint32_t max_ubatch, KvCache **ret, GemmaError *err);
KvCache *kv_cache_free(KvCache *kv);

static inline void kv_cache_freep(KvCache **kv) {
        if (*kv)
                kv_cache_free(*kv);
}

/* Makes positions [pos, pos + n) writable: allocates missing pages, copies shared ones (copy on
 * write), and releases sliding pages no query from pos on can see. -ENOMEM. */
int kv_cache_prepare(KvCache *kv, uint32_t pos, uint32_t n, GemmaError *err);

/* dst (empty, same pool and shape) takes references to src's pages covering [0, n_pos) and
 * continues from n_pos. Needs n_pos <= src->n_pos. Copy on write keeps the two apart. */
int kv_cache_share(KvCache *dst, const KvCache *src, uint32_t n_pos, GemmaError *err);

/* Bytes of the pages this cache references (shared pages count in every cache holding them). */
uint64_t kv_cache_bytes(const KvCache *kv);

static inline float *kv_cache_k(const KvCache *kv, uint32_t layer, uint32_t pos) {
        const KvPage *page = kv->pages[kv->layer_class[layer]][pos / kv->page_size];
        return (float *) page->data +
               ((uint64_t) kv->layer_slot[layer] * 2 * kv->page_size + pos % kv->page_size) * kv->kv_dim;
}

static inline float *kv_cache_v(const KvCache *kv, uint32_t layer, uint32_t pos) {
        return kv_cache_k(kv, layer, pos) + (uint64_t) kv->page_size * kv->kv_dim;
}
