/* Element-wise and row-wise operations of the decoder, in f32 (reference versions). */
#pragma once

#include <stddef.h>

/* x = x / sqrt(mean(x^2) + eps) * w (w may be NULL: the weight-less norm). In place allowed. */
void op_rmsnorm(float *dst, const float *x, const float *w, size_t n, float eps);

/* sqrt(mean(x^2)) */
float op_rms(const float *x, size_t n);

/* Rotates pairs (i, i + n/2) of one head vector by angle pos * base^(-2i/n) ("NEOX" layout). */
void op_rope_neox(float *x, size_t n, double pos, double base);

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh approximation, in f32. */
float op_gelu_tanh(float x);

/* Softmax over n values in place (max subtracted first). */
void op_softmax(float *x, size_t n);

/* Gaussian top-k (activation sparsity): x = max(x - (mean + k * std_population), 0). */
void op_gaussian_topk(float *x, size_t n, float k);
