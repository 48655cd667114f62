/* gemma-model make-test: write a random-weight Gemma 3n model with a real file's layout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemma3n/make-test.h"
#include "tensor/type-traits.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model make-test OUT.gguf [OPTIONS]\n"
              "\n"
              "Write a Gemma 3n model with random weights: every tensor and metadata key a converted\n"
              "Gemma 3n GGUF file has, with the shapes the options imply, plus a small SentencePiece\n"
              "vocabulary (special tokens, byte-fallback pieces, a few words). Weights are scaled so\n"
              "activations stay near unit size. The same options and seed give the same file.\n"
              "\n"
              "Options (defaults in brackets):\n"
              "  --preset e2b|e4b|small\n"
              "                      start from the real E2B or E4B dimensions, or the small test shape [small]\n"
              "  --seed N            random seed [1]\n"
              "  --hidden N          hidden size [64]\n"
              "  --layers N          decoder layers [8]\n"
              "  --heads N           query heads [2]\n"
              "  --kv-heads N        key/value heads, dividing --heads [1]\n"
              "  --head-dim N        head dimension, even [32]\n"
              "  --ffn N|LIST        FFN width, one for all layers or a comma list per layer [128]\n"
              "  --vocab N           vocabulary size [512]\n"
              "  --window N          sliding-window length [8]\n"
              "  --swa-period N      every N-th layer is global, the rest sliding; 0 = all sliding [5]\n"
              "  --kv-shared N       top layers that reuse earlier layers' KV [2]\n"
              "  --sparse-layers N   first layers with gaussian top-k activation sparsity [3]\n"
              "  --context N         context_length key [4096]\n"
              "  --type T            matrix type: f32, f16, bf16, q8_0, q4_0 [f32; e2b, e4b: q4_0]\n"
              "  --ple-type T        type of the per-layer embedding table [same as --type]\n"
              "  --tokenizer-json PATH\n"
              "                      write the vocabulary of a Hugging Face tokenizer.json (the Gemma one:\n"
              "                      BPE with byte fallback) instead of the small built-in one; --vocab\n"
              "                      becomes its size. Added tokens beyond model.vocab are left out\n"
              "  --no-merges         with --tokenizer-json: write pieces, scores and types only, as converters\n"
              "                      from SentencePiece files do (the tokenizer then merges by score)\n"
              "  -h, --help          show this help\n"
              "\n"
              "Rows narrower than a quantisation block (the AltUp coefficient matrices) are written in\n"
              "f16, as quantising converters do; norms are always f32.\n"
              "\n"
              "Example: gemma-model make-test e2b-q4_0.gguf --preset e2b --type q4_0\n"
              "\n"
              "Exit status: 0 written, 1 write failed, 2 bad command line.\n",
              out);
}

static int parse_type(const char *what, const char *s, uint32_t *ret) {
        int t = type_from_name(s);
        if (t < 0 || !type_traits((uint32_t) t)->quantize_ref)
                return usage_error("%s: '%s' is not a type make-test can write (f32, f16, bf16, q8_0, q4_0)", what, s);
        *ret = (uint32_t) t;
        return 0;
}

int cmd_make_test(int argc, char **argv) {
        enum { OPT_PRESET = 0x100, OPT_SEED, OPT_HIDDEN, OPT_LAYERS, OPT_HEADS, OPT_KV_HEADS, OPT_HEAD_DIM, OPT_FFN,
               OPT_VOCAB, OPT_WINDOW, OPT_SWA_PERIOD, OPT_KV_SHARED, OPT_SPARSE, OPT_CONTEXT, OPT_TYPE, OPT_PLE_TYPE,
               OPT_TOKENIZER_JSON, OPT_NO_MERGES };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "preset", required_argument, NULL, OPT_PRESET },
                { "seed", required_argument, NULL, OPT_SEED },
                { "hidden", required_argument, NULL, OPT_HIDDEN },
                { "layers", required_argument, NULL, OPT_LAYERS },
                { "heads", required_argument, NULL, OPT_HEADS },
                { "kv-heads", required_argument, NULL, OPT_KV_HEADS },
                { "head-dim", required_argument, NULL, OPT_HEAD_DIM },
                { "ffn", required_argument, NULL, OPT_FFN },
                { "vocab", required_argument, NULL, OPT_VOCAB },
                { "window", required_argument, NULL, OPT_WINDOW },
                { "swa-period", required_argument, NULL, OPT_SWA_PERIOD },
                { "kv-shared", required_argument, NULL, OPT_KV_SHARED },
                { "sparse-layers", required_argument, NULL, OPT_SPARSE },
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "type", required_argument, NULL, OPT_TYPE },
                { "ple-type", required_argument, NULL, OPT_PLE_TYPE },
                { "tokenizer-json", required_argument, NULL, OPT_TOKENIZER_JSON },
                { "no-merges", no_argument, NULL, OPT_NO_MERGES },
                {},
        };
        Gemma3nTestSpec spec;
        _cleanup_(tokenizer_json_vocab_freep) Gemma3nTestVocab *vocab = NULL;
        GemmaError err = { 0 };
        const char *ffn_arg = NULL, *tokenizer_json = NULL;
        bool type_set = false, ple_type_set = false, vocab_set = false, no_merges = false;
        int c, k = 0;

        /* The preset decides the defaults, so find it before the other options. */
        gemma3n_test_spec_default(&spec);
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "--preset") == 0) {
                        if (strcmp(argv[i + 1], "e2b") == 0)
                                gemma3n_test_spec_e2b(&spec);
                        else if (strcmp(argv[i + 1], "e4b") == 0)
                                gemma3n_test_spec_e4b(&spec);
                        else if (strcmp(argv[i + 1], "small") != 0) {
                                usage_error("--preset: '%s' is not a preset (e2b, e4b, small)", argv[i + 1]);
                                return EXIT_USAGE;
                        }
                }

        while (k == 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_PRESET: break;
                case OPT_SEED: k = parse_u64("--seed", optarg, &spec.seed); break;
                case OPT_HIDDEN: k = parse_u32("--hidden", optarg, 2, 16384, &spec.n_embd); break;
                case OPT_LAYERS: k = parse_u32("--layers", optarg, 1, GEMMA3N_MAX_LAYERS, &spec.n_layer); break;
                case OPT_HEADS: k = parse_u32("--heads", optarg, 1, 256, &spec.n_head); break;
                case OPT_KV_HEADS: k = parse_u32("--kv-heads", optarg, 1, 256, &spec.n_head_kv); break;
                case OPT_HEAD_DIM: k = parse_u32("--head-dim", optarg, 2, 1024, &spec.head_dim); break;
                case OPT_FFN: ffn_arg = optarg; break;
                case OPT_VOCAB: k = parse_u32("--vocab", optarg, 8, 1u << 20, &spec.n_vocab); vocab_set = true; break;
                case OPT_WINDOW: k = parse_u32("--window", optarg, 1, 1u << 24, &spec.sliding_window); break;
                case OPT_SWA_PERIOD: k = parse_u32("--swa-period", optarg, 0, GEMMA3N_MAX_LAYERS, &spec.swa_period); break;
                case OPT_KV_SHARED: k = parse_u32("--kv-shared", optarg, 0, GEMMA3N_MAX_LAYERS, &spec.n_kv_shared); break;
                case OPT_SPARSE: k = parse_u32("--sparse-layers", optarg, 0, GEMMA3N_MAX_LAYERS, &spec.n_sparse_layers); break;
                case OPT_CONTEXT: k = parse_u32("--context", optarg, 1, 1u << 24, &spec.n_ctx); break;
                case OPT_TYPE: k = parse_type("--type", optarg, &spec.type); type_set = true; break;
                case OPT_PLE_TYPE: k = parse_type("--ple-type", optarg, &spec.ple_type); ple_type_set = true; break;
                case OPT_TOKENIZER_JSON: tokenizer_json = optarg; break;
                case OPT_NO_MERGES: no_merges = true; break;
                default: return EXIT_USAGE;
                }
        if (k < 0)
                return EXIT_USAGE;
        if (optind + 1 != argc) {
                usage_error("make-test: expected exactly one OUT.gguf argument");
                return EXIT_USAGE;
        }
        if (type_set && !ple_type_set)
                spec.ple_type = spec.type;

        if (ffn_arg) {
                int32_t *list;
                size_t n;
                if (parse_i32_list("--ffn", ffn_arg, &list, &n) < 0)
                        return EXIT_USAGE;
                if (n != 1 && n != spec.n_layer) {
                        free(list);
                        usage_error("--ffn: %zu widths given for %u layers (give one, or one per layer)", n, spec.n_layer);
                        return EXIT_USAGE;
                }
                for (uint32_t l = 0; l < spec.n_layer; l++) {
                        int32_t v = list[n == 1 ? 0 : l];
                        if (v <= 0) {
                                free(list);
                                usage_error("--ffn: width %d of layer %u must be positive", v, l);
                                return EXIT_USAGE;
                        }
                        spec.n_ff[l] = (uint32_t) v;
                }
                free(list);
        }
        if (no_merges && !tokenizer_json) {
                usage_error("--no-merges: only meaningful with --tokenizer-json");
                return EXIT_USAGE;
        }
        if (tokenizer_json) {
                uint32_t dropped;
                if (tokenizer_json_import(tokenizer_json, !no_merges, &vocab, &dropped, &err) < 0) {
                        fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                        return EXIT_FAILED;
                }
                if (dropped > 0)
                        fprintf(stderr, "gemma-model: %s: left out %u added token(s) with ids beyond model.vocab (%u pieces)\n",
                                tokenizer_json, dropped, vocab->n_tokens);
                if (!vocab_set)
                        spec.n_vocab = vocab->n_tokens;
                spec.vocab = vocab;
        }
        if (gemma3n_test_spec_validate(&spec, &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                return EXIT_USAGE;
        }
        if (gemma3n_make_test_model(&spec, argv[optind], &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
