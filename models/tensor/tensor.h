/* A read-only view of one tensor in a mapped file: type, shape and data. Owns nothing.
 *
 * A matrix may also have a packed copy of its leading rows (packed, packed_rows): the same values in
 * the layout a CPU tile kernel reads fastest (cpu/packed.h), made after load by a background packer
 * and published once complete. Readers take it with tensor_packed(); data stays valid either way. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Tensor {
        const char *name;
        uint32_t type;           /* GgmlType */
        uint64_t ne[4];          /* ne[0] varies fastest: a matrix is ne[1] rows of ne[0] values */
        size_t row_bytes;        /* bytes of one row of ne[0] values */
        const void *data;
        /* Rows [0, packed_rows) in the packed layout, row r's tile at the same byte offset as row r of
         * data; NULL until published (written once with release order: read it with tensor_packed()). */
        const void *packed;
        uint64_t packed_rows;
} Tensor;

static inline const void *tensor_row(const Tensor *t, uint64_t row) {
        return (const uint8_t *) t->data + row * t->row_bytes;
}

/* The packed copy, or NULL; when not NULL, packed_rows may be read. */
static inline const void *tensor_packed(const Tensor *t) {
        return __atomic_load_n(&t->packed, __ATOMIC_ACQUIRE);
}

/* Publishes a complete packed copy of rows [0, rows) (the packer's side of tensor_packed()). */
static inline void tensor_publish_packed(Tensor *t, const void *packed, uint64_t rows) {
        t->packed_rows = rows;
        __atomic_store_n(&t->packed, packed, __ATOMIC_RELEASE);
}

/* A view of rows [first, first + count) of matrix t. The packed copy comes along when first is a
 * multiple of tile_rows (the packed layout's rows per tile), so that the view's tiles are whole. */
static inline Tensor tensor_rows_view(const Tensor *t, uint64_t first, uint64_t count, uint64_t tile_rows) {
        /* field by field: the packer may be publishing into t meanwhile */
        Tensor v = { .name = t->name, .type = t->type, .ne = { t->ne[0], count, t->ne[2], t->ne[3] },
                     .row_bytes = t->row_bytes, .data = tensor_row(t, first) };
        const uint8_t *packed = tensor_packed(t);
        if (packed && tile_rows && first % tile_rows == 0 && first < t->packed_rows) {
                uint64_t rows = t->packed_rows - first;
                v.packed = packed + first * t->row_bytes;
                v.packed_rows = (rows < count ? rows : count) / tile_rows * tile_rows;
        }
        return v;
}
