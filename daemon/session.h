/* Session: one client's conversation. Owned by the unique bus name that created it; holds the
 * options that every prompt inherits, the engine sequence (KV cache) the turns extend, and at
 * most one running request. What a session *is* lives here; its bus binding is
 * dbus/bus-session.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

typedef struct Manager Manager;

typedef struct Session {
        Manager *manager;
        uint64_t id;                  /* random, non-zero: the path token */
        char *path;                   /* /org/gemmad/Gemmad1/session/<16 hex digits> */
        char *owner;                  /* unique bus name */
        RequestOptions defaults;      /* from CreateSession; system is used by the first turn */
        uint32_t n_ctx;
        CacheScope cache_scope;
        uint64_t sequence_id;         /* engine sequence; 0 until the first request */
        uint32_t n_past;              /* positions in the KV cache after the last request */
        bool started;                 /* the first turn (with <bos> and the system text) was sent */
        bool model_turn_open;         /* the last turn was the model's and has no <end_of_turn> yet */
        Request *current;
        void *bus_data;               /* the bus layer's per-session state */
        struct Session *next;
} Session;
