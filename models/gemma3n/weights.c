/* Tensor binding for Gemma 3n: every tensor a converted file has, with its expected shape; a
 * missing, misshaped, unconvertible or unknown tensor is an error naming it. */
#include "weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cpu/matmul.h"
#include "tensor/type-traits.h"

typedef struct Binder {
        const GgufFile *f;
        GemmaError *err;
        bool *used;               /* per tensor in file order */
        float *arena;
        size_t arena_used, arena_size;
} Binder;

static int shape_error(Binder *b, const GgufTensor *t, const uint64_t want[4]) {
        return gemma_error_set(b->err, -EINVAL,
                               "%s: tensor '%s' has shape [%llu, %llu, %llu], expected [%llu, %llu, %llu]", b->f->path,
                               t->name, (unsigned long long) t->ne[0], (unsigned long long) t->ne[1],
                               (unsigned long long) t->ne[2], (unsigned long long) want[0], (unsigned long long) want[1],
                               (unsigned long long) want[2]);
}

/* Finds a tensor, checks shape and computability, marks it used. required=false: absent is OK. */
static int bind_tensor(Binder *b, const char *name, uint64_t ne0, uint64_t ne1, uint64_t ne2, bool required,
                       const GgufTensor **ret) {
        const uint64_t want[4] = { ne0, ne1, ne2, 1 };
        const GgufTensor *t = gguf_find_tensor(b->f, name);

        if (!t) {
                if (!required) {
                        *ret = NULL;
                        return 0;
                }
                return gemma_error_set(b->err, -EINVAL, "%s: missing tensor '%s'", b->f->path, name);
        }
        if (memcmp(t->ne, want, sizeof(want)) != 0)
                return shape_error(b, t, want);
        const TypeTraits *tt = type_traits(t->type);
        if (!tt || !tt->dequant_ref)
                return gemma_error_set(b->err, -EINVAL, "%s: tensor '%s' has type %s, which gemmad cannot compute with",
                                       b->f->path, name, type_name(t->type));
        b->used[t - b->f->tensors] = true;
        *ret = t;
        return 0;
}

static Tensor view_of(const GgufTensor *t) {
        uint64_t row_bytes = 0;
        type_row_bytes(t->type, t->ne[0], &row_bytes);
        return (Tensor) {
                .name = t->name, .type = t->type, .ne = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] },
                .row_bytes = row_bytes, .data = t->data,
        };
}

static int bind_matrix(Binder *b, const char *name, uint64_t n_in, uint64_t n_out, Tensor *ret) {
        const GgufTensor *t = NULL;
        int k = bind_tensor(b, name, n_in, n_out, 1, true, &t);
        if (k < 0)
                return k;
        *ret = view_of(t);
        return 0;
}

/* Converts a small tensor (vector or coefficient matrix) of n_in x n_out values into the arena. */
static int bind_f32(Binder *b, const char *name, uint64_t n_in, uint64_t n_out, const float **ret) {
        const GgufTensor *t = NULL;
        int k = bind_tensor(b, name, n_in, n_out, 1, true, &t);
        if (k < 0)
                return k;
        size_t n = n_in * n_out;
        if (n > b->arena_size - b->arena_used)
                return gemma_error_set(b->err, -EINVAL, "%s: tensor '%s' is too large for a vector", b->f->path, name);
        Tensor v = view_of(t);
        float *dst = b->arena + b->arena_used;
        for (uint64_t r = 0; r < n_out; r++)
                tensor_dequant_row(&v, r, dst + r * n_in, n_in);
        b->arena_used += n;
        *ret = dst;
        return 0;
}

static int bind_layer(Binder *b, const Gemma3nHParams *hp, uint32_t l, Gemma3nLayerWeights *w) {
        const uint64_t D = hp->n_embd, Dh = hp->head_dim, F = hp->n_ff[l], P = hp->n_embd_ple, n = hp->n_altup;
        const uint64_t R = hp->laurel_rank;
        char name[96];
        int k = 0;

#define NAME(s) (snprintf(name, sizeof(name), "blk.%u." s ".weight", l), name)
        if ((k = bind_f32(b, NAME("attn_norm"), D, 1, &w->attn_norm)) < 0 ||
            (k = bind_matrix(b, NAME("attn_q"), D, hp->n_head * Dh, &w->attn_q)) < 0 ||
            (k = bind_matrix(b, NAME("attn_k"), D, hp->n_head_kv * Dh, &w->attn_k)) < 0 ||
            (k = bind_matrix(b, NAME("attn_v"), D, hp->n_head_kv * Dh, &w->attn_v)) < 0 ||
            (k = bind_matrix(b, NAME("attn_output"), hp->n_head * Dh, D, &w->attn_output)) < 0 ||
            (k = bind_f32(b, NAME("attn_q_norm"), Dh, 1, &w->attn_q_norm)) < 0 ||
            (k = bind_f32(b, NAME("attn_k_norm"), Dh, 1, &w->attn_k_norm)) < 0 ||
            (k = bind_f32(b, NAME("post_attention_norm"), D, 1, &w->post_attention_norm)) < 0 ||
            (k = bind_f32(b, NAME("ffn_norm"), D, 1, &w->ffn_norm)) < 0 ||
            (k = bind_matrix(b, NAME("ffn_gate"), D, F, &w->ffn_gate)) < 0 ||
            (k = bind_matrix(b, NAME("ffn_up"), D, F, &w->ffn_up)) < 0 ||
            (k = bind_matrix(b, NAME("ffn_down"), F, D, &w->ffn_down)) < 0 ||
            (k = bind_f32(b, NAME("post_ffw_norm"), D, 1, &w->post_ffw_norm)) < 0 ||
            (k = bind_matrix(b, NAME("inp_gate"), D, P, &w->inp_gate)) < 0 ||
            (k = bind_matrix(b, NAME("proj"), P, D, &w->proj)) < 0 ||
            (k = bind_f32(b, NAME("post_norm"), D, 1, &w->post_norm)) < 0 ||
            (k = bind_f32(b, NAME("altup_correct_coef"), n, n, &w->altup_correct_coef)) < 0 ||
            (k = bind_f32(b, NAME("altup_correct_scale"), D, 1, &w->altup_correct_scale)) < 0 ||
            (k = bind_f32(b, NAME("altup_predict_coef"), n, n * n, &w->altup_predict_coef)) < 0 ||
            (k = bind_f32(b, NAME("altup_router"), D, n, &w->altup_router)) < 0 ||
            (k = bind_f32(b, NAME("altup_router_norm"), D, 1, &w->altup_router_norm)) < 0 ||
            (k = bind_matrix(b, NAME("laurel_l"), D, R, &w->laurel_l)) < 0 ||
            (k = bind_matrix(b, NAME("laurel_r"), R, D, &w->laurel_r)) < 0 ||
            (k = bind_f32(b, NAME("laurel_post_norm"), D, 1, &w->laurel_post_norm)) < 0)
                return k;
#undef NAME
        return 0;
}

