/* AVX-512 VNNI tiles for q4_0 and q8_0 weights: 16 rows x many tokens per call, each result
 * bit-identical to the AVX2 one-token kernels (dot_q4_0_avx2, dot_q8_0_avx2), which stay the rows'
 * DotFn: decoding one token is memory-bound, and one row read through streams best. This file alone
 * is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (models/meson.build); kernels.c
 * calls it only when cpuid reports them all.
 *
 * vpdpbusd multiplies four unsigned bytes by four signed bytes and adds the products to an int32
 * lane. The tile keeps its 16 rows in the 16 lanes: for each weight block, eight vectors P[j] whose
 * lane r holds row r's values 4j .. 4j+3 (the rows' blocks transposed, in registers), so that one
 * vpdpbusd with four bytes of a token broadcast advances all 16 rows by four values. A block is
 * transposed once per call and then met by every token of the call, which is why a call takes many
 * tokens: the transpose is paid once for all of them. The weights are the unsigned side:
 *   q4_0: the stored nibble q (0..15), whose value is q - 8;
 *   q8_0: w + 128 (w ^ 0x80), for the signed w;
 * the offset this adds, 8 * sum(x) or 128 * sum(x) over the block, is the same for every row: the
 * activations carry 8 * sum(x) after their blocks (kernels.h), and a block's lane sums start from
 * the offset's negative. Integer sums are exact however they are taken (at most 32 * 255 * 127 plus
 * the offset: far inside an int32). The activations' scales come from there too, as floats.
 *
 * The float operations are dot_q4_0_avx2's / dot_q8_0_avx2's (DOT_BLOCKS32 in dot-avx2.c), per
 * (row, token), in their order; only the lane that holds them differs. Per group of eight blocks:
 * d = dw * dx, acc[k] = fma(d, (float) sum of block k, acc[k]); then s = the sum of (acc[k] + 0) in
 * hsum_ps's pairing, ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)). The blocks left over go into
 * eight tail accumulators, tail[j] = fma(dw * dx, (float) sum of values 4j .. 4j+3, tail[j]) as the
 * AVX2 kernel's madd lanes have it, and the result is s + (the tail summed in the same pairing).
 * Built with -ffp-contract=off: every FMA here is written out.
 *
 * Measured on Zen 4 (512-bit operations in two halves), matmul on two threads over 8192 x 2048
 * weights (bench-dot --matmul), against the AVX2 tiles: 1.45x (q4_0) and 1.7x (q8_0) at two tokens,
 * 2.0x and 2.3x at four, 2.8x and 3.6x at 16 and 64. Per token and block the 16 rows take eight
 * vpdpbusd and three float operations (about ten cycles at best); the transposes are most of the
 * rest. Taking each token's offsets and scales from after its blocks, rather than summing its
 * quants and converting its f16 scales here, measured 1.02-1.06x at two tokens and 1.03-1.14x
 * from four on (both shapes, both types).
 *
 * The same tile also reads packed weights (packed.h: the blocks transposed once, at load), with
 * the same bits: then only unpacking the nibbles is left per block, and one token is worth a tile
 * too. From L2, one thread, 2048 values a row, against the one-token row kernel: 2.2x faster at
 * one token, and four tokens cost 1.1x what one token cost there (1.65x for the tile above). */
#include <assert.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "dot.h"
#include "simd-x86.h"
#include "kernels.h"
#include "packed.h"

#define ROWS TILE_ROWS_VNNI
#define MAX_TOKENS TILE_TOKENS_VNNI

static_assert(ROWS == 16, "the rows are the 16 int32 lanes of a zmm register");
static_assert(ROWS == PACKED_TILE_ROWS, "a packed tile is one call's rows");

/* A call of one token (the tokens left over after whole calls) goes to the AVX2 tiles of 4 rows,
 * which give the same bits (both match the one-token kernel): with nothing to share the transposes
 * with, they measured 5-10 % faster there. From two tokens on this tile is faster. */
#define MIN_TOKENS 2

static_assert(ROWS % TILE_ROWS_Q4_0 == 0 && ROWS % TILE_ROWS_Q8_0 == 0, "the AVX2 tiles must cover the rows");
static_assert(MIN_TOKENS - 1 <= TILE_TOKENS_BLOCKS32, "the AVX2 tiles must take the tokens");

