/* Unit tests for the scalar reference (de)quantisation in models/tensor/quant-ref.c: every block
 * below is written out byte by byte, and every expected value was worked out from the GGUF layout
 * by hand. The 256-value tables were expanded from the formulas beside them by a separate
 * throwaway script (not this code), and the worked examples there were checked by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/type-traits.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

static bool float_same(float a, float b) {
        if (isnan(a) || isnan(b))
                return isnan(a) && isnan(b);
        return a == b;
}

/* Compares exactly (NaN matches NaN, -0 matches +0), printing every mismatch by index. */
static void check_floats(const char *what, const float *got, const float *want, size_t n) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
                if (!float_same(got[i], want[i])) {
                        if (bad < 20)
                                print_error("%s: [%zu] got %.9g, want %.9g\n", what, i,
                                            (double) got[i], (double) want[i]);
                        bad++;
                }
        if (bad)
                fail_msg("%s: %zu of %zu values differ", what, bad, n);
}

static void check_bytes(const char *what, const uint8_t *got, const uint8_t *want, size_t n) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
                if (got[i] != want[i]) {
                        if (bad < 20)
                                print_error("%s: byte [%zu] got 0x%02x, want 0x%02x\n", what, i,
                                            got[i], want[i]);
                        bad++;
                }
        if (bad)
                fail_msg("%s: %zu of %zu bytes differ", what, bad, n);
}

/* Runs fn on the row in bytes (n values) at byte offsets 0, 1 and 3 (src need not be aligned),
 * then on the row written twice in a row (blocks must advance by exactly block_bytes). Buffers are
 * sized exactly so that AddressSanitizer sees any read or write past the end. */
static void check_dequant(const char *what, DequantRowFn fn, const uint8_t *bytes, size_t nbytes,
                          const float *want, size_t n) {
        static const size_t offsets[] = { 0, 1, 3 };
        for (size_t o = 0; o < N_ELEMS(offsets); o++) {
                size_t off = offsets[o];
                uint8_t *src = malloc(off + 2 * nbytes);
                float *dst = malloc(2 * n * sizeof(float));
                assert_non_null(src);
                assert_non_null(dst);
                memset(src, 0xee, off);
                memcpy(src + off, bytes, nbytes);
                memcpy(src + off + nbytes, bytes, nbytes);
                char name[128];

                fn(src + off, dst, n);
                snprintf(name, sizeof(name), "%s (offset %zu)", what, off);
                check_floats(name, dst, want, n);

                fn(src + off, dst, 2 * n);
                snprintf(name, sizeof(name), "%s (offset %zu, first copy)", what, off);
                check_floats(name, dst, want, n);
                snprintf(name, sizeof(name), "%s (offset %zu, second copy)", what, off);
                check_floats(name, dst + n, want, n);
                free(src);
                free(dst);
        }
}

/* ---- f32 / f16 / bf16 -------------------------------------------------------------------- */

static void test_dequant_row_f32_values(void **state) {
        (void) state;
        /* little-endian binary32 */
        static const uint8_t bytes[] = {
                0x00, 0x00, 0x80, 0x3f,   /* 0x3f800000 = 1.0 */
                0x00, 0x00, 0x20, 0xc0,   /* 0xc0200000 = -2.5 */
                0x00, 0x00, 0x00, 0x00,   /* +0 */
                0x00, 0x00, 0x00, 0x80,   /* -0 */
                0x00, 0x00, 0x80, 0x7f,   /* +inf */
                0xff, 0xff, 0x7f, 0x7f,   /* FLT_MAX = 3.40282347e38 */
                0x01, 0x00, 0x00, 0x00,   /* smallest subnormal 2^-149 */
                0xcd, 0xcc, 0xcc, 0x3d,   /* 0x3dcccccd = 0.1f */
        };
        static const float want[] = { 1.0f, -2.5f, 0.0f, -0.0f, INFINITY, 3.40282347e38f,
                                      0x1p-149f, 0.1f };
        check_dequant("f32", dequant_row_f32, bytes, sizeof(bytes), want, N_ELEMS(want));

        float out[N_ELEMS(want)];
        dequant_row_f32(bytes, out, N_ELEMS(want));
        assert_false(signbit(out[2]));
        assert_true(signbit(out[3]));
}

static void test_dequant_row_f16_special(void **state) {
        (void) state;
        static const uint8_t bytes[] = {
                0x00, 0x3c,   /* 0x3c00: exp 15, 1.0 */
                0x00, 0xc0,   /* 0xc000: -2.0 */
                0x55, 0x35,   /* 0x3555: 2^-2 * (1 + 341/1024) = 0.333251953125 */
                0xff, 0x7b,   /* 0x7bff: largest finite, 65504 */
                0x00, 0x04,   /* 0x0400: smallest normal, 2^-14 */
                0x01, 0x00,   /* 0x0001: smallest subnormal, 2^-24 */
                0xff, 0x03,   /* 0x03ff: largest subnormal, 1023 * 2^-24 */
                0x01, 0x80,   /* 0x8001: -2^-24 */
                0x00, 0x00,   /* +0 */
                0x00, 0x80,   /* -0 */
                0x00, 0x7c,   /* +inf */
                0x00, 0xfc,   /* -inf */
                0x00, 0x7e,   /* quiet NaN */
                0x01, 0xfc,   /* signalling NaN with sign */
                0x00, 0x38,   /* 0.5 */
                0x00, 0x2c,   /* 0x2c00: 2^-4 = 0.0625 */
        };
        static const float want[] = {
                1.0f, -2.0f, 0.333251953125f, 65504.0f, 0x1p-14f, 0x1p-24f,
                0x1.ff8p-15f /* 1023 * 2^-24 */,
                -0x1p-24f, 0.0f, -0.0f, INFINITY, -INFINITY, NAN, NAN, 0.5f, 0.0625f,
        };
        check_dequant("f16", dequant_row_f16, bytes, sizeof(bytes), want, N_ELEMS(want));

        float out[N_ELEMS(want)];
        dequant_row_f16(bytes, out, N_ELEMS(want));
        assert_false(signbit(out[8]));
        assert_true(signbit(out[9]));
        assert_true(signbit(out[11]));
}

static void test_dequant_row_bf16_special(void **state) {
        (void) state;
        static const uint8_t bytes[] = {
                0x80, 0x3f,   /* 0x3f80 -> 0x3f800000 = 1.0 */
                0x40, 0xc0,   /* 0xc040 -> -3.0 */
                0xc9, 0x40,   /* 0x40c9 -> 0x40c90000 = 6.28125 */
                0x80, 0x7f,   /* +inf */
                0x80, 0xff,   /* -inf */
                0xc0, 0x7f,   /* NaN */
                0x01, 0x00,   /* 0x00010000: subnormal 2^-133 */
                0x00, 0x80,   /* -0 */
        };
        static const float want[] = { 1.0f, -3.0f, 6.28125f, INFINITY, -INFINITY, NAN, 0x1p-133f,
                                      -0.0f };
        check_dequant("bf16", dequant_row_bf16, bytes, sizeof(bytes), want, N_ELEMS(want));

        float out[N_ELEMS(want)];
        dequant_row_bf16(bytes, out, N_ELEMS(want));
        assert_true(signbit(out[7]));
}

static void test_quantize_row_f32_bytes(void **state) {
        (void) state;
        static const float src[] = { 1.0f, -2.5f, -0.0f, 0x1p-149f };
        static const uint8_t want[] = {
                0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0,
                0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00,
        };
        uint8_t got[sizeof(want) + 1];
        got[sizeof(want)] = 0x5a;
        quantize_row_f32(src, got, N_ELEMS(src));
        check_bytes("quantize f32", got, want, sizeof(want));
        assert_int_equal(got[sizeof(want)], 0x5a);
}

typedef struct F16Case {
        float in;
        uint16_t out;
} F16Case;

/* f32 -> f16 round-to-nearest-even. Half has 10 mantissa bits: near 1.0 one ulp is 2^-10, so
 * 1 + 2^-11 lies exactly between 0x3c00 and 0x3c01. */
