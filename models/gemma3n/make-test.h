/* Random-weight Gemma 3n models with every tensor and key a converted file has, for tests and
 * benchmarks on machines without real weights. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "hparams.h"

typedef struct Gemma3nTestSpec {
        uint64_t seed;
        uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim;
        uint32_t n_ff[GEMMA3N_MAX_LAYERS];
        uint32_t n_vocab;
        uint32_t sliding_window;
        uint32_t swa_period;          /* every swa_period-th layer is global */
        uint32_t n_kv_shared;
        uint32_t n_sparse_layers;     /* the first layers get gaussian top-k sparsity */
        uint32_t n_ctx;
        uint32_t n_embd_ple, laurel_rank, n_altup;
        uint32_t type;                /* matrices; rows that do not fill whole blocks fall back to f16 */
        uint32_t ple_type;            /* the per-layer embedding table */
} Gemma3nTestSpec;

/* Small defaults that exercise every feature (sliding and global layers, KV sharing, sparsity). */
void gemma3n_test_spec_default(Gemma3nTestSpec *s);

/* The real E2B dimensions (30 layers, 2048 hidden, 8192 FFN, 262400 vocabulary). */
void gemma3n_test_spec_e2b(Gemma3nTestSpec *s);

/* Checks the combination; the message names the first bad option. */
int gemma3n_test_spec_validate(const Gemma3nTestSpec *s, GemmaError *err);

int gemma3n_make_test_model(const Gemma3nTestSpec *s, const char *path, GemmaError *err);
