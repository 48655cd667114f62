/* Random-weight Gemma 3n models with every tensor and key a converted file has, for tests and
 * benchmarks on machines without real weights. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "hparams.h"

/* A vocabulary to write instead of the built-in small one (gemma-model make-test --tokenizer-json
 * imports a real one). The pointers stay owned by the caller. */
typedef struct Gemma3nTestVocab {
        uint32_t n_tokens;                /* must equal Gemma3nTestSpec.n_vocab */
        const char *const *tokens;        /* [n_tokens] NUL-terminated pieces, id = index */
        const float *scores;              /* [n_tokens] */
        const int32_t *types;             /* [n_tokens] tokenizer.ggml.token_type values */
        uint32_t n_merges;                /* 0: no tokenizer.ggml.merges key */
        const char *const *merges;        /* [n_merges] "LEFT RIGHT", highest priority first */
        int32_t bos_id, eos_id, pad_id, unk_id;   /* -1: key not written */
} Gemma3nTestVocab;

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
        const Gemma3nTestVocab *vocab; /* NULL: the built-in small vocabulary */
} Gemma3nTestSpec;

/* Small defaults that exercise every feature (sliding and global layers, KV sharing, sparsity). */
void gemma3n_test_spec_default(Gemma3nTestSpec *s);

/* The real E2B dimensions (30 layers, 2048 hidden, 8192 FFN, 262400 vocabulary). */
void gemma3n_test_spec_e2b(Gemma3nTestSpec *s);

/* The real E4B dimensions (35 layers, 16384 FFN, the top 15 sharing KV), the model the official
 * MatFormer Mix-n-Match configurations slice. */
void gemma3n_test_spec_e4b(Gemma3nTestSpec *s);

/* Checks the combination; the message names the first bad option. */
int gemma3n_test_spec_validate(const Gemma3nTestSpec *s, GemmaError *err);

int gemma3n_make_test_model(const Gemma3nTestSpec *s, const char *path, GemmaError *err);