static const F16Case f16_cases[] = {
        { 1.0f, 0x3c00 },
        { 1.0f + 0x1p-11f, 0x3c00 },              /* tie, 0x3c00 is even: down */
        { 1.0f + 3 * 0x1p-11f, 0x3c02 },          /* tie between 0x3c01 and 0x3c02: up to even */
        { 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 },   /* just above the tie: up */
        { 1.0f + 0x1p-11f - 0x1p-23f, 0x3c00 },   /* just below the tie: down */
        { -1.0f - 3 * 0x1p-11f, 0xbc02 },         /* ties are symmetric in sign */
        { 2049.0f, 0x6800 },                      /* ulp 2 at 2048: 2049 ties to 2048 (even) */
        { 2051.0f, 0x6802 },                      /* 2051 ties to 2052 (0x6802, even) */
        { 0.333333343f, 0x3555 },
        { 65504.0f, 0x7bff },                     /* largest finite */
        { 65519.0f, 0x7bff },                     /* below the 65520 overflow tie */
        { 65520.0f, 0x7c00 },                     /* tie between 65504 and 2^16: to inf (even) */
        { 1.0e6f, 0x7c00 },
        { -1.0e6f, 0xfc00 },
        { INFINITY, 0x7c00 },
        { -INFINITY, 0xfc00 },
        { 0x1p-14f, 0x0400 },                     /* smallest normal */
        { 0x1p-24f, 0x0001 },                     /* smallest subnormal */
        { -0x1p-24f, 0x8001 },
        { 0x1p-25f, 0x0000 },                     /* half the smallest subnormal: tie to 0 */
        { 0x1.000002p-25f, 0x0001 },              /* just above it */
        { 3 * 0x1p-25f, 0x0002 },                 /* 1.5 * 2^-24: tie between 1 and 2 -> 2 */
        { 5 * 0x1p-25f, 0x0002 },                 /* 2.5 * 2^-24: tie between 2 and 3 -> 2 */
        { 1023 * 0x1p-24f, 0x03ff },              /* largest subnormal */
        { 1023.5f * 0x1p-24f, 0x0400 },           /* tie 0x3ff/0x400: up to the smallest normal */
        { 1.0e-10f, 0x0000 },
        { -1.0e-10f, 0x8000 },
        { 0.0f, 0x0000 },
        { -0.0f, 0x8000 },
};

static void test_quantize_row_f16_round_to_nearest_even(void **state) {
        (void) state;
        size_t n = N_ELEMS(f16_cases);
        float src[N_ELEMS(f16_cases)];
        uint8_t got[2 * N_ELEMS(f16_cases)];

        for (size_t i = 0; i < n; i++) {
                src[i] = f16_cases[i].in;
                uint16_t h = f32_to_f16(f16_cases[i].in);
                if (h != f16_cases[i].out)
                        fail_msg("f32_to_f16 case %zu (%a): got 0x%04x, want 0x%04x", i,
                                 (double) f16_cases[i].in, h, f16_cases[i].out);
        }
        quantize_row_f16(src, got, n);
        for (size_t i = 0; i < n; i++) {
                uint16_t h = (uint16_t) (got[2 * i] | (got[2 * i + 1] << 8));
                if (h != f16_cases[i].out)
                        fail_msg("quantize_row_f16 case %zu: got 0x%04x, want 0x%04x", i, h,
                                 f16_cases[i].out);
        }
}

static void test_quantize_row_f16_nan(void **state) {
        (void) state;
        float src[2] = { NAN, -NAN };
        uint8_t got[4];
        quantize_row_f16(src, got, 2);
        for (int i = 0; i < 2; i++) {
                uint16_t h = (uint16_t) (got[2 * i] | (got[2 * i + 1] << 8));
                assert_int_equal(h & 0x7c00, 0x7c00);   /* exponent all ones */
                assert_true((h & 0x03ff) != 0);          /* mantissa not zero: still NaN */
                assert_true(isnan(f16_to_f32(h)));
        }
}

/* Every half that is not NaN survives half -> float -> half unchanged. */
static void test_f16_round_trip_all(void **state) {
        (void) state;
        for (uint32_t h = 0; h < 0x10000u; h++) {
                float f = f16_to_f32((uint16_t) h);
                if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) {
                        assert_true(isnan(f));
                        continue;
                }
                if (f32_to_f16(f) != h)
                        fail_msg("half 0x%04x -> %a -> 0x%04x", h, (double) f, f32_to_f16(f));
        }
}

static const F16Case bf16_cases[] = {
        { 1.0f, 0x3f80 },
        { -1.5f, 0xbfc0 },
        { 1.0f + 0x1p-8f, 0x3f80 },               /* 7 mantissa bits: tie, 0x3f80 even: down */
        { 1.0f + 3 * 0x1p-8f, 0x3f82 },           /* tie between 0x3f81 and 0x3f82: up */
        { 1.0f + 0x1p-8f + 0x1p-20f, 0x3f81 },    /* above the tie */
        { -(1.0f + 3 * 0x1p-8f), 0xbf82 },
        { 3.40282347e38f, 0x7f80 },               /* FLT_MAX rounds up to inf */
        { INFINITY, 0x7f80 },
        { -INFINITY, 0xff80 },
        { 0x1p-133f, 0x0001 },                    /* subnormal 0x00010000 is exact */
        { 0x1.8p-133f, 0x0002 },                  /* 0x00018000: tie between 1 and 2 -> 2 */
        { -0.0f, 0x8000 },
};

static void test_quantize_row_bf16_round_to_nearest_even(void **state) {
        (void) state;
        size_t n = N_ELEMS(bf16_cases);
        float src[N_ELEMS(bf16_cases)];
        uint8_t got[2 * N_ELEMS(bf16_cases)];

        for (size_t i = 0; i < n; i++) {
                src[i] = bf16_cases[i].in;
                uint16_t b = f32_to_bf16(bf16_cases[i].in);
                if (b != bf16_cases[i].out)
                        fail_msg("f32_to_bf16 case %zu (%a): got 0x%04x, want 0x%04x", i,
                                 (double) bf16_cases[i].in, b, bf16_cases[i].out);
        }
        quantize_row_bf16(src, got, n);
        for (size_t i = 0; i < n; i++) {
                uint16_t b = (uint16_t) (got[2 * i] | (got[2 * i + 1] << 8));
                if (b != bf16_cases[i].out)
                        fail_msg("quantize_row_bf16 case %zu: got 0x%04x, want 0x%04x", i, b,
                                 bf16_cases[i].out);
        }

        float nan_src[1] = { NAN };
        quantize_row_bf16(nan_src, got, 1);
        assert_true(isnan(bf16_to_f32((uint16_t) (got[0] | (got[1] << 8)))));
}

static void test_bf16_round_trip_all(void **state) {
        (void) state;
        for (uint32_t b = 0; b < 0x10000u; b++) {
                float f = bf16_to_f32((uint16_t) b);
                if (isnan(f))
                        continue;
                if (f32_to_bf16(f) != b)
                        fail_msg("bf16 0x%04x -> %a -> 0x%04x", b, (double) f, f32_to_bf16(f));
        }
}

/* ---- 32-value blocks --------------------------------------------------------------------- */

static void test_dequant_row_q4_0_two_blocks(void **state) {
        (void) state;
        static const uint8_t bytes[2 * 18] = {
                /* block 0: d = 0x3800 = 0.5; qs[j] = j | (15 - j) << 4 */
                0x00, 0x38,
                0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
                /* block 1: d = 0xc000 = -2.0; qs alternate 0x80 (lo 0, hi 8), 0x1f (lo 15, hi 1) */
                0x00, 0xc0,
                0x80, 0x1f, 0x80, 0x1f, 0x80, 0x1f, 0x80, 0x1f,
                0x80, 0x1f, 0x80, 0x1f, 0x80, 0x1f, 0x80, 0x1f,
        };
        static const float want[64] = {
                /* block 0, j = 0..15: (j - 8) * 0.5 */
                -4.0f, -3.5f, -3.0f, -2.5f, -2.0f, -1.5f, -1.0f, -0.5f,
                0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f,
                /* block 0, j + 16: (15 - j - 8) * 0.5 */
                3.5f, 3.0f, 2.5f, 2.0f, 1.5f, 1.0f, 0.5f, 0.0f,
                -0.5f, -1.0f, -1.5f, -2.0f, -2.5f, -3.0f, -3.5f, -4.0f,
                /* block 1, j: (0 - 8) * -2 = 16, (15 - 8) * -2 = -14 */
                16.0f, -14.0f, 16.0f, -14.0f, 16.0f, -14.0f, 16.0f, -14.0f,
                16.0f, -14.0f, 16.0f, -14.0f, 16.0f, -14.0f, 16.0f, -14.0f,
                /* block 1, j + 16: (8 - 8) * -2 = 0, (1 - 8) * -2 = 14 */
                0.0f, 14.0f, 0.0f, 14.0f, 0.0f, 14.0f, 0.0f, 14.0f,
                0.0f, 14.0f, 0.0f, 14.0f, 0.0f, 14.0f, 0.0f, 14.0f,
        };
        check_dequant("q4_0", dequant_row_q4_0, bytes, sizeof(bytes), want, N_ELEMS(want));
}

static void test_dequant_row_q4_1_block(void **state) {
        (void) state;
        static const uint8_t bytes[20] = {
                0x00, 0x38,   /* d = 0.5 */
                0x00, 0xbc,   /* m = -1.0 */
                /* qs[j] = (15 - j) | j << 4 */
                0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
                0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
        };
        static const float want[32] = {
                /* j: (15 - j) * 0.5 - 1 */
                6.5f, 6.0f, 5.5f, 5.0f, 4.5f, 4.0f, 3.5f, 3.0f,
                2.5f, 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f,
                /* j + 16: j * 0.5 - 1 */
                -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f,
                3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f,
        };
        check_dequant("q4_1", dequant_row_q4_1, bytes, sizeof(bytes), want, N_ELEMS(want));
}

