/* Writing GGUF v3 files (test models, slice exports): metadata and tensors are collected in
 * memory, then written in one pass with correct alignment. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf.h"

typedef struct GgufWriter GgufWriter;

GgufWriter *gguf_writer_new(void);
GgufWriter *gguf_writer_free(GgufWriter *w);

static inline void gguf_writer_freep(GgufWriter **w) {
        if (*w)
                gguf_writer_free(*w);
}

/* Metadata. Strings and arrays are copied. Return 0 or -ENOMEM. */
int gguf_writer_add_u32(GgufWriter *w, const char *key, uint32_t v);
int gguf_writer_add_f32(GgufWriter *w, const char *key, float v);
int gguf_writer_add_bool(GgufWriter *w, const char *key, bool v);
int gguf_writer_add_string(GgufWriter *w, const char *key, const char *v);
int gguf_writer_add_array(GgufWriter *w, const char *key, GgufType elem_type, const void *data, size_t count);
int gguf_writer_add_string_array(GgufWriter *w, const char *key, const char *const *v, size_t count);
/* Any value as gguf.h represents it (of a file being copied, or built in its form), nested arrays
 * included. -EINVAL for a type that does not exist. */
int gguf_writer_add_value(GgufWriter *w, const char *key, const GgufValue *v);

/* A tensor whose data (already in its on-disk type, n_bytes long) is copied.
 * ne[0] varies fastest; n_dims 1..4. Returns -EINVAL for a size that does not match the shape. */
int gguf_writer_add_tensor(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t ne[], const void *data, size_t n_bytes);

/* A tensor whose rows are produced while the file is written, so a multi-gigabyte model never
 * sits in memory: fill(userdata, row, dst) writes row `row` (ne[0] values, in `type`) to dst.
 * Rows are requested in order, once each. */
typedef void (*GgufRowFill)(void *userdata, uint64_t row, void *dst);
int gguf_writer_add_tensor_rows(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims,
                                const uint64_t ne[], GgufRowFill fill, void *userdata);

/* Writes the file atomically (temporary file, then rename). */
int gguf_writer_write(GgufWriter *w, const char *path, GemmaError *err);
