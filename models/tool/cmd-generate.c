/* gemma-model generate: a prompt in, streamed text out, as a Gemma 3n runtime produces it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "gemma3n/forward.h"
#include "text/chat-template.h"
#include "text/generator.h"
#include "text/tokenizer.h"
#include "tool-backend.h"
#include "tool.h"

#define MAX_STOPS 16

static void help(FILE *out) {
        fputs("Usage: gemma-model generate MODEL [OPTIONS] PROMPT|-\n"
              "\n"
              "Generate text from a prompt and stream it to standard output as it is produced. The\n"
              "prompt is wrapped in Gemma's chat template (a user turn, then the model's turn) unless\n"
              "--raw is given; '-' reads it from standard input. Generation ends at the model's\n"
              "end-of-turn token, a stop string, --max-tokens, or the end of the context.\n"
              "\n"
              "Options (defaults in brackets):\n"
              "  --system TEXT          system instructions, folded into the user turn as Gemma does\n"
              "  --raw                  no chat template: BOS, then the prompt as given (special tokens\n"
              "                         such as <start_of_turn> in it are recognised)\n"
              "  --max-tokens N         most tokens to generate [256]\n"
              "  --context N            context positions, prompt included [4096, at most the model's]\n"
              "  --temperature T        0 = greedy [0.8]\n"
              "  --top-k K              0 = off [64]\n"
              "  --top-p P              (0, 1], 1 = off [0.95]\n"
              "  --min-p P              [0, 1], 0 = off [0]\n"
              "  --repeat-penalty R     > 0, 1 = off [1]\n"
              "  --presence-penalty P   0 = off [0]\n"
              "  --repeat-last-n N      tokens the penalties look back over [64]\n"
              "  --seed N               random seed; the same seed gives the same text [0]\n"
              "  --stop TEXT            stop before this text (never printed); repeatable, up to 16\n"
              "  --ffn-units K          MatFormer slice: every layer uses its first K FFN units\n"
              "  --slice NAME|SPEC      MatFormer slice: a preset or a spec ('gemma-model slice --help')\n"
              "  --threads N            compute threads [one per physical core]\n"
              TOOL_BACKEND_HELP
              "  --stats                print prompt tokens, time to first token, prefill and decode\n"
              "                         tokens/s and the finish reason to standard error\n"
              "  -h, --help             show this help\n"
              "\n"
              "Example: gemma-model generate model.gguf --seed 7 --max-tokens 64 \"Write a haiku\"\n"
              "\n"
              "Exit status: 0 success, 1 invalid model, prompt too long or failure, 2 bad command line.\n",
              out);
}

static int emit_stdout(void *userdata, const char *text, size_t len) {
        (void) userdata;
        if (fwrite(text, 1, len, stdout) != len)
                return -EIO;
        fflush(stdout);
        return 0;
}

int cmd_generate(int argc, char **argv) {
        enum { OPT_SYSTEM = 0x100, OPT_RAW, OPT_MAX_TOKENS, OPT_CONTEXT, OPT_TEMPERATURE, OPT_TOP_K, OPT_TOP_P,
               OPT_MIN_P, OPT_REPEAT_PENALTY, OPT_PRESENCE_PENALTY, OPT_REPEAT_LAST_N, OPT_SEED, OPT_STOP,
               OPT_FFN_UNITS, OPT_SLICE, OPT_THREADS, OPT_STATS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "system", required_argument, NULL, OPT_SYSTEM },
                { "raw", no_argument, NULL, OPT_RAW },
                { "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
                { "context", required_argument, NULL, OPT_CONTEXT },
                { "temperature", required_argument, NULL, OPT_TEMPERATURE },
                { "top-k", required_argument, NULL, OPT_TOP_K },
                { "top-p", required_argument, NULL, OPT_TOP_P },
                { "min-p", required_argument, NULL, OPT_MIN_P },
                { "repeat-penalty", required_argument, NULL, OPT_REPEAT_PENALTY },
                { "presence-penalty", required_argument, NULL, OPT_PRESENCE_PENALTY },
                { "repeat-last-n", required_argument, NULL, OPT_REPEAT_LAST_N },
                { "seed", required_argument, NULL, OPT_SEED },
                { "stop", required_argument, NULL, OPT_STOP },
                { "ffn-units", required_argument, NULL, OPT_FFN_UNITS },
                { "slice", required_argument, NULL, OPT_SLICE },
                { "threads", required_argument, NULL, OPT_THREADS },
                { "stats", no_argument, NULL, OPT_STATS },
                TOOL_BACKEND_OPTIONS,
                {},
        };
        ToolBackend backend;
        tool_backend_init(&backend);
        _cleanup_(gemma3n_model_freep) Gemma3nModel *m = NULL;
        _cleanup_(cpu_compute_freep) CpuCompute *compute = NULL;
        _cleanup_(tokenizer_freep) Tokenizer *tok = NULL;
        _cleanup_free_ char *prompt_text = NULL, *rendered = NULL;
        _cleanup_free_ int32_t *ids = NULL;
        const char *system = NULL, *slice_arg = NULL, *stops[MAX_STOPS];
        size_t n_stops = 0, n_ids = 0;
        bool raw = false, stats = false;
        uint32_t n_threads = 0, ffn_units = 0, n_ctx = 4096;
        GeneratorParams gp = { .turn.max_tokens = 256 };
        SamplerParams *sp = &gp.turn.sampling;
        GemmaError err = { 0 };
        Gemma3nSlice slice;
        int c, k = 0;

        *sp = SAMPLER_PARAMS_INIT;
        sp->temperature = 0.8f;
        sp->top_k = 64;
        sp->top_p = 0.95f;
        while (k == 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_SYSTEM: system = optarg; break;
                case OPT_RAW: raw = true; break;
                case OPT_MAX_TOKENS: k = parse_u32("--max-tokens", optarg, 1, 1u << 24, &gp.turn.max_tokens); break;
                case OPT_CONTEXT: k = parse_u32("--context", optarg, 2, 1u << 24, &n_ctx); break;
                case OPT_TEMPERATURE: k = parse_float("--temperature", optarg, &sp->temperature); break;
                case OPT_TOP_K: k = parse_u32("--top-k", optarg, 0, UINT32_MAX, &sp->top_k); break;
                case OPT_TOP_P: k = parse_float("--top-p", optarg, &sp->top_p); break;
                case OPT_MIN_P: k = parse_float("--min-p", optarg, &sp->min_p); break;
                case OPT_REPEAT_PENALTY: k = parse_float("--repeat-penalty", optarg, &sp->repeat_penalty); break;
                case OPT_PRESENCE_PENALTY: k = parse_float("--presence-penalty", optarg, &sp->presence_penalty); break;
                case OPT_REPEAT_LAST_N: k = parse_u32("--repeat-last-n", optarg, 0, SAMPLER_REPEAT_LAST_N_MAX, &sp->repeat_last_n); break;
                case OPT_SEED: k = parse_u64("--seed", optarg, &sp->seed); break;
                case OPT_STOP:
                        if (n_stops == MAX_STOPS)
                                k = usage_error("--stop: at most %d stop strings", MAX_STOPS);
                        else
                                stops[n_stops++] = optarg;
                        break;
                case OPT_FFN_UNITS: k = parse_u32("--ffn-units", optarg, 1, UINT32_MAX, &ffn_units); break;
                case OPT_SLICE: slice_arg = optarg; break;
                case OPT_THREADS: k = parse_u32("--threads", optarg, 1, 1024, &n_threads); break;
                case OPT_STATS: stats = true; break;
                default:
                        if ((k = tool_backend_option(&backend, c, optarg)) == 0)
                                return EXIT_USAGE;
                        k = k < 0 ? k : 0;
                        break;
                }
        if (k < 0)
                return EXIT_USAGE;
        if (optind + 2 != argc) {
                usage_error("generate: expected MODEL and PROMPT (or '-' to read it from standard input)");
                return EXIT_USAGE;
        }
        if (ffn_units && slice_arg) {
                usage_error("generate: --ffn-units and --slice cannot be combined");
                return EXIT_USAGE;
        }
        if (raw && system) {
                usage_error("generate: --system needs the chat template; it cannot be combined with --raw");
                return EXIT_USAGE;
        }
        if (sampler_params_validate(sp, &err) < 0) {
                usage_error("%s", gemma_error_message(&err));
                return EXIT_USAGE;
        }
        gp.turn.stops = stops;
        gp.turn.n_stops = n_stops;

        const char *prompt = argv[optind + 1];
        if (strcmp(prompt, "-") == 0) {
                prompt_text = read_text_file("-");
                if (!prompt_text) {
                        fprintf(stderr, "gemma-model: cannot read the prompt from standard input: %m\n");
                        return EXIT_FAILED;
                }
                prompt = prompt_text;
        }

        if (gemma3n_model_load(argv[optind], &m, &err) < 0 || tokenizer_load(m->file, &tok, &err) < 0 ||
            cpu_compute_new(n_threads, &compute, &err) < 0)
                goto fail;
        tool_backend_attach(m, &backend, compute->features, NULL);
        if (slice_from_options(m, ffn_units, slice_arg, &slice, &err) < 0)
                goto fail;
        gp.slice = &slice;
        gp.n_ctx = MIN(n_ctx, m->hp.n_ctx_train);

        if (raw) {
                _cleanup_free_ int32_t *body = NULL;
                size_t n_body;
                if (tokenizer_encode(tok, prompt, strlen(prompt), true, &body, &n_body, &err) < 0)
                        goto fail;
                ids = malloc_multiply(n_body + 1, sizeof(int32_t));
                if (!ids)
                        goto oom;
                ids[0] = tokenizer_bos(tok);
                memcpy(ids + 1, body, n_body * sizeof(int32_t));
                n_ids = n_body + 1;
        } else {
                ChatMessage msgs[2];
                size_t n_msgs = 0;
                if (system)
                        msgs[n_msgs++] = (ChatMessage) { "system", system };
                msgs[n_msgs++] = (ChatMessage) { "user", prompt };
                if (chat_template_render(msgs, n_msgs, true, &rendered, &err) < 0 ||
                    tokenizer_encode(tok, rendered, strlen(rendered), true, &ids, &n_ids, &err) < 0)
                        goto fail;
        }

        SequenceStats st;
        if (generator_run(m, compute, tok, ids, n_ids, &gp, emit_stdout, NULL, &st, &err) < 0)
                goto fail;
        if (isatty(STDOUT_FILENO))
                putchar('\n');
        fflush(stdout);
        if (stats) {
                fprintf(stderr, "prompt tokens:     %u\n", st.n_prompt);
                fprintf(stderr, "generated tokens:  %u (finish: %s)\n", st.n_generated, finish_reason_to_string(st.finish));
                fprintf(stderr, "time to first:     %.1f ms\n", st.ttft_sec * 1e3);
                fprintf(stderr, "prefill:           %.2f tokens/s\n", st.prefill_sec > 0 ? st.n_prompt / st.prefill_sec : 0);
                fprintf(stderr, "decode:            %.2f tokens/s\n",
                        st.decode_sec > 0 && st.n_generated > 1 ? (st.n_generated - 1) / st.decode_sec : 0);
        }
        return EXIT_OK;

oom:
        gemma_error_set(&err, -ENOMEM, "out of memory");
fail:
        fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
        return EXIT_FAILED;
}
