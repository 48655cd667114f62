/* Dot-kernel throughput on one core, on E2B-like shapes: every row of the kernel table this
 * machine can run, over a whole 8192-row matrix with rows of n = 2048 and 8192 values (the
 * attention/FFN projections of Gemma 3n E2B). Prints the weight bytes read per second and the
 * ratio to the scalar row of the same type, measured in the same run.
 *
 *   bench-dot [SUBSTRING]     only rows whose name contains SUBSTRING (their scalar row still runs)
 *
 * Then the tile kernels: every row with one, over TILE_TOKENS tokens (a prompt), as matmul()
 * runs them (tiles where they fit, one (row, token) at a time for the rest) against one dot per
 * (row, token), on the same matrix in the same run.
 *
 * Then matmul() itself on MATMUL_THREADS threads, for every type with more than one row that has
 * a tile: each such row forced in turn (matmul given just its CPU features), on 2048 x 8192 and
 * 8192 x 2048 matrices (outputs x inputs) at 1, 2, 3, 4, 16 and 64 tokens, the rows timed in
 * alternation; the ratio is the type's last tile row's time over each row's.
 *
 *   bench-dot --matmul [SUBSTRING]   only that part (SUBSTRING: of the type's first row's name)
 *
 * Registered in the 'bench' suite (meson test -C build --suite bench bench-dot -v), not run by a
 * plain `meson test`. Numbers from a sanitizer or unoptimised build say little; it says so. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/macro.h"
#include "cpu/cpu-features.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "tensor/fp16.h"
#include "tensor/type-traits.h"

#define N_ROWS 8192
#define MIN_SECONDS 0.25
#define MIN_REPS 3
#define TILE_MATRIX_ROWS 1024
#define TILE_TOKENS 64

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void) {   /* xorshift64* */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

static float frand(void) {   /* uniform in [-1, 1) */
        return (float) ((double) (rng_next() >> 40) * (1.0 / 8388608.0) - 1.0);
}

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* A weight matrix of `type`: floats for the float types, otherwise random quants with modest
 * scales (what the values are does not change the work done). */
static uint8_t *make_matrix(uint32_t type, size_t n, size_t *ret_bytes) {
        const TypeTraits *tt = type_traits(type);
        const size_t row = n / tt->block_elems * tt->block_bytes, bytes = row * N_ROWS;
        uint8_t *m = malloc(bytes);
        if (!m)
                return NULL;
        if (tt->block_elems == 1) {
                float v[256];
                for (size_t i = 0; i < (size_t) N_ROWS * n; i += 256) {
                        for (size_t j = 0; j < 256; j++)
                                v[j] = frand();
                        tt->quantize_ref(v, m + i * tt->block_bytes, 256);
                }
        } else {
                for (size_t i = 0; i < bytes; i += 8) {
                        uint64_t r = rng_next();
                        memcpy(m + i, &r, MIN((size_t) 8, bytes - i));
                }
                const uint16_t d = f32_to_f16(0.01f);
                const float df = 0.01f;
                for (size_t b = 0; b < bytes / tt->block_bytes; b++) {
                        uint8_t *blk = m + b * tt->block_bytes;
                        if (type == GGML_TYPE_Q6_K)
                                memcpy(blk + 208, &d, 2);
                        else if (type == GGML_TYPE_Q8_K)
                                memcpy(blk, &df, 4);
                        else {
                                memcpy(blk, &d, 2);
                                if (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1 || type == GGML_TYPE_Q4_K ||
                                    type == GGML_TYPE_Q5_K)
                                        memcpy(blk + 2, &d, 2);
                        }
                }
        }
        *ret_bytes = bytes;
        return m;
}

/* Seconds for one pass over the matrix: the best of at least MIN_REPS passes and MIN_SECONDS,
 * after one pass to warm the caches and fault the pages in. */
static double time_row(const DotKernel *k, const uint8_t *m, size_t row_bytes, size_t n, const void *act, float *y) {
        double best = 1e30, total = 0;
        for (int rep = -1; rep < MIN_REPS || total < MIN_SECONDS; rep++) {
                const double t0 = now();
                for (size_t r = 0; r < N_ROWS; r++)
                        k->dot(n, m + r * row_bytes, act, &y[r]);
                const double t = now() - t0;
                if (rep >= 0) {
                        best = MIN(best, t);
                        total += t;
                }
        }
        return best;
}

