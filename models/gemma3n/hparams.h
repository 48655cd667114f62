/* Gemma 3n hyperparameters, read from the gemma3n.* keys and the tensor shapes of a GGUF file.
 * Nothing here is assumed from E2B or E4B: per-layer arrays are per layer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

#define GEMMA3N_ARCH "gemma3n"
#define GEMMA3N_MAX_LAYERS 256
/* Ids from here up belong to the vision and audio vocabularies; their per-layer embedding comes
 * from row 0 (the padding token), as the reference model does. */
#define GEMMA3N_TEXT_VOCAB 262144u

typedef struct Gemma3nHParams {
        uint32_t n_embd;              /* D, hidden size */
        uint32_t n_layer;             /* L */
        uint32_t n_head;              /* H, query heads */
        uint32_t n_head_kv;           /* KV heads (grouped-query attention) */
        uint32_t head_dim;            /* Dh = attention.key_length = value_length */
        uint32_t n_ctx_train;         /* context_length */
        uint32_t n_vocab;             /* rows of token_embd */
        uint32_t n_vocab_ple;         /* rows of per_layer_token_embd */
        uint32_t n_embd_ple;          /* P, per-layer input width (256 in published models) */
        uint32_t n_altup;             /* AltUp streams (4) */
        uint32_t altup_active;        /* the stream the layer computes on (0) */
        uint32_t laurel_rank;         /* LAuReL rank (64), from the tensor shape */
        uint32_t sliding_window;      /* positions a sliding layer sees, the current one included */
        uint32_t n_kv_shared;         /* top layers that reuse earlier layers' KV */
        float rope_base;              /* global layers */
        float rope_base_swa;          /* sliding layers */
        float norm_eps;
        float final_softcap;          /* 0: none */

        uint32_t n_ff[GEMMA3N_MAX_LAYERS];          /* FFN width of each layer */
        bool is_swa[GEMMA3N_MAX_LAYERS];            /* sliding-window attention */
        float sparsity_k[GEMMA3N_MAX_LAYERS];       /* gaussian top-k std multiplier; 0: dense */
        uint32_t kv_source[GEMMA3N_MAX_LAYERS];     /* the layer whose KV this layer attends to */
} Gemma3nHParams;

static inline bool gemma3n_layer_owns_kv(const Gemma3nHParams *hp, uint32_t l) {
        return hp->kv_source[l] == l;
}

/* Reads and validates every hyperparameter. Tensor-derived values (n_vocab, n_vocab_ple,
 * laurel_rank) are filled from the tensor infos; weights.c then checks every shape. */
int gemma3n_hparams_load(const GgufFile *f, Gemma3nHParams *ret, GemmaError *err);