static void test_dequant_row_q5_0_qh_both_halves(void **state) {
        (void) state;
        static const uint8_t bytes[22] = {
                0x00, 0x34,               /* d = 0x3400 = 0.25 */
                /* qh = 0x5a3cc3a5: bits 0..15 (values 0..15)  = 1010 0101 1100 0011 (bit 0 first)
                 *                  bits 16..31 (values 16..31) = 0011 1100 0101 1010 */
                0xa5, 0xc3, 0x3c, 0x5a,
                /* qs[j] = j | (15 - j) << 4 */
                0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
        };
        static const float want[32] = {
                /* j: (j + 16 * bit_j - 16) * 0.25, e.g. j=0: (0+16-16) = 0; j=1: (1-16) = -15 */
                0.0f, -3.75f, 0.5f, -3.25f, -3.0f, 1.25f, -2.5f, 1.75f,
                2.0f, 2.25f, -1.5f, -1.25f, -1.0f, -0.75f, 3.5f, 3.75f,
                /* j + 16: ((15 - j) + 16 * bit_(j+16) - 16) * 0.25, e.g. j=2: 13+16-16 = 13 */
                -0.25f, -0.5f, 3.25f, 3.0f, 2.75f, 2.5f, -1.75f, -2.0f,
                -2.25f, 1.5f, -2.75f, 1.0f, 0.75f, -3.5f, 0.25f, -4.0f,
        };
        check_dequant("q5_0", dequant_row_q5_0, bytes, sizeof(bytes), want, N_ELEMS(want));
}

static void test_dequant_row_q5_1_qh_both_halves(void **state) {
        (void) state;
        static const uint8_t bytes[24] = {
                0x00, 0x38,               /* d = 0.5 */
                0x00, 0x40,               /* m = 2.0 */
                0x03, 0x00, 0x01, 0x80,   /* qh = 0x80010003: bits 0, 1, 16, 31 */
                /* qs[j] = (15 - j) | j << 4 */
                0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
                0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
        };
        static const float want[32] = {
                /* j: q = 15 - j (+16 for j = 0, 1); value q * 0.5 + 2 */
                17.5f, 17.0f, 8.5f, 8.0f, 7.5f, 7.0f, 6.5f, 6.0f,
                5.5f, 5.0f, 4.5f, 4.0f, 3.5f, 3.0f, 2.5f, 2.0f,
                /* j + 16: q = j (+16 for j = 0 and j = 15) */
                10.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f,
                6.0f, 6.5f, 7.0f, 7.5f, 8.0f, 8.5f, 9.0f, 17.5f,
        };
        check_dequant("q5_1", dequant_row_q5_1, bytes, sizeof(bytes), want, N_ELEMS(want));
}

static void test_dequant_row_q8_0_two_blocks(void **state) {
        (void) state;
        static const uint8_t bytes[2 * 34] = {
                /* block 0: d = 0.5; qs = 0 1 -1 2 -2 127 -128 100 -100 64 -64 7 -7 15 -15 31
                 *                       -31 63 -63 50 -50 25 -25 12 -12 6 -6 3 -3 126 -127 99 */
                0x00, 0x38,
                0x00, 0x01, 0xff, 0x02, 0xfe, 0x7f, 0x80, 0x64,
                0x9c, 0x40, 0xc0, 0x07, 0xf9, 0x0f, 0xf1, 0x1f,
                0xe1, 0x3f, 0xc1, 0x32, 0xce, 0x19, 0xe7, 0x0c,
                0xf4, 0x06, 0xfa, 0x03, 0xfd, 0x7e, 0x81, 0x63,
                /* block 1: d = 0xac00 = -0.0625; qs[j] = j - 16 */
                0x00, 0xac,
                0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
                0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
                0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        };
        static const float want[64] = {
                /* block 0: qs * 0.5 */
                0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 63.5f, -64.0f, 50.0f,
                -50.0f, 32.0f, -32.0f, 3.5f, -3.5f, 7.5f, -7.5f, 15.5f,
                -15.5f, 31.5f, -31.5f, 25.0f, -25.0f, 12.5f, -12.5f, 6.0f,
                -6.0f, 3.0f, -3.0f, 1.5f, -1.5f, 63.0f, -63.5f, 49.5f,
                /* block 1: (j - 16) * -0.0625 */
                1.0f, 0.9375f, 0.875f, 0.8125f, 0.75f, 0.6875f, 0.625f, 0.5625f,
                0.5f, 0.4375f, 0.375f, 0.3125f, 0.25f, 0.1875f, 0.125f, 0.0625f,
                0.0f, -0.0625f, -0.125f, -0.1875f, -0.25f, -0.3125f, -0.375f, -0.4375f,
                -0.5f, -0.5625f, -0.625f, -0.6875f, -0.75f, -0.8125f, -0.875f, -0.9375f,
        };
        check_dequant("q8_0", dequant_row_q8_0, bytes, sizeof(bytes), want, N_ELEMS(want));
}

/* ---- 256-value super-blocks -------------------------------------------------------------- */

/* q4_k: d = 0x3c00 = 1.0, dmin = 0x3800 = 0.5.
 *   sc = { 1, 2, 3, 4, 17, 33, 50, 63 },  m = { 0, 1, 2, 5, 16, 35, 48, 63 }
 * Sub-blocks 4..7 need their top two bits from scales[0..7] (bits 6..7):
 *   sc[4..7] >> 4 = 1, 2, 3, 3;  m[4..7] >> 4 = 1, 2, 3, 3
 *   scales[0..3]  = sc[0..3] | hi(sc[4..7]) << 6 = 0x41 0x82 0xc3 0xc4
 *   scales[4..7]  = m[0..3]  | hi(m[4..7])  << 6 = 0x40 0x81 0xc2 0xc5
 *   scales[8..11] = (sc[4..7] & 15) | (m[4..7] & 15) << 4 = 0x01 0x31 0x02 0xff
 * qs: 128 arbitrary bytes. Value 64c + l = (qs[32c + l] & 15) * sc[2c] - 0.5 * m[2c],
 * value 64c + 32 + l = (qs[32c + l] >> 4) * sc[2c + 1] - 0.5 * m[2c + 1]. Worked examples:
 *   [0]   qs[0]  = 0xdc, lo 12: 12 * 1 - 0          = 12
 *   [32]  qs[0]  = 0xdc, hi 13: 13 * 2 - 0.5        = 25.5
 *   [128] qs[64] = 0x4b, lo 11: 11 * 17 - 8         = 179
 *   [160] qs[64] = 0x4b, hi 4:  4 * 33 - 17.5       = 114.5
 *   [255] qs[127] = 0x9e, hi 9: 9 * 63 - 31.5       = 535.5 */
