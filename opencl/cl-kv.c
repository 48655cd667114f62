/* The device's cache of KV pages (see cl-accel-internal.h). A chained hash from (page serial,
 * layer) to slot, and a clock hand that takes free slots first, then slots not used by the
 * current layer step. */
#include <errno.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "cl-accel-internal.h"

typedef struct SlotMeta {
        uint64_t serial;
        uint32_t layer;
        int32_t next;        /* next slot in the same bucket, -1 at the end */
        uint64_t stamp;      /* layer step that last used it */
        bool used;
} SlotMeta;

struct DevKv {
        cl_mem buffer;
        uint32_t page_size, kv_dim, n_slots, n_buckets;
        uint64_t slot_floats, stamp;
        uint32_t hand;
        SlotMeta *meta;      /* [n_slots] */
        int32_t *buckets;    /* [n_buckets] */
};

static uint32_t bucket_of(const DevKv *kv, uint64_t serial, uint32_t layer) {
        uint64_t h = serial * 0x9e3779b97f4a7c15ull ^ (uint64_t) layer * 0xc2b2ae3d27d4eb4full;
        return (uint32_t) (h >> 32) & (kv->n_buckets - 1);
}

int dev_kv_new(ClCtx *c, uint32_t page_size, uint32_t kv_dim, uint32_t n_slots, DevKv **ret, GemmaError *err) {
        DevKv *kv = new0(DevKv, 1);
        int k;
        if (!kv)
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
        kv->page_size = page_size;
        kv->kv_dim = kv_dim;
        kv->n_slots = n_slots;
        kv->slot_floats = 2ull * page_size * kv_dim;
        kv->n_buckets = 1;
        while (kv->n_buckets < 2 * n_slots)
                kv->n_buckets <<= 1;
        kv->meta = new0(SlotMeta, n_slots);
        kv->buckets = malloc_multiply(kv->n_buckets, sizeof(int32_t));
        if (!kv->meta || !kv->buckets) {
                dev_kv_free(c, kv);
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory");
        }
        for (uint32_t b = 0; b < kv->n_buckets; b++)
                kv->buckets[b] = -1;
        if ((k = cl_buffer_new(c, kv->slot_floats * n_slots * sizeof(float), NULL, &kv->buffer, err)) < 0) {
                dev_kv_free(c, kv);
                return k;
        }
        *ret = kv;
        return 0;
}

DevKv *dev_kv_free(ClCtx *c, DevKv *kv) {
        if (!kv)
                return NULL;
        cl_buffer_free(c, &kv->buffer, kv->slot_floats * kv->n_slots * sizeof(float));
        free(kv->meta);
        free(kv->buckets);
        free(kv);
        return NULL;
}

cl_mem dev_kv_buffer(const DevKv *kv) {
        return kv->buffer;
}

uint32_t dev_kv_slots(const DevKv *kv) {
        return kv->n_slots;
}

uint32_t dev_kv_page_size(const DevKv *kv) {
        return kv->page_size;
}

void dev_kv_next_stamp(DevKv *kv) {
        kv->stamp++;
}

static void unlink_slot(DevKv *kv, int32_t s) {
        SlotMeta *m = &kv->meta[s];
        int32_t *link = &kv->buckets[bucket_of(kv, m->serial, m->layer)];
        while (*link != s)
                link = &kv->meta[*link].next;
        *link = m->next;
        m->used = false;
}

static int32_t take_slot(DevKv *kv) {
        for (uint32_t tries = 0; tries < 2 * kv->n_slots; tries++) {
                const int32_t s = (int32_t) kv->hand;
                kv->hand = (kv->hand + 1) % kv->n_slots;
                SlotMeta *m = &kv->meta[s];
                if (!m->used)
                        return s;
                /* Recently used slots get a second chance; the current step's are pinned. */
                if (m->stamp == kv->stamp)
                        continue;
                if (m->stamp + 1 >= kv->stamp && tries < kv->n_slots) {
                        m->stamp = 0;
                        continue;
                }
                unlink_slot(kv, s);
                return s;
        }
        return -1;
}

int dev_kv_slot(ClCtx *c, DevKv *kv, const KvPage *page, uint32_t layer, const float *host, int32_t *ret,
                GemmaError *err) {
        const uint32_t b = bucket_of(kv, page->serial, layer);
        for (int32_t s = kv->buckets[b]; s >= 0; s = kv->meta[s].next)
                if (kv->meta[s].serial == page->serial && kv->meta[s].layer == layer) {
                        kv->meta[s].stamp = kv->stamp;
                        *ret = s;
                        return 0;
                }
        const int32_t s = take_slot(kv);
        if (s < 0)
                return gemma_error_set(err, -ENOSPC,
                                       "opencl: the device KV cache (%u pages) cannot hold the pages one layer step reads; raise opencl_max_device_mib",
                                       kv->n_slots);
        const size_t bytes = kv->slot_floats * sizeof(float);
        cl_int code = clEnqueueWriteBuffer(c->queue, kv->buffer, CL_FALSE, (size_t) s * bytes, bytes, host, 0, NULL, NULL);
        if (code != CL_SUCCESS)
                return cl_fail(err, code, "uploading a KV page");
        kv->meta[s] = (SlotMeta) { .serial = page->serial, .layer = layer, .next = kv->buckets[b], .stamp = kv->stamp,
                                   .used = true };
        kv->buckets[b] = s;
        *ret = s;
        return 0;
}
