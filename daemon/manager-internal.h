/* What manager.c shares with session.c: admission checks, turn parameters and job submission. */
#pragma once

#include "manager.h"

double manager_now_sec(void);
void manager_notify_counters(Manager *m);
void manager_notify_state(Manager *m);
/* Picks the slice the policy and the power state ask for and hands it to the engine. */
void manager_slices_apply(Manager *m);
/* State, the global queue and the per-client request limit. */
int manager_check_admission(Manager *m, const char *owner, DaemonError *err);
int manager_build_turn_params(const Manager *m, const RequestOptions *o, uint32_t n_ctx, TurnParams *ret,
                              DaemonError *err);
/* Registers a request and hands its job to the engine. Takes *tokens on success. */
int manager_submit(Manager *m, RequestKind kind, Session *s, const char *owner, uint64_t sequence_id, uint32_t n_ctx,
                   int32_t **tokens, size_t n_tokens, const TurnParams *turn, bool release_after,
                   const char *cache_key, const RequestSink *sink, Request **ret, DaemonError *err);
void manager_request_free(Request *r);
