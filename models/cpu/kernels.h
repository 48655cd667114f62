/* Dot-product kernels: one weight row against one token's activations, and for some rows a tile
 * of several weight rows against several tokens' at once (the same results, bit for bit).
 *
 * Each weight type pairs with an activation format (how matmul() prepares x once per call):
 * float weights dot float activations; the 32-value block types (q4_0, q4_1, q5_0, q5_1, q8_0)
 * dot activations quantised to q8_0 blocks (q4_1/q5_1 use q8_1, whose block also carries the
 * sum of its values); the 256-value K types dot q8_k blocks. Integer products are accumulated
 * per block and scaled once, as the formats intend.
 *
 * Kernels are rows in a table (kernels.c): the first row whose weight type matches and whose CPU
 * features are present wins; a scalar row for every type is always last and is never deleted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu-features.h"

typedef enum ActFormat {
        ACT_F32,        /* floats as given */
        ACT_Q8_0,       /* blocks of 32: f16 d, int8 q[32] (34 bytes); then per block f32 d, int32 8*sum(q),
                           and q paired by blocks (see below) */
        ACT_Q8_1,       /* blocks of 32: f16 d, f16 s = d * sum(q), int8 q[32] (36 bytes) */
        ACT_Q8_K,       /* blocks of 256: f32 d, int8 q[256], int16 bsums[16] (292 bytes) */
        _ACT_FORMAT_MAX,
} ActFormat;

/* How the activation quantisers round (every implementation produces the same bytes):
 *   q8_0, q8_1: d = max|x| / 127 over the block, q = round(x * (1 / d)) half away from zero,
 *               exactly as quantize_row_q8_0 (the float d is used for the quotient, d is then
 *               stored as f16). q8_1 adds s = f16(f16(d) * sum(q)): the stored (rounded) d, so
 *               that s matches the dequantised values up to the f16 rounding of s itself.
 *   q8_k:       the same symmetric choice, d = max|x| / 127 stored as f32 (rather than a
 *               sign-preserving d = max / -127: an int8 has 127 steps either side, so nothing
 *               is gained, and one rounding rule serves all three formats); bsums[j] is the
 *               sum of q over values 16j .. 16j+15.
 * q is never -128, which the SIMD kernels rely on (the sign trick: |w| times sign(w) * x). An
 * all-zero block has d = 0 and q = 0.
 *
 * q8_0 keeps more after a token's nb blocks, so that a row kernel, called once per weight row
 * against the same activations, does not redo work that depends on them alone: at byte nb * 34,
 * nb floats d (the stored f16 d, converted exactly), then nb int32 8 * sum(q) (the offset of
 * q4_0's unsigned nibbles), then for each whole group of eight blocks their q in pairs (blocks
 * 2j, 2j+1: values 0..15 of both, then 16..31 of both; 256 bytes), the order in which q4_0's packed
 * nibbles unpack without a shuffle. Kernels that do not need them ignore them. */

/* *ret = sum_i W[i] * x[i] for i < n, n a multiple of the weight type's block size. w_row and
 * x_act may sit at any byte offset. */
typedef void (*DotFn)(size_t n, const void *w_row, const void *x_act, float *ret);

/* The same for a tile of weight rows x tokens: ret[t * ret_stride + r] = dot of the weight row at
 * w_rows + r * w_stride with the activations at x_act + t * x_stride, for r < tile_rows and
 * t < n_tokens, 1 <= n_tokens <= tile_tokens (both the kernel's). Each result is bit-identical to
 * what the kernel's DotFn gives for that (row, token), the same float operations in the same
 * order: batched decoding must give every session exactly the tokens it would get alone, and a
 * prompt exactly the logits it gets token by token. A tile saves the work its outputs share (a
 * weight block unpacked once for all its tokens, an activation block loaded once for all its
 * rows); kernels have one where that measures faster. w_next: the first row of the next tile, if
 * it should be fetched from memory meanwhile (NULL: no such tile, or it is in cache already). */
typedef void (*DotTileFn)(size_t n, const void *w_rows, size_t w_stride, const void *w_next, const void *x_act,
                          size_t x_stride, size_t n_tokens, float *ret, size_t ret_stride);

/* Converts n floats (a multiple of the format's block size) into the activation format. */
typedef void (*ActQuantizeFn)(const float *x, void *dst, size_t n);

typedef struct DotKernel {
        uint32_t weight_type;     /* GgmlType */
        uint32_t cpu_features;    /* CPU_FEATURE_* bits required */
        ActFormat act;
        const char *name;         /* "q4_0-q8_0-avx2" */
        DotFn dot;
        DotTileFn tile;           /* NULL: matmul() calls dot for every (row, token) */
        uint32_t tile_rows;       /* weight rows of every tile call */
        uint32_t tile_tokens;     /* the most tokens one tile call takes */
        DotTileFn tile_packed;    /* the tile over packed weights (packed.h), from one token on: w_rows
                                   * is a packed tile, w_next the next one; NULL: the type does not pack
                                   * for this kernel */
} DotKernel;

typedef struct ActFormatInfo {
        const char *name;
        size_t block_elems;
        size_t block_bytes;
        size_t sums_bytes;        /* per block, after all of a token's blocks (act_bytes()) */
        uint32_t cpu_features;    /* of the fastest quantiser available */
        ActQuantizeFn quantize;   /* NULL for ACT_F32 */
} ActFormatInfo;

/* The kernel for a weight type given the available CPU features (pass cpu_features_get() for the
 * machine, or 0 to force the scalar rows). NULL if the type has no kernel. */
const DotKernel *dot_kernel_find(uint32_t weight_type, uint32_t features);

/* Activation format info; the quantiser is the fastest allowed by `features`. */
ActFormatInfo act_format_info(ActFormat f, uint32_t features);

/* Bytes of one token's n values in the format: its blocks, then what the format keeps per block
 * after them. */
static inline size_t act_bytes(const ActFormatInfo *a, size_t n) {
        return n / a->block_elems * (a->block_bytes + a->sums_bytes);
}

/* Every row of the table, for tests and benchmarks (n_rows set on return). */
const DotKernel *dot_kernel_table(size_t *ret_n_rows);
