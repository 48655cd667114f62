/* gemma-model: inspect Gemma 3n GGUF files, make random-weight test models, evaluate logits. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model COMMAND [OPTIONS]\n"
              "\n"
              "Work with Gemma 3n models in GGUF format, as gemmad loads them.\n"
              "\n"
              "Commands:\n"
              "  info MODEL          show architecture, hyperparameters, tensor types and byte totals\n"
              "  make-test OUT.gguf  write a random-weight Gemma 3n model (every tensor and key of a real file)\n"
              "  eval MODEL          compute logits for a list of token ids\n"
              "  tokenize MODEL TEXT encode text to token ids with the model's vocabulary (--decode: back)\n"
              "  generate MODEL TEXT stream text generated from a prompt (chat template, sampling, stop strings)\n"
              "  bench MODEL         prompt and generation speed against the memory-bandwidth bound\n"
              "  slice MODEL OUT     export a MatFormer slice (preset or spec) as a model file; --list\n"
              "                      shows the presets\n"
              "  devices             list the OpenCL platforms and devices gemmad could use\n"
              "\n"
              "Run 'gemma-model COMMAND --help' for the options of a command.\n"
              "\n"
              "Exit status: 0 success, 1 the operation failed (invalid model, I/O error), 2 bad command line.\n",
              out);
}

int main(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*fn)(int, char **);
        } commands[] = {
                { "info", cmd_info },
                { "make-test", cmd_make_test },
                { "eval", cmd_eval },
                { "tokenize", cmd_tokenize },
                { "bench", cmd_bench },
                { "generate", cmd_generate },
                { "slice", cmd_slice },
                { "devices", cmd_devices },
        };

        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                help(stdout);
                return EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "gemma-model: unknown command '%s' (try 'gemma-model --help')\n", argv[1]);
        return EXIT_USAGE;
}
