/* gemma-model eval: logits for a list of token ids, in one batch or one token at a time. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma3n/forward.h"
#include "tool-backend.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model eval MODEL --tokens LIST [--logits OUT.f32] [OPTIONS]\n"
              "\n"
              "Run the Gemma 3n decoder over token ids and write the logits of every position as\n"
              "float32, row-major [n_tokens x n_vocab], native byte order.\n"
              "\n"
              "Options:\n"
              "  --tokens LIST     comma-separated token ids, or @FILE holding them\n"
              "  --logits FILE     where to write the logits (omit to only print --top)\n"
              "  --decode          feed the tokens one at a time through the KV cache instead of one\n"
              "                    batch (must give the same logits)\n"
              "  --ubatch N        largest batch computed at once; longer inputs are split [512]\n"
              "  --ffn-units K     MatFormer slice: every layer uses its first K FFN units\n"
              "  --slice NAME|SPEC MatFormer slice: a preset or a spec ('gemma-model slice --help')\n"
              "  --threads N       compute threads [one per physical core]\n"
              TOOL_BACKEND_HELP
              "  --top             print the 5 most likely next tokens at every position\n"
              "  -h, --help        show this help\n"
              "\n"
              "Example: gemma-model eval model.gguf --tokens 2,17,99 --logits out.f32 --top\n"
              "\n"
              "Exit status: 0 success, 1 invalid model or evaluation error, 2 bad command line.\n",
              out);
}

static void print_top(const float *logits, uint32_t n_vocab, uint32_t pos) {
        uint32_t best[5];
        size_t n_best = 0;
        for (uint32_t i = 0; i < n_vocab; i++) {
                size_t j = n_best < 5 ? n_best++ : 5;
                if (j == 5 && logits[i] <= logits[best[4]])
                        continue;
                if (j == 5)
                        j = 4;
                while (j > 0 && logits[best[j - 1]] < logits[i]) {
                        best[j] = best[j - 1];
                        j--;
                }
                best[j] = i;
        }
        printf("%u:", pos);
        for (size_t j = 0; j < n_best; j++)
                printf(" %u(%.4f)", best[j], logits[best[j]]);
        printf("\n");
}

int cmd_eval(int argc, char **argv) {
        enum { OPT_TOKENS = 0x100, OPT_LOGITS, OPT_DECODE, OPT_FFN_UNITS, OPT_SLICE, OPT_TOP, OPT_UBATCH, OPT_THREADS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "tokens", required_argument, NULL, OPT_TOKENS },
                { "logits", required_argument, NULL, OPT_LOGITS },
                { "decode", no_argument, NULL, OPT_DECODE },
                { "ffn-units", required_argument, NULL, OPT_FFN_UNITS },
                { "slice", required_argument, NULL, OPT_SLICE },
                { "top", no_argument, NULL, OPT_TOP },
                { "ubatch", required_argument, NULL, OPT_UBATCH },
                { "threads", required_argument, NULL, OPT_THREADS },
                TOOL_BACKEND_OPTIONS,
                {},
        };
        ToolBackend backend;
        tool_backend_init(&backend);
        _cleanup_(gemma3n_model_freep) Gemma3nModel *m = NULL;
        _cleanup_(kv_cache_freep) KvCache *kv = NULL;
        _cleanup_(cpu_compute_freep) CpuCompute *compute = NULL;
        _cleanup_free_ int32_t *tokens = NULL;
        _cleanup_free_ float *logits = NULL;
        const char *tokens_arg = NULL, *logits_path = NULL, *slice_arg = NULL;
        uint32_t ffn_units = 0, ubatch = 512, n_threads = 0;
        bool decode = false, top = false;
        GemmaError err = { 0 };
        Gemma3nSlice slice;
        size_t n_tokens;
        int c, k = 0;

        while (k == 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_TOKENS: tokens_arg = optarg; break;
                case OPT_LOGITS: logits_path = optarg; break;
                case OPT_DECODE: decode = true; break;
                case OPT_FFN_UNITS: k = parse_u32("--ffn-units", optarg, 1, UINT32_MAX, &ffn_units); break;
                case OPT_SLICE: slice_arg = optarg; break;
                case OPT_TOP: top = true; break;
                case OPT_UBATCH: k = parse_u32("--ubatch", optarg, 1, 65536, &ubatch); break;
                case OPT_THREADS: k = parse_u32("--threads", optarg, 1, 1024, &n_threads); break;
                default:
                        if ((k = tool_backend_option(&backend, c, optarg)) == 0)
                                return EXIT_USAGE;
                        k = k < 0 ? k : 0;
                        break;
                }
        if (k < 0)
                return EXIT_USAGE;
        if (optind + 1 != argc) {
                usage_error("eval: expected exactly one MODEL argument");
                return EXIT_USAGE;
        }
        if (ffn_units && slice_arg) {
                usage_error("eval: --ffn-units and --slice cannot be combined");
                return EXIT_USAGE;
        }
        if (!tokens_arg) {
                usage_error("eval: --tokens is required");
                return EXIT_USAGE;
        }
        if (!logits_path && !top) {
                usage_error("eval: nothing to do: give --logits FILE and/or --top");
                return EXIT_USAGE;
        }
        if (parse_i32_list("--tokens", tokens_arg, &tokens, &n_tokens) < 0)
                return EXIT_USAGE;
        if (n_tokens > (1u << 20)) {
                usage_error("--tokens: %zu tokens is more than the limit of %u", n_tokens, 1u << 20);
                return EXIT_USAGE;
        }

        if (gemma3n_model_load(argv[optind], &m, &err) < 0 || cpu_compute_new(n_threads, &compute, &err) < 0)
                goto fail;
        tool_backend_attach(m, &backend, compute->features, NULL);
        if (slice_from_options(m, ffn_units, slice_arg, &slice, &err) < 0)
                goto fail;
        /* Shaped for the slice: a skipped layer that owns KV keeps nothing. */
        if (gemma3n_kv_cache_new_for_slice(m, &slice, (uint32_t) n_tokens, decode ? 1 : ubatch, &kv, &err) < 0)
                goto fail;

        const uint32_t V = m->hp.n_vocab;
        logits = calloc(n_tokens, (size_t) V * sizeof(float));
        if (!logits) {
                fprintf(stderr, "gemma-model: out of memory for %zu x %u logits\n", n_tokens, V);
                return EXIT_FAILED;
        }
        if (decode) {
                for (size_t t = 0; t < n_tokens; t++) {
                        Gemma3nBatch b = { .n_tokens = 1, .tokens = tokens + t, .logits_all = true };
                        if (gemma3n_forward(m, compute, &slice, kv, &b, logits + t * V, &err) < 0)
                                goto fail;
                }
        } else {
                Gemma3nBatch b = { .n_tokens = (uint32_t) n_tokens, .tokens = tokens, .logits_all = true };
                if (gemma3n_forward(m, compute, &slice, kv, &b, logits, &err) < 0)
                        goto fail;
        }

        if (logits_path) {
                FILE *f = fopen(logits_path, "we");
                if (!f || fwrite(logits, sizeof(float) * V, n_tokens, f) != n_tokens || fclose(f) != 0) {
                        fprintf(stderr, "gemma-model: %s: cannot write logits: %m\n", logits_path);
                        return EXIT_FAILED;
                }
        }
        if (top)
                for (size_t t = 0; t < n_tokens; t++)
                        print_top(logits + t * V, V, (uint32_t) t);
        return EXIT_OK;

fail:
        fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
        return EXIT_FAILED;
}
