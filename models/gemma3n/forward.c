/* Gemma 3n forward pass, top to bottom in the order of the reference model (Hugging Face
 * modeling_gemma3n.py): embeddings and per-layer inputs, AltUp streams, then per layer AltUp
 * predict -> LAuReL + attention -> gated-GELU FFN -> AltUp correct -> per-layer input injection,
 * and finally the AltUp merge, final norm, tied LM head and soft-cap.
 *
 * Letters used in shape comments: T tokens in the micro-batch, D hidden size, n AltUp streams,
 * L layers, P per-layer input width, H query heads, Hkv KV heads, Dh head dim, F FFN units used,
 * R LAuReL rank, V vocabulary. */
#include "forward.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "cpu/ops.h"
#include "tensor/type-traits.h"

/* Attention (attention_part): the most query heads one unit of work takes, which bounds each
 * part's scratch, and the value rows added at a time by each of them, 16 KiB at head_dim 256:
 * small enough to stay in L1 from one head to the next (four sessions decoding at a 1000-token
 * context, two heads a unit: 16 rows 1.04-1.09x faster than 32, 1.06-1.13x than 4, 1.15-1.18x
 * than one row at a time). */
#define ATTENTION_UNIT_HEADS 8
#define ATTENTION_V_ROWS 16

/* The rows of one forward step: a micro-batch of one sequence, or rows of several sequences
 * (batched decoding). Rows of one sequence are consecutive positions of its cache. */
typedef struct Rows {
        uint32_t T;
        const int32_t *tokens;    /* [T] */
        const float *embd;        /* [T, D] soft-token inputs, or NULL */
        const bool *has_embd;     /* [T] or NULL */
        uint32_t *pos;            /* [T] */
        KvCache **kv;             /* [T] */
        const bool *keep;         /* [T] rows whose logits are wanted */
} Rows;

/* Activations of one micro-batch. One allocation, carved into named arrays. */
typedef struct Activations {
        CpuCompute *c;    /* threads and scratch for matmul(); may be NULL */
        uint32_t T;       /* rows */
        uint32_t *pos;    /* [T] position of row t in its sequence */
        KvCache **kv;     /* [T] the KV cache of row t's sequence */
        float *x0;        /* [T, D] scaled input embedding */
        float *pli;       /* [T, L*P] per-layer inputs */
        float *h;         /* [n, T, D] AltUp streams */
        float *pred;      /* [n, T, D] AltUp predictions */
        float *an;        /* [T, D] normed active stream */
        float *lo;        /* [T, D] LAuReL output */
        float *lmid;      /* [T, R] */
        float *q;         /* [T, H*Dh] */
        float *k;         /* [T, Hkv*Dh] */
        float *v;         /* [T, Hkv*Dh] */
        float *o;         /* [T, H*Dh] attention output before o_proj */
        float *tmp;       /* [T, D] */
        float *al;        /* [T, D] attention + LAuReL merged */
        float *gate;      /* [T, Fmax] */
        float *up;        /* [T, Fmax] */
        float *scores;    /* [parts, ATTENTION_UNIT_HEADS, page] attention weights of one page's keys */
        size_t page;      /* the largest KV page of the batch's rows: a head's share of a part's scores */
        float *coef;      /* [T, n*n] AltUp coefficients */
        float *router;    /* [T, n] */
        float *pgate;     /* [T, P] */
        float *ple_row;   /* [L*P] one row of the PLE table */
        float *rn;        /* [T, D] router inputs */
        float *rope;      /* [Dh] cos and sin of one row's RoPE angles */
        float *cutoff;    /* [T] the FFN's Gaussian top-k cutoff per row */
        float *buffer;
} Activations;

static void activations_free(Activations *a) {
        free(a->buffer);
        a->buffer = NULL;
}

static int activations_alloc(const Gemma3nModel *m, uint32_t page, uint32_t T, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const uint32_t n_parts = a->c ? threadpool_parts(a->c->pool) : 1;
        a->page = page;
        const size_t D = hp->n_embd, n = hp->n_altup, qd = (size_t) hp->n_head * hp->head_dim;
        const size_t kvd = (size_t) hp->n_head_kv * hp->head_dim, LP = (size_t) hp->n_layer * hp->n_embd_ple;
        size_t fmax = 0;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                fmax = MAX(fmax, (size_t) hp->n_ff[l]);

        struct { float **p; size_t n; } parts[] = {
                { &a->x0, T * D },       { &a->pli, T * LP },       { &a->h, n * T * D },
                { &a->pred, n * T * D }, { &a->an, T * D },         { &a->lo, T * D },
                { &a->lmid, T * (size_t) hp->laurel_rank },         { &a->q, T * qd },
                { &a->k, T * kvd },      { &a->v, T * kvd },        { &a->o, T * qd },
                { &a->tmp, T * D },      { &a->al, T * D },         { &a->gate, T * fmax },
                { &a->up, T * fmax },    { &a->scores, (size_t) n_parts * ATTENTION_UNIT_HEADS * page },
                { &a->coef, T * n * n },
                { &a->router, T * n },   { &a->pgate, T * (size_t) hp->n_embd_ple },
                { &a->ple_row, LP },     { &a->rn, T * D },         { &a->rope, hp->head_dim },
                { &a->cutoff, T },
        };
        size_t total = 0;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if (size_add_overflow(total, parts[i].n, &total))
                        return -ENOMEM;
        a->buffer = malloc_multiply(total, sizeof(float));
        if (!a->buffer)
                return -ENOMEM;
        float *p = a->buffer;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                *parts[i].p = p;
                p += parts[i].n;
        }
        a->T = T;
        return 0;
}

/* ---- Embeddings and per-layer inputs (HF: embed_tokens, get_per_layer_inputs,
 *      project_per_layer_inputs) ---------------------------------------------------------------- */

static void embed_tokens(const Gemma3nModel *m, const Rows *b, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const size_t D = hp->n_embd;
        const float scale = sqrtf((float) D);   /* Gemma3nTextScaledWordEmbedding */

        for (uint32_t t = 0; t < a->T; t++) {
                float *x = a->x0 + t * D;
                if (b->has_embd && b->has_embd[t]) {
                        /* Soft tokens from an encoder enter unscaled. */
                        memcpy(x, b->embd + (size_t) t * D, D * sizeof(float));
                        continue;
                }
                tensor_dequant_row(&m->w.token_embd, (size_t) b->tokens[t], x, D);
                for (size_t i = 0; i < D; i++)
                        x[i] *= scale;
        }
}

/* Dequantises values [first, first + n) of row `row` (first and n whole blocks of the type). */
static void dequant_range(const Tensor *w, size_t row, size_t first, float *dst, size_t n) {
        const TypeTraits *tt = type_traits(w->type);
        const uint8_t *src = (const uint8_t *) tensor_row(w, row) + first / tt->block_elems * tt->block_bytes;
        tt->dequant_ref(src, dst, n);
}