/* As the AVX2 tiles: while a tile goes, ask for the same columns of the next tile's rows (w_next,
 * NULL for none), bytes [off, off + len) of each of n_rows, into L2 (a packed tile is one row). */
static inline void prefetch_span(const void *w_next, size_t w_stride, int n_rows, size_t off, size_t len) {
        if (!w_next)
                return;
        for (int r = 0; r < n_rows; r++) {
                const char *p = (const char *) w_next + r * w_stride + off;
                for (size_t k = 0; k < len; k += 64)
                        __builtin_prefetch(p + k, 0, 2);
                __builtin_prefetch(p + len - 1, 0, 2);
        }
}

/* ---- one block of the 16 rows, transposed ----------------------------------------------------- */

/* The 4 x 4 transpose of int32 within each 128-bit lane: d[m] lane g = dword m of v[0..3]'s lane g. */
static inline void transpose_lanes_4x4(const __m512i v[4], __m512i d[4]) {
        const __m512i a = _mm512_unpacklo_epi32(v[0], v[1]), b = _mm512_unpackhi_epi32(v[0], v[1]);
        const __m512i c = _mm512_unpacklo_epi32(v[2], v[3]), e = _mm512_unpackhi_epi32(v[2], v[3]);
        d[0] = _mm512_unpacklo_epi64(a, c);
        d[1] = _mm512_unpackhi_epi64(a, c);
        d[2] = _mm512_unpacklo_epi64(b, e);
        d[3] = _mm512_unpackhi_epi64(b, e);
}

/* The f16 at p and the three rows after it, in the four 16-bit quarters. Built in general-purpose
 * registers: as vector inserts, or stored and loaded back, the 16 rows' scales measured up to 10 %
 * slower on a few tokens (the vector shuffle ports are the transposes' bottleneck). */
static inline uint64_t scales4(const uint8_t *p, size_t w_stride) {
        return (uint64_t) rd_u16(p) | (uint64_t) rd_u16(p + w_stride) << 16 |
               (uint64_t) rd_u16(p + 2 * w_stride) << 32 | (uint64_t) rd_u16(p + 3 * w_stride) << 48;
}

/* The 16 rows' f16 scales at wb + r * w_stride, as floats. */
static inline __m512 load_scales(const uint8_t *wb, size_t w_stride) {
        const __m128i lo = _mm_insert_epi64(_mm_cvtsi64_si128((long long) scales4(wb, w_stride)),
                                            (long long) scales4(wb + 4 * w_stride, w_stride), 1);
        const __m128i hi = _mm_insert_epi64(_mm_cvtsi64_si128((long long) scales4(wb + 8 * w_stride, w_stride)),
                                            (long long) scales4(wb + 12 * w_stride, w_stride), 1);
        return _mm512_cvtph_ps(_mm256_set_m128i(hi, lo));
}

/* q4_0 (18 bytes: f16 d, 16 bytes of nibbles): byte i holds value i in its low nibble and value
 * i + 16 in its high one, so dword m of a row gives steps m (low) and m + 4 (high). Rows i, 4 + i,
 * 8 + i, 12 + i in the 128-bit lanes of v[i]: after the transpose, lane r of d[m] is row r's. */
static inline void pack_q4_0(const uint8_t *wb, size_t w_stride, __m512i p[8], __m512 *dw) {
        const __m512i low4 = _mm512_set1_epi8(0x0f);
        __m512i v[4], d[4];
        for (int i = 0; i < 4; i++) {
                const uint8_t *r = wb + 2 + i * w_stride;
                __m512i t = _mm512_castsi128_si512(load128(r));
                t = _mm512_inserti32x4(t, load128(r + 4 * w_stride), 1);
                t = _mm512_inserti32x4(t, load128(r + 8 * w_stride), 2);
                v[i] = _mm512_inserti32x4(t, load128(r + 12 * w_stride), 3);
        }
        transpose_lanes_4x4(v, d);
        for (int m = 0; m < 4; m++) {
                p[m] = _mm512_and_si512(d[m], low4);
                p[m + 4] = _mm512_and_si512(_mm512_srli_epi16(d[m], 4), low4);
        }
        *dw = load_scales(wb, w_stride);
}

