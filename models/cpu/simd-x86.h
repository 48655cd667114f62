/* Small helpers the x86 SIMD kernel files share: reads at any byte offset (weights and activations
 * sit at odd offsets inside their blocks). Included only by files compiled with AVX2 or more. */
#pragma once

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t rd_u16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
}

static inline int32_t rd_i32(const uint8_t *p) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
}

static inline __m128i load128(const uint8_t *p) {
        return _mm_loadu_si128((const __m128i_u *) p);
}

static inline __m256i load256(const uint8_t *p) {
        return _mm256_loadu_si256((const __m256i_u *) p);
}