static const uint8_t q4_k_block[144] = {
        0x00, 0x3c, 0x00, 0x38, 0x41, 0x82, 0xc3, 0xc4,
        0x40, 0x81, 0xc2, 0xc5, 0x01, 0x31, 0x02, 0xff,
        0xdc, 0x04, 0x65, 0xaa, 0x1f, 0xad, 0x1d, 0x5a,
        0xda, 0xe5, 0xac, 0x1b, 0x1e, 0x5f, 0x13, 0x70,
        0x79, 0x6c, 0xfd, 0x10, 0xff, 0x19, 0xaf, 0x60,
        0x1d, 0x04, 0xac, 0xb4, 0x1d, 0x02, 0x2b, 0x46,
        0x78, 0x73, 0x3a, 0xf2, 0xdf, 0x5f, 0xae, 0xb7,
        0x08, 0x59, 0xd1, 0xee, 0x39, 0x10, 0xcb, 0x48,
        0x95, 0xb5, 0xcc, 0x89, 0x29, 0x11, 0xff, 0x06,
        0xb6, 0x62, 0x2e, 0xdf, 0x3c, 0xf9, 0x35, 0xfd,
        0x4b, 0x94, 0x28, 0xca, 0x09, 0x7c, 0x44, 0xb3,
        0x02, 0x5e, 0x96, 0x5f, 0xb3, 0xea, 0x6d, 0xac,
        0xd4, 0x2d, 0x81, 0x6e, 0x69, 0xaf, 0xe0, 0xe6,
        0x87, 0x4c, 0x9c, 0x04, 0xe7, 0xd2, 0x36, 0x5d,
        0x2c, 0x60, 0xc9, 0xea, 0xf4, 0x79, 0xf6, 0x86,
        0xa0, 0xeb, 0x93, 0x26, 0xe4, 0x62, 0x12, 0xd5,
        0x0d, 0xcb, 0xb3, 0x77, 0x15, 0x6a, 0x6a, 0x3a,
        0x68, 0xba, 0x8e, 0xdb, 0x74, 0x08, 0x46, 0x9e,
};
static const float q4_k_want[256] = {
        12.0f, 4.0f, 5.0f, 10.0f, 15.0f, 13.0f, 13.0f, 10.0f,
        10.0f, 5.0f, 12.0f, 11.0f, 14.0f, 15.0f, 3.0f, 0.0f,
        9.0f, 12.0f, 13.0f, 0.0f, 15.0f, 9.0f, 15.0f, 0.0f,
        13.0f, 4.0f, 12.0f, 4.0f, 13.0f, 2.0f, 11.0f, 6.0f,
        25.5f, -0.5f, 11.5f, 19.5f, 1.5f, 19.5f, 1.5f, 9.5f,
        25.5f, 27.5f, 19.5f, 1.5f, 1.5f, 9.5f, 1.5f, 13.5f,
        13.5f, 11.5f, 29.5f, 1.5f, 29.5f, 1.5f, 19.5f, 11.5f,
        1.5f, -0.5f, 19.5f, 21.5f, 1.5f, -0.5f, 3.5f, 7.5f,
        23.0f, 8.0f, 29.0f, 5.0f, 44.0f, 44.0f, 41.0f, 20.0f,
        23.0f, 26.0f, 2.0f, 41.0f, 26.0f, -1.0f, 32.0f, 23.0f,
        14.0f, 14.0f, 35.0f, 26.0f, 26.0f, 2.0f, 44.0f, 17.0f,
        17.0f, 5.0f, 41.0f, 44.0f, 35.0f, 26.0f, 14.0f, 38.0f,
        25.5f, 25.5f, 9.5f, 57.5f, 49.5f, 17.5f, 37.5f, 41.5f,
        -2.5f, 17.5f, 49.5f, 53.5f, 9.5f, 1.5f, 45.5f, 13.5f,
        33.5f, 41.5f, 45.5f, 29.5f, 5.5f, 1.5f, 57.5f, -2.5f,
        41.5f, 21.5f, 5.5f, 49.5f, 9.5f, 57.5f, 9.5f, 57.5f,
        179.0f, 60.0f, 128.0f, 162.0f, 145.0f, 196.0f, 60.0f, 43.0f,
        26.0f, 230.0f, 94.0f, 247.0f, 43.0f, 162.0f, 213.0f, 196.0f,
        60.0f, 213.0f, 9.0f, 230.0f, 145.0f, 247.0f, -8.0f, 94.0f,
        111.0f, 196.0f, 196.0f, 60.0f, 111.0f, 26.0f, 94.0f, 213.0f,
        114.5f, 279.5f, 48.5f, 378.5f, -17.5f, 213.5f, 114.5f, 345.5f,
        -17.5f, 147.5f, 279.5f, 147.5f, 345.5f, 444.5f, 180.5f, 312.5f,
        411.5f, 48.5f, 246.5f, 180.5f, 180.5f, 312.5f, 444.5f, 444.5f,
        246.5f, 114.5f, 279.5f, -17.5f, 444.5f, 411.5f, 81.5f, 147.5f,
        576.0f, -24.0f, 426.0f, 476.0f, 176.0f, 426.0f, 276.0f, 276.0f,
        -24.0f, 526.0f, 126.0f, 276.0f, 176.0f, 76.0f, 76.0f, 226.0f,
        626.0f, 526.0f, 126.0f, 326.0f, 226.0f, 476.0f, 476.0f, 476.0f,
        376.0f, 476.0f, 676.0f, 526.0f, 176.0f, 376.0f, 276.0f, 676.0f,
        94.5f, 346.5f, 724.5f, 850.5f, 913.5f, 409.5f, 913.5f, 472.5f,
        598.5f, 850.5f, 535.5f, 94.5f, 850.5f, 346.5f, 31.5f, 787.5f,
        -31.5f, 724.5f, 661.5f, 409.5f, 31.5f, 346.5f, 346.5f, 157.5f,
        346.5f, 661.5f, 472.5f, 787.5f, 409.5f, -31.5f, 220.5f, 535.5f,
};

static void test_dequant_row_q4_k_high_scale_bits(void **state) {
        (void) state;
        check_dequant("q4_k", dequant_row_q4_k, q4_k_block, sizeof(q4_k_block), q4_k_want, 256);
}

/* q5_k: d = 0x3800 = 0.5, dmin = 0x3c00 = 1.0.
 *   sc = { 63, 5, 0, 9, 48, 20, 37, 1 },  m = { 7, 0, 63, 12, 33, 2, 47, 60 }
 *   sc[4..7] >> 4 = 3, 1, 2, 0;  m[4..7] >> 4 = 2, 0, 2, 3
 *   scales[0..3]  = 63|3<<6, 5|1<<6, 0|2<<6, 9|0<<6 = 0xff 0x45 0x80 0x09
 *   scales[4..7]  = 7|2<<6, 0|0<<6, 63|2<<6, 12|3<<6 = 0x87 0x00 0xbf 0xcc
 *   scales[8..11] = 0|1<<4, 4|2<<4, 5|15<<4, 1|12<<4 = 0x10 0x24 0xf5 0xc1
 * qh: 32 arbitrary bytes, qs: 128 arbitrary bytes. With q the nibble plus 16 * the qh bit:
 *   value 64c + l      = q * 0.5 * sc[2c]     - m[2c],     bit 2c of qh[l]
 *   value 64c + 32 + l = q * 0.5 * sc[2c + 1] - m[2c + 1], bit 2c+1 of qh[l]
 * Worked examples:
 *   [0]   qs[0] = 0x78 lo 8, qh[0] = 0xf3 bit 0 = 1: q 24: 24 * 0.5 * 63 - 7 = 749
 *   [128] qs[64] = 0x1e lo 14, qh[0] bit 4 = 1: q 30:    30 * 0.5 * 48 - 33 = 687
 *   [255] qs[127] = 0xb8 hi 11, qh[31] = 0xf7 bit 7 = 1: q 27: 27 * 0.5 * 1 - 60 = -46.5 */
