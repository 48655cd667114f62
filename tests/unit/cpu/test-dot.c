/* Dot kernels and activation quantisers (models/cpu/kernels.h).
 *
 * Every row of the kernel table this machine can run, for 1, 2, 3, 7 and 32 blocks and n = 8192,
 * with the weight row and the activations at misaligned byte offsets, is checked three ways:
 *   (a) against the scalar row of its type, on the same bytes: within 1e-5 of sum |w*x| (the
 *       integer sums are exact; only the order of the float additions may differ);
 *   (b) the scalar row against the reference: dequant_ref of the weights dotted, in double, with
 *       the activations dequantised from their quantised form: within 1e-5 of sum |w*x| as well
 *       (for q8_1 plus the f16 rounding of each block's s, which the kernels use for the minimum);
 *   (c) against the dequantised weights dotted with the ORIGINAL float activations: within the
 *       error that quantising the activations allows, derived per element from the block's scale.
 * Weights come from the reference quantiser where there is one, and also as random bytes with
 * modest scales (for the block types), so every bit pattern of the quants is met (q8_0's -128).
 * The activation quantisers are checked against their definition, and the fastest one against
 * the scalar one byte for byte. Seeds are fixed (GEMMAD_TEST_SEED overrides) and printed.
 *
 * Tile kernels (several rows x several tokens at once) must give the one-token row's result bit
 * for bit, on every tile shape the kernel meets: directly, for token counts from 1 to the most a
 * call takes, and through matmul() (every row with a tile, its features forced) for 1..9 tokens
 * and counts around its tile's, odd row counts, rows split across threads, and rows read only in
 * part (MatFormer slices).
 *
 * Run with GEMMAD_CPU_FEATURES=none (the 'test-dot-scalar' test) it checks that only scalar rows
 * and quantisers are selected. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/macro.h"
#include "cpu/cpu-features.h"
#include "cpu/dot.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu/packed.h"
#include "tensor/fp16.h"
#include "tensor/type-traits.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) {   /* splitmix64 */
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static float frand(void) {   /* uniform in [-1, 1) */
        return (float) ((double) (rng_next() >> 40) * (1.0 / 8388608.0) - 1.0);
}

static uint16_t rd_u16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
}

static float rd_f16(const uint8_t *p) {
        return f16_to_f32(rd_u16(p));
}

static float rd_f32(const uint8_t *p) {
        float v;
        memcpy(&v, p, 4);
        return v;
}

static void wr_f16(uint8_t *p, float v) {
        uint16_t h = f32_to_f16(v);
        memcpy(p, &h, 2);
}

static void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        assert_non_null(p);
        return p;
}

static size_t row_bytes(uint32_t type, size_t n) {
        const TypeTraits *t = type_traits(type);
        return n / t->block_elems * t->block_bytes;
}

static size_t act_size(ActFormat f, size_t n) {
        ActFormatInfo a = act_format_info(f, 0);
        return act_bytes(&a, n);
}

static const char *act_name(ActFormat f) {
        return act_format_info(f, 0).name;
}

/* Float activations with magnitudes that change from block to block (and some negative bias). */
static void make_activations(float *x, size_t n) {
        float scale = 1.0f;
        for (size_t i = 0; i < n; i++) {
                if (i % 32 == 0)
                        scale = ldexpf(1.0f, (int) (rng_next() % 9) - 4);
                x[i] = (frand() + (i % 64 < 32 ? 0.0f : -0.25f)) * scale;
        }
}

/* How test weights are made: */
enum {
        W_QUANTISED = -2,   /* random floats through the reference quantiser, where there is one */
        W_RANDOM = -1,      /* random bytes */
        /* 0..255: every byte this value (extreme quants: all 0, all 15, all -128 ...) */
};

/* Weights of type t at dst. Float types always, and W_QUANTISED for types with a reference
 * quantiser: random floats through quantize_ref. Otherwise bytes as `mode` says, and the f16/f32
 * scales set to modest finite values of either sign (the 6-bit and int8 sub-block scales of the K
 * types stay as they came). */
static void make_weights(uint32_t t, uint8_t *dst, size_t n, int mode) {
        const TypeTraits *tt = type_traits(t);
        if (tt->block_elems == 1 || (mode == W_QUANTISED && tt->quantize_ref)) {
                float *v = xmalloc(n * sizeof(float));
                for (size_t i = 0; i < n; i++)
                        v[i] = frand();
                tt->quantize_ref(v, dst, n);
                free(v);
                return;
        }
        const size_t blocks = n / tt->block_elems;
        for (size_t i = 0; i < blocks * tt->block_bytes; i++)
                dst[i] = mode >= 0 ? (uint8_t) mode : (uint8_t) rng_next();
        for (size_t b = 0; b < blocks; b++) {
                uint8_t *blk = dst + b * tt->block_bytes;
                const float d = (0.002f + 0.02f * fabsf(frand())) * (frand() < -0.8f ? -1.0f : 1.0f);
                const float m = 0.01f * frand();
                switch (t) {
                case GGML_TYPE_Q6_K:
                        wr_f16(blk + 208, d);
                        break;
                case GGML_TYPE_Q8_K:
                        memcpy(blk, &d, 4);
                        break;
                case GGML_TYPE_Q4_1:
                case GGML_TYPE_Q5_1:
                case GGML_TYPE_Q4_K:
                case GGML_TYPE_Q5_K:
                        wr_f16(blk, d);
                        wr_f16(blk + 2, m);
                        break;
                default:
                        wr_f16(blk, d);
                }
        }
}

/* The activations as the kernels see them: q times the stored d. */
static void dequant_act(ActFormat f, const uint8_t *src, float *dst, size_t n) {
        switch (f) {
        case ACT_F32:
                memcpy(dst, src, n * sizeof(float));
                break;
        case ACT_Q8_0:
                dequant_row_q8_0(src, dst, n);
                break;
        case ACT_Q8_1:
                for (size_t b = 0; b < n / 32; b++, src += 36)
                        for (int j = 0; j < 32; j++)
                                dst[32 * b + j] = rd_f16(src) * (float) (int8_t) src[4 + j];
                break;
        case ACT_Q8_K:
                dequant_row_q8_k(src, dst, n);
                break;
        default:
                fail_msg("unknown activation format %d", (int) f);
        }
}

/* Stored scale d and the int8 of element i in a quantised activation block. */
static void act_element(ActFormat f, const uint8_t *src, size_t i, float *ret_d, int *ret_q) {
        ActFormatInfo a = act_format_info(f, 0);
        const uint8_t *blk = src + i / a.block_elems * a.block_bytes;
        const size_t j = i % a.block_elems;
        switch (f) {
        case ACT_Q8_0:
                *ret_d = rd_f16(blk), *ret_q = (int8_t) blk[2 + j];
                break;
        case ACT_Q8_1:
                *ret_d = rd_f16(blk), *ret_q = (int8_t) blk[4 + j];
                break;
        case ACT_Q8_K:
                *ret_d = rd_f32(blk), *ret_q = (int8_t) blk[4 + j];
                break;
        default:
                *ret_d = 0, *ret_q = 0;
        }
}

