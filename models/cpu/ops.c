/* Reference f32 operations used by the decoder. Accumulations that decide a normalisation run in
 * double so the result does not depend on summation order. */
#include "ops.h"

#include <math.h>

void op_rmsnorm(float *dst, const float *x, const float *w, size_t n, float eps) {
        double ss = 0.0;
        for (size_t i = 0; i < n; i++)
                ss += (double) x[i] * x[i];
        float scale = (float) (1.0 / sqrt(ss / (double) n + (double) eps));
        for (size_t i = 0; i < n; i++)
                dst[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

float op_rms(const float *x, size_t n) {
        double ss = 0.0;
        for (size_t i = 0; i < n; i++)
                ss += (double) x[i] * x[i];
        return (float) sqrt(ss / (double) n);
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

void op_rope_neox(float *x, size_t n, double pos, double base) {
        float cs[2 * 512];
        if (n > 1024) {
                /* wider than any Gemma head: angles one at a time */
                for (size_t i = 0; i < n / 2; i++) {
                        double angle = pos * pow(base, -2.0 * (double) i / (double) n);
                        float c = (float) cos(angle), s = (float) sin(angle);
                        float a = x[i], b = x[i + n / 2];
                        x[i] = a * c - b * s;
                        x[i + n / 2] = b * c + a * s;
                }
                return;
        }
        op_rope_angles(cs, n, pos, base);
        op_rope_apply(x, n, cs);
}

/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): one expf instead of tanhf (which costs an expm1f and
 * more), and no cancellation where tanh(u) nears -1. */
float op_gelu_tanh(float x) {
        const float sqrt_2_over_pi = 0.7978845608028654f;
        const float u = sqrt_2_over_pi * (x + 0.044715f * x * x * x);
        return x / (1.0f + expf(-2.0f * u));
}

void op_softmax(float *x, size_t n) {
        float max = -INFINITY;
        for (size_t i = 0; i < n; i++)
                if (x[i] > max)
                        max = x[i];
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
                x[i] = expf(x[i] - max);
                sum += x[i];
        }
        float inv = (float) (1.0 / sum);
        for (size_t i = 0; i < n; i++)
                x[i] *= inv;
}

float op_gaussian_cutoff(const float *x, size_t n, float k) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++)
                mean += x[i];
        mean /= (double) n;
        for (size_t i = 0; i < n; i++)
                var += ((double) x[i] - mean) * ((double) x[i] - mean);
        /* Population standard deviation (divide by n), as the model defines it. */
        return (float) (mean + (double) k * sqrt(var / (double) n));
}

void op_gaussian_topk(float *x, size_t n, float k) {
        const float cutoff = op_gaussian_cutoff(x, n, k);
        for (size_t i = 0; i < n; i++)
                x[i] = x[i] > cutoff ? x[i] - cutoff : 0.0f;
}
