/* AVX2 + FMA + F16C dot kernels, their tiles (several rows x several tokens, the same bits) and
 * activation quantisers. This file alone is compiled with -mavx2 -mfma -mf16c
 * (models/meson.build); kernels.c calls it only when cpuid reports all three.
 *
 * The int8 block kernels compute the scalar rows' integer sums exactly (dot-ref.c states the math
 * per type) and differ from them only in the order the per-block floats are added. maddubs wants
 * one unsigned operand:
 *   q4_0: the stored nibble q (0..15) is unsigned; sum((q - 8) x) = sum(q x) - sum(8 x), two
 *     maddubs and a subtraction (one instruction fewer than the sign trick);
 *   q5_0, q8_0: the sign trick, |w| (unsigned) times sign(w) * x (signed); needs x != -128,
 *     which the activation quantisers guarantee (w = -128 is fine: |w| = 128 unsigned);
 *   q4_1, q5_1, q4_k, q5_k, q6_k (stored as q + 32, the 32 taken back with the bsums): unsigned
 *     as stored. No pair sum can saturate: 2 * 128 * 127 < 32768.
 * The quantisers produce the same bytes as the scalar ones (same float operations, rounding half
 * away from zero done exactly), which is why this file is built with -ffp-contract=off: every FMA
 * here is written out. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dot.h"
#include "simd-x86.h"

static inline float rd_f16(const uint8_t *p) {
        uint16_t h;
        memcpy(&h, p, 2);
        return _cvtsh_ss(h);
}

static inline float rd_f32(const uint8_t *p) {
        float v;
        memcpy(&v, p, 4);
        return v;
}

static inline float hsum_ps(__m256 v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

static inline int32_t hsum_epi32(__m256i v) {
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        return _mm_cvtsi128_si32(s);
}

/* 16 packed nibbles -> 32 bytes in value order: low nibbles are values 0..15, high ones 16..31. */
static inline __m256i nibbles(const uint8_t *p) {
        const __m256i both = _mm256_broadcastsi128_si256(load128(p));
        return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

/* Byte j is 0xff where bit j of the little-endian 32-bit word at p is set, else 0. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
        uint32_t bits;
        memcpy(&bits, p, 4);
        const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int) bits),
                                                   _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                                                      0x0303030303030303));
        const __m256i bit = _mm256_set1_epi64x((int64_t) 0x8040201008040201);
        return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/* ---- float weights x float activations ------------------------------------------------------ */

void dot_f32_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *a = w, *b = x;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
                const float *pa = (const float *) (a + 4 * i), *pb = (const float *) (b + 4 * i);
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa), _mm256_loadu_ps(pb), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 8), _mm256_loadu_ps(pb + 8), s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 16), _mm256_loadu_ps(pb + 16), s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(pa + 24), _mm256_loadu_ps(pb + 24), s3);
        }
        for (; i + 8 <= n; i += 8)
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps((const float *) (a + 4 * i)),
                                     _mm256_loadu_ps((const float *) (b + 4 * i)), s0);
        float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        for (; i < n; i++)
                s += rd_f32(a + 4 * i) * rd_f32(b + 4 * i);
        *ret = s;
}

static inline __m256 load_f16x8(const uint8_t *p) {
        return _mm256_cvtph_ps(load128(p));
}

void dot_f16_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *a = w, *b = x;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
                const uint8_t *pa = a + 2 * i;
                const float *pb = (const float *) (b + 4 * i);
                s0 = _mm256_fmadd_ps(load_f16x8(pa), _mm256_loadu_ps(pb), s0);
                s1 = _mm256_fmadd_ps(load_f16x8(pa + 16), _mm256_loadu_ps(pb + 8), s1);
                s2 = _mm256_fmadd_ps(load_f16x8(pa + 32), _mm256_loadu_ps(pb + 16), s2);
                s3 = _mm256_fmadd_ps(load_f16x8(pa + 48), _mm256_loadu_ps(pb + 24), s3);
        }
        for (; i + 8 <= n; i += 8)
                s0 = _mm256_fmadd_ps(load_f16x8(a + 2 * i), _mm256_loadu_ps((const float *) (b + 4 * i)), s0);
        float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        for (; i < n; i++)
                s += rd_f16(a + 2 * i) * rd_f32(b + 4 * i);
        *ret = s;
}

/* Attention's weighted sum of value rows: 32 outputs stay in registers while every row adds its
 * share (one FMA per 8 values, no store until the rows are done); per output the rows go in u
 * order, as in the scalar row. */
AXPY_ROWS_FN(axpy_rows_f32_avx2) {
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
                __m256 a0 = _mm256_loadu_ps(out + i), a1 = _mm256_loadu_ps(out + i + 8);
                __m256 a2 = _mm256_loadu_ps(out + i + 16), a3 = _mm256_loadu_ps(out + i + 24);
                for (size_t u = 0; u < n_rows; u++) {
                        const float *r = x + u * stride + i;
                        const __m256 wu = _mm256_set1_ps(w[u]);
                        a0 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(r), a0);
                        a1 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(r + 8), a1);
                        a2 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(r + 16), a2);
                        a3 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(r + 24), a3);
                }
                _mm256_storeu_ps(out + i, a0);
                _mm256_storeu_ps(out + i + 8, a1);
                _mm256_storeu_ps(out + i + 16, a2);
                _mm256_storeu_ps(out + i + 24, a3);
        }
        for (; i + 8 <= n; i += 8) {
                __m256 a = _mm256_loadu_ps(out + i);
                for (size_t u = 0; u < n_rows; u++)
                        a = _mm256_fmadd_ps(_mm256_set1_ps(w[u]), _mm256_loadu_ps(x + u * stride + i), a);
                _mm256_storeu_ps(out + i, a);
        }
        for (; i < n; i++) {
                float a = out[i];
                for (size_t u = 0; u < n_rows; u++)
                        a = fmaf(w[u], x[u * stride + i], a);
                out[i] = a;
        }
}

