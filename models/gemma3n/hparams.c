/* Reads every gemma3n.* key into Gemma3nHParams and validates the combination. Falls back to the
 * published values only for keys that older converters do not write. */
#include "hparams.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define KEY(name) GEMMA3N_ARCH "." name

/* The std multiplier that the reference computes for a 0.95 target in f32 (Phi^-1(0.95)). Used
 * only when a file has no activation_sparsity_scale key. */
#define GEMMA3N_DEFAULT_SPARSITY_K 1.6448533535003662f
#define GEMMA3N_DEFAULT_SPARSE_LAYERS 10
#define GEMMA3N_DEFAULT_SWA_PERIOD 5

static int get_required_u32(const GgufFile *f, const char *key, uint32_t *v, GemmaError *err) {
        int k = gguf_get_u32(f, key, v, err);
        if (k == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: missing required key '%s'", f->path, key);
        return k;
}

static int get_optional_u32(const GgufFile *f, const char *key, uint32_t def, uint32_t *v, GemmaError *err) {
        int k = gguf_get_u32(f, key, v, err);
        if (k == -ENOENT) {
                *v = def;
                return 0;
        }
        return k;
}

static int get_optional_f32(const GgufFile *f, const char *key, float def, float *v, GemmaError *err) {
        int k = gguf_get_f32(f, key, v, err);
        if (k == -ENOENT) {
                *v = def;
                return 0;
        }
        return k;
}

static int check_range(const GgufFile *f, const char *key, uint64_t v, uint64_t lo, uint64_t hi, GemmaError *err) {
        if (v < lo || v > hi)
                return gemma_error_set(err, -EINVAL, "%s: key '%s' is %llu (allowed %llu..%llu)", f->path, key,
                                       (unsigned long long) v, (unsigned long long) lo, (unsigned long long) hi);
        return 0;
}

/* Sliding-window pattern: an array of bools (true = sliding), or a scalar period n where every
 * n-th layer (index % n == n - 1) is global; absent means period 5. */
static int load_swa_pattern(const GgufFile *f, Gemma3nHParams *hp, GemmaError *err) {
        const char *key = KEY("attention.sliding_window_pattern");
        const GgufKv *kv = gguf_find_kv(f, key);
        uint32_t period = GEMMA3N_DEFAULT_SWA_PERIOD;

        if (kv && kv->value.type == GGUF_TYPE_ARRAY)
                return gguf_get_bool_per_layer(f, key, hp->n_layer, hp->is_swa, err);
        if (kv) {
                int k = gguf_get_u32(f, key, &period, err);
                if (k < 0)
                        return k;
        }
        for (uint32_t l = 0; l < hp->n_layer; l++)
                hp->is_swa[l] = period == 0 || l % period < period - 1;
        return 0;
}

static int load_sparsity(const GgufFile *f, Gemma3nHParams *hp, GemmaError *err) {
        const char *key = KEY("activation_sparsity_scale");
        int k = gguf_get_f32_per_layer(f, key, hp->n_layer, hp->sparsity_k, err);

        if (k == -ENOENT) {
                for (uint32_t l = 0; l < hp->n_layer; l++)
                        hp->sparsity_k[l] = l < GEMMA3N_DEFAULT_SPARSE_LAYERS ? GEMMA3N_DEFAULT_SPARSITY_K : 0.0f;
                return 0;
        }
        if (k < 0)
                return k;
        /* Dense layers carry Phi^-1(0) = -inf (or 0); the reference sparsifies only when the
         * target sparsity is above zero, i.e. when the multiplier is finite and positive. */
        for (uint32_t l = 0; l < hp->n_layer; l++)
                if (!isfinite(hp->sparsity_k[l]) || hp->sparsity_k[l] <= 0.0f)
                        hp->sparsity_k[l] = 0.0f;
        return 0;
}

/* Layers from n_layer - n_kv_shared on attend to the KV of the last earlier layer of the same
 * attention type that computes its own. */
static int derive_kv_sources(const GgufFile *f, Gemma3nHParams *hp, GemmaError *err) {
        uint32_t first_shared = hp->n_layer - hp->n_kv_shared;

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                if (l < first_shared) {
                        hp->kv_source[l] = l;
                        continue;
                }
                uint32_t src = UINT32_MAX;
                for (uint32_t j = first_shared; j-- > 0;)
                        if (hp->is_swa[j] == hp->is_swa[l]) {
                                src = j;
                                break;
                        }
                if (src == UINT32_MAX)
                        return gemma_error_set(err, -EINVAL,
                                               "%s: layer %u shares KV but no earlier layer of its type (%s) computes KV",
                                               f->path, l, hp->is_swa[l] ? "sliding" : "global");
                hp->kv_source[l] = src;
        }
        return 0;
}

