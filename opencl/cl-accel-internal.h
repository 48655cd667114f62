/* Internals shared by the files of the OpenCL accelerator: the device context, weights placed on
 * the device, and the device's cache of KV pages. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cl-common.h"
#include "gemma3n/model.h"
#include "kv/kv-cache.h"
#include "tensor/tensor.h"

/* The formats the device kernels read; every other weight type is converted to F16 at load. */
typedef enum DevFormat {
        DEV_F32,
        DEV_F16,
        DEV_Q8_0,   /* repacked: scales [rows, nb] half, values [rows, nb, 32] int8 */
        DEV_Q4_0,   /* repacked: scales [rows, nb] half, nibbles [rows, nb, 16] */
} DevFormat;

typedef struct DevMatrix {
        DevFormat fmt;
        uint32_t rows, cols, nb_row;   /* nb_row: blocks of 32 per row (quantised formats) */
        cl_mem values;                 /* F32/F16 data, or the quantised values */
        cl_mem scales;                 /* quantised formats only */
        uint64_t bytes;
} DevMatrix;

typedef struct ClCtx {
        cl_context context;
        cl_command_queue queue;
        cl_device_id device;
        uint64_t max_alloc;
        uint64_t allocated;            /* bytes in buffers this accelerator made */
        uint64_t converted;            /* matrices converted to F16 at load (logged) */
} ClCtx;

/* Sets err from a failed CL call: "opencl: WHAT: CL_NAME (code)". */
int cl_fail(GemmaError *err, cl_int code, const char *what);

/* A device buffer of n bytes, optionally filled from host memory; counted in ctx->allocated. */
int cl_buffer_new(ClCtx *c, size_t n, const void *init, cl_mem *ret, GemmaError *err);
void cl_buffer_free(ClCtx *c, cl_mem *m, size_t n);

/* Places a matrix on the device in the format its kernels read. */
int dev_matrix_upload(ClCtx *c, const Tensor *w, DevMatrix *ret, GemmaError *err);
void dev_matrix_free(ClCtx *c, DevMatrix *m);
/* Bytes dev_matrix_upload() will allocate for w. */
uint64_t dev_matrix_bytes(const Tensor *w);

/* The device's copies of KV pages: slots of one layer of one page each (K then V, page_size x
 * kv_dim floats each), keyed by (page serial, layer). The host pages stay the truth: a slot is a
 * cache, filled from the host page when first needed, written by the device thereafter, and
 * dropped least-recently-used when space runs out (never while the current layer uses it). */
typedef struct DevKv DevKv;

int dev_kv_new(ClCtx *c, uint32_t page_size, uint32_t kv_dim, uint32_t n_slots, DevKv **ret, GemmaError *err);
DevKv *dev_kv_free(ClCtx *c, DevKv *kv);
cl_mem dev_kv_buffer(const DevKv *kv);
uint32_t dev_kv_slots(const DevKv *kv);
uint32_t dev_kv_page_size(const DevKv *kv);
/* Starts a new layer step: slots used from now on are pinned until the next call. */
void dev_kv_next_stamp(DevKv *kv);
/* The slot holding layer `layer` of `page`, uploading the host copy `host` on a miss. */
int dev_kv_slot(ClCtx *c, DevKv *kv, const KvPage *page, uint32_t layer, const float *host, int32_t *ret,
                GemmaError *err);
