/* The dot-kernel table: per weight type, SIMD rows first, the scalar row last. dot_kernel_find()
 * returns the first row whose CPU features are all present. */
#include "kernels.h"

#include "dot.h"
#include "tensor/type-traits.h"

#define AVX2_FMA_F16C (CPU_FEATURE_AVX2 | CPU_FEATURE_FMA | CPU_FEATURE_F16C)

static const DotKernel table[] = {
#if GEMMAD_HAVE_AVX2
        { GGML_TYPE_F32, AVX2_FMA_F16C, ACT_F32, "f32-avx2", dot_f32_avx2 },
        { GGML_TYPE_F16, AVX2_FMA_F16C, ACT_F32, "f16-avx2", dot_f16_avx2 },
        { GGML_TYPE_Q8_0, AVX2_FMA_F16C, ACT_Q8_0, "q8_0-q8_0-avx2", dot_q8_0_avx2 },
        { GGML_TYPE_Q4_0, AVX2_FMA_F16C, ACT_Q8_0, "q4_0-q8_0-avx2", dot_q4_0_avx2 },
#endif
        { GGML_TYPE_F32, 0, ACT_F32, "f32-scalar", dot_f32_ref },
        { GGML_TYPE_F16, 0, ACT_F32, "f16-scalar", dot_f16_ref },
        { GGML_TYPE_BF16, 0, ACT_F32, "bf16-scalar", dot_bf16_ref },
        { GGML_TYPE_Q8_0, 0, ACT_Q8_0, "q8_0-q8_0-scalar", dot_q8_0_ref },
        { GGML_TYPE_Q4_0, 0, ACT_Q8_0, "q4_0-q8_0-scalar", dot_q4_0_ref },
        { GGML_TYPE_Q4_1, 0, ACT_F32, "q4_1-dequant-scalar", dot_q4_1_ref },
        { GGML_TYPE_Q5_0, 0, ACT_F32, "q5_0-dequant-scalar", dot_q5_0_ref },
        { GGML_TYPE_Q5_1, 0, ACT_F32, "q5_1-dequant-scalar", dot_q5_1_ref },
        { GGML_TYPE_Q4_K, 0, ACT_F32, "q4_k-dequant-scalar", dot_q4_k_ref },
        { GGML_TYPE_Q5_K, 0, ACT_F32, "q5_k-dequant-scalar", dot_q5_k_ref },
        { GGML_TYPE_Q6_K, 0, ACT_F32, "q6_k-dequant-scalar", dot_q6_k_ref },
        { GGML_TYPE_Q8_K, 0, ACT_F32, "q8_k-dequant-scalar", dot_q8_k_ref },
};

const DotKernel *dot_kernel_find(uint32_t weight_type, uint32_t features) {
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (table[i].weight_type == weight_type && (table[i].cpu_features & ~features) == 0)
                        return &table[i];
        return NULL;
}

ActFormatInfo act_format_info(ActFormat f, uint32_t features) {
        (void) features;
        switch (f) {
        case ACT_Q8_0:
                return (ActFormatInfo) { "q8_0", 32, 34, 0, quantize_row_q8_0 };
        default:
                return (ActFormatInfo) { "f32", 1, 4, 0, NULL };
        }
}

const DotKernel *dot_kernel_table(size_t *ret_n_rows) {
        *ret_n_rows = sizeof(table) / sizeof(table[0]);
        return table;
}
