/* IEEE half and bfloat16 <-> float conversions, exact and portable (no F16C needed). */
#pragma once

#include <stdint.h>
#include <string.h>

static inline uint32_t f32_bits(float f) {
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        return u;
}

static inline float f32_from_bits(uint32_t u) {
        float f;
        memcpy(&f, &u, sizeof(f));
        return f;
}

/* Half to float: every half value (subnormals, infinities, NaN) converts exactly. */
static inline float f16_to_f32(uint16_t h) {
        uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
        uint32_t exp = (h >> 10) & 0x1fu;
        uint32_t mant = h & 0x3ffu;

        if (exp == 0x1f)        /* inf or NaN */
                return f32_from_bits(sign | 0x7f800000u | (mant << 13));
        if (exp == 0) {
                if (mant == 0)
                        return f32_from_bits(sign);
                /* subnormal: value = mant * 2^-24 */
                float v = (float) mant * 5.9604644775390625e-08f;
                return sign ? -v : v;
        }
        return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Float to half with round-to-nearest-even, overflow to infinity, NaN kept quiet. */
static inline uint16_t f32_to_f16(float f) {
        uint32_t x = f32_bits(f);
        uint32_t sign = (x >> 16) & 0x8000u;
        uint32_t absx = x & 0x7fffffffu;

        if (absx >= 0x7f800000u)                       /* inf or NaN */
                return (uint16_t) (sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
        if (absx >= 0x477ff000u)                       /* rounds to >= 65520: overflow */
                return (uint16_t) (sign | 0x7c00u);
        if (absx < 0x38800000u) {                      /* below the smallest normal half */
                if (absx < 0x33000000u)                /* below half of the smallest subnormal */
                        return (uint16_t) sign;
                uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
                uint32_t shift = 113u - (absx >> 23) + 13u;   /* 126 - exp + 14 ... */
                uint32_t q = mant >> shift;
                uint32_t rem = mant & ((1u << shift) - 1u);
                uint32_t halfway = 1u << (shift - 1u);
                if (rem > halfway || (rem == halfway && (q & 1u)))
                        q++;
                return (uint16_t) (sign | q);
        }
        uint32_t q = ((absx >> 13) - (112u << 10));
        uint32_t rem = absx & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))
                q++;
        return (uint16_t) (sign | q);
}

static inline float bf16_to_f32(uint16_t b) {
        return f32_from_bits((uint32_t) b << 16);
}

/* Float to bfloat16 with round-to-nearest-even; NaN stays NaN. */
static inline uint16_t f32_to_bf16(float f) {
        uint32_t x = f32_bits(f);
        if ((x & 0x7fffffffu) > 0x7f800000u)
                return (uint16_t) ((x >> 16) | 0x40u);
        return (uint16_t) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
