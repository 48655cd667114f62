/* gemmactl chat: a conversation in one session. On a terminal, lines are edited with libedit and
 * Ctrl-C stops only the answer being generated; otherwise each line of standard input is one turn.
 * While waiting for input, the event loop keeps running (signals, the daemon leaving the bus). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>

#include "gemmactl.h"

#define LINE_BYTES_MAX (64u << 20)

static void help(FILE *out) {
        fputs("Usage: gemmactl chat [OPTIONS]\n"
              "\n"
              "Talk with the model in one session: every turn and answer stays in its context.\n"
              "On a terminal, lines are edited with libedit (history lasts for this chat only and\n"
              "is never written to disk); Ctrl-C stops the answer being generated, Ctrl-D or /quit\n"
              "leaves. When standard input is not a terminal, each line is one turn and each answer\n"
              "is followed by a newline (scripts); SIGINT and SIGTERM then end the chat.\n"
              "\n"
              "Commands in the chat:\n"
              "  /help      list these commands\n"
              "  /usage     context positions in use and available\n"
              "  /reset     start over: close the session and open a new one with the same options\n"
              "  /quit      leave (also /exit, or end of input)\n"
              "  //TEXT     send '/TEXT' as a turn\n"
              "\n"
              "Options (defaults in brackets are the daemon's):\n",
              out);
        fputs(gen_options_help, out);
        fputs("      --json                one JSON object per answer instead of text (one per line\n"
              "                            when standard output is not a terminal):\n"
              "                            {\"text\": ..., \"info\": {...}}\n"
              "  -h, --help                show this help\n"
              "  (and the global options of 'gemmactl --help')\n"
              "\n"
              "Example: printf 'Name a river.\\nAnd its length?\\n' | gemmactl chat --max-tokens 64\n"
              "\n"
              "Exit status: 0 when every turn succeeded; otherwise the code of the last turn that\n"
              "failed (see 'gemmactl --help'); 3 at once when gemmad leaves the bus; 130 or 143 when\n"
              "a signal ended it.\n",
              out);
}

typedef struct Chat {
        Client *client;
        Stream *stream;
        bool interactive;
        int last_failure;

        /* non-interactive input */
        char *buf;
        size_t n_buf, start, allocated;
        bool eof;
} Chat;

/* Waits until fd is readable while running the event loop. 1: readable; 0: a signal arrived or the
 * daemon left (see client); negative errno on failure. */
static int wait_input(Client *c, int fd) {
        int efd = sd_event_get_fd(c->event);
        for (;;) {
                int r;
                /* Dispatch what is pending, including messages sd-bus already holds in its queue:
                 * the event fd says nothing about those until the loop has run. */
                do
                        r = sd_event_run(c->event, 0);
                while (r > 0 && !c->signal && !c->daemon_gone);
                if (r < 0)
                        return r;
                if (sd_bus_is_open(c->bus) <= 0)
                        c->daemon_gone = true;
                if (c->signal || c->daemon_gone)
                        return 0;
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = efd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR) /* libedit's SIGWINCH and SIGCONT handlers */
                                continue;
                        return -errno;
                }
                if (p[0].revents)
                        return 1;
        }
}

/* ---- interactive: libedit ---- */

static Chat *rl_chat;
static bool rl_interrupted;

/* libedit reads through this: wide characters from the locale's multibyte input, EOF to end the
 * line early when a signal arrived (the partial line is dropped). */
static int chat_getc(FILE *f) {
        mbstate_t state = {};
        int fd = fileno(f);

        for (;;) {
                int r = wait_input(rl_chat->client, fd);
                if (r <= 0) {
                        rl_interrupted = true;
                        return EOF;
                }
                char byte;
                ssize_t n = read(fd, &byte, 1);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        return EOF;
                wchar_t wc;
                size_t k = mbrtowc(&wc, &byte, 1, &state);
                if (k == (size_t) -2)
                        continue; /* more bytes of this character follow */
                if (k == (size_t) -1) {
                        memset(&state, 0, sizeof(state));
                        continue; /* not a character in this locale: skip the byte */
                }
                return (int) wc;
        }
}

/* The next line, malloced; NULL at the end of input. */
static char *chat_read_line_interactive(Chat *chat) {
        for (;;) {
                rl_interrupted = false;
                char *line = readline("> ");
                if (!rl_interrupted) {
                        if (!line)
                                putchar('\n'); /* Ctrl-D: leave the shell prompt on a line of its own */
                        return line;
                }
                free(line);
                if (chat->client->signal != SIGINT)
                        return NULL; /* SIGTERM or the daemon left: the caller sees why */
                /* Ctrl-C at the prompt drops the line, as a shell does. */
                chat->client->signal = 0;
                putchar('\n');
        }
}

