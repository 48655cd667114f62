/* PROVISIONAL kernel table until the per-type kernels land: per type, one row that dequantises
 * the weight row with the reference function and dots it with float activations. */
#include "kernels.h"

#include <stdlib.h>

#include "tensor/type-traits.h"

static void dot_with(DequantRowFn dq, size_t n, const void *w_row, const void *x_act, float *ret) {
        float *row_buf = malloc(n * sizeof(float));
        if (!row_buf)
                abort();
        dq(w_row, row_buf, n);
        const float *x = x_act;
        float s = 0;
        for (size_t i = 0; i < n; i++)
                s += row_buf[i] * x[i];
        *ret = s;
        free(row_buf);
}

#define GENERIC(t) \
        static void dot_##t(size_t n, const void *w, const void *x, float *r) { dot_with(dequant_row_##t, n, w, x, r); }
GENERIC(f32) GENERIC(f16) GENERIC(bf16) GENERIC(q4_0) GENERIC(q4_1) GENERIC(q5_0) GENERIC(q5_1) GENERIC(q8_0)
GENERIC(q4_k) GENERIC(q5_k) GENERIC(q6_k) GENERIC(q8_k)

static const DotKernel table[] = {
        { GGML_TYPE_F32, 0, ACT_F32, "f32-provisional", dot_f32 },
        { GGML_TYPE_F16, 0, ACT_F32, "f16-provisional", dot_f16 },
        { GGML_TYPE_BF16, 0, ACT_F32, "bf16-provisional", dot_bf16 },
        { GGML_TYPE_Q4_0, 0, ACT_F32, "q4_0-provisional", dot_q4_0 },
        { GGML_TYPE_Q4_1, 0, ACT_F32, "q4_1-provisional", dot_q4_1 },
        { GGML_TYPE_Q5_0, 0, ACT_F32, "q5_0-provisional", dot_q5_0 },
        { GGML_TYPE_Q5_1, 0, ACT_F32, "q5_1-provisional", dot_q5_1 },
        { GGML_TYPE_Q8_0, 0, ACT_F32, "q8_0-provisional", dot_q8_0 },
        { GGML_TYPE_Q4_K, 0, ACT_F32, "q4_k-provisional", dot_q4_k },
        { GGML_TYPE_Q5_K, 0, ACT_F32, "q5_k-provisional", dot_q5_k },
        { GGML_TYPE_Q6_K, 0, ACT_F32, "q6_k-provisional", dot_q6_k },
        { GGML_TYPE_Q8_K, 0, ACT_F32, "q8_k-provisional", dot_q8_k },
};

const DotKernel *dot_kernel_find(uint32_t weight_type, uint32_t features) {
        (void) features;
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (table[i].weight_type == weight_type)
                        return &table[i];
        return NULL;
}

ActFormatInfo act_format_info(ActFormat f, uint32_t features) {
        (void) f;
        (void) features;
        return (ActFormatInfo) { "f32", 1, 4, 0, NULL };
}

const DotKernel *dot_kernel_table(size_t *ret_n_rows) {
        *ret_n_rows = sizeof(table) / sizeof(table[0]);
        return table;
}
