/* gemma3n_slice_export(): a MatFormer slice written as a model file of its own (matformer.h says
 * what changes). Keys are rebuilt in memory; tensor rows are copied from the mapped source while
 * the file is written. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "gguf/gguf-writer.h"
#include "matformer.h"
#include "tensor/type-traits.h"

#define ARCH_PREFIX GEMMA3N_ARCH "."
/* What the loader assumes when a file lacks the per-layer arrays (hparams.c). */
#define DEFAULT_SWA_PERIOD 5
#define DEFAULT_SPARSE_LAYERS 10
#define DEFAULT_SPARSITY_K 1.6448533535003662f

typedef enum CutKind {
        CUT_COPY,          /* rows as they are (also ffn_gate/ffn_up: fewer rows) */
        CUT_ROW_PREFIX,    /* the first out_row_bytes of every row (ffn_down) */
        CUT_PLE_CHUNKS,    /* the kept layers' chunks of every row (per_layer_token_embd) */
        CUT_PLE_ROWS,      /* the kept layers' blocks of rows (per_layer_model_proj) */
} CutKind;

typedef struct Cut {
        CutKind kind;
        const uint8_t *src;
        uint64_t src_row_bytes;
        uint64_t out_row_bytes;
        uint64_t chunk;             /* PLE: bytes of one chunk (CUT_PLE_CHUNKS), rows of one (CUT_PLE_ROWS) */
        const uint32_t *kept;       /* old layer index of each new one */
} Cut;

static void cut_row(void *userdata, uint64_t row, void *dst) {
        const Cut *c = userdata;
        uint8_t *out = dst;
        switch (c->kind) {
        case CUT_COPY:
        case CUT_ROW_PREFIX:
                memcpy(out, c->src + row * c->src_row_bytes, c->out_row_bytes);
                break;
        case CUT_PLE_CHUNKS:
                for (uint64_t k = 0; k * c->chunk < c->out_row_bytes; k++)
                        memcpy(out + k * c->chunk, c->src + row * c->src_row_bytes + c->kept[k] * c->chunk, c->chunk);
                break;
        case CUT_PLE_ROWS: {
                uint64_t old = (uint64_t) c->kept[row / c->chunk] * c->chunk + row % c->chunk;
                memcpy(out, c->src + old * c->src_row_bytes, c->out_row_bytes);
                break;
        }
        }
}

typedef struct Exporter {
        const Gemma3nModel *m;
        const Gemma3nSlice *s;
        GgufWriter *w;
        uint32_t kept[GEMMA3N_MAX_LAYERS];   /* old index of new layer i */
        uint32_t n_kept;
        uint32_t n_shared_skipped;
        Cut *cuts;                           /* one per tensor, alive until the file is written */
        size_t n_cuts;
        GemmaError *err;
} Exporter;

/* ---- Keys ------------------------------------------------------------------------------------ */

static bool is_arch_key(const char *key, const char *name) {
        return strncmp(key, ARCH_PREFIX, strlen(ARCH_PREFIX)) == 0 && strcmp(key + strlen(ARCH_PREFIX), name) == 0;
}

/* The kept layers' elements of a per-layer array. */
static int add_array_subset(Exporter *x, const char *key, const GgufArray *a) {
        GgufValue v = { .type = GGUF_TYPE_ARRAY };
        _cleanup_free_ void *elems = NULL;
        size_t size = gguf_type_size(a->elem_type);

        v.arr.elem_type = a->elem_type;
        v.arr.count = x->n_kept;
        if (a->elem_type == GGUF_TYPE_STRING) {
                GgufString *s = new0(GgufString, x->n_kept);
                if (!(elems = s))
                        return -ENOMEM;
                for (uint32_t i = 0; i < x->n_kept; i++)
                        s[i] = a->strings[x->kept[i]];
                v.arr.strings = s;
        } else if (a->elem_type == GGUF_TYPE_ARRAY) {
                GgufValue *s = new0(GgufValue, x->n_kept);
                if (!(elems = s))
                        return -ENOMEM;
                for (uint32_t i = 0; i < x->n_kept; i++)
                        s[i] = a->arrays[x->kept[i]];
                v.arr.arrays = s;
        } else {
                uint8_t *d = malloc_multiply(x->n_kept, size);
                if (!(elems = d))
                        return -ENOMEM;
                for (uint32_t i = 0; i < x->n_kept; i++)
                        memcpy(d + (size_t) i * size, (const uint8_t *) a->data + (size_t) x->kept[i] * size, size);
                v.arr.data = d;
        }
        return gguf_writer_add_value(x->w, key, &v);
}

static bool slice_uniform(const Exporter *x) {
        for (uint32_t i = 1; i < x->n_kept; i++)
                if (x->s->ffn_units[x->kept[i]] != x->s->ffn_units[x->kept[0]])
                        return false;
        return true;
}