/* ---- non-interactive: lines of standard input ---- */

static char *chat_read_line_plain(Chat *chat) {
        for (;;) {
                char *nl = chat->n_buf > chat->start ? memchr(chat->buf + chat->start, '\n', chat->n_buf - chat->start)
                                                     : NULL;
                if (nl || (chat->eof && chat->n_buf > chat->start)) {
                        char *line_start = chat->buf + chat->start;
                        size_t len = nl ? (size_t) (nl - line_start) : chat->n_buf - chat->start;
                        chat->start += len + (nl ? 1 : 0);
                        if (len > 0 && line_start[len - 1] == '\r')
                                len--;
                        return strndup(line_start, len);
                }
                if (chat->eof)
                        return NULL;
                if (chat->start > 0) {
                        memmove(chat->buf, chat->buf + chat->start, chat->n_buf - chat->start);
                        chat->n_buf -= chat->start;
                        chat->start = 0;
                }
                if (chat->allocated - chat->n_buf < 4096) {
                        if (chat->allocated >= LINE_BYTES_MAX) {
                                fprintf(stderr, "gemmactl: chat: an input line is longer than %u MiB\n",
                                        LINE_BYTES_MAX >> 20);
                                chat->eof = true;
                                chat->last_failure = EXIT_FAILED;
                                return NULL;
                        }
                        size_t want = chat->allocated ? chat->allocated * 2 : 65536;
                        char *p = realloc(chat->buf, want);
                        if (!p) {
                                fputs("gemmactl: out of memory\n", stderr);
                                chat->last_failure = EXIT_FAILED;
                                return NULL;
                        }
                        chat->buf = p;
                        chat->allocated = want;
                }
                int r = wait_input(chat->client, STDIN_FILENO);
                if (r == 0)
                        return NULL;
                if (r < 0) {
                        fprintf(stderr, "gemmactl: chat: %s\n", strerror(-r));
                        chat->last_failure = EXIT_FAILED;
                        return NULL;
                }
                ssize_t n = read(STDIN_FILENO, chat->buf + chat->n_buf, chat->allocated - chat->n_buf);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0) {
                        fprintf(stderr, "gemmactl: chat: cannot read standard input: %m\n");
                        chat->last_failure = EXIT_FAILED;
                        return NULL;
                }
                if (n == 0)
                        chat->eof = true;
                chat->n_buf += (size_t) n;
        }
}

/* ---- commands and turns ---- */

static void chat_help(void) {
        fputs("/help      list these commands\n"
              "/usage     context positions in use and available\n"
              "/reset     start over in a new session with the same options\n"
              "/quit      leave (also /exit, Ctrl-D)\n"
              "//TEXT     send '/TEXT'\n"
              "Ctrl-C stops the answer being generated.\n",
              stdout);
        fflush(stdout);
}

static int chat_usage(Chat *chat) {
        uint32_t usage = 0, window = 0;
        int r = stream_get_u32(chat->stream, "ContextUsage", &usage);
        if (r == EXIT_OK)
                r = stream_get_u32(chat->stream, "ContextWindow", &window);
        if (r != EXIT_OK)
                return r;
        if (arg_json) {
                json_object *doc = json_object_new_object();
                if (doc) {
                        json_object_object_add(doc, "context_usage", json_object_new_int64(usage));
                        json_object_object_add(doc, "context_window", json_object_new_int64(window));
                        (void) json_print(doc);
                        json_object_put(doc);
                }
        } else {
                printf("context: %" PRIu32 " of %" PRIu32 " positions in use (%.0f%%)\n", usage, window,
                       window ? 100.0 * usage / window : 0.0);
                fflush(stdout);
        }
        return EXIT_OK;
}

static int chat_turn(Chat *chat, const char *text) {
        Stream *s = chat->stream;
        int r = stream_prompt(s, text, arg_json ? NULL : stdout, call_timeout_usec(true));

        if (!arg_json && (!s->wrote_any || !s->ends_with_newline)) {
                /* In a script every answer ends with a newline; on a terminal only a non-empty one. */
                if (s->wrote_any || !chat->interactive)
                        putchar('\n');
                fflush(stdout);
        }
        if (arg_json && s->finished) {
                json_object *doc = json_object_new_object();
                if (doc) {
                        json_object_object_add(doc, "text", json_object_new_string_len(s->text ?: "", (int) s->n_text));
                        json_object_object_add(doc, "info", s->info ? json_object_get(s->info) : json_object_new_object());
                        (void) json_print(doc);
                        json_object_put(doc);
                }
        }
        return r;
}

