/* The dot-kernel table: per weight type, SIMD rows first, the scalar row last (kept forever: it is
 * the reference every other row is tested against and the fallback on every machine).
 * dot_kernel_find() returns the first row of the type whose CPU features are all present.
 *
 * GEMMAD_HAVE_AVX2 is defined by models/meson.build when dot-avx2.c is built (x86-64 only),
 * GEMMAD_HAVE_AVX512 when dot-avx512.c is too (x86-64, with a compiler that takes its flags). */
#include "kernels.h"

#include "base/macro.h"
#include "dot.h"
#include "tensor/type-traits.h"

#define AVX2_FMA_F16C (CPU_FEATURE_AVX2 | CPU_FEATURE_FMA | CPU_FEATURE_F16C)
#define AVX512_VNNI                                                                                        \
        (AVX2_FMA_F16C | CPU_FEATURE_AVX512F | CPU_FEATURE_AVX512BW | CPU_FEATURE_AVX512VL | CPU_FEATURE_AVX512VNNI)

#define ROW(type, features, act_format, row_name, fn)                                            \
        { .weight_type = (type), .cpu_features = (features), .act = (act_format), .name = (row_name), \
          .dot = (fn) }
/* A row whose tiles also read packed weights (packed.h). */
#define ROW_TILE_PACKED(type, features, act_format, row_name, fn, tile_fn, rows, tokens, packed_fn)     \
        { .weight_type = (type), .cpu_features = (features), .act = (act_format), .name = (row_name), \
          .dot = (fn), .tile = (tile_fn), .tile_rows = (rows), .tile_tokens = (tokens),               \
          .tile_packed = (packed_fn) }
/* A row that also has a tile kernel, of rows x tokens. */
#define ROW_TILE(type, features, act_format, row_name, fn, tile_fn, rows, tokens) \
        ROW_TILE_PACKED(type, features, act_format, row_name, fn, tile_fn, rows, tokens, NULL)

static const DotKernel table[] = {
#if GEMMAD_HAVE_AVX512
        /* the AVX2 rows' one-token kernels, with tiles for prompts and batches (dot-avx512.c) */
        ROW_TILE_PACKED(GGML_TYPE_Q4_0, AVX512_VNNI, ACT_Q8_0, "q4_0-q8_0-avx512vnni", dot_q4_0_avx2,
                        dot_tile_q4_0_vnni, TILE_ROWS_VNNI, TILE_TOKENS_VNNI, dot_tile_q4_0_vnni_packed),
        ROW_TILE_PACKED(GGML_TYPE_Q8_0, AVX512_VNNI, ACT_Q8_0, "q8_0-q8_0-avx512vnni", dot_q8_0_avx2,
                        dot_tile_q8_0_vnni, TILE_ROWS_VNNI, TILE_TOKENS_VNNI, dot_tile_q8_0_vnni_packed),
#endif
#if GEMMAD_HAVE_AVX2
        ROW_TILE(GGML_TYPE_Q4_0, AVX2_FMA_F16C, ACT_Q8_0, "q4_0-q8_0-avx2", dot_q4_0_avx2, dot_tile_q4_0_avx2,
                 TILE_ROWS_Q4_0, TILE_TOKENS_BLOCKS32),
        ROW_TILE(GGML_TYPE_Q8_0, AVX2_FMA_F16C, ACT_Q8_0, "q8_0-q8_0-avx2", dot_q8_0_avx2, dot_tile_q8_0_avx2,
                 TILE_ROWS_Q8_0, TILE_TOKENS_BLOCKS32),
        ROW_TILE(GGML_TYPE_F16, AVX2_FMA_F16C, ACT_F32, "f16-f32-avx2", dot_f16_avx2, dot_tile_f16_avx2, TILE_ROWS_F16,
                 TILE_TOKENS_FLOAT),
        ROW_TILE(GGML_TYPE_F32, AVX2_FMA_F16C, ACT_F32, "f32-f32-avx2", dot_f32_avx2, dot_tile_f32_avx2, TILE_ROWS_F32,
                 TILE_TOKENS_FLOAT),
        ROW(GGML_TYPE_BF16, AVX2_FMA_F16C, ACT_F32, "bf16-f32-avx2", dot_bf16_avx2),
        ROW(GGML_TYPE_Q5_0, AVX2_FMA_F16C, ACT_Q8_0, "q5_0-q8_0-avx2", dot_q5_0_avx2),
        ROW(GGML_TYPE_Q4_1, AVX2_FMA_F16C, ACT_Q8_1, "q4_1-q8_1-avx2", dot_q4_1_avx2),
        ROW(GGML_TYPE_Q5_1, AVX2_FMA_F16C, ACT_Q8_1, "q5_1-q8_1-avx2", dot_q5_1_avx2),
        ROW(GGML_TYPE_Q4_K, AVX2_FMA_F16C, ACT_Q8_K, "q4_k-q8_k-avx2", dot_q4_k_avx2),
        ROW(GGML_TYPE_Q5_K, AVX2_FMA_F16C, ACT_Q8_K, "q5_k-q8_k-avx2", dot_q5_k_avx2),
        ROW(GGML_TYPE_Q6_K, AVX2_FMA_F16C, ACT_Q8_K, "q6_k-q8_k-avx2", dot_q6_k_avx2),
#endif
        ROW(GGML_TYPE_F32, 0, ACT_F32, "f32-f32-scalar", dot_f32_ref),
        ROW(GGML_TYPE_F16, 0, ACT_F32, "f16-f32-scalar", dot_f16_ref),
        ROW(GGML_TYPE_BF16, 0, ACT_F32, "bf16-f32-scalar", dot_bf16_ref),
        ROW(GGML_TYPE_Q4_0, 0, ACT_Q8_0, "q4_0-q8_0-scalar", dot_q4_0_ref),
        ROW(GGML_TYPE_Q5_0, 0, ACT_Q8_0, "q5_0-q8_0-scalar", dot_q5_0_ref),
        ROW(GGML_TYPE_Q8_0, 0, ACT_Q8_0, "q8_0-q8_0-scalar", dot_q8_0_ref),
        ROW(GGML_TYPE_Q4_1, 0, ACT_Q8_1, "q4_1-q8_1-scalar", dot_q4_1_ref),
        ROW(GGML_TYPE_Q5_1, 0, ACT_Q8_1, "q5_1-q8_1-scalar", dot_q5_1_ref),
        ROW(GGML_TYPE_Q4_K, 0, ACT_Q8_K, "q4_k-q8_k-scalar", dot_q4_k_ref),
        ROW(GGML_TYPE_Q5_K, 0, ACT_Q8_K, "q5_k-q8_k-scalar", dot_q5_k_ref),
        ROW(GGML_TYPE_Q6_K, 0, ACT_Q8_K, "q6_k-q8_k-scalar", dot_q6_k_ref),
        ROW(GGML_TYPE_Q8_K, 0, ACT_Q8_K, "q8_k-q8_k-scalar", dot_q8_k_ref),
};

