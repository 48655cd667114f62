/* Matrix products against weights in any supported type: the one entry point every layer uses.
 *
 * matmul() prepares the activations once in the format the weight type's kernel pairs with
 * (kernels.h), then splits the output rows across the compute threads. Which kernel runs is a
 * table lookup by weight type and CPU features; matmul_kernel_name() says which, for logs and
 * benchmarks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tensor/tensor.h"
#include "threadpool.h"

/* Per-engine compute state: the thread pool, the CPU features kernels may use, and scratch for
 * prepared activations. Used by one thread at a time (the engine thread). */
typedef struct CpuCompute {
        ThreadPool *pool;
        uint32_t features;
        void *act;
        size_t act_size;
} CpuCompute;

/* n_threads 0: one per physical core. */
int cpu_compute_new(uint32_t n_threads, CpuCompute **ret, GemmaError *err);
CpuCompute *cpu_compute_free(CpuCompute *c);

static inline void cpu_compute_freep(CpuCompute **c) {
        if (*c)
                cpu_compute_free(*c);
}

/* y[t*y_stride + o] = sum_{i < n_in} W[o][i] * x[t*x_stride + i]
 * for o < n_out (the first n_out rows of W) and t < n_tokens.
 * n_in may be less than W's row length (MatFormer: the first n_in columns of ffn_down); it must
 * then be a multiple of the type's block size, which the model checks when a slice is chosen.
 * c may be NULL: one thread, this machine's features, temporary scratch.
 * Every output has the same bits whatever n_tokens and the number of threads: a token's row of y
 * does not depend on the other tokens of the call (batched decoding of several sessions relies on
 * it). */
void matmul(CpuCompute *c, const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride, float *y,
            size_t y_stride, size_t n_tokens);

/* One product of matmul_shared(): the first n_out rows of w, into y (y_stride per token). */
typedef struct MatmulOutput {
        const Tensor *w;
        size_t n_out;
        float *y;
        size_t y_stride;
} MatmulOutput;

#define MATMUL_SHARED_MAX 4

/* matmul() for up to MATMUL_SHARED_MAX matrices that read the same input x (n_in columns each),
 * with the same bits as one matmul() call per output. When every weight type's kernel takes the
 * same activation format, x is prepared once and one pass of the thread pool covers all the
 * outputs' rows: a layer's Q, K, V (and LAuReL's left matrix) or its FFN gate and up become one
 * job for the threads instead of several, each of which they would wait at the end of. */
void matmul_shared(CpuCompute *c, const MatmulOutput *outs, size_t n_outs, size_t n_in, const float *x,
                   size_t x_stride, size_t n_tokens);

/* *ret = sum_{i < n} a[i] * b[i] over floats, with the fastest kernel the CPU features of c allow
 * (c NULL: this machine's); the same bits for the same inputs on every call. */
typedef void (*F32DotFn)(size_t n, const void *a, const void *b, float *ret);
F32DotFn cpu_dot_f32(const CpuCompute *c);

/* ret[t * ret_stride + r] = sum_{i < n} rows[r * stride + i] * x[t * x_stride + i] for r < n_rows and
 * t < n_x: attention's scores, several query heads against a run of key rows. Each result has the
 * bits cpu_dot_f32(c) gives it; the rows are taken a few at a time for all of x, while the next
 * few are fetched. */
void cpu_dot_rows_f32(const CpuCompute *c, size_t n, const float *rows, size_t stride, size_t n_rows, const float *x,
                      size_t x_stride, size_t n_x, float *ret, size_t ret_stride);

/* out[i] += sum_{u < n_rows} w[u] * x[u * stride + i] for i < n, with the fastest kernel the CPU
 * features of c allow: attention's weighted sum of value rows. */
typedef void (*F32AxpyRowsFn)(size_t n, const float *x, size_t stride, const float *w, size_t n_rows, float *out);
F32AxpyRowsFn cpu_axpy_rows_f32(const CpuCompute *c);

/* x[i] = exp(x[i]) in place, with the fastest kernel the CPU features of c allow (dot.h says how
 * close to expf; NaN stays NaN, arguments are clamped to about +-88.4). */
typedef void (*F32ExpFn)(float *x, size_t n);
F32ExpFn cpu_exp_f32(const CpuCompute *c);

/* The kernel matmul() uses for a weight type with the given features, for logs and benchmarks. */
const char *matmul_kernel_name(uint32_t type, uint32_t features);

/* Dequantises the first n values of row `row` of w into dst (n a multiple of the block size). */
void tensor_dequant_row(const Tensor *w, size_t row, float *dst, size_t n);
