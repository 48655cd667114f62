/* Element-wise and row-wise operations of the decoder, in f32 (reference versions). */
#pragma once

#include <stddef.h>

/* x = x / sqrt(mean(x^2) + eps) * w (w may be NULL: the weight-less norm). In place allowed. */
void op_rmsnorm(float *dst, const float *x, const float *w, size_t n, float eps);

/* sqrt(mean(x^2)) */
float op_rms(const float *x, size_t n);

/* RoPE in the "NEOX" layout rotates the pairs (i, i + n/2) of a head vector by the angles
 * pos * base^(-2i/n). op_rope_angles() computes their cos and sin, interleaved (cs[2i], cs[2i+1]),
 * once for every head of a token; op_rope_apply() rotates one head by them. */
void op_rope_angles(float *cs, size_t n, double pos, double base);
void op_rope_apply(float *x, size_t n, const float *cs);

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): the tanh approximation of GELU, in f32,
 * computed as the same function x / (1 + exp(-2u)). op_gelu_exp_arg() is that -2u, for callers
 * that take the exps in bulk. */
static inline float op_gelu_exp_arg(float x) {
        return -2.0f * (0.7978845608028654f * (x + 0.044715f * x * x * x));
}
float op_gelu_tanh(float x);

/* The Gaussian top-k cutoff of a row (activation sparsity): mean + k * std_population; values
 * become max(x - cutoff, 0). */
float op_gaussian_cutoff(const float *x, size_t n, float k);
