/* AVX2 + FMA + F16C dot kernels (compiled with those flags; called only when cpuid reports
 * them). The int8 block kernels use the sign trick: |w| (unsigned) times sign(w)*x (signed) with
 * maddubs, then madd against ones, giving 8 int32 partial sums per 32-value block. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "dot.h"

static inline float rd_f16(const uint8_t *p) {
        uint16_t h;
        memcpy(&h, p, 2);
        return _cvtsh_ss(h);
}

static inline float hsum(__m256 v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
}

/* 32 int8 products summed in 8 int32 lanes, converted to float. */
static inline __m256 block_dot_i8(__m256i w, __m256i x) {
        const __m256i ax = _mm256_sign_epi8(w, w);
        const __m256i sy = _mm256_sign_epi8(x, w);
        const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
        return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

void dot_f32_avx2(size_t n, const void *w, const void *x, float *ret) {
        const float *a = w, *b = x;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
        }
        for (; i + 8 <= n; i += 8)
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        for (; i < n; i++) {
                float av, bv;
                memcpy(&av, (const uint8_t *) w + 4 * i, 4);
                memcpy(&bv, (const uint8_t *) x + 4 * i, 4);
                s += av * bv;
        }
        *ret = s;
}

void dot_f16_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *a = w;
        const float *b = x;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
                __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + 2 * i)));
                __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (a + 2 * i + 16)));
                s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b + i), s0);
                s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b + i + 8), s1);
        }
        float s = hsum(_mm256_add_ps(s0, s1));
        for (; i < n; i++) {
                float bv;
                memcpy(&bv, (const uint8_t *) x + 4 * i, 4);
                s += rd_f16(a + 2 * i) * bv;
        }
        *ret = s;
}

void dot_q8_0_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        __m256 acc = _mm256_setzero_ps();
        for (size_t b = 0; b < n / 32; b++, wb += 34, xb += 34) {
                const __m256i qw = _mm256_loadu_si256((const __m256i *) (wb + 2));
                const __m256i qx = _mm256_loadu_si256((const __m256i *) (xb + 2));
                const __m256 d = _mm256_set1_ps(rd_f16(wb) * rd_f16(xb));
                acc = _mm256_fmadd_ps(d, block_dot_i8(qw, qx), acc);
        }
        *ret = hsum(acc);
}

/* One q4_0 block against one q8_0 block: 8 float partial sums, still to be scaled. */
static inline __m256 q4_0_block(const uint8_t *wb, const uint8_t *xb) {
        /* Low nibbles are values 0..15, high nibbles 16..31: one register in value order. */
        const __m128i q = _mm_loadu_si128((const __m128i *) (wb + 2));
        const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
        const __m256i qw = _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
        return block_dot_i8(qw, _mm256_loadu_si256((const __m256i *) (xb + 2)));
}

/* Two blocks per iteration into two accumulators, so consecutive FMAs do not wait on each other. */
void dot_q4_0_avx2(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        const size_t nb = n / 32;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        size_t b = 0;
        for (; b + 2 <= nb; b += 2, wb += 36, xb += 68) {
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb) * rd_f16(xb)), q4_0_block(wb, xb), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb + 18) * rd_f16(xb + 34)), q4_0_block(wb + 18, xb + 34), acc1);
        }
        if (b < nb)
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(rd_f16(wb) * rd_f16(xb)), q4_0_block(wb, xb), acc0);
        *ret = hsum(_mm256_add_ps(acc0, acc1));
}
