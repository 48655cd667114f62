/* gemmactl sessions: the sessions the calling connection owns (ListSessions) and the daemon's total
 * (the Sessions property). Sessions belong to the connection that made them, so a fresh gemmactl
 * normally owns none. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>

#include "gemmactl.h"

static void help(FILE *out) {
        fputs("Usage: gemmactl sessions [OPTIONS]\n"
              "\n"
              "List the sessions this connection owns (Manager.ListSessions) and how many sessions\n"
              "all clients have open together (the Sessions property). A session belongs to the\n"
              "connection that created it and ends when that connection closes, and gemmad never\n"
              "lists other clients' sessions: run from the shell, gemmactl owns none, so the list is\n"
              "normally empty and the total is the useful number.\n"
              "\n"
              "Options:\n"
              "      --json                {\"sessions\": [paths...], \"total\": N}\n"
              "  -h, --help                show this help\n"
              "  (and the global options of 'gemmactl --help')\n",
              out);
}

int cmd_sessions(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        json_object *paths = NULL;
        uint32_t total = 0;
        int r;

        r = simple_command_parse(argc, argv, "sessions", help);
        if (r >= 0)
                return r;

        r = bus_connect(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE, "ListSessions",
                               &error, &reply, "");
        if (r < 0)
                return bus_error_report(&error, r, "ListSessions");
        r = json_from_message(reply, &paths);
        if (r < 0)
                return bus_error_report(NULL, r, "reading the sessions");
        r = sd_bus_get_property_trivial(bus, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE, "Sessions",
                                        &error, 'u', &total);
        if (r < 0) {
                json_object_put(paths);
                return bus_error_report(&error, r, "reading Sessions");
        }

        size_t n = json_object_array_length(paths);
        if (arg_json) {
                json_object *doc = json_object_new_object();
                if (!doc || json_object_object_add(doc, "sessions", json_object_get(paths)) < 0 ||
                    json_object_object_add(doc, "total", json_object_new_int64(total)) < 0)
                        r = -ENOMEM;
                else
                        r = json_print(doc);
                json_object_put(doc);
        } else {
                for (size_t i = 0; i < n; i++)
                        puts(json_object_get_string(json_object_array_get_idx(paths, i)));
                printf("%zu session%s owned by this connection; %" PRIu32 " open in gemmad in all.\n", n,
                       n == 1 ? "" : "s", total);
                r = fflush(stdout) == 0 ? 0 : -EIO;
        }
        json_object_put(paths);
        if (r < 0) {
                fputs("gemmactl: cannot write to standard output\n", stderr);
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
