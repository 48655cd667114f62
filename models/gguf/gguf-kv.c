/* Typed metadata lookups: each checks the stored type and range, and names the key on failure. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gguf.h"

static bool value_is_integer(GgufType t) {
        switch (t) {
        case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16:
        case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64:
                return true;
        default:
                return false;
        }
}

/* Reads element i of packed little-endian numeric data of the given type as a double (exact for
 * every 32-bit type; 64-bit integers beyond 2^53 lose precision, which range checks tolerate). */
static double numeric_at(GgufType t, const void *data, uint64_t i) {
        const uint8_t *p = (const uint8_t *) data + i * gguf_type_size(t);
        union {
                uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
                float f32; uint64_t u64; int64_t i64; double f64;
        } v;
        memcpy(&v, p, gguf_type_size(t));
        switch (t) {
        case GGUF_TYPE_UINT8: return v.u8;
        case GGUF_TYPE_INT8: return v.i8;
        case GGUF_TYPE_UINT16: return v.u16;
        case GGUF_TYPE_INT16: return v.i16;
        case GGUF_TYPE_UINT32: return v.u32;
        case GGUF_TYPE_INT32: return v.i32;
        case GGUF_TYPE_FLOAT32: return v.f32;
        case GGUF_TYPE_UINT64: return (double) v.u64;
        case GGUF_TYPE_INT64: return (double) v.i64;
        case GGUF_TYPE_FLOAT64: return v.f64;
        case GGUF_TYPE_BOOL: return v.u8;
        default: return NAN;
        }
}

bool gguf_array_get_f64(const GgufArray *a, uint64_t i, double *ret) {
        if (i >= a->count || gguf_type_size(a->elem_type) == 0)
                return false;
        *ret = numeric_at(a->elem_type, a->data, i);
        return true;
}

static double scalar_as_f64(const GgufValue *v) {
        return numeric_at(v->type, &v->u64, 0);
}

static int u32_from(const char *path, const char *key, GgufType t, double x, uint32_t *ret, GemmaError *err) {
        if (!value_is_integer(t))
                return gemma_error_set(err, -EINVAL, "%s: key '%s' must be an integer, is %s", path, key, gguf_type_name(t));
        if (!(x >= 0 && x <= UINT32_MAX))
                return gemma_error_set(err, -EINVAL, "%s: key '%s' value %.0f is out of range (0..%" PRIu32 ")",
                                       path, key, x, UINT32_MAX);
        *ret = (uint32_t) x;
        return 0;
}

static int f32_from(const char *path, const char *key, GgufType t, double x, float *ret, GemmaError *err) {
        if (t != GGUF_TYPE_FLOAT32 && t != GGUF_TYPE_FLOAT64 && !value_is_integer(t))
                return gemma_error_set(err, -EINVAL, "%s: key '%s' must be a number, is %s", path, key, gguf_type_name(t));
        *ret = (float) x;
        return 0;
}

static int bool_from(const char *path, const char *key, GgufType t, double x, bool *ret, GemmaError *err) {
        if (t != GGUF_TYPE_BOOL)
                return gemma_error_set(err, -EINVAL, "%s: key '%s' must be bool, is %s", path, key, gguf_type_name(t));
        *ret = x != 0;
        return 0;
}

int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *ret, GemmaError *err) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                return -ENOENT;
        return u32_from(f->path, key, kv->value.type, scalar_as_f64(&kv->value), ret, err);
}

int gguf_get_f32(const GgufFile *f, const char *key, float *ret, GemmaError *err) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                return -ENOENT;
        return f32_from(f->path, key, kv->value.type, scalar_as_f64(&kv->value), ret, err);
}

int gguf_get_bool(const GgufFile *f, const char *key, bool *ret, GemmaError *err) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                return -ENOENT;
        return bool_from(f->path, key, kv->value.type, scalar_as_f64(&kv->value), ret, err);
}