static const uint8_t q5_k_block[176] = {
        0x00, 0x38, 0x00, 0x3c, 0xff, 0x45, 0x80, 0x09,
        0x87, 0x00, 0xbf, 0xcc, 0x10, 0x24, 0xf5, 0xc1,
        0xf3, 0xce, 0xb3, 0x0a, 0xf8, 0xd0, 0xdd, 0x68,
        0xbb, 0xf8, 0x5f, 0xfa, 0x24, 0xf2, 0xd2, 0xfc,
        0x18, 0x87, 0xfb, 0x5c, 0x87, 0xba, 0xb4, 0x38,
        0x32, 0xa5, 0x9b, 0x1b, 0x3d, 0x10, 0x7c, 0xf7,
        0x78, 0xd6, 0x7f, 0xe2, 0x6d, 0xf8, 0x11, 0x91,
        0x29, 0x7e, 0x93, 0x95, 0xcb, 0x12, 0xc5, 0x57,
        0xce, 0x5a, 0xf1, 0xd4, 0x16, 0x18, 0xd7, 0x19,
        0xbc, 0x04, 0x5b, 0x7e, 0x99, 0x65, 0xf1, 0xa2,
        0x94, 0x71, 0xc4, 0x2a, 0xac, 0x6a, 0xa9, 0x38,
        0xc4, 0x75, 0xc7, 0xad, 0x32, 0x38, 0x02, 0x1f,
        0x05, 0x3b, 0x2c, 0x99, 0x1a, 0xfc, 0xeb, 0x15,
        0xde, 0xcf, 0x68, 0xba, 0xe0, 0x7c, 0xbc, 0xd6,
        0x1e, 0x97, 0x1b, 0x9a, 0x0b, 0x9d, 0xbe, 0x97,
        0x63, 0xd3, 0x92, 0xfc, 0xaf, 0xdf, 0xa2, 0x8c,
        0x97, 0x23, 0x45, 0x62, 0xeb, 0xdd, 0x07, 0x65,
        0x70, 0xff, 0x58, 0x89, 0x6a, 0xcf, 0xf7, 0xca,
        0xee, 0x3f, 0x1c, 0xe9, 0xe4, 0x0a, 0x68, 0xe5,
        0xde, 0x93, 0x8d, 0x38, 0x9c, 0x7d, 0xbd, 0xd7,
        0x5b, 0x09, 0xd4, 0xe7, 0xe2, 0x33, 0x44, 0x3f,
        0x4a, 0x8c, 0xc4, 0xa1, 0x90, 0xd6, 0xb8, 0xb8,
};
static const float q5_k_want[256] = {
        749.0f, 182.0f, 969.5f, 56.0f, 402.5f, 245.0f, 528.5f, 24.5f,
        780.5f, 434.0f, 591.5f, 150.5f, 339.5f, 56.0f, 150.5f, 213.5f,
        434.0f, 812.0f, 528.5f, 119.0f, 686.0f, 245.0f, 213.5f, 276.5f,
        371.0f, 623.0f, 843.5f, 938.0f, 780.5f, 150.5f, 24.5f, 560.0f,
        57.5f, 72.5f, 57.5f, 75.0f, 15.0f, 37.5f, 2.5f, 22.5f,
        45.0f, 17.5f, 62.5f, 62.5f, 30.0f, 42.5f, 70.0f, 12.5f,
        30.0f, 52.5f, 77.5f, 32.5f, 42.5f, 42.5f, 32.5f, 2.5f,
        67.5f, 0.0f, 52.5f, 57.5f, 22.5f, 15.0f, 37.5f, 65.0f,
        -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f,
        -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f,
        -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f,
        -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f, -63.0f,
        28.5f, 91.5f, 42.0f, 69.0f, 105.0f, 15.0f, 105.0f, 73.5f,
        114.0f, 91.5f, 114.0f, 105.0f, 1.5f, 1.5f, -12.0f, 64.5f,
        60.0f, 1.5f, 69.0f, 100.5f, -7.5f, 127.5f, 51.0f, 64.5f,
        46.5f, 42.0f, 87.0f, 109.5f, 123.0f, 19.5f, 109.5f, 46.5f,
        687.0f, 135.0f, 615.0f, 207.0f, 615.0f, 663.0f, 687.0f, 135.0f,
        423.0f, 423.0f, 399.0f, 639.0f, 327.0f, 711.0f, 399.0f, 639.0f,
        519.0f, 39.0f, 471.0f, 399.0f, 231.0f, 663.0f, 519.0f, 471.0f,
        351.0f, 327.0f, 543.0f, 567.0f, 591.0f, 711.0f, 519.0f, 591.0f,
        168.0f, 88.0f, 168.0f, 88.0f, 158.0f, 88.0f, 108.0f, 248.0f,
        218.0f, 288.0f, 88.0f, 308.0f, 258.0f, 288.0f, 98.0f, 238.0f,
        88.0f, 18.0f, 198.0f, 58.0f, 138.0f, 288.0f, 158.0f, 218.0f,
        228.0f, 308.0f, 48.0f, 78.0f, 218.0f, 118.0f, 308.0f, 278.0f,
        508.0f, 526.5f, 175.0f, 119.5f, 323.0f, 434.0f, 397.0f, 341.5f,
        212.0f, 304.5f, 489.5f, 397.0f, 175.0f, 489.5f, 489.5f, 378.5f,
        156.5f, 119.5f, 323.0f, 378.5f, -10.0f, 8.5f, 27.0f, 230.5f,
        138.0f, 175.0f, 27.0f, -28.5f, -47.0f, 64.0f, 397.0f, 397.0f,
        -45.0f, -50.5f, -51.5f, -53.0f, -45.0f, -52.0f, -49.0f, -53.0f,
        -45.5f, -47.5f, -56.0f, -50.5f, -55.5f, -48.5f, -46.5f, -45.5f,
        -57.5f, -52.0f, -45.5f, -53.0f, -45.0f, -50.5f, -50.0f, -58.5f,
        -58.0f, -48.0f, -46.0f, -55.0f, -55.5f, -53.5f, -54.5f, -46.5f,
};

static void test_dequant_row_q5_k_high_scale_bits(void **state) {
        (void) state;
        check_dequant("q5_k", dequant_row_q5_k, q5_k_block, sizeof(q5_k_block), q5_k_want, 256);
}

/* q6_k: ql 128 arbitrary bytes, qh 64 arbitrary bytes,
 *   scales = { 1, -1, 2, -3, 127, -128, 5, -7, 10, -20, 33, -64, 0, 3, -2, 100 } (int8),
 *   d = 0x3400 = 0.25 stored last.
 * Value 128h + 32k + l (k = 0..3, l = 0..31) takes scale sc[8h + l/16 + 2k]; q is a nibble of
 * ql (lo for k = 0, 1; hi for k = 2, 3; from ql[64h + l] for k even, ql[64h + l + 32] for k odd)
 * with bits 2k..2k+1 of qh[32h + l] on top, minus 32. Worked examples:
 *   [0]   ql[0] = 0xdc lo 12, qh[0] = 0xa2 bits 0-1 = 2: 44 - 32 = 12,  0.25 * 1 * 12 = 3
 *   [32]  ql[32] = 0xc0 lo 0, qh[0] bits 2-3 = 0: -32,                 0.25 * 2 * -32 = -16
 *   [64]  ql[0] hi 13, qh[0] bits 4-5 = 2: 13,                         0.25 * 127 * 13 = 412.75
 *   [96]  ql[32] hi 12, qh[0] bits 6-7 = 2: 12,                        0.25 * 5 * 12 = 15
 *   [128] ql[64] = 0x72 lo 2, qh[32] = 0xcf bits 0-1 = 3: 18,          0.25 * 10 * 18 = 45
 *   [175] ql[111] = 0x00 lo 0, qh[47] = 0xf3 bits 2-3 = 0: -32,        0.25 * 33 * -32 = -264
 *   [239] ql[111] hi 0, qh[47] bits 6-7 = 3: 16,                       0.25 * -2 * 16 = -8 */
static const uint8_t q6_k_block[210] = {
        0xdc, 0x61, 0x5f, 0xd1, 0x8e, 0x28, 0xbe, 0x59,
        0x0e, 0xaa, 0x50, 0x1b, 0x50, 0x8a, 0x6a, 0x36,
        0x29, 0xe6, 0x70, 0xdf, 0x55, 0x77, 0xba, 0xdc,
        0x44, 0x6d, 0x43, 0xbb, 0xa9, 0x08, 0x17, 0xd6,
        0xc0, 0xf6, 0x7b, 0x08, 0x61, 0x70, 0xd9, 0x2d,
        0xc9, 0x12, 0x72, 0x5b, 0x24, 0x7e, 0xc2, 0xe2,
        0xda, 0xb1, 0xb2, 0x04, 0x9e, 0x20, 0x80, 0x74,
        0x37, 0x9a, 0x6f, 0x90, 0x0c, 0xdd, 0x2e, 0x5e,
        0x72, 0xf5, 0x09, 0x48, 0xb6, 0x58, 0xd1, 0x97,
        0xe9, 0xc3, 0x8c, 0xb1, 0x6e, 0xd3, 0xdd, 0x12,
        0x44, 0x62, 0x32, 0x0c, 0x14, 0xa7, 0xaf, 0x3f,
        0xfa, 0x0c, 0xde, 0xd6, 0x13, 0xce, 0x13, 0x86,
        0xcb, 0x57, 0xa0, 0x47, 0xe4, 0x5b, 0xbe, 0xd1,
        0x45, 0xb4, 0x36, 0xd5, 0x88, 0xfe, 0xd2, 0x00,
        0x41, 0xf2, 0x87, 0xb1, 0x0f, 0x83, 0x5f, 0x74,
        0x65, 0xba, 0x28, 0x46, 0x16, 0x52, 0xdf, 0x88,
        0xa2, 0x13, 0xd9, 0xbf, 0x42, 0xef, 0xb7, 0x11,
        0xb5, 0xde, 0x07, 0x7f, 0xc9, 0x79, 0xba, 0xe3,
        0xa8, 0x58, 0x4a, 0xa9, 0xe8, 0x2d, 0xa8, 0x4d,
        0x50, 0x9d, 0xe6, 0x98, 0x6b, 0xe2, 0xa9, 0x9a,
        0xcf, 0x21, 0x4c, 0x66, 0x2a, 0x8c, 0xd5, 0x90,
        0x11, 0x37, 0x98, 0x67, 0x89, 0xbb, 0xad, 0xf3,
        0x51, 0x8d, 0x13, 0xad, 0xf5, 0x1c, 0xa1, 0x01,
        0x94, 0xac, 0xb0, 0x84, 0x6c, 0xf5, 0x8a, 0xf5,
        0x01, 0xff, 0x02, 0xfd, 0x7f, 0x80, 0x05, 0xf9,
        0x0a, 0xec, 0x21, 0xc0, 0x00, 0x03, 0xfe, 0x64,
        0x00, 0x34,
};
static const float q6_k_want[256] = {
        3.0f, 4.25f, -0.25f, 4.25f, 3.5f, 6.0f, 7.5f, -1.75f,
        -0.5f, 2.5f, 4.0f, 6.75f, -4.0f, -1.5f, 2.5f, 5.5f,
        5.75f, 6.5f, 0.0f, 0.25f, 6.75f, 2.25f, 5.5f, 1.0f,
        7.0f, 0.75f, -0.75f, 5.25f, -6.25f, -2.0f, 2.25f, -1.5f,
        -16.0f, -13.0f, 5.5f, 12.0f, -15.5f, 8.0f, -3.5f, -9.5f,
        -3.5f, 9.0f, -7.0f, 13.5f, 2.0f, 7.0f, 1.0f, -15.0f,
        -7.5f, -0.75f, -1.5f, -3.0f, -10.5f, -12.0f, 0.0f, -15.0f,
        18.75f, -19.5f, 0.75f, 0.0f, -9.0f, 14.25f, -10.5f, -10.5f,
        412.75f, -317.5f, -349.25f, 920.75f, -762.0f, 63.5f, 857.25f, -349.25f,
        508.0f, -190.5f, -857.25f, 539.75f, -857.25f, 762.0f, 698.5f, 95.25f,
        -64.0f, 64.0f, 800.0f, -416.0f, -160.0f, -224.0f, -352.0f, 608.0f,
        384.0f, 320.0f, -128.0f, 160.0f, -320.0f, 0.0f, -32.0f, 96.0f,
        15.0f, -21.25f, 28.75f, 0.0f, -12.5f, 28.75f, 16.25f, -37.5f,
        15.0f, 21.25f, -31.25f, -13.75f, 22.5f, -11.25f, 15.0f, 37.5f,
        -22.75f, 8.75f, 8.75f, 0.0f, -43.75f, 52.5f, -14.0f, 15.75f,
        22.75f, -15.75f, -38.5f, -15.75f, 28.0f, -50.75f, -3.5f, -8.75f,
        45.0f, -27.5f, -57.5f, 20.0f, 15.0f, -60.0f, -37.5f, -62.5f,
        -17.5f, 47.5f, -50.0f, 42.5f, -5.0f, 47.5f, -7.5f, 45.0f,
        60.0f, 70.0f, -90.0f, 20.0f, 60.0f, 125.0f, 5.0f, 5.0f,
        110.0f, 100.0f, 90.0f, 130.0f, 145.0f, 10.0f, -15.0f, 50.0f,
        222.75f, -206.25f, 132.0f, -74.25f, 33.0f, 222.75f, -16.5f, -255.75f,
        -222.75f, -99.0f, 49.5f, -90.75f, 66.0f, 115.5f, 148.5f, -264.0f,
        496.0f, -288.0f, 400.0f, -272.0f, 16.0f, -304.0f, 272.0f, 448.0f,
        176.0f, -416.0f, 384.0f, 160.0f, -352.0f, 224.0f, -240.0f, 128.0f,
        0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
        0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
        -9.0f, -19.5f, -9.75f, 0.0f, 12.75f, -4.5f, 7.5f, -21.75f,
        -0.75f, 0.0f, 21.75f, -14.25f, 0.75f, 21.0f, -23.25f, 18.0f,
        -14.0f, 13.5f, 3.0f, 6.0f, 9.0f, -2.5f, -13.5f, -6.5f,
        14.0f, 10.5f, -1.5f, 1.5f, -4.0f, -7.5f, -6.5f, -8.0f,
        -300.0f, 375.0f, -600.0f, 275.0f, 400.0f, -600.0f, 125.0f, -625.0f,
        150.0f, 275.0f, 50.0f, 100.0f, -375.0f, 525.0f, 325.0f, 600.0f,
};

