/* What engine.c (thread, queues, loading) and scheduler.c (the step loop) share. Engine thread
 * internals: nothing outside daemon/engine/ includes this. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "accel-select.h"
#include "cpu/matmul.h"
#include "engine/engine.h"
#include "engine/prefix-cache.h"

typedef enum CommandKind {
        COMMAND_SUBMIT,
        COMMAND_CANCEL,
        COMMAND_RELEASE,
        COMMAND_CLONE,
        COMMAND_SET_SLICE,
} CommandKind;

typedef struct Command {
        CommandKind kind;
        uint64_t id;                  /* CANCEL: request; RELEASE, CLONE: sequence (CLONE: source) */
        EngineJob job;                /* SUBMIT */
        char **stops;                 /* SUBMIT: owned copies of job.turn.stops */
        char *cache_key;              /* SUBMIT: owned copy of job.cache_key */
        Gemma3nSlice slice;           /* SET_SLICE */
        bool full_slice;              /* SET_SLICE: NULL was given */
        struct Command *next;
} Command;

/* One sequence and the request running on it, if any. Only the engine thread touches these. */
typedef struct Slot {
        uint64_t id;
        Sequence *seq;
        Command *job;                 /* the running request (a SUBMIT command), or NULL */
        Command *waiting;             /* further requests on this sequence, in order */
        bool started;                 /* the running request's tokens were queued */
        bool cancelled;
        uint32_t n_prefill;           /* tokens of the request computed so far */
        uint32_t n_cached;            /* tokens of the request served from the prefix cache */
        char *text;                   /* text produced by the current step */
        size_t text_len, text_cap;
        struct Slot *next;
} Slot;

struct Engine {
        EngineParams params;
        char *model_path;
        char *backend;                /* params.backend, owned */
        AccelReport accel;            /* written while loading, read after READY */
        char pack_report[GEMMA_ERROR_MESSAGE_MAX + 64];   /* likewise: a line for the log, "" for none */
        bool pack_failed;
        int event_fd;
        pthread_t thread;
        bool thread_started;

        pthread_mutex_t lock;         /* guards commands, events, stop_requested */
        pthread_cond_t wake;
        Command *commands, **commands_tail;
        EngineEvent *events, **events_tail;
        bool stop_requested;

        atomic_uint_fast64_t heartbeat;
        atomic_bool idle;
        atomic_uint_fast64_t kv_bytes;

        /* Set by the engine thread before READY is posted; read-only afterwards. */
        Gemma3nModel *model;
        Tokenizer *tok;
        CpuCompute *compute;
        uint32_t n_threads;

        KvPool *pool;                 /* every sequence's KV pages */
        Gemma3nSlice slice;           /* what requests compute with (engine thread) */
        PrefixCache *prefix;
        Slot *slots;                  /* engine thread only */
        Slot *rr_next;                /* the next slot offered a prefill step */
        float *logits;                /* one batch's logits rows */
        size_t logits_rows;
        atomic_uint_fast64_t cache_hits, cache_misses, cache_evictions, cached_tokens;
};

void engine_post_event(Engine *e, EngineEvent *ev);
EngineEvent *engine_event_new(EngineEventKind kind, uint64_t request_id);
void engine_post_finished(Engine *e, uint64_t request_id, const EngineResult *r);
void engine_result_init(EngineResult *r, EngineFinish finish);
void engine_command_free(Command *c);
Slot *engine_slot_find(Engine *e, uint64_t id);
void engine_slot_unlink_free(Engine *e, Slot *s);
/* Posts FINISHED for the slot's running request and moves on to its next one; a one-shot
 * request's slot is freed (s is gone afterwards). */
void engine_slot_finish_job(Engine *e, Slot *s, const EngineResult *r);

/* scheduler.c: one step for every slot with work (decode rows of all, one prefill chunk). */
void engine_schedule_step(Engine *e);
