/* Dot kernels and activation quantisers by name: the scalar rows (dot-ref.c), the AVX2 rows
 * (dot-avx2.c, built with its own -mavx2 -mfma -mf16c flags and only called when cpuid says so) and
 * the AVX-512 VNNI tiles (dot-avx512.c, likewise). Dot signatures are DotFn, tiles DotTileFn,
 * quantisers ActQuantizeFn (kernels.h). */
#pragma once

#include <stddef.h>

#define DOT_FN(name) void name(size_t n, const void *w, const void *x, float *ret)
#define DOT_TILE_FN(name)                                                                                     \
        void name(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x, size_t x_stride, \
                  size_t n_tokens, float *ret, size_t ret_stride)
#define ACT_QUANTIZE_FN(name) void name(const float *x, void *dst, size_t n)

/* Scalar reference rows: one per weight type, kept forever. */
DOT_FN(dot_f32_ref);
DOT_FN(dot_f16_ref);
DOT_FN(dot_bf16_ref);
DOT_FN(dot_q4_0_ref);    /* x q8_0 */
DOT_FN(dot_q5_0_ref);    /* x q8_0 */
DOT_FN(dot_q8_0_ref);    /* x q8_0 */
DOT_FN(dot_q4_1_ref);    /* x q8_1 */
DOT_FN(dot_q5_1_ref);    /* x q8_1 */
DOT_FN(dot_q4_k_ref);    /* x q8_k */
DOT_FN(dot_q5_k_ref);    /* x q8_k */
DOT_FN(dot_q6_k_ref);    /* x q8_k */
DOT_FN(dot_q8_k_ref);    /* x q8_k */

/* out[i] += sum_{u < n_rows} w[u] * x[u * stride + i] for i < n (floats): attention's weighted sum
 * of value rows. Per element the rows are added in u order. */
#define AXPY_ROWS_FN(name) \
        void name(size_t n, const float *x, size_t stride, const float *w, size_t n_rows, float *out)
AXPY_ROWS_FN(axpy_rows_f32_ref);
AXPY_ROWS_FN(axpy_rows_f32_avx2);

/* x[i] = exp(x[i]) for i < n in place: expf itself (ref), or a vector form within a few ulp of it
 * (avx2). NaN stays NaN; arguments beyond about +-88.4 give the value at that bound (a huge finite
 * number, or 0). */
void exp_f32_ref(float *x, size_t n);
void exp_f32_avx2(float *x, size_t n);

ACT_QUANTIZE_FN(act_quantize_q8_0_ref);
/* The per-block numbers q8_0 keeps after a token's blocks (kernels.h), from the blocks at dst:
 * every q8_0 quantiser ends with it, so they all write the same bytes. */
void act_q8_0_write_sums(void *dst, size_t n);
ACT_QUANTIZE_FN(act_quantize_q8_1_ref);
ACT_QUANTIZE_FN(act_quantize_q8_k_ref);

/* AVX2 + FMA + F16C rows. */
DOT_FN(dot_f32_avx2);
DOT_FN(dot_f16_avx2);
DOT_FN(dot_bf16_avx2);
DOT_FN(dot_q4_0_avx2);
DOT_FN(dot_q5_0_avx2);
DOT_FN(dot_q8_0_avx2);
DOT_FN(dot_q4_1_avx2);
DOT_FN(dot_q5_1_avx2);
DOT_FN(dot_q4_k_avx2);
DOT_FN(dot_q5_k_avx2);
DOT_FN(dot_q6_k_avx2);

/* Tiles (DotTileFn): rows, and the most tokens one call takes. The block kernels are compiled
 * for 1 .. 4 tokens; the float ones go one token at a time, so a call may take many. */
#define TILE_ROWS_Q4_0 4
#define TILE_ROWS_Q8_0 4
#define TILE_TOKENS_BLOCKS32 4
#define TILE_ROWS_F32 4
#define TILE_ROWS_F16 4
#define TILE_TOKENS_FLOAT 64
DOT_TILE_FN(dot_tile_q4_0_avx2);
DOT_TILE_FN(dot_tile_q8_0_avx2);
DOT_TILE_FN(dot_tile_f32_avx2);
DOT_TILE_FN(dot_tile_f16_avx2);

ACT_QUANTIZE_FN(act_quantize_q8_0_avx2);
ACT_QUANTIZE_FN(act_quantize_q8_1_avx2);
ACT_QUANTIZE_FN(act_quantize_q8_k_avx2);

/* AVX-512 F/BW/VL/VNNI tiles (with the AVX2 rows' DotFn): 16 rows, each block transposed once per
 * call for all its tokens, so a call takes many. */
#define TILE_ROWS_VNNI 16
#define TILE_TOKENS_VNNI 32
DOT_TILE_FN(dot_tile_q4_0_vnni);
DOT_TILE_FN(dot_tile_q8_0_vnni);
/* The same tiles over packed weights (packed.h): w is a packed tile, w_stride unused. */
DOT_TILE_FN(dot_tile_q4_0_vnni_packed);
DOT_TILE_FN(dot_tile_q8_0_vnni_packed);
