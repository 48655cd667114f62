/* Writes random-weight Gemma 3n GGUF files: the key and tensor layout of a converted model, a
 * small SentencePiece-style vocabulary, and weights scaled so activations stay O(1). Each tensor
 * draws from its own stream (seed + name), so its values do not depend on the others. */
#include "make-test.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "gguf/gguf-writer.h"
#include "tensor/type-traits.h"

#define KEY(name) GEMMA3N_ARCH "." name

void gemma3n_test_spec_default(Gemma3nTestSpec *s) {
        *s = (Gemma3nTestSpec) {
                .seed = 1, .n_embd = 64, .n_layer = 8, .n_head = 2, .n_head_kv = 1, .head_dim = 32,
                .n_vocab = 512, .sliding_window = 8, .swa_period = 5, .n_kv_shared = 2, .n_sparse_layers = 3,
                .n_ctx = 4096, .n_embd_ple = 256, .laurel_rank = 64, .n_altup = 4,
                .type = GGML_TYPE_F32, .ple_type = GGML_TYPE_F32,
        };
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                s->n_ff[l] = 128;
}

void gemma3n_test_spec_e2b(Gemma3nTestSpec *s) {
        *s = (Gemma3nTestSpec) {
                .seed = 1, .n_embd = 2048, .n_layer = 30, .n_head = 8, .n_head_kv = 2, .head_dim = 256,
                .n_vocab = 262400, .sliding_window = 512, .swa_period = 5, .n_kv_shared = 10, .n_sparse_layers = 10,
                .n_ctx = 32768, .n_embd_ple = 256, .laurel_rank = 64, .n_altup = 4,
                .type = GGML_TYPE_Q4_0, .ple_type = GGML_TYPE_Q4_0,
        };
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                s->n_ff[l] = 8192;
}

void gemma3n_test_spec_e4b(Gemma3nTestSpec *s) {
        gemma3n_test_spec_e2b(s);
        s->n_layer = 35;
        s->n_kv_shared = 15;
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                s->n_ff[l] = 16384;
}

int gemma3n_test_spec_validate(const Gemma3nTestSpec *s, GemmaError *err) {
        const TypeTraits *t = type_traits(s->type), *tp = type_traits(s->ple_type);
        if (!t || !t->quantize_ref)
                return gemma_error_set(err, -EINVAL, "--type: cannot write weights of type %s", type_name(s->type));
        if (!tp || !tp->quantize_ref)
                return gemma_error_set(err, -EINVAL, "--ple-type: cannot write weights of type %s", type_name(s->ple_type));
        if (s->n_layer == 0 || s->n_layer > GEMMA3N_MAX_LAYERS)
                return gemma_error_set(err, -EINVAL, "--layers must be 1..%d", GEMMA3N_MAX_LAYERS);
        if (s->n_embd == 0 || s->n_embd > 16384 || s->n_embd % 2)
                return gemma_error_set(err, -EINVAL, "--hidden must be even and 2..16384");
        if (s->n_head == 0 || s->n_head_kv == 0 || s->n_head % s->n_head_kv)
                return gemma_error_set(err, -EINVAL, "--heads must be a positive multiple of --kv-heads");
        if (s->head_dim < 2 || s->head_dim % 2 || s->head_dim > 1024)
                return gemma_error_set(err, -EINVAL, "--head-dim must be even and 2..1024");
        if (s->n_vocab < 8 || s->n_vocab > 1u << 20)
                return gemma_error_set(err, -EINVAL, "--vocab must be 8..%u", 1u << 20);
        if (s->vocab && s->vocab->n_tokens != s->n_vocab)
                return gemma_error_set(err, -EINVAL, "--vocab %u does not match the imported vocabulary's %u tokens",
                                       s->n_vocab, s->vocab->n_tokens);
        if (s->sliding_window == 0)
                return gemma_error_set(err, -EINVAL, "--window must be positive");
        if (s->n_kv_shared >= s->n_layer)
                return gemma_error_set(err, -EINVAL, "--kv-shared must be less than --layers");
        if (s->n_altup < 2 || s->n_altup > 16 || s->n_embd_ple == 0 || s->laurel_rank == 0)
                return gemma_error_set(err, -EINVAL, "invalid AltUp/per-layer/LAuReL sizes");
        for (uint32_t l = 0; l < s->n_layer; l++)
                if (s->n_ff[l] == 0 || s->n_ff[l] > 1u << 18)
                        return gemma_error_set(err, -EINVAL, "--ffn: layer %u width %u is out of range (1..%u)", l, s->n_ff[l],
                                               1u << 18);
        /* Every layer that shares KV needs an earlier KV-computing layer of its attention type. */
        uint32_t first_shared = s->n_layer - s->n_kv_shared;
        for (uint32_t l = first_shared; l < s->n_layer; l++) {
                bool swa = s->swa_period == 0 || l % s->swa_period < s->swa_period - 1, found = false;
                for (uint32_t j = 0; j < first_shared; j++)
                        found |= (s->swa_period == 0 || j % s->swa_period < s->swa_period - 1) == swa;
                if (!found)
                        return gemma_error_set(err, -EINVAL,
                                               "--kv-shared %u: layer %u has no earlier %s layer to share KV with",
                                               s->n_kv_shared, l, swa ? "sliding" : "global");
        }
        return 0;
}

