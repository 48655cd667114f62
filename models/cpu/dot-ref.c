/* Scalar dot kernels and activation quantisers: one row per weight type, never deleted.
 *
 * Float weights (f32, f16, bf16) dot float activations. The block types multiply integers against
 * quantised activations, block by block, and scale the integer sum once per block (per super-block
 * for the K types), as the formats intend:
 *   q4_0, q5_0, q8_0 x q8_0:  sum_b dw*dx * sum(qw*qx)
 *   q4_1, q5_1 x q8_1:        sum_b dw*dx * sum(qw*qx) + mw * sx          (sx = dx * sum(qx))
 *   q4_k, q5_k x q8_k:        sum_B dx*d * sum_j sc_j*sum(qw*qx) - dx*dmin * sum_j m_j*bsum_j
 *   q6_k x q8_k:              sum_B dx*d * sum_j sc_j*sum((qw-32)*qx)
 *   q8_k x q8_k:              sum_B dw*dx * sum(qw*qx)
 * The integer sums are exact, so a SIMD row computes the very same numbers and may differ from
 * these only in the order it adds the per-block floats. Reads are byte-wise (memcpy), so rows and
 * activations may sit at any byte offset. The block layouts are documented in tensor/quant-ref.c. */
#include "dot.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/type-traits.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "block fields are read with memcpy: little-endian only");

static inline uint16_t rd_u16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
}

/* Half to float, exact for every half like f16_to_f32() but without branches, so that loops over
 * it vectorise: the half's exponent and mantissa, moved to where a float keeps them and scaled by
 * 2^112 (exactly), get the float's exponent bias; subnormal halves come out exact as well.
 * Infinities and NaNs (half exponent 31, float exponent 143 after scaling) get all exponent bits
 * set, the mantissa kept. */
static inline float half_to_float(uint16_t h) {
        const uint32_t em = (uint32_t) (h & 0x7fff) << 13;
        const uint32_t special = (uint32_t) ((h & 0x7c00) == 0x7c00) * 0x7f800000u;
        const uint32_t bits = f32_bits(f32_from_bits(em) * 0x1p112f) | special;
        return f32_from_bits(bits | (uint32_t) (h & 0x8000) << 16);
}

static inline float rd_f16(const uint8_t *p) {
        return half_to_float(rd_u16(p));
}

static inline float rd_f32(const uint8_t *p) {
        float v;
        memcpy(&v, p, 4);
        return v;
}

/* ---- float weights x float activations ------------------------------------------------------ */

/* Eight running sums (element i goes to sum i % 8), added pairwise at the end: the order the SIMD
 * rows use, and better conditioned than one long running sum. */