static int add_ffn_length(Exporter *x, const char *key, const GgufValue *src) {
        if (src->type != GGUF_TYPE_ARRAY && slice_uniform(x))
                return gguf_writer_add_u32(x->w, key, x->s->ffn_units[x->kept[0]]);
        /* An array, in the source's element type when that is a 32-bit integer. */
        const bool unsigned32 = src->type == GGUF_TYPE_ARRAY && src->arr.elem_type == GGUF_TYPE_UINT32;
        uint32_t v[GEMMA3N_MAX_LAYERS];
        for (uint32_t i = 0; i < x->n_kept; i++)
                v[i] = x->s->ffn_units[x->kept[i]];
        return gguf_writer_add_array(x->w, key, unsigned32 ? GGUF_TYPE_UINT32 : GGUF_TYPE_INT32, v, x->n_kept);
}

static int add_swa_array(Exporter *x, const char *key) {
        uint8_t v[GEMMA3N_MAX_LAYERS];
        for (uint32_t i = 0; i < x->n_kept; i++)
                v[i] = x->m->hp.is_swa[x->kept[i]];
        return gguf_writer_add_array(x->w, key, GGUF_TYPE_BOOL, v, x->n_kept);
}

/* Whether the kept layers' attention types follow "every period-th layer is global" when
 * renumbered (period 0: all sliding), so a scalar period (or its absence) still describes them. */
static bool swa_period_holds(const Exporter *x, uint32_t period) {
        for (uint32_t i = 0; i < x->n_kept; i++)
                if (x->m->hp.is_swa[x->kept[i]] != (period == 0 || i % period < period - 1))
                        return false;
        return true;
}

static int add_sparsity_array(Exporter *x, const char *key) {
        float v[GEMMA3N_MAX_LAYERS];
        for (uint32_t i = 0; i < x->n_kept; i++) {
                float k = x->m->hp.sparsity_k[x->kept[i]];
                v[i] = k > 0.0f ? k : -INFINITY;   /* dense layers carry Phi^-1(0), as converters write */
        }
        return gguf_writer_add_array(x->w, key, GGUF_TYPE_FLOAT32, v, x->n_kept);
}

static bool sparsity_default_holds(const Exporter *x) {
        for (uint32_t i = 0; i < x->n_kept; i++) {
                const float k = x->m->hp.sparsity_k[x->kept[i]];
                if (k != (i < DEFAULT_SPARSE_LAYERS ? DEFAULT_SPARSITY_K : 0.0f))
                        return false;
        }
        return true;
}

static int add_keys(Exporter *x) {
        const GgufFile *f = x->m->file;
        const Gemma3nHParams *hp = &x->m->hp;
        const char *swa_key = ARCH_PREFIX "attention.sliding_window_pattern";
        const char *sparsity_key = ARCH_PREFIX "activation_sparsity_scale";
        bool have_swa = false, have_sparsity = false;
        int k;

        for (size_t i = 0; i < f->n_kvs; i++) {
                const char *key = f->kvs[i].key;
                const GgufValue *v = &f->kvs[i].value;
                const bool per_layer_array = v->type == GGUF_TYPE_ARRAY && v->arr.count == hp->n_layer;

                if (strcmp(key, "gemmad.slice") == 0)
                        continue;   /* re-exporting an export: written anew below */
                if (is_arch_key(key, "block_count"))
                        k = gguf_writer_add_u32(x->w, key, x->n_kept);
                else if (is_arch_key(key, "feed_forward_length"))
                        k = add_ffn_length(x, key, v);
                else if (is_arch_key(key, "attention.shared_kv_layers"))
                        k = gguf_writer_add_u32(x->w, key, hp->n_kv_shared - x->n_shared_skipped);
                else if (is_arch_key(key, "attention.sliding_window_pattern")) {
                        uint32_t period;
                        have_swa = true;
                        if (per_layer_array)
                                k = add_array_subset(x, key, &v->arr);
                        else if (v->type != GGUF_TYPE_ARRAY && gguf_get_u32(f, key, &period, NULL) == 0 &&
                                 swa_period_holds(x, period))
                                k = gguf_writer_add_value(x->w, key, v);
                        else
                                k = add_swa_array(x, key);
                } else if (is_arch_key(key, "activation_sparsity_scale")) {
                        have_sparsity = true;
                        k = per_layer_array ? add_array_subset(x, key, &v->arr) : gguf_writer_add_value(x->w, key, v);
                } else if (per_layer_array && strncmp(key, ARCH_PREFIX, strlen(ARCH_PREFIX)) == 0)
                        k = add_array_subset(x, key, &v->arr);
                else
                        k = gguf_writer_add_value(x->w, key, v);
                if (k < 0)
                        return k;
        }
        /* Defaults that the renumbering would change become explicit arrays. */
        if (!have_swa && !swa_period_holds(x, DEFAULT_SWA_PERIOD) && (k = add_swa_array(x, swa_key)) < 0)
                return k;
        if (!have_sparsity && !sparsity_default_holds(x) && (k = add_sparsity_array(x, sparsity_key)) < 0)
                return k;

        _cleanup_free_ char *spec = gemma3n_slice_format(x->m, x->s);
        if (!spec)
                return -ENOMEM;
        return gguf_writer_add_string(x->w, "gemmad.slice", spec);
}

/* ---- Tensors --------------------------------------------------------------------------------- */