/* pli_l = (RMSNorm((W_plm x0) / sqrt(D), chunk l) + PLE[id]_l * sqrt(P)) / sqrt(2), for the layers
 * the slice keeps. Chunks stay at their layer's place in [L*P]; skipped layers' chunks are zero
 * and never read. Runs of consecutive kept layers share one matmul over their rows, so the full
 * model computes exactly as before and a kept chunk gets the same values as in an exported
 * model without the skipped layers. */
static void per_layer_inputs(const Gemma3nModel *m, const Gemma3nSlice *slice, const Rows *b, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const size_t D = hp->n_embd, P = hp->n_embd_ple, LP = (size_t) hp->n_layer * P;
        const float proj_scale = 1.0f / sqrtf((float) D);
        const float ple_scale = sqrtf((float) P);
        const float combine_scale = 1.0f / sqrtf(2.0f);
        const Tensor *ple = &m->w.per_layer_token_embd;
        /* The table is read chunk by chunk when chunks are whole blocks of its type. */
        const bool ple_by_chunk = P % type_traits(ple->type)->block_elems == 0;
        float *row = a->ple_row;
        bool any_skipped = false;

        for (uint32_t l0 = 0; l0 < hp->n_layer;) {
                if (slice->skip[l0]) {
                        any_skipped = true;
                        l0++;
                        continue;
                }
                uint32_t l1 = l0;
                while (l1 < hp->n_layer && !slice->skip[l1])
                        l1++;
                const Tensor rows = tensor_rows_view(&m->w.per_layer_model_proj, (uint64_t) l0 * P,
                                                     (uint64_t) (l1 - l0) * P, PACKED_TILE_ROWS);
                matmul(a->c, &rows, rows.ne[1], D, a->x0, D, a->pli + l0 * P, LP, a->T);   /* [T, L*P] */
                l0 = l1;
        }
        for (uint32_t t = 0; t < a->T; t++) {
                float *pli = a->pli + t * LP;
                int32_t id = b->tokens[t];
                /* Ids outside the text vocabulary, and soft-token positions, use the padding
                 * token's row (HF maps them to 0 before the lookup). */
                uint32_t ple_id = (b->has_embd && b->has_embd[t]) || (uint32_t) id >= hp->n_vocab_ple ||
                                                  (uint32_t) id >= GEMMA3N_TEXT_VOCAB
                                          ? 0
                                          : (uint32_t) id;
                if (!any_skipped || !ple_by_chunk)
                        tensor_dequant_row(ple, ple_id, row, LP);
                for (uint32_t l = 0; l < hp->n_layer; l++) {
                        float *c = pli + l * P;
                        if (slice->skip[l]) {
                                memset(c, 0, P * sizeof(float));
                                continue;
                        }
                        if (any_skipped && ple_by_chunk)
                                dequant_range(ple, ple_id, l * P, row + l * P, P);
                        for (size_t i = 0; i < P; i++)
                                c[i] *= proj_scale;
                        op_rmsnorm(c, c, m->w.per_layer_proj_norm, P, hp->norm_eps);
                        for (size_t i = 0; i < P; i++)
                                c[i] = (c[i] + row[l * P + i] * ple_scale) * combine_scale;
                }
        }
}

/* ---- AltUp (HF: Gemma3nTextAltUp) ---------------------------------------------------------- */

static float *stream(const Activations *a, float *base, size_t D, uint32_t j) {
        return base + (size_t) j * a->T * D;
}

/* Row-wise work of one layer whose rows are independent, rows split over the compute threads: each
 * row gets the same operations whichever thread runs it, so results do not depend on the split. */
typedef void (*RowFn)(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, Activations *a, uint32_t t);

typedef struct RowJob {
        const Gemma3nModel *m;
        const Gemma3nLayerWeights *lw;
        Activations *a;
        RowFn fn;
} RowJob;

static void rows_part(void *arg, uint32_t part, uint32_t n_parts) {
        const RowJob *j = arg;
        const uint32_t end = (uint32_t) ((uint64_t) j->a->T * (part + 1) / n_parts);
        for (uint32_t t = (uint32_t) ((uint64_t) j->a->T * part / n_parts); t < end; t++)
                j->fn(j->m, j->lw, j->a, t);
}

static void for_each_row(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, Activations *a, RowFn fn) {
        RowJob j = { .m = m, .lw = lw, .a = a, .fn = fn };
        if (a->T == 1 || !a->c)
                rows_part(&j, 0, 1);
        else
                threadpool_run(a->c->pool, rows_part, &j);
}

/* y = W x rescaled to the RMS of x (HF: target_magnitude / new_magnitude). */
static void rescale_to(float *y, const float *x, size_t D) {
        float target = op_rms(x, D), mag = op_rms(y, D);
        float s = mag > 0.0f ? target / mag : 0.0f;
        for (size_t i = 0; i < D; i++)
                y[i] *= s;
}

/* Streams 1..n-1 start as projections of the embedding, at the embedding's magnitude. */
static void altup_init(const Gemma3nModel *m, Activations *a) {
        const size_t D = m->hp.n_embd;
        memcpy(stream(a, a->h, D, 0), a->x0, a->T * D * sizeof(float));
        for (uint32_t j = 1; j < m->hp.n_altup; j++) {
                float *hj = stream(a, a->h, D, j);
                matmul(a->c, &m->w.altup_proj[j - 1], D, D, a->x0, D, hj, D, a->T);
                for (uint32_t t = 0; t < a->T; t++)
                        rescale_to(hj + t * D, a->x0 + t * D, D);
        }
}

/* router(x) = tanh(W_router (RMSNorm(x; router_norm) / D)), n values (HF: compute_router_modalities). */
static void altup_router(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, F32DotFn dot, const float *x,
                         float *xn, float *out) {
        const size_t D = m->hp.n_embd;
        op_rmsnorm(xn, x, lw->altup_router_norm, D, m->hp.norm_eps);
        const float inv_d = 1.0f / (float) D;
        for (size_t i = 0; i < D; i++)
                xn[i] *= inv_d;
        for (uint32_t r = 0; r < m->hp.n_altup; r++) {
                float s;
                dot(D, lw->altup_router + r * D, xn, &s);
                out[r] = tanhf(s);
        }
}

