/* RequestOptions: merging and freeing; the option enums' string tables. */
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cache_scope_names[_CACHE_SCOPE_MAX] = {
        [CACHE_SCOPE_USER] = "user",
        [CACHE_SCOPE_APP] = "app",
        [CACHE_SCOPE_PRIVATE] = "private",
};

static const char *const priority_names[_PRIORITY_MAX] = {
        [PRIORITY_INTERACTIVE] = "interactive",
        [PRIORITY_NORMAL] = "normal",
        [PRIORITY_BACKGROUND] = "background",
};

const char *cache_scope_to_string(CacheScope s) {
        return s >= 0 && s < _CACHE_SCOPE_MAX ? cache_scope_names[s] : NULL;
}

CacheScope cache_scope_from_string(const char *s) {
        for (int i = 0; i < _CACHE_SCOPE_MAX; i++)
                if (s && strcmp(s, cache_scope_names[i]) == 0)
                        return (CacheScope) i;
        return _CACHE_SCOPE_INVALID;
}

const char *priority_to_string(Priority p) {
        return p >= 0 && p < _PRIORITY_MAX ? priority_names[p] : NULL;
}

Priority priority_from_string(const char *s) {
        for (int i = 0; i < _PRIORITY_MAX; i++)
                if (s && strcmp(s, priority_names[i]) == 0)
                        return (Priority) i;
        return _PRIORITY_INVALID;
}

static void free_stops(char **stops, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(stops[i]);
        free(stops);
}

void request_options_done(RequestOptions *o) {
        free(o->system);
        free(o->caller_app);
        free_stops(o->stops, o->n_stops);
        *o = (RequestOptions) {};
}

int request_options_merge(RequestOptions *dst, const RequestOptions *src) {
        if (src->system) {
                char *s = strdup(src->system);
                if (!s)
                        return -ENOMEM;
                free(dst->system);
                dst->system = s;
        }
        if (src->has_stop) {
                char **stops = src->n_stops ? calloc(src->n_stops, sizeof(char *)) : NULL;
                if (src->n_stops && !stops)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_stops; i++)
                        if (!(stops[i] = strdup(src->stops[i]))) {
                                free_stops(stops, i);
                                return -ENOMEM;
                        }
                free_stops(dst->stops, dst->n_stops);
                dst->stops = stops;
                dst->n_stops = src->n_stops;
                dst->has_stop = true;
        }
        if (src->caller_app) {
                char *a = strdup(src->caller_app);
                if (!a)
                        return -ENOMEM;
                free(dst->caller_app);
                dst->caller_app = a;
        }
        dst->caller_sandboxed = dst->caller_sandboxed || src->caller_sandboxed;
#define MERGE(flag, field)                      \
        if (src->flag) {                        \
                dst->flag = true;               \
                dst->field = src->field;        \
        }
        MERGE(has_max_tokens, max_tokens);
        MERGE(has_temperature, temperature);
        MERGE(has_top_k, top_k);
        MERGE(has_top_p, top_p);
        MERGE(has_min_p, min_p);
        MERGE(has_repeat_penalty, repeat_penalty);
        MERGE(has_seed, seed);
        MERGE(has_raw, raw);
        MERGE(has_context, context);
        MERGE(has_cache_scope, cache_scope);
        MERGE(has_priority, priority);
        MERGE(has_no_wait, no_wait);
#undef MERGE
        return 0;
}

CacheScope request_cache_scope(const RequestOptions *o) {
        if (o->has_cache_scope)
                return o->cache_scope;
        return o->caller_sandboxed ? CACHE_SCOPE_APP : CACHE_SCOPE_USER;
}

int request_cache_key(const RequestOptions *o, CacheScope scope, const char *owner, char **ret) {
        int r = 0;
        *ret = NULL;
        switch (scope) {
        case CACHE_SCOPE_USER:
                r = asprintf(ret, "user");
                break;
        case CACHE_SCOPE_APP:
                r = o->caller_app ? asprintf(ret, "app:%s", o->caller_app) : asprintf(ret, "connection:%s", owner);
                break;
        default:
                return 0;
        }
        if (r < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}