/* Activation quantisers, fastest first per format; the scalar one last. */
typedef struct ActQuantizer {
        ActFormat format;
        uint32_t cpu_features;
        ActQuantizeFn quantize;
} ActQuantizer;

static const ActQuantizer quantizers[] = {
#if GEMMAD_HAVE_AVX2
        { .format = ACT_Q8_0, .cpu_features = AVX2_FMA_F16C, .quantize = act_quantize_q8_0_avx2 },
        { .format = ACT_Q8_1, .cpu_features = AVX2_FMA_F16C, .quantize = act_quantize_q8_1_avx2 },
        { .format = ACT_Q8_K, .cpu_features = AVX2_FMA_F16C, .quantize = act_quantize_q8_k_avx2 },
#endif
        { .format = ACT_Q8_0, .cpu_features = 0, .quantize = act_quantize_q8_0_ref },
        { .format = ACT_Q8_1, .cpu_features = 0, .quantize = act_quantize_q8_1_ref },
        { .format = ACT_Q8_K, .cpu_features = 0, .quantize = act_quantize_q8_k_ref },
};

static const ActFormatInfo formats[_ACT_FORMAT_MAX] = {
        [ACT_F32] = { .name = "f32", .block_elems = 1, .block_bytes = 4 },
        [ACT_Q8_0] = { .name = "q8_0", .block_elems = 32, .block_bytes = 34, .sums_bytes = 8 + 32 },
        [ACT_Q8_1] = { .name = "q8_1", .block_elems = 32, .block_bytes = 36 },
        [ACT_Q8_K] = { .name = "q8_k", .block_elems = 256, .block_bytes = 292 },
};

const DotKernel *dot_kernel_find(uint32_t weight_type, uint32_t features) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].weight_type == weight_type && (table[i].cpu_features & ~features) == 0)
                        return &table[i];
        return NULL;
}

ActFormatInfo act_format_info(ActFormat f, uint32_t features) {
        if ((unsigned) f >= _ACT_FORMAT_MAX)
                return (ActFormatInfo) { .name = "invalid" };
        ActFormatInfo info = formats[f];
        for (size_t i = 0; i < ELEMENTSOF(quantizers); i++)
                if (quantizers[i].format == f && (quantizers[i].cpu_features & ~features) == 0) {
                        info.quantize = quantizers[i].quantize;
                        info.cpu_features = quantizers[i].cpu_features;
                        break;
                }
        return info;
}

const DotKernel *dot_kernel_table(size_t *ret_n_rows) {
        *ret_n_rows = ELEMENTSOF(table);
        return table;
}
