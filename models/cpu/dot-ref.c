/* Scalar dot kernels: one per weight type, never deleted. The 32-value block types multiply
 * integers against q8_0 activations, block by block, as the formats intend; the others dot
 * dequantised weight values against float activations. Every SIMD row is checked against these. */
#include "dot.h"

#include <string.h>

#include "tensor/fp16.h"
#include "tensor/type-traits.h"

static float rd_f16(const uint8_t *p) {
        uint16_t h;
        memcpy(&h, p, 2);
        return f16_to_f32(h);
}

void dot_f32_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t i = 0; i < n; i++) {
                float a, b;
                memcpy(&a, wb + 4 * i, 4);
                memcpy(&b, xb + 4 * i, 4);
                s += a * b;
        }
        *ret = s;
}

/* Weight types without an integer kernel: dequantise a block's worth at a time, dot with floats. */
static void dot_dequant(DequantRowFn dq, size_t block, size_t block_bytes, size_t n, const void *w, const void *x,
                        float *ret) {
        const uint8_t *wb = w, *xb = x;
        float buf[256], s = 0;
        for (size_t b = 0; b < n / block; b++) {
                dq(wb + b * block_bytes, buf, block);
                for (size_t i = 0; i < block; i++) {
                        float xv;
                        memcpy(&xv, xb + 4 * (b * block + i), 4);
                        s += buf[i] * xv;
                }
        }
        *ret = s;
}

#define DOT_DEQUANT(t, block, bytes)                                                       \
        void dot_##t##_ref(size_t n, const void *w, const void *x, float *ret) {         \
                dot_dequant(dequant_row_##t, block, bytes, n, w, x, ret);                \
        }
DOT_DEQUANT(f16, 1, 2)
DOT_DEQUANT(bf16, 1, 2)
DOT_DEQUANT(q4_1, 32, 20)
DOT_DEQUANT(q5_0, 32, 22)
DOT_DEQUANT(q5_1, 32, 24)
DOT_DEQUANT(q4_k, 256, 144)
DOT_DEQUANT(q5_k, 256, 176)
DOT_DEQUANT(q6_k, 256, 210)
DOT_DEQUANT(q8_k, 256, 292)

/* q8_0 weights x q8_0 activations: sum over blocks of d_w * d_x * sum(q_w * q_x). */
void dot_q8_0_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 34, xb += 34) {
                int32_t acc = 0;
                for (int i = 0; i < 32; i++)
                        acc += (int32_t) (int8_t) wb[2 + i] * (int8_t) xb[2 + i];
                s += rd_f16(wb) * rd_f16(xb) * (float) acc;
        }
        *ret = s;
}

/* q4_0 weights (nibbles minus 8; low nibbles are values 0..15, high ones 16..31) x q8_0. */
void dot_q4_0_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 18, xb += 34) {
                int32_t acc = 0;
                for (int i = 0; i < 16; i++) {
                        acc += ((wb[2 + i] & 0xf) - 8) * (int32_t) (int8_t) xb[2 + i];
                        acc += ((wb[2 + i] >> 4) - 8) * (int32_t) (int8_t) xb[2 + 16 + i];
                }
                s += rd_f16(wb) * rd_f16(xb) * (float) acc;
        }
        *ret = s;
}
