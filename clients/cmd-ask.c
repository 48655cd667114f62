/* gemmactl ask: one question in a fresh session; the answer streams to standard output as the
 * daemon's Chunk signals arrive. */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "gemmactl.h"

enum { OPT_STATS = 0x3000 };

static void help(FILE *out) {
        fputs("Usage: gemmactl ask [OPTIONS] TEXT|-\n"
              "\n"
              "Ask gemmad one question and stream the answer to standard output as it is generated.\n"
              "TEXT is the arguments joined by spaces; '-' (or no TEXT while standard input is not a\n"
              "terminal) reads it from standard input. The answer is followed by a newline only on a\n"
              "terminal. Ctrl-C (SIGINT) or SIGTERM cancels the answer and exits 130 (143).\n"
              "\n"
              "Options (defaults in brackets are the daemon's):\n",
              out);
        fputs(gen_options_help, out);
        fputs("      --stats               print token counts, time to first token, prefill and decode\n"
              "                            speed, finish reason and slice to standard error\n"
              "      --json                print one JSON object at the end instead of streaming:\n"
              "                            {\"text\": ..., \"info\": {...}}\n"
              "  -h, --help                show this help\n"
              "  (and the global options of 'gemmactl --help')\n"
              "\n"
              "Example: git diff | gemmactl ask --system \"Review this patch briefly.\" -\n"
              "\n"
              "Exit status: 0 when the answer ended at its end of turn, a stop string or --max-tokens;\n"
              "1 error, 2 bad command line, 3 gemmad unreachable, 4 model not loaded, 5 the question\n"
              "does not fit the context, 6 busy, 130 interrupted (see 'gemmactl --help').\n",
              out);
}

int cmd_ask(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "stats", no_argument, NULL, OPT_STATS },
                GLOBAL_OPTIONS,
                GEN_OPTIONS,
                {},
        };
        _cleanup_(client_freep) Client *client = NULL;
        _cleanup_(stream_freep) Stream *stream = NULL;
        _cleanup_free_ char *text = NULL;
        GenOptions o = {};
        bool stats = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case OPT_STATS:
                        stats = true;
                        break;
                case '?':
                        return help_option_hint("ask");
                default:
                        if ((r = gen_or_global_option(&o, c, optarg)) != 0)
                                return r;
                }
        if (gen_options_check(&o) < 0)
                return EXIT_USAGE;
        r = text_from_args("ask", argv + optind, (size_t) (argc - optind), false, &text);
        if (r != EXIT_OK)
                return r;

        r = stream_start(&o, &client, &stream);
        if (r != EXIT_OK)
                return r;

        r = stream_prompt(stream, text, arg_json ? NULL : stdout, call_timeout_usec(true));
        if (!arg_json && stream->wrote_any && !stream->ends_with_newline && isatty(STDOUT_FILENO)) {
                putchar('\n');
                fflush(stdout);
        }
        if (stats && stream->info)
                info_print_stats(stderr, stream->info);
        if (arg_json && stream->finished) {
                json_object *doc = json_object_new_object();
                if (!doc || json_object_object_add(doc, "text", json_object_new_string_len(stream->text ?: "", (int) stream->n_text)) < 0 ||
                    json_object_object_add(doc, "info", stream->info ? json_object_get(stream->info) : json_object_new_object()) < 0 ||
                    json_print(doc) < 0) {
                        fputs("gemmactl: cannot write the JSON document\n", stderr);
                        if (r == EXIT_OK)
                                r = EXIT_FAILED;
                }
                json_object_put(doc);
        }
        return r;
}
