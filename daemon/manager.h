/* Manager: the daemon-wide state on the event thread. It starts the engine, follows its loading,
 * turns client requests into engine jobs (prompt rendering, limits), routes the engine's events
 * back to the request that asked, and keeps the counters the Manager properties report. It
 * knows nothing of D-Bus: the bus layer calls in with validated options and is called back
 * through a RequestSink and a ManagerObserver. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "daemon-error.h"
#include "engine/engine.h"
#include "power/power-policy.h"
#include "request.h"
#include "session.h"

typedef enum ManagerState {
        MANAGER_LOADING,
        MANAGER_READY,
        MANAGER_ERROR,
        MANAGER_STOPPED,
        _MANAGER_STATE_MAX,
} ManagerState;

const char *manager_state_to_string(ManagerState s);

typedef struct ManagerStats {
        uint64_t requests, cancelled, prefill_tokens, decoded_tokens, cached_tokens;
        uint64_t cache_hits, cache_misses, evictions;
} ManagerStats;

/* What clients may know about the loaded model (ModelInfo), filled when it is ready. */
typedef struct ModelSummary {
        char *name;                   /* general.name, "" when absent */
        uint32_t n_layer, n_embd, n_vocab, n_ctx_train;
        uint64_t file_bytes;
        uint32_t n_threads;
        char backend[192];            /* "cpu" or "opencl:DEVICE" */
        uint64_t device_bytes;        /* weights on the accelerator */
        uint64_t host_bytes;          /* weights read from the mapped file on the host */
        char hwmon_temp[256];         /* the accelerator's hwmon temperature input (a DRM device's
                                       * .../hwmon/hwmonN/temp1_input), "" when it has none */
} ModelSummary;

typedef struct ManagerObserver {
        /* State, StateReason, LoadProgress or the model-derived properties changed. */
        void (*state_changed)(Manager *m, void *userdata);
        /* Sessions, ActiveRequests, QueuedRequests or Stats changed. */
        void (*counters_changed)(Manager *m, void *userdata);
        /* The session is about to be freed: drop every reference to it. */
        void (*session_freed)(Manager *m, Session *s, void *userdata);
        /* Shutdown finished: every request has ended. */
        void (*stopped)(Manager *m, void *userdata);
        void *userdata;
} ManagerObserver;

struct Manager {
        const Config *config;
        sd_event *event;
        Engine *engine;
        sd_event_source *engine_source;
        ManagerObserver observer;

        ManagerState state;
        const char *state_reason;     /* token: "loading", "mapping", "ready", "load-failed", ... */
        char *error_message;          /* the loader's message in state error */
        double load_progress;
        char *model_path;
        uint32_t n_ctx;               /* context per session: config, capped at the model's */
        ModelSummary model;           /* valid in state ready */

        Session *sessions;
        uint32_t n_sessions;
        Request *requests;            /* submitted, not finished */
        uint32_t n_requests;
        uint64_t next_request_id;
        uint64_t next_sequence_id;
        ManagerStats stats;
        bool stopping;
        char *slice_policy;           /* "auto" or a slice name */
        struct ManagerSlice *slices;  /* presets of the loaded model, largest first */
        size_t n_slices;
        size_t n_presets;             /* the first n_presets of slices; a custom one may follow */
        char **slice_names;           /* NULL-terminated, for AvailableSlices */
        size_t active_slice;          /* index into slices */
        bool engine_slice_set;        /* the engine was told about active_slice */
        /* What the power monitor decided last (policy auto follows it). */
        bool power_known;
        PowerLevel power_level;
        const char *power_reason;     /* static token */
        PowerInputEntry power_inputs[POWER_INPUT_ENTRIES_MAX];
        size_t n_power_inputs;
};

/* Creates the manager and starts loading model_path (NULL: config's path) on the engine
 * thread. Failing to start the engine is an error; a model that fails to load is a state. */
int manager_new(const Config *config, const char *model_path, sd_event *event, const ManagerObserver *observer,
                Manager **ret, DaemonError *err);
Manager *manager_free(Manager *m);

static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

/* NotReady unless the model is loaded: state error/stopped always, loading when no_wait. Returns
 * 1 when ready, 0 when the caller should wait (loading), -1 with err set otherwise. */
int manager_check_ready(Manager *m, bool no_wait, DaemonError *err);

/* One-shot generation (Manager.Generate, GenerateToFd). */
int manager_generate(Manager *m, const char *owner, const char *prompt, const RequestOptions *options,
                     const RequestSink *sink, Request **ret, DaemonError *err);

/* Tokens of text (no BOS), or with chat the tokens the one-shot chat template makes of it. */
int manager_tokenize(Manager *m, const char *text, bool chat, const RequestOptions *options, int32_t **ret_ids,
                     size_t *ret_n, DaemonError *err);

/* Cancels a running request; its sink's finished() follows from the engine. */
void manager_cancel_request(Manager *m, Request *r);

/* ---- MatFormer slices (slices.c) ---- */

/* The slices this model can run, largest first (NULL-terminated; "full" before the model is
 * loaded), and the one requests compute with now. */
char *const *manager_available_slices(const Manager *m);
const char *manager_active_slice(const Manager *m);
/* "auto" or one of the available slices; INVALID_ARGS otherwise. */
int manager_set_slice_policy(Manager *m, const char *policy, DaemonError *err);
/* Builds the presets of the loaded model (at READY) and applies the policy. */
int manager_slices_init(Manager *m);
void manager_slices_done(Manager *m);
/* "pinned" when the policy names a slice, else why auto chose the active one. */
const char *manager_slice_reason(const Manager *m);
/* The power monitor's decision and the inputs behind it (SliceInputs). */
void manager_apply_power(Manager *m, PowerLevel level, const char *reason);
void manager_set_power_inputs(Manager *m, const PowerInputEntry *entries, size_t n);

/* Cancels everything and stops the engine; observer->stopped() follows. */
void manager_stop(Manager *m);

uint32_t manager_n_owner_sessions(const Manager *m, const char *owner);
uint32_t manager_n_owner_requests(const Manager *m, const char *owner);
uint32_t manager_n_active_requests(const Manager *m);
/* Totals, with the prefix cache's counters from the engine. */
ManagerStats manager_stats(const Manager *m);

/* ---- sessions (session.c) ---- */

int session_new(Manager *m, const char *owner, const RequestOptions *options, Session **ret, DaemonError *err);
/* Cancels a running request (its finished() still arrives, with the session already gone) and
 * drops the KV cache. */
Session *session_free(Session *s);
Session *manager_find_session(Manager *m, uint64_t id);

/* A user turn and, when generate, the model's answer. Busy while another request runs. */
int session_prompt(Session *s, const char *text, const RequestOptions *options, bool generate,
                   const RequestSink *sink, Request **ret, DaemonError *err);
/* request_id 0: the running one. Unknown or finished ids are not an error (a race with the end). */
int session_cancel(Session *s, uint64_t request_id, DaemonError *err);
/* A new session of the same owner with a copy of the conversation so far. */
int session_clone(Session *s, const RequestOptions *options, Session **ret, DaemonError *err);
uint32_t session_context_usage(const Session *s);