/* exp in eight lanes, the classic single-precision way: x = n ln2 + r with |r| <= ln2 / 2 (ln2 in
 * two parts, so n ln2 is exact enough), e^r by a degree-7 polynomial (relative error about 1e-7),
 * times 2^n built in the exponent bits. The clamp keeps 2^n a normal float; min/max take x as their
 * second operand, which is what they return for a NaN, so NaN goes through. */
static inline __m256 exp8(__m256 x) {
        x = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x));
        const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
        __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
        __m256 p = _mm256_set1_ps(1.9875691500e-4f);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
        p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
        const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
}

void exp_f32_avx2(float *x, size_t n) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
        if (i < n) {
                float t[8] = { 0 };
                memcpy(t, x + i, (n - i) * sizeof(float));
                _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
                memcpy(x + i, t, (n - i) * sizeof(float));
        }
}

/* A tile reads its rows in step, a few blocks of each in turn, which the hardware prefetchers do
 * not follow the way they follow one row read through: from DRAM that cost up to half the rate.
 * So as a tile goes it asks for the same columns of the next tile's rows (w_next: the first of
 * them, NULL for none), one tile ahead: bytes [off, off + len) of each of `rows` rows. Into L2
 * (prefetcht1): into L1 measured far slower for q8_0, the requests competing with the loads. */
static inline void prefetch_span(const void *w_next, size_t w_stride, int rows, size_t off, size_t len) {
        if (!w_next)
                return;
        for (int r = 0; r < rows; r++) {
                const char *p = (const char *) w_next + r * w_stride + off;
                for (size_t k = 0; k < len; k += 64)
                        __builtin_prefetch(p + k, 0, 2);
                __builtin_prefetch(p + len - 1, 0, 2);
        }
}

static inline __m256 load_f32x8(const uint8_t *p) {
        return _mm256_loadu_ps((const float *) p);
}

/* A tile for f32 and f16 weights (DotTileFn): per (row, token) the four accumulators, the hsum and
 * the scalar tail of dot_f32_avx2 / dot_f16_avx2, in their order, so each result is bit-identical
 * to theirs. The rows go together, one token at a time: each activation vector is loaded once for
 * all the rows, which is what bounds the one-token kernels on many tokens (two loads per FMA, and
 * for long rows the activations streamed from L2 again for every row). Sharing the weight loads
 * across tokens as well would need more accumulators than there are registers. */
#define DOT_TILE_FLOAT(name, rows, load_w, rd_w, w_size)                                                      \
        void name(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x,                \
                  size_t x_stride, size_t n_tokens, float *ret, size_t ret_stride) {                          \
                const uint8_t *a = w;                                                                         \
                for (size_t t = 0; t < n_tokens; t++) {                                                       \
                        const uint8_t *b = (const uint8_t *) x + t * x_stride;                                \
                        __m256 s[rows][4];                                                                    \
                        for (int r = 0; r < (rows); r++)                                                      \
                                for (int j = 0; j < 4; j++)                                                   \
                                        s[r][j] = _mm256_setzero_ps();                                        \
                        size_t i = 0;                                                                         \
                        for (; i + 32 <= n; i += 32) {                                                        \
                                if (t == 0)                                                                   \
                                        prefetch_span(w_next, w_stride, (rows), (w_size) * i, (w_size) * 32); \
                                for (int j = 0; j < 4; j++) {                                                 \
                                        const __m256 xv = load_f32x8(b + 4 * (i + 8 * j));                    \
                                        for (int r = 0; r < (rows); r++) {                                    \
                                                const uint8_t *ar = a + r * w_stride + (w_size) * (i + 8 * j); \
                                                s[r][j] = _mm256_fmadd_ps(load_w(ar), xv, s[r][j]);           \
                                        }                                                                     \
                                }                                                                             \
                        }                                                                                     \
                        for (; i + 8 <= n; i += 8) {                                                          \
                                const __m256 xv = load_f32x8(b + 4 * i);                                      \
                                for (int r = 0; r < (rows); r++) {                                            \
                                        const uint8_t *ar = a + r * w_stride + (w_size) * i;                  \
                                        s[r][0] = _mm256_fmadd_ps(load_w(ar), xv, s[r][0]);                   \
                                }                                                                             \
                        }                                                                                     \
                        for (int r = 0; r < (rows); r++) {                                                    \
                                const uint8_t *ar = a + r * w_stride;                                         \
                                float v = hsum_ps(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]),              \
                                                                _mm256_add_ps(s[r][2], s[r][3])));            \
                                for (size_t k = i; k < n; k++)                                                \
                                        v += rd_w(ar + (w_size) * k) * rd_f32(b + 4 * k);                     \
                                ret[t * ret_stride + r] = v;                                                  \
                        }                                                                                     \
                }                                                                                             \
        }

DOT_TILE_FLOAT(dot_tile_f32_avx2, TILE_ROWS_F32, load_f32x8, rd_f32, 4)
DOT_TILE_FLOAT(dot_tile_f16_avx2, TILE_ROWS_F16, load_f16x8, rd_f16, 2)

/* bf16 is the top half of an f32: widen to 32 bits and shift into place. */
static inline __m256 load_bf16x8(const uint8_t *p) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

