/* gemma-model bench: prompt-processing and generation speed, set against what this machine's
 * memory bandwidth allows for decoding. All figures come from one run, so their ratios hold even
 * on a noisy machine. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "cpu/cpu-features.h"
#include "cpu/matmul.h"
#include "gemma3n/forward.h"
#include "gemma3n/matformer.h"
#include "tool-backend.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model bench MODEL [OPTIONS]\n"
              "\n"
              "Measure prompt processing (pp) and token generation (tg) in tokens per second, this\n"
              "machine's memory bandwidth (a STREAM-style triad on the same threads), the weight bytes\n"
              "one decode step must read, and so the decode bound in tokens per second and how close\n"
              "generation comes to it. Prompt processing is also measured with Gemma 3n's prefill\n"
              "saving turned off (every layer for every prompt token) to show what it saves.\n"
              "\n"
              "Options:\n"
              "  -p, --prompt N     prompt tokens [512]\n"
              "  -n, --generate N   generated tokens [128]\n"
              "  -r, --repeat N     repetitions of each measurement; median and spread reported [3]\n"
              "  -t, --threads N    compute threads [one per physical core]\n"
              "  --ffn-units K      MatFormer slice: every layer uses its first K FFN units\n"
              "  --slice NAME|SPEC  MatFormer slice: a preset or a spec ('gemma-model slice --help')\n"
              TOOL_BACKEND_HELP
              "  --json             one JSON object on stdout (keys: pp_tps, pp_full_tps, tg_tps,\n"
              "                     bandwidth_gbs, decode_bytes, decode_bound_tps, tg_fraction_of_bound,\n"
              "                     read_bandwidth_gbs, decode_bound_read_tps,\n"
              "                     spreads, threads, kernels, backend, device_layers,\n"
              "                     device_bytes, host_bytes, packed_matrices, packed_bytes,\n"
              "                     packed_seconds)\n"
              "  -h, --help         show this help\n"
              "\n"
              "Exit status: 0 success, 1 invalid model or failure, 2 bad command line.\n",
              out);
}

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* Median, and the spread (max - min) relative to the median. */
static void summarize(double *v, size_t n, double *ret_median, double *ret_spread) {
        qsort(v, n, sizeof(double), cmp_double);
        *ret_median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        *ret_spread = *ret_median > 0 ? (v[n - 1] - v[0]) / *ret_median : 0;
}

/* ---- Memory bandwidth: a[i] = b[i] + s * c[i], split across the compute threads ------------- */

typedef struct Triad {
        float *a, *b, *c;
        size_t n;
        float partial[1024];   /* per part, for the read-only sweep */
} Triad;

static void triad_part(void *userdata, uint32_t part, uint32_t n_parts) {
        Triad *t = userdata;
        size_t begin = t->n * part / n_parts, end = t->n * (part + 1) / n_parts;
        for (size_t i = begin; i < end; i++)
                t->a[i] = t->b[i] + 3.0f * t->c[i];
}

static void init_part(void *userdata, uint32_t part, uint32_t n_parts) {
        Triad *t = userdata;
        size_t begin = t->n * part / n_parts, end = t->n * (part + 1) / n_parts;
        for (size_t i = begin; i < end; i++) {
                t->a[i] = 0.0f;
                t->b[i] = 1.0f;
                t->c[i] = 2.0f;
        }
}

/* A read-only sweep (what a decode step does to the weights): XOR of b's 64-bit words, which the
 * compiler vectorises, so the loop is limited by memory and not by the adds. */
static void read_part(void *userdata, uint32_t part, uint32_t n_parts) {
        Triad *t = userdata;
        const uint64_t *w = (const uint64_t *) (void *) t->b;
        size_t n = t->n / 2, begin = n * part / n_parts, end = n * (part + 1) / n_parts;
        uint64_t x = 0;
        for (size_t i = begin; i < end; i++)
                x ^= w[i];
        t->partial[part % 1024] = (float) (x & 1);
}

