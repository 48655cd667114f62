/* gemmactl status: every Manager property in one GetAll call, printed for a person or as JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "gemmactl.h"

static void help(FILE *out) {
        fputs("Usage: gemmactl status [OPTIONS]\n"
              "\n"
              "Show what gemmad is doing: model file, state (with the loading stage and progress, or\n"
              "why it failed), backend and memory, context length, the active model slice with its\n"
              "policy and reason, sessions, running and queued requests, KV cache use and the totals\n"
              "since the daemon started. All properties are read with one call.\n"
              "\n"
              "Options:\n"
              "      --json                every property of org.gemmad.Gemmad1.Manager as one JSON\n"
              "                            object\n"
              "  -h, --help                show this help\n"
              "  (and the global options of 'gemmactl --help')\n"
              "\n"
              "Exit status: 0 when the model is ready or loading, 4 when State is error or stopped,\n"
              "3 when gemmad is not reachable; see 'gemmactl --help'.\n",
              out);
}

static const char *prop_string(json_object *props, const char *key) {
        return json_get_string(props, key) ?: "";
}

static uint64_t prop_u64(json_object *props, const char *key) {
        uint64_t v = 0;
        (void) json_get_uint64(props, key, &v);
        return v;
}

/* "a, b, c" from a JSON array of strings. */
static void print_string_list(json_object *arr) {
        size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
        if (n == 0) {
                fputs("none", stdout);
                return;
        }
        for (size_t i = 0; i < n; i++)
                printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(arr, i)));
}

/* "key=value, ..." from a JSON object of scalars. */
static void print_dict(json_object *obj) {
        bool first = true;
        json_object_object_foreach(obj, key, value) {
                printf("%s%s=%s", first ? "" : ", ", key,
                       json_object_is_type(value, json_type_string) ? json_object_get_string(value)
                                                                    : json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN));
                first = false;
        }
}

static void print_status(json_object *props) {
        const char *state = prop_string(props, "State"), *reason = prop_string(props, "StateReason");
        const char *message = prop_string(props, "StateMessage"), *path = prop_string(props, "ModelPath");
        json_object *info = NULL, *v = NULL;
        char b1[32], b2[32];
        double progress = 0;

        printf("       Model: %s", *path ? path : "(none configured)");
        if (json_object_object_get_ex(props, "ModelInfo", &info) && json_object_object_length(info) > 0) {
                const char *name = json_get_string(info, "name") ?: json_get_string(info, "architecture");
                uint64_t layers = 0;
                if (name && json_get_uint64(info, "layers", &layers))
                        printf(" (%s, %" PRIu64 " layers)", name, layers);
                else if (name)
                        printf(" (%s)", name);
        }
        putchar('\n');

        printf("       State: %s", *state ? state : "unknown");
        if (strcmp(state, "loading") == 0) {
                (void) json_get_double(props, "LoadProgress", &progress);
                printf(" (%s%s%.0f%%)", reason, *reason ? ", " : "", progress * 100);
        } else if (*reason && strcmp(reason, state) != 0)
                printf(" (%s)", reason);
        putchar('\n');
        if (*message)
                printf("     Message: %s\n", message);

        printf("     Backend: %s (host %s, device %s", *prop_string(props, "Backend") ? prop_string(props, "Backend") : "unknown",
               format_bytes(prop_u64(props, "HostBytes"), b1), format_bytes(prop_u64(props, "DeviceBytes"), b2));
        const uint64_t packed = prop_u64(props, "PackedBytes");
        if (packed > 0)
                printf(", packed %s", format_bytes(packed, b1));
        printf(")\n");
        printf("     Context: %" PRIu64 " positions per session\n", prop_u64(props, "ContextLength"));
        printf("  Modalities: ");
        print_string_list(json_object_object_get_ex(props, "Modalities", &v) ? v : NULL);
        putchar('\n');

        printf("       Slice: %s (policy %s, reason %s; available: ", *prop_string(props, "ActiveSlice") ? prop_string(props, "ActiveSlice") : "none",
               prop_string(props, "SlicePolicy"), prop_string(props, "SliceReason"));
        print_string_list(json_object_object_get_ex(props, "AvailableSlices", &v) ? v : NULL);
        puts(")");
        if (json_object_object_get_ex(props, "SliceInputs", &v) && json_object_is_type(v, json_type_object) &&
            json_object_object_length(v) > 0) {
                printf("      Inputs: ");
                print_dict(v);
                putchar('\n');
        }

        printf("    Sessions: %" PRIu64 "\n", prop_u64(props, "Sessions"));
        printf("    Requests: %" PRIu64 " active, %" PRIu64 " queued\n", prop_u64(props, "ActiveRequests"),
               prop_u64(props, "QueuedRequests"));
        uint64_t limit = prop_u64(props, "KvCacheLimit");
        printf("    KV cache: %s", format_bytes(prop_u64(props, "KvCacheBytes"), b1));
        if (limit > 0)
                printf(" of %s\n", format_bytes(limit, b2));
        else
                puts(" (no byte limit)");

        if (json_object_object_get_ex(props, "Stats", &v) && json_object_is_type(v, json_type_object)) {
                uint64_t requests = 0, cancelled = 0, prefill = 0, decoded = 0, cached = 0, hits = 0, misses = 0,
                         evictions = 0;
                (void) json_get_uint64(v, "requests", &requests);
                (void) json_get_uint64(v, "cancelled", &cancelled);
                (void) json_get_uint64(v, "prefill_tokens", &prefill);
                (void) json_get_uint64(v, "decoded_tokens", &decoded);
                (void) json_get_uint64(v, "cached_tokens", &cached);
                (void) json_get_uint64(v, "cache_hits", &hits);
                (void) json_get_uint64(v, "cache_misses", &misses);
                (void) json_get_uint64(v, "evictions", &evictions);
                printf("       Stats: %" PRIu64 " requests (%" PRIu64 " cancelled); tokens: %" PRIu64 " prefilled, %" PRIu64
                       " decoded, %" PRIu64 " cached\n",
                       requests, cancelled, prefill, decoded, cached);
                printf("              prefix cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " evictions\n", hits,
                       misses, evictions);
        }
        printf("     Version: %s\n", *prop_string(props, "Version") ? prop_string(props, "Version") : "unknown");
}

int cmd_status(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        json_object *props = NULL;
        int r;

        r = simple_command_parse(argc, argv, "status", help);
        if (r >= 0)
                return r;

        r = bus_connect(&bus);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_call_method(bus, GEMMAD_BUS_NAME, GEMMAD_MANAGER_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", GEMMAD_MANAGER_INTERFACE);
        if (r < 0)
                return bus_error_report(&error, r, "GetAll");
        r = json_from_message(reply, &props);
        if (r < 0)
                return bus_error_report(NULL, r, "reading the properties");

        const char *state = prop_string(props, "State");
        int exit_code = strcmp(state, "error") == 0 || strcmp(state, "stopped") == 0 ? EXIT_NOT_READY : EXIT_OK;
        if (arg_json)
                r = json_print(props);
        else {
                print_status(props);
                r = fflush(stdout) == 0 ? 0 : -EIO;
        }
        json_object_put(props);
        if (r < 0) {
                fprintf(stderr, "gemmactl: cannot write to standard output\n");
                return EXIT_FAILED;
        }
        return exit_code;
}
