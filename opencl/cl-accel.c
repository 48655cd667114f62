/* The OpenCL accelerator: context and kernels, the layers placed on the device, the activations
 * of one step, and the decoder layer as a sequence of kernel launches (the same order as
 * models/gemma3n/forward.c's decoder_layer()). */
#include "cl-accel.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cpu/ops.h"
#include "cl-accel-internal.h"
#include "cl-program.h"
#include "tensor/type-traits.h"

extern const char gemma3n_cl_source[];

#define WG_MAX 64
#define TOKENS_PER_ITEM 4

typedef struct ClLayer {
        DevMatrix q, k, v, o, gate, up, down, inp_gate, proj, laurel_l, laurel_r;
        cl_mem attn_norm, q_norm, k_norm, post_attention_norm, ffn_norm, post_ffw_norm, post_norm;
        cl_mem correct_coef, correct_scale, predict_coef, router, router_norm, laurel_post_norm;
        size_t vec_bytes[13];
} ClLayer;

enum {
        K_QUANTIZE, K_MM_Q4_0, K_MM_Q8_0, K_MM_F16, K_MM_F32, K_RMSNORM, K_ROPE, K_ADD, K_ATTN_RESIDUAL,
        K_SCALE_ROWS, K_FFN_ACTIVATE, K_PLE_GATE, K_ADD_TO_STREAMS, K_ALTUP_ROUTER, K_ALTUP_PREDICT,
        K_ALTUP_CORRECT, K_KV_STORE, K_ATTENTION, _K_MAX
};

static const char *const kernel_names[_K_MAX] = {
        "quantize_q8_0", "mm_q4_0", "mm_q8_0", "mm_f16", "mm_f32", "rmsnorm", "rope_neox", "add", "attn_residual",
        "scale_rows", "ffn_activate", "ple_gate", "add_to_streams", "altup_router", "altup_predict", "altup_correct",
        "kv_store", "attention",
};

/* Activation buffers of one step, sized for `cap` rows. */
typedef struct Acts {
        uint32_t cap;
        cl_mem h, pred, an, lo, tmp, al, lmid, q, k, v, o, gate, up, router, pgate, pli;
        cl_mem xd, xq, cs_global, cs_swa, pos, first, wslot;
        size_t bytes[23];
} Acts;

typedef struct ClAccel {
        Gemma3nAccel pub;
        const Gemma3nModel *m;
        ClCtx c;
        cl_program program;
        cl_kernel k[_K_MAX];
        size_t wg;                     /* work-group size of the row-wise kernels */
        char name[200];

        uint32_t n_device_layers;
        ClLayer *layers;               /* [n_device_layers] */
        DevKv *kv;                     /* made for the page size of the first caches seen */
        uint64_t kv_budget;            /* bytes for it */
        Acts a;
        cl_mem table, scores;          /* grown on demand */
        size_t table_bytes, scores_bytes;

        /* The current step. */
        uint32_t T;
        uint32_t *pos;                 /* [a.cap] */
        KvCache **kvs;                 /* [a.cap] */
        uint32_t *first;               /* [a.cap] */
        int32_t *wslot;                /* [a.cap] */
        int32_t *table_host;
        size_t table_host_n;
        float *kv_rows;                /* [a.cap, kv_dim] K/V rows read back for the host pages */
        size_t max_in;                 /* widest matmul input: quantised activations scratch */
} ClAccel;

/* ---- kernel launches -------------------------------------------------------------------------- */

/* Sets the arguments of k from (size, pointer) pairs ending with 0. */
static int set_args(cl_kernel k, GemmaError *err, ...) {
        va_list ap;
        va_start(ap, err);
        for (cl_uint i = 0;; i++) {
                size_t size = va_arg(ap, size_t);
                if (size == 0)
                        break;
                const void *p = va_arg(ap, const void *);
                cl_int code = clSetKernelArg(k, i, size, p);
                if (code != CL_SUCCESS) {
                        va_end(ap);
                        return cl_fail(err, code, "setting a kernel argument");
                }
        }
        va_end(ap);
        return 0;
}

#define M(x) sizeof(cl_mem), (const void *) &(cl_mem) { (x) }
#define U(x) sizeof(cl_uint), (const void *) &(cl_uint) { (cl_uint) (x) }
#define F(x) sizeof(cl_float), (const void *) &(cl_float) { (cl_float) (x) }
#define END (size_t) 0

static int launch(ClAccel *a, int which, cl_uint dims, const size_t *global, const size_t *local, GemmaError *err) {
        size_t g[3];
        for (cl_uint d = 0; d < dims; d++) {
                g[d] = global[d];
                if (local && g[d] % local[d])
                        g[d] += local[d] - g[d] % local[d];
                if (g[d] == 0)
                        return 0;
        }
        cl_int code = clEnqueueNDRangeKernel(a->c.queue, a->k[which], dims, NULL, g, local, 0, NULL, NULL);
        if (code != CL_SUCCESS) {
                char what[64];
                snprintf(what, sizeof(what), "launching %s", kernel_names[which]);
                return cl_fail(err, code, what);
        }
        return 0;
}

/* A row-wise kernel: one work group per row. */
static int launch_rows(ClAccel *a, int which, size_t rows, GemmaError *err) {
        const size_t global = rows * a->wg, local = a->wg;
        return launch(a, which, 1, &global, &local, err);
}

