/* The narrow interface an accelerator implements to run Gemma 3n decoder layers.
 *
 * The host keeps what is cheap or huge: the token embedding (also the tied LM head), the
 * per-layer-embedding table (both read in place from the mapped file), the per-layer input
 * projection, the AltUp set-up and merge, and sampling. An accelerator runs whole decoder layers
 * on the n AltUp streams; which layers it runs is fixed when it is made (layers that do not fit
 * in device memory stay on the CPU: split execution). Per step it receives the rows' positions,
 * their KV caches and the per-layer inputs (tokens x layers x P values); the streams travel only
 * where execution moves between host and device.
 *
 * KV: the host pages (kv/kv-cache.h) stay the single source of truth. A layer run on the device
 * writes its new K/V rows into the host pages too, so the CPU layers, copy-on-write, the prefix
 * cache and slice switches work unchanged; the device keeps a cache of pages keyed by the page's
 * serial number, so a page is uploaded once and read in place afterwards.
 *
 * An accelerator is used by one thread at a time (the thread running the model). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/kv-cache.h"

typedef struct Gemma3nAccel Gemma3nAccel;

typedef struct Gemma3nAccelRows {
        uint32_t T;                /* rows of this step */
        const uint32_t *pos;       /* [T] position of each row in its sequence */
        KvCache *const *kv;        /* [T] each row's KV cache, prepared for its position */
        const float *pli;          /* [T, L*P] per-layer inputs, row stride L*P */
} Gemma3nAccelRows;

struct Gemma3nAccel {
        const char *name;          /* for logs: "opencl: <device>" */
        uint64_t device_bytes;     /* weights placed in device memory */
        uint64_t host_bytes;       /* weights read from the mapped file on the host */

        /* Whether decoder layer l runs on the device. */
        bool (*runs_layer)(const Gemma3nAccel *a, uint32_t l);
        /* A step (or, after the prefill saving compacts the rows, the rest of it) begins. */
        int (*begin)(Gemma3nAccel *a, const Gemma3nAccelRows *rows, GemmaError *err);
        /* The AltUp streams [n, T, D] move to the device, or back. */
        int (*upload_streams)(Gemma3nAccel *a, const float *h, GemmaError *err);
        int (*download_streams)(Gemma3nAccel *a, float *h, GemmaError *err);
        /* Decoder layer l with its first ffn_units FFN units, on the streams held by the device. */
        int (*layer)(Gemma3nAccel *a, uint32_t l, uint32_t ffn_units, GemmaError *err);
        void (*free)(Gemma3nAccel *a);
};

static inline void gemma3n_accel_free(Gemma3nAccel *a) {
        if (a)
                a->free(a);
}