/* pred_j = h_j + sum_i C[j][i] h_i, with C = reshape(W_pred router(h_active)) (HF: predict). */
static void altup_predict_row(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, Activations *a, uint32_t t) {
        const size_t D = m->hp.n_embd, n = m->hp.n_altup;
        float *r = a->router + t * n, *c = a->coef + t * n * n;
        altup_router(m, lw, cpu_dot_f32(a->c), stream(a, a->h, D, m->hp.altup_active) + t * D, a->rn + t * D, r);
        for (size_t o = 0; o < n * n; o++) {
                float s = 0.0f;
                for (size_t i = 0; i < n; i++)
                        s += lw->altup_predict_coef[o * n + i] * r[i];
                c[o] = s;
        }
        /* s = sum_i c_ji h_i, added in i order, element-wise over d so the loops vectorise; pj
         * collects s before h_j is added */
        for (size_t j = 0; j < n; j++) {
                float *pj = stream(a, a->pred, D, (uint32_t) j) + t * D;
                const float *hj = stream(a, a->h, D, (uint32_t) j) + t * D;
                for (size_t i = 0; i < n; i++) {
                        const float cji = c[j * n + i], *hi = stream(a, a->h, D, (uint32_t) i) + t * D;
                        if (i == 0)
                                for (size_t d = 0; d < D; d++)
                                        pj[d] = 0.0f + cji * hi[d];
                        else
                                for (size_t d = 0; d < D; d++)
                                        pj[d] += cji * hi[d];
                }
                for (size_t d = 0; d < D; d++)
                        pj[d] = hj[d] + pj[d];
        }
}

/* corr_j = pred_j + (W_corr router(out) + 1)_j * (out - pred_active) (HF: correct); out is in a->al. */
static void altup_correct_row(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, Activations *a, uint32_t t) {
        const size_t D = m->hp.n_embd, n = m->hp.n_altup;
        const uint32_t act = m->hp.altup_active;
        float *r = a->router + t * n, w[16];
        const float *out = a->al + t * D, *pa = stream(a, a->pred, D, act) + t * D;
        altup_router(m, lw, cpu_dot_f32(a->c), out, a->rn + t * D, r);
        for (size_t j = 0; j < n; j++) {
                float s = 0.0f;
                for (size_t i = 0; i < n; i++)
                        s += lw->altup_correct_coef[j * n + i] * r[i];
                w[j] = s + 1.0f;
        }
        for (size_t j = 0; j < n; j++) {
                float *hj = stream(a, a->h, D, (uint32_t) j) + t * D;
                const float *pj = stream(a, a->pred, D, (uint32_t) j) + t * D;
                for (size_t d = 0; d < D; d++)
                        hj[d] = pj[d] + w[j] * (out[d] - pa[d]);
        }
}

/* ---- LAuReL (HF: Gemma3nTextLaurelBlock): lo = an + RMSNorm(W_r (W_l an)) --------------------- */

/* a->lmid holds W_l an (project_normed_input). */
static void laurel(const Gemma3nModel *m, const Gemma3nLayerWeights *lw, Activations *a) {
        const size_t D = m->hp.n_embd, R = m->hp.laurel_rank;
        matmul(a->c, &lw->laurel_r, D, R, a->lmid, R, a->lo, D, a->T);   /* [T, D] */
        for (uint32_t t = 0; t < a->T; t++) {
                float *lo = a->lo + t * D;
                op_rmsnorm(lo, lo, lw->laurel_post_norm, D, m->hp.norm_eps);
                for (size_t i = 0; i < D; i++)
                        lo[i] += a->an[t * D + i];
        }
}

/* ---- Attention (HF: Gemma3nTextAttention) ---------------------------------------------------- */

/* Causal, and on sliding layers limited to the last `window` positions (the current one
 * included). The attention scale is 1: q and k are RMS-normalised instead.
 *
 * A unit of work is one row and one KV head with the query heads that read it (all of its group,
 * or an equal share of it when rows times KV heads are fewer than the threads): each key and
 * value row is then fetched from memory once for the unit's heads, not once per head. Every
 * head's K and V slice (1 KiB at head_dim 256) is met by the unit's heads one after the other,
 * while it is in L1; at a 1000-token context a decoded token reads some 75 MB of KV, which the
 * heads one by one read four times over. The parts take units from a shared counter, one at a
 * time (units are few and unequal: later rows see more keys). Each head's arithmetic is what it
 * was as a unit of its own, so the split changes no bits.
 *
 * One pass over the keys with the softmax kept online: keys come a KV page's run at a time (rows
 * kv_dim apart), their scores into a page-sized scratch per head; when a run raises a head's
 * running maximum m, its output so far and running sum l are scaled by exp(m_old - m_new); the
 * run's weights exp(s - m) are added to l and its value rows, weighted, to the output, which is
 * divided by l at the end. Memory does not grow with the context, and K and V are each read once. */
typedef struct AttentionJob {
        const Gemma3nModel *m;
        uint32_t l;
        Activations *a;
        F32AxpyRowsFn axpy;
        size_t heads;                 /* query heads of a unit: a divisor of the group */
        _Atomic size_t next_unit;     /* the next unit a part may take */
} AttentionJob;

/* Query heads in one unit: the largest divisor of the group, up to ATTENTION_UNIT_HEADS, that
 * still gives every thread a unit; 1 where none does. */
static size_t attention_unit_heads(size_t H, size_t group, size_t T, uint32_t n_threads) {
        size_t heads = 1;
        for (size_t d = 2; d <= MIN(group, (size_t) ATTENTION_UNIT_HEADS); d++)
                if (group % d == 0 && T * (H / d) >= n_threads)
                        heads = d;
        return heads;
}