/* Bound on |sum_i w_i * (x_i - xq_i)|: per element, q = round(x / d) with the exact d = amax / 127
 * is off by at most d/2 (plus the rounding of x * (1/d)), and the stored d differs from the exact
 * one by its own rounding, which q multiplies. */
static double act_error_bound(ActFormat f, const float *wf, const float *x, const uint8_t *xact, size_t n) {
        if (f == ACT_F32)
                return 0;
        const size_t block = act_format_info(f, 0).block_elems;
        double bound = 0;
        for (size_t b = 0; b < n / block; b++) {
                float amax = 0;
                for (size_t j = 0; j < block; j++)
                        amax = fmaxf(amax, fabsf(x[b * block + j]));
                const double d_exact = (double) (amax / 127.0f);
                for (size_t j = 0; j < block; j++) {
                        const size_t i = b * block + j;
                        float d;
                        int q;
                        act_element(f, xact, i, &d, &q);
                        const double e = d_exact * (0.5 + 1e-6) + fabs((double) q) * fabs(d_exact - (double) d);
                        bound += fabs((double) wf[i]) * e;
                }
        }
        return bound;
}

/* For weights paired with q8_1: the kernels take mw * s, s = f16(d * sum(q)) being rounded. The
 * bound on what that adds against the dequantised activations: sum over blocks |mw| * |s - d*sum q|. */
static double q8_1_sum_error(uint32_t type, const uint8_t *w, const uint8_t *xact, size_t n) {
        const TypeTraits *tt = type_traits(type);
        double e = 0;
        for (size_t b = 0; b < n / 32; b++) {
                const uint8_t *xb = xact + 36 * b;
                int32_t sum = 0;
                for (int j = 0; j < 32; j++)
                        sum += (int8_t) xb[4 + j];
                const double exact = (double) rd_f16(xb) * sum;
                e += fabs((double) rd_f16(w + b * tt->block_bytes + 2)) * fabs((double) rd_f16(xb + 2) - exact);
        }
        return e;
}

/* ---- dot rows ------------------------------------------------------------------------------ */

/* One row on one input: weights made as w_mode says; activations random, or all x_const. */
static void check_row_on(const DotKernel *k, size_t n, size_t w_off, size_t x_off, int w_mode, float x_const) {
        const TypeTraits *tt = type_traits(k->weight_type);
        const DotKernel *scalar = dot_kernel_find(k->weight_type, 0);
        const ActFormatInfo act = act_format_info(k->act, cpu_features_get());
        const size_t w_bytes = row_bytes(k->weight_type, n), x_bytes = act_size(k->act, n);
        uint8_t *wbuf = xmalloc(w_bytes + w_off), *xbuf = xmalloc(x_bytes + x_off);
        float *x = xmalloc(n * sizeof(float)), *wf = xmalloc(n * sizeof(float)), *xq = xmalloc(n * sizeof(float));
        uint8_t *const wrow = wbuf + w_off, *const xact = xbuf + x_off;

        assert_non_null(scalar);
        assert_int_equal(scalar->act, k->act);
        make_weights(k->weight_type, wrow, n, w_mode);
        make_activations(x, n);
        if (x_const != 0.0f)
                for (size_t i = 0; i < n; i++)
                        x[i] = x_const;
        if (k->act == ACT_F32)
                memcpy(xact, x, n * sizeof(float));
        else
                act.quantize(x, xact, n);

        float got = NAN, ref = NAN;
        k->dot(n, wrow, xact, &got);
        scalar->dot(n, wrow, xact, &ref);

        tt->dequant_ref(wrow, wf, n);
        dequant_act(k->act, xact, xq, n);
        double exact_q = 0, exact_x = 0, mag = 0, mag_x = 0;
        for (size_t i = 0; i < n; i++) {
                exact_q += (double) wf[i] * xq[i];
                exact_x += (double) wf[i] * x[i];
                mag += fabs((double) wf[i] * xq[i]);
                mag_x += fabs((double) wf[i] * x[i]);
        }
        const double s_err = k->act == ACT_Q8_1 ? q8_1_sum_error(k->weight_type, wrow, xact, n) : 0;
        const double act_err = act_error_bound(k->act, wf, x, xact, n);
        const double tol = 1e-5 * mag + FLT_MIN;

        if (!(fabs((double) got - ref) <= tol) || !(fabs((double) ref - exact_q) <= tol + s_err) ||
            !(fabs((double) got - exact_x) <= act_err + s_err + 1e-5 * (mag + mag_x) + FLT_MIN))
                fail_msg("%s n=%zu offsets w+%zu x+%zu weights %d x %g: row %.9g, scalar %.9g (|a| tol %.3g), "
                         "reference on quantised inputs %.9g (s rounding %.3g), on float activations %.9g "
                         "(activation error bound %.3g)",
                         k->name, n, w_off, x_off, w_mode, (double) x_const, got, ref, tol, exact_q, s_err,
                         exact_x, act_err);
        free(wbuf), free(xbuf), free(x), free(wf), free(xq);
}

static void check_row(const DotKernel *k, size_t n, size_t w_off, size_t x_off, bool raw) {
        check_row_on(k, n, w_off, x_off, raw ? W_RANDOM : W_QUANTISED, 0.0f);
}

static void test_dot_rows_match_reference(void **state) {
        static const size_t offsets[][2] = { { 0, 0 }, { 1, 3 }, { 3, 1 }, { 2, 2 }, { 7, 5 } };
        static const size_t blocks[] = { 1, 2, 3, 7, 32 };
        static const int fills[] = { 0x00, 0xff, 0x80 };
        const uint32_t have = cpu_features_get();
        size_t n_rows, n_checked = 0;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        char buf[128];

        cpu_features_describe(have, buf, sizeof(buf));
        printf("cpu features: %s\n", buf);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                const TypeTraits *tt = type_traits(k->weight_type);
                if ((k->cpu_features & ~have) != 0) {
                        cpu_features_describe(k->cpu_features & ~have, buf, sizeof(buf));
                        printf("skipped %s: this CPU (or GEMMAD_CPU_FEATURES) lacks %s\n", k->name, buf);
                        continue;
                }
                /* float types have no blocks: count in 32s and also try odd lengths (a tail) */
                const size_t block = MAX(tt->block_elems, (size_t) 32);
                const bool has_raw = tt->block_elems > 1 && tt->quantize_ref;
                for (size_t s = 0; s < ELEMENTSOF(blocks); s++)
                        for (size_t o = 0; o < ELEMENTSOF(offsets); o++) {
                                check_row(k, blocks[s] * block, offsets[o][0], offsets[o][1], false);
                                if (has_raw)
                                        check_row(k, blocks[s] * block, offsets[o][0], offsets[o][1], true);
                                if (tt->block_elems == 1)
                                        check_row(k, blocks[s] * block + 2 * o + 1, offsets[o][0], offsets[o][1], false);
                        }
                if (tt->block_elems == 1)
                        for (size_t len = 1; len < 32; len += 3)
                                check_row(k, len, 1, 1, false);
                check_row(k, 8192, 0, 0, false);
                check_row(k, 8192, 1, 3, false);
                if (has_raw)
                        check_row(k, 8192, 3, 1, true);
                /* the largest integer sums the formats allow (no int16 stage may overflow) */
                if (tt->block_elems > 1)
                        for (size_t f = 0; f < ELEMENTSOF(fills); f++)
                                for (int sign = -1; sign <= 1; sign += 2)
                                        check_row_on(k, 4096, 1, 2, fills[f], (float) sign);
                printf("checked %-20s (%s weights x %s activations)\n", k->name, tt->name, act_name(k->act));
                n_checked++;
        }
        assert_true(n_checked > 0);
}