/* "blk.N.rest": N and rest; false for other names. */
static bool parse_layer_name(const char *name, uint32_t *ret_layer, const char **ret_rest) {
        if (strncmp(name, "blk.", 4) != 0 || name[4] < '0' || name[4] > '9')
                return false;
        char *end;
        unsigned long l = strtoul(name + 4, &end, 10);
        if (*end != '.' || l >= GEMMA3N_MAX_LAYERS)
                return false;
        *ret_layer = (uint32_t) l;
        *ret_rest = end + 1;
        return true;
}

static int add_tensor(Exporter *x, const GgufTensor *t) {
        const Gemma3nHParams *hp = &x->m->hp;
        const uint64_t P = hp->n_embd_ple;
        uint64_t ne[GGUF_MAX_DIMS], src_row_bytes;
        char name[GGUF_MAX_NAME + 16];
        const char *out_name = t->name, *rest;
        uint32_t layer;

        memcpy(ne, t->ne, sizeof(ne));
        if (!type_row_bytes(t->type, ne[0], &src_row_bytes))
                return gemma_error_set(x->err, -EINVAL, "%s: tensor '%s' has rows that are not whole blocks", x->m->file->path,
                                       t->name);
        Cut *c = &x->cuts[x->n_cuts];
        *c = (Cut) { .kind = CUT_COPY, .src = t->data, .src_row_bytes = src_row_bytes, .out_row_bytes = src_row_bytes,
                     .kept = x->kept };

        if (parse_layer_name(t->name, &layer, &rest) && layer < hp->n_layer) {
                if (x->s->skip[layer])
                        return 0;
                uint32_t new_layer = 0;
                while (x->kept[new_layer] != layer)
                        new_layer++;
                snprintf(name, sizeof(name), "blk.%u.%s", new_layer, rest);
                out_name = name;
                const uint64_t F = x->s->ffn_units[layer];
                if (strcmp(rest, "ffn_gate.weight") == 0 || strcmp(rest, "ffn_up.weight") == 0)
                        ne[1] = F;   /* the first F rows */
                else if (strcmp(rest, "ffn_down.weight") == 0) {
                        ne[0] = F;   /* the first F values of every row */
                        c->kind = CUT_ROW_PREFIX;
                        if (!type_row_bytes(t->type, F, &c->out_row_bytes))
                                return gemma_error_set(x->err, -EINVAL, "slice: layer %u: %llu FFN units are not whole %s blocks",
                                                       layer, (unsigned long long) F, type_name(t->type));
                }
        } else if (strcmp(t->name, "per_layer_token_embd.weight") == 0) {
                if (!type_row_bytes(t->type, P, &c->chunk) || ne[0] != hp->n_layer * P)
                        return gemma_error_set(x->err, -EINVAL,
                                               "slice: cannot cut per_layer_token_embd: a layer's chunk of %llu values is not whole %s blocks",
                                               (unsigned long long) P, type_name(t->type));
                ne[0] = x->n_kept * P;
                c->kind = CUT_PLE_CHUNKS;
                c->out_row_bytes = x->n_kept * c->chunk;
        } else if (strcmp(t->name, "per_layer_model_proj.weight") == 0) {
                if (ne[1] != hp->n_layer * P)
                        return gemma_error_set(x->err, -EINVAL, "slice: per_layer_model_proj has %llu rows, not %u x %llu",
                                               (unsigned long long) ne[1], hp->n_layer, (unsigned long long) P);
                ne[1] = x->n_kept * P;
                c->kind = CUT_PLE_ROWS;
                c->chunk = P;
        }
        x->n_cuts++;
        int k = gguf_writer_add_tensor_rows(x->w, out_name, t->type, t->n_dims, ne, cut_row, c);
        if (k < 0)
                return gemma_error_set(x->err, k, "slice: cannot add tensor '%s': %s", out_name, strerror(-k));
        return 0;
}

int gemma3n_slice_export(const Gemma3nModel *m, const Gemma3nSlice *s, const char *path, GemmaError *err) {
        const Gemma3nHParams *hp = &m->hp;
        const GgufFile *f = m->file;
        Exporter x = { .m = m, .s = s, .err = err };
        int k;

        if ((k = gemma3n_slice_validate(m, s, err)) < 0)
                return k;
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                if (!s->skip[l])
                        x.kept[x.n_kept++] = l;
                else if (!gemma3n_layer_owns_kv(hp, l))
                        x.n_shared_skipped++;
        }
        x.w = gguf_writer_new();
        x.cuts = new0(Cut, f->n_tensors ? f->n_tensors : 1);
        if (!x.w || !x.cuts) {
                k = gemma_error_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        if ((k = add_keys(&x)) < 0) {
                k = gemma_error_set(err, k, "%s: cannot build the metadata: %s", path, strerror(-k));
                goto out;
        }
        for (size_t i = 0; i < f->n_tensors; i++)
                if ((k = add_tensor(&x, &f->tensors[i])) < 0)
                        goto out;
        k = gguf_writer_write(x.w, path, err);
out:
        gguf_writer_free(x.w);
        free(x.cuts);
        return k;
}