void dot_bf16_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *a = w, *b = x;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
                const float *pb = (const float *) (b + 4 * i);
                s0 = _mm256_fmadd_ps(load_bf16x8(a + 2 * i), _mm256_loadu_ps(pb), s0);
                s1 = _mm256_fmadd_ps(load_bf16x8(a + 2 * i + 16), _mm256_loadu_ps(pb + 8), s1);
        }
        for (; i + 8 <= n; i += 8)
                s0 = _mm256_fmadd_ps(load_bf16x8(a + 2 * i), _mm256_loadu_ps((const float *) (b + 4 * i)), s0);
        float s = hsum_ps(_mm256_add_ps(s0, s1));
        for (; i < n; i++) {
                uint16_t h;
                memcpy(&h, a + 2 * i, 2);
                uint32_t u = (uint32_t) h << 16;
                float wv;
                memcpy(&wv, &u, 4);
                s += wv * rd_f32(b + 4 * i);
        }
        *ret = s;
}

/* ---- 32-value blocks x q8_0 / q8_1 --------------------------------------------------------- */

/* Each block kernel yields the 16 int16 pair sums of its 32 products (maddubs). Blocks go eight at
 * a time: their pair sums are reduced to one vector of eight int32 block sums, converted once and
 * multiplied by the eight blocks' scales, which are converted from f16 together. Per block that
 * saves the broadcast, conversion and FMA of a block-at-a-time loop. Left-over blocks go one at a
 * time. */

/* Each type in two steps, so that a tile unpacks a weight block once for all its tokens: _w()
 * turns the stored block into the 32 bytes maddubs takes, _wx() multiplies them with one token's
 * block. */

static inline __m256i q4_0_w(const uint8_t *wb) {
        return nibbles(wb + 2);
}

static inline __m256i q4_0_wx(__m256i qw, const uint8_t *xb) {
        const __m256i qx = load256(xb + 2);
        return _mm256_sub_epi16(_mm256_maddubs_epi16(qw, qx), _mm256_maddubs_epi16(_mm256_set1_epi8(8), qx));
}

/* q5_0: value = (nibble | bit << 4) - 16, i.e. the nibble itself when the bit is set and
 * nibble - 16 (the nibble with 0xf0 on top, as an int8) when it is not. */
static inline __m256i q5_0_w(const uint8_t *wb) {
        return _mm256_or_si256(nibbles(wb + 6), _mm256_andnot_si256(bits_to_bytes(wb + 2), _mm256_set1_epi8((char) 0xf0)));
}

/* The sign trick for signed weights (q5_0, q8_0). */
static inline __m256i signed_wx(__m256i qw, const uint8_t *xb) {
        return _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(load256(xb + 2), qw));
}

static inline __m256i q8_0_w(const uint8_t *wb) {
        return load256(wb + 2);
}

static inline __m256i q4_1_w(const uint8_t *wb) {
        return nibbles(wb + 4);
}

static inline __m256i q5_1_w(const uint8_t *wb) {
        return _mm256_or_si256(nibbles(wb + 8), _mm256_and_si256(bits_to_bytes(wb + 4), _mm256_set1_epi8(0x10)));
}

static inline __m256i unsigned_x1_wx(__m256i qw, const uint8_t *xb) {
        return _mm256_maddubs_epi16(qw, load256(xb + 4));
}

/* Eight blocks' pair sums -> their eight block sums (lane k: block k), staying in int16 until each
 * lane holds half a block: only for types where 16 products always fit (|w| * 127 * 16 < 32768:
 * q4_0, q5_0, q4_1). hadd works within 128-bit halves, so after three rounds the low half holds
 * the blocks' first 16 products and the high half their last 16. */
static inline __m256i reduce8_i16(const __m256i p[8]) {
        const __m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
        const __m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(p[4], p[5]), _mm256_hadd_epi16(p[6], p[7]));
        const __m256i c = _mm256_hadd_epi16(a, b);
        return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(c)),
                                _mm256_cvtepi16_epi32(_mm256_extracti128_si256(c, 1)));
}

/* The same through int32 (any type). */
static inline __m256i reduce8_i32(const __m256i p[8]) {
        const __m256i one = _mm256_set1_epi16(1);
        __m256i v[8];
        for (int k = 0; k < 8; k++)
                v[k] = _mm256_madd_epi16(p[k], one);
        const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
        return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/* The f16 at p + order[k] * stride (k = 0..7) as eight floats, lane k for order[k]. */
static inline __attribute__((always_inline)) __m256 load_f16_lanes8(const uint8_t *p, size_t stride,
                                                                     const int order[8]) {
        __m128i v = _mm_cvtsi32_si128(rd_u16(p + order[0] * stride));
        v = _mm_insert_epi16(v, rd_u16(p + order[1] * stride), 1);
        v = _mm_insert_epi16(v, rd_u16(p + order[2] * stride), 2);
        v = _mm_insert_epi16(v, rd_u16(p + order[3] * stride), 3);
        v = _mm_insert_epi16(v, rd_u16(p + order[4] * stride), 4);
        v = _mm_insert_epi16(v, rd_u16(p + order[5] * stride), 5);
        v = _mm_insert_epi16(v, rd_u16(p + order[6] * stride), 6);
        v = _mm_insert_epi16(v, rd_u16(p + order[7] * stride), 7);
        return _mm256_cvtph_ps(v);
}

/* The f16 at p, p + stride, ... p + 7 * stride as eight floats. */
static inline __m256 load_f16_strided8(const uint8_t *p, size_t stride) {
        static const int in_order[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
        return load_f16_lanes8(p, stride, in_order);
}

/* sum_b dw*dx * sum(qw*qx) (+ mw * sx for the q8_1 pairs, with_min). */
#define DOT_BLOCKS32(name, w_fn, wx_fn, reduce8, w_bytes, x_bytes, with_min)                                  \
        void name(size_t n, const void *w, const void *x, float *ret) {                                       \
                const uint8_t *wb = w, *xb = x;                                                               \
                const size_t nb = n / 32;                                                                     \
                __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();                              \
                size_t b = 0;                                                                                 \
                for (; b + 8 <= nb; b += 8, wb += 8 * (w_bytes), xb += 8 * (x_bytes)) {                       \
                        __m256i p[8];                                                                         \
                        for (int k = 0; k < 8; k++)                                                           \
                                p[k] = wx_fn(w_fn(wb + k * (w_bytes)), xb + k * (x_bytes));                   \
                        const __m256 d = _mm256_mul_ps(load_f16_strided8(wb, (w_bytes)),                      \
                                                       load_f16_strided8(xb, (x_bytes)));                     \
                        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(reduce8(p)), acc);                        \
                        if (with_min)                                                                         \
                                acc_min = _mm256_fmadd_ps(load_f16_strided8(wb + 2, (w_bytes)),               \
                                                          load_f16_strided8(xb + 2, (x_bytes)), acc_min);     \
                }                                                                                             \
                float s = hsum_ps(_mm256_add_ps(acc, acc_min));                                               \
                __m256 tail = _mm256_setzero_ps();                                                            \
                for (; b < nb; b++, wb += (w_bytes), xb += (x_bytes)) {                                       \
                        const __m256i i32 = _mm256_madd_epi16(wx_fn(w_fn(wb), xb), _mm256_set1_epi16(1));     \
                        tail = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb) * rd_f16(xb)), _mm256_cvtepi32_ps(i32), tail); \
                        if (with_min)                                                                         \
                                s += rd_f16(wb + 2) * rd_f16(xb + 2);                                         \
                }                                                                                             \
                *ret = s + hsum_ps(tail);                                                                     \
        }