/* All-zero activations (zero blocks: d = 0, q = 0) give exactly 0 on every row. */
static void test_dot_rows_zero_activations(void **state) {
        const uint32_t have = cpu_features_get();
        size_t n_rows;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                if ((k->cpu_features & ~have) != 0)
                        continue;
                const size_t n = 512;
                uint8_t *w = xmalloc(row_bytes(k->weight_type, n)), *xa = xmalloc(act_size(k->act, n));
                float *x = calloc(n, sizeof(float)), got = NAN;
                assert_non_null(x);
                make_weights(k->weight_type, w, n, W_QUANTISED);
                if (k->act == ACT_F32)
                        memcpy(xa, x, n * sizeof(float));
                else
                        act_format_info(k->act, have).quantize(x, xa, n);
                k->dot(n, w, xa, &got);
                if (got != 0.0f)
                        fail_msg("%s: zero activations gave %.9g", k->name, got);
                free(w), free(xa), free(x);
        }
}

/* Every finite f16 and bf16 value reaches the float rows exactly: eight copies of it against one
 * 1.0 and seven zeros, so that the SIMD rows convert it in their vector loop. */
static void test_dot_float_rows_convert_exactly(void **state) {
        const uint32_t have = cpu_features_get();
        const float x[8] = { 1.0f };
        size_t n_rows;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                const bool bf = k->weight_type == GGML_TYPE_BF16;
                if ((k->weight_type != GGML_TYPE_F16 && !bf) || (k->cpu_features & ~have) != 0)
                        continue;
                for (uint32_t h = 0; h < 0x10000; h++) {
                        const float want = bf ? bf16_to_f32((uint16_t) h) : f16_to_f32((uint16_t) h);
                        if (!isfinite(want))
                                continue;
                        uint16_t row[8];
                        for (int j = 0; j < 8; j++)
                                row[j] = (uint16_t) h;
                        float got = NAN;
                        k->dot(8, row, x, &got);
                        if (got != want)
                                fail_msg("%s: 0x%04x is %.9g, row gave %.9g", k->name, h, (double) want, (double) got);
                }
        }
}

/* ---- tiles --------------------------------------------------------------------------------- */

/* Float bits, so that -0.0 and 0.0 (and NaN payloads) count as different. */
static bool same_bits(float a, float b) {
        return memcmp(&a, &b, sizeof(float)) == 0;
}

/* Activations of n_tokens tokens, x_stride bytes apart, in the kernel's format. */
static void make_act_tokens(const DotKernel *k, uint8_t *dst, size_t x_stride, size_t n, size_t n_tokens,
                            float x_const) {
        const ActFormatInfo act = act_format_info(k->act, cpu_features_get());
        float *x = xmalloc(n * sizeof(float));
        for (size_t t = 0; t < n_tokens; t++) {
                make_activations(x, n);
                if (x_const != 0.0f)
                        for (size_t i = 0; i < n; i++)
                                x[i] = t % 2 ? -x_const : x_const;
                if (k->act == ACT_F32)
                        memcpy(dst + t * x_stride, x, n * sizeof(float));
                else
                        act.quantize(x, dst + t * x_stride, n);
        }
        free(x);
}

/* The token counts a tile is tried on: 1..5 (the small batches, where a kernel may take another
 * path), then counts around powers of two, and the most it takes. Returns how many, at most 24. */
static size_t tile_token_counts(const DotKernel *k, size_t ret[24]) {
        static const size_t counts[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64 };
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(counts) && counts[i] < k->tile_tokens; i++)
                ret[n++] = counts[i];
        ret[n++] = k->tile_tokens;
        return n;
}

/* One tile of k on n values, for the token counts of tile_token_counts(): rows w_stride bytes apart
 * (wider than n: the rest of a row a slice does not read), tokens x_stride apart, everything at
 * odd offsets; each result against k->dot, and nothing written outside the tile. */
static void check_tile_on(const DotKernel *k, size_t n, size_t w_pad, size_t off, int w_mode, float x_const) {
        size_t counts[24];
        const size_t n_counts = tile_token_counts(k, counts);
        const size_t rows = k->tile_rows, max_tokens = k->tile_tokens;
        const size_t w_stride = row_bytes(k->weight_type, n) + w_pad, x_stride = act_size(k->act, n) + off + 5;
        const size_t ret_stride = rows + 3;
        uint8_t *wbuf = xmalloc(w_stride * rows + off), *xbuf = xmalloc(x_stride * max_tokens + off);
        float *got = xmalloc(ret_stride * (max_tokens + 1) * sizeof(float));
        float *want = xmalloc(rows * max_tokens * sizeof(float));
        uint8_t *const w = wbuf + off, *const xact = xbuf + off;

        memset(wbuf, 0x5a, w_stride * rows + off);
        for (size_t r = 0; r < rows; r++)
                make_weights(k->weight_type, w + r * w_stride, n, w_mode);
        make_act_tokens(k, xact, x_stride, n, max_tokens, x_const);
        for (size_t t = 0; t < max_tokens; t++)
                for (size_t r = 0; r < rows; r++) {
                        want[t * rows + r] = NAN;
                        k->dot(n, w + r * w_stride, xact + t * x_stride, &want[t * rows + r]);
                }

        for (size_t c = 0; c < n_counts; c++) {
                const size_t n_tokens = counts[c];
                for (size_t i = 0; i < ret_stride * (max_tokens + 1); i++)
                        got[i] = NAN;
                /* fetching "the next tile" (here the same rows again) must change nothing */
                k->tile(n, w, w_stride, n_tokens % 2 ? w : NULL, xact, x_stride, n_tokens, got, ret_stride);
                for (size_t t = 0; t <= max_tokens; t++)
                        for (size_t r = 0; r < ret_stride; r++) {
                                const float g = got[t * ret_stride + r];
                                if (t >= n_tokens || r >= rows) {
                                        if (!isnan(g))
                                                fail_msg("%s: a tile of %zu tokens wrote %g outside itself (token %zu, "
                                                         "slot %zu)", k->name, n_tokens, (double) g, t, r);
                                        continue;
                                }
                                const float e = want[t * rows + r];
                                if (!same_bits(g, e))
                                        fail_msg("%s tile of %zu rows x %zu tokens, n=%zu offset %zu weights %d x %g: "
                                                 "row %zu token %zu gave %.9g (0x%08" PRIx32 "), the one-token row "
                                                 "%.9g (0x%08" PRIx32 ")",
                                                 k->name, rows, n_tokens, n, off, w_mode, (double) x_const, r, t,
                                                 (double) g, f32_bits(g), (double) e, f32_bits(e));
                        }
        }
        free(wbuf), free(xbuf), free(got), free(want);
}