static int launch_1d(ClAccel *a, int which, size_t n, GemmaError *err) {
        return launch(a, which, 1, &n, NULL, err);
}

/* y[t*y_stride + y_off + o] = W[o, :n_in] . x[t*x_stride + x_off + :n_in], o < n_out, t < T. */
static int matmul(ClAccel *a, const DevMatrix *w, uint32_t n_out, uint32_t n_in, cl_mem x, uint32_t x_off,
                  uint32_t x_stride, cl_mem y, uint32_t y_off, uint32_t y_stride, uint32_t T, GemmaError *err) {
        const size_t global[2] = { n_out, (T + TOKENS_PER_ITEM - 1) / TOKENS_PER_ITEM };
        int k;
        switch (w->fmt) {
        case DEV_Q4_0:
        case DEV_Q8_0: {
                const uint32_t nb = n_in / 32;
                const size_t qg[2] = { nb, T };
                if ((k = set_args(a->k[K_QUANTIZE], err, M(x), U(x_off), U(x_stride), U(nb), M(a->a.xd), M(a->a.xq), END)) < 0 ||
                    (k = launch(a, K_QUANTIZE, 2, qg, NULL, err)) < 0)
                        return k;
                const int which = w->fmt == DEV_Q4_0 ? K_MM_Q4_0 : K_MM_Q8_0;
                if ((k = set_args(a->k[which], err, M(w->scales), M(w->values), U(w->nb_row), U(nb), M(a->a.xd), M(a->a.xq),
                                  M(y), U(y_off), U(y_stride), U(n_out), U(T), END)) < 0)
                        return k;
                return launch(a, which, 2, global, NULL, err);
        }
        case DEV_F16:
        case DEV_F32: {
                const int which = w->fmt == DEV_F16 ? K_MM_F16 : K_MM_F32;
                if ((k = set_args(a->k[which], err, M(w->values), U(w->cols), U(n_in), M(x), U(x_off), U(x_stride), M(y),
                                  U(y_off), U(y_stride), U(n_out), U(T), END)) < 0)
                        return k;
                return launch(a, which, 2, global, NULL, err);
        }
        }
        return gemma_error_set(err, -EINVAL, "opencl: unknown device format");
}

/* rows of n values: y = RMSNorm(x) (* w when w != NULL). */
static int rmsnorm(ClAccel *a, cl_mem x, uint32_t x_off, cl_mem y, uint32_t y_off, cl_mem w, uint32_t n, size_t rows,
                   GemmaError *err) {
        const float eps = a->m->hp.norm_eps;
        int k = set_args(a->k[K_RMSNORM], err, M(x), U(x_off), M(y), U(y_off), M(w ? w : x), U(w != NULL), U(n), F(eps), END);
        return k < 0 ? k : launch_rows(a, K_RMSNORM, rows, err);
}

/* ---- placement ------------------------------------------------------------------------------ */

static void layer_free(ClCtx *c, ClLayer *L) {
        DevMatrix *mats[] = { &L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down, &L->inp_gate, &L->proj,
                              &L->laurel_l, &L->laurel_r };
        for (size_t i = 0; i < ELEMENTSOF(mats); i++)
                dev_matrix_free(c, mats[i]);
        cl_mem *vecs[] = { &L->attn_norm, &L->q_norm, &L->k_norm, &L->post_attention_norm, &L->ffn_norm,
                           &L->post_ffw_norm, &L->post_norm, &L->correct_coef, &L->correct_scale, &L->predict_coef,
                           &L->router, &L->router_norm, &L->laurel_post_norm };
        for (size_t i = 0; i < ELEMENTSOF(vecs); i++)
                cl_buffer_free(c, vecs[i], L->vec_bytes[i]);
}

/* The matrices layer l places on the device: K and V only where the layer owns its KV. */
static size_t layer_matrices(const Gemma3nModel *m, uint32_t l, const Tensor *ret[11]) {
        const Gemma3nLayerWeights *w = &m->w.layers[l];
        const Tensor *mats[11] = { &w->attn_q, &w->attn_output, &w->ffn_gate, &w->ffn_up, &w->ffn_down, &w->inp_gate,
                                   &w->proj, &w->laurel_l, &w->laurel_r, &w->attn_k, &w->attn_v };
        memcpy(ret, mats, sizeof(mats));
        return gemma3n_layer_owns_kv(&m->hp, l) ? 11 : 9;
}

/* Device bytes of layer l: its matrices in device formats and its vectors (an upper bound). */
static uint64_t layer_device_bytes(const Gemma3nModel *m, uint32_t l) {
        const Tensor *mats[11];
        const size_t n = layer_matrices(m, l, mats);
        uint64_t b = 0;
        for (size_t i = 0; i < n; i++)
                b += dev_matrix_bytes(mats[i]);
        return b + 16ull * m->hp.n_embd * sizeof(float);
}

/* File bytes of the weights layer l moves to the device (what the host no longer reads). */
static uint64_t layer_file_bytes(const Gemma3nModel *m, uint32_t l) {
        const Tensor *mats[11];
        const size_t n = layer_matrices(m, l, mats);
        uint64_t b = 0;
        for (size_t i = 0; i < n; i++)
                b += mats[i]->row_bytes * mats[i]->ne[1];
        return b;
}