/* The f16 scales of blocks 0 2 4 6 1 3 5 7 at p, stride bytes apart. */
static inline __m256 load_f16_paired8(const uint8_t *p, size_t stride) {
        static const int paired[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
        return load_f16_lanes8(p, stride, paired);
}

/* q4_0 reads what q8_0 activations keep after their blocks (kernels.h): the eight blocks' d as
 * floats in one load instead of eight, their 8 * sum(q) to take from the exact integer sums at
 * once instead of a second maddubs per block, and their q paired, so that two blocks' packed
 * nibbles (block A's 16 bytes below block B's) give two vectors with no shuffle, low nibbles
 * [A 0..15 | B 0..15] and high ones [A 16..31 | B 16..31], against the pairs' q in the same order.
 * A pair's low and high products add into one vector (A's pair sums in its low half, B's in the
 * high), and eight blocks reduce with three hadds instead of seven; lanes end up as blocks
 * 0 2 4 6 | 1 3 5 7, so d and the sums are loaded in that order too and the accumulator is put back
 * in block order before its sum. In int16 a lane holds at most 16 products of a nibble (up to 15)
 * and an int8: 16 * 15 * 127 < 32768. Integer sums and every float operation of a block are
 * DOT_BLOCKS32's, each in its own lane, so the result is the same bits (and the tiles' too); the
 * blocks left over go as there. */
static inline __m256i permute_blocks(__m256i v) {
        return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

void dot_q4_0_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        const size_t nb = n / 32;
        const uint8_t *dx = xb + nb * 34, *sums = dx + nb * 4, *paired = sums + nb * 4;
        const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi16(1);
        __m256 acc = _mm256_setzero_ps();
        size_t b = 0;
        for (; b + 8 <= nb; b += 8, wb += 8 * 18, xb += 8 * 34) {
                const uint8_t *xp = paired + b * 32;
                __m256i p[4];
                for (int j = 0; j < 4; j++) {
                        const __m256i q = _mm256_set_m128i(load128(wb + 18 * (2 * j + 1) + 2), load128(wb + 18 * (2 * j) + 2));
                        p[j] = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(q, low4), load256(xp + 64 * j)),
                                                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                                                     load256(xp + 64 * j + 32)));
                }
                const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
                const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(h, one), permute_blocks(load256(sums + 4 * b)));
                const __m256 d = _mm256_mul_ps(load_f16_paired8(wb, 18),
                                               _mm256_castsi256_ps(permute_blocks(load256(dx + 4 * b))));
                acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        }
        const __m256i block_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        float s = hsum_ps(_mm256_add_ps(_mm256_permutevar8x32_ps(acc, block_order), _mm256_setzero_ps()));
        __m256 tail = _mm256_setzero_ps();
        for (; b < nb; b++, wb += 18, xb += 34) {
                const __m256i i32 = _mm256_madd_epi16(q4_0_wx(q4_0_w(wb), xb), _mm256_set1_epi16(1));
                tail = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb) * rd_f16(xb)), _mm256_cvtepi32_ps(i32), tail);
        }
        *ret = s + hsum_ps(tail);
}

DOT_BLOCKS32(dot_q5_0_avx2, q5_0_w, signed_wx, reduce8_i16, 22, 34, 0)
/* q8_0 takes the eight blocks' activation d as floats from after the blocks (kernels.h): one load
 * instead of eight. Otherwise DOT_BLOCKS32, the same bits. */