static void test_dot_tiles_match_dot(void **state) {
        /* block counts around the kernels' groups of 8 blocks (tails of 0..7 left over) */
        static const size_t blocks[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 71 };
        static const int fills[] = { 0x00, 0xff, 0x80, 0x77 };
        const uint32_t have = cpu_features_get();
        size_t n_rows, n_checked = 0;
        const DotKernel *rows = dot_kernel_table(&n_rows);

        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                if (!k->tile || (k->cpu_features & ~have) != 0)
                        continue;
                const TypeTraits *tt = type_traits(k->weight_type);
                const size_t block = MAX(tt->block_elems, (size_t) 32);
                const bool has_raw = tt->block_elems > 1 && tt->quantize_ref;
                for (size_t s = 0; s < ELEMENTSOF(blocks); s++)
                        for (size_t off = 0; off < 3; off++) {
                                check_tile_on(k, blocks[s] * block, 7 * off, off, W_QUANTISED, 0.0f);
                                if (has_raw)
                                        check_tile_on(k, blocks[s] * block, 3 * off, 2 - off, W_RANDOM, 0.0f);
                                if (tt->block_elems == 1)   /* float rows: lengths with a scalar tail */
                                        check_tile_on(k, blocks[s] * block + 2 * off + 1, off, off, W_QUANTISED, 0.0f);
                        }
                if (tt->block_elems == 1)
                        for (size_t len = 1; len < 40; len++)
                                check_tile_on(k, len, 1, 1, W_QUANTISED, 0.0f);
                check_tile_on(k, 8192, 0, 0, W_QUANTISED, 0.0f);
                if (tt->block_elems > 1)
                        for (size_t f = 0; f < ELEMENTSOF(fills); f++)
                                for (int sign = -1; sign <= 1; sign += 2)
                                        check_tile_on(k, 4096 + 3 * block, 64, 1, fills[f], (float) sign);
                printf("checked %-20s tiles of %u rows x 1..%u tokens, bit for bit against its one-token kernel\n",
                       k->name, k->tile_rows, k->tile_tokens);
                n_checked++;
        }
        if (n_checked == 0)
                printf("no tile kernel on this machine (or under GEMMAD_CPU_FEATURES)\n");
}

/* matmul() over n_tokens tokens against one matmul() per token: the same bits, for 1..9 tokens
 * and, where the kernel's tiles take more, its most and the counts around two tiles' worth. y has
 * room beyond n_out in every token's row, which must stay untouched. */
static void check_matmul_tokens(CpuCompute *c, uint32_t type, size_t n_rows, size_t row_len, size_t n_out,
                                size_t n_in) {
        const DotKernel *k = dot_kernel_find(type, c ? c->features : cpu_features_get());
        const size_t tile_tokens = k->tile ? k->tile_tokens : 1;
        const size_t max_tokens = MAX((size_t) 9, 2 * tile_tokens + 1);
        const TypeTraits *tt = type_traits(type);
        const size_t rb = row_bytes(type, row_len), x_stride = n_in + 3, y_stride = n_out + 2;
        uint8_t *data = xmalloc(rb * n_rows);
        float *x = xmalloc(x_stride * max_tokens * sizeof(float));
        float *y = xmalloc(y_stride * max_tokens * sizeof(float)), *y1 = xmalloc(y_stride * max_tokens * sizeof(float));

        for (size_t r = 0; r < n_rows; r++)
                make_weights(type, data + r * rb, row_len, r % 3 == 2 && tt->block_elems > 1 ? W_RANDOM : W_QUANTISED);
        for (size_t t = 0; t < max_tokens; t++)
                make_activations(x + t * x_stride, x_stride);
        const Tensor w = {
                .name = "test", .type = type, .ne = { row_len, n_rows, 1, 1 }, .row_bytes = rb, .data = data,
        };
        for (size_t n_tokens = 1; n_tokens <= max_tokens; n_tokens++) {
                if (n_tokens > 9 && n_tokens != tile_tokens && n_tokens + 1 < 2 * tile_tokens)
                        continue;
                for (size_t i = 0; i < y_stride * max_tokens; i++)
                        y[i] = y1[i] = -1.0f;
                matmul(c, &w, n_out, n_in, x, x_stride, y, y_stride, n_tokens);
                for (size_t t = 0; t < n_tokens; t++)
                        matmul(c, &w, n_out, n_in, x + t * x_stride, x_stride, y1 + t * y_stride, y_stride, 1);
                for (size_t i = 0; i < y_stride * max_tokens; i++) {
                        if ((i % y_stride >= n_out || i / y_stride >= n_tokens) && y[i] != -1.0f)
                                fail_msg("%s: matmul of %zu tokens, %zu rows wrote %g beyond its outputs (token %zu, row %zu)",
                                         matmul_kernel_name(type, c ? c->features : cpu_features_get()), n_tokens,
                                         n_out, (double) y[i], i / y_stride, i % y_stride);
                        if (!same_bits(y[i], y1[i]))
                                fail_msg("%s: matmul of %zu tokens, %zu of %zu rows, %zu of %zu columns: token %zu "
                                         "row %zu is %.9g, token by token %.9g",
                                         matmul_kernel_name(type, c ? c->features : cpu_features_get()), n_tokens,
                                         n_out, n_rows, n_in, row_len, i / y_stride, i % y_stride, (double) y[i],
                                         (double) y1[i]);
                }
        }
        free(data), free(x), free(y), free(y1);
}

/* Every row with a tile this machine can run, chosen by giving matmul() just that row's features
 * (the rows before it then need more), so that a faster row does not hide the ones after it. */
static void test_matmul_tokens_bit_identical(void **state) {
        const uint32_t have = cpu_features_get();
        size_t n_rows, n_checked = 0;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                const uint32_t type = k->weight_type;
                const TypeTraits *tt = type_traits(type);
                if (!k->tile || (k->cpu_features & ~have) != 0 || dot_kernel_find(type, k->cpu_features) != k)
                        continue;
                const size_t block = MAX(tt->block_elems, (size_t) 32);
                for (uint32_t threads = 1; threads <= 3; threads++) {
                        _cleanup_(cpu_compute_freep) CpuCompute *c = NULL;
                        GemmaError err = {};
                        if (cpu_compute_new(threads, &c, &err) < 0)
                                fail_msg("cpu_compute_new: %s", gemma_error_message(&err));
                        c->features = k->cpu_features;
                        /* whole rows; a slice of the rows (MatFormer) with odd row counts; a part of
                         * the rows in row groups of 8 blocks and with a tail; enough rows for two
                         * threads to get a few tiles each */
                        check_matmul_tokens(c, type, 37, 12 * block, 37, 12 * block);
                        check_matmul_tokens(c, type, 37, 12 * block, 35, 9 * block);
                        check_matmul_tokens(c, type, 16, 8 * block, 13, 3 * block);
                        check_matmul_tokens(c, type, 5, 20 * block, 5, 17 * block);
                        check_matmul_tokens(c, type, 3, 2 * block, 1, block);
                        check_matmul_tokens(c, type, 100, 9 * block, 99, 9 * block);
                }
                if (k == dot_kernel_find(type, have))
                        check_matmul_tokens(NULL, type, 21, 16 * block, 19, 11 * block);
                printf("checked matmul with %s: 1..9 tokens and around its tiles' give the bits of one token at a "
                       "time\n", k->name);
                n_checked++;
        }
        if (n_checked == 0)
                printf("no tile kernel on this machine (or under GEMMAD_CPU_FEATURES)\n");
}