static void attention_part(void *arg, uint32_t part, uint32_t n_parts) {
        AttentionJob *j = arg;
        const Gemma3nHParams *hp = &j->m->hp;
        const Activations *a = j->a;
        const size_t Dh = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
        const size_t qd = H * Dh, group = H / Hkv, G = j->heads, per_row = H / G;
        const uint32_t src = hp->kv_source[j->l];
        float *scores = a->scores + (size_t) part * a->page * ATTENTION_UNIT_HEADS;
        float m[ATTENTION_UNIT_HEADS], l[ATTENTION_UNIT_HEADS];

        for (;;) {
                const size_t unit = atomic_fetch_add_explicit(&j->next_unit, 1, memory_order_relaxed);
                if (unit >= (size_t) a->T * per_row)
                        break;
                const uint32_t t = (uint32_t) (unit / per_row);
                const size_t h0 = unit % per_row * G, g = h0 / group;   /* query heads h0 .. h0 + G - 1 */
                const KvCache *kv = a->kv[t];
                const uint32_t p = a->pos[t];
                const uint32_t first = hp->is_swa[j->l] && p + 1 > hp->sliding_window ? p + 1 - hp->sliding_window : 0;
                const size_t n_keys = p - first + 1;
                const float *q = a->q + t * qd + h0 * Dh;
                float *o = a->o + t * qd + h0 * Dh;
                for (size_t i = 0; i < G; i++) {
                        m[i] = -INFINITY;
                        l[i] = 0.0f;
                }
                memset(o, 0, G * Dh * sizeof(float));
                for (size_t u = 0; u < n_keys;) {
                        const uint32_t pos = first + (uint32_t) u;
                        const size_t run = MIN(n_keys - u, (size_t) (kv->page_size - pos % kv->page_size));
                        const float *k0 = kv_cache_k(kv, src, pos) + g * Dh, *v0 = kv_cache_v(kv, src, pos) + g * Dh;
                        cpu_dot_rows_f32(a->c, Dh, k0, kv->kv_dim, run, q, Dh, G, scores, a->page);
                        for (size_t i = 0; i < G; i++) {
                                float *s = scores + i * a->page, *oh = o + i * Dh, run_max = -INFINITY;
                                for (size_t r = 0; r < run; r++)
                                        run_max = MAX(run_max, s[r]);
                                if (run_max > m[i]) {
                                        const float rescale = expf(m[i] - run_max);   /* 0 for the first run */
                                        for (size_t d = 0; d < Dh; d++)
                                                oh[d] *= rescale;
                                        l[i] *= rescale;
                                        m[i] = run_max;
                                }
                                for (size_t r = 0; r < run; r++) {
                                        s[r] = expf(s[r] - m[i]);
                                        l[i] += s[r];
                                }
                        }
                        /* value rows in blocks that stay in L1 while every head of the unit adds them */
                        for (size_t r = 0; r < run; r += ATTENTION_V_ROWS) {
                                const size_t n = MIN((size_t) ATTENTION_V_ROWS, run - r);
                                for (size_t i = 0; i < G; i++)
                                        j->axpy(Dh, v0 + r * kv->kv_dim, kv->kv_dim, scores + i * a->page + r, n,
                                                o + i * Dh);
                        }
                        u += run;
                }
                for (size_t i = 0; i < G; i++) {
                        const float inv = 1.0f / l[i];
                        for (size_t d = 0; d < Dh; d++)
                                o[i * Dh + d] *= inv;
                }
        }
}

static void attention(const Gemma3nModel *m, uint32_t l, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nLayerWeights *lw = &m->w.layers[l];
        const size_t D = hp->n_embd, Dh = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
        const size_t qd = H * Dh, kvd = Hkv * Dh;
        const double base = hp->is_swa[l] ? hp->rope_base_swa : hp->rope_base;
        const uint32_t src = hp->kv_source[l];

        /* a->q, and a->k, a->v for layers that own KV (project_normed_input); sharing layers read
         * their source's. Per head RMSNorm and RoPE at the token's position, the angles computed
         * once per token. */
        for (uint32_t t = 0; t < a->T; t++) {
                op_rope_angles(a->rope, Dh, a->pos[t], base);
                for (size_t h = 0; h < H; h++) {
                        float *qh = a->q + t * qd + h * Dh;
                        op_rmsnorm(qh, qh, lw->attn_q_norm, Dh, hp->norm_eps);
                        op_rope_apply(qh, Dh, a->rope);
                }
                if (src != l)
                        continue;
                for (size_t h = 0; h < Hkv; h++) {
                        float *kh = a->k + t * kvd + h * Dh, *vh = a->v + t * kvd + h * Dh;
                        op_rmsnorm(kh, kh, lw->attn_k_norm, Dh, hp->norm_eps);
                        op_rope_apply(kh, Dh, a->rope);
                        op_rmsnorm(vh, vh, NULL, Dh, hp->norm_eps);   /* v_norm has no weight */
                }
                memcpy(kv_cache_k(a->kv[t], l, a->pos[t]), a->k + t * kvd, kvd * sizeof(float));
                memcpy(kv_cache_v(a->kv[t], l, a->pos[t]), a->v + t * kvd, kvd * sizeof(float));
        }

        AttentionJob job = { .m = m, .l = l, .a = a, .axpy = cpu_axpy_rows_f32(a->c),
                             .heads = attention_unit_heads(H, H / Hkv, a->T, threadpool_size(a->c ? a->c->pool : NULL)) };
        atomic_init(&job.next_unit, 0);
        threadpool_run(a->c ? a->c->pool : NULL, attention_part, &job);
        matmul(a->c, &lw->attn_output, D, qd, a->o, qd, a->tmp, D, a->T);   /* [T, D] */
}

/* ---- Feed-forward (HF: Gemma3nTextMLP with _gaussian_topk) ----------------------------------- */

/* g = gelu(sparsified g) * u on every row, the units split over the compute threads: the largest
 * element-wise step of a layer, and with one token the only one worth splitting. */
typedef struct FfnActivation {
        float *gate;
        const float *up;
        const float *cutoff;   /* [T] per-row Gaussian top-k cutoffs, or NULL: no sparsity */
        size_t F;
        uint32_t T;
        F32ExpFn exp;
} FfnActivation;

/* op_gelu_tanh(), the exps a chunk at a time through the vector kernel. */
static void ffn_activate_part(void *arg, uint32_t part, uint32_t n_parts) {
        const FfnActivation *j = arg;
        const size_t first = j->F * part / n_parts, end = j->F * (part + 1) / n_parts;
        float e[256];
        for (uint32_t t = 0; t < j->T; t++) {
                float *g = j->gate + (size_t) t * j->F;
                const float *u = j->up + (size_t) t * j->F;
                for (size_t c = first; c < end; c += 256) {
                        const size_t len = MIN((size_t) 256, end - c);
                        for (size_t i = 0; i < len; i++) {
                                float x = g[c + i];
                                if (j->cutoff)
                                        x = x > j->cutoff[t] ? x - j->cutoff[t] : 0.0f;
                                g[c + i] = x;
                                e[i] = op_gelu_exp_arg(x);
                        }
                        j->exp(e, len);
                        for (size_t i = 0; i < len; i++)
                                g[c + i] = g[c + i] / (1.0f + e[i]) * u[c + i];
                }
        }
}

static void ffn_activate(Activations *a, size_t F, float sparsity_k) {
        FfnActivation j = { .gate = a->gate, .up = a->up, .F = F, .T = a->T, .exp = cpu_exp_f32(a->c) };
        if (sparsity_k > 0.0f) {
                for (uint32_t t = 0; t < a->T; t++)
                        a->cutoff[t] = op_gaussian_cutoff(a->gate + (size_t) t * F, F, sparsity_k);
                j.cutoff = a->cutoff;
        }
        threadpool_run(a->c ? a->c->pool : NULL, ffn_activate_part, &j);
}