static void test_dequant_row_q6_k_negative_scales(void **state) {
        (void) state;
        check_dequant("q6_k", dequant_row_q6_k, q6_k_block, sizeof(q6_k_block), q6_k_want, 256);
}

/* q8_k: d = 0x3e000000 = 0.125 (f32), qs 256 arbitrary int8, bsums filled with 0xaa (garbage the
 * dequantiser must not read). value = 0.125 * qs: [0] 0x2a = 42 -> 5.25, [255] 0x50 = 80 -> 10. */
static const uint8_t q8_k_block[292] = {
        0x00, 0x00, 0x00, 0x3e, 0x2a, 0x7a, 0x91, 0xf5,
        0xf3, 0xab, 0x2f, 0x86, 0x32, 0xba, 0x81, 0x45,
        0x20, 0x3d, 0xc3, 0x67, 0x14, 0x88, 0x7a, 0x75,
        0x90, 0xc8, 0x63, 0xc7, 0x07, 0xe0, 0x1e, 0xc2,
        0x70, 0x03, 0x9a, 0xd1, 0x8b, 0x16, 0x3f, 0x24,
        0xf6, 0xc3, 0xde, 0x2b, 0xef, 0x5d, 0x5a, 0xd1,
        0xe6, 0x76, 0x13, 0x79, 0xca, 0x42, 0x16, 0xb9,
        0x10, 0xaa, 0x05, 0xd9, 0x83, 0x30, 0xc7, 0x0a,
        0xcf, 0x85, 0xf0, 0x66, 0xcb, 0xec, 0xef, 0xac,
        0x89, 0x4c, 0xfa, 0xb7, 0x1f, 0x18, 0xba, 0xc3,
        0x34, 0xdf, 0xb6, 0x60, 0x4a, 0xb2, 0x80, 0x32,
        0xcd, 0x39, 0xa1, 0x6e, 0xdf, 0x94, 0x44, 0x14,
        0xe1, 0xf3, 0xa6, 0xec, 0xc1, 0xf4, 0x39, 0x43,
        0x06, 0xc0, 0x9b, 0x62, 0x9d, 0xe3, 0x3a, 0xd3,
        0x61, 0xef, 0xc3, 0x53, 0x6b, 0xd0, 0x4f, 0x96,
        0x1f, 0xee, 0x4d, 0xbd, 0xf3, 0x05, 0x2d, 0x97,
        0xfe, 0xc4, 0xd1, 0x9b, 0x45, 0x27, 0xb4, 0xa2,
        0xc4, 0x94, 0xd8, 0x64, 0x3e, 0xb8, 0x71, 0xb9,
        0xc4, 0x1f, 0x53, 0x8b, 0x08, 0x95, 0x1c, 0x9e,
        0x5f, 0x40, 0x21, 0xff, 0x97, 0x7a, 0x1a, 0x4d,
        0x7f, 0x70, 0x8c, 0xab, 0x2f, 0x7c, 0xfa, 0x80,
        0x1b, 0x42, 0xca, 0xf5, 0xdb, 0x8c, 0xf9, 0x2c,
        0xb8, 0xe6, 0x7e, 0x41, 0xf6, 0xf9, 0x7f, 0x01,
        0xe4, 0xa8, 0x36, 0x6d, 0xa4, 0xec, 0xa2, 0xed,
        0xba, 0x70, 0xed, 0x54, 0x57, 0xeb, 0xa0, 0x97,
        0x63, 0x41, 0x89, 0x4d, 0x4d, 0x59, 0x68, 0xe6,
        0x92, 0xbc, 0x5c, 0xab, 0x0e, 0xf3, 0x10, 0x79,
        0x06, 0x9d, 0xa5, 0x3d, 0xf1, 0x52, 0x5d, 0x2e,
        0x09, 0x3b, 0x0d, 0xce, 0x96, 0x6d, 0x41, 0x9e,
        0xf5, 0x0a, 0x2c, 0xa4, 0x6b, 0x16, 0x56, 0x9d,
        0xac, 0x1a, 0x04, 0x02, 0x29, 0x7b, 0x66, 0xbd,
        0x1d, 0x97, 0x83, 0xa8, 0x56, 0xa5, 0xe5, 0xca,
        0xc3, 0x49, 0x04, 0x50, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa,
};
static const float q8_k_want[256] = {
        5.25f, 15.25f, -13.875f, -1.375f, -1.625f, -10.625f, 5.875f, -15.25f,
        6.25f, -8.75f, -15.875f, 8.625f, 4.0f, 7.625f, -7.625f, 12.875f,
        2.5f, -15.0f, 15.25f, 14.625f, -14.0f, -7.0f, 12.375f, -7.125f,
        0.875f, -4.0f, 3.75f, -7.75f, 14.0f, 0.375f, -12.75f, -5.875f,
        -14.625f, 2.75f, 7.875f, 4.5f, -1.25f, -7.625f, -4.25f, 5.375f,
        -2.125f, 11.625f, 11.25f, -5.875f, -3.25f, 14.75f, 2.375f, 15.125f,
        -6.75f, 8.25f, 2.75f, -8.875f, 2.0f, -10.75f, 0.625f, -4.875f,
        -15.625f, 6.0f, -7.125f, 1.25f, -6.125f, -15.375f, -2.0f, 12.75f,
        -6.625f, -2.5f, -2.125f, -10.5f, -14.875f, 9.5f, -0.75f, -9.125f,
        3.875f, 3.0f, -8.75f, -7.625f, 6.5f, -4.125f, -9.25f, 12.0f,
        9.25f, -9.75f, -16.0f, 6.25f, -6.375f, 7.125f, -11.875f, 13.75f,
        -4.125f, -13.5f, 8.5f, 2.5f, -3.875f, -1.625f, -11.25f, -2.5f,
        -7.875f, -1.5f, 7.125f, 8.375f, 0.75f, -8.0f, -12.625f, 12.25f,
        -12.375f, -3.625f, 7.25f, -5.625f, 12.125f, -2.125f, -7.625f, 10.375f,
        13.375f, -6.0f, 9.875f, -13.25f, 3.875f, -2.25f, 9.625f, -8.375f,
        -1.625f, 0.625f, 5.625f, -13.125f, -0.25f, -7.5f, -5.875f, -12.625f,
        8.625f, 4.875f, -9.5f, -11.75f, -7.5f, -13.5f, -5.0f, 12.5f,
        7.75f, -9.0f, 14.125f, -8.875f, -7.5f, 3.875f, 10.375f, -14.625f,
        1.0f, -13.375f, 3.5f, -12.25f, 11.875f, 8.0f, 4.125f, -0.125f,
        -13.125f, 15.25f, 3.25f, 9.625f, 15.875f, 14.0f, -14.5f, -10.625f,
        5.875f, 15.5f, -0.75f, -16.0f, 3.375f, 8.25f, -6.75f, -1.375f,
        -4.625f, -14.5f, -0.875f, 5.5f, -9.0f, -3.25f, 15.75f, 8.125f,
        -1.25f, -0.875f, 15.875f, 0.125f, -3.5f, -11.0f, 6.75f, 13.625f,
        -11.5f, -2.5f, -11.75f, -2.375f, -8.75f, 14.0f, -2.375f, 10.5f,
        10.875f, -2.625f, -12.0f, -13.125f, 12.375f, 8.125f, -14.875f, 9.625f,
        9.625f, 11.125f, 13.0f, -3.25f, -13.75f, -8.5f, 11.5f, -10.625f,
        1.75f, -1.625f, 2.0f, 15.125f, 0.75f, -12.375f, -11.375f, 7.625f,
        -1.875f, 10.25f, 11.625f, 5.75f, 1.125f, 7.375f, 1.625f, -6.25f,
        -13.25f, 13.625f, 8.125f, -12.25f, -1.375f, 1.25f, 5.5f, -11.5f,
        13.375f, 2.75f, 10.75f, -12.375f, -10.5f, 3.25f, 0.5f, 0.25f,
        5.125f, 15.375f, 12.75f, -8.375f, 3.625f, -13.125f, -15.625f, -11.0f,
        10.75f, -11.375f, -3.375f, -6.75f, -7.625f, 9.125f, 0.5f, 10.0f,
};