/* ---- Random values: splitmix64 streams, uniform with a chosen standard deviation ------------- */

typedef struct Fill {
        uint64_t state;
        uint32_t type;
        uint64_t n_in;
        float std;         /* spread of the random part */
        float mean;        /* norms centre on 1 */
        float *row;        /* n_in floats */
} Fill;

static uint64_t splitmix64(uint64_t *s) {
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s) {
        uint64_t h = 1469598103934665603ull;   /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 1099511628211ull;
        return h;
}

static void fill_row(void *userdata, uint64_t row, void *dst) {
        Fill *f = userdata;
        const float a = f->std * 1.7320508f;   /* uniform on [-a, a] has std a / sqrt(3) */
        (void) row;
        for (uint64_t i = 0; i < f->n_in; i++) {
                double u = (double) (splitmix64(&f->state) >> 11) * (1.0 / 9007199254740992.0);
                f->row[i] = f->mean + (float) (2.0 * u - 1.0) * a;
        }
        type_traits(f->type)->quantize_ref(f->row, dst, f->n_in);
}

typedef struct Maker {
        const Gemma3nTestSpec *spec;
        GgufWriter *w;
        Fill *fills;        /* kept alive until the file is written */
        size_t n_fills, cap_fills;
} Maker;

/* Adds a tensor of random values ne = [n_in, n_out, n_mat]; type falls back to f16 (then f32)
 * when a row is not a whole number of blocks, as quantised converters do for narrow tensors. */
static int add_random(Maker *mk, const char *name, uint32_t type, uint64_t n_in, uint64_t n_out, uint64_t n_mat,
                      float mean, float std) {
        const uint64_t ne[3] = { n_in, n_out, n_mat };
        uint32_t n_dims = n_mat > 1 ? 3 : n_out > 1 ? 2 : 1;

        if (n_in % type_traits(type)->block_elems != 0)
                type = GGML_TYPE_F16;
        if (mk->n_fills == mk->cap_fills) {
                /* Fill records must not move once handed to the writer: allocate them in chunks. */
                return -ENOMEM;
        }
        Fill *f = &mk->fills[mk->n_fills];
        *f = (Fill) { .state = mk->spec->seed * 0x2545f4914f6cdd1dull ^ name_hash(name), .type = type, .n_in = n_in,
                      .std = std, .mean = mean, .row = malloc_multiply(n_in, sizeof(float)) };
        if (!f->row)
                return -ENOMEM;
        mk->n_fills++;
        return gguf_writer_add_tensor_rows(mk->w, name, type, n_dims, ne, fill_row, f);
}

/* ---- Vocabulary ------------------------------------------------------------------------------ */

enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

static const char *const special_tokens[] = {
        "<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
};

/* U+2581, the SentencePiece word-boundary mark that stands for a space. */
#define SP "\xe2\x96\x81"

static const char *const common_pieces[] = {
        SP, SP "the", SP "a", SP "is", SP "of", SP "and",
        SP "to", SP "in", SP "it", SP "you", SP "that", SP "for",
        SP "on", SP "with", SP "as", SP "was", SP "be", SP "are",
        SP "hello", SP "world", SP "model", SP "user", "ing", "ed", "er", "es",
        "th", "he", "in", "an", "re", "on", "at", "en", "nd", "st", "\n", "\n\n", ".", ",", "!", "?", ":", "'", "\"",
        "(", ")", "-",
};

