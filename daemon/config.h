/* gemmad's configuration: the settings a user may put in gemmad.conf, their defaults and their
 * allowed ranges. The file is an INI file read with libinih; gemmad.conf(5) documents every key.
 * Command-line options override the file. Validation happens here, once, at the door: a bad
 * value is an error naming the file, line, key and allowed range, never a silent default. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct Config {
        /* [model] */
        char *model_path;                 /* path = ; NULL: none configured */
        uint32_t threads;                 /* threads = 0 (one per online CPU), 0..256 */
        uint32_t context;                 /* context = 4096: positions per session, 128..1048576,
                                           * capped at the model's trained context at load time */
        bool prefault;                    /* prefault = true: read the weights into memory while
                                           * State=loading, so the first request does not pay for it */
        bool pack_weights;                /* pack_weights = true: a second, packed copy of the matrices
                                           * the CPU multiplies, made in the background after load */
        /* [engine] */
        uint32_t prefill_chunk;           /* prefill_chunk = 128: tokens computed per engine step,
                                           * 1..4096; small keeps other clients streaming */
        uint32_t kv_cache_mib;            /* kv_cache_mib = 1024: KV page pool budget, MiB, 16..1048576;
                                           * cached prefixes are forgotten (LRU) to stay within it */
        char *backend;                    /* backend = auto: auto, cpu, opencl or opencl:NAME-or-INDEX */
        uint32_t opencl_max_device_mib;   /* opencl_max_device_mib = 0 (90% of the device), 0..16777216:
                                           * device memory for weights, KV and activations */
        /* [limits] */
        uint32_t sessions_per_client;     /* sessions_per_client = 16, 1..1024 */
        uint32_t max_sessions;            /* max_sessions = 256, 1..65536: all clients together */
        uint32_t queued_requests;         /* queued_requests = 64, 1..65536: requests waiting or running */
        uint32_t prompt_bytes;            /* prompt_bytes = 1048576 (1 MiB), 1..67108864 */
        uint32_t default_max_tokens;      /* default_max_tokens = 512, 1..1048576 */
        /* [stream] */
        uint32_t flush_ms;                /* flush_ms = 40, 1..1000: Chunk signal coalescing period */
        uint32_t slow_consumer_bytes;     /* slow_consumer_bytes = 1048576, 4096..268435456: text held
                                           * back for one client before its request ends "slow-consumer" */
        /* [slice] */
        char *slice_policy;               /* policy = auto: "auto" or a slice name */
        char *slice_reduced;              /* reduced = auto: the slice for "reduced" power (battery);
                                           * auto = the middle of the model's presets */
        char *slice_minimal;              /* minimal = auto: the slice for "minimal" power (battery
                                           * low, power-saver, thermal, pressure); auto = the smallest */
        char *slice_custom;               /* custom = (none): a slice spec, offered as slice "custom" */
        /* [power] */
        bool power_upower;                /* upower = true: UPower and power-profiles-daemon */
        bool power_thermal;               /* thermal = true: thermal zones */
        bool power_pressure;              /* pressure = true: /proc/pressure */
        char *power_sysfs_root;           /* sysfs_root = /: prefix of /sys and /proc (tests) */
        char *power_gpu_hwmon;            /* gpu_hwmon = auto: "auto" (the OpenCL device's hwmon
                                           * sensor), "none", or an absolute .../tempN_input path */
        uint32_t power_poll_ms;           /* poll_ms = 2000, 100..60000: thermal/PSI re-read period */
        uint32_t power_battery_low_percent; /* battery_low_percent = 20, 0..100 */
        uint32_t power_down_delay_ms;     /* down_delay_ms = 500, 0..3600000: a smaller slice after this */
        uint32_t power_up_dwell_ms;       /* up_dwell_ms = 30000, 0..3600000: a larger one after this */
        uint32_t power_min_dwell_ms;      /* min_dwell_ms = 30000, 0..3600000: and this long since the last */
} Config;

/* Fills every field with its default (strings allocated). -ENOMEM. */
int config_init(Config *c);
/* Frees the strings; the struct may be passed to config_init() again. */
void config_done(Config *c);

/* Reads one INI file over the current values. Unknown sections or keys, values that do not parse
 * or are out of range, and duplicate keys are errors: -EINVAL with "FILE:LINE: ..." in err.
 * -ENOENT (err set) when the file does not exist, other -errno when it cannot be read. */
int config_load_file(Config *c, const char *path, GemmaError *err);

/* Parses the same syntax from memory (the fuzz target and the tests); name is used in messages. */
int config_load_string(Config *c, const char *name, const char *text, size_t len, GemmaError *err);

/* The file gemmad reads when --config is not given: $XDG_CONFIG_HOME/gemmad/gemmad.conf (or
 * ~/.config/... when XDG_CONFIG_HOME is unset or not absolute) if it exists, else
 * /etc/gemmad/gemmad.conf if it exists, else NULL. Newly allocated. */
char *config_find_default_path(void);