/* q8_0 (34 bytes: f16 d, 32 int8), each made unsigned by w ^ 0x80 = w + 128. Rows i and 4 + i in
 * the 256-bit halves of v[i], rows 8 + i and 12 + i in those of v[4 + i]: after the transposes,
 * 128-bit lanes 0 and 2 hold dword m of four rows each, lanes 1 and 3 dword 4 + m, and one shuffle
 * per step puts the four groups of rows in order. */
static inline void pack_q8_0(const uint8_t *wb, size_t w_stride, __m512i p[8], __m512 *dw) {
        const __m512i flip = _mm512_set1_epi8((char) 0x80);
        __m512i v[8], d[4], e[4];
        for (int i = 0; i < 4; i++) {
                const uint8_t *r = wb + 2 + i * w_stride;
                v[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(r)), load256(r + 4 * w_stride), 1);
                v[4 + i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(r + 8 * w_stride)),
                                              load256(r + 12 * w_stride), 1);
        }
        transpose_lanes_4x4(v, d);
        transpose_lanes_4x4(v + 4, e);
        for (int m = 0; m < 4; m++) {
                p[m] = _mm512_xor_si512(_mm512_shuffle_i32x4(d[m], e[m], _MM_SHUFFLE(2, 0, 2, 0)), flip);
                p[m + 4] = _mm512_xor_si512(_mm512_shuffle_i32x4(d[m], e[m], _MM_SHUFFLE(3, 1, 3, 1)), flip);
        }
        *dw = load_scales(wb, w_stride);
}

/* ---- one block of a packed tile (cpu/packed.h): transposed once, at load ------------------------ */

/* q4_0: dword m of the 16 rows' nibbles at 64 m, then their f16 scales at 256. */
static inline void pack_q4_0_packed(const uint8_t *wb, size_t w_stride, __m512i p[8], __m512 *dw) {
        const __m512i low4 = _mm512_set1_epi8(0x0f);
        (void) w_stride;
        for (int m = 0; m < 4; m++) {
                const __m512i d = _mm512_loadu_si512(wb + 64 * m);
                p[m] = _mm512_and_si512(d, low4);
                p[m + 4] = _mm512_and_si512(_mm512_srli_epi16(d, 4), low4);
        }
        *dw = _mm512_cvtph_ps(load256(wb + 256));
}

/* q8_0: dword j of the 16 rows' values, already w ^ 0x80, at 64 j, then their f16 scales at 512. */
static inline void pack_q8_0_packed(const uint8_t *wb, size_t w_stride, __m512i p[8], __m512 *dw) {
        (void) w_stride;
        for (int j = 0; j < 8; j++)
                p[j] = _mm512_loadu_si512(wb + 64 * j);
        *dw = _mm512_cvtph_ps(load256(wb + 512));
}

/* ---- the activations ----------------------------------------------------------------------- */

/* One token's eight q8_0 blocks from what the activations keep after their blocks (kernels.h): xd
 * the blocks' d as floats, xs their 8 * sum(q). off[k] = -(8 * sum(q)) << shift, the offset the
 * unsigned weights add taken back (shift 0 for q4_0's 8, 4 for q8_0's 128), and dx[k] the scale. */
static inline void x_group(const uint8_t *xd, const uint8_t *xs, int shift, int32_t off[8], float dx[8]) {
        const __m256i s = _mm256_sll_epi32(load256(xs), _mm_cvtsi32_si128(shift));
        _mm256_storeu_si256((__m256i_u *) off, _mm256_sub_epi32(_mm256_setzero_si256(), s));
        _mm256_storeu_ps(dx, _mm256_loadu_ps((const float *) xd));
}

/* ---- the tile -------------------------------------------------------------------------------- */

/* The sum of v[0..7] in hsum_ps's pairing, lane by lane. */
static inline __m512 sum8(const __m512 v[8]) {
        return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v[0], v[4]), _mm512_add_ps(v[2], v[6])),
                             _mm512_add_ps(_mm512_add_ps(v[1], v[5]), _mm512_add_ps(v[3], v[7])));
}

typedef void (*PackFn)(const uint8_t *wb, size_t w_stride, __m512i p[8], __m512 *dw);