/* The 3-D AltUp tensors hold n-1 square matrices; each becomes a view of its own. */
static int bind_stack(Binder *b, const char *name, const Gemma3nHParams *hp, Tensor *ret) {
        const GgufTensor *t = NULL;
        int k = bind_tensor(b, name, hp->n_embd, hp->n_embd, hp->n_altup - 1, true, &t);
        if (k < 0)
                return k;
        Tensor whole = view_of(t);
        for (uint32_t j = 0; j + 1 < hp->n_altup; j++) {
                ret[j] = whole;
                ret[j].ne[2] = 1;
                ret[j].data = tensor_row(&whole, (uint64_t) j * hp->n_embd);
        }
        return 0;
}

int gemma3n_weights_bind(const GgufFile *f, const Gemma3nHParams *hp, Gemma3nWeights *ret, GemmaError *err) {
        const uint64_t D = hp->n_embd, L = hp->n_layer, P = hp->n_embd_ple, n = hp->n_altup;
        Gemma3nWeights w = { 0 };
        Binder b = { .f = f, .err = err };
        const GgufTensor *t = NULL;
        int k;

        if (hp->n_altup - 1 > 15)
                return gemma_error_set(err, -EINVAL, "%s: %u AltUp streams are more than supported (16)", f->path, hp->n_altup);

        /* Arena: every vector and coefficient matrix, counted from the shapes. */
        b.arena_size = P + D + L * (9 * D + 2 * hp->head_dim + n * n + n * n * n + n * D);
        b.arena = w.arena = malloc_multiply(b.arena_size, sizeof(float));
        b.used = new0(bool, f->n_tensors);
        w.layers = new0(Gemma3nLayerWeights, L);
        if (!b.arena || !b.used || !w.layers) {
                k = gemma_error_set(err, -ENOMEM, "%s: out of memory", f->path);
                goto fail;
        }

        if ((k = bind_matrix(&b, "token_embd.weight", D, hp->n_vocab, &w.token_embd)) < 0 ||
            (k = bind_matrix(&b, "per_layer_token_embd.weight", L * P, hp->n_vocab_ple, &w.per_layer_token_embd)) < 0 ||
            (k = bind_matrix(&b, "per_layer_model_proj.weight", D, L * P, &w.per_layer_model_proj)) < 0 ||
            (k = bind_f32(&b, "per_layer_proj_norm.weight", P, 1, &w.per_layer_proj_norm)) < 0 ||
            (k = bind_stack(&b, "altup_proj.weight", hp, w.altup_proj)) < 0 ||
            (k = bind_stack(&b, "altup_unembd_proj.weight", hp, w.altup_unembd_proj)) < 0 ||
            (k = bind_f32(&b, "output_norm.weight", D, 1, &w.output_norm)) < 0 ||
            (k = bind_tensor(&b, "output.weight", D, hp->n_vocab, 1, false, &t)) < 0)
                goto fail;
        if (t) {
                w.output = view_of(t);
                w.has_output = true;
        }
        for (uint32_t l = 0; l < L; l++)
                if ((k = bind_layer(&b, hp, l, &w.layers[l])) < 0)
                        goto fail;

        for (size_t i = 0; i < f->n_tensors; i++) {
                if (!b.used[i]) {
                        k = gemma_error_set(err, -EINVAL, "%s: unexpected tensor '%s' (not part of a Gemma 3n text model)",
                                            f->path, f->tensors[i].name);
                        goto fail;
                }
                w.bytes_total += f->tensors[i].n_bytes;
        }
        w.bytes_ple = gguf_find_tensor(f, "per_layer_token_embd.weight")->n_bytes;
        w.bytes_token_embd = gguf_find_tensor(f, "token_embd.weight")->n_bytes;
        free(b.used);
        *ret = w;
        return 0;

fail:
        free(b.used);
        gemma3n_weights_done(&w);
        return k;
}

void gemma3n_weights_done(Gemma3nWeights *w) {
        free(w->arena);
        free(w->layers);
        w->arena = NULL;
        w->layers = NULL;
}