/* a->al holds the FFN input; the output (after post_ffw_norm) is added to it in place. */
static void feed_forward(const Gemma3nModel *m, uint32_t l, uint32_t F, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nLayerWeights *lw = &m->w.layers[l];
        const size_t D = hp->n_embd;

        for (uint32_t t = 0; t < a->T; t++)
                op_rmsnorm(a->tmp + t * D, a->al + t * D, lw->ffn_norm, D, hp->norm_eps);
        const MatmulOutput gate_up[2] = {
                { .w = &lw->ffn_gate, .n_out = F, .y = a->gate, .y_stride = F },   /* [T, F] */
                { .w = &lw->ffn_up, .n_out = F, .y = a->up, .y_stride = F },       /* [T, F] */
        };
        matmul_shared(a->c, gate_up, 2, D, a->tmp, D, a->T);
        ffn_activate(a, F, hp->sparsity_k[l]);
        matmul(a->c, &lw->ffn_down, D, F, a->gate, F, a->tmp, D, a->T);   /* [T, D] */
        for (uint32_t t = 0; t < a->T; t++) {
                float *f = a->tmp + t * D, *x = a->al + t * D;
                op_rmsnorm(f, f, lw->post_ffw_norm, D, hp->norm_eps);
                for (size_t i = 0; i < D; i++)
                        x[i] += f[i];
        }
}

/* ---- Per-layer input injection into the non-active streams --------------------------------- */

static void inject_per_layer_input(const Gemma3nModel *m, uint32_t l, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nLayerWeights *lw = &m->w.layers[l];
        const size_t D = hp->n_embd, P = hp->n_embd_ple, LP = (size_t) hp->n_layer * P;
        const uint32_t act = hp->altup_active;
        const float *corr = stream(a, a->h, D, act);

        for (uint32_t t = 0; t < a->T; t++)
                for (size_t i = 0; i < D; i++)
                        a->tmp[t * D + i] = corr[t * D + i] * lw->altup_correct_scale[i];
        matmul(a->c, &lw->inp_gate, P, D, a->tmp, D, a->pgate, P, a->T);      /* [T, P] */
        for (uint32_t t = 0; t < a->T; t++)
                for (size_t i = 0; i < P; i++)
                        a->pgate[t * P + i] = op_gelu_tanh(a->pgate[t * P + i]) * a->pli[t * LP + l * P + i];
        matmul(a->c, &lw->proj, D, P, a->pgate, P, a->tmp, D, a->T);          /* [T, D] */
        for (uint32_t t = 0; t < a->T; t++) {
                float *u = a->tmp + t * D;
                op_rmsnorm(u, u, lw->post_norm, D, hp->norm_eps);
                for (uint32_t j = 0; j < hp->n_altup; j++) {
                        if (j == act)
                                continue;
                        float *hj = stream(a, a->h, D, j) + t * D;
                        for (size_t i = 0; i < D; i++)
                                hj[i] += u[i];
                }
        }
}

/* ---- One decoder layer (HF: Gemma3nTextDecoderLayer.forward) -------------------------------- */

/* Everything that reads the normed input an: LAuReL's left matrix, the queries, and the keys and
 * values of a layer that owns KV, as one job for the compute threads. */
static void project_normed_input(const Gemma3nModel *m, uint32_t l, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nLayerWeights *lw = &m->w.layers[l];
        const size_t D = hp->n_embd, R = hp->laurel_rank, qd = hp->n_head * hp->head_dim;
        const size_t kvd = hp->n_head_kv * hp->head_dim;
        MatmulOutput outs[4] = {
                { .w = &lw->laurel_l, .n_out = R, .y = a->lmid, .y_stride = R },     /* [T, R] */
                { .w = &lw->attn_q, .n_out = qd, .y = a->q, .y_stride = qd },        /* [T, qd] */
                { .w = &lw->attn_k, .n_out = kvd, .y = a->k, .y_stride = kvd },
                { .w = &lw->attn_v, .n_out = kvd, .y = a->v, .y_stride = kvd },
        };
        matmul_shared(a->c, outs, hp->kv_source[l] == l ? 4 : 2, D, a->an, D, a->T);
}

static void decoder_layer(const Gemma3nModel *m, uint32_t l, uint32_t F, Activations *a) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nLayerWeights *lw = &m->w.layers[l];
        const size_t D = hp->n_embd;
        const float *active = stream(a, a->pred, D, hp->altup_active);
        const float inv_sqrt2 = 1.0f / sqrtf(2.0f);

        for_each_row(m, lw, a, altup_predict_row);
        for (uint32_t t = 0; t < a->T; t++)
                op_rmsnorm(a->an + t * D, active + t * D, lw->attn_norm, D, hp->norm_eps);
        project_normed_input(m, l, a);
        laurel(m, lw, a);
        attention(m, l, a);   /* -> a->tmp */
        for (uint32_t t = 0; t < a->T; t++) {
                float *attn = a->tmp + t * D, *al = a->al + t * D;
                op_rmsnorm(attn, attn, lw->post_attention_norm, D, hp->norm_eps);
                for (size_t i = 0; i < D; i++)
                        al[i] = ((active[t * D + i] + attn[i]) + a->lo[t * D + i]) * inv_sqrt2;
        }
        feed_forward(m, l, F, a);
        for_each_row(m, lw, a, altup_correct_row);
        inject_per_layer_input(m, l, a);
}

/* ---- Output: AltUp merge, final norm, LM head, soft-cap (HF: Gemma3nTextModel tail) ---------- */

/* The final hidden states of rows[0 .. n): AltUp streams merged, normed, into z [n, D]. Each
 * un-embedding matmul takes all n rows at once, so batched decoding reads those matrices once per
 * step (a row's result does not depend on the others in the call). */
static int output_hidden(const Gemma3nModel *m, Activations *a, const uint32_t *rows, uint32_t n, float *z) {
        const Gemma3nHParams *hp = &m->hp;
        const size_t D = hp->n_embd;
        float *hj = malloc_multiply((size_t) n * D, sizeof(float)), *y = malloc_multiply((size_t) n * D, sizeof(float));
        if (!hj || !y) {
                free(hj);
                free(y);
                return -ENOMEM;
        }
        for (uint32_t k = 0; k < n; k++)
                memcpy(z + k * D, stream(a, a->h, D, 0) + rows[k] * D, D * sizeof(float));
        for (uint32_t j = 1; j < hp->n_altup; j++) {
                for (uint32_t k = 0; k < n; k++)
                        memcpy(hj + k * D, stream(a, a->h, D, j) + rows[k] * D, D * sizeof(float));
                matmul(a->c, &m->w.altup_unembd_proj[j - 1], D, D, hj, D, y, D, n);
                for (uint32_t k = 0; k < n; k++) {
                        float *yk = y + k * D, *zk = z + k * D;
                        rescale_to(yk, stream(a, a->h, D, 0) + rows[k] * D, D);
                        for (size_t i = 0; i < D; i++)
                                zk[i] += yk[i];
                }
        }
        for (uint32_t k = 0; k < n; k++) {
                float *zk = z + k * D;
                for (size_t i = 0; i < D; i++)
                        zk[i] /= (float) hp->n_altup;
                op_rmsnorm(zk, zk, m->w.output_norm, D, hp->norm_eps);
        }
        free(hj);
        free(y);
        return 0;
}