static int layer_upload(ClAccel *a, uint32_t l, ClLayer *L, GemmaError *err) {
        const Gemma3nHParams *hp = &a->m->hp;
        const Gemma3nLayerWeights *w = &a->m->w.layers[l];
        const size_t D = hp->n_embd, n = hp->n_altup, Dh = hp->head_dim;
        struct { DevMatrix *dst; const Tensor *src; } mats[] = {
                { &L->q, &w->attn_q }, { &L->o, &w->attn_output }, { &L->gate, &w->ffn_gate }, { &L->up, &w->ffn_up },
                { &L->down, &w->ffn_down }, { &L->inp_gate, &w->inp_gate }, { &L->proj, &w->proj },
                { &L->laurel_l, &w->laurel_l }, { &L->laurel_r, &w->laurel_r }, { &L->k, &w->attn_k }, { &L->v, &w->attn_v },
        };
        const bool owns = gemma3n_layer_owns_kv(hp, l);
        struct { cl_mem *dst; const float *src; size_t n; } vecs[] = {
                { &L->attn_norm, w->attn_norm, D },
                { &L->q_norm, w->attn_q_norm, Dh },
                { &L->k_norm, owns ? w->attn_k_norm : NULL, Dh },
                { &L->post_attention_norm, w->post_attention_norm, D },
                { &L->ffn_norm, w->ffn_norm, D },
                { &L->post_ffw_norm, w->post_ffw_norm, D },
                { &L->post_norm, w->post_norm, D },
                { &L->correct_coef, w->altup_correct_coef, n * n },
                { &L->correct_scale, w->altup_correct_scale, D },
                { &L->predict_coef, w->altup_predict_coef, n * n * n },
                { &L->router, w->altup_router, n * D },
                { &L->router_norm, w->altup_router_norm, D },
                { &L->laurel_post_norm, w->laurel_post_norm, D },
        };
        int k;
        for (size_t i = 0; i < ELEMENTSOF(mats); i++) {
                if (!owns && (mats[i].dst == &L->k || mats[i].dst == &L->v))
                        continue;
                if ((k = dev_matrix_upload(&a->c, mats[i].src, mats[i].dst, err)) < 0)
                        return k;
        }
        for (size_t i = 0; i < ELEMENTSOF(vecs); i++) {
                if (!vecs[i].src)
                        continue;
                L->vec_bytes[i] = vecs[i].n * sizeof(float);
                if ((k = cl_buffer_new(&a->c, L->vec_bytes[i], vecs[i].src, vecs[i].dst, err)) < 0)
                        return k;
        }
        return 0;
}

/* ---- activations ---------------------------------------------------------------------------- */

static void acts_free(ClAccel *a) {
        cl_mem *bufs[] = { &a->a.h, &a->a.pred, &a->a.an, &a->a.lo, &a->a.tmp, &a->a.al, &a->a.lmid, &a->a.q, &a->a.k,
                           &a->a.v, &a->a.o, &a->a.gate, &a->a.up, &a->a.router, &a->a.pgate, &a->a.pli, &a->a.xd,
                           &a->a.xq, &a->a.cs_global, &a->a.cs_swa, &a->a.pos, &a->a.first, &a->a.wslot };
        for (size_t i = 0; i < ELEMENTSOF(bufs); i++)
                cl_buffer_free(&a->c, bufs[i], a->a.bytes[i]);
        a->a.cap = 0;
}

static int acts_ensure(ClAccel *a, uint32_t T, GemmaError *err) {
        if (T <= a->a.cap)
                return 0;
        const Gemma3nHParams *hp = &a->m->hp;
        const size_t D = hp->n_embd, n = hp->n_altup, qd = (size_t) hp->n_head * hp->head_dim;
        const size_t kvd = (size_t) hp->n_head_kv * hp->head_dim, LP = (size_t) hp->n_layer * hp->n_embd_ple;
        size_t fmax = 0;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                fmax = MAX(fmax, (size_t) hp->n_ff[l]);
        const size_t cap = MAX((size_t) T, 8), f = sizeof(float);
        cl_mem *bufs[] = { &a->a.h, &a->a.pred, &a->a.an, &a->a.lo, &a->a.tmp, &a->a.al, &a->a.lmid, &a->a.q, &a->a.k,
                           &a->a.v, &a->a.o, &a->a.gate, &a->a.up, &a->a.router, &a->a.pgate, &a->a.pli, &a->a.xd,
                           &a->a.xq, &a->a.cs_global, &a->a.cs_swa, &a->a.pos, &a->a.first, &a->a.wslot };
        const size_t sizes[] = {
                n * cap * D * f, n * cap * D * f, cap * D * f, cap * D * f, cap * D * f, cap * D * f,
                cap * hp->laurel_rank * f, cap * qd * f, cap * kvd * f, cap * kvd * f, cap * qd * f, cap * fmax * f,
                cap * fmax * f, cap * n * f, cap * hp->n_embd_ple * f, cap * LP * f, cap * (a->max_in / 32) * 2,
                cap * a->max_in, cap * hp->head_dim * f, cap * hp->head_dim * f, cap * 4, cap * 4, cap * 4,
        };
        acts_free(a);
        int k;
        for (size_t i = 0; i < ELEMENTSOF(bufs); i++) {
                a->a.bytes[i] = sizes[i];
                if ((k = cl_buffer_new(&a->c, sizes[i], NULL, bufs[i], err)) < 0) {
                        acts_free(a);
                        return k;
                }
        }
        free(a->pos);
        free(a->kvs);
        free(a->first);
        free(a->wslot);
        free(a->kv_rows);
        a->pos = new0(uint32_t, cap);
        a->kvs = new0(KvCache *, cap);
        a->first = new0(uint32_t, cap);
        a->wslot = new0(int32_t, cap);
        a->kv_rows = malloc_multiply(cap * 2 * kvd, sizeof(float));
        if (!a->pos || !a->kvs || !a->first || !a->wslot || !a->kv_rows) {
                acts_free(a);
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
        }
        a->a.cap = (uint32_t) cap;
        return 0;
}

