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

/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): one expf instead of tanhf (which costs an expm1f and
 * more), and no cancellation where tanh(u) nears -1. */
float op_gelu_tanh(float x) {
        return x / (1.0f + expf(op_gelu_exp_arg(x)));
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
