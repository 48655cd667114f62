/* Paged KV storage: the page pool and per-sequence page tables (see kv-cache.h). */
#include "kv-cache.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct KvPool {
        uint32_t refs;
        uint32_t n_layer, kv_dim, page_size, window;
        uint8_t *layer_class;
        uint32_t *layer_slot;
        uint32_t n_slots[_KV_CLASS_MAX];
        uint64_t page_bytes[_KV_CLASS_MAX];
        uint64_t bytes, budget;
        KvPage *free_pages[_KV_CLASS_MAX];   /* kept for reuse, not counted in bytes */
        uint32_t n_free[_KV_CLASS_MAX];
};

/* Page serials are unique in the process, not only in one pool: tools and tests run several
 * pools against one accelerator. */
static _Atomic uint64_t page_serials;

/* Freed pages are kept for reuse up to this many per class: allocation in steady state costs
 * no malloc, and an idle daemon still gives memory back. */
#define KV_POOL_FREE_KEEP 64

int kv_pool_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t page_size, uint64_t budget_bytes,
                KvPool **ret, GemmaError *err) {
        if (n_layer == 0 || kv_dim == 0 || page_size == 0)
                return gemma_error_set(err, -EINVAL, "KV pool: layers, width and page size must be positive");
        KvPool *p = new0(KvPool, 1);
        if (!p || !(p->layer_class = new0(uint8_t, n_layer)) || !(p->layer_slot = new0(uint32_t, n_layer))) {
                if (p)
                        free(p->layer_class);
                free(p);
                return gemma_error_set(err, -ENOMEM, "KV pool: out of memory");
        }
        p->refs = 1;
        p->n_layer = n_layer;
        p->kv_dim = kv_dim;
        p->page_size = page_size;
        p->budget = budget_bytes;
        for (uint32_t l = 0; l < n_layer; l++) {
                if (window[l] == 0) {
                        p->layer_class[l] = KV_CLASS_NONE;
                        continue;
                }
                KvClass c = window[l] == KV_LAYER_FULL ? KV_CLASS_GLOBAL : KV_CLASS_SLIDING;
                if (c == KV_CLASS_SLIDING) {
                        if (p->window && p->window != window[l]) {
                                kv_pool_unref(p);
                                return gemma_error_set(err, -EINVAL, "KV pool: sliding layers with different windows");
                        }
                        p->window = window[l];
                }
                p->layer_class[l] = (uint8_t) c;
                p->layer_slot[l] = p->n_slots[c]++;
        }
        for (int c = 0; c < _KV_CLASS_MAX; c++)
                p->page_bytes[c] = sizeof(KvPage) + (uint64_t) p->n_slots[c] * 2 * page_size * kv_dim * sizeof(float);
        *ret = p;
        return 0;
}

KvPool *kv_pool_ref(KvPool *p) {
        if (p)
                p->refs++;
        return p;
}

KvPool *kv_pool_unref(KvPool *p) {
        if (!p || --p->refs > 0)
                return NULL;
        for (int c = 0; c < _KV_CLASS_MAX; c++)
                while (p->free_pages[c]) {
                        KvPage *next = p->free_pages[c]->next_free;
                        free(p->free_pages[c]);
                        p->free_pages[c] = next;
                }
        free(p->layer_class);
        free(p->layer_slot);
        free(p);
        return NULL;
}

uint64_t kv_pool_bytes(const KvPool *p) {
        return p->bytes;
}

uint64_t kv_pool_budget(const KvPool *p) {
        return p->budget;
}

bool kv_pool_over_budget(const KvPool *p) {
        return p->budget > 0 && p->bytes > p->budget;
}

uint32_t kv_pool_page_size(const KvPool *p) {
        return p->page_size;
}

uint64_t kv_pool_page_bytes(const KvPool *p, KvClass cls) {
        return p->page_bytes[cls];
}

static KvPage *page_alloc(KvPool *p, KvClass cls) {
        KvPage *page = p->free_pages[cls];
        if (page) {
                p->free_pages[cls] = page->next_free;
                p->n_free[cls]--;
        } else {
                page = malloc(p->page_bytes[cls]);
                if (!page)
                        return NULL;
        }
        page->refs = 1;
        page->cls = (uint8_t) cls;
        page->serial = atomic_fetch_add_explicit(&page_serials, 1, memory_order_relaxed) + 1;
        page->next_free = NULL;
        p->bytes += p->page_bytes[cls];
        return page;
}

KvPage *kv_page_ref(KvPage *page) {
        if (page)
                page->refs++;
        return page;
}

void kv_page_unref(KvPool *p, KvPage *page) {
        if (!page || --page->refs > 0)
                return;
        p->bytes -= p->page_bytes[page->cls];
        if (p->n_free[page->cls] < KV_POOL_FREE_KEEP) {
                page->next_free = p->free_pages[page->cls];
                p->free_pages[page->cls] = page;
                p->n_free[page->cls]++;
        } else
                free(page);
}

