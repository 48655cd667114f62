/* gemmactl tokenize: the model's token ids for a text (Manager.Tokenize), or only their number
 * (Manager.CountTokens, optionally with the chat template). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>

#include "gemmactl.h"

enum { OPT_COUNT = 0x3000, OPT_CHAT, OPT_TOKENIZE_SYSTEM };

static void help(FILE *out) {
        fputs("Usage: gemmactl tokenize [OPTIONS] TEXT|-\n"
              "\n"
              "Print the model's token ids for TEXT, one per line. The text is taken as it is: no chat\n"
              "template and no BOS; special-token text such as <start_of_turn> is recognised. TEXT is\n"
              "the arguments joined by spaces; '-' (or no TEXT while standard input is not a terminal)\n"
              "reads it from standard input. Waits while the model loads.\n"
              "\n"
              "Options:\n"
              "      --count               print only the number of tokens (Manager.CountTokens)\n"
              "      --chat                with --count: count the text as ask would send it, chat\n"
              "                            template and BOS included\n"
              "      --system TEXT         with --count --chat: include these system instructions\n"
              "      --json                a JSON array of ids (with --count: a number)\n"
              "  -h, --help                show this help\n"
              "  (and the global options of 'gemmactl --help')\n"
              "\n"
              "Example: gemmactl tokenize --count --chat - < notes.txt\n",
              out);
}

static int tokenize_count(sd_bus *bus, const char *text, bool chat, const char *system) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint32_t n;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE,
                                           "CountTokens");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && chat)
                r = sd_bus_message_append(m, "{sv}", "chat", "b", 1);
        if (r >= 0 && system)
                r = sd_bus_message_append(m, "{sv}", "system", "s", system);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                (void) sd_bus_message_sensitive(m);
        if (r < 0)
                return bus_error_report(NULL, r, "CountTokens");
        r = sd_bus_call(bus, m, call_timeout_usec(true), &error, &reply);
        if (r < 0)
                return bus_error_report(&error, r, "CountTokens");
        r = sd_bus_message_read(reply, "u", &n);
        if (r < 0)
                return bus_error_report(NULL, r, "CountTokens");
        printf("%" PRIu32 "\n", n);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int tokenize_ids(sd_bus *bus, const char *text) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const uint32_t *ids;
        size_t size;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE,
                                           "Tokenize");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                (void) sd_bus_message_sensitive(m);
        if (r < 0)
                return bus_error_report(NULL, r, "Tokenize");
        r = sd_bus_call(bus, m, call_timeout_usec(true), &error, &reply);
        if (r < 0)
                return bus_error_report(&error, r, "Tokenize");
        r = sd_bus_message_read_array(reply, 'u', (const void **) &ids, &size);
        if (r < 0)
                return bus_error_report(NULL, r, "Tokenize");

        size_t n = size / sizeof(uint32_t);
        if (arg_json) {
                json_object *arr = json_object_new_array_ext((int) MIN(n, (size_t) INT32_MAX));
                for (size_t i = 0; arr && i < n; i++)
                        if (json_object_array_add(arr, json_object_new_int64(ids[i])) < 0) {
                                json_object_put(arr);
                                arr = NULL;
                        }
                r = arr ? json_print(arr) : -ENOMEM;
                json_object_put(arr);
        } else {
                for (size_t i = 0; i < n; i++)
                        printf("%" PRIu32 "\n", ids[i]);
                r = fflush(stdout) == 0 ? 0 : -EIO;
        }
        if (r < 0) {
                fputs("gemmactl: cannot write to standard output\n", stderr);
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

int cmd_tokenize(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "count", no_argument, NULL, OPT_COUNT },
                { "chat", no_argument, NULL, OPT_CHAT },
                { "system", required_argument, NULL, OPT_TOKENIZE_SYSTEM },
                GLOBAL_OPTIONS,
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *text = NULL;
        const char *system = NULL;
        bool count = false, chat = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case OPT_COUNT:
                        count = true;
                        break;
                case OPT_CHAT:
                        chat = true;
                        break;
                case OPT_TOKENIZE_SYSTEM:
                        system = optarg;
                        break;
                case '?':
                        return help_option_hint("tokenize");
                default:
                        r = global_option_parse(c, optarg);
                        if (r != 0)
                                return r < 0 ? EXIT_USAGE : EXIT_OK;
                }
        if (chat && !count) {
                usage_error("tokenize: --chat needs --count (Tokenize takes the text as it is)");
                return EXIT_USAGE;
        }
        if (system && !chat) {
                usage_error("tokenize: --system needs --count --chat");
                return EXIT_USAGE;
        }
        r = text_from_args("tokenize", argv + optind, (size_t) (argc - optind), true, &text);
        if (r != EXIT_OK)
                return r;

        r = bus_connect(&bus);
        if (r != EXIT_OK)
                return r;
        return count ? tokenize_count(bus, text, chat, system) : tokenize_ids(bus, text);
}