/* matmul_shared() against one matmul() per output: the same bits, nothing written beyond each
 * output's rows, for types that share an activation format (one job) and types that do not (each
 * on its own), row counts that are and are not multiples of the tiles', and tokens around the
 * tiles' counts. */
static void check_matmul_shared(CpuCompute *c, const uint32_t *types, const size_t *n_outs, size_t n, size_t n_in) {
        const size_t row_len = n_in + 256, x_stride = n_in + 5, max_tokens = 17;
        uint8_t *data[MATMUL_SHARED_MAX];
        Tensor w[MATMUL_SHARED_MAX];
        float *y[MATMUL_SHARED_MAX], *y1[MATMUL_SHARED_MAX];
        float *x = xmalloc(x_stride * max_tokens * sizeof(float));

        for (size_t t = 0; t < max_tokens; t++)
                make_activations(x + t * x_stride, x_stride);
        for (size_t k = 0; k < n; k++) {
                const size_t rb = row_bytes(types[k], row_len), n_rows = n_outs[k] + 3;
                data[k] = xmalloc(rb * n_rows);
                for (size_t r = 0; r < n_rows; r++)
                        make_weights(types[k], data[k] + r * rb, row_len, r % 2 ? W_RANDOM : W_QUANTISED);
                w[k] = (Tensor) { .name = "test", .type = types[k], .ne = { row_len, n_rows, 1, 1 }, .row_bytes = rb,
                                  .data = data[k] };
                y[k] = xmalloc((n_outs[k] + 1) * max_tokens * sizeof(float));
                y1[k] = xmalloc((n_outs[k] + 1) * max_tokens * sizeof(float));
        }
        for (size_t n_tokens = 1; n_tokens <= max_tokens; n_tokens += n_tokens < 5 ? 1 : 12) {
                MatmulOutput outs[MATMUL_SHARED_MAX];
                for (size_t k = 0; k < n; k++) {
                        const size_t y_stride = n_outs[k] + 1;
                        for (size_t i = 0; i < y_stride * max_tokens; i++)
                                y[k][i] = y1[k][i] = -1.0f;
                        outs[k] = (MatmulOutput) { .w = &w[k], .n_out = n_outs[k], .y = y[k], .y_stride = y_stride };
                        matmul(c, &w[k], n_outs[k], n_in, x, x_stride, y1[k], y_stride, n_tokens);
                }
                matmul_shared(c, outs, n, n_in, x, x_stride, n_tokens);
                for (size_t k = 0; k < n; k++)
                        for (size_t i = 0; i < (n_outs[k] + 1) * max_tokens; i++)
                                if (!same_bits(y[k][i], y1[k][i]))
                                        fail_msg("matmul_shared, output %zu of %zu (%s, %zu rows), %zu tokens: value %zu "
                                                 "is %.9g, alone %.9g", k, n, type_traits(types[k])->name, n_outs[k],
                                                 n_tokens, i, (double) y[k][i], (double) y1[k][i]);
        }
        for (size_t k = 0; k < n; k++)
                free(data[k]), free(y[k]), free(y1[k]);
        free(x);
}

