/* Prefix cache: a radix tree over token ids whose nodes own references to KV pages, so a request
 * that starts with tokens some earlier request computed (the same system prompt, the same
 * instructions) reuses their KV instead of recomputing it. Engine thread only.
 *
 * - One tree per key. The key is the sharing scope and the MatFormer slice the KV was computed
 *   with ("user\nfull", "app:org.example.App\nfull"): KV is never reused across scopes or
 *   slices. Requests with no key (cache_scope private) neither read nor write the cache.
 * - A node is one whole KV page: page_size token ids and the pages (global and sliding class)
 *   that hold their KV. Partial pages are never cached, so a hit covers whole pages and the
 *   rest is computed.
 * - A hit needs the sliding-window layers' pages of the last window before the reused length;
 *   a path whose early sliding pages were already released by its sequence still serves
 *   prefixes that end within the window it kept.
 * - Pages are shared by reference; copy on write (kv-cache.h) keeps a sequence that continues
 *   from a shared page from changing it for anyone else.
 * - Eviction: least recently used leaves first, only while the pool is over its byte budget.
 *   A running sequence holds its own references, so eviction never takes its pages away. */
#pragma once

#include <stdint.h>

#include "kv/kv-cache.h"

typedef struct PrefixCache PrefixCache;

typedef struct PrefixCacheStats {
        uint64_t hits, misses, evictions;   /* lookups that reused something / nothing; pages evicted */
        uint64_t cached_tokens;             /* positions served from the cache */
        uint64_t nodes;
} PrefixCacheStats;

PrefixCache *prefix_cache_new(KvPool *pool);
PrefixCache *prefix_cache_free(PrefixCache *pc);

/* For an empty cache kv: finds the longest cached prefix of tokens[0 .. n) under key, at most
 * max_len positions and whole pages only, gives kv references to its pages and sets kv->n_pos.
 * Returns the positions reused (0 on a miss). */
uint32_t prefix_cache_attach(PrefixCache *pc, const char *key, const int32_t *tokens, uint32_t n, uint32_t max_len,
                             KvCache *kv);

/* Records the whole pages of kv (positions 0 .. n, holding tokens) under key. -ENOMEM. */
int prefix_cache_insert(PrefixCache *pc, const char *key, const int32_t *tokens, uint32_t n, const KvCache *kv);

/* Drops least recently used entries while the pool is over budget. Returns pages released. */
uint32_t prefix_cache_trim(PrefixCache *pc);

/* Drops everything (a slice switch makes every entry of other slices useless, for example). */
void prefix_cache_clear(PrefixCache *pc);

PrefixCacheStats prefix_cache_stats(const PrefixCache *pc);