/* cap * tanh(x / cap) over the logits, split over the compute threads: a vocabulary of 262144
 * per row made it the largest element-wise step of a decode. tanh(y) is taken as
 * 1 - 2 / (exp(2y) + 1), the exps a chunk at a time through the vector kernel, where tanhf cost an
 * expm1f and as much again around it; the absolute error stays within a few float roundings of 1
 * (a few 1e-6 on a logit soft-capped at 30), and +-inf go to +-cap as before. */
typedef struct Softcap {
        float *logits;
        size_t n;
        float cap;
        F32ExpFn exp;
} Softcap;

static void softcap_part(void *arg, uint32_t part, uint32_t n_parts) {
        const Softcap *j = arg;
        const size_t end = j->n * (part + 1) / n_parts;
        float e[256];
        for (size_t c = j->n * part / n_parts; c < end; c += 256) {
                const size_t len = MIN((size_t) 256, end - c);
                float *l = j->logits + c;
                for (size_t i = 0; i < len; i++)
                        e[i] = 2.0f * (l[i] / j->cap);
                j->exp(e, len);
                for (size_t i = 0; i < len; i++)
                        l[i] = j->cap * (1.0f - 2.0f / (e[i] + 1.0f));
        }
}

/* Logits of rows[0 .. n) into logits [n, V]. One LM-head matmul for all of them: the head is the
 * largest matrix of the model, and batched decoding must read it once per step, not per row. */
static int output_logits(const Gemma3nModel *m, Activations *a, const uint32_t *rows, uint32_t n, float *logits) {
        const Gemma3nHParams *hp = &m->hp;
        const size_t D = hp->n_embd, V = hp->n_vocab;
        float *z = malloc_multiply((size_t) n * D, sizeof(float));
        if (!z || output_hidden(m, a, rows, n, z) < 0) {
                free(z);
                return -ENOMEM;
        }
        const Tensor *head = m->w.has_output ? &m->w.output : &m->w.token_embd;
        matmul(a->c, head, V, D, z, D, logits, V, n);
        if (hp->final_softcap > 0.0f) {
                Softcap j = { .logits = logits, .n = (size_t) n * V, .cap = hp->final_softcap,
                               .exp = cpu_exp_f32(a->c) };
                threadpool_run(a->c ? a->c->pool : NULL, softcap_part, &j);
        }
        free(z);
        return 0;
}

/* ---- Driver ---------------------------------------------------------------------------------- */

/* Keeps only the rows whose logits are wanted (keep[t]) in the streams and per-layer inputs, so
 * the layers after the last KV-producing one run for those rows instead of all T. */
static void keep_rows(const Gemma3nModel *m, Activations *a, const bool *keep) {
        const size_t D = m->hp.n_embd, LP = (size_t) m->hp.n_layer * m->hp.n_embd_ple;
        const uint32_t T = a->T;
        uint32_t n = 0;
        for (uint32_t t = 0; t < T; t++)
                n += keep[t];
        /* Stream j of row t moves from (j * T + t) to (j * n + kept index). */
        for (uint32_t j = 0; j < m->hp.n_altup; j++) {
                uint32_t k = 0;
                for (uint32_t t = 0; t < T; t++)
                        if (keep[t]) {
                                memmove(a->h + ((size_t) j * n + k) * D, a->h + ((size_t) j * T + t) * D,
                                        D * sizeof(float));
                                k++;
                        }
        }
        uint32_t k = 0;
        for (uint32_t t = 0; t < T; t++)
                if (keep[t]) {
                        memmove(a->pli + k * LP, a->pli + t * LP, LP * sizeof(float));
                        a->pos[k] = a->pos[t];
                        a->kv[k] = a->kv[t];
                        k++;
                }
        a->T = n;
}

/* Hands the rows of this step to the accelerator (after a compaction, the rows left). */
static int accel_begin(const Gemma3nModel *m, Activations *a, GemmaError *err) {
        const Gemma3nAccelRows r = { .T = a->T, .pos = a->pos, .kv = a->kv, .pli = a->pli };
        return m->accel->begin(m->accel, &r, err);
}

/* Runs rows through the model. keep[t] marks the rows whose logits go to out[0], out[1], ...
 * (in row order); skip_top enables the prefill saving (rows not kept stop after the last
 * KV-producing layer). The caches must have been prepared for the rows' positions. */
static int forward_rows(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice, const Rows *rows,
                        bool skip_top, float *out, GemmaError *err) {
        const Gemma3nHParams *hp = &m->hp;
        Activations a = { .c = c, .pos = rows->pos, .kv = rows->kv };
        uint32_t last_kv_layer = 0, n_keep = 0, page = 0;

        for (uint32_t l = 0; l < hp->n_layer; l++)
                if (!slice->skip[l] && gemma3n_layer_owns_kv(hp, l))
                        last_kv_layer = l;
        for (uint32_t t = 0; t < rows->T; t++) {
                n_keep += rows->keep[t];
                page = MAX(page, rows->kv[t]->page_size);
        }

        if (activations_alloc(m, page, rows->T, &a) < 0)
                return gemma_error_set(err, -ENOMEM, "forward: out of memory for a batch of %u tokens", rows->T);

        embed_tokens(m, rows, &a);
        per_layer_inputs(m, slice, rows, &a);
        altup_init(m, &a);
        bool compacted = false, past_kv = false;
        Gemma3nAccel *accel = m->accel;
        bool on_device = false;   /* whether the streams now live on the accelerator */
        int k = 0;
        if (accel && (k = accel_begin(m, &a, err)) < 0)
                goto finish;
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                /* A skipped layer is the identity: the streams pass through unchanged. */
                if (slice->skip[l])
                        continue;
                /* Gemma 3n's prefill saving: no layer after the last KV-producing one writes KV,
                 * so its work matters only for rows whose logits are wanted. */
                if (!past_kv && l > last_kv_layer && skip_top) {
                        past_kv = true;
                        if (n_keep == 0)
                                break;
                        if (n_keep < a.T) {
                                /* Rows are compacted on the host, then the device starts over. */
                                if (on_device && (k = accel->download_streams(accel, a.h, err)) < 0)
                                        goto finish;
                                keep_rows(m, &a, rows->keep);
                                compacted = true;
                                on_device = false;
                                if (accel && (k = accel_begin(m, &a, err)) < 0)
                                        goto finish;
                        }
                }
                const bool device_layer = accel && accel->runs_layer(accel, l);
                if (device_layer && !on_device) {
                        if ((k = accel->upload_streams(accel, a.h, err)) < 0)
                                goto finish;
                        on_device = true;
                } else if (!device_layer && on_device) {
                        if ((k = accel->download_streams(accel, a.h, err)) < 0)
                                goto finish;
                        on_device = false;
                }
                if (device_layer) {
                        if ((k = accel->layer(accel, l, slice->ffn_units[l], err)) < 0)
                                goto finish;
                } else
                        decoder_layer(m, l, slice->ffn_units[l], &a);
        }
        if (on_device && (k = accel->download_streams(accel, a.h, err)) < 0)
                goto finish;

        int r = 0;
        if (n_keep > 0) {
                uint32_t *which = new0(uint32_t, n_keep), w = 0;
                if (!which)
                        r = -ENOMEM;
                for (uint32_t t = 0; which && t < rows->T; t++)
                        if (rows->keep[t]) {
                                which[w] = compacted ? w : t;
                                w++;
                        }
                if (which)
                        r = output_logits(m, &a, which, n_keep, out);
                free(which);
        }
        activations_free(&a);
        if (r < 0)
                return gemma_error_set(err, r, "forward: out of memory for the logits");
        return 0;