static void test_dequant_row_q8_k_ignores_bsums(void **state) {
        (void) state;
        check_dequant("q8_k", dequant_row_q8_k, q8_k_block, sizeof(q8_k_block), q8_k_want, 256);
}

static void test_dequant_row_all_n_zero(void **state) {
        (void) state;
        static const DequantRowFn fns[] = {
                dequant_row_f32, dequant_row_f16, dequant_row_bf16, dequant_row_q4_0,
                dequant_row_q4_1, dequant_row_q5_0, dequant_row_q5_1, dequant_row_q8_0,
                dequant_row_q4_k, dequant_row_q5_k, dequant_row_q6_k, dequant_row_q8_k,
        };
        uint8_t src[1] = { 0 };
        float dst[1] = { 42.0f };
        for (size_t i = 0; i < N_ELEMS(fns); i++) {
                fns[i](src, dst, 0);
                assert_true(dst[0] == 42.0f);
        }
}

/* ---- quantisers -------------------------------------------------------------------------- */

/* max|x| = 63.5, so d = 63.5 / 127 = 0.5 exactly, 1/d = 2, and q = round(2x), halves away from
 * zero. */
static void test_quantize_row_q8_0_exact_block(void **state) {
        (void) state;
        static const float src[32] = {
                63.5f, -63.5f, 0.25f, -0.25f, 0.2f, 1.3f, -10.75f, 31.25f,
                0.0f, 1.0f, -1.0f, 0.75f, -0.75f, 10.0f, -20.0f, 5.5f,
                0.1f, -0.3f, 2.25f, -2.25f, 50.0f, -50.1f, 62.9f, -62.74f,
                7.0f, -7.125f, 3.375f, -3.375f, 0.6f, -0.6f, 15.75f, -15.75f,
        };
        /* 2x:  127 -127 0.5 -0.5 0.4 2.6 -21.5 62.5 | 0 2 -2 1.5 -1.5 20 -40 11 |
         *      0.2 -0.6 4.5 -4.5 100 -100.2 125.8 -125.48 |
         *      14 -14.25 6.75 -6.75 1.2 -1.2 31.5 -31.5
         * q:   127 -127 1 -1 0 3 -22 63 | 0 2 -2 2 -2 20 -40 11 |
         *      0 -1 5 -5 100 -100 126 -125 | 14 -14 7 -7 1 -1 32 -32 */
        static const uint8_t want[34] = {
                0x00, 0x38,
                0x7f, 0x81, 0x01, 0xff, 0x00, 0x03, 0xea, 0x3f,
                0x00, 0x02, 0xfe, 0x02, 0xfe, 0x14, 0xd8, 0x0b,
                0x00, 0xff, 0x05, 0xfb, 0x64, 0x9c, 0x7e, 0x83,
                0x0e, 0xf2, 0x07, 0xf9, 0x01, 0xff, 0x20, 0xe0,
        };
        uint8_t got[34];
        quantize_row_q8_0(src, got, 32);
        check_bytes("quantize q8_0", got, want, sizeof(want));
}

static void test_quantize_row_q8_0_zero_block(void **state) {
        (void) state;
        float src[32] = { 0 };
        uint8_t got[34], want[34] = { 0 };
        float back[32];
        memset(got, 0x77, sizeof(got));
        quantize_row_q8_0(src, got, 32);
        check_bytes("quantize q8_0 zeros", got, want, sizeof(want));
        dequant_row_q8_0(got, back, 32);
        check_floats("q8_0 zeros back", back, src, 32);
}

/* max = -4 (largest magnitude, negative), d = -4 / -8 = 0.5, 1/d = 2,
 * q = min(15, trunc(2x + 8.5)) */
static void test_quantize_row_q4_0_exact_block(void **state) {
        (void) state;
        static const float src[32] = {
                -4.0f, 3.9f, 0.0f, 0.25f, -0.25f, 1.3f, -1.3f, 3.6f,
                -3.9f, 0.5f, -0.5f, 1.0f, -1.0f, 2.0f, -2.0f, 3.0f,
                -3.0f, 0.75f, -0.75f, 1.75f, -1.75f, 2.75f, -2.75f, 3.25f,
                -3.25f, 0.1f, -0.1f, 3.74f, -3.74f, 2.2f, -2.2f, 1.6f,
        };
        /* 2x + 8.5: 0.5 16.3 8.5 9 8 11.1 5.9 15.7 | 0.7 9.5 7.5 10.5 6.5 12.5 4.5 14.5 |
         *           2.5 10 7 12 5 14 3 15 | 2 8.7 8.3 15.98 1.02 12.9 4.1 11.7
         * q:        0 15(clipped) 8 9 8 11 5 15 | 0 9 7 10 6 12 4 14 |
         *           2 10 7 12 5 14 3 15 | 2 8 8 15 1 12 4 11
         * byte j = q[j] | q[j + 16] << 4 */
        static const uint8_t want[18] = {
                0x00, 0x38,
                0x20, 0xaf, 0x78, 0xc9, 0x58, 0xeb, 0x35, 0xff,
                0x20, 0x89, 0x87, 0xfa, 0x16, 0xcc, 0x44, 0xbe,
        };
        uint8_t got[18];
        quantize_row_q4_0(src, got, 32);
        check_bytes("quantize q4_0", got, want, sizeof(want));
}

static void test_quantize_row_q4_0_zero_block(void **state) {
        (void) state;
        float src[32] = { 0 };
        uint8_t got[18], want[18];
        float back[32];
        /* d = 0 / -8 = -0.0 (f16 0x8000), 1/d taken as 0, every q = trunc(8.5) = 8 -> 0x88 */
        memset(want, 0x88, sizeof(want));
        want[0] = 0x00;
        want[1] = 0x80;
        quantize_row_q4_0(src, got, 32);
        check_bytes("quantize q4_0 zeros", got, want, sizeof(want));
        dequant_row_q4_0(got, back, 32);
        check_floats("q4_0 zeros back", back, src, 32);
}

#define RT_BLOCKS 8

/* 256 values in [-1, 1) from a fixed LCG, block b scaled by 2^(b - 3) (0.125 .. 16); block 5 gets
 * one outlier and block 6 is all positive so that q4_0 sees a positive max. */
