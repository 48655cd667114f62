/* Scalar reference (de)quantisation of GGUF tensor rows: the plain, obviously correct oracle that
 * every fast kernel is checked against. Reads are byte-wise little-endian, so src may sit at any
 * byte offset; n is always a whole number of blocks. */
#include "type-traits.h"

#include <math.h>
#include <string.h>

#include "fp16.h"

/* ---- little-endian access ---------------------------------------------------------------- */

static inline uint16_t rd_u16(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t rd_u32(const uint8_t *p) {
        return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) |
               ((uint32_t) p[3] << 24);
}

static inline float rd_f16(const uint8_t *p) {
        return f16_to_f32(rd_u16(p));
}

static inline float rd_f32(const uint8_t *p) {
        return f32_from_bits(rd_u32(p));
}

static inline void wr_u16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v & 0xffu);
        p[1] = (uint8_t) (v >> 8);
}

static inline void wr_u32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v & 0xffu);
        p[1] = (uint8_t) ((v >> 8) & 0xffu);
        p[2] = (uint8_t) ((v >> 16) & 0xffu);
        p[3] = (uint8_t) (v >> 24);
}

/* ---- plain float types ------------------------------------------------------------------- */

/* f32: 4 bytes per value, IEEE binary32, little-endian. */
void dequant_row_f32(const void *src, float *dst, size_t n) {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++)
                dst[i] = rd_f32(p + 4 * i);
}

/* f16: 2 bytes per value, IEEE binary16, little-endian. */
void dequant_row_f16(const void *src, float *dst, size_t n) {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++)
                dst[i] = f16_to_f32(rd_u16(p + 2 * i));
}

/* bf16: 2 bytes per value, the top 16 bits of a binary32, little-endian. */
void dequant_row_bf16(const void *src, float *dst, size_t n) {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++)
                dst[i] = bf16_to_f32(rd_u16(p + 2 * i));
}

/* ---- 32-value blocks --------------------------------------------------------------------- */

/* q4_0: 32 values in 18 bytes.
 *   [0..1]   f16 d
 *   [2..17]  qs[16]: qs[j] low nibble is value j, high nibble is value j+16 (j = 0..15)
 *   value = (q - 8) * d,  q = 0..15 */
void dequant_row_q4_0(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 32; i++, b += 18, dst += 32) {
                float d = rd_f16(b);
                const uint8_t *qs = b + 2;
                for (int j = 0; j < 16; j++) {
                        dst[j] = (float) ((int) (qs[j] & 0xf) - 8) * d;
                        dst[j + 16] = (float) ((int) (qs[j] >> 4) - 8) * d;
                }
        }
}

/* q4_1: 32 values in 20 bytes.
 *   [0..1]   f16 d
 *   [2..3]   f16 m
 *   [4..19]  qs[16], nibble order as q4_0
 *   value = q * d + m,  q = 0..15 */
void dequant_row_q4_1(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 32; i++, b += 20, dst += 32) {
                float d = rd_f16(b), m = rd_f16(b + 2);
                const uint8_t *qs = b + 4;
                for (int j = 0; j < 16; j++) {
                        dst[j] = (float) (qs[j] & 0xf) * d + m;
                        dst[j + 16] = (float) (qs[j] >> 4) * d + m;
                }
        }
}

/* q5_0: 32 values in 22 bytes.
 *   [0..1]   f16 d
 *   [2..5]   qh: little-endian uint32; bit j is bit 4 of value j (j = 0..31)
 *   [6..21]  qs[16]: low nibble -> bits 0..3 of value j, high nibble -> of value j+16
 *   value = (q - 16) * d,  q = 0..31 */
void dequant_row_q5_0(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 32; i++, b += 22, dst += 32) {
                float d = rd_f16(b);
                uint32_t qh = rd_u32(b + 2);
                const uint8_t *qs = b + 6;
                for (int j = 0; j < 16; j++) {
                        int q0 = (qs[j] & 0xf) | (int) (((qh >> j) & 1u) << 4);
                        int q1 = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1u) << 4);
                        dst[j] = (float) (q0 - 16) * d;
                        dst[j + 16] = (float) (q1 - 16) * d;
                }
        }
}

/* q5_1: 32 values in 24 bytes.
 *   [0..1]   f16 d
 *   [2..3]   f16 m
 *   [4..7]   qh, as q5_0
 *   [8..23]  qs[16], as q5_0
 *   value = q * d + m,  q = 0..31 */
void dequant_row_q5_1(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 32; i++, b += 24, dst += 32) {
                float d = rd_f16(b), m = rd_f16(b + 2);
                uint32_t qh = rd_u32(b + 4);
                const uint8_t *qs = b + 8;
                for (int j = 0; j < 16; j++) {
                        int q0 = (qs[j] & 0xf) | (int) (((qh >> j) & 1u) << 4);
                        int q1 = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1u) << 4);
                        dst[j] = (float) q0 * d + m;
                        dst[j + 16] = (float) q1 * d + m;
                }
        }
}

