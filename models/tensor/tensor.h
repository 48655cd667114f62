/* A read-only view of one tensor in a mapped file: type, shape and data. Owns nothing. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct Tensor {
        const char *name;
        uint32_t type;           /* GgmlType */
        uint64_t ne[4];          /* ne[0] varies fastest: a matrix is ne[1] rows of ne[0] values */
        size_t row_bytes;        /* bytes of one row of ne[0] values */
        const void *data;
} Tensor;

static inline const void *tensor_row(const Tensor *t, uint64_t row) {
        return (const uint8_t *) t->data + row * t->row_bytes;
}
