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

void op_rope_neox(float *x, size_t n, double pos, double base) {
        size_t half = n / 2;
        for (size_t i = 0; i < half; i++) {
                double angle = pos * pow(base, -2.0 * (double) i / (double) n);
                float c = (float) cos(angle), s = (float) sin(angle);
                float a = x[i], b = x[i + half];
                x[i] = a * c - b * s;
                x[i + half] = b * c + a * s;
        }
}

float op_gelu_tanh(float x) {
        const float sqrt_2_over_pi = 0.7978845608028654f;
        return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
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

void op_gaussian_topk(float *x, size_t n, float k) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++)
                mean += x[i];
        mean /= (double) n;
        for (size_t i = 0; i < n; i++)
                var += ((double) x[i] - mean) * ((double) x[i] - mean);
        /* Population standard deviation (divide by n), as the model defines it. */
        float cutoff = (float) (mean + (double) k * sqrt(var / (double) n));
        for (size_t i = 0; i < n; i++)
                x[i] = x[i] > cutoff ? x[i] - cutoff : 0.0f;
}
