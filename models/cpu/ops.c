/* Reference f32 operations used by the decoder. Accumulations that decide a normalisation run in
 * double so the result does not depend on summation order. */
#include "ops.h"

#include <math.h>

/* Sums over a vector, in double, in eight partial sums: independent chains, so the loops go at the
 * adder's throughput rather than its latency (one chain made RMSNorm ~1.5 % of a four-session
 * decoding step, all of it on the engine thread while the other threads waited). The partial
 * sums are added in one fixed order: the same bits on every call. */
#define SUM_PARTS 8

static double sum_parts(const double part[SUM_PARTS]) {
        return ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
}

/* sum_i (x[i] - center)^2 */
static double sum_squared_deviations(const float *x, size_t n, double center) {
        double part[SUM_PARTS] = { 0 };
        size_t i = 0;
        for (; i + SUM_PARTS <= n; i += SUM_PARTS)
                for (int k = 0; k < SUM_PARTS; k++)
                        part[k] += ((double) x[i + k] - center) * ((double) x[i + k] - center);
        double sum = sum_parts(part);
        for (; i < n; i++)
                sum += ((double) x[i] - center) * ((double) x[i] - center);
        return sum;
}

static double sum_values(const float *x, size_t n) {
        double part[SUM_PARTS] = { 0 };
        size_t i = 0;
        for (; i + SUM_PARTS <= n; i += SUM_PARTS)
                for (int k = 0; k < SUM_PARTS; k++)
                        part[k] += (double) x[i + k];
        double sum = sum_parts(part);
        for (; i < n; i++)
                sum += (double) x[i];
        return sum;
}

void op_rmsnorm(float *dst, const float *x, const float *w, size_t n, float eps) {
        const double ss = sum_squared_deviations(x, n, 0.0);
        float scale = (float) (1.0 / sqrt(ss / (double) n + (double) eps));
        for (size_t i = 0; i < n; i++)
                dst[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

float op_rms(const float *x, size_t n) {
        return (float) sqrt(sum_squared_deviations(x, n, 0.0) / (double) n);
}

void op_rope_angles(float *cs, size_t n, double pos, double base) {
        for (size_t i = 0; i < n / 2; i++) {
                double angle = pos * pow(base, -2.0 * (double) i / (double) n);
                cs[2 * i] = (float) cos(angle);
                cs[2 * i + 1] = (float) sin(angle);
        }
}

void op_rope_apply(float *x, size_t n, const float *cs) {
        size_t half = n / 2;
        for (size_t i = 0; i < half; i++) {
                float c = cs[2 * i], s = cs[2 * i + 1];
                float a = x[i], b = x[i + half];
                x[i] = a * c - b * s;
                x[i + half] = b * c + a * s;
        }
}

/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): one expf instead of tanhf (which costs an expm1f and
 * more), and no cancellation where tanh(u) nears -1. */
float op_gelu_tanh(float x) {
        return x / (1.0f + expf(op_gelu_exp_arg(x)));
}

float op_gaussian_cutoff(const float *x, size_t n, float k) {
        const double mean = sum_values(x, n) / (double) n;
        const double var = sum_squared_deviations(x, n, mean);
        /* Population standard deviation (divide by n), as the model defines it. */
        return (float) (mean + (double) k * sqrt(var / (double) n));
}
