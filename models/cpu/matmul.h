/* Matrix products against weights in any supported type. The one entry point every layer uses.
 *
 * Each weight type has a row in a kernel table (matmul.c) with a name; the reference row
 * dequantises a weight row once and dots it with every token. Faster rows for a type replace
 * the reference by being listed before it, so callers never change. */
#pragma once

#include <stddef.h>

#include "tensor/tensor.h"

/* y[t*y_stride + o] = sum_{i < n_in} W[o][i] * x[t*x_stride + i]
 * for o < n_out (the first n_out rows of W) and t < n_tokens.
 * n_in may be less than W's row length (MatFormer: the first n_in columns of ffn_down); it must
 * then be a multiple of the type's block size, which the model checks when a slice is chosen. */
void matmul(const Tensor *w, size_t n_out, size_t n_in,
            const float *x, size_t x_stride, float *y, size_t y_stride, size_t n_tokens);

/* The kernel that matmul() uses for a weight type, for logs and benchmarks. */
const char *matmul_kernel_name(unsigned type);

/* Dequantises the first n values of row `row` of w into dst (n a multiple of the block size). */
void tensor_dequant_row(const Tensor *w, size_t row, float *dst, size_t n);
