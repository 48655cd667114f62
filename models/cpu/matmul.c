/* Matmul: activations prepared once per call in the kernel's format, output rows split across
 * the compute threads, one dot kernel per (row, token) or per tile of rows x tokens. */
#include "matmul.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "cpu-features.h"
#include "dot.h"
#include "kernels.h"
#include "packed.h"
#include "tensor/type-traits.h"

void tensor_dequant_row(const Tensor *w, size_t row, float *dst, size_t n) {
        const TypeTraits *t = type_traits(w->type);
        assert(t && t->dequant_ref && n % t->block_elems == 0);
        t->dequant_ref(tensor_row(w, row), dst, n);
}

int cpu_compute_new(uint32_t n_threads, CpuCompute **ret, GemmaError *err) {
        CpuCompute *c = new0(CpuCompute, 1);
        int k;
        if (!c)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        if ((k = threadpool_new(n_threads, &c->pool, err)) < 0) {
                free(c);
                return k;
        }
        c->features = cpu_features_get();
        *ret = c;
        return 0;
}

CpuCompute *cpu_compute_free(CpuCompute *c) {
        if (!c)
                return NULL;
        threadpool_free(c->pool);
        free(c->act);
        free(c);
        return NULL;
}

const char *matmul_kernel_name(uint32_t type, uint32_t features) {
        const DotKernel *k = dot_kernel_find(type, features);
        return k ? k->name : "none";
}

/* How many rows ahead a partial-row matmul fetches (see matmul_rows). */
#define PARTIAL_ROWS_AHEAD 2

/* Asks for [p, p + len) to be brought into L2 (prefetcht1: into L1 the requests compete with the
 * loads of the row being read). */
static void prefetch_bytes(const char *p, size_t len) {
        for (size_t k = 0; k < len; k += 64)
                __builtin_prefetch(p + k, 0, 2);
        if (len)
                __builtin_prefetch(p + len - 1, 0, 2);
}

F32DotFn cpu_dot_f32(const CpuCompute *c) {
        return dot_kernel_find(GGML_TYPE_F32, c ? c->features : cpu_features_get())->dot;
}

void cpu_dot_rows_f32(const CpuCompute *c, size_t n, const float *rows, size_t stride, size_t n_rows, const float *x,
                      size_t x_stride, size_t n_x, float *ret, size_t ret_stride) {
        const DotKernel *k = dot_kernel_find(GGML_TYPE_F32, c ? c->features : cpu_features_get());
        size_t r = 0;
        if (k->tile && n_x <= k->tile_tokens)
                for (const size_t R = k->tile_rows; r + R <= n_rows; r += R) {
                        const float *next = r + 2 * R <= n_rows ? rows + (r + R) * stride : NULL;
                        k->tile(n, rows + r * stride, stride * sizeof(float), next, x, x_stride * sizeof(float), n_x,
                                ret + r, ret_stride);
                }
        for (; r < n_rows; r++)
                for (size_t t = 0; t < n_x; t++)
                        k->dot(n, rows + r * stride, x + t * x_stride, &ret[t * ret_stride + r]);
}

/* Whether the AVX2 helper kernels (dot-avx2.c) may run: built, and the CPU has what they need. */
static bool avx2_helpers(const CpuCompute *c) {
#if GEMMAD_HAVE_AVX2
        const uint32_t avx2 = CPU_FEATURE_AVX2 | CPU_FEATURE_FMA | CPU_FEATURE_F16C;
        return ((c ? c->features : cpu_features_get()) & avx2) == avx2;
#else
        return false;
#endif
}

F32AxpyRowsFn cpu_axpy_rows_f32(const CpuCompute *c) {
#if GEMMAD_HAVE_AVX2
        if (avx2_helpers(c))
                return axpy_rows_f32_avx2;
#endif
        return axpy_rows_f32_ref;
}

F32ExpFn cpu_exp_f32(const CpuCompute *c) {
#if GEMMAD_HAVE_AVX2
        if (avx2_helpers(c))
                return exp_f32_avx2;
#endif
        return exp_f32_ref;
}

typedef struct MatmulJob {
        const DotKernel *kernel;
        const Tensor *w;
        size_t n_out, n_in, n_tokens;
        const uint8_t *act;       /* prepared activations, act_stride bytes per token */
        size_t act_stride;
        float *y;
        size_t y_stride;
} MatmulJob;

/* Whole tiles of `rows` rows over [o, end) through tile kernel fn, every token in calls of at most
 * the kernel's tile_tokens; row r's tile starts at base + r * row_bytes (the file's rows, or their
 * packed copy, which keeps the same offsets). The first call for a tile brings the next tile in
 * (kernels.h). Returns where the whole tiles end. */