int kv_cache_new_in(KvPool *pool, uint32_t n_ctx, uint32_t max_ubatch, KvCache **ret, GemmaError *err) {
        if (n_ctx == 0 || max_ubatch == 0)
                return gemma_error_set(err, -EINVAL, "KV cache: context and batch must be positive");
        KvCache *kv = new0(KvCache, 1);
        if (!kv)
                return gemma_error_set(err, -ENOMEM, "KV cache: out of memory");
        kv->pool = kv_pool_ref(pool);
        kv->n_layer = pool->n_layer;
        kv->kv_dim = pool->kv_dim;
        kv->n_ctx = n_ctx;
        kv->max_ubatch = max_ubatch;
        kv->page_size = pool->page_size;
        kv->window = pool->window;
        kv->n_pages = (n_ctx + pool->page_size - 1) / pool->page_size;
        kv->layer_class = pool->layer_class;
        kv->layer_slot = pool->layer_slot;
        for (int c = 0; c < _KV_CLASS_MAX; c++)
                if (!(kv->pages[c] = new0(KvPage *, kv->n_pages))) {
                        kv_cache_free(kv);
                        return gemma_error_set(err, -ENOMEM, "KV cache: out of memory");
                }
        *ret = kv;
        return 0;
}

int kv_cache_new(uint32_t n_layer, const uint32_t *window, uint32_t kv_dim, uint32_t n_ctx, uint32_t max_ubatch,
                 KvCache **ret, GemmaError *err) {
        _cleanup_(kv_pool_unrefp) KvPool *pool = NULL;
        int k = kv_pool_new(n_layer, window, kv_dim, 64, 0, &pool, err);
        if (k < 0)
                return k;
        return kv_cache_new_in(pool, n_ctx, max_ubatch, ret, err);
}

KvCache *kv_cache_free(KvCache *kv) {
        if (!kv)
                return NULL;
        for (int c = 0; c < _KV_CLASS_MAX; c++) {
                for (uint32_t i = 0; kv->pages[c] && i < kv->n_pages; i++)
                        kv_page_unref(kv->pool, kv->pages[c][i]);
                free(kv->pages[c]);
        }
        kv_pool_unref(kv->pool);
        free(kv);
        return NULL;
}

int kv_cache_prepare(KvCache *kv, uint32_t pos, uint32_t n, GemmaError *err) {
        KvPool *p = kv->pool;
        if (n == 0)
                return 0;
        if (pos > kv->n_ctx || n > kv->n_ctx - pos)
                return gemma_error_set(err, -ENOSPC, "KV cache: positions %u..%u are past the context of %u", pos,
                                       pos + n - 1, kv->n_ctx);
        for (int c = 0; c < _KV_CLASS_MAX; c++) {
                if (p->n_slots[c] == 0)
                        continue;
                for (uint32_t i = pos / kv->page_size; i <= (pos + n - 1) / kv->page_size; i++) {
                        KvPage *page = kv->pages[c][i];
                        if (page && page->refs == 1)
                                continue;
                        KvPage *mine = page_alloc(p, (KvClass) c);
                        if (!mine)
                                return gemma_error_set(err, -ENOMEM, "KV cache: out of memory for a page");
                        /* Copy on write: the positions before pos in this page are shared history. */
                        if (page)
                                memcpy(mine->data, page->data, p->page_bytes[c] - sizeof(KvPage));
                        kv_page_unref(p, page);
                        kv->pages[c][i] = mine;
                }
        }
        /* A query at position q >= pos on a sliding layer sees q + 1 - window and later: pages
         * wholly before pos + 1 - window are never read again by this cache. */
        if (p->n_slots[KV_CLASS_SLIDING] > 0 && pos + 1 > kv->window) {
                uint32_t first_needed = pos + 1 - kv->window;
                for (uint32_t i = 0; (i + 1) * kv->page_size <= first_needed && i < kv->n_pages; i++)
                        if (kv->pages[KV_CLASS_SLIDING][i]) {
                                kv_page_unref(p, kv->pages[KV_CLASS_SLIDING][i]);
                                kv->pages[KV_CLASS_SLIDING][i] = NULL;
                        }
        }
        return 0;
}

int kv_cache_share(KvCache *dst, const KvCache *src, uint32_t n_pos, GemmaError *err) {
        if (dst->pool != src->pool || dst->n_ctx < n_pos || dst->n_pos != 0 || n_pos > src->n_pos)
                return gemma_error_set(err, -EINVAL, "KV cache: cannot share %u positions between these caches", n_pos);
        uint32_t n_pages = (n_pos + dst->page_size - 1) / dst->page_size;
        /* The sliding layers' last window before n_pos must still be held by src. */
        if (src->pool->n_slots[KV_CLASS_SLIDING] > 0 && n_pos > 0) {
                uint32_t from = n_pos > dst->window ? n_pos - dst->window : 0;
                for (uint32_t i = from / dst->page_size; i < n_pages; i++)
                        if (!src->pages[KV_CLASS_SLIDING][i])
                                return gemma_error_set(err, -ENOENT,
                                                       "KV cache: the sliding window before position %u is no longer held",
                                                       n_pos);
        }
        for (int c = 0; c < _KV_CLASS_MAX; c++)
                for (uint32_t i = 0; i < n_pages; i++)
                        dst->pages[c][i] = kv_page_ref(src->pages[c][i]);
        dst->n_pos = n_pos;
        return 0;
}

uint64_t kv_cache_bytes(const KvCache *kv) {
        uint64_t bytes = 0;
        for (int c = 0; c < _KV_CLASS_MAX; c++)
                for (uint32_t i = 0; i < kv->n_pages; i++)
                        if (kv->pages[c][i])
                                bytes += kv_pool_page_bytes(kv->pool, (KvClass) c) - sizeof(KvPage);
        return bytes;
}