int gemma3n_hparams_load(const GgufFile *f, Gemma3nHParams *ret, GemmaError *err) {
        Gemma3nHParams hp = { 0 };
        GgufString arch;
        uint32_t value_length;
        int k;

        k = gguf_get_string(f, "general.architecture", &arch, err);
        if (k == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: missing key 'general.architecture'", f->path);
        if (k < 0)
                return k;
        if (arch.len != strlen(GEMMA3N_ARCH) || memcmp(arch.ptr, GEMMA3N_ARCH, arch.len) != 0)
                return gemma_error_set(err, -EINVAL, "%s: architecture is '%.*s', expected '" GEMMA3N_ARCH "'",
                                       f->path, (int) (arch.len > 64 ? 64 : arch.len), arch.ptr);

        if ((k = get_required_u32(f, KEY("embedding_length"), &hp.n_embd, err)) < 0 ||
            (k = get_required_u32(f, KEY("block_count"), &hp.n_layer, err)) < 0 ||
            (k = get_required_u32(f, KEY("attention.head_count"), &hp.n_head, err)) < 0 ||
            (k = get_required_u32(f, KEY("attention.sliding_window"), &hp.sliding_window, err)) < 0 ||
            (k = get_optional_u32(f, KEY("attention.head_count_kv"), hp.n_head, &hp.n_head_kv, err)) < 0 ||
            (k = get_optional_u32(f, KEY("context_length"), 32768, &hp.n_ctx_train, err)) < 0 ||
            (k = get_optional_u32(f, KEY("embedding_length_per_layer_input"), 256, &hp.n_embd_ple, err)) < 0 ||
            (k = get_optional_u32(f, KEY("altup.num_inputs"), 4, &hp.n_altup, err)) < 0 ||
            (k = get_optional_u32(f, KEY("altup.active_idx"), 0, &hp.altup_active, err)) < 0 ||
            (k = get_optional_u32(f, KEY("attention.shared_kv_layers"), 0, &hp.n_kv_shared, err)) < 0 ||
            (k = get_optional_f32(f, KEY("rope.freq_base"), 1000000.0f, &hp.rope_base, err)) < 0 ||
            (k = get_optional_f32(f, KEY("rope.freq_base_swa"), 10000.0f, &hp.rope_base_swa, err)) < 0 ||
            (k = get_optional_f32(f, KEY("attention.layer_norm_rms_epsilon"), 1e-6f, &hp.norm_eps, err)) < 0 ||
            (k = get_optional_f32(f, KEY("final_logit_softcapping"), 30.0f, &hp.final_softcap, err)) < 0)
                return k;

        if ((k = check_range(f, KEY("embedding_length"), hp.n_embd, 1, 1 << 16, err)) < 0 ||
            (k = check_range(f, KEY("block_count"), hp.n_layer, 1, GEMMA3N_MAX_LAYERS, err)) < 0 ||
            (k = check_range(f, KEY("attention.head_count"), hp.n_head, 1, 1024, err)) < 0 ||
            (k = check_range(f, KEY("attention.head_count_kv"), hp.n_head_kv, 1, hp.n_head, err)) < 0 ||
            (k = check_range(f, KEY("attention.sliding_window"), hp.sliding_window, 1, 1u << 24, err)) < 0 ||
            (k = check_range(f, KEY("context_length"), hp.n_ctx_train, 1, 1u << 24, err)) < 0 ||
            (k = check_range(f, KEY("embedding_length_per_layer_input"), hp.n_embd_ple, 1, 1 << 16, err)) < 0 ||
            (k = check_range(f, KEY("altup.num_inputs"), hp.n_altup, 2, 16, err)) < 0 ||
            (k = check_range(f, KEY("altup.active_idx"), hp.altup_active, 0, hp.n_altup - 1, err)) < 0 ||
            (k = check_range(f, KEY("attention.shared_kv_layers"), hp.n_kv_shared, 0, hp.n_layer - 1, err)) < 0)
                return k;
        if (hp.n_head % hp.n_head_kv != 0)
                return gemma_error_set(err, -EINVAL, "%s: %u query heads are not a multiple of %u KV heads", f->path,
                                       hp.n_head, hp.n_head_kv);

        if ((k = get_optional_u32(f, KEY("attention.key_length"), hp.n_embd / hp.n_head, &hp.head_dim, err)) < 0 ||
            (k = get_optional_u32(f, KEY("attention.value_length"), hp.head_dim, &value_length, err)) < 0)
                return k;
        if ((k = check_range(f, KEY("attention.key_length"), hp.head_dim, 2, 4096, err)) < 0)
                return k;
        if (hp.head_dim % 2 != 0)
                return gemma_error_set(err, -EINVAL, "%s: head dimension %u is odd (RoPE rotates pairs)", f->path, hp.head_dim);
        if (value_length != hp.head_dim)
                return gemma_error_set(err, -EINVAL, "%s: attention.value_length %u differs from key_length %u", f->path,
                                       value_length, hp.head_dim);
        if (!(hp.norm_eps > 0.0f && hp.norm_eps < 1.0f))
                return gemma_error_set(err, -EINVAL, "%s: attention.layer_norm_rms_epsilon %g is out of range (0..1)", f->path,
                                       hp.norm_eps);
        if (!(hp.rope_base > 1.0f && isfinite(hp.rope_base)) || !(hp.rope_base_swa > 1.0f && isfinite(hp.rope_base_swa)))
                return gemma_error_set(err, -EINVAL, "%s: RoPE bases must be finite and > 1 (global %g, sliding %g)", f->path,
                                       hp.rope_base, hp.rope_base_swa);
        if (!isfinite(hp.final_softcap) || hp.final_softcap < 0.0f)
                return gemma_error_set(err, -EINVAL, "%s: final_logit_softcapping %g is invalid", f->path, hp.final_softcap);

        k = gguf_get_u32_per_layer(f, KEY("feed_forward_length"), hp.n_layer, hp.n_ff, err);
        if (k == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: missing required key '%s'", f->path, KEY("feed_forward_length"));
        if (k < 0)
                return k;
        for (uint32_t l = 0; l < hp.n_layer; l++)
                if (hp.n_ff[l] == 0 || hp.n_ff[l] > (1u << 20))
                        return gemma_error_set(err, -EINVAL, "%s: feed_forward_length of layer %u is %u (allowed 1..%u)", f->path,
                                               l, hp.n_ff[l], 1u << 20);

        if ((k = load_swa_pattern(f, &hp, err)) < 0 || (k = load_sparsity(f, &hp, err)) < 0 ||
            (k = derive_kv_sources(f, &hp, err)) < 0)
                return k;

        /* Tensor-derived sizes; weights.c verifies every shape against them. */
        const GgufTensor *t = gguf_find_tensor(f, "token_embd.weight");
        if (!t)
                return gemma_error_set(err, -EINVAL, "%s: missing tensor 'token_embd.weight'", f->path);
        if (t->ne[1] > INT32_MAX)
                return gemma_error_set(err, -EINVAL, "%s: vocabulary of %llu rows is too large", f->path, (unsigned long long) t->ne[1]);
        hp.n_vocab = (uint32_t) t->ne[1];
        t = gguf_find_tensor(f, "per_layer_token_embd.weight");
        if (!t)
                return gemma_error_set(err, -EINVAL, "%s: missing tensor 'per_layer_token_embd.weight'", f->path);
        if (t->ne[1] > INT32_MAX)
                return gemma_error_set(err, -EINVAL, "%s: per-layer vocabulary is too large", f->path);
        hp.n_vocab_ple = (uint32_t) t->ne[1];
        t = gguf_find_tensor(f, "blk.0.laurel_l.weight");
        if (!t)
                return gemma_error_set(err, -EINVAL, "%s: missing tensor 'blk.0.laurel_l.weight'", f->path);
        if (t->ne[1] == 0 || t->ne[1] > hp.n_embd)
                return gemma_error_set(err, -EINVAL, "%s: LAuReL rank %llu is out of range", f->path, (unsigned long long) t->ne[1]);
        hp.laurel_rank = (uint32_t) t->ne[1];

        *ret = hp;
        return 0;
}
