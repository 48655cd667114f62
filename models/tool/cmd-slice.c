/* gemma-model slice: export a MatFormer slice as a model file of its own, or list the presets. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "gemma3n/matformer.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model slice MODEL OUT.gguf --slice NAME|SPEC\n"
              "       gemma-model slice MODEL --list\n"
              "\n"
              "Write a MatFormer slice of a Gemma 3n model as a model file of its own, as the\n"
              "MatFormer Lab exports one: FFN tensors cut to the slice's widths, skipped layers removed\n"
              "and the rest renumbered with their per-layer embedding chunks, KV-sharing and per-layer\n"
              "keys adjusted. Loaded normally, the file gives the logits the slice gives on MODEL.\n"
              "A slice with one FFN width keeps the standard key layout, so other GGUF runtimes load it.\n"
              "\n"
              "Options:\n"
              "  --slice NAME|SPEC  a preset name (see --list) or a spec such as \"ffn=75%\",\n"
              "                     \"ffn=8192;skip=20-24\" or \"ffn=50%*4,100%,50%*25;skip=20-24\"\n"
              "  --list             print the presets MODEL offers, largest first: name, layers kept,\n"
              "                     weight MiB one decoded token reads, share of the full model, spec\n"
              "  -h, --help         show this help\n"
              "\n"
              "Spec grammar: parts \"ffn=W,W,...\" and \"skip=L,L-L,...\" joined by ';'. A width W is a\n"
              "number of FFN units or a percentage of the layer's width (\"75%\", rounded to whole\n"
              "quantisation blocks), optionally repeated (\"8192*20\"); give one width for all layers,\n"
              "one per kept layer (the MatFormer Lab's order) or one per layer of MODEL. Layers that\n"
              "other layers read KV from (18 and 19 in E2B and E4B) cannot be skipped.\n"
              "\n"
              "Example: gemma-model slice gemma-3n-E4B.gguf e2b.gguf --slice e2b\n"
              "\n"
              "Exit status: 0 success, 1 invalid model, slice or write error, 2 bad command line.\n",
              out);
}

static int list_presets(const Gemma3nModel *m) {
        _cleanup_free_ Gemma3nPreset *presets = NULL;
        GemmaError err = { 0 };
        size_t n;

        if (gemma3n_presets(m, &presets, &n, &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                return EXIT_FAILED;
        }
        printf("%-14s %6s %10s %6s  %s\n", "NAME", "LAYERS", "MIB/TOKEN", "FULL", "SPEC");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *spec = gemma3n_slice_format(m, &presets[i].slice);
                printf("%-14s %6u %10.1f %5.1f%%  %s\n", presets[i].name, gemma3n_slice_n_kept(m, &presets[i].slice),
                       (double) presets[i].weight_bytes / (1024.0 * 1024.0),
                       100.0 * (double) presets[i].weight_bytes / (double) presets[0].weight_bytes, spec ? spec : "?");
        }
        return EXIT_OK;
}

int cmd_slice(int argc, char **argv) {
        enum { OPT_SLICE = 0x100, OPT_LIST };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "slice", required_argument, NULL, OPT_SLICE },
                { "list", no_argument, NULL, OPT_LIST },
                {},
        };
        _cleanup_(gemma3n_model_freep) Gemma3nModel *m = NULL;
        _cleanup_free_ char *spec = NULL;
        const char *slice_arg = NULL;
        bool list = false;
        GemmaError err = { 0 };
        Gemma3nSlice slice, full;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_SLICE: slice_arg = optarg; break;
                case OPT_LIST: list = true; break;
                default: return EXIT_USAGE;
                }
        if (list) {
                if (optind + 1 != argc || slice_arg) {
                        usage_error("slice: --list takes exactly one MODEL argument and no --slice");
                        return EXIT_USAGE;
                }
        } else {
                if (optind + 2 != argc) {
                        usage_error("slice: expected MODEL and OUT.gguf");
                        return EXIT_USAGE;
                }
                if (!slice_arg) {
                        usage_error("slice: --slice NAME|SPEC is required (--list shows the presets)");
                        return EXIT_USAGE;
                }
        }

        if (gemma3n_model_load(argv[optind], &m, &err) < 0)
                goto fail;
        if (list)
                return list_presets(m);
        if (gemma3n_slice_from_string(m, slice_arg, &slice, &err) < 0 ||
            gemma3n_slice_export(m, &slice, argv[optind + 1], &err) < 0)
                goto fail;

        spec = gemma3n_slice_format(m, &slice);
        gemma3n_slice_full(m, &full);
        const uint64_t bytes = gemma3n_slice_weight_bytes(m, &slice), full_bytes = gemma3n_slice_weight_bytes(m, &full);
        printf("%s: %u of %u layers, slice %s, %.1f MiB read per token (%.1f%% of the full model)\n", argv[optind + 1],
               gemma3n_slice_n_kept(m, &slice), m->hp.n_layer, spec ? spec : "?", (double) bytes / (1024.0 * 1024.0),
               100.0 * (double) bytes / (double) full_bytes);
        return EXIT_OK;

fail:
        fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
        return EXIT_FAILED;
}