static volatile float sink;

static int bench_type(uint32_t type, size_t n, const char *filter) {
        size_t n_rows, w_bytes;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        const uint32_t have = cpu_features_get();
        const DotKernel *scalar = dot_kernel_find(type, 0);
        bool any = false;

        for (size_t r = 0; r < n_rows; r++)
                if (rows[r].weight_type == type && (rows[r].cpu_features & ~have) == 0 &&
                    (!filter || strstr(rows[r].name, filter)))
                        any = true;
        if (!any)
                return 0;

        uint8_t *m = make_matrix(type, n, &w_bytes);
        float *x = malloc(n * sizeof(float)), *y = malloc(N_ROWS * sizeof(float));
        const ActFormatInfo a = act_format_info(scalar->act, have);
        void *act = malloc(act_bytes(&a, n));
        if (!m || !x || !y || !act) {
                fprintf(stderr, "out of memory for %s n=%zu\n", type_name(type), n);
                free(m), free(x), free(y), free(act);
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                x[i] = frand();
        if (a.quantize)
                a.quantize(x, act, n);
        else
                memcpy(act, x, n * sizeof(float));

        const size_t row_bytes = w_bytes / N_ROWS;
        const double t_scalar = time_row(scalar, m, row_bytes, n, act, y);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                if (k->weight_type != type || (k->cpu_features & ~have) != 0)
                        continue;
                if (filter && !strstr(k->name, filter) && k != scalar)
                        continue;
                const double t = k == scalar ? t_scalar : time_row(k, m, row_bytes, n, act, y);
                printf("%-20s %5zu x %4d  %8.1f MB  %9.3f ms  %7.2f GB/s  %6.2fx scalar\n", k->name, n, N_ROWS,
                       (double) w_bytes / 1e6, t * 1e3, (double) w_bytes / t / 1e9, t_scalar / t);
                sink = y[0] + y[N_ROWS - 1];
        }
        free(m), free(x), free(y), free(act);
        return 0;
}

/* One pass of a TILE_MATRIX_ROWS-row matrix over TILE_TOKENS tokens, as matmul_part() does it:
 * with the tile kernel (tiled = true) or one dot per (row, token). */
static void tokens_pass(const DotKernel *k, bool tiled, const uint8_t *m, size_t row_bytes, size_t n,
                        const uint8_t *act, size_t act_stride, float *y) {
        size_t o = 0;
        if (tiled)
                for (; o + k->tile_rows <= TILE_MATRIX_ROWS; o += k->tile_rows) {
                        const uint8_t *next = o + 2 * k->tile_rows <= TILE_MATRIX_ROWS ? m + (o + k->tile_rows) * row_bytes
                                                                                        : NULL;
                        for (size_t t = 0; t < TILE_TOKENS; t += k->tile_tokens)
                                k->tile(n, m + o * row_bytes, row_bytes, t == 0 ? next : NULL, act + t * act_stride,
                                        act_stride, MIN((size_t) k->tile_tokens, TILE_TOKENS - t),
                                        &y[t * TILE_MATRIX_ROWS + o], TILE_MATRIX_ROWS);
                }
        for (; o < TILE_MATRIX_ROWS; o++)
                for (size_t t = 0; t < TILE_TOKENS; t++)
                        k->dot(n, m + o * row_bytes, act + t * act_stride, &y[t * TILE_MATRIX_ROWS + o]);
}

static double time_tokens(const DotKernel *k, bool tiled, const uint8_t *m, size_t row_bytes, size_t n,
                          const uint8_t *act, size_t act_stride, float *y) {
        double best = 1e30, total = 0;
        for (int rep = -1; rep < MIN_REPS || total < MIN_SECONDS; rep++) {
                const double t0 = now();
                tokens_pass(k, tiled, m, row_bytes, n, act, act_stride, y);
                const double t = now() - t0;
                if (rep >= 0) {
                        best = MIN(best, t);
                        total += t;
                }
        }
        return best;
}

