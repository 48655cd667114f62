/* Benchmark of the MatFormer slices the daemon switches between (full, ffn-75, ffn-50): decode
 * tokens/s of each and the weight bytes one token reads, as ratios to the full model measured in
 * the same run, and the cost of a switch — recomputing a 2048-token context with the new slice.
 * Usage: bench-slices MODEL.gguf [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/matmul.h"
#include "gemma3n/forward.h"
#include "gemma3n/model.h"

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Every layer's FFN at percent of its units, whole blocks of 256 (or 32). */
static int proportional(const Gemma3nModel *m, uint32_t percent, Gemma3nSlice *ret) {
        gemma3n_slice_full(m, ret);
        for (uint32_t l = 0; l < m->hp.n_layer; l++) {
                uint32_t want = (uint32_t) ((uint64_t) m->hp.n_ff[l] * percent / 100);
                uint32_t units = want / 256 * 256;
                ret->ffn_units[l] = units > 0 ? units : want / 32 * 32;
        }
        return gemma3n_slice_validate(m, ret, NULL);
}

/* Weight bytes one decode token reads: every matrix the layers use (FFN rows/columns cut to the
 * slice), the LM head, one row of each embedding table. */
static double bytes_per_token(const Gemma3nModel *m, const Gemma3nSlice *s) {
        double total = 0;
        const GgufFile *f = m->file;
        for (size_t i = 0; i < f->n_tensors; i++) {
                const GgufTensor *t = &f->tensors[i];
                double bytes = (double) t->n_bytes;
                if (strstr(t->name, "token_embd") && !strstr(t->name, "per_layer"))
                        ;   /* the tied LM head reads all of it */
                else if (strstr(t->name, "per_layer_token_embd"))
                        bytes = bytes / (double) t->ne[1];   /* one row */
                else if (strstr(t->name, "ffn_gate") || strstr(t->name, "ffn_up") || strstr(t->name, "ffn_down")) {
                        unsigned l = 0;
                        if (sscanf(t->name, "blk.%u.", &l) == 1 && l < m->hp.n_layer)
                                bytes *= (double) s->ffn_units[l] / m->hp.n_ff[l];
                }
                total += bytes;
        }
        return total;
}

static double decode_tps(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *s, uint32_t n) {
        KvCache *kv = NULL;
        GemmaError err = {};
        float *logits = malloc(m->hp.n_vocab * sizeof(float));
        if (!logits || gemma3n_kv_cache_new(m, n + 8, 8, &kv, &err) < 0) {
                fprintf(stderr, "bench-slices: %s\n", err.message);
                exit(1);
        }
        int32_t tok = 2;
        Gemma3nBatch b = { .n_tokens = 1, .tokens = &tok };
        gemma3n_forward(m, c, s, kv, &b, logits, &err);   /* warm-up */
        double t0 = now_sec();
        for (uint32_t i = 0; i < n; i++) {
                tok = 1000 + (int32_t) (i * 7919 % 5000);
                if (gemma3n_forward(m, c, s, kv, &b, logits, &err) < 0) {
                        fprintf(stderr, "bench-slices: %s\n", err.message);
                        exit(1);
                }
        }
        double tps = n / (now_sec() - t0);
        kv_cache_free(kv);
        free(logits);
        return tps;
}

static double recompute_sec(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *s, uint32_t n) {
        KvCache *kv = NULL;
        GemmaError err = {};
        float *logits = malloc(m->hp.n_vocab * sizeof(float));
        int32_t *ids = malloc(n * sizeof(int32_t));
        if (!logits || !ids || gemma3n_kv_cache_new(m, n, 128, &kv, &err) < 0)
                exit(1);
        for (uint32_t i = 0; i < n; i++)
                ids[i] = 1000 + (int32_t) (i * 7919 % 5000);
        Gemma3nBatch b = { .n_tokens = n, .tokens = ids };
        double t0 = now_sec();
        if (gemma3n_forward(m, c, s, kv, &b, logits, &err) < 0) {
                fprintf(stderr, "bench-slices: %s\n", err.message);
                exit(1);
        }
        double dt = now_sec() - t0;
        kv_cache_free(kv);
        free(ids);
        free(logits);
        return dt;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "Usage: bench-slices MODEL.gguf [THREADS]\n");
                return 2;
        }
        GemmaError err = {};
        Gemma3nModel *m = NULL;
        CpuCompute *c = NULL;
        if (gemma3n_model_load(argv[1], &m, &err) < 0 ||
            cpu_compute_new(argc > 2 ? (uint32_t) atoi(argv[2]) : 0, &c, &err) < 0) {
                fprintf(stderr, "bench-slices: %s\n", err.message);
                return 1;
        }
        static const uint32_t percents[] = { 100, 75, 50 };
        double best[3] = { 0 };
        /* Three rounds over the slices in turn, best of each: a noisy machine slows a round, it
         * rarely speeds one up. */
        for (int round = 0; round < 3; round++)
                for (size_t i = 0; i < 3; i++) {
                        Gemma3nSlice s;
                        if (proportional(m, percents[i], &s) < 0)
                                continue;
                        double tps = decode_tps(m, c, &s, 24);
                        if (tps > best[i])
                                best[i] = tps;
                }
        double base_tps = 0, base_bytes = 0;
        printf("slice     decode t/s  (vs full)   weight MiB/token  (vs full)\n");
        for (size_t i = 0; i < 3; i++) {
                Gemma3nSlice s;
                if (proportional(m, percents[i], &s) < 0)
                        continue;
                double tps = best[i];
                double bytes = bytes_per_token(m, &s);
                if (i == 0) {
                        base_tps = tps;
                        base_bytes = bytes;
                }
                char name[16];
                snprintf(name, sizeof(name), percents[i] == 100 ? "full" : "ffn-%u", percents[i]);
                printf("%-8s  %9.2f   (%5.2fx)   %14.0f    (%5.2fx)\n", name, tps, tps / base_tps, bytes / 1048576.0,
                       bytes / base_bytes);
        }
        Gemma3nSlice half;
        proportional(m, 50, &half);
        double t = recompute_sec(m, c, &half, 2048);
        printf("\nswitching recomputes the context: 2048 tokens under ffn-50 took %.1f s (%.1f tokens/s)\n", t,
               2048 / t);
        cpu_compute_free(c);
        gemma3n_model_free(m);
        return 0;
}