void dot_q8_0_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        const size_t nb = n / 32;
        const uint8_t *dx = xb + nb * 34;
        __m256 acc = _mm256_setzero_ps();
        size_t b = 0;
        for (; b + 8 <= nb; b += 8, wb += 8 * 34, xb += 8 * 34) {
                __m256i p[8];
                for (int k = 0; k < 8; k++)
                        p[k] = signed_wx(q8_0_w(wb + k * 34), xb + k * 34);
                const __m256 d = _mm256_mul_ps(load_f16_strided8(wb, 34), _mm256_loadu_ps((const float *) (dx + 4 * b)));
                acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(reduce8_i32(p)), acc);
        }
        float s = hsum_ps(_mm256_add_ps(acc, _mm256_setzero_ps()));
        __m256 tail = _mm256_setzero_ps();
        for (; b < nb; b++, wb += 34, xb += 34) {
                const __m256i i32 = _mm256_madd_epi16(signed_wx(q8_0_w(wb), xb), _mm256_set1_epi16(1));
                tail = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb) * rd_f16(xb)), _mm256_cvtepi32_ps(i32), tail);
        }
        *ret = s + hsum_ps(tail);
}
DOT_BLOCKS32(dot_q4_1_avx2, q4_1_w, unsigned_x1_wx, reduce8_i16, 20, 36, 1)
DOT_BLOCKS32(dot_q5_1_avx2, q5_1_w, unsigned_x1_wx, reduce8_i32, 24, 36, 1)

/* ---- tiles of rows x tokens over 32-value blocks --------------------------------------------- */

/* A tile (DotTileFn) does every float operation of DOT_BLOCKS32, in its order, once per (row,
 * token), so each result is bit-identical to the one-token kernel's: per group of eight blocks one
 * vector of eight exact int32 block sums (however they are computed: integer sums are exact),
 * scaled by dw * dx and added to the output's accumulator, lane k for block k; the blocks left
 * over one at a time into a second accumulator. What the outputs of a tile share is done once: a
 * weight block is read, unpacked and its scale gathered once for all the tokens, an activation
 * block loaded and its scale gathered once for all the rows. The bodies are compiled once per
 * token count (1 .. 4, TILE_BY_TOKENS), so that each count keeps what it can in registers. */

/* The blocks after the last group of eight, exactly as DOT_BLOCKS32 takes them, and the results:
 * s[r][t] holds each output's sum of its accumulator lanes. */
#define TILE_TAIL_BLOCKS32(rows, w_fn, wx_fn, w_bytes, x_bytes, with_min)                                     \
        __m256 tail[rows][4];                                                                                 \
        for (int r = 0; r < (rows); r++)                                                                      \
                for (int t = 0; t < tokens; t++)                                                              \
                        tail[r][t] = _mm256_setzero_ps();                                                     \
        for (; b < nb; b++, wb += (w_bytes), xb += (x_bytes))                                                 \
                for (int r = 0; r < (rows); r++) {                                                            \
                        const uint8_t *wr = wb + r * w_stride;                                                \
                        const __m256i q = w_fn(wr);                                                           \
                        for (int t = 0; t < tokens; t++) {                                                    \
                                const uint8_t *xt = xb + t * x_stride;                                        \
                                const __m256i i32 = _mm256_madd_epi16(wx_fn(q, xt), _mm256_set1_epi16(1));    \
                                tail[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wr) * rd_f16(xt)),         \
                                                             _mm256_cvtepi32_ps(i32), tail[r][t]);            \
                                if (with_min)                                                                 \
                                        s[r][t] += rd_f16(wr + 2) * rd_f16(xt + 2);                           \
                        }                                                                                     \
                }                                                                                             \
        for (int r = 0; r < (rows); r++)                                                                      \
                for (int t = 0; t < tokens; t++)                                                              \
                        ret[t * ret_stride + r] = s[r][t] + hsum_ps(tail[r][t]);

/* The entry point: name##_tokens() inlined for each token count. */
#define TILE_BY_TOKENS(name)                                                                                  \
        void name(size_t n, const void *w, size_t w_stride, const void *w_next, const void *x,                \
                  size_t x_stride, size_t n_tokens, float *ret, size_t ret_stride) {                          \
                switch (n_tokens) {                                                                           \
                case 1:                                                                                       \
                        name##_tokens(n, w, w_stride, w_next, x, x_stride, ret, ret_stride, 1);               \
                        break;                                                                                \
                case 2:                                                                                       \
                        name##_tokens(n, w, w_stride, w_next, x, x_stride, ret, ret_stride, 2);               \
                        break;                                                                                \
                case 3:                                                                                       \
                        name##_tokens(n, w, w_stride, w_next, x, x_stride, ret, ret_stride, 3);               \
                        break;                                                                                \
                default:                                                                                      \
                        name##_tokens(n, w, w_stride, w_next, x, x_stride, ret, ret_stride, 4);               \
                }                                                                                             \
        }

#define TILE_BODY_ARGS                                                                                        \
        size_t n, const uint8_t *w, size_t w_stride, const uint8_t *w_next, const uint8_t *x,                 \
                size_t x_stride, float *ret, size_t ret_stride, const int tokens

/* Any 32-value block type, through its _w() and _wx() steps: the one-token kernel's own integer
 * operations, block by block. */
