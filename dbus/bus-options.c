/* a{sv} options -> RequestOptions, validated (see bus-options.h). */
#include "bus-options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"

typedef struct OptionSpec {
        const char *name;
        BusOptionKey key;
        char type;
        const char *range;            /* for messages */
} OptionSpec;

static const OptionSpec option_specs[] = {
        { "system", BUS_OPT_SYSTEM, 's', "a string" },
        { "max_tokens", BUS_OPT_MAX_TOKENS, 'u', NULL },
        { "temperature", BUS_OPT_TEMPERATURE, 'd', "0..100 (0 = greedy)" },
        { "top_k", BUS_OPT_TOP_K, 'u', "0..1000000 (0 = off)" },
        { "top_p", BUS_OPT_TOP_P, 'd', "greater than 0, at most 1 (1 = off)" },
        { "min_p", BUS_OPT_MIN_P, 'd', "0..1 (0 = off)" },
        { "repeat_penalty", BUS_OPT_REPEAT_PENALTY, 'd', "greater than 0, at most 100 (1 = off)" },
        { "seed", BUS_OPT_SEED, 't', "any 64-bit number" },
        { "stop", BUS_OPT_STOP, 'a', NULL },
        { "raw", BUS_OPT_RAW, 'b', "true or false" },
        { "context", BUS_OPT_CONTEXT, 'u', NULL },
        { "cache_scope", BUS_OPT_CACHE_SCOPE, 's', "'user', 'app' or 'private'" },
        { "priority", BUS_OPT_PRIORITY, 's', "'interactive', 'normal' or 'background'" },
        { "overflow", BUS_OPT_OVERFLOW, 's', "'error'" },
        { "no_wait", BUS_OPT_NO_WAIT, 'b', "true or false" },
        { "chat", BUS_OPT_CHAT, 'b', "true or false" },
};

static const OptionSpec *find_spec(const char *name) {
        for (size_t i = 0; i < sizeof(option_specs) / sizeof(option_specs[0]); i++)
                if (strcmp(option_specs[i].name, name) == 0)
                        return &option_specs[i];
        return NULL;
}

static void list_allowed(unsigned allowed, char *buf, size_t size) {
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(option_specs) / sizeof(option_specs[0]) && off < size; i++)
                if (allowed & option_specs[i].key) {
                        int n = snprintf(buf + off, size - off, "%s%s", off ? ", " : "", option_specs[i].name);
                        if (n < 0)
                                break;
                        off += (size_t) n;
                }
}

static int out_of_range(sd_bus_error *error, const char *name, const char *range) {
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' is out of range: allowed %s.", name,
                                 range);
}

