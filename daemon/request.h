/* Request: one unit of work a client asked for (a one-shot Generate, a session's Prompt or
 * Append), from validated options to its final result. The event thread owns requests; the
 * engine only ever sees the tokens and parameters handed over in an EngineJob. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "text/sampler.h"

typedef enum CacheScope {
        CACHE_SCOPE_USER,
        CACHE_SCOPE_APP,
        CACHE_SCOPE_PRIVATE,
        _CACHE_SCOPE_MAX,
        _CACHE_SCOPE_INVALID = -1,
} CacheScope;

typedef enum Priority {
        PRIORITY_INTERACTIVE,
        PRIORITY_NORMAL,
        PRIORITY_BACKGROUND,
        _PRIORITY_MAX,
        _PRIORITY_INVALID = -1,
} Priority;

const char *cache_scope_to_string(CacheScope s);
CacheScope cache_scope_from_string(const char *s);
const char *priority_to_string(Priority p);
Priority priority_from_string(const char *s);

/* Options as a client gave them: every field has a has_ flag, so a session's defaults and a
 * prompt's overrides can be merged. Ranges were checked at the door (dbus/bus-options.c). */
typedef struct RequestOptions {
        char *system;                 /* NULL: not given */
        bool has_max_tokens, has_temperature, has_top_k, has_top_p, has_min_p, has_repeat_penalty;
        bool has_seed, has_stop, has_raw, has_context, has_cache_scope, has_priority, has_no_wait;
        uint32_t max_tokens;
        double temperature, top_p, min_p, repeat_penalty;
        uint32_t top_k;
        uint64_t seed;
        char **stops;                 /* has_stop: n_stops strings */
        size_t n_stops;
        bool raw;
        uint32_t context;
        CacheScope cache_scope;
        Priority priority;
        bool no_wait;
        /* Not options: who is asking, filled in by the bus layer from the caller's credentials. */
        char *caller_app;             /* app id (Flatpak, snap, or the desktop's app-*.scope); NULL: unknown */
        bool caller_sandboxed;        /* Flatpak or snap */
} RequestOptions;

void request_options_done(RequestOptions *o);
/* dst gets every option src has (copies). -ENOMEM. */
int request_options_merge(RequestOptions *dst, const RequestOptions *src);

/* The scope a request's KV may be shared in: the option, else app for sandboxed callers and
 * user for the rest. */
CacheScope request_cache_scope(const RequestOptions *o);
/* The sharing scope of a request's KV for the prefix cache: NULL for private (never shared),
 * else "user" or "app:<app id>" (a caller of unknown app id gets a scope of its own connection).
 * The engine adds the exact slice the KV is computed with. Returns 0 and sets *ret (newly
 * allocated or NULL), or -ENOMEM. */
int request_cache_key(const RequestOptions *o, CacheScope scope, const char *owner, char **ret);

/* Sampling defaults of the daemon: what a request without sampling options gets. */
#define REQUEST_DEFAULT_TEMPERATURE 1.0
#define REQUEST_DEFAULT_TOP_K 64u
#define REQUEST_DEFAULT_TOP_P 0.95
#define REQUEST_DEFAULT_MIN_P 0.0
#define REQUEST_DEFAULT_REPEAT_PENALTY 1.0

typedef enum RequestKind {
        REQUEST_GENERATE,             /* Manager.Generate*: own sequence, freed at the end */
        REQUEST_PROMPT,               /* Session.Prompt*: a user turn and the model's answer */
        REQUEST_APPEND,               /* Session.Append: a user turn, prefilled, no answer */
} RequestKind;

typedef struct Request Request;

/* Where a request's output goes: the bus layer (signals, a method reply) or an fd writer. */
typedef struct RequestSink {
        /* Whole UTF-8 characters, in order. */
        void (*text)(Request *r, const char *text, size_t len, void *userdata);
        /* Exactly once, last; the request is freed right after it returns. */
        void (*finished)(Request *r, const EngineResult *result, void *userdata);
        void *userdata;
} RequestSink;

struct Request {
        uint64_t id;
        RequestKind kind;
        struct Session *session;      /* NULL for one-shot requests */
        char *owner;                  /* unique bus name of the caller */
        RequestSink sink;
        uint32_t n_tokens;            /* what was submitted */
        double t_submit;              /* CLOCK_MONOTONIC seconds */
        bool cancelled;
        struct Request *next;         /* Manager's list */
};