static size_t tile_rows(const MatmulJob *j, DotTileFn fn, const void *base, size_t rows, size_t o, size_t end) {
        const size_t tokens = j->kernel->tile_tokens, row_bytes = j->w->row_bytes;
        for (; o + rows <= end; o += rows) {
                const uint8_t *tile = (const uint8_t *) base + o * row_bytes;
                const void *next = o + 2 * rows <= end ? tile + rows * row_bytes : NULL;
                for (size_t t = 0; t < j->n_tokens; t += tokens)
                        fn(j->n_in, tile, row_bytes, t == 0 ? next : NULL, j->act + t * j->act_stride, j->act_stride,
                           MIN(tokens, j->n_tokens - t), &j->y[t * j->y_stride + o], j->y_stride);
        }
        return o;
}

/* Rows are dealt out in equal contiguous ranges, so each thread streams its own part of the
 * weights once; a row (or a tile's rows) is reused from cache for every token.
 *
 * Rows [o, end) read from the file (the matrix has no packed copy, or these rows are not whole
 * tiles of it). With a tile kernel and several tokens, tiles cover the rows they fit; the rows left
 * at the end of a part go one (row, token) at a time, which gives the same bits. One token
 * (decoding) goes row by row: a tile would share only the activations, which sit in L1 anyway, and
 * one whole row read through is what streams best from memory (measured: a tile on one token is
 * slower there). Except when only the
 * first n_in columns of each row are read (a MatFormer slice of ffn_down): the gap after each row
 * stops the hardware prefetchers, and a tile, which asks for the next tile's used columns as it
 * goes, streams such rows best (E2B's ffn_down at 3/4 width, 30 layers, one token: 15-19 ms row by
 * row, 9.5-11 ms in tiles, 11 ms for the whole matrix). */
static void rows_from_file(const MatmulJob *j, size_t o, size_t end) {
        const DotKernel *kernel = j->kernel;

        const bool partial_rows = j->n_in < j->w->ne[0];
        if (kernel->tile && (j->n_tokens > 1 || partial_rows))
                o = tile_rows(j, kernel->tile, j->w->data, kernel->tile_rows, o, end);
        /* Partial rows of a type without a tile: the gap between the bytes used of one row and the
         * next stops the hardware prefetchers (a 3/4 slice of E2B's ffn_down took twice as long as
         * the whole matrix), so a row asks for the used bytes of the row PARTIAL_ROWS_AHEAD on, far
         * enough to hide the latency (1.9x faster on that slice); whole rows are left to the
         * hardware, which a software stream only slows down. */
        const size_t used_bytes = j->n_in / type_traits(j->w->type)->block_elems *
                                  type_traits(j->w->type)->block_bytes;
        for (; o < end; o++) {
                const char *row = tensor_row(j->w, o);
                if (partial_rows && o + PARTIAL_ROWS_AHEAD < end)
                        prefetch_bytes(tensor_row(j->w, o + PARTIAL_ROWS_AHEAD), used_bytes);
                for (size_t t = 0; t < j->n_tokens; t++)
                        kernel->dot(j->n_in, row, j->act + t * j->act_stride, &j->y[t * j->y_stride + o]);
        }
}

/* Rows [o, end) of one product: from the packed copy where the matrix has one and the rows make
 * whole tiles of it, the rest from the file; the same bits either way. Packed tiles take every
 * token count, one token included, since there is no transpose left to share. */
static void matmul_rows(const MatmulJob *j, size_t o, size_t end) {
        const uint8_t *packed = j->kernel->tile_packed ? tensor_packed(j->w) : NULL;
        if (packed) {
                const size_t first = MIN((o + PACKED_TILE_ROWS - 1) / PACKED_TILE_ROWS * PACKED_TILE_ROWS, end);
                const size_t last = MAX(first, MIN(end, j->w->packed_rows) / PACKED_TILE_ROWS * PACKED_TILE_ROWS);
                rows_from_file(j, o, first);
                tile_rows(j, j->kernel->tile_packed, packed, PACKED_TILE_ROWS, first, last);
                o = last;
        }
        rows_from_file(j, o, end);
}

/* Tokens quantised as one job of the pool: a token's row is the unit, so the bytes are the same
 * whatever the split. */
typedef struct QuantizeJob {
        ActQuantizeFn quantize;
        const float *x;
        size_t x_stride, n_in, n_tokens, act_stride;
        uint8_t *dst;
} QuantizeJob;

static void quantize_part(void *userdata, uint32_t part, uint32_t n_parts) {
        const QuantizeJob *q = userdata;
        const size_t begin = q->n_tokens * part / n_parts, end = q->n_tokens * (part + 1) / n_parts;
        for (size_t t = begin; t < end; t++)
                q->quantize(q->x + t * q->x_stride, q->dst + t * q->act_stride, q->n_in);
}

/* Prepares x in the kernel's activation format into c's scratch (or a new buffer, returned in
 * *ret_owned, when c is NULL); float kernels read x itself. Several tokens are quantised on the
 * compute threads: on the calling thread alone the others would wait (four batched sessions:
 * 2 % of a step's samples, as long again of the other thread's waiting). */
