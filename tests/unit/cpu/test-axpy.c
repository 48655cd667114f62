/* The f32 helper kernels of the forward pass, every implementation, and the scalar ones again
 * under GEMMAD_CPU_FEATURES=none (the 'test-axpy-scalar' test):
 * - attention's weighted sum of value rows (cpu_axpy_rows_f32) against a double-precision
 *   reference, on odd lengths and strides, adding to what out already holds;
 * - exp over a vector (cpu_exp_f32) against double exp over its whole range, odd lengths, NaN
 *   kept, arguments past the clamp;
 * - attention's scores of several query heads against a run of key rows (cpu_dot_rows_f32): every
 *   result the very bits of cpu_dot_f32 for its row and head, odd lengths, strides and counts,
 *   nothing written between or after the results. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cpu/cpu-features.h"
#include "cpu/dot.h"
#include "cpu/matmul.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float uniform(void) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return (float) ((rng >> 40) / (double) (1u << 24)) * 2.0f - 1.0f;
}

static void check(F32AxpyRowsFn fn, const char *name, size_t n, size_t stride, size_t n_rows) {
        float *x = malloc((n_rows * stride + n + 1) * sizeof(float));
        float *w = malloc((n_rows + 1) * sizeof(float));
        float *out = malloc((n + 2) * sizeof(float));
        double *ref = malloc((n + 1) * sizeof(double));
        assert_non_null(x);
        assert_non_null(w);
        assert_non_null(out);
        assert_non_null(ref);
        for (size_t i = 0; i < n_rows * stride + n; i++)
                x[i] = uniform();
        for (size_t u = 0; u < n_rows; u++)
                w[u] = uniform() * 0.5f + 0.5f;
        out[n] = out[n + 1] = 12345.0f;   /* guards: nothing past n is written */
        double scale = 1.0;
        for (size_t i = 0; i < n; i++) {
                out[i] = uniform();
                ref[i] = out[i];
        }
        for (size_t u = 0; u < n_rows; u++) {
                scale += fabs(w[u]);
                for (size_t i = 0; i < n; i++)
                        ref[i] += (double) w[u] * x[u * stride + i];
        }
        fn(n, x, stride, w, n_rows, out);
        for (size_t i = 0; i < n; i++)
                if (fabs(out[i] - ref[i]) > 1e-6 * scale * (1 + n_rows))
                        fail_msg("%s n=%zu stride=%zu rows=%zu: out[%zu] = %.9g, reference %.9g", name, n, stride,
                                 n_rows, i, out[i], ref[i]);
        assert_true(out[n] == 12345.0f && out[n + 1] == 12345.0f);
        free(x);
        free(w);
        free(out);
        free(ref);
}

static void check_all(F32AxpyRowsFn fn, const char *name) {
        static const size_t lengths[] = { 1, 7, 8, 31, 32, 33, 64, 100, 256, 257 };
        static const size_t rows[] = { 0, 1, 2, 5, 16, 63 };
        for (size_t a = 0; a < sizeof(lengths) / sizeof(lengths[0]); a++)
                for (size_t b = 0; b < sizeof(rows) / sizeof(rows[0]); b++) {
                        check(fn, name, lengths[a], lengths[a], rows[b]);
                        check(fn, name, lengths[a], lengths[a] * 2 + 3, rows[b]);
                }
}

static void test_axpy_rows_scalar(void **state) {
        check_all(axpy_rows_f32_ref, "scalar");
}

static void test_axpy_rows_selected(void **state) {
        /* what the engine runs on this machine (or under GEMMAD_CPU_FEATURES) */
        F32AxpyRowsFn fn = cpu_axpy_rows_f32(NULL);
        const uint32_t avx2 = CPU_FEATURE_AVX2 | CPU_FEATURE_FMA | CPU_FEATURE_F16C;
        if ((cpu_features_get() & avx2) != avx2)
                assert_ptr_equal(fn, axpy_rows_f32_ref);
        printf("checked the %s weighted row sum\n", fn == axpy_rows_f32_ref ? "scalar" : "SIMD");
        check_all(fn, "selected");
}

