/* Element-wise and row-wise operations of the decoder, in f32 (reference versions). */
#pragma once

#include <stddef.h>

/* x = x / sqrt(mean(x^2) + eps) * w (w may be NULL: the weight-less norm). In place allowed. */
void op_rmsnorm(float *dst, const float *x, const float *w, size_t n, float eps);

/* sqrt(mean(x^2)) */
float op_rms(const float *x, size_t n);

/* Rotates pairs (i, i + n/2) of one head vector by angle pos * base^(-2i/n) ("NEOX" layout). */
void op_rope_neox(float *x, size_t n, double pos, double base);

/* The cos and sin of the n/2 angles pos * base^(-2i/n), interleaved (cs[2i], cs[2i+1]): what
 * op_rope_neox() rotates by, computed once for every head of a token. */
void op_rope_angles(float *cs, size_t n, double pos, double base);

/* op_rope_neox() with the angles given: the same results. */
void op_rope_apply(float *x, size_t n, const float *cs);

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh approximation, in f32 (computed as
 * x / (1 + exp(-2 sqrt(2/pi) (x + 0.044715 x^3))), the same function). */
float op_gelu_tanh(float x);

/* Softmax over n values in place (max subtracted first). */
void op_softmax(float *x, size_t n);

/* The Gaussian top-k cutoff of a row: mean + k * std_population. */
float op_gaussian_cutoff(const float *x, size_t n, float k);

/* Gaussian top-k (activation sparsity): x = max(x - (mean + k * std_population), 0). */
void op_gaussian_topk(float *x, size_t n, float k);
