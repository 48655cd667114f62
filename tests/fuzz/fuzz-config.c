/* libFuzzer target for the gemmad.conf reader: any bytes are either rejected with a
 * "NAME:LINE: ..." message and the values left alone, or accepted with every value inside its
 * documented range and a model path that is absolute. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "/fuzz/gemmad.conf"

static void check_ranges(const Config *c) {
        if (c->threads > 256 || c->context < 128 || c->context > 1048576 || c->prefill_chunk < 1 ||
            c->prefill_chunk > 4096 || c->sessions_per_client < 1 || c->sessions_per_client > 1024 ||
            c->max_sessions < 1 || c->max_sessions > 65536 || c->queued_requests < 1 ||
            c->queued_requests > 65536 || c->prompt_bytes < 1 || c->prompt_bytes > 67108864 ||
            c->default_max_tokens < 1 || c->default_max_tokens > 1048576 || c->flush_ms < 1 ||
            c->flush_ms > 1000 || c->slow_consumer_bytes < 4096 || c->slow_consumer_bytes > 268435456)
                abort();
        if (c->model_path && c->model_path[0] != '/')
                abort();
        if (!c->slice_policy || !c->slice_policy[0])
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        GemmaError err = { 0 };
        Config c;

        if (size > 64 * 1024)
                return 0;
        if (config_init(&c) < 0)
                abort();
        int r = config_load_string(&c, NAME, (const char *) data, size, &err);
        if (r < 0) {
                /* a failure says where, and changes nothing */
                if (err.code != r || strncmp(err.message, NAME ":", strlen(NAME ":")) != 0)
                        abort();
                if (c.model_path || strcmp(c.slice_policy, "auto") != 0 || c.context != 4096)
                        abort();
        } else if (r != 0)
                abort();
        check_ranges(&c);
        config_done(&c);
        return 0;
}