static void make_round_trip_input(float *x) {
        uint32_t s = 0x2545f491u;
        for (int i = 0; i < 32 * RT_BLOCKS; i++) {
                s = s * 1664525u + 1013904223u;
                float u = (float) (s >> 8) * 0x1p-23f - 1.0f;   /* [-1, 1) */
                int b = i / 32;
                if (b == 6)
                        u = fabsf(u);
                x[i] = u * ldexpf(1.0f, b - 3);
        }
        x[5 * 32 + 17] = -50.0f;
}

static float block_amax(const float *x) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
                if (fabsf(x[j]) > amax)
                        amax = fabsf(x[j]);
        return amax;
}

/* q8_0: with d = amax / 127, q = round(x / d) is within 1/2 of x / d, so |x - q d| <= d / 2. The
 * stored d is d rounded to f16 (relative error <= 2^-11) and |q| <= 127, adding <= 127 d 2^-11;
 * 1e-4 d covers float rounding of x / d and q d. */
static void test_quantize_row_q8_0_round_trip(void **state) {
        (void) state;
        float x[32 * RT_BLOCKS], y[32 * RT_BLOCKS];
        uint8_t q[34 * RT_BLOCKS];

        make_round_trip_input(x);
        quantize_row_q8_0(x, q, N_ELEMS(x));
        dequant_row_q8_0(q, y, N_ELEMS(x));
        for (int b = 0; b < RT_BLOCKS; b++) {
                float d = block_amax(x + 32 * b) / 127.0f;
                uint16_t dh = f32_to_f16(d);
                assert_int_equal(q[34 * b] | (q[34 * b + 1] << 8), dh);
                float bound = d * (0.5f + 127.0f * 0x1p-11f + 1e-4f);
                for (int j = 0; j < 32; j++) {
                        float err = fabsf(y[32 * b + j] - x[32 * b + j]);
                        if (!(err <= bound))
                                fail_msg("q8_0 round trip [%d]: x %.9g y %.9g err %.3g > %.3g",
                                         32 * b + j, (double) x[32 * b + j],
                                         (double) y[32 * b + j], (double) err, (double) bound);
                }
        }
}

/* q4_0: |d| = amax / 8. Unclipped values are within |d| / 2; the one clipped case (x / d in
 * [7.5, 8], the side opposite to max) is off by at most |d|. The f16 d adds <= 8 |d| 2^-11. */
static void test_quantize_row_q4_0_round_trip(void **state) {
        (void) state;
        float x[32 * RT_BLOCKS], y[32 * RT_BLOCKS];
        uint8_t q[18 * RT_BLOCKS];

        make_round_trip_input(x);
        quantize_row_q4_0(x, q, N_ELEMS(x));
        dequant_row_q4_0(q, y, N_ELEMS(x));
        for (int b = 0; b < RT_BLOCKS; b++) {
                float max = 0.0f;
                for (int j = 0; j < 32; j++)
                        if (fabsf(x[32 * b + j]) > fabsf(max))
                                max = x[32 * b + j];
                float d = max / -8.0f;
                assert_int_equal(q[18 * b] | (q[18 * b + 1] << 8), f32_to_f16(d));
                float bound = fabsf(d) * (1.0f + 8.0f * 0x1p-11f + 1e-4f);
                for (int j = 0; j < 32; j++) {
                        float err = fabsf(y[32 * b + j] - x[32 * b + j]);
                        if (!(err <= bound))
                                fail_msg("q4_0 round trip [%d]: x %.9g y %.9g err %.3g > %.3g",
                                         32 * b + j, (double) x[32 * b + j],
                                         (double) y[32 * b + j], (double) err, (double) bound);
                }
        }
}

/* ---- the traits table -------------------------------------------------------------------- */

typedef struct Layout {
        uint32_t type;
        const char *name;
        size_t elems;
        size_t bytes;
        DequantRowFn dequant;
        QuantizeRowFn quantize;
} Layout;

/* Sizes summed from the layouts above. */
static const Layout layouts[] = {
        { GGML_TYPE_F32, "f32", 1, 4, dequant_row_f32, quantize_row_f32 },
        { GGML_TYPE_F16, "f16", 1, 2, dequant_row_f16, quantize_row_f16 },
        { GGML_TYPE_BF16, "bf16", 1, 2, dequant_row_bf16, quantize_row_bf16 },
        { GGML_TYPE_Q4_0, "q4_0", 32, 2 + 16, dequant_row_q4_0, quantize_row_q4_0 },
        { GGML_TYPE_Q4_1, "q4_1", 32, 2 + 2 + 16, dequant_row_q4_1, NULL },
        { GGML_TYPE_Q5_0, "q5_0", 32, 2 + 4 + 16, dequant_row_q5_0, NULL },
        { GGML_TYPE_Q5_1, "q5_1", 32, 2 + 2 + 4 + 16, dequant_row_q5_1, NULL },
        { GGML_TYPE_Q8_0, "q8_0", 32, 2 + 32, dequant_row_q8_0, quantize_row_q8_0 },
        { GGML_TYPE_Q4_K, "q4_k", 256, 2 + 2 + 12 + 128, dequant_row_q4_k, NULL },
        { GGML_TYPE_Q5_K, "q5_k", 256, 2 + 2 + 12 + 32 + 128, dequant_row_q5_k, NULL },
        { GGML_TYPE_Q6_K, "q6_k", 256, 128 + 64 + 16 + 2, dequant_row_q6_k, NULL },
        { GGML_TYPE_Q8_K, "q8_k", 256, 4 + 256 + 2 * 16, dequant_row_q8_k, NULL },
};

static void test_type_traits_selfcheck(void **state) {
        (void) state;
        size_t seen = 0;
        for (uint32_t t = 0; t < _GGML_TYPE_MAX + 5u; t++) {
                const TypeTraits *tt = type_traits(t);
                if (!tt || !tt->dequant_ref) {
                        if (tt)
                                assert_null(tt->quantize_ref);
                        continue;
                }
                const Layout *l = NULL;
                for (size_t i = 0; i < N_ELEMS(layouts); i++)
                        if (layouts[i].type == t)
                                l = &layouts[i];
                if (!l)
                        fail_msg("type %u (%s) has dequant_ref but no layout in this test", t,
                                 tt->name);
                seen++;
                assert_string_equal(tt->name, l->name);
                if (tt->block_elems != l->elems || tt->block_bytes != l->bytes)
                        fail_msg("%s: table says %zu values in %zu bytes, layout %zu in %zu",
                                 l->name, tt->block_elems, tt->block_bytes, l->elems, l->bytes);
                assert_true(tt->dequant_ref == l->dequant);
                assert_true(tt->quantize_ref == l->quantize);

                uint64_t bytes = 0;
                assert_true(type_row_bytes(t, 3 * l->elems, &bytes));
                assert_int_equal(bytes, 3 * l->bytes);
                if (l->elems > 1)
                        assert_false(type_row_bytes(t, l->elems + 1, &bytes));
        }
        assert_int_equal(seen, N_ELEMS(layouts));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dequant_row_f32_values),
                cmocka_unit_test(test_dequant_row_f16_special),
                cmocka_unit_test(test_dequant_row_bf16_special),
                cmocka_unit_test(test_quantize_row_f32_bytes),
                cmocka_unit_test(test_quantize_row_f16_round_to_nearest_even),
                cmocka_unit_test(test_quantize_row_f16_nan),
                cmocka_unit_test(test_f16_round_trip_all),
                cmocka_unit_test(test_quantize_row_bf16_round_to_nearest_even),
                cmocka_unit_test(test_bf16_round_trip_all),
                cmocka_unit_test(test_dequant_row_q4_0_two_blocks),
                cmocka_unit_test(test_dequant_row_q4_1_block),
                cmocka_unit_test(test_dequant_row_q5_0_qh_both_halves),
                cmocka_unit_test(test_dequant_row_q5_1_qh_both_halves),
                cmocka_unit_test(test_dequant_row_q8_0_two_blocks),
                cmocka_unit_test(test_dequant_row_q4_k_high_scale_bits),
                cmocka_unit_test(test_dequant_row_q5_k_high_scale_bits),
                cmocka_unit_test(test_dequant_row_q6_k_negative_scales),
                cmocka_unit_test(test_dequant_row_q8_k_ignores_bsums),
                cmocka_unit_test(test_dequant_row_all_n_zero),
                cmocka_unit_test(test_quantize_row_q8_0_exact_block),
                cmocka_unit_test(test_quantize_row_q8_0_zero_block),
                cmocka_unit_test(test_quantize_row_q8_0_round_trip),
                cmocka_unit_test(test_quantize_row_q4_0_exact_block),
                cmocka_unit_test(test_quantize_row_q4_0_zero_block),
                cmocka_unit_test(test_quantize_row_q4_0_round_trip),
                cmocka_unit_test(test_type_traits_selfcheck),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
