/* Prefix cache: radix tree of whole KV pages keyed by token ids (see prefix-cache.h). Owns page
 * references, not pages. */
#include "engine/prefix-cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct Node {
        struct Node *parent, *children, *next;   /* tree: first child, next sibling */
        KvPage *page[_KV_CLASS_MAX];
        uint64_t last_used;
        int32_t tokens[];                        /* page_size ids */
} Node;

typedef struct Root {
        char *key;
        Node *children;
        struct Root *next;
} Root;

struct PrefixCache {
        KvPool *pool;
        uint32_t page_size;
        Root *roots;
        uint64_t clock;                          /* advances with every use: LRU order */
        PrefixCacheStats stats;
};

PrefixCache *prefix_cache_new(KvPool *pool) {
        PrefixCache *pc = new0(PrefixCache, 1);
        if (!pc)
                return NULL;
        pc->pool = kv_pool_ref(pool);
        pc->page_size = kv_pool_page_size(pool);
        return pc;
}

static void node_free_tree(PrefixCache *pc, Node *n) {
        while (n) {
                Node *next = n->next;
                node_free_tree(pc, n->children);
                for (int c = 0; c < _KV_CLASS_MAX; c++)
                        kv_page_unref(pc->pool, n->page[c]);
                pc->stats.nodes--;
                free(n);
                n = next;
        }
}

void prefix_cache_clear(PrefixCache *pc) {
        while (pc->roots) {
                Root *r = pc->roots;
                pc->roots = r->next;
                node_free_tree(pc, r->children);
                free(r->key);
                free(r);
        }
}

PrefixCache *prefix_cache_free(PrefixCache *pc) {
        if (!pc)
                return NULL;
        prefix_cache_clear(pc);
        kv_pool_unref(pc->pool);
        free(pc);
        return NULL;
}

static Root *find_root(PrefixCache *pc, const char *key, bool create) {
        for (Root *r = pc->roots; r; r = r->next)
                if (strcmp(r->key, key) == 0)
                        return r;
        if (!create)
                return NULL;
        Root *r = new0(Root, 1);
        if (!r || !(r->key = strdup(key))) {
                free(r);
                return NULL;
        }
        r->next = pc->roots;
        pc->roots = r;
        return r;
}

static Node *find_child(Node *first, const int32_t *tokens, uint32_t page_size) {
        for (Node *n = first; n; n = n->next)
                if (memcmp(n->tokens, tokens, page_size * sizeof(int32_t)) == 0)
                        return n;
        return NULL;
}

uint32_t prefix_cache_attach(PrefixCache *pc, const char *key, const int32_t *tokens, uint32_t n, uint32_t max_len,
                             KvCache *kv) {
        const uint32_t ps = pc->page_size;
        Root *root = key ? find_root(pc, key, false) : NULL;
        uint32_t limit = MIN(n, max_len);
        uint32_t n_path = 0;
        Node *path_stack[4096];

        if (kv->n_pos != 0 || !root) {
                pc->stats.misses++;
                return 0;
        }
        for (Node *level = root->children; (n_path + 1) * ps <= limit && n_path < ELEMENTSOF(path_stack);) {
                Node *hit = find_child(level, tokens + (size_t) n_path * ps, ps);
                if (!hit)
                        break;
                path_stack[n_path++] = hit;
                level = hit->children;
        }
        /* The longest length whose sliding window is still held (and every global page). */
        uint32_t pages = n_path;
        bool sliding = kv->window > 0;
        for (; pages > 0; pages--) {
                uint32_t len = pages * ps;
                uint32_t from = sliding && len > kv->window ? (len - kv->window) / ps : 0;
                bool ok = true;
                /* Global pages are never released by a sequence, so every node has them. */
                for (uint32_t i = from; sliding && i < pages && ok; i++)
                        ok = path_stack[i]->page[KV_CLASS_SLIDING] != NULL;
                if (ok)
                        break;
        }
        if (pages == 0) {
                pc->stats.misses++;
                return 0;
        }
        pc->clock++;
        for (uint32_t i = 0; i < pages; i++) {
                Node *node = path_stack[i];
                node->last_used = pc->clock;
                for (int c = 0; c < _KV_CLASS_MAX; c++)
                        kv->pages[c][i] = kv_page_ref(node->page[c]);
        }
        kv->n_pos = pages * ps;
        pc->stats.hits++;
        pc->stats.cached_tokens += kv->n_pos;
        return kv->n_pos;
}

int prefix_cache_insert(PrefixCache *pc, const char *key, const int32_t *tokens, uint32_t n, const KvCache *kv) {
        const uint32_t ps = pc->page_size;
        uint32_t pages = MIN(n, kv->n_pos) / ps;
        if (!key || pages == 0)
                return 0;
        Root *root = find_root(pc, key, true);
        if (!root)
                return -ENOMEM;
        pc->clock++;
        Node *parent = NULL, **level = &root->children;
        for (uint32_t i = 0; i < pages; i++) {
                const int32_t *chunk = tokens + (size_t) i * ps;
                Node *node = find_child(*level, chunk, ps);
                if (!node) {
                        node = calloc(1, sizeof(Node) + ps * sizeof(int32_t));
                        if (!node)
                                return -ENOMEM;
                        memcpy(node->tokens, chunk, ps * sizeof(int32_t));
                        node->parent = parent;
                        node->next = *level;
                        *level = node;
                        pc->stats.nodes++;
                }
                /* Take what this cache holds and the node lacks (sliding pages may have been
                 * released by the sequence that inserted the node first). */
                for (int c = 0; c < _KV_CLASS_MAX; c++)
                        if (!node->page[c] && kv->pages[c][i])
                                node->page[c] = kv_page_ref(kv->pages[c][i]);
                node->last_used = pc->clock;
                parent = node;
                level = &node->children;
        }
        return 0;
}

/* The least recently used leaf of the whole forest, and where it is linked from. */
static Node **lru_leaf(Node **link, Node ***best, uint64_t *best_used) {
        for (; *link; link = &(*link)->next) {
                Node *n = *link;
                if (n->children)
                        lru_leaf(&n->children, best, best_used);
                else if (!*best || n->last_used < *best_used) {
                        *best = link;
                        *best_used = n->last_used;
                }
        }
        return *best;
}

uint32_t prefix_cache_trim(PrefixCache *pc) {
        uint32_t released = 0;
        while (kv_pool_over_budget(pc->pool)) {
                Node **best = NULL;
                uint64_t best_used = 0;
                for (Root *r = pc->roots; r; r = r->next)
                        lru_leaf(&r->children, &best, &best_used);
                if (!best)
                        break;
                Node *victim = *best;
                *best = victim->next;
                for (int c = 0; c < _KV_CLASS_MAX; c++)
                        if (victim->page[c]) {
                                kv_page_unref(pc->pool, victim->page[c]);
                                released++;
                        }
                pc->stats.nodes--;
                pc->stats.evictions++;
                free(victim);
        }
        return released;
}

PrefixCacheStats prefix_cache_stats(const PrefixCache *pc) {
        return pc->stats;
}