static void test_matmul_shared_matches_separate(void **state) {
        static const struct {
                uint32_t types[MATMUL_SHARED_MAX];
                size_t n_outs[MATMUL_SHARED_MAX];
                size_t n;
        } cases[] = {
                /* a layer's LAuReL, Q, K, V: one activation format, rows in and out of tile multiples */
                { { GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_0 }, { 64, 96, 32, 32 }, 4 },
                { { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 }, { 37, 5, 70 }, 3 },
                { { GGML_TYPE_F16, GGML_TYPE_F32 }, { 33, 18 }, 2 },
                { { GGML_TYPE_Q8_0 }, { 41 }, 1 },
                /* formats that differ (q4_k takes q8_k activations): each output on its own */
                { { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K }, { 20, 17, 9 }, 3 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const size_t n_in = cases[i].types[1] == GGML_TYPE_Q4_K ? 512 : 320;
                for (uint32_t threads = 1; threads <= 3; threads++) {
                        _cleanup_(cpu_compute_freep) CpuCompute *c = NULL;
                        GemmaError err = {};
                        if (cpu_compute_new(threads, &c, &err) < 0)
                                fail_msg("cpu_compute_new: %s", gemma_error_message(&err));
                        check_matmul_shared(c, cases[i].types, cases[i].n_outs, cases[i].n, n_in);
                }
                check_matmul_shared(NULL, cases[i].types, cases[i].n_outs, cases[i].n, n_in);
        }
        (void) state;
}

/* ---- the table ----------------------------------------------------------------------------- */

static ActFormat expected_act(uint32_t type) {
        switch (type) {
        case GGML_TYPE_F32:
        case GGML_TYPE_F16:
        case GGML_TYPE_BF16:
                return ACT_F32;
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q5_0:
        case GGML_TYPE_Q8_0:
                return ACT_Q8_0;
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q5_1:
                return ACT_Q8_1;
        default:
                return ACT_Q8_K;
        }
}

/* The packed layout where packed.h puts each byte: row r's block b, its scale and quants, found
 * again at the documented offsets of its tile. */
static void check_packed_layout(uint32_t type, size_t n_rows, size_t row_len) {
        const bool q4 = type == GGML_TYPE_Q4_0;
        const size_t rb = row_bytes(type, row_len), nb = row_len / 32, src_block = q4 ? 18 : 34;
        const size_t dwords = q4 ? 4 : 8, packed_block = PACKED_TILE_ROWS * src_block;
        uint8_t *data = xmalloc(rb * n_rows), *packed = xmalloc(rb * n_rows);
        for (size_t i = 0; i < rb * n_rows; i++)
                data[i] = (uint8_t) rng_next();
        const Tensor w = { .name = "test", .type = type, .ne = { row_len, n_rows, 1, 1 }, .row_bytes = rb,
                           .data = data };
        const size_t n_tiles = n_rows / PACKED_TILE_ROWS;
        packed_write_tiles(&w, 0, 1, packed);
        packed_write_tiles(&w, 1, n_tiles - 1, packed);
        for (size_t r = 0; r < n_tiles * PACKED_TILE_ROWS; r++)
                for (size_t b = 0; b < nb; b++) {
                        const uint8_t *src = data + r * rb + b * src_block;
                        const uint8_t *blk = packed + r / PACKED_TILE_ROWS * PACKED_TILE_ROWS * rb + b * packed_block;
                        const size_t lane = r % PACKED_TILE_ROWS;
                        assert_memory_equal(blk + 64 * dwords + 2 * lane, src, 2);
                        for (size_t j = 0; j < dwords; j++)
                                for (size_t k = 0; k < 4; k++)
                                        assert_int_equal(blk[64 * j + 4 * lane + k], src[2 + 4 * j + k] ^ (q4 ? 0 : 0x80));
                }
        free(data), free(packed);
}

/* matmul() reading packed tiles against matmul() reading the file: the same bits for 1..9 tokens
 * and around the tiles' count, whole and partial rows and columns (MatFormer), rows that are and
 * are not whole tiles, on 1..3 threads, and through a view of a matrix's rows that starts at a
 * tile (the per-layer projection's runs of layers) or not (then read from the file). The matrix
 * is packed for this machine's features; c's may lack the packed tiles, and must then leave the
 * copy unread. When every row matmul() reads is in a whole packed tile, the file's bytes of the
 * packed rows are overwritten once packed: results that still match came from the copy. */
static void check_matmul_packed(CpuCompute *c, uint32_t type, size_t n_rows, size_t row_len, size_t n_out,
                                size_t n_in, size_t view_first) {
        const size_t max_tokens = 2 * TILE_TOKENS_VNNI + 1, x_stride = n_in + 1, y_stride = n_out + 3;
        const size_t rb = row_bytes(type, row_len);
        uint8_t *data = xmalloc(rb * n_rows), *saved = xmalloc(rb * n_rows);
        float *x = xmalloc(x_stride * max_tokens * sizeof(float));
        float *y = xmalloc(y_stride * max_tokens * sizeof(float)), *y1 = xmalloc(y_stride * max_tokens * sizeof(float));
        for (size_t r = 0; r < n_rows; r++)
                make_weights(type, data + r * rb, row_len, r % 3 == 2 ? W_RANDOM : W_QUANTISED);
        memcpy(saved, data, rb * n_rows);
        for (size_t t = 0; t < max_tokens; t++)
                make_activations(x + t * x_stride, x_stride);
        Tensor w = { .name = "test", .type = type, .ne = { row_len, n_rows, 1, 1 }, .row_bytes = rb, .data = data };
        Tensor *list[] = { &w };
        const WeightPackerOptions opts = { .features = cpu_features_get() };
        const bool packs = dot_kernel_find(type, opts.features)->tile_packed && n_rows >= PACKED_TILE_ROWS;
        const DotKernel *k = dot_kernel_find(type, c->features);
        /* whether every row matmul() reads comes from the copy, so the file may be garbled */
        const bool all_packed = packs && k->tile_packed && view_first % PACKED_TILE_ROWS == 0 &&
                                n_out % PACKED_TILE_ROWS == 0 &&
                                view_first + n_out <= n_rows / PACKED_TILE_ROWS * PACKED_TILE_ROWS;
        GemmaError err = {};

        for (size_t n_tokens = 1; n_tokens <= max_tokens; n_tokens++) {
                if (n_tokens > 9 && n_tokens != TILE_TOKENS_VNNI && n_tokens != max_tokens)
                        continue;
                for (size_t i = 0; i < y_stride * max_tokens; i++)
                        y[i] = y1[i] = -1.0f;
                Tensor view = tensor_rows_view(&w, view_first, n_rows - view_first, PACKED_TILE_ROWS);
                matmul(c, &view, n_out, n_in, x, x_stride, y1, y_stride, n_tokens);

                WeightPacker *p = NULL;
                if (weight_packer_start(list, 1, &opts, &p, &err) < 0)
                        fail_msg("weight_packer_start: %s", gemma_error_message(&err));
                weight_packer_wait(p);
                assert_true((tensor_packed(&w) != NULL) == packs);
                assert_int_equal(w.packed_rows, packs ? n_rows / PACKED_TILE_ROWS * PACKED_TILE_ROWS : 0);
                if (all_packed)
                        memset(data, 0x5a, rb * w.packed_rows);
                view = tensor_rows_view(&w, view_first, n_rows - view_first, PACKED_TILE_ROWS);
                assert_true((view.packed != NULL) == (packs && view_first % PACKED_TILE_ROWS == 0));
                matmul(c, &view, n_out, n_in, x, x_stride, y, y_stride, n_tokens);
                weight_packer_free(p);
                assert_null(tensor_packed(&w));
                memcpy(data, saved, rb * n_rows);
                for (size_t i = 0; i < y_stride * max_tokens; i++)
                        if (!same_bits(y[i], y1[i]))
                                fail_msg("%s packed (%s), %zu tokens, %zu of %zu rows from %zu, %zu of %zu columns: "
                                         "token %zu row %zu is %.9g, from the file %.9g",
                                         type_traits(type)->name, k->name, n_tokens, n_out, n_rows, view_first, n_in,
                                         row_len, i / y_stride, i % y_stride, (double) y[i], (double) y1[i]);
        }
        free(data), free(saved), free(x), free(y), free(y1);
}

/* Matrices published one by one while matmul() runs on them: every call, whichever matrices
 * it finds packed, gives the bits of the file; and a packer freed while still packing stops
 * cleanly and leaves every Tensor unpacked. */
static void check_matmul_while_packing(CpuCompute *c, uint32_t type) {
        enum { N_MATRICES = 6, ROWS = 256, TOKENS = 4 };
        const size_t row_len = 64 * 32, rb = row_bytes(type, row_len);
        uint8_t *data[N_MATRICES];
        Tensor w[N_MATRICES], *list[N_MATRICES];
        float *x = xmalloc(row_len * TOKENS * sizeof(float));
        float *y = xmalloc(ROWS * TOKENS * sizeof(float)), *y1 = xmalloc(N_MATRICES * ROWS * TOKENS * sizeof(float));
        for (size_t t = 0; t < TOKENS; t++)
                make_activations(x + t * row_len, row_len);
        for (size_t m = 0; m < N_MATRICES; m++) {
                data[m] = xmalloc(rb * ROWS);
                for (size_t r = 0; r < ROWS; r++)
                        make_weights(type, data[m] + r * rb, row_len, W_QUANTISED);
                w[m] = (Tensor) { .name = "test", .type = type, .ne = { row_len, ROWS, 1, 1 }, .row_bytes = rb,
                                  .data = data[m] };
                list[m] = &w[m];
                matmul(c, &w[m], ROWS, row_len, x, row_len, y1 + m * ROWS * TOKENS, ROWS, TOKENS);
        }
        const WeightPackerOptions opts = { .features = c->features };
        for (int round = 0; round < 2; round++) {
                WeightPacker *p = NULL;
                GemmaError err = {};
                if (weight_packer_start(list, N_MATRICES, &opts, &p, &err) < 0)
                        fail_msg("weight_packer_start: %s", gemma_error_message(&err));
                for (int pass = 0; pass < (round == 0 ? 6 : 1); pass++)
                        for (size_t m = 0; m < N_MATRICES; m++) {
                                const size_t n_tokens = 1 + (pass + m) % TOKENS;
                                matmul(c, &w[m], ROWS, row_len, x, row_len, y, ROWS, n_tokens);
                                for (size_t i = 0; i < ROWS * n_tokens; i++)
                                        if (!same_bits(y[i], y1[m * ROWS * TOKENS + i]))
                                                fail_msg("%s matrix %zu, pass %d, %zu tokens: value %zu is %.9g, from "
                                                         "the file %.9g", type_traits(type)->name, m, pass, n_tokens, i,
                                                         (double) y[i], (double) y1[m * ROWS * TOKENS + i]);
                        }
                /* round 1 frees the packer at once, most likely while it still packs */
                weight_packer_free(p);
                for (size_t m = 0; m < N_MATRICES; m++)
                        assert_null(tensor_packed(&w[m]));
        }
        for (size_t m = 0; m < N_MATRICES; m++)
                free(data[m]);
        free(x), free(y), free(y1);
}

static void test_matmul_packed_matches_file(void **state) {
        const uint32_t have = cpu_features_get();
        static const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0 };
        size_t n_checked = 0;

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                check_packed_layout(types[i], 48, 9 * 32);
                const DotKernel *k = dot_kernel_find(types[i], have);
                if (!k || !k->tile_packed)
                        continue;
                for (uint32_t threads = 1; threads <= 3; threads++) {
                        _cleanup_(cpu_compute_freep) CpuCompute *c = NULL;
                        GemmaError err = {};
                        if (cpu_compute_new(threads, &c, &err) < 0)
                                fail_msg("cpu_compute_new: %s", gemma_error_message(&err));
                        /* groups of 8 blocks and a tail; a slice of rows and columns; rows left
                         * after the tiles; a view from a tile and from inside one; fewer rows than a tile */
                        check_matmul_packed(c, types[i], 64, 19 * 32, 64, 19 * 32, 0);
                        check_matmul_packed(c, types[i], 100, 16 * 32, 83, 9 * 32, 0);
                        check_matmul_packed(c, types[i], 100, 16 * 32, 96, 16 * 32, 0);
                        check_matmul_packed(c, types[i], 70, 8 * 32, 38, 8 * 32, 32);
                        check_matmul_packed(c, types[i], 70, 3 * 32, 50, 3 * 32, 5);
                        check_matmul_packed(c, types[i], 13, 4 * 32, 13, 4 * 32, 0);
                        if (threads == 2)
                                check_matmul_while_packing(c, types[i]);
                }
                /* compute without the packed tiles (a scalar engine beside a packed model): the copy
                 * stays unread */
                _cleanup_(cpu_compute_freep) CpuCompute *scalar = NULL;
                GemmaError err = {};
                if (cpu_compute_new(2, &scalar, &err) < 0)
                        fail_msg("cpu_compute_new: %s", gemma_error_message(&err));
                scalar->features = 0;
                check_matmul_packed(scalar, types[i], 40, 8 * 32, 40, 8 * 32, 0);
                printf("checked packed tiles of %s against the file's rows, also while packing\n", k->name);
                n_checked++;
        }
        if (n_checked == 0)
                printf("SKIP: no packed tile kernel on this machine (or under GEMMAD_CPU_FEATURES)\n");
}