#define DOT_TILE_BLOCKS32(name, rows, w_fn, wx_fn, reduce8, w_bytes, x_bytes, with_min)                       \
        static inline __attribute__((always_inline)) void name##_tokens(TILE_BODY_ARGS) {                     \
                const uint8_t *wb = w, *xb = x;                                                               \
                const size_t nb = n / 32;                                                                     \
                __m256 acc[rows][4], acc_min[rows][4];                                                        \
                for (int r = 0; r < (rows); r++)                                                              \
                        for (int t = 0; t < tokens; t++)                                                      \
                                acc[r][t] = acc_min[r][t] = _mm256_setzero_ps();                              \
                size_t b = 0;                                                                                 \
                for (; b + 8 <= nb; b += 8, wb += 8 * (w_bytes), xb += 8 * (x_bytes)) {                       \
                        prefetch_span(w_next, w_stride, (rows), (size_t) (wb - w), 8 * (w_bytes));            \
                        __m256i qw[rows][8];                                                                  \
                        __m256 dw[rows], mw[rows];                                                            \
                        for (int r = 0; r < (rows); r++) {                                                    \
                                const uint8_t *wr = wb + r * w_stride;                                        \
                                for (int k = 0; k < 8; k++)                                                   \
                                        qw[r][k] = w_fn(wr + k * (w_bytes));                                  \
                                dw[r] = load_f16_strided8(wr, (w_bytes));                                     \
                                mw[r] = with_min ? load_f16_strided8(wr + 2, (w_bytes)) : _mm256_setzero_ps(); \
                        }                                                                                     \
                        for (int t = 0; t < tokens; t++) {                                                    \
                                const uint8_t *xt = xb + t * x_stride;                                        \
                                const __m256 dx = load_f16_strided8(xt, (x_bytes));                           \
                                const __m256 mx = with_min ? load_f16_strided8(xt + 2, (x_bytes))             \
                                                           : _mm256_setzero_ps();                             \
                                for (int r = 0; r < (rows); r++) {                                            \
                                        __m256i p[8];                                                         \
                                        for (int k = 0; k < 8; k++)                                           \
                                                p[k] = wx_fn(qw[r][k], xt + k * (x_bytes));                   \
                                        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx),                 \
                                                                    _mm256_cvtepi32_ps(reduce8(p)), acc[r][t]); \
                                        if (with_min)                                                         \
                                                acc_min[r][t] = _mm256_fmadd_ps(mw[r], mx, acc_min[r][t]);    \
                                }                                                                             \
                        }                                                                                     \
                }                                                                                             \
                float s[rows][4];                                                                             \
                for (int r = 0; r < (rows); r++)                                                              \
                        for (int t = 0; t < tokens; t++)                                                      \
                                s[r][t] = hsum_ps(_mm256_add_ps(acc[r][t], acc_min[r][t]));                   \
                TILE_TAIL_BLOCKS32(rows, w_fn, wx_fn, w_bytes, x_bytes, with_min)                             \
        }                                                                                                     \
        TILE_BY_TOKENS(name)

DOT_TILE_BLOCKS32(dot_tile_q8_0_avx2, TILE_ROWS_Q8_0, q8_0_w, signed_wx, reduce8_i32, 34, 34, 0)

/* q4_0 has a cheaper reduction when blocks go in pairs. A pair's packed nibbles, block A's 16
 * bytes below block B's, give two vectors with no shuffle: the low nibbles [A 0..15 | B 0..15] and
 * the high ones [A 16..31 | B 16..31]; the activations are rearranged to match (two lane permutes
 * per pair, shared by the rows). A pair's low- and high-nibble products add into one vector, A's
 * pair sums in the low half and B's in the high one, so eight blocks reduce with three hadds
 * instead of seven: lanes end up as blocks 0 2 4 6 | 1 3 5 7 (each 128-bit half of hadd keeps to
 * itself). The scales are gathered in that order too, and the accumulator is put back in block
 * order before its sum: every lane sees the same float operations as in dot_q4_0_avx2, only in
 * another lane. In int16, a lane holds at most 16 products of a nibble (up to 15) and an int8:
 * 16 * 15 * 127 < 32768. The 8 * sum(x) taken back for the nibbles' offset (at most 16 * 8 * 127)
 * goes through the same hadds once per token; the difference, the true sum, fits as well. */


/* Four pairs' int16 sums -> int32 block sums in lanes 0 2 4 6 | 1 3 5 7 (minus the offset's). */
static inline __m256i reduce_pairs(const __m256i p[4], __m256i offset) {
        const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
        return _mm256_madd_epi16(_mm256_sub_epi16(h, offset), _mm256_set1_epi16(1));
}

static inline __attribute__((always_inline)) void dot_tile_q4_0_avx2_tokens(TILE_BODY_ARGS) {
        const uint8_t *wb = w, *xb = x;
        const size_t nb = n / 32;
        const __m256i low4 = _mm256_set1_epi8(0x0f), eight = _mm256_set1_epi8(8);
        __m256 acc[TILE_ROWS_Q4_0][4];
        for (int r = 0; r < TILE_ROWS_Q4_0; r++)
                for (int t = 0; t < tokens; t++)
                        acc[r][t] = _mm256_setzero_ps();
        size_t b = 0;
        for (; b + 8 <= nb; b += 8, wb += 8 * 18, xb += 8 * 34) {
                prefetch_span(w_next, w_stride, TILE_ROWS_Q4_0, (size_t) (wb - w), 8 * 18);
                __m256i wlo[TILE_ROWS_Q4_0][4], whi[TILE_ROWS_Q4_0][4];
                __m256 dw[TILE_ROWS_Q4_0];
                for (int r = 0; r < TILE_ROWS_Q4_0; r++) {
                        const uint8_t *wr = wb + r * w_stride;
                        for (int j = 0; j < 4; j++) {
                                const __m256i q = _mm256_set_m128i(load128(wr + 18 * (2 * j + 1) + 2),
                                                                   load128(wr + 18 * (2 * j) + 2));
                                wlo[r][j] = _mm256_and_si256(q, low4);
                                whi[r][j] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                        }
                        dw[r] = load_f16_paired8(wr, 18);
                }
                for (int t = 0; t < tokens; t++) {
                        const uint8_t *xt = xb + t * x_stride;
                        __m256i xlo[4], xhi[4], off[4];
                        for (int j = 0; j < 4; j++) {
                                const __m256i a = load256(xt + 34 * (2 * j) + 2);
                                const __m256i c = load256(xt + 34 * (2 * j + 1) + 2);
                                xlo[j] = _mm256_permute2x128_si256(a, c, 0x20);
                                xhi[j] = _mm256_permute2x128_si256(a, c, 0x31);
                                off[j] = _mm256_add_epi16(_mm256_maddubs_epi16(eight, xlo[j]),
                                                          _mm256_maddubs_epi16(eight, xhi[j]));
                        }
                        const __m256i offset = _mm256_hadd_epi16(_mm256_hadd_epi16(off[0], off[1]),
                                                                 _mm256_hadd_epi16(off[2], off[3]));
                        const __m256 dx = load_f16_paired8(xt, 34);
                        for (int r = 0; r < TILE_ROWS_Q4_0; r++) {
                                __m256i p[4];
                                for (int j = 0; j < 4; j++)
                                        p[j] = _mm256_add_epi16(_mm256_maddubs_epi16(wlo[r][j], xlo[j]),
                                                                _mm256_maddubs_epi16(whi[r][j], xhi[j]));
                                const __m256i sums = reduce_pairs(p, offset);
                                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx), _mm256_cvtepi32_ps(sums), acc[r][t]);
                        }
                }
        }
        const __m256i block_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        float s[TILE_ROWS_Q4_0][4];
        for (int r = 0; r < TILE_ROWS_Q4_0; r++)
                for (int t = 0; t < tokens; t++)
                        s[r][t] = hsum_ps(_mm256_add_ps(_mm256_permutevar8x32_ps(acc[r][t], block_order),
                                                        _mm256_setzero_ps()));
        TILE_TAIL_BLOCKS32(TILE_ROWS_Q4_0, q4_0_w, q4_0_wx, 18, 34, 0)
}