/* q8_0: 32 values in 34 bytes.
 *   [0..1]   f16 d
 *   [2..33]  qs[32] int8
 *   value = qs[j] * d */
void dequant_row_q8_0(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 32; i++, b += 34, dst += 32) {
                float d = rd_f16(b);
                for (int j = 0; j < 32; j++)
                        dst[j] = (float) (int8_t) b[2 + j] * d;
        }
}

/* ---- 256-value super-blocks -------------------------------------------------------------- */

/* The 12 scale bytes of q4_k and q5_k hold eight 6-bit scales sc[j] and eight 6-bit mins m[j]:
 *   j < 4:  sc = s[j] & 63,                               m = s[j+4] & 63
 *   j >= 4: sc = (s[j+4] & 0xF) | ((s[j-4] >> 6) << 4),  m = (s[j+4] >> 4) | ((s[j] >> 6) << 4)
 * i.e. bytes 0..3 carry sc[0..3] plus the top two bits of sc[4..7], bytes 4..7 carry m[0..3] plus
 * the top two bits of m[4..7], and bytes 8..11 carry the low nibbles of sc[4..7] | m[4..7] << 4. */
static void k_scale_min(const uint8_t *s, int j, int *ret_sc, int *ret_m) {
        if (j < 4) {
                *ret_sc = s[j] & 63;
                *ret_m = s[j + 4] & 63;
        } else {
                *ret_sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
                *ret_m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
}

/* q4_k: 256 values in 144 bytes.
 *   [0..1]    f16 d
 *   [2..3]    f16 dmin
 *   [4..15]   scales[12], packed as k_scale_min()
 *   [16..143] qs[128]
 * Eight sub-blocks of 32 values. Chunk c (0..3) of 64 values reads q = qs + 32c: value 64c + l is
 * (q[l] & 0xF) in sub-block 2c, value 64c + 32 + l is (q[l] >> 4) in sub-block 2c+1 (l = 0..31).
 *   value = q * (d * sc_j) - dmin * m_j */
void dequant_row_q4_k(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 256; i++, b += 144, dst += 256) {
                float d = rd_f16(b), dmin = rd_f16(b + 2);
                const uint8_t *scales = b + 4;
                const uint8_t *q = b + 16;
                for (int c = 0; c < 4; c++, q += 32) {
                        int sc0, m0, sc1, m1;
                        k_scale_min(scales, 2 * c, &sc0, &m0);
                        k_scale_min(scales, 2 * c + 1, &sc1, &m1);
                        float d0 = d * (float) sc0, min0 = dmin * (float) m0;
                        float d1 = d * (float) sc1, min1 = dmin * (float) m1;
                        for (int l = 0; l < 32; l++) {
                                dst[64 * c + l] = (float) (q[l] & 0xf) * d0 - min0;
                                dst[64 * c + 32 + l] = (float) (q[l] >> 4) * d1 - min1;
                        }
                }
        }
}

/* q5_k: 256 values in 176 bytes.
 *   [0..1]    f16 d
 *   [2..3]    f16 dmin
 *   [4..15]   scales[12], packed as k_scale_min()
 *   [16..47]  qh[32]
 *   [48..175] qs[128]
 * As q4_k, with a fifth bit (worth 16) for each value: in chunk c, value 64c + l takes bit 2c of
 * qh[l] and value 64c + 32 + l takes bit 2c+1 of qh[l] (l = 0..31).
 *   value = q * (d * sc_j) - dmin * m_j,  q = 0..31 */
void dequant_row_q5_k(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 256; i++, b += 176, dst += 256) {
                float d = rd_f16(b), dmin = rd_f16(b + 2);
                const uint8_t *scales = b + 4;
                const uint8_t *qh = b + 16;
                const uint8_t *q = b + 48;
                for (int c = 0; c < 4; c++, q += 32) {
                        int sc0, m0, sc1, m1;
                        k_scale_min(scales, 2 * c, &sc0, &m0);
                        k_scale_min(scales, 2 * c + 1, &sc1, &m1);
                        float d0 = d * (float) sc0, min0 = dmin * (float) m0;
                        float d1 = d * (float) sc1, min1 = dmin * (float) m1;
                        for (int l = 0; l < 32; l++) {
                                int lo = (q[l] & 0xf) | (((qh[l] >> (2 * c)) & 1) << 4);
                                int hi = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                                dst[64 * c + l] = (float) lo * d0 - min0;
                                dst[64 * c + 32 + l] = (float) hi * d1 - min1;
                        }
                }
        }
}