static void test_dot_kernel_table_selfcheck(void **state) {
        size_t n_rows;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                const TypeTraits *tt = type_traits(k->weight_type);
                assert_non_null(tt);
                assert_non_null(tt->dequant_ref);
                assert_non_null(k->dot);
                assert_non_null(k->name);
                assert_int_equal(k->act, expected_act(k->weight_type));
                assert_int_equal(tt->block_elems % act_format_info(k->act, 0).block_elems, 0);
                if (k->tile) {
                        assert_true(k->tile_rows >= 1 && k->tile_tokens >= 1);
                        assert_true(k->tile_rows * k->tile_tokens > 1);   /* else it would share nothing */
                        assert_true(k->cpu_features != 0);                /* the scalar rows stay plain */
                }
                for (size_t s = 0; s < r; s++) {
                        if (strcmp(rows[s].name, k->name) == 0)
                                fail_msg("row name %s appears twice", k->name);
                        /* a scalar row is the last of its type: nothing may follow it */
                        if (rows[s].weight_type == k->weight_type && rows[s].cpu_features == 0)
                                fail_msg("%s comes after the scalar row %s", k->name, rows[s].name);
                }
        }
}

/* Every type that can be computed with has a scalar row, found when no feature is allowed. */
static void test_dot_kernel_find_no_features(void **state) {
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++) {
                const TypeTraits *tt = type_traits(t);
                if (!tt || !tt->dequant_ref)
                        continue;
                const DotKernel *k = dot_kernel_find(t, 0);
                assert_non_null(k);
                assert_int_equal(k->cpu_features, 0);
                assert_int_equal(k->weight_type, t);
        }
        for (int f = 0; f < _ACT_FORMAT_MAX; f++) {
                ActFormatInfo a = act_format_info((ActFormat) f, 0);
                assert_int_equal(a.cpu_features, 0);
                assert_true(f == ACT_F32 ? a.quantize == NULL : a.quantize != NULL);
        }
        assert_null(dot_kernel_find(GGML_TYPE_Q2_K, UINT32_MAX));
}

/* Under GEMMAD_CPU_FEATURES=none the machine's features are masked away: scalar rows only. */
static void test_cpu_features_get_env_none(void **state) {
        const char *env = getenv("GEMMAD_CPU_FEATURES");
        if (!env || cpu_features_parse(env) != 0) {
                printf("GEMMAD_CPU_FEATURES is %s: nothing to mask here\n", env ? env : "unset");
                assert_int_equal(cpu_features_get(), cpu_features_detect() & cpu_features_parse(env));
                return;
        }
        printf("GEMMAD_CPU_FEATURES=%s: checking that only scalar rows are selected\n", env);
        assert_int_equal(cpu_features_get(), 0);
        for (uint32_t t = 0; t < _GGML_TYPE_MAX; t++) {
                const TypeTraits *tt = type_traits(t);
                if (!tt || !tt->dequant_ref)
                        continue;
                const DotKernel *k = dot_kernel_find(t, cpu_features_get());
                assert_non_null(k);
                assert_int_equal(k->cpu_features, 0);
        }
        for (int f = 0; f < _ACT_FORMAT_MAX; f++)
                assert_int_equal(act_format_info((ActFormat) f, cpu_features_get()).cpu_features, 0);
}

static void test_cpu_features_parse_describe(void **state) {
        const uint32_t avx = CPU_FEATURE_AVX2 | CPU_FEATURE_FMA | CPU_FEATURE_F16C;
        char buf[64];

        assert_int_equal(cpu_features_parse(NULL), UINT32_MAX);
        assert_int_equal(cpu_features_parse(""), UINT32_MAX);
        assert_int_equal(cpu_features_parse("none"), 0);
        assert_int_equal(cpu_features_parse("avx2,fma,f16c"), avx);
        assert_int_equal(cpu_features_parse(" AVX2, fma ,F16C,"), avx);
        assert_int_equal(cpu_features_parse("avx2x,avx,fm"), 0);
        assert_int_equal(cpu_features_parse("avx512f,avx512vnni,neon,dotprod"),
                         CPU_FEATURE_AVX512F | CPU_FEATURE_AVX512VNNI | CPU_FEATURE_NEON | CPU_FEATURE_DOTPROD);
        assert_int_equal(cpu_features_parse("avx512bw avx512vl"), CPU_FEATURE_AVX512BW | CPU_FEATURE_AVX512VL);

        cpu_features_describe(0, buf, sizeof(buf));
        assert_string_equal(buf, "none");
        cpu_features_describe(avx, buf, sizeof(buf));
        assert_string_equal(buf, "avx2,fma,f16c");
        cpu_features_describe(avx, buf, 9);   /* room for "avx2,fma" only */
        assert_string_equal(buf, "avx2,fma");
        assert_int_equal(cpu_features_parse(buf), CPU_FEATURE_AVX2 | CPU_FEATURE_FMA);
        cpu_features_describe(cpu_features_detect(), buf, sizeof(buf));
        printf("detected: %s\n", buf);
}

