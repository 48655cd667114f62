/* Packed weights: q4_0 and q8_0 matrices rewritten once, after load, into the layout the AVX-512
 * VNNI tiles read without transposing anything (dot-avx512.c).
 *
 * Read from the mapped file, a tile of 16 rows must be transposed block by block before vpdpbusd
 * can advance all 16 rows at once (one row per int32 lane); at one to four tokens that transpose
 * costs as much as the products themselves, which is why a batch of four sessions cost 1.65x what
 * one did per row. Packed, each block's transpose is paid once, at load: four tokens then cost
 * about 1.1x one token, and one token itself runs 2.2x faster than the rows' kernel from L2. The
 * price is a copy of the packed matrices in anonymous memory (the mapped pages they came from are
 * let go), made by a background thread that starts as loading ends and does not delay ready:
 * until a matrix is published, matmul() reads it from the file as before, and both give the
 * same bits.
 *
 * The layout: rows in tiles of PACKED_TILE_ROWS, each tile the same number of bytes as its rows
 * (so tile t starts where row 16 t does), its blocks one after another. Block b of a tile, the 32
 * values 32 b .. 32 b + 31 of each of its 16 rows r:
 *   q4_0 (288 bytes): for m = 0 .. 3, at 64 m + 4 r: bytes 4 m .. 4 m + 3 of row r's 16 bytes of
 *         nibbles; then at 256 + 2 r row r's f16 scale.
 *   q8_0 (544 bytes): for j = 0 .. 7, at 64 j + 4 r: values 4 j .. 4 j + 3 of row r, each byte
 *         XOR 0x80 (the unsigned form the kernel multiplies); then at 512 + 2 r row r's scale.
 * Only whole tiles are packed: a matrix's last rows, when fewer than 16, are read from the file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tensor/tensor.h"

#define PACKED_TILE_ROWS 16
#define PACKED_Q4_0_BLOCK_BYTES (PACKED_TILE_ROWS * 18)
#define PACKED_Q8_0_BLOCK_BYTES (PACKED_TILE_ROWS * 34)

/* Writes tiles [first_tile, first_tile + n_tiles) of matrix w (q4_0 or q8_0) in the packed layout
 * into dst, which receives all of w's tiles (tile t at dst + t * 16 * row_bytes). */
void packed_write_tiles(const Tensor *w, size_t first_tile, size_t n_tiles, uint8_t *dst);

/* Packs matrices in the background and publishes each into its Tensor when done. */
typedef struct WeightPacker WeightPacker;

typedef struct WeightPackerOptions {
        uint32_t features;     /* the CPU features matmul() will use: only matrices whose kernel
                                * has packed tiles there are packed */
        bool release_source;   /* the matrices are in a file mapping whose pages may be let go
                                * (MADV_DONTNEED) once packed; never for memory of any other kind */
} WeightPackerOptions;

/* Starts packing tensors[0 .. n) (those of a type and kernel that pack; the rest are skipped).
 * The Tensors must outlive the packer and must not be copied while it runs (it publishes into
 * them). Fails (-ENOMEM, and nothing is packed) when the copies would leave less than 512 MiB of
 * the system's available memory, when they cannot be allocated, or when the thread cannot be
 * started. */
int weight_packer_start(Tensor *const *tensors, size_t n, const WeightPackerOptions *opts, WeightPacker **ret,
                        GemmaError *err);

typedef struct WeightPackerProgress {
        uint32_t matrices, matrices_done;
        uint64_t bytes;                /* of the packed copies, all of them */
        double seconds;                /* from start to the last matrix published */
} WeightPackerProgress;

WeightPackerProgress weight_packer_progress(WeightPacker *p);

/* Waits until every matrix is published. */
void weight_packer_wait(WeightPacker *p);

/* Stops the thread, takes every published copy back from its Tensor (packed = NULL) and frees the
 * copies. No matmul() may be reading them meanwhile. */
WeightPacker *weight_packer_free(WeightPacker *p);
