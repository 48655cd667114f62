/* The engine thread: loads the model, owns every Sequence (KV cache, sampler, text stream) and
 * runs every forward pass. The event thread talks to it through two queues: jobs and cancels go
 * in (engine_submit(), engine_cancel(), ...), events come out (engine_take_events()) and an
 * eventfd says when there are some. Nothing here blocks the caller on compute, and no lock is
 * held across a forward pass.
 *
 * Scheduling: every active sequence advances one bounded step in turn (one prefill chunk or one
 * token), round-robin, so a long prompt or a long answer cannot starve another client; a cancel
 * takes effect before the sequence's next step. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gemma3n/model.h"
#include "text/sequence.h"
#include "text/tokenizer.h"

typedef struct EngineParams {
        const char *model_path;
        uint32_t n_threads;           /* 0: one per online CPU */
        uint32_t prefill_chunk;       /* tokens per step, >= 1 */
        bool prefault;                /* read the weights in while loading, with progress */
        uint64_t kv_budget_bytes;     /* KV page pool budget; 0: none */
        uint32_t page_size;           /* positions per KV page; 0: 32 */
        const char *backend;          /* where decoder layers run: auto, cpu, opencl[:DEVICE];
                                       * NULL: cpu. Validated by the config reader */
        uint64_t max_device_bytes;    /* OpenCL device memory; 0: 90% of the device */
        bool pack_weights;            /* pack the CPU's matrices after load (cpu/packed.h) */
} EngineParams;

typedef enum EngineFinish {
        ENGINE_FINISH_STOP,
        ENGINE_FINISH_LENGTH,
        ENGINE_FINISH_CANCELLED,
        ENGINE_FINISH_OVERFLOW,       /* the tokens did not fit the sequence's context */
        ENGINE_FINISH_ERROR,
        _ENGINE_FINISH_MAX,
} EngineFinish;

/* The Finished reason tokens of the D-Bus contract: "stop", "length", ... */
const char *engine_finish_to_string(EngineFinish f);

typedef struct EngineResult {
        EngineFinish finish;
        uint32_t n_prompt;            /* tokens computed for this request */
        uint32_t n_generated;
        uint32_t n_past;              /* positions the sequence holds afterwards */
        uint32_t n_cached;            /* prompt positions reused from the prefix cache */
        double ttft_sec, prefill_sec, decode_sec;
        char message[GEMMA_ERROR_MESSAGE_MAX];   /* OVERFLOW and ERROR */
} EngineResult;

typedef enum EngineEventKind {
        ENGINE_EVENT_LOAD_PROGRESS,   /* progress, stage */
        ENGINE_EVENT_READY,           /* engine_model()/engine_tokenizer() may be used from now on */
        ENGINE_EVENT_LOAD_FAILED,     /* message */
        ENGINE_EVENT_TEXT,            /* request_id, text/len: whole UTF-8 characters */
        ENGINE_EVENT_FINISHED,        /* request_id, result: the last event of a request */
        ENGINE_EVENT_STOPPED,         /* the thread has ended; engine_free() will not wait */
} EngineEventKind;

typedef struct EngineEvent {
        EngineEventKind kind;
        uint64_t request_id;
        double progress;              /* 0..1 */
        const char *stage;            /* static token: "mapping", "tokenizer", "prefault", ... */
        char *text;
        size_t len;
        EngineResult result;
        char message[GEMMA_ERROR_MESSAGE_MAX];
        struct EngineEvent *next;
} EngineEvent;

void engine_event_free_list(EngineEvent *e);

typedef struct EngineJob {
        uint64_t sequence_id;         /* created on first use with n_ctx positions */
        uint32_t n_ctx;
        uint64_t request_id;          /* non-zero, unique */
        int32_t *tokens;              /* taken over by engine_submit() on success */
        size_t n_tokens;
        bool generate;                /* false: prefill only (Append) */
        TurnParams turn;              /* generate: stop strings are copied */
        bool release_after;           /* drop the sequence when the request ends (one-shot) */
        const char *cache_key;        /* prefix-cache scope ("user", "app:<id>"); NULL: private (copied) */
} EngineJob;

typedef struct Engine Engine;

/* Starts the thread, which begins loading at once. Errors: -ENOMEM, thread or eventfd creation. */
int engine_new(const EngineParams *p, Engine **ret, GemmaError *err);

/* Stops the thread (cancelling what runs after its current step) and frees everything. */
Engine *engine_free(Engine *e);

static inline void engine_freep(Engine **e) {
        if (*e)
                engine_free(*e);
}

/* Readable (EFD_NONBLOCK eventfd) while events are waiting. */
int engine_event_fd(const Engine *e);
/* Takes every waiting event, oldest first; resets the eventfd. NULL when none. */
EngineEvent *engine_take_events(Engine *e);

/* Valid from ENGINE_EVENT_READY until engine_free(); immutable, so any thread may read them. */
const Gemma3nModel *engine_model(const Engine *e);
const Tokenizer *engine_tokenizer(const Engine *e);
const char *engine_backend_name(const Engine *e);   /* "cpu" */
uint32_t engine_n_threads(const Engine *e);
/* After READY: where the layers run, and what accel_select() said (placement or why the CPU). */
struct AccelReport;
const struct AccelReport *engine_accel_report(const Engine *e);
/* After READY: a line for the log on packing the CPU's matrices ("" when not asked for), and
 * whether it failed (the model then reads them from the file, as fast as before packing). */
const char *engine_pack_report(const Engine *e, bool *ret_failed);
/* After READY: the bytes of the packed copies once every one is made and in use; 0 while packing
 * runs, and when nothing is packed (pack_weights off, no kernel for it, or it failed). Any thread. */
uint64_t engine_packed_bytes(const Engine *e);

/* Queues a job. A request's events end with one FINISHED. -EINVAL for an empty or bad job,
 * -ENOMEM; on failure the caller keeps job->tokens. */
int engine_submit(Engine *e, EngineJob *job, GemmaError *err);

/* Ends a request at its next step with ENGINE_FINISH_CANCELLED (a no-op when already finished). */
void engine_cancel(Engine *e, uint64_t request_id);

/* Makes sequence dst a copy of sequence src between turns (Session.Clone); request_id gets a
 * FINISHED: stop on success, error when src is generating or memory runs out. A src that was
 * never used gives an empty dst. */
int engine_clone_sequence(Engine *e, uint64_t src, uint64_t dst, uint32_t n_ctx, uint64_t request_id, GemmaError *err);

/* The MatFormer slice every request computes with from the next step on (NULL: the full model).
 * Sequences holding KV of another slice recompute their context first; the prefix cache keeps
 * entries per slice (the callers' cache keys name it). -ENOMEM. */
int engine_set_slice(Engine *e, const Gemma3nSlice *slice, GemmaError *err);

/* Drops a sequence and its KV cache; a request running on it ends cancelled. */
void engine_release_sequence(Engine *e, uint64_t sequence_id);

/* Asks the thread to cancel everything and end; ENGINE_EVENT_STOPPED follows. */
void engine_request_stop(Engine *e);

/* Liveness for the watchdog: the counter advances with every step and every idle wait, so a
 * counter that stands still while the engine is busy means a wedged forward pass. */
uint64_t engine_heartbeat(const Engine *e);
bool engine_is_idle(const Engine *e);
/* KV page pool bytes in use (sequences and prefix cache), updated every step. */
uint64_t engine_kv_bytes(const Engine *e);

typedef struct EngineCacheStats {
        uint64_t hits, misses, evictions, cached_tokens;
} EngineCacheStats;
EngineCacheStats engine_cache_stats(const Engine *e);