static inline float sum8(const float acc[8]) {
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

#define DOT_FLOAT(name, w_size, rd_w)                                                          \
        void name(size_t n, const void *w, const void *x, float *ret) {                        \
                const uint8_t *wb = w, *xb = x;                                                \
                float acc[8] = { 0 };                                                          \
                size_t i = 0;                                                                  \
                for (; i + 8 <= n; i += 8)                                                     \
                        for (int k = 0; k < 8; k++)                                            \
                                acc[k] += rd_w(wb + (w_size) * (i + k)) * rd_f32(xb + 4 * (i + k)); \
                for (; i < n; i++)                                                             \
                        acc[i % 8] += rd_w(wb + (w_size) * i) * rd_f32(xb + 4 * i);            \
                *ret = sum8(acc);                                                              \
        }

static inline float rd_bf16(const uint8_t *p) {
        return bf16_to_f32(rd_u16(p));
}

DOT_FLOAT(dot_f32_ref, 4, rd_f32)
DOT_FLOAT(dot_f16_ref, 2, rd_f16)
DOT_FLOAT(dot_bf16_ref, 2, rd_bf16)

/* ---- 32-value blocks x q8_0 / q8_1 ---------------------------------------------------------- */

/* Each block is first unpacked into its 32 integer values (in value order), then dotted with the
 * activations' 32 int8: plain loops that compilers vectorise. */
static inline int32_t dot32_i8(const int8_t *a, const int8_t *b) {
        int32_t acc = 0;
        for (int j = 0; j < 32; j++)
                acc += a[j] * b[j];
        return acc;
}

/* Nibbles (low ones are values 0..15, high ones 16..31) minus `offset`. */
static inline void unpack_nibbles(const uint8_t *qs, int offset, int8_t q[32]) {
        for (int j = 0; j < 16; j++) {
                q[j] = (int8_t) ((qs[j] & 0xf) - offset);
                q[j + 16] = (int8_t) ((qs[j] >> 4) - offset);
        }
}

/* Nibbles plus the fifth bits (bit j of the little-endian qh is bit 4 of value j), minus offset. */
static inline void unpack_5bit(const uint8_t *qh_bytes, const uint8_t *qs, int offset, int8_t q[32]) {
        uint32_t qh;
        memcpy(&qh, qh_bytes, 4);
        for (int j = 0; j < 16; j++) {
                q[j] = (int8_t) (((qs[j] & 0xf) | ((qh >> j) & 1) << 4) - offset);
                q[j + 16] = (int8_t) (((qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) - offset);
        }
}

/* q4_0 (18 bytes: d, qs[16]) x q8_0 (34 bytes: d, q[32]). */
void dot_q4_0_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 18, xb += 34) {
                int8_t qw[32];
                unpack_nibbles(wb + 2, 8, qw);
                s += rd_f16(wb) * rd_f16(xb) * (float) dot32_i8(qw, (const int8_t *) (xb + 2));
        }
        *ret = s;
}

/* q5_0 (22 bytes: d, qh, qs[16]) x q8_0. */
void dot_q5_0_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 22, xb += 34) {
                int8_t qw[32];
                unpack_5bit(wb + 2, wb + 6, 16, qw);
                s += rd_f16(wb) * rd_f16(xb) * (float) dot32_i8(qw, (const int8_t *) (xb + 2));
        }
        *ret = s;
}

/* q8_0 x q8_0 (34 bytes each). */
void dot_q8_0_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 34, xb += 34)
                s += rd_f16(wb) * rd_f16(xb) * (float) dot32_i8((const int8_t *) (wb + 2), (const int8_t *) (xb + 2));
        *ret = s;
}

/* q4_1 (20 bytes: d, m, qs[16]) x q8_1 (36 bytes: d, s, q[32]). */
void dot_q4_1_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 20, xb += 36) {
                int8_t qw[32];
                unpack_nibbles(wb + 4, 0, qw);
                s += rd_f16(wb) * rd_f16(xb) * (float) dot32_i8(qw, (const int8_t *) (xb + 4)) +
                     rd_f16(wb + 2) * rd_f16(xb + 2);
        }
        *ret = s;
}

/* q5_1 (24 bytes: d, m, qh, qs[16]) x q8_1. */
void dot_q5_1_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 32; b++, wb += 24, xb += 36) {
                int8_t qw[32];
                unpack_5bit(wb + 4, wb + 8, 0, qw);
                s += rd_f16(wb) * rd_f16(xb) * (float) dot32_i8(qw, (const int8_t *) (xb + 4)) +
                     rd_f16(wb + 2) * rd_f16(xb + 2);
        }
        *ret = s;
}

/* ---- 256-value super-blocks x q8_k ---------------------------------------------------------- */

/* q8_k block: f32 d at 0, int8 q[256] at 4, int16 bsums[16] at 260. */
#define Q8K_D 0
#define Q8K_QS 4
#define Q8K_BSUMS 260

static inline int32_t q8k_bsum(const uint8_t *xb, int j) {
        return (int16_t) rd_u16(xb + Q8K_BSUMS + 2 * j);
}

