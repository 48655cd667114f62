/* gemmactl command-line values: strict number parsing with ranges, the generation options shared by
 * ask and chat, and the text argument (words or standard input). Everything here runs before any
 * bus traffic. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemmactl.h"

/* The D-Bus message limit is 128 MiB; the daemon's prompt_bytes is far below it. */
#define TEXT_BYTES_MAX (64u << 20)

int usage_error(const char *fmt, ...) {
        va_list ap;
        fputs("gemmactl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

int parse_u64(const char *option, const char *s, uint64_t *ret) {
        char *end;
        /* strtoull() accepts leading blanks and a minus sign (wrapping around): refuse both. */
        if (!s || !*s || !(*s >= '0' && *s <= '9'))
                return usage_error("%s: '%s' is not a non-negative integer", option, s ? s : "");
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end)
                return usage_error("%s: '%s' is not a non-negative integer", option, s);
        if (errno == ERANGE || v > UINT64_MAX)
                return usage_error("%s: '%s' is too large (at most %" PRIu64 ")", option, s, UINT64_MAX);
        *ret = v;
        return 0;
}

int parse_u32(const char *option, const char *s, uint32_t min, uint32_t max, uint32_t *ret) {
        uint64_t v;
        int r = parse_u64(option, s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return usage_error("%s: %s is out of range (%" PRIu32 "..%" PRIu32 ")", option, s, min, max);
        *ret = (uint32_t) v;
        return 0;
}

int parse_double(const char *option, const char *s, double min, bool min_open, double max, double *ret) {
        char *end;
        if (!s || !*s || *s == ' ' || *s == '\t')
                return usage_error("%s: '%s' is not a number", option, s ? s : "");
        errno = 0;
        double v = strtod(s, &end);
        if (*end || errno == ERANGE || !isfinite(v))
                return usage_error("%s: '%s' is not a finite number", option, s);
        if (v < min || (min_open && v == min) || v > max)
                return min_open ? usage_error("%s: %s is out of range (greater than %g, at most %g)", option, s, min, max)
                                : usage_error("%s: %s is out of range (%g..%g)", option, s, min, max);
        *ret = v;
        return 0;
}

int parse_timeout(const char *option, const char *s, uint64_t *ret_usec) {
        double sec;
        int r = parse_double(option, s, 0, false, 31536000.0, &sec); /* a year is plenty */
        if (r < 0)
                return r;
        *ret_usec = sec == 0 ? 0 : (uint64_t) (sec * 1e6 + 0.5);
        if (sec != 0 && *ret_usec == 0)
                *ret_usec = 1;
        return 0;
}

const char gen_options_help[] =
        "      --system TEXT         system instructions for the conversation (not with --raw)\n"
        "      --max-tokens N        most tokens to generate per answer [512]\n"
        "      --temperature T       0..100, 0 = greedy [1.0]\n"
        "      --top-k K             0..1000000, 0 = off [64]\n"
        "      --top-p P             greater than 0, at most 1; 1 = off [0.95]\n"
        "      --min-p P             0..1, 0 = off [0]\n"
        "      --repeat-penalty R    greater than 0, at most 100; 1 = off [1]\n"
        "      --seed N              random seed; the same seed, text and options give the same\n"
        "                            answer [random]\n"
        "      --stop TEXT           stop before this text (not printed); repeatable, up to 16\n"
        "      --raw                 no chat template: the text goes to the model as it is\n"
        "      --context N           context positions for the conversation [ContextLength]\n"
        "      --no-wait             fail at once (exit 4) while the model is still loading\n";

int gen_option_parse(GenOptions *o, int c, const char *value) {
        int r = 0;

        switch (c) {
        case OPT_SYSTEM:
                o->system = value;
                break;
        case OPT_MAX_TOKENS:
                r = parse_u32("--max-tokens", value, 1, UINT32_MAX, &o->max_tokens);
                o->has_max_tokens = true;
                break;
        case OPT_TEMPERATURE:
                r = parse_double("--temperature", value, 0, false, 100, &o->temperature);
                o->has_temperature = true;
                break;
        case OPT_TOP_K:
                r = parse_u32("--top-k", value, 0, 1000000, &o->top_k);
                o->has_top_k = true;
                break;
        case OPT_TOP_P:
                r = parse_double("--top-p", value, 0, true, 1, &o->top_p);
                o->has_top_p = true;
                break;
        case OPT_MIN_P:
                r = parse_double("--min-p", value, 0, false, 1, &o->min_p);
                o->has_min_p = true;
                break;
        case OPT_REPEAT_PENALTY:
                r = parse_double("--repeat-penalty", value, 0, true, 100, &o->repeat_penalty);
                o->has_repeat_penalty = true;
                break;
        case OPT_SEED:
                r = parse_u64("--seed", value, &o->seed);
                o->has_seed = true;
                break;
        case OPT_STOP: {
                size_t n = strlen(value);
                if (o->n_stops == STOPS_MAX)
                        return usage_error("--stop: at most %d stop strings", STOPS_MAX);
                if (n == 0 || n > STOP_BYTES_MAX)
                        return usage_error("--stop: a stop string has 1..%d bytes, not %zu", STOP_BYTES_MAX, n);
                o->stops[o->n_stops++] = value;
                break;
        }
        case OPT_RAW:
                o->raw = true;
                break;
        case OPT_CONTEXT:
                r = parse_u32("--context", value, 2, UINT32_MAX, &o->context);
                o->has_context = true;
                break;
        case OPT_NO_WAIT:
                o->no_wait = true;
                break;
        default:
                return usage_error("internal error: unknown generation option %d", c);
        }
        return r;
}

int gen_options_check(const GenOptions *o) {
        if (o->raw && o->system)
                return usage_error("--system needs the chat template; it cannot be combined with --raw");
        if (o->has_context && o->has_max_tokens && o->max_tokens >= o->context)
                return usage_error("--max-tokens: %" PRIu32 " does not leave room for a prompt in --context %" PRIu32,
                                   o->max_tokens, o->context);
        return 0;
}

/* Reads all of fd 0, at most TEXT_BYTES_MAX. */
static int read_stdin(char **ret, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        for (;;) {
                if (allocated - n < 4096) {
                        size_t want = allocated ? allocated * 2 : 65536;
                        char *p = realloc(buf, want + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = want;
                }
                ssize_t k = read(STDIN_FILENO, buf + n, allocated - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > TEXT_BYTES_MAX)
                        return -EFBIG;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_n = n;
        return 0;
}

static bool utf8_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *end = p + n;

        while (p < end) {
                unsigned char c = *p;
                size_t len;
                uint32_t cp;
                if (c < 0x80) {
                        p++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        len = 2, cp = c & 0x1f;
                else if ((c & 0xf0) == 0xe0)
                        len = 3, cp = c & 0x0f;
                else if ((c & 0xf8) == 0xf0)
                        len = 4, cp = c & 0x07;
                else
                        return false;
                if ((size_t) (end - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                /* overlong forms, surrogates, beyond U+10FFFF */
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                p += len;
        }
        return true;
}

int text_from_args(const char *command, char **args, size_t n_args, bool allow_empty, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        bool from_stdin = (n_args == 1 && strcmp(args[0], "-") == 0) || (n_args == 0 && !isatty(STDIN_FILENO));

        if (from_stdin) {
                int r = read_stdin(&text, &n);
                if (r == -EFBIG) {
                        fprintf(stderr, "gemmactl: %s: standard input is larger than %u MiB\n", command,
                                TEXT_BYTES_MAX >> 20);
                        return EXIT_FAILED;
                }
                if (r < 0) {
                        fprintf(stderr, "gemmactl: %s: cannot read standard input: %s\n", command, strerror(-r));
                        return EXIT_FAILED;
                }
                if (strlen(text) != n) {
                        fprintf(stderr, "gemmactl: %s: standard input contains a NUL byte\n", command);
                        return EXIT_FAILED;
                }
        } else {
                if (n_args == 0) {
                        usage_error("%s: expected the text as an argument, or '-' to read it from standard input",
                                    command);
                        return EXIT_USAGE;
                }
                for (size_t i = 0; i < n_args; i++)
                        n += strlen(args[i]) + 1;
                text = malloc(n);
                if (!text) {
                        fprintf(stderr, "gemmactl: out of memory\n");
                        return EXIT_FAILED;
                }
                char *p = text;
                for (size_t i = 0; i < n_args; i++) {
                        if (i > 0)
                                *p++ = ' ';
                        p = stpcpy(p, args[i]);
                }
                n = (size_t) (p - text);
        }
        if (!utf8_valid(text, n)) {
                fprintf(stderr, "gemmactl: %s: the text is not valid UTF-8\n", command);
                return from_stdin ? EXIT_FAILED : EXIT_USAGE;
        }
        if (!allow_empty && n == 0) {
                if (from_stdin) {
                        fprintf(stderr, "gemmactl: %s: standard input is empty\n", command);
                        return EXIT_FAILED;
                }
                usage_error("%s: the text is empty", command);
                return EXIT_USAGE;
        }
        *ret = TAKE_PTR(text);
        return EXIT_OK;
}

int gen_or_global_option(GenOptions *o, int c, const char *value) {
        int r = c >= OPT_GEN_FIRST && c <= OPT_GEN_LAST ? gen_option_parse(o, c, value) : global_option_parse(c, value);
        if (r != 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        return 0;
}
