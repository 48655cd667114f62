/* The door for a{sv} options: every key is checked against the set the method accepts, its type
 * and its allowed range; anything else is InvalidArgs naming the key and the range. */
#pragma once

#include <stdint.h>

#include <systemd/sd-bus.h>

#include "request.h"

typedef enum BusOptionKey {
        BUS_OPT_SYSTEM = 1u << 0,
        BUS_OPT_MAX_TOKENS = 1u << 1,
        BUS_OPT_TEMPERATURE = 1u << 2,
        BUS_OPT_TOP_K = 1u << 3,
        BUS_OPT_TOP_P = 1u << 4,
        BUS_OPT_MIN_P = 1u << 5,
        BUS_OPT_REPEAT_PENALTY = 1u << 6,
        BUS_OPT_SEED = 1u << 7,
        BUS_OPT_STOP = 1u << 8,
        BUS_OPT_RAW = 1u << 9,
        BUS_OPT_CONTEXT = 1u << 10,
        BUS_OPT_CACHE_SCOPE = 1u << 11,
        BUS_OPT_PRIORITY = 1u << 12,
        BUS_OPT_OVERFLOW = 1u << 13,
        BUS_OPT_NO_WAIT = 1u << 14,
        BUS_OPT_CHAT = 1u << 15,
} BusOptionKey;

#define BUS_OPTS_SAMPLING                                                                                  \
        (BUS_OPT_MAX_TOKENS | BUS_OPT_TEMPERATURE | BUS_OPT_TOP_K | BUS_OPT_TOP_P | BUS_OPT_MIN_P |         \
         BUS_OPT_REPEAT_PENALTY | BUS_OPT_SEED | BUS_OPT_STOP)
/* Generate, GenerateToFd */
#define BUS_OPTS_GENERATE                                                                                  \
        (BUS_OPTS_SAMPLING | BUS_OPT_SYSTEM | BUS_OPT_RAW | BUS_OPT_CONTEXT | BUS_OPT_CACHE_SCOPE |          \
         BUS_OPT_PRIORITY | BUS_OPT_OVERFLOW | BUS_OPT_NO_WAIT)
#define BUS_OPTS_CREATE_SESSION BUS_OPTS_GENERATE
#define BUS_OPTS_PROMPT (BUS_OPTS_SAMPLING | BUS_OPT_RAW | BUS_OPT_PRIORITY | BUS_OPT_NO_WAIT)
#define BUS_OPTS_APPEND (BUS_OPT_RAW | BUS_OPT_PRIORITY | BUS_OPT_NO_WAIT)
#define BUS_OPTS_CLONE (BUS_OPTS_SAMPLING | BUS_OPT_CACHE_SCOPE | BUS_OPT_PRIORITY | BUS_OPT_NO_WAIT)
#define BUS_OPTS_COUNT_TOKENS (BUS_OPT_CHAT | BUS_OPT_SYSTEM | BUS_OPT_RAW | BUS_OPT_NO_WAIT)

typedef struct BusOptionLimits {
        uint32_t n_ctx;               /* context: 2..n_ctx; max_tokens: 1..n_ctx-1 */
        uint32_t text_bytes;          /* system text */
} BusOptionLimits;

#define BUS_OPTION_STOPS_MAX 16
#define BUS_OPTION_STOP_BYTES_MAX 256

/* Reads the a{sv} at the message's read position into ret (which must be zeroed; free it with
 * request_options_done() in every case). chat (BUS_OPT_CHAT) is returned in *ret_chat when
 * that pointer is given. Returns 0, or a negative errno with error set. */
int bus_read_options(sd_bus_message *m, unsigned allowed, const BusOptionLimits *limits, RequestOptions *ret,
                     bool *ret_chat, sd_bus_error *error);