/* q6_k: 256 values in 210 bytes.
 *   [0..127]   ql[128]  low 4 bits
 *   [128..191] qh[64]   high 2 bits, four values per byte
 *   [192..207] scales[16] int8, one per 16 values
 *   [208..209] f16 d  (last)
 * Two halves of 128 values; half h uses ql + 64h, qh + 32h, scales + 8h. For l = 0..31, s = l/16:
 *   value 128h + l      = ((ql[l]    & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32, scale sc[s+0]
 *   value 128h + l + 32 = ((ql[l+32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32, scale sc[s+2]
 *   value 128h + l + 64 = ((ql[l]    >> 4)  | ((qh[l] >> 4) & 3) << 4) - 32, scale sc[s+4]
 *   value 128h + l + 96 = ((ql[l+32] >> 4)  | ((qh[l] >> 6) & 3) << 4) - 32, scale sc[s+6]
 *   value = d * sc * q,  q = -32..31 */
void dequant_row_q6_k(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 256; i++, b += 210, dst += 256) {
                float d = rd_f16(b + 208);
                for (int h = 0; h < 2; h++) {
                        const uint8_t *ql = b + 64 * h;
                        const uint8_t *qh = b + 128 + 32 * h;
                        const uint8_t *sc = b + 192 + 8 * h;
                        float *y = dst + 128 * h;
                        for (int l = 0; l < 32; l++) {
                                int s = l / 16;
                                int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
                                int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                                y[l] = d * (float) (int8_t) sc[s + 0] * (float) q1;
                                y[l + 32] = d * (float) (int8_t) sc[s + 2] * (float) q2;
                                y[l + 64] = d * (float) (int8_t) sc[s + 4] * (float) q3;
                                y[l + 96] = d * (float) (int8_t) sc[s + 6] * (float) q4;
                        }
                }
        }
}

/* q8_k: 256 values in 292 bytes.
 *   [0..3]     f32 d
 *   [4..259]   qs[256] int8
 *   [260..291] bsums[16] int16 (sums of 16 qs each; not needed to dequantise)
 *   value = d * qs[j] */
void dequant_row_q8_k(const void *src, float *dst, size_t n) {
        const uint8_t *b = src;
        for (size_t i = 0; i < n / 256; i++, b += 292, dst += 256) {
                float d = rd_f32(b);
                for (int j = 0; j < 256; j++)
                        dst[j] = d * (float) (int8_t) b[4 + j];
        }
}

/* ---- quantisers -------------------------------------------------------------------------- */

void quantize_row_f32(const float *src, void *dst, size_t n) {
        uint8_t *p = dst;
        for (size_t i = 0; i < n; i++)
                wr_u32(p + 4 * i, f32_bits(src[i]));
}

void quantize_row_f16(const float *src, void *dst, size_t n) {
        uint8_t *p = dst;
        for (size_t i = 0; i < n; i++)
                wr_u16(p + 2 * i, f32_to_f16(src[i]));
}

void quantize_row_bf16(const float *src, void *dst, size_t n) {
        uint8_t *p = dst;
        for (size_t i = 0; i < n; i++)
                wr_u16(p + 2 * i, f32_to_bf16(src[i]));
}

/* q8_0 (layout above): d = max|x| / 127, q = round(x / d) half away from zero, d stored as f16.
 * The quotient uses the exact d, not the f16-rounded one, as the ggml reference does. */
void quantize_row_q8_0(const float *src, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 34, src += 32) {
                float amax = 0.0f;
                for (int j = 0; j < 32; j++)
                        amax = fmaxf(amax, fabsf(src[j]));
                float d = amax / 127.0f;
                float id = d != 0.0f ? 1.0f / d : 0.0f;
                wr_u16(b, f32_to_f16(d));
                for (int j = 0; j < 32; j++)
                        b[2 + j] = (uint8_t) (int8_t) roundf(src[j] * id);
        }
}

/* q4_0 (layout above): max is the value of largest magnitude, sign kept; d = max / -8, so max
 * itself becomes q = 0 (value -8 d) and the opposite extreme clips to q = 15. */
void quantize_row_q4_0(const float *src, void *dst, size_t n) {
        uint8_t *b = dst;
        for (size_t i = 0; i < n / 32; i++, b += 18, src += 32) {
                float amax = 0.0f, max = 0.0f;
                for (int j = 0; j < 32; j++)
                        if (fabsf(src[j]) > amax) {
                                amax = fabsf(src[j]);
                                max = src[j];
                        }
                float d = max / -8.0f;
                float id = d != 0.0f ? 1.0f / d : 0.0f;
                wr_u16(b, f32_to_f16(d));
                for (int j = 0; j < 16; j++) {
                        int8_t q0 = (int8_t) (src[j] * id + 8.5f);
                        int8_t q1 = (int8_t) (src[j + 16] * id + 8.5f);
                        if (q0 > 15)
                                q0 = 15;
                        if (q1 > 15)
                                q1 = 15;
                        b[2 + j] = (uint8_t) (q0 | (q1 << 4));
                }
        }
}
