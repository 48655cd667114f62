/* Overflow-checked allocation helpers: every sized allocation in the engine goes through these. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline bool size_mul_overflow(size_t a, size_t b, size_t *ret) {
        return __builtin_mul_overflow(a, b, ret);
}

static inline bool size_add_overflow(size_t a, size_t b, size_t *ret) {
        return __builtin_add_overflow(a, b, ret);
}

/* calloc() that also refuses a zero-sized request, so callers never get an ambiguous NULL. */
static inline void *new0_n(size_t n, size_t size) {
        if (n == 0 || size == 0)
                return calloc(1, 1);
        return calloc(n, size);
}

#define new0(type, n) ((type *) new0_n((n), sizeof(type)))

/* malloc(n * size) with the multiplication checked. */
static inline void *malloc_multiply(size_t n, size_t size) {
        size_t total;
        if (size_mul_overflow(n, size, &total))
                return NULL;
        return malloc(total ? total : 1);
}