/* Best of 8 of the triad (STREAM convention: 3 arrays counted) and of the read-only sweep. */
static void measure_bandwidth_gbs(ThreadPool *pool, double *ret_triad, double *ret_read) {
        const size_t n = 64u << 20 >> 2;   /* 64 MiB per array: far beyond any cache */
        Triad *t = calloc(1, sizeof(Triad));
        double best = 0, best_read = 0;
        if (t && (t->n = n, t->a = malloc_multiply(n, 4)) && (t->b = malloc_multiply(n, 4)) && (t->c = malloc_multiply(n, 4))) {
                threadpool_run(pool, init_part, t);   /* first touch on the threads that use it */
                for (int rep = 0; rep < 8; rep++) {
                        double t0 = now_sec();
                        threadpool_run(pool, triad_part, t);
                        double dt = now_sec() - t0;
                        best = fmax(best, 3.0 * (double) n * sizeof(float) / dt / 1e9);
                        t0 = now_sec();
                        threadpool_run(pool, read_part, t);
                        dt = now_sec() - t0;
                        best_read = fmax(best_read, (double) n * sizeof(float) / dt / 1e9);
                }
        }
        if (t) {
                free(t->a);
                free(t->b);
                free(t->c);
                free(t);
        }
        *ret_triad = best;
        *ret_read = best_read;
}

/* ---- Timed runs -------------------------------------------------------------------------------- */

static int time_prefill(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice, const int32_t *tokens,
                        uint32_t n, bool full, float *logits, double *ret_sec, GemmaError *err) {
        _cleanup_(kv_cache_freep) KvCache *kv = NULL;
        int k = gemma3n_kv_cache_new(m, n, 512, &kv, err);
        if (k < 0)
                return k;
        Gemma3nBatch b = { .n_tokens = n, .tokens = tokens, .full_prefill = full };
        double t0 = now_sec();
        if ((k = gemma3n_forward(m, c, slice, kv, &b, logits, err)) < 0)
                return k;
        *ret_sec = now_sec() - t0;
        return 0;
}

static int time_decode(const Gemma3nModel *m, CpuCompute *c, const Gemma3nSlice *slice, const int32_t *tokens,
                       uint32_t n, float *logits, double *ret_sec, GemmaError *err) {
        _cleanup_(kv_cache_freep) KvCache *kv = NULL;
        int k = gemma3n_kv_cache_new(m, n + 1, 1, &kv, err);
        if (k < 0)
                return k;
        Gemma3nBatch b = { .n_tokens = 1, .tokens = tokens };
        if ((k = gemma3n_forward(m, c, slice, kv, &b, logits, err)) < 0)   /* BOS, not timed */
                return k;
        double t0 = now_sec();
        for (uint32_t i = 1; i <= n; i++) {
                b.tokens = tokens + i;
                if ((k = gemma3n_forward(m, c, slice, kv, &b, logits, err)) < 0)
                        return k;
        }
        *ret_sec = now_sec() - t0;
        return 0;
}