/* An imported vocabulary, written as a GGUF converter writes it. */
static int add_imported_vocabulary(Maker *mk, const Gemma3nTestVocab *v) {
        int k;

        if ((k = gguf_writer_add_string(mk->w, "tokenizer.ggml.model", "llama")) < 0 ||
            (k = gguf_writer_add_string(mk->w, "tokenizer.ggml.pre", "default")) < 0 ||
            (k = gguf_writer_add_string_array(mk->w, "tokenizer.ggml.tokens", v->tokens, v->n_tokens)) < 0 ||
            (k = gguf_writer_add_array(mk->w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n_tokens)) < 0 ||
            (k = gguf_writer_add_array(mk->w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n_tokens)) < 0 ||
            (v->n_merges > 0 &&
             (k = gguf_writer_add_string_array(mk->w, "tokenizer.ggml.merges", v->merges, v->n_merges)) < 0) ||
            (v->bos_id >= 0 && (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.bos_token_id", (uint32_t) v->bos_id)) < 0) ||
            (v->eos_id >= 0 && (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.eos_token_id", (uint32_t) v->eos_id)) < 0) ||
            (v->pad_id >= 0 && (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.padding_token_id", (uint32_t) v->pad_id)) < 0) ||
            (v->unk_id >= 0 && (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.unknown_token_id", (uint32_t) v->unk_id)) < 0) ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_bos_token", true)) < 0 ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_eos_token", false)) < 0 ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_space_prefix", false)) < 0)
                return k;
        return 0;
}

static int add_vocabulary(Maker *mk) {
        const uint32_t V = mk->spec->n_vocab;
        const uint32_t n_special = ELEMENTSOF(special_tokens);
        const bool with_bytes = V >= n_special + 256 + 8;
        char **tokens = new0(char *, V);
        float *scores = new0(float, V);
        int32_t *types = new0(int32_t, V);
        uint32_t i = 0, next_char = 0;
        int k = -ENOMEM;

        if (!tokens || !scores || !types)
                goto out;
        for (uint32_t s = 0; s < n_special && i < V; s++, i++) {
                tokens[i] = strdup(special_tokens[s]);
                types[i] = strcmp(special_tokens[s], "<unk>") == 0 ? TOKEN_UNKNOWN : TOKEN_CONTROL;
        }
        for (uint32_t b = 0; with_bytes && b < 256; b++, i++) {
                if (asprintf(&tokens[i], "<0x%02X>", b) < 0)
                        tokens[i] = NULL;
                types[i] = TOKEN_BYTE;
        }
        for (uint32_t p = 0; p < ELEMENTSOF(common_pieces) && i < V; p++, i++) {
                tokens[i] = strdup(common_pieces[p]);
                types[i] = TOKEN_NORMAL;
                scores[i] = -(float) p;
        }
        /* The rest: single ASCII letters and digits, then numbered filler pieces. */
        static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (; i < V; i++) {
                if (next_char < sizeof(chars) - 1) {
                        tokens[i] = strndup(&chars[next_char++], 1);
                } else if (asprintf(&tokens[i], SP "tok%u", i) < 0)
                        tokens[i] = NULL;
                types[i] = TOKEN_NORMAL;
                scores[i] = -100.0f - (float) i;
        }
        for (i = 0; i < V; i++)
                if (!tokens[i])
                        goto out;

        if ((k = gguf_writer_add_string(mk->w, "tokenizer.ggml.model", "llama")) < 0 ||
            (k = gguf_writer_add_string(mk->w, "tokenizer.ggml.pre", "default")) < 0 ||
            (k = gguf_writer_add_string_array(mk->w, "tokenizer.ggml.tokens", (const char *const *) tokens, V)) < 0 ||
            (k = gguf_writer_add_array(mk->w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, V)) < 0 ||
            (k = gguf_writer_add_array(mk->w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, V)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.padding_token_id", 0)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.eos_token_id", 1)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.bos_token_id", 2)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, "tokenizer.ggml.unknown_token_id", 3)) < 0 ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_bos_token", true)) < 0 ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_eos_token", false)) < 0 ||
            (k = gguf_writer_add_bool(mk->w, "tokenizer.ggml.add_space_prefix", false)) < 0 ||
            (k = gguf_writer_add_string(mk->w, "tokenizer.chat_template",
                                        "{{ bos_token }}{% for message in messages %}<start_of_turn>"
                                        "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
                                        "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
                                        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")) < 0)
                goto out;
        k = 0;
out:
        for (i = 0; tokens && i < V; i++)
                free(tokens[i]);
        free(tokens);
        free(scores);
        free(types);
        return k;
}

/* ---- Keys and tensors ------------------------------------------------------------------------ */

/* general.file_type: the file's main weight type as the common GGUF "file type" numbers it (the
 * "mostly X" values other runtimes read to name a model's quantisation; the K types as their
 * uniform "_S" variants). UINT32_MAX for a type without a number. */
static uint32_t file_type_of(uint32_t type) {
        switch (type) {
        case GGML_TYPE_F32:
                return 0;
        case GGML_TYPE_F16:
                return 1;
        case GGML_TYPE_Q4_0:
                return 2;
        case GGML_TYPE_Q4_1:
                return 3;
        case GGML_TYPE_Q8_0:
                return 7;
        case GGML_TYPE_Q5_0:
                return 8;
        case GGML_TYPE_Q5_1:
                return 9;
        case GGML_TYPE_Q4_K:
                return 14;
        case GGML_TYPE_Q5_K:
                return 16;
        case GGML_TYPE_Q6_K:
                return 18;
        case GGML_TYPE_BF16:
                return 32;
        default:
                return UINT32_MAX;
        }
}

static int add_keys(Maker *mk) {
        const Gemma3nTestSpec *s = mk->spec;
        int32_t ff[GEMMA3N_MAX_LAYERS];
        float sparsity[GEMMA3N_MAX_LAYERS];
        uint8_t swa[GEMMA3N_MAX_LAYERS];
        int k;

        for (uint32_t l = 0; l < s->n_layer; l++) {
                ff[l] = (int32_t) s->n_ff[l];
                /* Phi^-1(0.95) as the reference computes it in f32; dense layers carry -inf. */
                sparsity[l] = l < s->n_sparse_layers ? 1.6448533535003662f : -INFINITY;
                swa[l] = s->swa_period == 0 || l % s->swa_period < s->swa_period - 1;
        }
        if ((k = gguf_writer_add_string(mk->w, "general.architecture", GEMMA3N_ARCH)) < 0 ||
            (k = gguf_writer_add_string(mk->w, "general.name", "gemmad random-weight test model")) < 0 ||
            (k = gguf_writer_add_u32(mk->w, "general.quantization_version", 2)) < 0 ||
            (file_type_of(s->type) != UINT32_MAX &&
             (k = gguf_writer_add_u32(mk->w, "general.file_type", file_type_of(s->type))) < 0) ||
            (k = gguf_writer_add_u32(mk->w, KEY("context_length"), s->n_ctx)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("embedding_length"), s->n_embd)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("block_count"), s->n_layer)) < 0 ||
            (k = gguf_writer_add_array(mk->w, KEY("feed_forward_length"), GGUF_TYPE_INT32, ff, s->n_layer)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.head_count"), s->n_head)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.head_count_kv"), s->n_head_kv)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.key_length"), s->head_dim)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.value_length"), s->head_dim)) < 0 ||
            (k = gguf_writer_add_f32(mk->w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.sliding_window"), s->sliding_window)) < 0 ||
            (k = gguf_writer_add_array(mk->w, KEY("attention.sliding_window_pattern"), GGUF_TYPE_BOOL, swa, s->n_layer)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("attention.shared_kv_layers"), s->n_kv_shared)) < 0 ||
            (k = gguf_writer_add_f32(mk->w, KEY("rope.freq_base"), 1000000.0f)) < 0 ||
            (k = gguf_writer_add_f32(mk->w, KEY("rope.freq_base_swa"), 10000.0f)) < 0 ||
            (k = gguf_writer_add_f32(mk->w, KEY("final_logit_softcapping"), 30.0f)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("altup.active_idx"), 0)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("altup.num_inputs"), s->n_altup)) < 0 ||
            (k = gguf_writer_add_u32(mk->w, KEY("embedding_length_per_layer_input"), s->n_embd_ple)) < 0 ||
            (k = gguf_writer_add_array(mk->w, KEY("activation_sparsity_scale"), GGUF_TYPE_FLOAT32, sparsity, s->n_layer)) < 0)
                return k;
        return s->vocab ? add_imported_vocabulary(mk, s->vocab) : add_vocabulary(mk);
}