finish:
        activations_free(&a);
        return k;
}

static int check_tokens(const Gemma3nModel *m, const int32_t *tokens, const bool *has_embd, uint32_t n,
                        GemmaError *err) {
        for (uint32_t t = 0; t < n; t++) {
                if (has_embd && has_embd[t])
                        continue;
                if (tokens[t] < 0 || (uint32_t) tokens[t] >= m->hp.n_vocab)
                        return gemma_error_set(err, -EINVAL, "forward: token id %d at position %u is out of range (vocabulary %u)",
                                               tokens[t], t, m->hp.n_vocab);
        }
        return 0;
}

static int check_cache(const Gemma3nModel *m, const Gemma3nSlice *slice, const KvCache *kv, uint32_t n,
                       GemmaError *err) {
        if (kv->n_layer != m->hp.n_layer || kv->kv_dim != m->hp.n_head_kv * m->hp.head_dim)
                return gemma_error_set(err, -EINVAL, "forward: KV cache was made for another model");
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                if (!slice->skip[l] && kv->layer_class[m->hp.kv_source[l]] == KV_CLASS_NONE)
                        return gemma_error_set(err, -EINVAL,
                                               "forward: the KV cache keeps nothing for layer %u (it was made for a slice that skips it)",
                                               m->hp.kv_source[l]);
        if (n > kv->n_ctx - kv->n_pos)
                return gemma_error_set(err, -ENOSPC, "forward: %u tokens do not fit: %u of %u context positions are used",
                                       n, kv->n_pos, kv->n_ctx);
        return 0;
}

static int resolve_slice(const Gemma3nModel *m, const Gemma3nSlice **slice, Gemma3nSlice *full, GemmaError *err) {
        if (!*slice) {
                gemma3n_slice_full(m, full);
                *slice = full;
                return 0;
        }
        return gemma3n_slice_validate(m, *slice, err);
}

int gemma3n_forward(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice, KvCache *kv,
                    const Gemma3nBatch *b, float *logits, GemmaError *err) {
        const Gemma3nHParams *hp = &m->hp;
        Gemma3nSlice full;
        int k;

        if (b->n_tokens == 0)
                return gemma_error_set(err, -EINVAL, "forward: empty batch");
        if ((k = resolve_slice(m, &slice, &full, err)) < 0 || (k = check_cache(m, slice, kv, b->n_tokens, err)) < 0)
                return k;
        if (b->has_embd && !b->embd)
                return gemma_error_set(err, -EINVAL, "forward: embedding positions given without embeddings");
        if ((k = check_tokens(m, b->tokens, b->has_embd, b->n_tokens, err)) < 0)
                return k;

        const uint32_t U = MIN(kv->max_ubatch, b->n_tokens);
        _cleanup_free_ uint32_t *pos = new0(uint32_t, U);
        _cleanup_free_ KvCache **kvs = new0(KvCache *, U);
        _cleanup_free_ bool *keep = new0(bool, U);
        if (!pos || !kvs || !keep)
                return gemma_error_set(err, -ENOMEM, "forward: out of memory");
        for (uint32_t t0 = 0; t0 < b->n_tokens; t0 += kv->max_ubatch) {
                const uint32_t T = MIN(kv->max_ubatch, b->n_tokens - t0);
                const bool last_ubatch = t0 + T == b->n_tokens;
                Rows rows = {
                        .T = T,
                        .tokens = b->tokens + t0,
                        .embd = b->embd ? b->embd + (size_t) t0 * hp->n_embd : NULL,
                        .has_embd = b->has_embd ? b->has_embd + t0 : NULL,
                        .pos = pos,
                        .kv = kvs,
                        .keep = keep,
                };
                for (uint32_t t = 0; t < T; t++) {
                        pos[t] = kv->n_pos + t;
                        kvs[t] = kv;
                        keep[t] = b->logits_all || (last_ubatch && t == T - 1);
                }
                if ((k = kv_cache_prepare(kv, kv->n_pos, T, err)) < 0)
                        return k;
                k = forward_rows(m, c, slice, &rows, !b->logits_all && !b->full_prefill,
                                 b->logits_all ? logits + (size_t) t0 * hp->n_vocab : logits, err);
                if (k < 0)
                        return k;
                kv->n_pos += T;
        }
        return 0;
}

int gemma3n_forward_multi(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice,
                          const Gemma3nSeqBatch *seqs, uint32_t n_seqs, float *logits, GemmaError *err) {
        Gemma3nSlice full;
        uint32_t T = 0;
        int k;

        if (n_seqs == 0)
                return gemma_error_set(err, -EINVAL, "forward: empty batch");
        if ((k = resolve_slice(m, &slice, &full, err)) < 0)
                return k;
        for (uint32_t i = 0; i < n_seqs; i++) {
                const Gemma3nSeqBatch *q = &seqs[i];
                if (q->n_tokens == 0 || q->n_tokens > q->kv->max_ubatch)
                        return gemma_error_set(err, -EINVAL, "forward: sequence %u has %u tokens (1..%u allowed)", i,
                                               q->n_tokens, q->kv->max_ubatch);
                for (uint32_t j = 0; j < i; j++)
                        if (seqs[j].kv == q->kv)
                                return gemma_error_set(err, -EINVAL, "forward: one KV cache twice in a batch");
                if ((k = check_cache(m, slice, q->kv, q->n_tokens, err)) < 0 ||
                    (k = check_tokens(m, q->tokens, NULL, q->n_tokens, err)) < 0)
                        return k;
                T += q->n_tokens;
        }

        _cleanup_free_ int32_t *tokens = new0(int32_t, T);
        _cleanup_free_ uint32_t *pos = new0(uint32_t, T);
        _cleanup_free_ KvCache **kvs = new0(KvCache *, T);
        _cleanup_free_ bool *keep = new0(bool, T);
        if (!tokens || !pos || !kvs || !keep)
                return gemma_error_set(err, -ENOMEM, "forward: out of memory");
        uint32_t t = 0;
        for (uint32_t i = 0; i < n_seqs; i++) {
                const Gemma3nSeqBatch *q = &seqs[i];
                if ((k = kv_cache_prepare(q->kv, q->kv->n_pos, q->n_tokens, err)) < 0)
                        return k;
                for (uint32_t u = 0; u < q->n_tokens; u++, t++) {
                        tokens[t] = q->tokens[u];
                        pos[t] = q->kv->n_pos + u;
                        kvs[t] = q->kv;
                        keep[t] = q->want_logits && u == q->n_tokens - 1;
                }
        }
        Rows rows = { .T = T, .tokens = tokens, .pos = pos, .kv = kvs, .keep = keep };
        if ((k = forward_rows(m, c, slice, &rows, true, logits, err)) < 0)
                return k;
        for (uint32_t i = 0; i < n_seqs; i++)
                seqs[i].kv->n_pos += seqs[i].n_tokens;
        return 0;
}