/* Runs one input line. Returns -1 to leave the chat, else an exit code for this line. */
static int chat_line(Chat *chat, char *line) {
        const char *text = line;

        /* Skip lines that are only blanks. */
        if (line[strspn(line, " \t\r")] == '\0')
                return EXIT_OK;

        if (line[0] == '/' && line[1] != '/') {
                const char *cmd = line + 1;
                size_t len = strcspn(cmd, " \t");
                if (cmd[len + strspn(cmd + len, " \t")] != '\0') {
                        fprintf(stderr, "gemmactl: /%.*s takes no arguments\n", (int) len, cmd);
                        return EXIT_USAGE;
                }
                if (len == 4 && strncmp(cmd, "quit", 4) == 0)
                        return -1;
                if (len == 4 && strncmp(cmd, "exit", 4) == 0)
                        return -1;
                if (len == 4 && strncmp(cmd, "help", 4) == 0) {
                        chat_help();
                        return EXIT_OK;
                }
                if (len == 5 && strncmp(cmd, "usage", 5) == 0)
                        return chat_usage(chat);
                if (len == 5 && strncmp(cmd, "reset", 5) == 0) {
                        int r = stream_reopen(chat->stream);
                        if (r == EXIT_OK && chat->interactive)
                                fputs("(new session)\n", stderr);
                        return r;
                }
                fprintf(stderr, "gemmactl: unknown command '/%.*s' (try /help)\n", (int) len, cmd);
                return EXIT_USAGE;
        }
        if (line[0] == '/')
                text = line + 1; /* "//text" sends "/text" */

        return chat_turn(chat, text);
}

int cmd_chat(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                GLOBAL_OPTIONS,
                GEN_OPTIONS,
                {},
        };
        _cleanup_(client_freep) Client *client = NULL;
        _cleanup_(stream_freep) Stream *stream = NULL;
        GenOptions o = {};
        Chat chat = {};
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case '?':
                        return help_option_hint("chat");
                default:
                        if ((r = gen_or_global_option(&o, c, optarg)) != 0)
                                return r;
                }
        if (gen_options_check(&o) < 0)
                return EXIT_USAGE;
        if (optind < argc) {
                usage_error("chat: unexpected argument '%s' (turns are read from standard input)", argv[optind]);
                return EXIT_USAGE;
        }

        r = stream_start(&o, &client, &stream);
        if (r != EXIT_OK)
                return r;

        chat.client = client;
        chat.stream = stream;
        chat.interactive = isatty(STDIN_FILENO);
        if (chat.interactive) {
                rl_chat = &chat;
                rl_readline_name = "gemmactl";
                rl_getc_function = chat_getc;
                using_history();
                stifle_history(1000);
                fputs("Chatting with gemmad: /help lists the commands, Ctrl-C stops an answer, Ctrl-D leaves.\n",
                      stderr);
        }

        for (;;) {
                _cleanup_free_ char *line = chat.interactive ? chat_read_line_interactive(&chat)
                                                             : chat_read_line_plain(&chat);
                if (!line)
                        break;
                if (chat.interactive && line[strspn(line, " \t")] != '\0')
                        add_history(line);

                r = chat_line(&chat, line);
                if (r < 0)
                        break;
                if (r == EXIT_OK)
                        continue;
                if (r == EXIT_SIGNAL_BASE + SIGINT && chat.interactive) {
                        /* Ctrl-C stopped this answer only. */
                        client->signal = 0;
                        continue;
                }
                if (r >= EXIT_SIGNAL_BASE || r == EXIT_UNREACHABLE) {
                        chat.last_failure = r;
                        break;
                }
                chat.last_failure = r;
        }

        if (client->signal)
                chat.last_failure = EXIT_SIGNAL_BASE + client->signal;
        else if (client->daemon_gone && chat.last_failure != EXIT_UNREACHABLE) {
                fputs("gemmactl: lost gemmad: it left the bus, or the connection closed\n", stderr);
                chat.last_failure = EXIT_UNREACHABLE;
        }
        if (chat.interactive) {
                clear_history();
                rl_getc_function = NULL;
                rl_chat = NULL;
        }
        free(chat.buf);
        return chat.last_failure;
}
