/* gemma-model tokenize: text to token ids with a model's vocabulary, and ids back to text. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "text/tokenizer.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model tokenize MODEL [OPTIONS] TEXT|-\n"
              "       gemma-model tokenize MODEL --decode [OPTIONS] IDS|-\n"
              "\n"
              "Encode TEXT (or standard input for '-', read byte for byte) with the model's vocabulary\n"
              "and print the token ids comma-separated on one line. No BOS is added. The text must be\n"
              "valid UTF-8.\n"
              "\n"
              "Options:\n"
              "  --special   recognise control pieces written in the text (\"<start_of_turn>\", \"<bos>\")\n"
              "              as their ids; without it they are ordinary text. User-defined pieces\n"
              "              (newline and tab runs, \"<unused0>\", ...) are always recognised.\n"
              "  --decode    read token ids instead (commas or whitespace between them, '-' for standard\n"
              "              input) and print their text exactly as decoded, without a newline at the\n"
              "              end: control pieces as their text, byte pieces joined into characters, a\n"
              "              byte sequence that is not UTF-8 as U+FFFD\n"
              "  --pieces    print one 'ID<TAB>PIECE' line per token instead of the id list (control\n"
              "              characters in pieces escaped as \\n, \\t, \\r, \\xNN; a backslash as \\\\)\n"
              "  -h, --help  show this help\n"
              "\n"
              "Example: gemma-model tokenize model.gguf --special $'<start_of_turn>user\\nHi'\n"
              "\n"
              "Exit status: 0 success, 1 invalid model, text or id, 2 bad command line.\n",
              out);
}

/* All of standard input, which may hold NUL bytes. */
static char *read_stdin(size_t *ret_len) {
        char *buf = NULL;
        size_t size = 0;
        FILE *mem = open_memstream(&buf, &size);
        char chunk[65536];
        size_t n;

        if (!mem)
                return NULL;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
                if (fwrite(chunk, 1, n, mem) != n)
                        break;
        bool failed = ferror(stdin) || ferror(mem);
        if (fclose(mem) != 0 || failed) {
                free(buf);
                return NULL;
        }
        *ret_len = size;
        return buf;
}

static int emit_stdout(void *userdata, const char *text, size_t len) {
        return fwrite(text, 1, len, stdout) == len ? 0 : -EIO;
}

static int print_pieces(const Tokenizer *tok, const int32_t *ids, size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t len;
                const char *p = tokenizer_piece(tok, ids[i], &len);
                if (!p)
                        return -EINVAL;
                printf("%d\t", ids[i]);
                for (size_t j = 0; j < len; j++) {
                        unsigned char ch = (unsigned char) p[j];
                        if (ch == '\\')
                                fputs("\\\\", stdout);
                        else if (ch == '\n')
                                fputs("\\n", stdout);
                        else if (ch == '\t')
                                fputs("\\t", stdout);
                        else if (ch == '\r')
                                fputs("\\r", stdout);
                        else if (ch < 0x20 || ch == 0x7f)
                                printf("\\x%02x", ch);
                        else
                                putchar(ch);
                }
                putchar('\n');
        }
        return 0;
}

static int decode(const Tokenizer *tok, const char *arg, bool pieces) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ int32_t *ids = NULL;
        _cleanup_(tokenstream_freep) TokenStream *ts = NULL;
        size_t n;
        int k = 0;

        if (strcmp(arg, "-") == 0) {
                if (!(text = read_text_file("-"))) {
                        fprintf(stderr, "gemma-model: cannot read standard input: %m\n");
                        return EXIT_FAILED;
                }
                arg = text;
        }
        if (parse_i32_list("--decode", arg, &ids, &n) < 0)
                return EXIT_USAGE;
        for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || (uint32_t) ids[i] >= tokenizer_n_vocab(tok)) {
                        fprintf(stderr, "gemma-model: id %d (position %zu) is not in the vocabulary (0..%u)\n", ids[i], i,
                                tokenizer_n_vocab(tok) - 1);
                        return EXIT_FAILED;
                }
        if (pieces)
                return print_pieces(tok, ids, n) < 0 ? EXIT_FAILED : EXIT_OK;
        if (!(ts = tokenstream_new(tok, true))) {
                fprintf(stderr, "gemma-model: out of memory\n");
                return EXIT_FAILED;
        }
        for (size_t i = 0; i < n; i++)
                if ((k = tokenstream_push(ts, ids[i], emit_stdout, NULL)) < 0)
                        break;
        if (k >= 0)
                k = tokenstream_flush(ts, emit_stdout, NULL);
        if (k < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "gemma-model: cannot write the text: %s\n", strerror(k < 0 ? -k : errno));
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

static int encode(const Tokenizer *tok, const char *arg, bool special, bool pieces) {
        _cleanup_free_ char *input = NULL;
        _cleanup_free_ int32_t *ids = NULL;
        GemmaError err = { 0 };
        size_t len, n;

        if (strcmp(arg, "-") == 0) {
                if (!(input = read_stdin(&len))) {
                        fprintf(stderr, "gemma-model: cannot read standard input: %m\n");
                        return EXIT_FAILED;
                }
                arg = input;
        } else
                len = strlen(arg);
        if (tokenizer_encode(tok, arg, len, special, &ids, &n, &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                return EXIT_FAILED;
        }
        if (pieces)
                return print_pieces(tok, ids, n) < 0 ? EXIT_FAILED : EXIT_OK;
        for (size_t i = 0; i < n; i++)
                printf(i ? ",%d" : "%d", ids[i]);
        putchar('\n');
        if (fflush(stdout) != 0) {
                fprintf(stderr, "gemma-model: cannot write the ids: %m\n");
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

int cmd_tokenize(int argc, char **argv) {
        enum { OPT_SPECIAL = 0x100, OPT_DECODE, OPT_PIECES };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "special", no_argument, NULL, OPT_SPECIAL },
                { "decode", no_argument, NULL, OPT_DECODE },
                { "pieces", no_argument, NULL, OPT_PIECES },
                {},
        };
        _cleanup_(tokenizer_freep) Tokenizer *tok = NULL;
        GgufFile *f = NULL;
        GemmaError err = { 0 };
        bool special = false, do_decode = false, pieces = false;
        int c;

        /* A TEXT that starts with '-' goes after "--". */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': help(stdout); return EXIT_OK;
                case OPT_SPECIAL: special = true; break;
                case OPT_DECODE: do_decode = true; break;
                case OPT_PIECES: pieces = true; break;
                default: return EXIT_USAGE;
                }
        if (optind + 2 != argc) {
                usage_error("tokenize: expected MODEL and one TEXT argument ('-' for standard input)");
                return EXIT_USAGE;
        }
        if (gguf_open(argv[optind], &f, &err) < 0 || tokenizer_load(f, &tok, &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                gguf_close(f);
                return EXIT_FAILED;
        }
        gguf_close(f);
        return do_decode ? decode(tok, argv[optind + 1], pieces) : encode(tok, argv[optind + 1], special, pieces);
}