/* The eight 6-bit scales and mins of q4_k/q5_k (layout in quant-ref.c, k_scale_min). */
static void k_scales_mins(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
        for (int j = 0; j < 4; j++) {
                sc[j] = s[j] & 63;
                m[j] = s[j + 4] & 63;
                sc[j + 4] = (uint8_t) ((s[j + 8] & 0xf) | ((s[j] >> 6) << 4));
                m[j + 4] = (uint8_t) ((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
        }
}

static inline int32_t dot16_i8(const int8_t *a, const int8_t *b) {
        int32_t acc = 0;
        for (int j = 0; j < 16; j++)
                acc += a[j] * b[j];
        return acc;
}

/* q4_k (144 bytes: d, dmin, scales[12], qs[128]) and q5_k (176 bytes: d, dmin, scales[12],
 * qh[32], qs[128]) share everything but the fifth bit; qh is NULL for q4_k. The 256 values are
 * unpacked in value order first (chunk c of 64: low nibbles of qs[32c..] then high nibbles, the
 * fifth bits from bits 2c and 2c+1 of qh). */
static float dot_q45_k_block(const uint8_t *wb, const uint8_t *qh, const uint8_t *qs, const uint8_t *xb) {
        const int8_t *qx = (const int8_t *) (xb + Q8K_QS);
        uint8_t sc[8], m[8];
        int8_t q[256];
        int32_t sumi = 0, summ = 0;

        for (int c = 0; c < 4; c++)
                for (int l = 0; l < 32; l++) {
                        q[64 * c + l] = (int8_t) (qs[32 * c + l] & 0xf);
                        q[64 * c + 32 + l] = (int8_t) (qs[32 * c + l] >> 4);
                }
        if (qh)
                for (int c = 0; c < 4; c++)
                        for (int l = 0; l < 32; l++) {
                                q[64 * c + l] |= (int8_t) (((qh[l] >> (2 * c)) & 1) << 4);
                                q[64 * c + 32 + l] |= (int8_t) (((qh[l] >> (2 * c + 1)) & 1) << 4);
                        }
        k_scales_mins(wb + 4, sc, m);
        for (int j = 0; j < 8; j++) {
                sumi += sc[j] * dot32_i8(q + 32 * j, qx + 32 * j);
                summ += m[j] * (q8k_bsum(xb, 2 * j) + q8k_bsum(xb, 2 * j + 1));
        }
        const float dx = rd_f32(xb + Q8K_D);
        return dx * rd_f16(wb) * (float) sumi - dx * rd_f16(wb + 2) * (float) summ;
}

void dot_q4_k_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 256; b++, wb += 144, xb += 292)
                s += dot_q45_k_block(wb, NULL, wb + 16, xb);
        *ret = s;
}

void dot_q5_k_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 256; b++, wb += 176, xb += 292)
                s += dot_q45_k_block(wb, wb + 16, wb + 48, xb);
        *ret = s;
}

/* q6_k (210 bytes: ql[128], qh[64], int8 scales[16], d last), unpacked in value order as in
 * quant-ref.c; scale j covers values 16j .. 16j+15. */