int gguf_get_string(const GgufFile *f, const char *key, GgufString *ret, GemmaError *err) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                return -ENOENT;
        if (kv->value.type != GGUF_TYPE_STRING)
                return gemma_error_set(err, -EINVAL, "%s: key '%s' must be a string, is %s", f->path, key,
                                       gguf_type_name(kv->value.type));
        *ret = kv->value.str;
        return 0;
}

/* Shared walk of a scalar-or-array key: element i goes through convert(). */
#define PER_LAYER_GETTER(fname, ctype, convert)                                                          \
        int fname(const GgufFile *f, const char *key, size_t n, ctype *ret, GemmaError *err) {          \
                const GgufKv *kv = gguf_find_kv(f, key);                                                \
                int k;                                                                                  \
                if (!kv)                                                                                \
                        return -ENOENT;                                                                 \
                if (kv->value.type != GGUF_TYPE_ARRAY) {                                                \
                        ctype v = 0;                                                                      \
                        if ((k = convert(f->path, key, kv->value.type, scalar_as_f64(&kv->value), &v, err)) < 0) \
                                return k;                                                               \
                        for (size_t i = 0; i < n; i++)                                                  \
                                ret[i] = v;                                                             \
                        return 0;                                                                       \
                }                                                                                       \
                const GgufArray *a = &kv->value.arr;                                                    \
                if (a->count != n)                                                                      \
                        return gemma_error_set(err, -EINVAL, "%s: key '%s' has %llu entries, expected %zu (one per layer)", \
                                               f->path, key, (unsigned long long) a->count, n);         \
                if (gguf_type_size(a->elem_type) == 0)                                                  \
                        return gemma_error_set(err, -EINVAL, "%s: key '%s' is an array of %s, expected numbers", \
                                               f->path, key, gguf_type_name(a->elem_type));             \
                /* Every element is checked before any is stored: ret stays untouched on failure. */  \
                for (size_t i = 0; i < n; i++) {                                                        \
                        ctype v;                                                                        \
                        if ((k = convert(f->path, key, a->elem_type, numeric_at(a->elem_type, a->data, i), &v, err)) < 0) \
                                return k;                                                               \
                }                                                                                       \
                for (size_t i = 0; i < n; i++)                                                          \
                        convert(f->path, key, a->elem_type, numeric_at(a->elem_type, a->data, i), &ret[i], NULL); \
                return 0;                                                                               \
        }

PER_LAYER_GETTER(gguf_get_u32_per_layer, uint32_t, u32_from)
PER_LAYER_GETTER(gguf_get_f32_per_layer, float, f32_from)
PER_LAYER_GETTER(gguf_get_bool_per_layer, bool, bool_from)

void gguf_value_describe(const GgufValue *v, char *buf, size_t size) {
        switch (v->type) {
        case GGUF_TYPE_STRING:
                snprintf(buf, size, "str '%.*s'%s", (int) (v->str.len > 60 ? 60 : v->str.len), v->str.ptr,
                         v->str.len > 60 ? "…" : "");
                break;
        case GGUF_TYPE_ARRAY:
                snprintf(buf, size, "arr[%s,%llu]", gguf_type_name(v->arr.elem_type), (unsigned long long) v->arr.count);
                break;
        case GGUF_TYPE_FLOAT32:
        case GGUF_TYPE_FLOAT64:
                snprintf(buf, size, "%s %g", gguf_type_name(v->type), scalar_as_f64(v));
                break;
        case GGUF_TYPE_BOOL:
                snprintf(buf, size, "bool %s", v->b ? "true" : "false");
                break;
        case GGUF_TYPE_INT64:
                snprintf(buf, size, "i64 %" PRId64, v->i64);
                break;
        case GGUF_TYPE_UINT64:
                snprintf(buf, size, "u64 %" PRIu64, v->u64);
                break;
        default:
                snprintf(buf, size, "%s %.0f", gguf_type_name(v->type), scalar_as_f64(v));
                break;
        }
}