/* The tile for a weight type of w_bytes per block, its pack function, and the shift that makes
 * 8 * sum(x) its offset (0 for q4_0, 4 for q8_0: 16 * 8 = 128). Per group of eight blocks: each
 * token's offsets and scales, then block by block the transpose and every token against it. The
 * accumulators of all the call's tokens (16 KiB for 32) stay in L1. */
static inline __attribute__((always_inline)) void tile_vnni(size_t n, const uint8_t *w, size_t w_stride,
                                                            const uint8_t *w_next, const uint8_t *x,
                                                            size_t x_stride, size_t n_tokens, float *ret,
                                                            size_t ret_stride, size_t w_bytes, PackFn pack,
                                                            int shift, int prefetch_rows) {
        const size_t nb = n / 32, sums_at = 34 * nb;   /* a token's f32 d, then its 8 * sum(q) */
        __m512 acc[MAX_TOKENS][8];
        int32_t off[MAX_TOKENS][8];
        float dx[MAX_TOKENS][8];

        for (size_t t = 0; t < n_tokens; t++)
                for (int k = 0; k < 8; k++)
                        acc[t][k] = _mm512_setzero_ps();
        size_t b = 0;
        for (; b + 8 <= nb; b += 8) {
                /* rows of the file: the group's columns of every next row at once; a packed tile (one
                 * stream): block by block below, as fast as the blocks are used (2048-value rows from
                 * L3, two threads: 1.1-1.3x faster than the group at once, at one and at four tokens) */
                if (prefetch_rows > 1)
                        prefetch_span(w_next, w_stride, prefetch_rows, b * w_bytes, 8 * w_bytes);
                for (size_t t = 0; t < n_tokens; t++) {
                        const uint8_t *xd = x + t * x_stride + sums_at + 4 * b;
                        x_group(xd, xd + 4 * nb, shift, off[t], dx[t]);
                }
                /* block k + 1 is transposed before block k meets the tokens, so that its loads are
                 * under way while they run (q4_0: 5-7 % faster at two and three tokens, four unchanged;
                 * q8_0 unchanged within the noise) */
                __m512i p_next[8];
                __m512 dw_next;
                pack(w + b * w_bytes, w_stride, p_next, &dw_next);
                for (int k = 0; k < 8; k++) {
                        const uint8_t *xq = x + 34 * (b + k) + 2;   /* token 0's quants of block b + k */
                        __m512i p[8];
                        const __m512 dw = dw_next;
                        for (int j = 0; j < 8; j++)
                                p[j] = p_next[j];
                        if (prefetch_rows == 1)
                                prefetch_span(w_next, w_stride, 1, (b + k) * w_bytes, w_bytes);
                        if (k < 7)
                                pack(w + (b + k + 1) * w_bytes, w_stride, p_next, &dw_next);
                        /* token by token, each in two vpdpbusd chains (even and odd steps; integer
                         * sums, so the order does not matter). Against four tokens at a time in one
                         * chain each: 1.11-1.15x faster at two and three tokens (q4_0 and q8_0),
                         * 1.06x at six, the same at four and from eight on; one chain per token was
                         * up to 1.13x slower. */
                        for (size_t t = 0; t < n_tokens; t++) {
                                __m512i s = _mm512_set1_epi32(off[t][k]), s_odd = _mm512_setzero_si512();
                                for (int j = 0; j < 8; j += 2) {
                                        const uint8_t *xj = xq + t * x_stride + 4 * j;
                                        s = _mm512_dpbusd_epi32(s, p[j], _mm512_set1_epi32(rd_i32(xj)));
                                        s_odd = _mm512_dpbusd_epi32(s_odd, p[j + 1], _mm512_set1_epi32(rd_i32(xj + 4)));
                                }
                                const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(dx[t][k]));
                                acc[t][k] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(s, s_odd)), acc[t][k]);
                        }
                }
        }

        /* the groups' sums, each accumulator + 0 first as the AVX2 kernel adds its empty acc_min (which
         * can only turn a -0 into +0, and an accumulator that starts at +0 never holds -0: kept so
         * that the operations are the same ones); then acc holds the tail accumulators */
        __m512 sums[MAX_TOKENS];
        for (size_t t = 0; t < n_tokens; t++) {
                __m512 a[8];
                for (int k = 0; k < 8; k++) {
                        a[k] = _mm512_add_ps(acc[t][k], _mm512_setzero_ps());
                        acc[t][k] = _mm512_setzero_ps();
                }
                sums[t] = sum8(a);
        }
        /* the blocks left over, one at a time: lane sums of four values each, without the offset of
         * the four activations (the same for every row) */
        const __m512i offset_bytes = _mm512_set1_epi8((char) (8 << shift)), zero = _mm512_setzero_si512();
        for (; b < nb; b++) {
                __m512i p[8];
                __m512 dw;
                pack(w + b * w_bytes, w_stride, p, &dw);
                for (size_t t = 0; t < n_tokens; t++) {
                        const uint8_t *xb = x + t * x_stride + 34 * b;
                        const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(_cvtsh_ss(rd_u16(xb))));
                        for (int j = 0; j < 8; j++) {
                                const __m512i xj = _mm512_set1_epi32(rd_i32(xb + 2 + 4 * j));
                                const __m512i part = _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, p[j], xj),
                                                                      _mm512_dpbusd_epi32(zero, offset_bytes, xj));
                                acc[t][j] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(part), acc[t][j]);
                        }
                }
        }
        for (size_t t = 0; t < n_tokens; t++)
                _mm512_storeu_ps(ret + t * ret_stride, _mm512_add_ps(sums[t], sum8(acc[t])));
}

