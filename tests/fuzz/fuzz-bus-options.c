/* libFuzzer target for the a{sv} options door (dbus/bus-options.c): the input is a little program
 * that builds one options dictionary — known and unknown keys, values of every basic type and of
 * the wrong ones, nested string arrays — as a real client's message would carry it. Whatever
 * the dictionary, bus_read_options() either fills RequestOptions within the documented ranges or
 * fails with an error set, and never crashes or leaks. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "bus-options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
        "system", "max_tokens", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "seed", "stop",
        "raw", "context", "cache_scope", "priority", "overflow", "no_wait", "chat", "bogus", "",
};
static const char *const strings[] = { "user", "app", "private", "interactive", "background", "error", "drop-oldest",
                                       "", "x", "\n\n" };

typedef struct Reader {
        const uint8_t *p;
        size_t n;
} Reader;

static uint8_t next_byte(Reader *r) {
        if (r->n == 0)
                return 0;
        r->n--;
        return *r->p++;
}

static uint64_t next_u64(Reader *r) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | next_byte(r);
        return v;
}

/* A bus object that never connects anywhere: sd-bus only builds messages on a started bus. */
static sd_bus *message_factory(void) {
        static sd_bus *bus;
        int sv[2];
        if (bus)
                return bus;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, sv[0], sv[0]) < 0 || sd_bus_start(bus) < 0)
                abort();
        return bus;
}

static int append_value(sd_bus_message *m, Reader *r) {
        uint8_t kind = next_byte(r) % 9;
        uint64_t v = next_u64(r);
        double d;
        switch (kind) {
        case 0:
                return sd_bus_message_append(m, "v", "s", strings[v % (sizeof(strings) / sizeof(strings[0]))]);
        case 1:
                return sd_bus_message_append(m, "v", "u", (uint32_t) v);
        case 2:
                memcpy(&d, &v, sizeof(d));   /* every bit pattern: NaN, inf, subnormals */
                return sd_bus_message_append(m, "v", "d", d);
        case 3:
                return sd_bus_message_append(m, "v", "t", v);
        case 4:
                return sd_bus_message_append(m, "v", "b", (int) (v & 1));
        case 5: {
                size_t n = v % 20;
                int k = sd_bus_message_open_container(m, 'v', "as");
                if (k >= 0)
                        k = sd_bus_message_open_container(m, 'a', "s");
                for (size_t i = 0; i < n && k >= 0; i++) {
                        char s[2 * 255 + 1];
                        size_t len = next_byte(r) + next_byte(r);
                        memset(s, 'a' + (int) (i % 26), len);
                        s[len] = '\0';
                        k = sd_bus_message_append(m, "s", s);
                }
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
                return k;
        }
        case 6:
                return sd_bus_message_append(m, "v", "i", (int32_t) v);
        case 7:
                return sd_bus_message_append(m, "v", "ay", 2, 1, 2);
        default:
                return sd_bus_message_append(m, "v", "as", 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Reader r = { data, size };
        sd_bus_message *m = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        RequestOptions o = {};
        bool chat;

        if (size > 4096)
                return 0;
        if (sd_bus_message_new_method_call(message_factory(), &m, "org.gemmad.Gemmad1", "/org/gemmad/Gemmad1",
                                           "org.gemmad.Gemmad1.Manager", "Generate") < 0)
                abort();
        unsigned allowed = (unsigned) next_byte(&r) << 8 | next_byte(&r);
        size_t n = next_byte(&r) % 12;
        int k = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; i < n && k >= 0; i++) {
                k = sd_bus_message_open_container(m, 'e', "sv");
                if (k >= 0)
                        k = sd_bus_message_append(m, "s", keys[next_byte(&r) % (sizeof(keys) / sizeof(keys[0]))]);
                if (k >= 0)
                        k = append_value(m, &r);
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
        }
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0 && sd_bus_message_seal(m, 1, 0) >= 0 && sd_bus_message_rewind(m, true) >= 0) {
                BusOptionLimits limits = { .n_ctx = 4096, .text_bytes = 1024 };
                int ret = bus_read_options(m, allowed | BUS_OPT_CHAT, &limits, &o, &chat, &error);
                if (ret >= 0) {
                        /* Accepted means within the documented ranges. */
                        assert(!o.has_max_tokens || (o.max_tokens >= 1 && o.max_tokens < limits.n_ctx));
                        assert(!o.has_temperature || (isfinite(o.temperature) && o.temperature >= 0));
                        assert(!o.has_top_p || (o.top_p > 0 && o.top_p <= 1));
                        assert(!o.has_min_p || (o.min_p >= 0 && o.min_p <= 1));
                        assert(!o.has_repeat_penalty || (o.repeat_penalty > 0 && isfinite(o.repeat_penalty)));
                        assert(!o.has_context || (o.context >= 2 && o.context <= limits.n_ctx));
                        assert(o.n_stops <= BUS_OPTION_STOPS_MAX);
                        assert(!o.system || strlen(o.system) <= limits.text_bytes);
                } else {
                        /* Refused means a message for the client (or an sd-bus type error). */
                        assert(sd_bus_error_is_set(&error) || ret == -ENXIO || ret == -EBADMSG || ret == -EINVAL);
                }
        }
        request_options_done(&o);
        sd_bus_error_free(&error);
        sd_bus_message_unref(m);
        return 0;
}