static void prepare_activations(CpuCompute *c, const DotKernel *kernel, uint32_t features, size_t n_in,
                                const float *x, size_t x_stride, size_t n_tokens, MatmulJob *job, void **ret_owned) {
        *ret_owned = NULL;
        if (kernel->act == ACT_F32) {
                job->act = (const uint8_t *) x;
                job->act_stride = x_stride * sizeof(float);
                return;
        }
        ActFormatInfo info = act_format_info(kernel->act, features);
        assert(n_in % info.block_elems == 0);
        job->act_stride = act_bytes(&info, n_in);
        size_t need = job->act_stride * n_tokens;
        void *scratch;
        if (c) {
                if (c->act_size < need) {
                        void *a = realloc(c->act, need);
                        if (!a)
                                abort();   /* activations of one batch: small next to the model */
                        c->act = a;
                        c->act_size = need;
                }
                scratch = c->act;
        } else if (!(scratch = *ret_owned = malloc(need ? need : 1)))
                abort();
        QuantizeJob q = { .quantize = info.quantize, .x = x, .x_stride = x_stride, .n_in = n_in,
                          .n_tokens = n_tokens, .act_stride = job->act_stride, .dst = scratch };
        if (c && n_tokens > 1)
                threadpool_run(c->pool, quantize_part, &q);
        else
                quantize_part(&q, 0, 1);
        job->act = scratch;
}

/* The products of one call as one job: the outputs' rows one after another, split into equal
 * ranges whose ends fall on multiples of SHARED_ROW_ALIGN (the tiles' rows), so that a part's rows
 * of each matrix go through whole tiles. */
#define SHARED_ROW_ALIGN 16

typedef struct SharedJob {
        MatmulJob jobs[MATMUL_SHARED_MAX];
        size_t first_row[MATMUL_SHARED_MAX];   /* of each output in the sequence */
        size_t n_jobs, total_rows;
} SharedJob;

static size_t shared_boundary(const SharedJob *s, uint32_t part, uint32_t n_parts) {
        if (part == n_parts)
                return s->total_rows;
        return s->total_rows * part / n_parts / SHARED_ROW_ALIGN * SHARED_ROW_ALIGN;
}

static void shared_part(void *userdata, uint32_t part, uint32_t n_parts) {
        const SharedJob *s = userdata;
        const size_t begin = shared_boundary(s, part, n_parts), end = shared_boundary(s, part + 1, n_parts);
        for (size_t k = 0; k < s->n_jobs; k++) {
                const size_t first = s->first_row[k], last = first + s->jobs[k].n_out;
                if (begin < last && end > first)
                        matmul_rows(&s->jobs[k], MAX(begin, first) - first, MIN(end, last) - first);
        }
}

void matmul_shared(CpuCompute *c, const MatmulOutput *outs, size_t n_outs, size_t n_in, const float *x,
                   size_t x_stride, size_t n_tokens) {
        const uint32_t features = c ? c->features : cpu_features_get();
        SharedJob s = { .n_jobs = n_outs };
        void *owned;

        assert(n_outs >= 1 && n_outs <= MATMUL_SHARED_MAX);
        for (size_t k = 0; k < n_outs; k++) {
                const DotKernel *kernel = dot_kernel_find(outs[k].w->type, features);
                assert(kernel && outs[k].n_out <= outs[k].w->ne[1] && n_in <= outs[k].w->ne[0]);
                if (k > 0 && kernel->act != s.jobs[0].kernel->act) {
                        /* weight types that want other activations (a real GGUF may mix q4_k and q6_k):
                         * each output on its own */
                        for (size_t i = 0; i < n_outs; i++)
                                matmul(c, outs[i].w, outs[i].n_out, n_in, x, x_stride, outs[i].y, outs[i].y_stride,
                                       n_tokens);
                        return;
                }
                s.jobs[k] = (MatmulJob) { .kernel = kernel, .w = outs[k].w, .n_out = outs[k].n_out, .n_in = n_in,
                                          .n_tokens = n_tokens, .y = outs[k].y, .y_stride = outs[k].y_stride };
                s.first_row[k] = s.total_rows;
                s.total_rows += outs[k].n_out;
        }
        prepare_activations(c, s.jobs[0].kernel, features, n_in, x, x_stride, n_tokens, &s.jobs[0], &owned);
        for (size_t k = 1; k < n_outs; k++) {
                s.jobs[k].act = s.jobs[0].act;
                s.jobs[k].act_stride = s.jobs[0].act_stride;
        }
        threadpool_run(c ? c->pool : NULL, shared_part, &s);
        free(owned);
}

void matmul(CpuCompute *c, const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride, float *y,
            size_t y_stride, size_t n_tokens) {
        const MatmulOutput out = { .w = w, .n_out = n_out, .y = y, .y_stride = y_stride };
        matmul_shared(c, &out, 1, n_in, x, x_stride, n_tokens);
}
