/* gemmactl: the command-line client of gemmad. Global options, --help and the dispatch to the
 * subcommands (one per cmd-*.c file). */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "gemmactl.h"

#ifndef GEMMAD_VERSION
#define GEMMAD_VERSION "unknown"
#endif

/* A method call that does not wait for the model still gets the usual D-Bus default. */
#define DEFAULT_TIMEOUT_USEC (25 * 1000000ull)

const char *arg_bus_address = NULL;
bool arg_json = false;
uint64_t arg_timeout_usec = UINT64_MAX;

static void help(FILE *out) {
        fputs("Usage: gemmactl [OPTIONS] COMMAND [ARGS]\n"
              "\n"
              "Talk to gemmad, the on-device Gemma 3n model service, over D-Bus.\n"
              "\n"
              "Commands:\n"
              "  status                    daemon state, model, slice, sessions, requests, KV cache\n"
              "  ask [OPTIONS] TEXT        ask one question; the answer streams to standard output\n"
              "  chat [OPTIONS]            a conversation in one session: interactive on a terminal,\n"
              "                            otherwise one turn per line of standard input\n"
              "  sessions                  the sessions this connection owns, and the daemon's total\n"
              "  tokenize [OPTIONS] TEXT   the model's token ids for a text (--count: how many)\n"
              "\n"
              "Options (also accepted after COMMAND):\n"
              "      --bus-address ADDR    use the bus at ADDR (e.g. unix:path=/run/user/1000/bus)\n"
              "                            instead of the session bus\n"
              "      --json                machine-readable output: one JSON document per command\n"
              "      --timeout SEC         longest wait for a reply, 0 = no limit [25 for status and\n"
              "                            sessions; none for ask, chat and tokenize, which wait\n"
              "                            while the model loads]; bounds each answer of ask and chat\n"
              "  -h, --help                show this help; 'gemmactl COMMAND --help' for a command\n"
              "      --version             show the version\n"
              "\n"
              "TEXT is the arguments joined by spaces; '-', or no TEXT while standard input is not\n"
              "a terminal, reads it from standard input.\n"
              "\n"
              "Example: gemmactl ask --max-tokens 200 \"Summarize: $(cat notes.txt)\"\n"
              "\n"
              "Exit status:\n"
              "  0    success (an answer that ended at its end of turn, a stop string or --max-tokens)\n"
              "  1    the daemon refused or failed the request, or the answer ended early\n"
              "  2    bad command line (nothing was sent)\n"
              "  3    no bus, or gemmad is not on it and could not be activated, or it left\n"
              "  4    the model is not loaded (NotReady; for status: State error or stopped)\n"
              "  5    the text does not fit the context (ContextOverflow, or the context filled up)\n"
              "  6    the daemon is busy or a limit was reached (Busy, LimitsExceeded): retry later\n"
              "  130  interrupted by SIGINT (143: SIGTERM); the answer was cancelled\n"
              "\n"
              "See gemmactl(1) and gemmad(8).\n",
              out);
}

int simple_command_parse(int argc, char **argv, const char *command, void (*command_help)(FILE *out)) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                GLOBAL_OPTIONS,
                {},
        };
        int c, r;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        command_help(stdout);
                        return EXIT_OK;
                case '?':
                        return help_option_hint(command);
                default:
                        r = global_option_parse(c, optarg);
                        if (r != 0)
                                return r < 0 ? EXIT_USAGE : EXIT_OK;
                }
        if (optind < argc) {
                usage_error("%s: unexpected argument '%s'", command, argv[optind]);
                return EXIT_USAGE;
        }
        return -1;
}

int global_option_parse(int c, const char *value) {
        switch (c) {
        case OPT_BUS_ADDRESS:
                /* TRANSPORT:KEY=VALUE[,...]; sd-bus checks the rest when it connects. */
                if (!strchr(value, ':') || !strchr(value, '='))
                        return usage_error("--bus-address: '%s' is not a D-Bus address (e.g. unix:path=/run/user/1000/bus)",
                                           value);
                arg_bus_address = value;
                return 0;
        case OPT_JSON:
                arg_json = true;
                return 0;
        case OPT_TIMEOUT:
                return parse_timeout("--timeout", value, &arg_timeout_usec);
        case OPT_VERSION:
                printf("gemmactl %s\n", GEMMAD_VERSION);
                return 1;
        default:
                return usage_error("internal error: unknown global option %d", c);
        }
}

int help_option_hint(const char *command) {
        fprintf(stderr, "Try 'gemmactl %s --help'.\n", command);
        return EXIT_USAGE;
}

uint64_t call_timeout_usec(bool waits) {
        if (arg_timeout_usec == UINT64_MAX)
                return waits ? UINT64_MAX : DEFAULT_TIMEOUT_USEC;
        return arg_timeout_usec == 0 ? UINT64_MAX : arg_timeout_usec;
}

static const struct {
        const char *name;
        const char *prog; /* argv[0] for the command: getopt's messages start with it */
        int (*fn)(int, char **);
} commands[] = {
        { "status", "gemmactl status", cmd_status },
        { "ask", "gemmactl ask", cmd_ask },
        { "chat", "gemmactl chat", cmd_chat },
        { "sessions", "gemmactl sessions", cmd_sessions },
        { "tokenize", "gemmactl tokenize", cmd_tokenize },
};

static int run_command(const char *name, int argc, char **argv) {
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(name, commands[i].name) == 0) {
                        optind = 0; /* reinitialise getopt for the command's own table */
                        argv[0] = (char *) commands[i].prog;
                        return commands[i].fn(argc, argv);
                }
        fprintf(stderr, "gemmactl: unknown command '%s' (try 'gemmactl --help')\n", name);
        return EXIT_USAGE;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                GLOBAL_OPTIONS,
                {},
        };
        int c, r;

        setlocale(LC_ALL, "");
        /* A reader that goes away ("| head") shows up as EPIPE, and the answer is cancelled. */
        signal(SIGPIPE, SIG_IGN);

        /* '+': stop at the command; what follows belongs to it. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case '?':
                        fputs("Try 'gemmactl --help'.\n", stderr);
                        return EXIT_USAGE;
                default:
                        r = global_option_parse(c, optarg);
                        if (r < 0)
                                return EXIT_USAGE;
                        if (r > 0)
                                return EXIT_OK;
                }

        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }
        const char *command = argv[optind];
        if (strcmp(command, "help") == 0) {
                if (optind + 1 < argc) {
                        char *sub[] = { argv[optind + 1], (char *) "--help", NULL };
                        return run_command(argv[optind + 1], 2, sub);
                }
                help(stdout);
                return EXIT_OK;
        }
        return run_command(command, argc - optind, argv + optind);
}