int cmd_bench(int argc, char **argv) {
        enum { OPT_JSON = 0x100, OPT_FFN_UNITS, OPT_SLICE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "prompt", required_argument, NULL, 'p' },
                { "generate", required_argument, NULL, 'n' },
                { "repeat", required_argument, NULL, 'r' },
                { "threads", required_argument, NULL, 't' },
                { "ffn-units", required_argument, NULL, OPT_FFN_UNITS },
                { "slice", required_argument, NULL, OPT_SLICE },
                { "json", no_argument, NULL, OPT_JSON },
                TOOL_BACKEND_OPTIONS,
                {},
        };
        ToolBackend backend;
        AccelReport placement;
        tool_backend_init(&backend);
        _cleanup_(gemma3n_model_freep) Gemma3nModel *m = NULL;
        _cleanup_(cpu_compute_freep) CpuCompute *compute = NULL;
        _cleanup_free_ int32_t *tokens = NULL;
        _cleanup_free_ float *logits = NULL;
        uint32_t n_prompt = 512, n_gen = 128, reps = 3, n_threads = 0, ffn_units = 0;
        bool json = false;
        const char *slice_arg = NULL;
        GemmaError err = { 0 };
        Gemma3nSlice slice;
        int c, k = 0;

        while (k == 0 && (c = getopt_long(argc, argv, "hp:n:r:t:", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case 'p': k = parse_u32("--prompt", optarg, 1, 1u << 20, &n_prompt); break;
                case 'n': k = parse_u32("--generate", optarg, 1, 1u << 20, &n_gen); break;
                case 'r': k = parse_u32("--repeat", optarg, 1, 1000, &reps); break;
                case 't': k = parse_u32("--threads", optarg, 1, 1024, &n_threads); break;
                case OPT_FFN_UNITS: k = parse_u32("--ffn-units", optarg, 1, UINT32_MAX, &ffn_units); break;
                case OPT_SLICE: slice_arg = optarg; break;
                case OPT_JSON: json = true; break;
                default:
                        if ((k = tool_backend_option(&backend, c, optarg)) == 0)
                                return EXIT_USAGE;
                        k = k < 0 ? k : 0;
                        break;
                }
        if (k < 0)
                return EXIT_USAGE;
        if (optind + 1 != argc) {
                usage_error("bench: expected exactly one MODEL argument");
                return EXIT_USAGE;
        }
        if (ffn_units && slice_arg) {
                usage_error("bench: --ffn-units and --slice cannot be combined");
                return EXIT_USAGE;
        }

        if (gemma3n_model_load(argv[optind], &m, &err) < 0 || cpu_compute_new(n_threads, &compute, &err) < 0)
                goto fail;
        tool_backend_attach(m, &backend, compute->features, &placement);
        if (slice_from_options(m, ffn_units, slice_arg, &slice, &err) < 0)
                goto fail;

        const uint32_t V = m->hp.n_vocab, n_tok = MAX(n_prompt, n_gen + 1);
        tokens = malloc_multiply(n_tok, sizeof(int32_t));
        logits = malloc_multiply(V, sizeof(float));
        if (!tokens || !logits) {
                fprintf(stderr, "gemma-model: out of memory\n");
                return EXIT_FAILED;
        }
        uint64_t state = 12345;
        for (uint32_t i = 0; i < n_tok; i++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                tokens[i] = (int32_t) ((state >> 33) % V);
        }
        tokens[0] = 2;

        /* timed once the packed copies are all there: what a daemon runs a few seconds after start */
        gemma3n_model_wait_packed(m);
        const WeightPackerProgress packed = gemma3n_model_pack_progress(m);

        double bandwidth, read_bandwidth;
        measure_bandwidth_gbs(compute->pool, &bandwidth, &read_bandwidth);
        const uint64_t decode_bytes = gemma3n_slice_weight_bytes(m, &slice);
        double *pp = calloc(reps, sizeof(double)), *pp_full = calloc(reps, sizeof(double)), *tg = calloc(reps, sizeof(double));
        if (!pp || !pp_full || !tg) {
                free(pp), free(pp_full), free(tg);
                fprintf(stderr, "gemma-model: out of memory\n");
                return EXIT_FAILED;
        }
        /* Warm-up, not timed: faults the mapped weights in and settles the thread pool, so the
         * first repetition measures the same thing as the others. */
        {
                double sec;
                if (time_prefill(m, compute, &slice, tokens, MIN(n_prompt, 8u), true, logits, &sec, &err) < 0)
                        goto fail_free;
        }
        for (uint32_t r = 0; r < reps; r++) {
                double sec;
                if (time_prefill(m, compute, &slice, tokens, n_prompt, false, logits, &sec, &err) < 0)
                        goto fail_free;
                pp[r] = n_prompt / sec;
                if (time_prefill(m, compute, &slice, tokens, n_prompt, true, logits, &sec, &err) < 0)
                        goto fail_free;
                pp_full[r] = n_prompt / sec;
                if (time_decode(m, compute, &slice, tokens, n_gen, logits, &sec, &err) < 0)
                        goto fail_free;
                tg[r] = n_gen / sec;
                if (!json)
                        fprintf(stderr, "repetition %u/%u: pp %.2f t/s (without prefill saving %.2f), tg %.2f t/s\n", r + 1,
                                reps, pp[r], pp_full[r], tg[r]);
        }
        double pp_med, pp_spread, ppf_med, ppf_spread, tg_med, tg_spread;
        summarize(pp, reps, &pp_med, &pp_spread);
        summarize(pp_full, reps, &ppf_med, &ppf_spread);
        summarize(tg, reps, &tg_med, &tg_spread);
        free(pp), free(pp_full), free(tg);

        const double bound = bandwidth * 1e9 / (double) decode_bytes;
        const double bound_read = read_bandwidth * 1e9 / (double) decode_bytes;
        const uint32_t threads = threadpool_size(compute->pool);
        char features[128];
        cpu_features_describe(compute->features, features, sizeof(features));
        const uint32_t wtype = m->w.layers[0].ffn_gate.type;
        if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "model", json_object_new_string(argv[optind]));
                json_object_object_add(o, "threads", json_object_new_int((int) threads));
                json_object_object_add(o, "n_prompt", json_object_new_int((int) n_prompt));
                json_object_object_add(o, "n_generate", json_object_new_int((int) n_gen));
                json_object_object_add(o, "repetitions", json_object_new_int((int) reps));
                json_object_object_add(o, "pp_tps", json_object_new_double(pp_med));
                json_object_object_add(o, "pp_spread", json_object_new_double(pp_spread));
                json_object_object_add(o, "pp_full_tps", json_object_new_double(ppf_med));
                json_object_object_add(o, "pp_full_spread", json_object_new_double(ppf_spread));
                json_object_object_add(o, "tg_tps", json_object_new_double(tg_med));
                json_object_object_add(o, "tg_spread", json_object_new_double(tg_spread));
                json_object_object_add(o, "bandwidth_gbs", json_object_new_double(bandwidth));
                json_object_object_add(o, "decode_bytes", json_object_new_int64((int64_t) decode_bytes));
                json_object_object_add(o, "decode_bound_tps", json_object_new_double(bound));
                json_object_object_add(o, "tg_fraction_of_bound", json_object_new_double(tg_med / bound));
                json_object_object_add(o, "read_bandwidth_gbs", json_object_new_double(read_bandwidth));
                json_object_object_add(o, "decode_bound_read_tps", json_object_new_double(bound_read));
                json_object_object_add(o, "tg_fraction_of_read_bound", json_object_new_double(tg_med / bound_read));
                json_object_object_add(o, "cpu_features", json_object_new_string(features));
                json_object_object_add(o, "ffn_kernel", json_object_new_string(matmul_kernel_name(wtype, compute->features)));
                json_object_object_add(o, "backend", json_object_new_string(placement.active));
                json_object_object_add(o, "device_layers", json_object_new_int((int) placement.device_layers));
                json_object_object_add(o, "device_bytes", json_object_new_int64((int64_t) placement.device_bytes));
                json_object_object_add(o, "host_bytes", json_object_new_int64((int64_t) placement.host_bytes));
                json_object_object_add(o, "packed_matrices", json_object_new_int((int) packed.matrices));
                json_object_object_add(o, "packed_bytes", json_object_new_int64((int64_t) packed.bytes));
                json_object_object_add(o, "packed_seconds", json_object_new_double(packed.seconds));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else {
                printf("model:               %s\n", argv[optind]);
                printf("threads:             %u (cpu features: %s; ffn kernel: %s)\n", threads, features,
                       matmul_kernel_name(wtype, compute->features));
                printf("backend:             %s (%u layers on the device)\n", placement.active,
                       placement.device_layers);
                if (packed.matrices > 0)
                        printf("packed weights:      %u matrices, %.0f MiB, packed in %.2f s after load\n",
                               packed.matrices, (double) packed.bytes / (1 << 20), packed.seconds);
                else
                        printf("packed weights:      none (%s)\n",
                               backend.no_pack ? "--no-pack" : "no packed kernel for these types here");
                printf("prompt (pp%u):       %10.2f tokens/s  (spread %.0f %%)\n", n_prompt, pp_med, 100 * pp_spread);
                printf("  without saving:    %10.2f tokens/s  (prefill saving: %.2fx)\n", ppf_med, pp_med / ppf_med);
                printf("generation (tg%u):   %10.2f tokens/s  (spread %.0f %%)\n", n_gen, tg_med, 100 * tg_spread);
                printf("memory bandwidth:    %10.2f GB/s (triad, %u threads)\n", bandwidth, threads);
                printf("decode reads:        %10.1f MiB of weights per token\n", (double) decode_bytes / (1 << 20));
                printf("decode bound:        %10.2f tokens/s; generation reaches %.1f %% of it\n", bound,
                       100 * tg_med / bound);
                printf("read-only sweep:     %10.2f GB/s -> bound %.2f tokens/s; generation reaches %.1f %% of it\n",
                       read_bandwidth, bound_read, 100 * tg_med / bound_read);
        }
        return EXIT_OK;

fail_free:
        free(pp), free(pp_full), free(tg);
fail:
        fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
        return EXIT_FAILED;
}