static void check_exp(F32ExpFn fn, const char *name) {
        enum { N = 4099 };
        float *x = malloc((N + 1) * sizeof(float)), *y = malloc((N + 1) * sizeof(float));
        assert_non_null(x);
        assert_non_null(y);
        for (size_t n = 1; n <= N; n = n * 3 + 1) {
                for (size_t i = 0; i < n; i++)
                        x[i] = y[i] = -88.0f + 176.0f * (float) i / (float) n + uniform() * 0.01f;
                y[n] = 12345.0f;
                fn(y, n);
                assert_true(y[n] == 12345.0f);
                for (size_t i = 0; i < n; i++) {
                        const double ref = exp((double) x[i]);
                        if (!(fabs(y[i] - ref) <= 4e-7 * ref + 1e-37))
                                fail_msg("%s: exp(%.9g) = %.9g, reference %.9g", name, (double) x[i], (double) y[i], ref);
                }
        }
        float special[5] = { NAN, -1000.0f, 1000.0f, 0.0f, -0.0f };
        fn(special, 5);
        assert_true(isnan(special[0]));
        assert_true(special[1] >= 0.0f && special[1] < 1e-37f);
        assert_true(isfinite(special[2]) && special[2] > 1e38f);
        assert_true(special[3] == 1.0f && special[4] == 1.0f);
        free(x);
        free(y);
}

static void test_exp_scalar(void **state) {
        check_exp(exp_f32_ref, "scalar exp");
}

static void test_exp_selected(void **state) {
        F32ExpFn fn = cpu_exp_f32(NULL);
        printf("checked the %s exp\n", fn == exp_f32_ref ? "scalar" : "SIMD");
        check_exp(fn, "selected exp");
}

static void check_dot_rows(size_t n, size_t stride, size_t n_rows, size_t x_stride, size_t n_x) {
        const size_t ret_stride = n_rows + 2;
        float *rows = malloc((n_rows * stride + n + 1) * sizeof(float));
        float *x = malloc((n_x * x_stride + n + 1) * sizeof(float));
        float *ret = malloc((n_x * ret_stride + 1) * sizeof(float));
        assert_non_null(rows);
        assert_non_null(x);
        assert_non_null(ret);
        for (size_t i = 0; i < n_rows * stride + n; i++)
                rows[i] = uniform();
        for (size_t i = 0; i < n_x * x_stride + n; i++)
                x[i] = uniform();
        for (size_t i = 0; i < n_x * ret_stride + 1; i++)
                ret[i] = 12345.0f;   /* guards: only ret[t * ret_stride + r] for r < n_rows change */
        cpu_dot_rows_f32(NULL, n, rows, stride, n_rows, x, x_stride, n_x, ret, ret_stride);
        const F32DotFn dot = cpu_dot_f32(NULL);
        for (size_t t = 0; t < n_x; t++) {
                for (size_t r = 0; r < n_rows; r++) {
                        float want;
                        dot(n, rows + r * stride, x + t * x_stride, &want);
                        if (memcmp(&want, &ret[t * ret_stride + r], sizeof(float)) != 0)
                                fail_msg("dot rows n=%zu rows=%zu x=%zu: row %zu, x %zu: %.9g, the dot gives %.9g", n,
                                         n_rows, n_x, r, t, ret[t * ret_stride + r], want);
                }
                assert_true(ret[t * ret_stride + n_rows] == 12345.0f && ret[t * ret_stride + n_rows + 1] == 12345.0f);
        }
        free(rows);
        free(x);
        free(ret);
}

static void test_dot_rows(void **state) {
        static const size_t lengths[] = { 1, 7, 8, 31, 32, 33, 100, 256, 257 };
        static const size_t rows[] = { 0, 1, 3, 4, 5, 8, 9, 33 };
        static const size_t xs[] = { 1, 2, 4, 5 };
        for (size_t a = 0; a < sizeof(lengths) / sizeof(lengths[0]); a++)
                for (size_t b = 0; b < sizeof(rows) / sizeof(rows[0]); b++)
                        for (size_t c = 0; c < sizeof(xs) / sizeof(xs[0]); c++) {
                                const size_t n = lengths[a];
                                check_dot_rows(n, n, rows[b], n, xs[c]);
                                check_dot_rows(n, 2 * n + 3, rows[b], n + 5, xs[c]);
                        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_axpy_rows_scalar),
                cmocka_unit_test(test_axpy_rows_selected),
                cmocka_unit_test(test_exp_scalar),
                cmocka_unit_test(test_exp_selected),
                cmocka_unit_test(test_dot_rows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