TILE_BY_TOKENS(dot_tile_q4_0_avx2)

/* ---- 256-value super-blocks x q8_k ---------------------------------------------------------- */

#define Q8K_D 0
#define Q8K_QS 4
#define Q8K_BSUMS 260

/* Broadcasts int16 lane j (0..7) of each 128-bit half of v to the whole half. */
static inline __m256i bcast_i16(__m256i v, int j) {
        return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short) (0x0100 + 0x0202 * j)));
}

/* Low 128 bits: int16 lane 2k of v's low half everywhere; high 128 bits: lane 2k+1 of v's high half. */
static inline __m256i bcast_pair(__m256i v, int k) {
        return _mm256_shuffle_epi8(v, _mm256_set_m128i(_mm_set1_epi16((short) (0x0100 + 0x0202 * (2 * k + 1))),
                                                       _mm_set1_epi16((short) (0x0100 + 0x0202 * (2 * k)))));
}

/* The eight 6-bit scales and mins of q4_k/q5_k (layout in quant-ref.c, k_scale_min), four per
 * 32-bit word: bytes 0..3 of the 12 hold sc[0..3] and the top bits of sc[4..7], bytes 4..7 m[0..3]
 * and the top bits of m[4..7], bytes 8..11 the low nibbles of sc[4..7] | m[4..7] << 4. */
static inline void k_scales_mins(const uint8_t *s, uint64_t *ret_sc, uint64_t *ret_m) {
        uint32_t s0, s1, s2;
        memcpy(&s0, s, 4);
        memcpy(&s1, s + 4, 4);
        memcpy(&s2, s + 8, 4);
        const uint32_t sc_lo = s0 & 0x3f3f3f3f, m_lo = s1 & 0x3f3f3f3f;
        const uint32_t sc_hi = (s2 & 0x0f0f0f0f) | ((s0 >> 6) & 0x03030303) << 4;
        const uint32_t m_hi = ((s2 >> 4) & 0x0f0f0f0f) | ((s1 >> 6) & 0x03030303) << 4;
        *ret_sc = sc_lo | (uint64_t) sc_hi << 32;
        *ret_m = m_lo | (uint64_t) m_hi << 32;
}

/* q4_k and q5_k, one super-block: sum_j sc_j * sum(q*qx) in int32 lanes into acc (times dx * d),
 * sum_j m_j * (bsums of sub-block j) into acc_min (times dx * dmin); qh is NULL for q4_k. */
static inline void q45_k_block(const uint8_t *wb, const uint8_t *qh, const uint8_t *q, const uint8_t *xb, __m256 *acc,
                               __m256 *acc_min) {
        uint64_t sc8, m8;
        k_scales_mins(wb + 4, &sc8, &m8);

        const __m128i mv = _mm_cvtsi64_si128((long long) m8);
        const __m256i m_pairs = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));   /* m0 m0 m1 m1 ... */
        const __m256i mins = _mm256_madd_epi16(load256(xb + Q8K_BSUMS), m_pairs);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long) sc8)));

        const uint8_t *qx = xb + Q8K_QS;
        const __m256i low4 = _mm256_set1_epi8(0x0f);
        __m256i hb = qh ? load256(qh) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++, q += 32, qx += 64) {
                const __m256i qv = load256(q);
                __m256i lo = _mm256_and_si256(qv, low4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
                if (qh) {
                        /* bit 2c of qh[l] for the low values, bit 2c+1 for the high ones; each byte
                         * only ever shifts its own bits into bits 0..1 */
                        const __m256i one = _mm256_set1_epi8(1);
                        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                        hb = _mm256_srli_epi16(hb, 2);
                }
                const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(qx)), bcast_i16(sc16, 2 * c));
                const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(qx + 32)), bcast_i16(sc16, 2 * c + 1));
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(plo, phi));
        }
        const float dx = rd_f32(xb + Q8K_D);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * rd_f16(wb)), _mm256_cvtepi32_ps(sumi), *acc);
        *acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dx * rd_f16(wb + 2)), _mm256_cvtepi32_ps(mins), *acc_min);
}

void dot_q4_k_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
        for (size_t b = 0; b < n / 256; b++, wb += 144, xb += 292)
                q45_k_block(wb, NULL, wb + 16, xb, &acc, &acc_min);
        *ret = hsum_ps(acc) - hsum_ps(acc_min);
}