/* ---- activation quantisers ----------------------------------------------------------------- */

#define QN 2048   /* eight q8_k blocks, 64 q8_0 ones */

/* Inputs that probe the rounding: random blocks over many magnitudes, all-zero blocks, values at
 * and half a step around k * d for every k (so x * (1/d) lands on or next to .5), a lone negative
 * extreme, and tiny and large blocks. */
static void make_quantizer_input(float *x, int pattern) {
        for (size_t b = 0; b < QN / 32; b++) {
                float *v = x + 32 * b;
                const size_t kind = (b + (size_t) pattern) % 8;
                const float d = ldexpf(1.0f + frand() * 0.5f, (int) (rng_next() % 16) - 8);
                for (int j = 0; j < 32; j++) {
                        switch (kind) {
                        case 0:
                                v[j] = 0.0f;
                                break;
                        case 1: /* from -127.5 d to 127.5 d in half steps, ends clipped to +-127 d */
                                v[j] = d * fminf(127.0f, fmaxf(-127.0f, (float) (8 * j + pattern % 8) - 127.5f));
                                break;
                        case 2: /* exact multiples, +-127 d included */
                                v[j] = d * (float) (j % 2 ? 127 - j : -127 + 3 * j);
                                break;
                        case 3: /* a lone negative extreme */
                                v[j] = j == 5 ? -d * 100.0f : d * 0.01f * frand();
                                break;
                        case 4:
                                v[j] = 1e-20f * frand();
                                break;
                        case 5:
                                v[j] = 3e4f * frand();
                                break;
                        case 6: /* one ulp either side of half steps, with max|x| = 127 d */
                                v[j] = j == 0 ? 127.0f * d : nextafterf(d * ((float) (4 * j) - 63.5f), j % 2 ? INFINITY : -INFINITY);
                                break;
                        default:
                                v[j] = d * frand() * 127.0f;
                        }
                }
        }
        if (pattern == 0)   /* one whole q8_k block of zeros */
                memset(x + 512, 0, 256 * sizeof(float));
}

/* The scalar quantiser against the definition in kernels.h. */
static void check_quantized(ActFormat f, const float *x, const uint8_t *q) {
        const ActFormatInfo a = act_format_info(f, 0);
        for (size_t b = 0; b < QN / a.block_elems; b++) {
                const float *v = x + b * a.block_elems;
                const uint8_t *blk = q + b * a.block_bytes;
                float amax = 0;
                for (size_t j = 0; j < a.block_elems; j++)
                        amax = fmaxf(amax, fabsf(v[j]));
                const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
                const size_t qs = f == ACT_Q8_0 ? 2 : 4;
                int32_t sum = 0;
                for (size_t j = 0; j < a.block_elems; j++) {
                        const int8_t qj = (int8_t) blk[qs + j];
                        if (qj != (int8_t) roundf(v[j] * id) || qj == -128)
                                fail_msg("%s block %zu value %zu: %.9g -> %d, expected %d", a.name, b, j,
                                         (double) v[j], qj, (int) roundf(v[j] * id));
                        sum += qj;
                }
                if (f == ACT_Q8_K) {
                        assert_memory_equal(blk, &d, 4);
                        for (int j = 0; j < 16; j++) {
                                int32_t s = 0;
                                for (int l = 0; l < 16; l++)
                                        s += (int8_t) blk[4 + 16 * j + l];
                                assert_int_equal((int16_t) rd_u16(blk + 260 + 2 * j), s);
                        }
                } else {
                        assert_int_equal(rd_u16(blk), f32_to_f16(d));
                }
                if (f == ACT_Q8_1)
                        assert_int_equal(rd_u16(blk + 2), f32_to_f16(rd_f16(blk) * (float) sum));
                if (amax == 0.0f)
                        for (size_t j = 0; j < a.block_bytes; j++)
                                assert_int_equal(blk[j], 0);
                if (f == ACT_Q8_0) {   /* after the blocks: d as a float, 8 * sum(q) (kernels.h) */
                        const uint8_t *tail = q + QN / 32 * 34;
                        float df;
                        int32_t s8;
                        memcpy(&df, tail + 4 * b, 4);
                        memcpy(&s8, tail + QN / 32 * 4 + 4 * b, 4);
                        assert_true(df == rd_f16(blk));
                        assert_int_equal(s8, 8 * sum);
                }
        }
}

static void test_act_quantize_matches_scalar(void **state) {
        const uint32_t have = cpu_features_get();
        float *x = xmalloc(QN * sizeof(float));
        for (int f = ACT_Q8_0; f < _ACT_FORMAT_MAX; f++) {
                const ActFormatInfo scalar = act_format_info((ActFormat) f, 0), fast = act_format_info((ActFormat) f, have);
                const size_t bytes = act_bytes(&scalar, QN);
                uint8_t *qs = xmalloc(bytes), *qf = xmalloc(bytes + 3);
                char feat[64];
                cpu_features_describe(fast.cpu_features, feat, sizeof(feat));
                for (int pattern = 0; pattern < 16; pattern++) {
                        make_quantizer_input(x, pattern);
                        scalar.quantize(x, qs, QN);
                        check_quantized((ActFormat) f, x, qs);
                        if (f == ACT_Q8_0) {   /* the same rounding as the reference quantiser */
                                uint8_t ref[QN / 32 * 34];
                                quantize_row_q8_0(x, ref, QN);
                                assert_memory_equal(ref, qs, sizeof(ref));
                        }
                        fast.quantize(x, qf + pattern % 4, QN);
                        for (size_t i = 0; i < bytes; i++)
                                if (qs[i] != qf[pattern % 4 + i])
                                        fail_msg("%s quantiser (%s) differs from the scalar one at byte %zu (block %zu): "
                                                 "0x%02x, scalar 0x%02x",
                                                 scalar.name, feat, i, i / scalar.block_bytes, qf[pattern % 4 + i], qs[i]);
                }
                printf("%s quantiser: fastest needs %s, same bytes as the scalar one\n", scalar.name, feat);
                free(qs), free(qf);
        }
        free(x);
}

int main(void) {
        const char *seed = getenv("GEMMAD_TEST_SEED");
        if (seed)
                rng_state = strtoull(seed, NULL, 0);
        printf("seed: GEMMAD_TEST_SEED=0x%" PRIx64 "\n", rng_state);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu_features_parse_describe),
                cmocka_unit_test(test_dot_kernel_table_selfcheck),
                cmocka_unit_test(test_matmul_shared_matches_separate),
                cmocka_unit_test(test_matmul_packed_matches_file),
                cmocka_unit_test(test_dot_kernel_find_no_features),
                cmocka_unit_test(test_cpu_features_get_env_none),
                cmocka_unit_test(test_act_quantize_matches_scalar),
                cmocka_unit_test(test_dot_rows_zero_activations),
                cmocka_unit_test(test_dot_float_rows_convert_exactly),
                cmocka_unit_test(test_dot_rows_match_reference),
                cmocka_unit_test(test_dot_tiles_match_dot),
                cmocka_unit_test(test_matmul_tokens_bit_identical),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