void dot_q6_k_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 256; b++, wb += 210, xb += 292) {
                const int8_t *sc = (const int8_t *) (wb + 192), *qx = (const int8_t *) (xb + Q8K_QS);
                int8_t q[256];
                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = wb + 64 * h, *qh = wb + 128 + 32 * h;
                        int8_t *y = q + 128 * h;
                        for (int l = 0; l < 32; l++) {
                                y[l] = (int8_t) (((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32);
                                y[l + 32] = (int8_t) (((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32);
                                y[l + 64] = (int8_t) (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
                                y[l + 96] = (int8_t) (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
                        }
                }
                int32_t sumi = 0;
                for (int j = 0; j < 16; j++)
                        sumi += sc[j] * dot16_i8(q + 16 * j, qx + 16 * j);
                s += rd_f32(xb + Q8K_D) * rd_f16(wb + 208) * (float) sumi;
        }
        *ret = s;
}

/* q8_k x q8_k (292 bytes each; the weights' bsums are not needed). */
void dot_q8_k_ref(size_t n, const void *w, const void *x, float *ret) {
        const uint8_t *wb = w, *xb = x;
        float s = 0;
        for (size_t b = 0; b < n / 256; b++, wb += 292, xb += 292) {
                const int8_t *qw = (const int8_t *) (wb + Q8K_QS), *qx = (const int8_t *) (xb + Q8K_QS);
                int32_t acc = 0;
                for (int j = 0; j < 256; j++)
                        acc += qw[j] * qx[j];
                s += rd_f32(wb + Q8K_D) * rd_f32(xb + Q8K_D) * (float) acc;
        }
        *ret = s;
}

/* ---- activation quantisers ------------------------------------------------------------------ */

/* Symmetric int8 quantisation of one block (kernels.h): d = max|x| / 127, q = round(x / d) taken
 * as x * (1/d) and rounded half away from zero, exactly as quantize_row_q8_0. Returns d. */
static float quantize_block_i8(const float *x, int n, int8_t *q) {
        float amax = 0.0f;
        for (int j = 0; j < n; j++)
                amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < n; j++)
                q[j] = (int8_t) roundf(x[j] * id);
        return d;
}

static inline void wr_u16(uint8_t *p, uint16_t v) {
        memcpy(p, &v, 2);
}

void act_q8_0_write_sums(void *dst, size_t n) {
        const size_t nb = n / 32;
        uint8_t *blocks = dst, *d = blocks + nb * 34, *sums = d + nb * 4;
        for (size_t i = 0; i < nb; i++) {
                const uint8_t *b = blocks + i * 34;
                const float df = f16_to_f32(rd_u16(b));
                int32_t s = 0;
                for (int j = 0; j < 32; j++)
                        s += (int8_t) b[2 + j];
                s *= 8;
                memcpy(d + 4 * i, &df, 4);
                memcpy(sums + 4 * i, &s, 4);
        }
        uint8_t *paired = sums + nb * 4;
        for (size_t g = 0; g + 8 <= nb; g += 8)
                for (size_t j = 0; j < 4; j++) {
                        const uint8_t *a = blocks + (g + 2 * j) * 34 + 2, *b = a + 34;
                        uint8_t *out = paired + g * 32 + 64 * j;
                        memcpy(out, a, 16);
                        memcpy(out + 16, b, 16);
                        memcpy(out + 32, a + 16, 16);
                        memcpy(out + 48, b + 16, 16);
                }
}

void act_quantize_q8_0_ref(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 34, x += 32) {
                int8_t q[32];
                wr_u16(b, f32_to_f16(quantize_block_i8(x, 32, q)));
                memcpy(b + 2, q, 32);
        }
        act_q8_0_write_sums(dst, n);
}

void act_quantize_q8_1_ref(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 36, x += 32) {
                int8_t q[32];
                const uint16_t d = f32_to_f16(quantize_block_i8(x, 32, q));
                int32_t sum = 0;
                for (int j = 0; j < 32; j++)
                        sum += q[j];
                wr_u16(b, d);
                wr_u16(b + 2, f32_to_f16(f16_to_f32(d) * (float) sum));
                memcpy(b + 4, q, 32);
        }
}

void act_quantize_q8_k_ref(const float *x, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 256; i++, b += 292, x += 256) {
                int8_t q[256];
                const float d = quantize_block_i8(x, 256, q);
                memcpy(b + Q8K_D, &d, 4);
                memcpy(b + Q8K_QS, q, 256);
                for (int j = 0; j < 16; j++) {
                        int16_t sum = 0;
                        for (int l = 0; l < 16; l++)
                                sum = (int16_t) (sum + q[16 * j + l]);
                        wr_u16(b + Q8K_BSUMS + 2 * j, (uint16_t) sum);
                }
        }
}

/* ---- weighted sums of rows ------------------------------------------------------------------ */

AXPY_ROWS_FN(axpy_rows_f32_ref) {
        for (size_t u = 0; u < n_rows; u++)
                for (size_t i = 0; i < n; i++)
                        out[i] += w[u] * x[u * stride + i];
}

/* ---- exp over a vector ---------------------------------------------------------------------- */

void exp_f32_ref(float *x, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isnan(x[i]))   /* fmaxf/fminf would turn a NaN into the bound */
                        x[i] = expf(fminf(fmaxf(x[i], -88.3762626647949f), 88.3762626647949f));
}