static int bench_tiles(const DotKernel *k, size_t n) {
        const TypeTraits *tt = type_traits(k->weight_type);
        const ActFormatInfo a = act_format_info(k->act, cpu_features_get());
        const size_t row_bytes = n / tt->block_elems * tt->block_bytes, act_stride = act_bytes(&a, n);
        size_t w_bytes;
        uint8_t *m = make_matrix(k->weight_type, n, &w_bytes);   /* N_ROWS rows; the first TILE_MATRIX_ROWS used */
        uint8_t *act = malloc(act_stride * TILE_TOKENS);
        float *x = malloc(n * sizeof(float)), *y = malloc(TILE_MATRIX_ROWS * TILE_TOKENS * sizeof(float));
        float *y_tiled = malloc(TILE_MATRIX_ROWS * TILE_TOKENS * sizeof(float));
        if (!m || !act || !x || !y || !y_tiled) {
                fprintf(stderr, "out of memory for %s n=%zu\n", k->name, n);
                free(m), free(act), free(x), free(y), free(y_tiled);
                return -1;
        }
        for (size_t t = 0; t < TILE_TOKENS; t++) {
                for (size_t i = 0; i < n; i++)
                        x[i] = frand();
                if (a.quantize)
                        a.quantize(x, act + t * act_stride, n);
                else
                        memcpy(act + t * act_stride, x, n * sizeof(float));
        }
        double t_dot = 1e30, t_tile = 1e30;
        for (int round = 0; round < 2; round++) {   /* interleaved, so that a slow spell hits both */
                t_dot = MIN(t_dot, time_tokens(k, false, m, row_bytes, n, act, act_stride, y));
                t_tile = MIN(t_tile, time_tokens(k, true, m, row_bytes, n, act, act_stride, y_tiled));
        }
        const double macs = (double) TILE_MATRIX_ROWS * TILE_TOKENS * (double) n;
        printf("%-20s %5zu x %4d x %2d tok  tile %ux%-2u  %8.3f ms  %6.1f GMAC/s  %5.2fx one dot per (row, token)%s\n",
               k->name, n, TILE_MATRIX_ROWS, TILE_TOKENS, k->tile_rows, MIN(k->tile_tokens, (uint32_t) TILE_TOKENS),
               t_tile * 1e3, macs / t_tile / 1e9,
               t_dot / t_tile,
               memcmp(y, y_tiled, TILE_MATRIX_ROWS * TILE_TOKENS * sizeof(float)) == 0 ? "" : "  RESULTS DIFFER");
        sink = y_tiled[0];
        free(m), free(act), free(x), free(y), free(y_tiled);
        return 0;
}

#define MATMUL_THREADS 2
#define MATMUL_ROUNDS 3
#define MATMUL_SECONDS 0.05

/* Seconds for one matmul of n_tokens tokens: the best of MATMUL_SECONDS' worth of calls. */
static double time_matmul(CpuCompute *c, const Tensor *w, size_t n_out, size_t n_in, const float *x, float *y,
                          size_t n_tokens) {
        double best = 1e30, total = 0;
        for (int rep = -1; rep < 2 || total < MATMUL_SECONDS; rep++) {
                const double t0 = now();
                matmul(c, w, n_out, n_in, x, n_in, y, n_out, n_tokens);
                const double t = now() - t0;
                if (rep >= 0) {
                        best = MIN(best, t);
                        total += t;
                }
        }
        return best;
}