static int read_stops(sd_bus_message *m, RequestOptions *o, sd_bus_error *error) {
        int r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (;;) {
                const char *s;
                r = sd_bus_message_read_basic(m, 's', &s);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (o->n_stops >= BUS_OPTION_STOPS_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'stop' has more than %d strings.", BUS_OPTION_STOPS_MAX);
                size_t len = strlen(s);
                if (len == 0 || len > BUS_OPTION_STOP_BYTES_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'stop': each string must be 1..%d bytes long.",
                                                 BUS_OPTION_STOP_BYTES_MAX);
                char **p = realloc(o->stops, (o->n_stops + 1) * sizeof(char *));
                if (!p)
                        return -ENOMEM;
                o->stops = p;
                if (!(o->stops[o->n_stops] = strdup(s)))
                        return -ENOMEM;
                o->n_stops++;
        }
        o->has_stop = true;
        return sd_bus_message_exit_container(m);
}

static int read_one(sd_bus_message *m, const OptionSpec *spec, const BusOptionLimits *limits, RequestOptions *o,
                    bool *chat, sd_bus_error *error) {
        char range[128];
        const char *s;
        uint32_t u;
        uint64_t t;
        double d;
        int b, r;

        switch (spec->key) {
        case BUS_OPT_SYSTEM:
                if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
                        return r;
                if (strlen(s) > limits->text_bytes)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'system' is %zu bytes, more than the %u allowed.", strlen(s),
                                                 limits->text_bytes);
                free(o->system);
                if (!(o->system = strdup(s)))
                        return -ENOMEM;
                return 0;
        case BUS_OPT_MAX_TOKENS:
                if ((r = sd_bus_message_read_basic(m, 'u', &u)) < 0)
                        return r;
                if (u == 0 || u >= limits->n_ctx) {
                        snprintf(range, sizeof(range), "1..%u (the context minus one)", limits->n_ctx - 1);
                        return out_of_range(error, spec->name, range);
                }
                o->has_max_tokens = true;
                o->max_tokens = u;
                return 0;
        case BUS_OPT_TEMPERATURE:
        case BUS_OPT_TOP_P:
        case BUS_OPT_MIN_P:
        case BUS_OPT_REPEAT_PENALTY:
                if ((r = sd_bus_message_read_basic(m, 'd', &d)) < 0)
                        return r;
                if (!isfinite(d) ||
                    (spec->key == BUS_OPT_TEMPERATURE && (d < 0 || d > 100)) ||
                    (spec->key == BUS_OPT_TOP_P && (d <= 0 || d > 1)) ||
                    (spec->key == BUS_OPT_MIN_P && (d < 0 || d > 1)) ||
                    (spec->key == BUS_OPT_REPEAT_PENALTY && (d <= 0 || d > 100)))
                        return out_of_range(error, spec->name, spec->range);
                if (spec->key == BUS_OPT_TEMPERATURE)
                        o->has_temperature = true, o->temperature = d;
                else if (spec->key == BUS_OPT_TOP_P)
                        o->has_top_p = true, o->top_p = d;
                else if (spec->key == BUS_OPT_MIN_P)
                        o->has_min_p = true, o->min_p = d;
                else
                        o->has_repeat_penalty = true, o->repeat_penalty = d;
                return 0;
        case BUS_OPT_TOP_K:
                if ((r = sd_bus_message_read_basic(m, 'u', &u)) < 0)
                        return r;
                if (u > 1000000)
                        return out_of_range(error, spec->name, spec->range);
                o->has_top_k = true;
                o->top_k = u;
                return 0;
        case BUS_OPT_SEED:
                if ((r = sd_bus_message_read_basic(m, 't', &t)) < 0)
                        return r;
                o->has_seed = true;
                o->seed = t;
                return 0;
        case BUS_OPT_STOP:
                return read_stops(m, o, error);
        case BUS_OPT_RAW:
        case BUS_OPT_NO_WAIT:
        case BUS_OPT_CHAT:
                if ((r = sd_bus_message_read_basic(m, 'b', &b)) < 0)
                        return r;
                if (spec->key == BUS_OPT_RAW)
                        o->has_raw = true, o->raw = b;
                else if (spec->key == BUS_OPT_NO_WAIT)
                        o->has_no_wait = true, o->no_wait = b;
                else if (chat)
                        *chat = b;
                return 0;
        case BUS_OPT_CONTEXT:
                if ((r = sd_bus_message_read_basic(m, 'u', &u)) < 0)
                        return r;
                if (u < 2 || u > limits->n_ctx) {
                        snprintf(range, sizeof(range), "2..%u (the daemon's context length)", limits->n_ctx);
                        return out_of_range(error, spec->name, range);
                }
                o->has_context = true;
                o->context = u;
                return 0;
        case BUS_OPT_CACHE_SCOPE:
                if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
                        return r;
                if (cache_scope_from_string(s) < 0)
                        return out_of_range(error, spec->name, spec->range);
                o->has_cache_scope = true;
                o->cache_scope = cache_scope_from_string(s);
                return 0;
        case BUS_OPT_PRIORITY:
                if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
                        return r;
                if (priority_from_string(s) < 0)
                        return out_of_range(error, spec->name, spec->range);
                o->has_priority = true;
                o->priority = priority_from_string(s);
                return 0;
        case BUS_OPT_OVERFLOW:
                if ((r = sd_bus_message_read_basic(m, 's', &s)) < 0)
                        return r;
                if (strcmp(s, "drop-oldest") == 0)
                        return sd_bus_error_set(error, SD_BUS_ERROR_NOT_SUPPORTED,
                                                "Option 'overflow' = 'drop-oldest' is not supported yet; a request "
                                                "that does not fit ends with ContextOverflow.");
                if (strcmp(s, "error") != 0)
                        return out_of_range(error, spec->name, spec->range);
                return 0;
        }
        return -EINVAL;
}

int bus_read_options(sd_bus_message *m, unsigned allowed, const BusOptionLimits *limits, RequestOptions *ret,
                     bool *ret_chat, sd_bus_error *error) {
        unsigned seen = 0;
        int r;

        if (ret_chat)
                *ret_chat = false;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *name;
                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if ((r = sd_bus_message_read_basic(m, 's', &name)) < 0)
                        return r;
                const OptionSpec *spec = find_spec(name);
                if (!spec || !(allowed & spec->key)) {
                        char list[512];
                        list_allowed(allowed, list, sizeof(list));
                        if (spec && spec->key & (BUS_OPT_SYSTEM | BUS_OPT_CONTEXT | BUS_OPT_CACHE_SCOPE))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option '%s' belongs to the session and is set when it is "
                                                         "created; this method accepts: %s.",
                                                         name, list);
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s'; this method accepts: %s.", name, list);
                }
                if (seen & spec->key)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' is given twice.", name);
                seen |= spec->key;

                const char *contents;
                char type;
                if ((r = sd_bus_message_peek_type(m, &type, &contents)) < 0)
                        return r;
                const char *want = spec->key == BUS_OPT_STOP ? "as" : (char[]) { spec->type, '\0' };
                if (type != 'v' || strcmp(contents, want) != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be of type '%s', got '%s'.", name, want,
                                                 contents ? contents : "?");
                if ((r = sd_bus_message_enter_container(m, 'v', want)) < 0)
                        return r;
                r = read_one(m, spec, limits, ret, ret_chat, error);
                if (r < 0)
                        return sd_bus_error_is_set(error) ? r : r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
                if ((r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}