/* ---- Slices and KV shape --------------------------------------------------------------------- */

void gemma3n_slice_full(const Gemma3nModel *m, Gemma3nSlice *ret) {
        memset(ret, 0, sizeof(*ret));
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                ret->ffn_units[l] = m->hp.n_ff[l];
}

int gemma3n_slice_validate(const Gemma3nModel *m, const Gemma3nSlice *s, GemmaError *err) {
        const Gemma3nHParams *hp = &m->hp;
        uint32_t n_kept = 0;

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                const uint32_t units = s->ffn_units[l];
                const TypeTraits *tt = type_traits(m->w.layers[l].ffn_down.type);
                if (s->skip[l]) {
                        /* The MatFormer Lab's rule: layers other layers read KV from are reserved. */
                        for (uint32_t j = 0; j < hp->n_layer; j++)
                                if (j != l && hp->kv_source[j] == l)
                                        return gemma_error_set(err, -EINVAL,
                                                               "slice: layer %u cannot be skipped: layer %u reads its KV (KV source layers are reserved)",
                                                               l, j);
                        continue;
                }
                n_kept++;
                if (units == 0 || units > hp->n_ff[l])
                        return gemma_error_set(err, -EINVAL, "slice: layer %u uses %u FFN units (allowed 1..%u)", l, units,
                                               hp->n_ff[l]);
                if (units % tt->block_elems != 0)
                        return gemma_error_set(err, -EINVAL,
                                               "slice: layer %u: %u FFN units is not a multiple of %zu (the %s block size of ffn_down)",
                                               l, units, tt->block_elems, tt->name);
        }
        for (uint32_t l = hp->n_layer; l < GEMMA3N_MAX_LAYERS; l++)
                if (s->skip[l])
                        return gemma_error_set(err, -EINVAL, "slice: layer %u is skipped but the model has only %u layers", l,
                                               hp->n_layer);
        if (n_kept == 0)
                return gemma_error_set(err, -EINVAL, "slice: every layer is skipped");
        return 0;
}

int gemma3n_slice_uniform(const Gemma3nModel *m, uint32_t units, Gemma3nSlice *ret, GemmaError *err) {
        Gemma3nSlice s;
        int k;

        uint32_t widest = 0;
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                widest = MAX(widest, m->hp.n_ff[l]);
        if (units == 0 || units > widest)
                return gemma_error_set(err, -EINVAL, "slice: %u FFN units requested (allowed 1..%u, the widest layer)", units,
                                       widest);
        gemma3n_slice_full(m, &s);
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                s.ffn_units[l] = MIN(units, m->hp.n_ff[l]);
        if ((k = gemma3n_slice_validate(m, &s, err)) < 0)
                return k;
        *ret = s;
        return 0;
}

uint32_t gemma3n_slice_n_kept(const Gemma3nModel *m, const Gemma3nSlice *s) {
        uint32_t n = 0;
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                n += !s->skip[l];
        return n;
}

static bool same_layer(const Gemma3nSlice *a, const Gemma3nSlice *b, uint32_t l) {
        return a->skip[l] == b->skip[l] && (a->skip[l] || a->ffn_units[l] == b->ffn_units[l]);
}

bool gemma3n_slice_equal(const Gemma3nModel *m, const Gemma3nSlice *a, const Gemma3nSlice *b) {
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
                if (!same_layer(a, b, l))
                        return false;
        return true;
}

bool gemma3n_slice_same_kv(const Gemma3nModel *m, const Gemma3nSlice *a, const Gemma3nSlice *b) {
        const Gemma3nHParams *hp = &m->hp;
        /* K/V written by layer l depend on layers 0..l; the last layer that may write any is the
         * last KV-owning layer of the full model. */
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                bool writes_later = false;
                for (uint32_t j = l; j < hp->n_layer && !writes_later; j++)
                        writes_later = gemma3n_layer_owns_kv(hp, j);
                if (!writes_later)
                        break;
                if (!same_layer(a, b, l))
                        return false;
        }
        return true;
}

static void kv_windows(const Gemma3nModel *m, const Gemma3nSlice *slice, uint32_t *window) {
        const Gemma3nHParams *hp = &m->hp;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                window[l] = !gemma3n_layer_owns_kv(hp, l) || (slice && slice->skip[l]) ? 0
                            : hp->is_swa[l]                                          ? hp->sliding_window
                                                                                     : KV_LAYER_FULL;
}

int gemma3n_kv_cache_new_for_slice(const Gemma3nModel *m, const Gemma3nSlice *slice, uint32_t n_ctx,
                                   uint32_t max_ubatch, KvCache **ret, GemmaError *err) {
        uint32_t window[GEMMA3N_MAX_LAYERS];
        int k;
        if (slice && (k = gemma3n_slice_validate(m, slice, err)) < 0)
                return k;
        kv_windows(m, slice, window);
        return kv_cache_new(m->hp.n_layer, window, m->hp.n_head_kv * m->hp.head_dim, n_ctx, max_ubatch, ret, err);
}

int gemma3n_kv_pool_new_for_slice(const Gemma3nModel *m, const Gemma3nSlice *slice, uint32_t page_size,
                                  uint64_t budget_bytes, KvPool **ret, GemmaError *err) {
        uint32_t window[GEMMA3N_MAX_LAYERS];
        int k;
        if (slice && (k = gemma3n_slice_validate(m, slice, err)) < 0)
                return k;
        kv_windows(m, slice, window);
        return kv_pool_new(m->hp.n_layer, window, m->hp.n_head_kv * m->hp.head_dim, page_size, budget_bytes, ret, err);
}

int gemma3n_kv_cache_new(const Gemma3nModel *m, uint32_t n_ctx, uint32_t max_ubatch, KvCache **ret, GemmaError *err) {
        return gemma3n_kv_cache_new_for_slice(m, NULL, n_ctx, max_ubatch, ret, err);
}

int gemma3n_kv_pool_new(const Gemma3nModel *m, uint32_t page_size, uint64_t budget_bytes, KvPool **ret,
                        GemmaError *err) {
        return gemma3n_kv_pool_new_for_slice(m, NULL, page_size, budget_bytes, ret, err);
}