static int add_tensors(Maker *mk) {
        const Gemma3nTestSpec *s = mk->spec;
        const uint64_t D = s->n_embd, P = s->n_embd_ple, L = s->n_layer, n = s->n_altup, R = s->laurel_rank;
        const uint64_t qd = (uint64_t) s->n_head * s->head_dim, kvd = (uint64_t) s->n_head_kv * s->head_dim;
        const uint32_t T = s->type, F32 = GGML_TYPE_F32;
        const float norm_std = 0.1f;
        char name[96];
        int k;

        /* Linear layers: std 1/sqrt(fan-in) keeps every projection's output at unit scale. */
#define W(in) (1.0f / sqrtf((float) (in)))
        if ((k = add_random(mk, "token_embd.weight", T, D, s->n_vocab, 1, 0.0f, W(D))) < 0 ||
            (k = add_random(mk, "per_layer_token_embd.weight", s->ple_type, L * P, s->n_vocab, 1, 0.0f, 0.5f)) < 0 ||
            (k = add_random(mk, "per_layer_model_proj.weight", T, D, L * P, 1, 0.0f, W(D))) < 0 ||
            (k = add_random(mk, "per_layer_proj_norm.weight", F32, P, 1, 1, 1.0f, norm_std)) < 0 ||
            (k = add_random(mk, "altup_proj.weight", T, D, D, n - 1, 0.0f, W(D))) < 0 ||
            (k = add_random(mk, "altup_unembd_proj.weight", T, D, D, n - 1, 0.0f, W(D))) < 0 ||
            (k = add_random(mk, "output_norm.weight", F32, D, 1, 1, 1.0f, norm_std)) < 0)
                return k;

        for (uint32_t l = 0; l < L; l++) {
                const uint64_t F = s->n_ff[l];
#define NAME(x) (snprintf(name, sizeof(name), "blk.%u." x ".weight", l), name)
                if ((k = add_random(mk, NAME("attn_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("attn_q"), T, D, qd, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("attn_k"), T, D, kvd, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("attn_v"), T, D, kvd, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("attn_output"), T, qd, D, 1, 0.0f, W(qd))) < 0 ||
                    (k = add_random(mk, NAME("attn_q_norm"), F32, s->head_dim, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("attn_k_norm"), F32, s->head_dim, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("post_attention_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("ffn_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("ffn_gate"), T, D, F, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("ffn_up"), T, D, F, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("ffn_down"), T, F, D, 1, 0.0f, W(F))) < 0 ||
                    (k = add_random(mk, NAME("post_ffw_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("inp_gate"), T, D, P, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("proj"), T, P, D, 1, 0.0f, W(P))) < 0 ||
                    (k = add_random(mk, NAME("post_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("altup_correct_coef"), F32, n, n, 1, 0.0f, 0.1f)) < 0 ||
                    (k = add_random(mk, NAME("altup_correct_scale"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("altup_predict_coef"), F32, n, n * n, 1, 0.0f, 0.1f)) < 0 ||
                    (k = add_random(mk, NAME("altup_router"), T, D, n, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("altup_router_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0 ||
                    (k = add_random(mk, NAME("laurel_l"), T, D, R, 1, 0.0f, W(D))) < 0 ||
                    (k = add_random(mk, NAME("laurel_r"), T, R, D, 1, 0.0f, W(R))) < 0 ||
                    (k = add_random(mk, NAME("laurel_post_norm"), F32, D, 1, 1, 1.0f, norm_std)) < 0)
                        return k;
#undef NAME
        }
#undef W
        return 0;
}

int gemma3n_make_test_model(const Gemma3nTestSpec *s, const char *path, GemmaError *err) {
        Maker mk = { .spec = s };
        int k;

        if ((k = gemma3n_test_spec_validate(s, err)) < 0)
                return k;
        mk.cap_fills = 7 + 24 * (size_t) s->n_layer;
        mk.fills = new0(Fill, mk.cap_fills);
        mk.w = gguf_writer_new();
        if (!mk.fills || !mk.w) {
                k = gemma_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        if ((k = add_keys(&mk)) < 0 || (k = add_tensors(&mk)) < 0) {
                k = gemma_error_set(err, k, "%s: cannot build the model: %s", path, strerror(-k));
                goto out;
        }
        k = gguf_writer_write(mk.w, path, err);
out:
        for (size_t i = 0; i < mk.n_fills; i++)
                free(mk.fills[i].row);
        free(mk.fills);
        gguf_writer_free(mk.w);
        return k;
}