void dot_q5_k_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
        for (size_t b = 0; b < n / 256; b++, wb += 176, xb += 292)
                q45_k_block(wb, wb + 16, wb + 48, xb, &acc, &acc_min);
        *ret = hsum_ps(acc) - hsum_ps(acc_min);
}

/* q6_k: values are stored as q + 32 (0..63), which maddubs takes as unsigned; the 32 * sum(qx) this
 * adds is taken back with the activations' bsums, whose sub-blocks of 16 are exactly the weight
 * scales' (value v has scale v / 16). */
void dot_q6_k_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        const __m256i low4 = _mm256_set1_epi8(0x0f), m03 = _mm256_set1_epi8(0x03), m30 = _mm256_set1_epi8(0x30);
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < n / 256; b++, wb += 210, xb += 292) {
                const __m256i sc_all = _mm256_cvtepi8_epi16(load128(wb + 192));
                __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(load256(xb + Q8K_BSUMS), sc_all), 5);
                sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = wb + 64 * h, *qx = xb + Q8K_QS + 128 * h;
                        const __m256i qhv = load256(wb + 128 + 32 * h);
                        const __m256i ql0 = load256(ql), ql1 = load256(ql + 32);
                        /* scales of this half: lane j of the low 128 bits is sc[8h + j] ... */
                        const __m256i sch = h ? _mm256_permute2x128_si256(sc_all, sc_all, 0x11)
                                              : _mm256_permute2x128_si256(sc_all, sc_all, 0x00);
                        const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qhv, m03), 4));
                        const __m256i q2 = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qhv, 2), m30));
                        const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qhv, m30));
                        const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                                           _mm256_and_si256(_mm256_srli_epi16(qhv, 2), m30));
                        /* ... and group k's 32 values take sc[8h + 2k] (first 16) and sc[8h + 2k + 1] */
                        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, load256(qx)), bcast_pair(sch, 0));
                        const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, load256(qx + 32)), bcast_pair(sch, 1));
                        const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, load256(qx + 64)), bcast_pair(sch, 2));
                        const __m256i p4 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4, load256(qx + 96)), bcast_pair(sch, 3));
                        sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p1, p2), _mm256_add_epi32(p3, p4)));
                }
                acc = _mm256_fmadd_ps(_mm256_set1_ps(rd_f32(xb + Q8K_D) * rd_f16(wb + 208)), _mm256_cvtepi32_ps(sumi), acc);
        }
        *ret = hsum_ps(acc);
}

/* ---- activation quantisers (same bytes as the scalar ones in dot-ref.c) --------------------- */

static inline __m256 abs_ps(__m256 v) {
        return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline float hmax_ps(__m256 v) {
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        return _mm_cvtss_f32(m);
}

/* roundf() of 8 floats as int32: truncate, then step away from zero where the dropped fraction
 * is at least one half. v - trunc(v) is exact for |v| < 2^23, so ties go the way roundf sends
 * them (x + copysign(0.5, x) would not be exact near 0.5). */
static inline __m256i round_away(__m256 v) {
        const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
        const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
        const __m256 r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
        return _mm256_cvttps_epi32(r);
}

/* Scale of a symmetric int8 block (kernels.h): d = max|x| / 127, and the multiplier 1/d (0 for
 * an all-zero block). max is exact, so the order it is taken in does not matter. */
static inline float block_scale(const float *x, size_t n, float *ret_id) {
        __m256 m = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j += 8)
                m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
        const float d = hmax_ps(m) / 127.0f;
        *ret_id = d != 0.0f ? 1.0f / d : 0.0f;
        return d;
}

/* 32 values -> 32 int8 at dst; returns their 8 int32 values as 4 vectors through q. */
static inline void quantize32(const float *x, __m256 id, uint8_t *dst, __m256i q[4]) {
        for (int k = 0; k < 4; k++)
                q[k] = round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
        /* packs work per 128-bit half: bytes come out as 0-3 8-11 16-19 24-27 4-7 12-15 ... */
        const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        const __m256i p = _mm256_permutevar8x32_epi32(p16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i_u *) dst, p);
}

static inline void wr_f16(uint8_t *p, float v) {
        const uint16_t h = _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT);
        memcpy(p, &h, 2);
}

void act_quantize_q8_0_avx2(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 34, x += 32) {
                float id;
                __m256i q[4];
                wr_f16(b, block_scale(x, 32, &id));
                quantize32(x, _mm256_set1_ps(id), b + 2, q);
        }        act_q8_0_write_sums(dst, n);
}

void act_quantize_q8_1_avx2(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 36, x += 32) {
                float id;
                __m256i q[4];
                const uint16_t d = _cvtss_sh(block_scale(x, 32, &id), _MM_FROUND_TO_NEAREST_INT);
                quantize32(x, _mm256_set1_ps(id), b + 4, q);
                const int32_t sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
                memcpy(b, &d, 2);
                wr_f16(b + 2, _cvtsh_ss(d) * (float) sum);
        }
}

void act_quantize_q8_k_avx2(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 256; i++, b += 292, x += 256) {
                float id;
                const float d = block_scale(x, 256, &id);
                const __m256 idv = _mm256_set1_ps(id);
                memcpy(b + Q8K_D, &d, 4);
                for (int g = 0; g < 8; g++) {
                        __m256i q[4];
                        quantize32(x + 32 * g, idv, b + Q8K_QS + 32 * g, q);
                        const int16_t bs[2] = {
                                (int16_t) hsum_epi32(_mm256_add_epi32(q[0], q[1])),
                                (int16_t) hsum_epi32(_mm256_add_epi32(q[2], q[3])),
                        };
                        memcpy(b + Q8K_BSUMS + 4 * g, bs, 4);
                }
        }
}