/* Few tokens: the AVX2 tiles, four rows at a time, each asking for the rows after it. */
static void tile_by_avx2(DotTileFn avx2, size_t avx2_rows, size_t n, const uint8_t *w, size_t w_stride,
                         const uint8_t *w_next, const uint8_t *x, size_t x_stride, size_t n_tokens, float *ret,
                         size_t ret_stride) {
        for (size_t r = 0; r < ROWS; r += avx2_rows) {
                const uint8_t *next = !w_next ? NULL : r + avx2_rows < ROWS ? w + (r + avx2_rows) * w_stride : w_next;
                avx2(n, w + r * w_stride, w_stride, next, x, x_stride, n_tokens, ret + r, ret_stride);
        }
}

void dot_tile_q4_0_vnni(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x, size_t x_stride,
                        size_t n_tokens, float *ret, size_t ret_stride) {
        if (n_tokens < MIN_TOKENS)
                tile_by_avx2(dot_tile_q4_0_avx2, TILE_ROWS_Q4_0, n, w, w_stride, w_next, x, x_stride, n_tokens, ret,
                             ret_stride);
        else
                tile_vnni(n, w, w_stride, w_next, x, x_stride, n_tokens, ret, ret_stride, 18, pack_q4_0, 0, ROWS);
}

void dot_tile_q8_0_vnni(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x, size_t x_stride,
                        size_t n_tokens, float *ret, size_t ret_stride) {
        if (n_tokens < MIN_TOKENS)
                tile_by_avx2(dot_tile_q8_0_avx2, TILE_ROWS_Q8_0, n, w, w_stride, w_next, x, x_stride, n_tokens, ret,
                             ret_stride);
        else
                tile_vnni(n, w, w_stride, w_next, x, x_stride, n_tokens, ret, ret_stride, 34, pack_q8_0, 4, ROWS);
}

/* Packed tiles: nothing to transpose, so one token is worth a tile too (from L2, against the rows'
 * one-token kernel: 2.2x faster at one token; four tokens cost 1.1x what one did there, where the
 * tiles above cost 1.65x). The tile is one stream; w_next is the next tile. */
void dot_tile_q4_0_vnni_packed(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x,
                               size_t x_stride, size_t n_tokens, float *ret, size_t ret_stride) {
        tile_vnni(n, w, w_stride, w_next, x, x_stride, n_tokens, ret, ret_stride, PACKED_Q4_0_BLOCK_BYTES,
                  pack_q4_0_packed, 0, 1);
}

void dot_tile_q8_0_vnni_packed(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x,
                               size_t x_stride, size_t n_tokens, float *ret, size_t ret_stride) {
        tile_vnni(n, w, w_stride, w_next, x, x_stride, n_tokens, ret, ret_stride, PACKED_Q8_0_BLOCK_BYTES,
                  pack_q8_0_packed, 4, 1);
}
