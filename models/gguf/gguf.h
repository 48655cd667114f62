/* GGUF files: open, validate everything, and expose read-only views into the mapped data.
 *
 * Layout of a GGUF file (versions 2 and 3; all integers little-endian):
 *
 *   1. magic        4 bytes "GGUF"
 *   2. version      u32, 2 or 3 (version 1 used 32-bit counts and is refused; a byte-swapped
 *                   version means a big-endian file, also refused)
 *   3. n_tensors    u64
 *   4. n_kv         u64
 *   5. n_kv metadata entries:   key (string), value type (u32), value
 *   6. n_tensors tensor infos:  name (string), n_dims (u32, 1..4), ne[n_dims] (u64 each,
 *                                ne[0] varies fastest), type (u32), offset (u64, relative to
 *                                the data section, a multiple of the alignment)
 *   7. padding up to the alignment
 *   8. the data section: tensor data at the offsets above
 *
 *   string:  u64 length, then that many bytes (no terminating NUL)
 *   value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (one byte, 0 or 1),
 *                8 string, 9 array (u32 element type, u64 count, elements; arrays may nest),
 *                10 u64, 11 i64, 12 f64
 *   alignment: the u32 key "general.alignment" if present (a power of two), else 32.
 *
 * gguf_open() checks every count against the bytes that remain, every string and array length,
 * key and tensor-name uniqueness, dimensions (no element-count overflow, whole quantisation
 * blocks per row), tensor types, and that every tensor's bytes lie inside the file, aligned and
 * not overlapping another tensor. Nothing is allocated in proportion to a count before the count
 * has been checked against the file size. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 256          /* longest key or tensor name we accept, in bytes */
#define GGUF_MAX_ARRAY_DEPTH 8     /* nesting of arrays inside arrays */

typedef enum GgufType {
        GGUF_TYPE_UINT8 = 0,
        GGUF_TYPE_INT8 = 1,
        GGUF_TYPE_UINT16 = 2,
        GGUF_TYPE_INT16 = 3,
        GGUF_TYPE_UINT32 = 4,
        GGUF_TYPE_INT32 = 5,
        GGUF_TYPE_FLOAT32 = 6,
        GGUF_TYPE_BOOL = 7,
        GGUF_TYPE_STRING = 8,
        GGUF_TYPE_ARRAY = 9,
        GGUF_TYPE_UINT64 = 10,
        GGUF_TYPE_INT64 = 11,
        GGUF_TYPE_FLOAT64 = 12,
        _GGUF_TYPE_MAX,
} GgufType;

typedef struct GgufString {
        const char *ptr;           /* into the file; not NUL-terminated */
        uint64_t len;
} GgufString;

typedef struct GgufValue GgufValue;

typedef struct GgufArray {
        GgufType elem_type;
        uint64_t count;
        const void *data;          /* numeric and bool elements: packed little-endian in the file */
        GgufString *strings;       /* string elements */
        GgufValue *arrays;         /* nested array elements */
} GgufArray;

struct GgufValue {
        GgufType type;
        union {
                uint8_t u8;
                int8_t i8;
                uint16_t u16;
                int16_t i16;
                uint32_t u32;
                int32_t i32;
                float f32;
                bool b;
                uint64_t u64;
                int64_t i64;
                double f64;
                GgufString str;
                GgufArray arr;
        };
};

typedef struct GgufKv {
        char *key;                 /* NUL-terminated copy */
        GgufValue value;
} GgufKv;

typedef struct GgufTensor {
        char *name;                /* NUL-terminated copy */
        uint32_t n_dims;
        uint64_t ne[GGUF_MAX_DIMS];   /* unused dims are 1 */
        uint32_t type;             /* GgmlType */
        uint64_t offset;           /* relative to the data section */
        uint64_t n_bytes;
        const void *data;          /* into the mapping */
} GgufTensor;

typedef struct GgufFile {
        char *path;                /* for messages */
        uint32_t version;
        uint32_t alignment;
        const uint8_t *base;       /* the whole file */
        size_t size;
        bool mapped;               /* base came from mmap() and is unmapped on close */
        uint64_t data_offset;      /* start of the data section in the file */

        GgufKv *kvs;
        size_t n_kvs;
        GgufTensor *tensors;       /* in file order */
        size_t n_tensors;
        size_t *kv_sorted;         /* indices sorted by key, for lookups */
        size_t *tensor_sorted;     /* indices sorted by name */
} GgufFile;

/* Maps the file read-only and validates it. On failure *ret is untouched and err says why. */
int gguf_open(const char *path, GgufFile **ret, GemmaError *err);

/* Validates a buffer that stays owned by the caller (fuzzing, tests). name is used in messages. */
int gguf_open_memory(const void *data, size_t size, const char *name, GgufFile **ret, GemmaError *err);

GgufFile *gguf_close(GgufFile *f);

static inline void gguf_closep(GgufFile **f) {
        if (*f)
                gguf_close(*f);
}

const GgufKv *gguf_find_kv(const GgufFile *f, const char *key);
const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name);

const char *gguf_type_name(GgufType t);

/* Bytes of one element of a fixed-size value type; 0 for string and array. */
size_t gguf_type_size(GgufType t);

uint64_t gguf_tensor_n_elements(const GgufTensor *t);

/* --- Typed lookups (gguf-kv.c). -------------------------------------------------------------
 * Each returns 0 on success, -ENOENT when the key is absent (err untouched, so optional keys are
 * easy), and -EINVAL with a message naming the key when it is present with the wrong type or an
 * out-of-range value. Integers of any width are accepted when the value fits. */
int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *ret, GemmaError *err);
int gguf_get_f32(const GgufFile *f, const char *key, float *ret, GemmaError *err);
int gguf_get_bool(const GgufFile *f, const char *key, bool *ret, GemmaError *err);
/* Returns a view into the file; copy it if it must outlive f. */
int gguf_get_string(const GgufFile *f, const char *key, GgufString *ret, GemmaError *err);

/* Per-layer values: a key that is either a scalar (applies to all n) or an array of exactly n. */
int gguf_get_u32_per_layer(const GgufFile *f, const char *key, size_t n, uint32_t *ret, GemmaError *err);
int gguf_get_f32_per_layer(const GgufFile *f, const char *key, size_t n, float *ret, GemmaError *err);
int gguf_get_bool_per_layer(const GgufFile *f, const char *key, size_t n, bool *ret, GemmaError *err);

/* Element i of a numeric array, converted; false if i is out of range or not numeric. */
bool gguf_array_get_f64(const GgufArray *a, uint64_t i, double *ret);

/* Writes a short human-readable rendering of a value ("u32 2048", "arr[f32,30]") into buf. */
void gguf_value_describe(const GgufValue *v, char *buf, size_t size);
