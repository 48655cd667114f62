/* Binds every Gemma 3n tensor by name with the shape the hyperparameters imply. Matrices stay in
 * the mapped file (views); vectors and the tiny AltUp coefficient matrices are converted to f32
 * once at load, since every token reads them whole. */
#pragma once

#include "base/error.h"
#include "gguf/gguf.h"
#include "hparams.h"
#include "tensor/tensor.h"

typedef struct Gemma3nLayerWeights {
        /* attention */
        const float *attn_norm;           /* [D] input_layernorm */
        Tensor attn_q;                    /* [H*Dh rows, D] */
        Tensor attn_k;                    /* [Hkv*Dh, D]; unused by KV-sharing layers */
        Tensor attn_v;                    /* [Hkv*Dh, D]; unused by KV-sharing layers */
        Tensor attn_output;               /* [D, H*Dh] */
        const float *attn_q_norm;         /* [Dh] */
        const float *attn_k_norm;         /* [Dh] */
        const float *post_attention_norm; /* [D] */
        /* feed-forward */
        const float *ffn_norm;            /* [D] pre_feedforward_layernorm */
        Tensor ffn_gate;                  /* [F, D] */
        Tensor ffn_up;                    /* [F, D] */
        Tensor ffn_down;                  /* [D, F] */
        const float *post_ffw_norm;       /* [D] */
        /* per-layer input */
        Tensor inp_gate;                  /* [P, D] per_layer_input_gate */
        Tensor proj;                      /* [D, P] per_layer_projection */
        const float *post_norm;           /* [D] post_per_layer_input_norm */
        /* AltUp */
        const float *altup_correct_coef;  /* [n rows, n] */
        const float *altup_correct_scale; /* [D] */
        const float *altup_predict_coef;  /* [n*n rows, n] */
        const float *altup_router;        /* [n rows, D] modality router */
        const float *altup_router_norm;   /* [D] */
        /* LAuReL */
        Tensor laurel_l;                  /* [R, D] */
        Tensor laurel_r;                  /* [D, R] */
        const float *laurel_post_norm;    /* [D] */
} Gemma3nLayerWeights;

typedef struct Gemma3nWeights {
        Tensor token_embd;                /* [V, D]; also the tied LM head */
        Tensor output;                    /* [V, D] separate LM head if the file has one */
        bool has_output;
        Tensor per_layer_token_embd;      /* [V_ple, L*P] the PLE table, row lookups only */
        Tensor per_layer_model_proj;      /* [L*P, D] */
        const float *per_layer_proj_norm; /* [P] */
        Tensor altup_proj[15];            /* n-1 matrices [D, D]: stream k+1 from stream 0 */
        Tensor altup_unembd_proj[15];     /* n-1 matrices [D, D]: stream k+1 back */
        const float *output_norm;         /* [D] */
        Gemma3nLayerWeights *layers;      /* [L] */

        float *arena;                     /* owns every const float * above */
        uint64_t bytes_ple;               /* per_layer_token_embd */
        uint64_t bytes_token_embd;
        uint64_t bytes_total;             /* every tensor in the file */
} Gemma3nWeights;

int gemma3n_weights_bind(const GgufFile *f, const Gemma3nHParams *hp, Gemma3nWeights *ret, GemmaError *err);
void gemma3n_weights_done(Gemma3nWeights *w);