static int grow(ClAccel *a, cl_mem *m, size_t *have, size_t need, GemmaError *err) {
        if (need <= *have)
                return 0;
        /* Doubling keeps a slowly growing context from reallocating at every step. */
        const size_t n = MAX(need, *have * 2);
        cl_buffer_free(&a->c, m, *have);
        *have = 0;
        int k = cl_buffer_new(&a->c, n, NULL, m, err);
        if (k < 0)
                return k;
        *have = n;
        return 0;
}

/* ---- the accelerator interface -------------------------------------------------------------- */

static bool accel_runs_layer(const Gemma3nAccel *pub, uint32_t l) {
        const ClAccel *a = (const ClAccel *) pub;
        return l < a->n_device_layers;
}

/* cos and sin of every row's RoPE angles for one base, exactly as the CPU layers take them. */
static void rope_table(const ClAccel *a, double base, float *out) {
        const uint32_t Dh = a->m->hp.head_dim;
        for (uint32_t t = 0; t < a->T; t++)
                op_rope_angles(out + (size_t) t * Dh, Dh, (double) a->pos[t], base);
}

static int write_buf(ClAccel *a, cl_mem m, size_t bytes, const void *src, GemmaError *err) {
        cl_int code = clEnqueueWriteBuffer(a->c.queue, m, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
        return code == CL_SUCCESS ? 0 : cl_fail(err, code, "uploading step data");
}

static int accel_begin(Gemma3nAccel *pub, const Gemma3nAccelRows *rows, GemmaError *err) {
        ClAccel *a = (ClAccel *) pub;
        const Gemma3nHParams *hp = &a->m->hp;
        const size_t LP = (size_t) hp->n_layer * hp->n_embd_ple;
        int k;
        /* The rows' KV pages must share one page size: the kernels index every slot with it. */
        for (uint32_t t = 1; t < rows->T; t++)
                if (rows->kv[t]->page_size != rows->kv[0]->page_size)
                        return gemma_error_set(err, -EINVAL, "opencl: rows with different KV page sizes in one step");
        if ((k = acts_ensure(a, rows->T, err)) < 0)
                return k;
        a->T = rows->T;
        memcpy(a->pos, rows->pos, rows->T * sizeof(uint32_t));
        memcpy(a->kvs, rows->kv, rows->T * sizeof(KvCache *));
        _cleanup_free_ float *cs = malloc_multiply((size_t) rows->T * hp->head_dim, sizeof(float));
        if (!cs)
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
        if ((k = write_buf(a, a->a.pos, rows->T * sizeof(uint32_t), rows->pos, err)) < 0 ||
            (k = write_buf(a, a->a.pli, rows->T * LP * sizeof(float), rows->pli, err)) < 0)
                return k;
        rope_table(a, hp->rope_base, cs);
        if ((k = write_buf(a, a->a.cs_global, (size_t) rows->T * hp->head_dim * sizeof(float), cs, err)) < 0)
                return k;
        rope_table(a, hp->rope_base_swa, cs);
        return write_buf(a, a->a.cs_swa, (size_t) rows->T * hp->head_dim * sizeof(float), cs, err);
}

static int accel_upload_streams(Gemma3nAccel *pub, const float *h, GemmaError *err) {
        ClAccel *a = (ClAccel *) pub;
        const Gemma3nHParams *hp = &a->m->hp;
        return write_buf(a, a->a.h, (size_t) hp->n_altup * a->T * hp->n_embd * sizeof(float), h, err);
}

static int accel_download_streams(Gemma3nAccel *pub, float *h, GemmaError *err) {
        ClAccel *a = (ClAccel *) pub;
        const Gemma3nHParams *hp = &a->m->hp;
        cl_int code = clEnqueueReadBuffer(a->c.queue, a->a.h, CL_TRUE, 0,
                                          (size_t) hp->n_altup * a->T * hp->n_embd * sizeof(float), h, 0, NULL, NULL);
        return code == CL_SUCCESS ? 0 : cl_fail(err, code, "reading the streams back");
}

/* The slot table of layer `src` for every row: table[t, j] holds page first[t]/page_size + j;
 * wslot[t] is the slot row t writes (its own position's page). */
static int kv_tables(ClAccel *a, uint32_t l, uint32_t src, uint32_t *table_w, GemmaError *err) {
        const Gemma3nHParams *hp = &a->m->hp;
        uint32_t tw = 1;
        int k;
        /* Slots mirror host pages: when the caches' page size is not the one the slots were made
         * for, the device cache starts over with the same memory. */
        const uint32_t ps0 = a->kvs[0]->page_size;
        if (!a->kv || ps0 != dev_kv_page_size(a->kv)) {
                const uint32_t kvd = hp->n_head_kv * hp->head_dim;
                const uint64_t slot_bytes = 2ull * ps0 * kvd * sizeof(float);
                const uint32_t n_slots = (uint32_t) MAX(a->kv_budget / slot_bytes, (uint64_t) 64);
                a->kv = dev_kv_free(&a->c, a->kv);
                if ((k = dev_kv_new(&a->c, ps0, kvd, n_slots, &a->kv, err)) < 0)
                        return k;
        }
        dev_kv_next_stamp(a->kv);
        for (uint32_t t = 0; t < a->T; t++) {
                const uint32_t p = a->pos[t];
                a->first[t] = hp->is_swa[l] && p + 1 > hp->sliding_window ? p + 1 - hp->sliding_window : 0;
                const uint32_t ps = a->kvs[t]->page_size;
                tw = MAX(tw, p / ps - a->first[t] / ps + 1);
        }
        size_t need = (size_t) a->T * tw;
        if (need > a->table_host_n) {
                int32_t *tab = realloc(a->table_host, need * sizeof(int32_t));
                if (!tab)
                        return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
                a->table_host = tab;
                a->table_host_n = need;
        }
        for (uint32_t t = 0; t < a->T; t++) {
                const KvCache *kv = a->kvs[t];
                const uint32_t ps = kv->page_size, cls = kv->layer_class[src];
                const uint32_t pg0 = a->first[t] / ps, pg1 = a->pos[t] / ps;
                for (uint32_t pg = pg0; pg <= pg1; pg++) {
                        const KvPage *page = kv->pages[cls][pg];
                        int32_t slot = 0;
                        if (!page)
                                return gemma_error_set(err, -EINVAL, "opencl: KV page %u of layer %u is missing", pg, src);
                        const float *host = kv_cache_k(kv, src, pg * ps);
                        if ((k = dev_kv_slot(&a->c, a->kv, page, src, host, &slot, err)) < 0)
                                return k;
                        a->table_host[(size_t) t * tw + (pg - pg0)] = slot;
                }
                a->wslot[t] = a->table_host[(size_t) t * tw + (pg1 - pg0)];
        }
        if ((k = grow(a, &a->table, &a->table_bytes, need * sizeof(int32_t), err)) < 0 ||
            (k = write_buf(a, a->table, need * sizeof(int32_t), a->table_host, err)) < 0 ||
            (k = write_buf(a, a->a.first, a->T * sizeof(uint32_t), a->first, err)) < 0 ||
            (k = write_buf(a, a->a.wslot, a->T * sizeof(int32_t), a->wslot, err)) < 0)
                return k;
        *table_w = tw;
        return 0;
}

/* HF Gemma3nTextAttention: q (and, for KV owners, k and v) projected, normed and rotated; K/V
 * written to the device pages and to the host pages; attention read through the slot tables. */
static int attention(ClAccel *a, uint32_t l, const ClLayer *L, GemmaError *err) {
        const Gemma3nHParams *hp = &a->m->hp;
        const uint32_t T = a->T, D = hp->n_embd, Dh = hp->head_dim, H = hp->n_head, Hkv = hp->n_head_kv;
        const uint32_t qd = H * Dh, kvd = Hkv * Dh, src = hp->kv_source[l];
        const cl_mem cs = hp->is_swa[l] ? a->a.cs_swa : a->a.cs_global;
        uint32_t tw = 0;
        int k;

        if ((k = matmul(a, &L->q, qd, D, a->a.an, 0, D, a->a.q, 0, qd, T, err)) < 0 ||
            (k = rmsnorm(a, a->a.q, 0, a->a.q, 0, L->q_norm, Dh, (size_t) T * H, err)) < 0)
                return k;
        const size_t rope_q[3] = { Dh / 2, H, T };
        if ((k = set_args(a->k[K_ROPE], err, M(a->a.q), U(H), U(Dh), M(cs), END)) < 0 ||
            (k = launch(a, K_ROPE, 3, rope_q, NULL, err)) < 0)
                return k;
        if ((k = kv_tables(a, l, src, &tw, err)) < 0)
                return k;
        if (src == l) {
                const size_t rope_k[3] = { Dh / 2, Hkv, T }, store[2] = { kvd, T };
                const uint32_t ps = a->kvs[0]->page_size;
                if ((k = matmul(a, &L->k, kvd, D, a->a.an, 0, D, a->a.k, 0, kvd, T, err)) < 0 ||
                    (k = matmul(a, &L->v, kvd, D, a->a.an, 0, D, a->a.v, 0, kvd, T, err)) < 0 ||
                    (k = rmsnorm(a, a->a.k, 0, a->a.k, 0, L->k_norm, Dh, (size_t) T * Hkv, err)) < 0 ||
                    (k = set_args(a->k[K_ROPE], err, M(a->a.k), U(Hkv), U(Dh), M(cs), END)) < 0 ||
                    (k = launch(a, K_ROPE, 3, rope_k, NULL, err)) < 0 ||
                    (k = rmsnorm(a, a->a.v, 0, a->a.v, 0, NULL, Dh, (size_t) T * Hkv, err)) < 0 ||
                    (k = set_args(a->k[K_KV_STORE], err, M(dev_kv_buffer(a->kv)), M(a->a.wslot), M(a->a.pos), M(a->a.k),
                                  M(a->a.v), U(ps), U(kvd), END)) < 0 ||
                    (k = launch(a, K_KV_STORE, 2, store, NULL, err)) < 0)
                        return k;
                /* The host pages stay the truth: CPU layers, copy-on-write and the prefix cache
                 * read them. */
                float *kr = a->kv_rows, *vr = a->kv_rows + (size_t) T * kvd;
                cl_int code = clEnqueueReadBuffer(a->c.queue, a->a.k, CL_FALSE, 0, (size_t) T * kvd * sizeof(float), kr, 0, NULL,
                                                  NULL);
                if (code == CL_SUCCESS)
                        code = clEnqueueReadBuffer(a->c.queue, a->a.v, CL_TRUE, 0, (size_t) T * kvd * sizeof(float), vr, 0,
                                                   NULL, NULL);
                if (code != CL_SUCCESS)
                        return cl_fail(err, code, "reading K/V back");
                for (uint32_t t = 0; t < T; t++) {
                        memcpy(kv_cache_k(a->kvs[t], l, a->pos[t]), kr + (size_t) t * kvd, kvd * sizeof(float));
                        memcpy(kv_cache_v(a->kvs[t], l, a->pos[t]), vr + (size_t) t * kvd, kvd * sizeof(float));
                }
        }

        uint32_t max_keys = 1;
        for (uint32_t t = 0; t < T; t++)
                max_keys = MAX(max_keys, a->pos[t] - a->first[t] + 1);
        const size_t local[2] = { a->wg, 1 }, global[2] = { (size_t) H * a->wg, T };
        const uint32_t ps = a->kvs[0]->page_size;
        if ((k = grow(a, &a->scores, &a->scores_bytes, (size_t) T * H * max_keys * sizeof(float), err)) < 0 ||
            (k = set_args(a->k[K_ATTENTION], err, M(a->a.q), M(dev_kv_buffer(a->kv)), M(a->table), U(tw), M(a->a.pos),
                          M(a->a.first), U(ps), U(kvd), U(Dh), U(H), U(H / Hkv), M(a->scores), U(max_keys), M(a->a.o),
                          END)) < 0 ||
            (k = launch(a, K_ATTENTION, 2, global, local, err)) < 0)
                return k;
        return matmul(a, &L->o, D, qd, a->a.o, 0, qd, a->a.tmp, 0, D, T, err);
}

static int accel_layer(Gemma3nAccel *pub, uint32_t l, uint32_t F, GemmaError *err) {
        ClAccel *a = (ClAccel *) pub;
        const Gemma3nHParams *hp = &a->m->hp;
        const ClLayer *L = &a->layers[l];
        const uint32_t T = a->T, D = hp->n_embd, n = hp->n_altup, act = hp->altup_active, R = hp->laurel_rank;
        const uint32_t P = hp->n_embd_ple, LP = hp->n_layer * P, TD = T * D;
        const size_t per_token[2] = { D, T };
        int k;

        /* AltUp predict. */
        if ((k = set_args(a->k[K_ALTUP_ROUTER], err, M(a->a.h), U(act * TD), M(L->router_norm), M(L->router), M(a->a.router),
                          U(D), U(n), F(hp->norm_eps), END)) < 0 ||
            (k = launch_rows(a, K_ALTUP_ROUTER, T, err)) < 0 ||
            (k = set_args(a->k[K_ALTUP_PREDICT], err, M(a->a.h), M(a->a.pred), M(a->a.router), M(L->predict_coef), U(D), U(T),
                          U(n), END)) < 0 ||
            (k = launch(a, K_ALTUP_PREDICT, 2, per_token, NULL, err)) < 0)
                return k;
        /* Input norm, LAuReL. */
        if ((k = rmsnorm(a, a->a.pred, act * TD, a->a.an, 0, L->attn_norm, D, T, err)) < 0 ||
            (k = matmul(a, &L->laurel_l, R, D, a->a.an, 0, D, a->a.lmid, 0, R, T, err)) < 0 ||
            (k = matmul(a, &L->laurel_r, D, R, a->a.lmid, 0, R, a->a.lo, 0, D, T, err)) < 0 ||
            (k = rmsnorm(a, a->a.lo, 0, a->a.lo, 0, L->laurel_post_norm, D, T, err)) < 0 ||
            (k = set_args(a->k[K_ADD], err, M(a->a.lo), U(0), M(a->a.an), U(0), U(TD), END)) < 0 ||
            (k = launch_1d(a, K_ADD, TD, err)) < 0)
                return k;
        /* Attention, then its residual with the LAuReL branch. */
        if ((k = attention(a, l, L, err)) < 0 ||
            (k = rmsnorm(a, a->a.tmp, 0, a->a.tmp, 0, L->post_attention_norm, D, T, err)) < 0 ||
            (k = set_args(a->k[K_ATTN_RESIDUAL], err, M(a->a.al), M(a->a.pred), U(act * TD), M(a->a.tmp), M(a->a.lo),
                          F(1.0f / sqrtf(2.0f)), U(TD), END)) < 0 ||
            (k = launch_1d(a, K_ATTN_RESIDUAL, TD, err)) < 0)
                return k;
        /* Feed-forward on the first F units (MatFormer). */
        if ((k = rmsnorm(a, a->a.al, 0, a->a.tmp, 0, L->ffn_norm, D, T, err)) < 0 ||
            (k = matmul(a, &L->gate, F, D, a->a.tmp, 0, D, a->a.gate, 0, F, T, err)) < 0 ||
            (k = matmul(a, &L->up, F, D, a->a.tmp, 0, D, a->a.up, 0, F, T, err)) < 0 ||
            (k = set_args(a->k[K_FFN_ACTIVATE], err, M(a->a.gate), M(a->a.up), U(F), F(hp->sparsity_k[l]), END)) < 0 ||
            (k = launch_rows(a, K_FFN_ACTIVATE, T, err)) < 0 ||
            (k = matmul(a, &L->down, D, F, a->a.gate, 0, F, a->a.tmp, 0, D, T, err)) < 0 ||
            (k = rmsnorm(a, a->a.tmp, 0, a->a.tmp, 0, L->post_ffw_norm, D, T, err)) < 0 ||
            (k = set_args(a->k[K_ADD], err, M(a->a.al), U(0), M(a->a.tmp), U(0), U(TD), END)) < 0 ||
            (k = launch_1d(a, K_ADD, TD, err)) < 0)
                return k;
        /* AltUp correct. */
        if ((k = set_args(a->k[K_ALTUP_ROUTER], err, M(a->a.al), U(0), M(L->router_norm), M(L->router), M(a->a.router), U(D),
                          U(n), F(hp->norm_eps), END)) < 0 ||
            (k = launch_rows(a, K_ALTUP_ROUTER, T, err)) < 0 ||
            (k = set_args(a->k[K_ALTUP_CORRECT], err, M(a->a.h), M(a->a.pred), M(a->a.al), M(a->a.router), M(L->correct_coef),
                          U(D), U(T), U(n), U(act), END)) < 0 ||
            (k = launch(a, K_ALTUP_CORRECT, 2, per_token, NULL, err)) < 0)
                return k;
        /* Per-layer input injection into the other streams. */
        if ((k = set_args(a->k[K_SCALE_ROWS], err, M(a->a.tmp), M(a->a.h), U(act * TD), M(L->correct_scale), U(D), U(TD),
                          END)) < 0 ||
            (k = launch_1d(a, K_SCALE_ROWS, TD, err)) < 0 ||
            (k = matmul(a, &L->inp_gate, P, D, a->a.tmp, 0, D, a->a.pgate, 0, P, T, err)) < 0 ||
            (k = set_args(a->k[K_PLE_GATE], err, M(a->a.pgate), M(a->a.pli), U(P), U(LP), U(l * P), U(T * P), END)) < 0 ||
            (k = launch_1d(a, K_PLE_GATE, (size_t) T * P, err)) < 0 ||
            (k = matmul(a, &L->proj, D, P, a->a.pgate, 0, P, a->a.tmp, 0, D, T, err)) < 0 ||
            (k = rmsnorm(a, a->a.tmp, 0, a->a.tmp, 0, L->post_norm, D, T, err)) < 0 ||
            (k = set_args(a->k[K_ADD_TO_STREAMS], err, M(a->a.h), M(a->a.tmp), U(n), U(act), U(TD), END)) < 0 ||
            (k = launch_1d(a, K_ADD_TO_STREAMS, TD, err)) < 0)
                return k;
        return 0;
}

static void accel_free(Gemma3nAccel *pub) {
        ClAccel *a = (ClAccel *) pub;
        if (!a)
                return;
        if (a->c.queue)
                clFinish(a->c.queue);
        for (uint32_t l = 0; a->layers && l < a->n_device_layers; l++)
                layer_free(&a->c, &a->layers[l]);
        free(a->layers);
        acts_free(a);
        cl_buffer_free(&a->c, &a->table, a->table_bytes);
        cl_buffer_free(&a->c, &a->scores, a->scores_bytes);
        dev_kv_free(&a->c, a->kv);
        for (int i = 0; i < _K_MAX; i++)
                if (a->k[i])
                        clReleaseKernel(a->k[i]);
        if (a->program)
                clReleaseProgram(a->program);
        if (a->c.queue)
                clReleaseCommandQueue(a->c.queue);
        if (a->c.context)
                clReleaseContext(a->c.context);
        free(a->pos);
        free(a->kvs);
        free(a->first);
        free(a->wslot);
        free(a->table_host);
        free(a->kv_rows);
        free(a);
}

uint32_t cl_accel_device_layers(const Gemma3nAccel *pub) {
        return ((const ClAccel *) pub)->n_device_layers;
}

/* ---- construction --------------------------------------------------------------------------- */

static int build_program(ClAccel *a, const ClDevice *dev, const ClAccelOptions *o, GemmaError *err) {
        static const char broken[] = "\n#error the source was broken on purpose (test hook)\n";
        char options[64];
        int k;

        /* Row-wise kernels use a power-of-two work group no larger than the device allows. */
        size_t max_wg = 1;
        clGetDeviceInfo(a->c.device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(max_wg), &max_wg, NULL);
        a->wg = 1;
        while (a->wg * 2 <= MIN(max_wg, (size_t) WG_MAX))
                a->wg *= 2;
        snprintf(options, sizeof(options), "-DWG=%zu -cl-std=CL1.2", a->wg);

        _cleanup_free_ char *source = NULL;
        if (o->break_source) {
                source = malloc(strlen(gemma3n_cl_source) + sizeof(broken));
                if (!source)
                        return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
                strcpy(stpcpy(source, gemma3n_cl_source), broken);
        }
        if ((k = cl_program_build_cached(a->c.context, dev, source ? source : gemma3n_cl_source, options, o->cache_dir,
                                         &a->program, NULL, err)) < 0)
                return k;
        for (int i = 0; i < _K_MAX; i++) {
                cl_int code;
                a->k[i] = clCreateKernel(a->program, kernel_names[i], &code);
                if (!a->k[i])
                        return cl_fail(err, code, kernel_names[i]);
                size_t kwg = 0;
                clGetKernelWorkGroupInfo(a->k[i], a->c.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof(kwg), &kwg, NULL);
                if (kwg && kwg < a->wg)
                        return gemma_error_set(err, -ENODEV, "opencl: kernel %s allows work groups of %zu, fewer than %zu",
                                               kernel_names[i], kwg, a->wg);
        }
        return 0;
}

int cl_accel_new(const Gemma3nModel *m, const ClDevice *dev, const ClAccelOptions *o, Gemma3nAccel **ret,
                 char *summary, size_t summary_size, GemmaError *err) {
        static const ClAccelOptions defaults = { 0 };
        const Gemma3nHParams *hp = &m->hp;
        cl_int code;
        int k;

        if (!o)
                o = &defaults;
        ClAccel *a = new0(ClAccel, 1);
        if (!a)
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
        a->pub = (Gemma3nAccel) { .name = a->name, .runs_layer = accel_runs_layer, .begin = accel_begin,
                                  .upload_streams = accel_upload_streams, .download_streams = accel_download_streams,
                                  .layer = accel_layer, .free = accel_free };
        a->m = m;
        a->c.device = dev->id;
        a->c.max_alloc = dev->max_alloc ? dev->max_alloc : UINT64_MAX;
        snprintf(a->name, sizeof(a->name), "opencl:%s", dev->name);

        a->c.context = clCreateContext(NULL, 1, &dev->id, NULL, NULL, &code);
        if (!a->c.context) {
                k = cl_fail(err, code, "creating a context");
                goto fail;
        }
        a->c.queue = clCreateCommandQueue(a->c.context, dev->id, 0, &code);
        if (!a->c.queue) {
                k = cl_fail(err, code, "creating a command queue");
                goto fail;
        }
        if ((k = build_program(a, dev, o, err)) < 0)
                goto fail;

        a->max_in = 32;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                a->max_in = MAX(a->max_in, (size_t) hp->n_ff[l]);
        a->max_in = MAX(a->max_in, (size_t) hp->n_embd);
        a->max_in = MAX(a->max_in, (size_t) hp->n_head * hp->head_dim);
        a->max_in = MAX(a->max_in, (size_t) hp->n_embd_ple);
        a->max_in = MAX(a->max_in, (size_t) hp->laurel_rank);

        /* The budget: what the caller allows, else 90% of the device, less the KV pages and the
         * activations; then layers in order while they fit. */
        const uint64_t budget = o->max_device_bytes ? o->max_device_bytes : dev->global_mem / 10 * 9;
        /* KV pages kept on the device: enough for a few sequences at the model's trained
         * context, within a quarter of the budget; a miss only costs an upload. The slots are
         * made at the first step, when the caches' page size is known. */
        const uint64_t kvd = (uint64_t) hp->n_head_kv * hp->head_dim;
        uint64_t positions = 0;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                if (gemma3n_layer_owns_kv(hp, l))
                        positions += (hp->is_swa[l] ? hp->sliding_window : hp->n_ctx_train) + 128;
        a->kv_budget = MIN(MIN(budget / 4, 512ull << 20), 4 * positions * 2 * kvd * sizeof(float));
        if ((k = acts_ensure(a, 8, err)) < 0)
                goto fail;
        const uint64_t reserved = a->kv_budget;
        a->layers = new0(ClLayer, hp->n_layer);
        if (!a->layers) {
                k = gemma_error_set(err, -ENOMEM, "opencl: out of memory");
                goto fail;
        }
        GemmaError placement = { 0 };
        uint64_t file_bytes = 0;
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                if (a->c.allocated + reserved + layer_device_bytes(m, l) > budget)
                        break;
                if (layer_upload(a, l, &a->layers[l], &placement) < 0) {
                        /* The device ran out: this layer and the rest stay on the CPU. */
                        layer_free(&a->c, &a->layers[l]);
                        break;
                }
                file_bytes += layer_file_bytes(m, l);
                a->n_device_layers = l + 1;
        }
        if (a->n_device_layers == 0) {
                k = gemma_error_set(err, -ENOMEM, "opencl: not even one layer fits in %llu MiB of device memory%s%s",
                                    (unsigned long long) (budget >> 20), placement.message[0] ? ": " : "",
                                    placement.message);
                goto fail;
        }
        const uint64_t working = a->c.allocated + reserved;
        a->pub.device_bytes = 0;
        for (uint32_t l = 0; l < a->n_device_layers; l++)
                a->pub.device_bytes += layer_device_bytes(m, l);
        a->pub.host_bytes = m->w.bytes_total - file_bytes;
        if (summary)
                snprintf(summary, summary_size,
                         "%s: layers 0-%u of %u on the device (%s), %.1f MiB of weights on the device, %.1f MiB read on the host, %.1f MiB device memory in all%s",
                         a->name, a->n_device_layers - 1, hp->n_layer,
                         a->n_device_layers == hp->n_layer ? "all" : "the rest on the CPU",
                         (double) a->pub.device_bytes / 1048576.0, (double) a->pub.host_bytes / 1048576.0,
                         (double) working / 1048576.0,
                         a->c.converted ? "; some weight types converted to F16" : "");
        *ret = &a->pub;
        return 0;
fail:
        accel_free(&a->pub);
        return k;
}
