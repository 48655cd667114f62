/* Every dot-kernel row this machine can run, on odd sizes and misaligned buffers: against the
 * scalar row of its type, and against dequantise-then-dot with the original float activations
 * (within the error that quantising the activations allows). Also: forcing no CPU features
 * selects only scalar rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/macro.h"
#include "cpu/cpu-features.h"
#include "cpu/kernels.h"
#include "tensor/fp16.h"
#include "tensor/type-traits.h"

static uint64_t rng = 0x1234567887654321ull;

static float frand(void) {   /* uniform in [-1, 1) */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return (float) ((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Random weights of type t: quantised from floats where a quantiser exists, else random bytes
 * whose f16 scales (first bytes of each block; last two for q6_k) are set to modest values. */
static void make_weights(uint32_t t, uint8_t *dst, size_t n) {
        const TypeTraits *tt = type_traits(t);
        if (tt->quantize_ref) {
                float *v = malloc(n * sizeof(float));
                for (size_t i = 0; i < n; i++)
                        v[i] = frand();
                tt->quantize_ref(v, dst, n);
                free(v);
                return;
        }
        size_t blocks = n / tt->block_elems, bytes = blocks * tt->block_bytes;
        for (size_t i = 0; i < bytes; i++)
                dst[i] = (uint8_t) (frand() * 127 + 128);
        for (size_t b = 0; b < blocks; b++) {
                uint8_t *blk = dst + b * tt->block_bytes;
                uint16_t d = f32_to_f16(0.01f + 0.01f * fabsf(frand())), m = f32_to_f16(0.005f * frand());
                if (t == GGML_TYPE_Q6_K)
                        memcpy(blk + 208, &d, 2);
                else if (t == GGML_TYPE_Q8_K) {
                        float df = 0.01f;
                        memcpy(blk, &df, 4);
                } else {
                        memcpy(blk, &d, 2);
                        if (t == GGML_TYPE_Q4_1 || t == GGML_TYPE_Q5_1 || t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K)
                                memcpy(blk + 2, &m, 2);
                }
        }
}

static const DotKernel *scalar_row(uint32_t type) {
        return dot_kernel_find(type, 0);
}

static void check_row(const DotKernel *k, size_t n, size_t w_off, size_t x_off) {
        const TypeTraits *tt = type_traits(k->weight_type);
        const size_t w_bytes = n / tt->block_elems * tt->block_bytes;
        ActFormatInfo act = act_format_info(k->act, cpu_features_get());
        const size_t x_bytes = k->act == ACT_F32 ? n * 4 : n / act.block_elems * act.block_bytes;
        uint8_t *wbuf = malloc(w_bytes + w_off), *xbuf = malloc(x_bytes + x_off);
        float *x = malloc(n * sizeof(float)), *wf = malloc(n * sizeof(float)), *xq = malloc(n * sizeof(float));
        make_weights(k->weight_type, wbuf + w_off, n);
        for (size_t i = 0; i < n; i++)
                x[i] = frand() * 3.0f;
        if (k->act == ACT_F32)
                memcpy(xbuf + x_off, x, n * 4);
        else
                act.quantize(x, xbuf + x_off, n);

        float got, ref;
        k->dot(n, wbuf + w_off, xbuf + x_off, &got);
        scalar_row(k->weight_type)->dot(n, wbuf + w_off, xbuf + x_off, &ref);

        /* Exact maths on the same inputs: dequantised weights and activations, in double. */
        tt->dequant_ref(wbuf + w_off, wf, n);
        if (k->act == ACT_Q8_0)
                dequant_row_q8_0(xbuf + x_off, xq, n);
        else
                memcpy(xq, x, n * 4);
        double exact_q = 0, exact_x = 0, mag = 0, act_err = 0;
        for (size_t i = 0; i < n; i++) {
                exact_q += (double) wf[i] * xq[i];
                exact_x += (double) wf[i] * x[i];
                mag += fabs((double) wf[i] * x[i]);
                act_err += fabs((double) wf[i]) * fabs((double) xq[i] - x[i]);
        }
        const double tol = 1e-5 * mag + 1e-6;
        if (!(fabs(got - ref) <= tol) || !(fabs(ref - exact_q) <= tol) || !(fabs(got - exact_x) <= act_err + tol))
                fail_msg("%s n=%zu offsets %zu/%zu: row %.9g, scalar %.9g, exact on quantised inputs %.9g, "
                         "exact on float activations %.9g (activation error bound %.3g)",
                         k->name, n, w_off, x_off, got, ref, exact_q, exact_x, act_err);
        free(wbuf), free(xbuf), free(x), free(wf), free(xq);
}

static void test_dot_rows_match_reference(void **state) {
        size_t n_rows;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        const uint32_t have = cpu_features_get();
        char buf[128];
        cpu_features_describe(have, buf, sizeof(buf));
        printf("cpu features: %s\n", buf);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                if ((k->cpu_features & ~have) != 0) {
                        printf("skipped %s: this CPU lacks its features\n", k->name);
                        continue;
                }
                const size_t block = MAX(type_traits(k->weight_type)->block_elems, (size_t) 32);
                const size_t sizes[] = { 1, 2, 3, 7, 32 };
                for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
                        for (size_t off = 0; off < 4; off += 3) {
                                check_row(k, sizes[s] * block, off, off ? 1 : 0);
                                if (type_traits(k->weight_type)->block_elems == 1)
                                        check_row(k, sizes[s] * block + 5, off, 0);   /* a tail */
                        }
                check_row(k, 8192, 0, 0);
                printf("checked %s\n", k->name);
        }
}

static void test_dot_kernel_find_scalar_without_features(void **state) {
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++) {
                const TypeTraits *tt = type_traits(t);
                if (!tt || !tt->dequant_ref)
                        continue;
                const DotKernel *k = dot_kernel_find(t, 0);
                assert_non_null(k);
                assert_int_equal(k->cpu_features, 0);
                assert_int_equal(k->weight_type, t);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dot_rows_match_reference),
                cmocka_unit_test(test_dot_kernel_find_scalar_without_features),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