static int bench_matmul_type(uint32_t type, const char *filter) {
        static const size_t tokens[] = { 1, 2, 3, 4, 16, 64 };
        static const size_t shapes[][2] = { { 2048, 8192 }, { 8192, 2048 } };   /* outputs x inputs */
        enum { MAX_KERNELS = 4 };
        const uint32_t have = cpu_features_get();
        const DotKernel *ks[MAX_KERNELS];
        size_t n_rows, n_ks = 0;
        const DotKernel *rows = dot_kernel_table(&n_rows);

        for (size_t r = 0; r < n_rows && n_ks < MAX_KERNELS; r++)
                if (rows[r].weight_type == type && rows[r].tile && (rows[r].cpu_features & ~have) == 0 &&
                    dot_kernel_find(type, rows[r].cpu_features) == &rows[r])
                        ks[n_ks++] = &rows[r];
        if (n_ks < 2 || (filter && !strstr(ks[0]->name, filter)))
                return 0;

        _cleanup_(cpu_compute_freep) CpuCompute *c = NULL;
        GemmaError err = {};
        if (cpu_compute_new(MATMUL_THREADS, &c, &err) < 0) {
                fprintf(stderr, "cpu_compute_new: %s\n", gemma_error_message(&err));
                return -1;
        }
        for (size_t s = 0; s < ELEMENTSOF(shapes); s++) {
                const size_t n_out = shapes[s][0], n_in = shapes[s][1], max_tokens = tokens[ELEMENTSOF(tokens) - 1];
                size_t w_bytes;
                uint8_t *m = make_matrix(type, n_in, &w_bytes);   /* N_ROWS rows: n_out of them used */
                float *x = malloc(max_tokens * n_in * sizeof(float)), *y = malloc(max_tokens * n_out * sizeof(float));
                if (!m || !x || !y) {
                        fprintf(stderr, "out of memory for %s %zu x %zu\n", type_name(type), n_out, n_in);
                        free(m), free(x), free(y);
                        return -1;
                }
                for (size_t i = 0; i < max_tokens * n_in; i++)
                        x[i] = frand();
                const Tensor w = { .name = "bench", .type = type, .ne = { n_in, N_ROWS, 1, 1 },
                                   .row_bytes = w_bytes / N_ROWS, .data = m };
                for (size_t t = 0; t < ELEMENTSOF(tokens); t++) {
                        double best[MAX_KERNELS];
                        for (size_t i = 0; i < n_ks; i++)
                                best[i] = 1e30;
                        for (int round = 0; round < MATMUL_ROUNDS; round++)   /* alternating: a slow spell hits all */
                                for (size_t i = 0; i < n_ks; i++) {
                                        c->features = ks[i]->cpu_features;
                                        best[i] = MIN(best[i], time_matmul(c, &w, n_out, n_in, x, y, tokens[t]));
                                }
                        for (size_t i = 0; i < n_ks; i++)
                                printf("%-22s %5zu x %5zu x %2zu tok  %9.3f ms  %7.1f GMAC/s  %5.2fx %s\n", ks[i]->name,
                                       n_out, n_in, tokens[t], best[i] * 1e3,
                                       (double) n_out * (double) n_in * (double) tokens[t] / best[i] / 1e9,
                                       best[n_ks - 1] / best[i], ks[n_ks - 1]->name);
                }
                sink = y[0];
                free(m), free(x), free(y);
        }
        return 0;
}

/* The one-thread part: every row over whole matrices, then the tiles against one dot per (row, token). */
static int bench_rows(const char *filter) {
        size_t n_rows;
        const DotKernel *rows = dot_kernel_table(&n_rows);
        uint32_t done[64];
        size_t n_done = 0;

        printf("%-20s %12s  %11s  %12s  %12s  %s\n", "row", "n x rows", "weights", "per matrix", "weight rate", "ratio");
        /* types in the order they first appear in the table (fastest rows first) */
        for (size_t r = 0; r < n_rows; r++) {
                bool seen = false;
                for (size_t i = 0; i < n_done; i++)
                        seen = seen || done[i] == rows[r].weight_type;
                if (seen || n_done == ELEMENTSOF(done))
                        continue;
                done[n_done++] = rows[r].weight_type;
                for (size_t n = 2048; n <= 8192; n *= 4)
                        if (bench_type(rows[r].weight_type, n, filter) < 0)
                                return -1;
        }
        printf("\ntile kernels, %d tokens at once:\n", TILE_TOKENS);
        for (size_t r = 0; r < n_rows; r++) {
                const DotKernel *k = &rows[r];
                if (!k->tile || (k->cpu_features & ~cpu_features_get()) != 0 || (filter && !strstr(k->name, filter)))
                        continue;
                for (size_t n = 2048; n <= 8192; n *= 4)
                        if (bench_tiles(k, n) < 0)
                                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        const bool matmul_only = argc > 1 && strcmp(argv[1], "--matmul") == 0;
        const char *filter = argc > 1 + matmul_only ? argv[1 + matmul_only] : NULL;
        char feat[128];

        cpu_features_describe(cpu_features_get(), feat, sizeof(feat));
        printf("bench-dot: one thread, %d rows per matrix; cpu features: %s\n", N_ROWS, feat);
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
        printf("warning: built with AddressSanitizer or without optimisation: the numbers mean little\n");
#endif
        if (!matmul_only && bench_rows(filter) < 0)
                return EXIT_FAILURE;
        printf("\nmatmul on %d threads, each tile row forced in turn:\n", MATMUL_THREADS);
        for (uint32_t type = 0; type < _GGML_TYPE_MAX; type++)
                if (type_traits(type) && bench_matmul_type(type, filter) < 0)
                        return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
