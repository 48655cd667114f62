/* Unit tests for models/gguf: the reader (gguf.c, gguf-kv.c) against files encoded by hand with
 * the small byte builder below, which shares no code with gguf-writer.c and writes every integer
 * byte by byte in little-endian order; then the writer against the reader. Expected sizes and
 * offsets were worked out by hand from the layout in gguf.h.
 *
 * Every file handed to gguf_open_memory() is first copied into a heap block of exactly its size,
 * so that under ASan a read one byte past the end of the file is caught. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf-writer.h"
#include "gguf/gguf.h"
#include "tensor/type-traits.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- byte builder ------------------------------------------------------------------------ */

typedef struct Buf {
        uint8_t *data;
        size_t size;
        size_t cap;
} Buf;

static void buf_raw(Buf *b, const void *p, size_t n) {
        if (b->size + n > b->cap) {
                size_t cap = b->cap ? b->cap : 256;
                while (cap < b->size + n)
                        cap *= 2;
                uint8_t *d = realloc(b->data, cap);
                assert_non_null(d);
                b->data = d;
                b->cap = cap;
        }
        if (n)
                memcpy(b->data + b->size, p, n);
        b->size += n;
}

static void buf_u8(Buf *b, uint8_t v) {
        buf_raw(b, &v, 1);
}

static void buf_u16(Buf *b, uint16_t v) {
        buf_u8(b, (uint8_t) v);
        buf_u8(b, (uint8_t) (v >> 8));
}

static void buf_u32(Buf *b, uint32_t v) {
        for (int i = 0; i < 4; i++)
                buf_u8(b, (uint8_t) (v >> (8 * i)));
}

static void buf_u64(Buf *b, uint64_t v) {
        for (int i = 0; i < 8; i++)
                buf_u8(b, (uint8_t) (v >> (8 * i)));
}

static void buf_f32(Buf *b, float v) {
        uint32_t u;
        memcpy(&u, &v, sizeof(u));
        buf_u32(b, u);
}

static void buf_f64(Buf *b, double v) {
        uint64_t u;
        memcpy(&u, &v, sizeof(u));
        buf_u64(b, u);
}

static void buf_strn(Buf *b, const char *s, size_t n) {
        buf_u64(b, n);
        buf_raw(b, s, n);
}

static void buf_str(Buf *b, const char *s) {
        buf_strn(b, s, strlen(s));
}

static void buf_zeros(Buf *b, size_t n) {
        while (n--)
                buf_u8(b, 0);
}

static void buf_pad(Buf *b, size_t align) {
        while (b->size % align)
                buf_u8(b, 0);
}

static void buf_free(Buf *b) {
        free(b->data);
        *b = (Buf) { 0 };
}

static uint64_t round_up(uint64_t x, uint64_t a) {
        return (x + a - 1) / a * a;
}

/* The byte at position i of every data section built here. */
static uint8_t pattern(size_t i) {
        return (uint8_t) (i * 31u + 7u);
}

/* ---- GGUF pieces ------------------------------------------------------------------------- */

static void put_header(Buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        buf_raw(b, "GGUF", 4);
        buf_u32(b, version);
        buf_u64(b, n_tensors);
        buf_u64(b, n_kv);
}

static void put_key(Buf *b, const char *key, uint32_t type) {
        buf_str(b, key);
        buf_u32(b, type);
}

/* Array header as it follows a value type of 9, or as one element of an array of arrays. */
static void put_array_head(Buf *b, uint32_t elem_type, uint64_t count) {
        buf_u32(b, elem_type);
        buf_u64(b, count);
}

typedef struct TensorSpec {
        const char *name;
        uint32_t n_dims;           /* that many ne values are written (at most 5) */
        uint64_t ne[5];
        uint32_t type;
        uint64_t offset;
} TensorSpec;

static void put_tensor_info(Buf *b, const TensorSpec *t) {
        buf_str(b, t->name);
        buf_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && d < 5; d++)
                buf_u64(b, t->ne[d]);
        buf_u32(b, t->type);
        buf_u64(b, t->offset);
}

/* A v3 file with the given tensors, general.alignment when alignment is not 0 (else the default
 * 32 applies), padding, and data_len bytes of data. */
static void build_tensor_file(Buf *b, const TensorSpec *ts, size_t n, uint32_t alignment, size_t data_len) {
        put_header(b, 3, n, alignment ? 1 : 0);
        if (alignment) {
                put_key(b, "general.alignment", GGUF_TYPE_UINT32);
                buf_u32(b, alignment);
        }
        for (size_t i = 0; i < n; i++)
                put_tensor_info(b, &ts[i]);
        buf_pad(b, alignment ? alignment : 32);
        for (size_t i = 0; i < data_len; i++)
                buf_u8(b, pattern(i));
}

/* ---- opening ----------------------------------------------------------------------------- */

static int open_copy(const uint8_t *data, size_t size, const char *name, GgufFile **f, GemmaError *err,
                     uint8_t **ret_copy) {
        uint8_t *copy = malloc(size ? size : 1);
        assert_non_null(copy);
        if (size)
                memcpy(copy, data, size);
        int r = gguf_open_memory(copy, size, name, f, err);
        *ret_copy = copy;
        return r;
}

/* Expects a clean rejection: negative return, *ret still NULL, err carrying the same code, and a
 * message that starts with the file's name and contains `phrase`. */
static void check_reject(const uint8_t *data, size_t size, const char *phrase, const char *file, int line) {
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        uint8_t *copy;
        int r = open_copy(data, size, "bad.gguf", &f, &err, &copy);
        bool ok = r < 0 && f == NULL && err.code == r && strncmp(err.message, "bad.gguf: ", 10) == 0 &&
                  strstr(err.message, phrase) != NULL;
        if (!ok) {
                print_error("expected a rejection containing \"%s\"\n  got r=%d, ret=%p, code=%d, message: %s\n",
                            phrase, r, (void *) f, err.code, err.message);
                gguf_close(f);
                free(copy);
                _fail(file, line);
        }
        free(copy);
}

#define expect_reject(b, phrase) check_reject((b)->data, (b)->size, (phrase), __FILE__, __LINE__)

/* Opens a file that must be valid; the copy is owned by the caller (freed after gguf_close). */
static GgufFile *open_ok(const Buf *b, uint8_t **ret_copy) {
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        int r = open_copy(b->data, b->size, "good.gguf", &f, &err, ret_copy);
        if (r < 0)
                fail_msg("gguf_open_memory: %d %s", r, err.message);
        assert_non_null(f);
        return f;
}

static void expect_valid(const Buf *b) {
        uint8_t *copy;
        GgufFile *f = open_ok(b, &copy);
        gguf_close(f);
        free(copy);
}

/* ---- the full file: every value type and three tensors ---------------------------------- */

static const struct {
        const char *name;
        uint32_t n_dims;
        uint64_t ne[4];
        uint32_t type;
        uint64_t n_bytes;   /* by hand: 8*3*4; 4*2*3*2; 2 rows of 2 q8_0 blocks of 34 bytes */
} full_tensors[3] = {
        { "tok_embd.weight", 2, { 8, 3, 1, 1 }, GGML_TYPE_F32, 96 },
        { "blk.0.attn_q.weight", 3, { 4, 2, 3, 1 }, GGML_TYPE_F16, 48 },
        { "blk.0.ffn_up.weight", 2, { 64, 2, 1, 1 }, GGML_TYPE_Q8_0, 136 },
};

typedef struct FullFile {
        Buf buf;
        uint32_t version;
        uint32_t alignment;     /* effective */
        uint64_t n_kv;
        uint64_t data_offset;
        uint64_t offset[3];
        uint64_t data_len;
} FullFile;

#define KV(key, type) (put_key(&kv, (key), (type)), n_kv++)

static void build_full(FullFile *ff, uint32_t version, uint32_t alignment_kv) {
        Buf kv = { 0 };
        uint64_t n_kv = 0;

        *ff = (FullFile) { .version = version, .alignment = alignment_kv ? alignment_kv : 32 };

        KV("general.architecture", GGUF_TYPE_STRING);
        buf_str(&kv, "gemma3n");
        KV("t.u8", GGUF_TYPE_UINT8);
        buf_u8(&kv, 200);
        KV("t.i8", GGUF_TYPE_INT8);
        buf_u8(&kv, 0x9c); /* -100 */
        KV("t.u16", GGUF_TYPE_UINT16);
        buf_u16(&kv, 60000);
        KV("t.i16", GGUF_TYPE_INT16);
        buf_u16(&kv, 0x8ad0); /* -30000 */
        KV("t.u32", GGUF_TYPE_UINT32);
        buf_u32(&kv, 4000000000u);
        KV("t.i32", GGUF_TYPE_INT32);
        buf_u32(&kv, 0x88ca6c00u); /* -2000000000 */
        KV("t.i32_pos", GGUF_TYPE_INT32);
        buf_u32(&kv, 123456);
        KV("t.f32", GGUF_TYPE_FLOAT32);
        buf_f32(&kv, 1.5f);
        KV("t.bool", GGUF_TYPE_BOOL);
        buf_u8(&kv, 1);
        KV("t.bool_false", GGUF_TYPE_BOOL);
        buf_u8(&kv, 0);
        KV("t.str", GGUF_TYPE_STRING);
        buf_str(&kv, "hello, world");
        KV("t.str_long", GGUF_TYPE_STRING);
        buf_u64(&kv, 100);
        for (int i = 0; i < 100; i++)
                buf_u8(&kv, 'x');
        KV("t.u64", GGUF_TYPE_UINT64);
        buf_u64(&kv, 1ull << 40);
        KV("t.u64_small", GGUF_TYPE_UINT64);
        buf_u64(&kv, 7);
        KV("t.i64", GGUF_TYPE_INT64);
        buf_u64(&kv, UINT64_MAX - 4); /* -5 */
        KV("t.f64", GGUF_TYPE_FLOAT64);
        buf_f64(&kv, 2.25);

        KV("t.arr_u8", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_UINT8, 4);
        buf_u8(&kv, 9), buf_u8(&kv, 8), buf_u8(&kv, 7), buf_u8(&kv, 6);
        KV("t.arr_i8", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_INT8, 4);
        buf_u8(&kv, 0xff), buf_u8(&kv, 2), buf_u8(&kv, 0xfd), buf_u8(&kv, 4); /* -1 2 -3 4 */
        KV("t.arr_u16", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_UINT16, 4);
        buf_u16(&kv, 100), buf_u16(&kv, 200), buf_u16(&kv, 300), buf_u16(&kv, 400);
        KV("t.arr_i16", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_INT16, 4);
        buf_u16(&kv, 0xfffe), buf_u16(&kv, 3), buf_u16(&kv, 0xfffc), buf_u16(&kv, 5); /* -2 3 -4 5 */
        KV("t.arr_u32", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_UINT32, 4);
        buf_u32(&kv, 1), buf_u32(&kv, 2), buf_u32(&kv, 3), buf_u32(&kv, 4);
        KV("t.arr_i32", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_INT32, 4);
        buf_u32(&kv, 10), buf_u32(&kv, 0xffffffffu), buf_u32(&kv, 30), buf_u32(&kv, 40); /* 10 -1 30 40 */
        KV("t.arr_f32", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_FLOAT32, 4);
        buf_f32(&kv, 0.5f), buf_f32(&kv, 1.5f), buf_f32(&kv, 2.5f), buf_f32(&kv, 3.5f);
        KV("t.arr_bool", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_BOOL, 4);
        buf_u8(&kv, 1), buf_u8(&kv, 0), buf_u8(&kv, 1), buf_u8(&kv, 1);
        KV("t.arr_u64", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_UINT64, 4);
        buf_u64(&kv, 1), buf_u64(&kv, 2), buf_u64(&kv, 1ull << 40), buf_u64(&kv, 4);
        KV("t.arr_i64", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_INT64, 4);
        buf_u64(&kv, UINT64_MAX - 6), buf_u64(&kv, 0), buf_u64(&kv, 7), buf_u64(&kv, 70); /* -7 0 7 70 */
        KV("t.arr_f64", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_FLOAT64, 4);
        buf_f64(&kv, 0.25), buf_f64(&kv, -0.5), buf_f64(&kv, 1e10), buf_f64(&kv, 3.0);
        KV("t.arr_str", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_STRING, 3);
        buf_str(&kv, "a"), buf_str(&kv, "bc"), buf_str(&kv, "");
        /* [[1, 2] (u8), ["x"], [] (i16), [[0.5] (f32)]] */
        KV("t.arr_arr", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_ARRAY, 4);
        put_array_head(&kv, GGUF_TYPE_UINT8, 2);
        buf_u8(&kv, 1), buf_u8(&kv, 2);
        put_array_head(&kv, GGUF_TYPE_STRING, 1);
        buf_str(&kv, "x");
        put_array_head(&kv, GGUF_TYPE_INT16, 0);
        put_array_head(&kv, GGUF_TYPE_ARRAY, 1);
        put_array_head(&kv, GGUF_TYPE_FLOAT32, 1);
        buf_f32(&kv, 0.5f);
        KV("t.arr_empty", GGUF_TYPE_ARRAY);
        put_array_head(&kv, GGUF_TYPE_UINT32, 0);
        if (alignment_kv) {
                KV("general.alignment", GGUF_TYPE_UINT32);
                buf_u32(&kv, alignment_kv);
        }

        uint32_t a = ff->alignment;
        ff->n_kv = n_kv;
        ff->offset[0] = 0;
        ff->offset[1] = round_up(ff->offset[0] + full_tensors[0].n_bytes, a);
        ff->offset[2] = round_up(ff->offset[1] + full_tensors[1].n_bytes, a);
        ff->data_len = ff->offset[2] + full_tensors[2].n_bytes;

        Buf *b = &ff->buf;
        put_header(b, version, 3, n_kv);
        buf_raw(b, kv.data, kv.size);
        for (size_t i = 0; i < 3; i++) {
                TensorSpec t = { .name = full_tensors[i].name, .n_dims = full_tensors[i].n_dims,
                                 .type = full_tensors[i].type, .offset = ff->offset[i] };
                memcpy(t.ne, full_tensors[i].ne, sizeof(full_tensors[i].ne));
                put_tensor_info(b, &t);
        }
        buf_pad(b, a);
        ff->data_offset = b->size;
        for (size_t i = 0; i < ff->data_len; i++)
                buf_u8(b, pattern(i));
        buf_free(&kv);
}

#undef KV

static const GgufKv *kv_of(const GgufFile *f, const char *key, GgufType type) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                fail_msg("key '%s' not found", key);
        assert_string_equal(kv->key, key);
        if (kv->value.type != type)
                fail_msg("key '%s' has type %s, want %s", key, gguf_type_name(kv->value.type), gguf_type_name(type));
        return kv;
}

static void check_array_f64(const GgufFile *f, const char *key, GgufType elem, const double *want, size_t n) {
        const GgufArray *a = &kv_of(f, key, GGUF_TYPE_ARRAY)->value.arr;
        double x;
        assert_int_equal(a->elem_type, elem);
        assert_int_equal(a->count, n);
        for (size_t i = 0; i < n; i++) {
                assert_true(gguf_array_get_f64(a, i, &x));
                if (x != want[i])
                        fail_msg("%s[%zu] = %.17g, want %.17g", key, i, x, want[i]);
        }
        x = 12345;
        assert_false(gguf_array_get_f64(a, n, &x));
        assert_true(x == 12345);
}

/* Everything that build_full() wrote reads back. */
static void check_full(const GgufFile *f, const FullFile *ff) {
        assert_int_equal(f->version, ff->version);
        assert_int_equal(f->alignment, ff->alignment);
        assert_int_equal(f->size, ff->buf.size);
        assert_int_equal(f->n_kvs, ff->n_kv);
        assert_int_equal(f->n_tensors, 3);
        assert_int_equal(f->data_offset, ff->data_offset);
        assert_int_equal(f->data_offset % ff->alignment, 0);
        assert_memory_equal(f->base, ff->buf.data, ff->buf.size);

        GgufString s = kv_of(f, "general.architecture", GGUF_TYPE_STRING)->value.str;
        assert_int_equal(s.len, 7);
        assert_memory_equal(s.ptr, "gemma3n", 7);
        assert_int_equal(kv_of(f, "t.u8", GGUF_TYPE_UINT8)->value.u8, 200);
        assert_true(kv_of(f, "t.i8", GGUF_TYPE_INT8)->value.i8 == -100);
        assert_int_equal(kv_of(f, "t.u16", GGUF_TYPE_UINT16)->value.u16, 60000);
        assert_true(kv_of(f, "t.i16", GGUF_TYPE_INT16)->value.i16 == -30000);
        assert_int_equal(kv_of(f, "t.u32", GGUF_TYPE_UINT32)->value.u32, 4000000000u);
        assert_true(kv_of(f, "t.i32", GGUF_TYPE_INT32)->value.i32 == -2000000000);
        assert_int_equal(kv_of(f, "t.i32_pos", GGUF_TYPE_INT32)->value.i32, 123456);
        assert_true(kv_of(f, "t.f32", GGUF_TYPE_FLOAT32)->value.f32 == 1.5f);
        assert_true(kv_of(f, "t.bool", GGUF_TYPE_BOOL)->value.b);
        assert_false(kv_of(f, "t.bool_false", GGUF_TYPE_BOOL)->value.b);
        s = kv_of(f, "t.str", GGUF_TYPE_STRING)->value.str;
        assert_int_equal(s.len, 12);
        assert_memory_equal(s.ptr, "hello, world", 12);
        assert_int_equal(kv_of(f, "t.str_long", GGUF_TYPE_STRING)->value.str.len, 100);
        assert_true(kv_of(f, "t.u64", GGUF_TYPE_UINT64)->value.u64 == 1ull << 40);
        assert_true(kv_of(f, "t.u64_small", GGUF_TYPE_UINT64)->value.u64 == 7);
        assert_true(kv_of(f, "t.i64", GGUF_TYPE_INT64)->value.i64 == -5);
        assert_true(kv_of(f, "t.f64", GGUF_TYPE_FLOAT64)->value.f64 == 2.25);

        check_array_f64(f, "t.arr_u8", GGUF_TYPE_UINT8, (const double[]) { 9, 8, 7, 6 }, 4);
        check_array_f64(f, "t.arr_i8", GGUF_TYPE_INT8, (const double[]) { -1, 2, -3, 4 }, 4);
        check_array_f64(f, "t.arr_u16", GGUF_TYPE_UINT16, (const double[]) { 100, 200, 300, 400 }, 4);
        check_array_f64(f, "t.arr_i16", GGUF_TYPE_INT16, (const double[]) { -2, 3, -4, 5 }, 4);
        check_array_f64(f, "t.arr_u32", GGUF_TYPE_UINT32, (const double[]) { 1, 2, 3, 4 }, 4);
        check_array_f64(f, "t.arr_i32", GGUF_TYPE_INT32, (const double[]) { 10, -1, 30, 40 }, 4);
        check_array_f64(f, "t.arr_f32", GGUF_TYPE_FLOAT32, (const double[]) { 0.5, 1.5, 2.5, 3.5 }, 4);
        check_array_f64(f, "t.arr_bool", GGUF_TYPE_BOOL, (const double[]) { 1, 0, 1, 1 }, 4);
        check_array_f64(f, "t.arr_u64", GGUF_TYPE_UINT64, (const double[]) { 1, 2, 1099511627776.0, 4 }, 4);
        check_array_f64(f, "t.arr_i64", GGUF_TYPE_INT64, (const double[]) { -7, 0, 7, 70 }, 4);
        check_array_f64(f, "t.arr_f64", GGUF_TYPE_FLOAT64, (const double[]) { 0.25, -0.5, 1e10, 3 }, 4);
        check_array_f64(f, "t.arr_empty", GGUF_TYPE_UINT32, NULL, 0);

        const GgufArray *a = &kv_of(f, "t.arr_str", GGUF_TYPE_ARRAY)->value.arr;
        double x;
        assert_int_equal(a->elem_type, GGUF_TYPE_STRING);
        assert_int_equal(a->count, 3);
        assert_non_null(a->strings);
        assert_int_equal(a->strings[0].len, 1);
        assert_memory_equal(a->strings[0].ptr, "a", 1);
        assert_int_equal(a->strings[1].len, 2);
        assert_memory_equal(a->strings[1].ptr, "bc", 2);
        assert_int_equal(a->strings[2].len, 0);
        assert_false(gguf_array_get_f64(a, 0, &x));

        a = &kv_of(f, "t.arr_arr", GGUF_TYPE_ARRAY)->value.arr;
        assert_int_equal(a->elem_type, GGUF_TYPE_ARRAY);
        assert_int_equal(a->count, 4);
        assert_non_null(a->arrays);
        assert_false(gguf_array_get_f64(a, 0, &x));
        const GgufArray *e = &a->arrays[0].arr;
        assert_int_equal(a->arrays[0].type, GGUF_TYPE_ARRAY);
        assert_int_equal(e->elem_type, GGUF_TYPE_UINT8);
        assert_int_equal(e->count, 2);
        assert_true(gguf_array_get_f64(e, 1, &x) && x == 2);
        e = &a->arrays[1].arr;
        assert_int_equal(e->elem_type, GGUF_TYPE_STRING);
        assert_int_equal(e->count, 1);
        assert_int_equal(e->strings[0].len, 1);
        assert_memory_equal(e->strings[0].ptr, "x", 1);
        e = &a->arrays[2].arr;
        assert_int_equal(e->elem_type, GGUF_TYPE_INT16);
        assert_int_equal(e->count, 0);
        e = &a->arrays[3].arr;
        assert_int_equal(e->elem_type, GGUF_TYPE_ARRAY);
        assert_int_equal(e->count, 1);
        assert_int_equal(e->arrays[0].arr.elem_type, GGUF_TYPE_FLOAT32);
        assert_int_equal(e->arrays[0].arr.count, 1);
        assert_true(gguf_array_get_f64(&e->arrays[0].arr, 0, &x) && x == 0.5);

        if (ff->alignment != 32 || gguf_find_kv(f, "general.alignment"))
                assert_int_equal(kv_of(f, "general.alignment", GGUF_TYPE_UINT32)->value.u32, ff->alignment);

        for (size_t i = 0; i < 3; i++) {
                const GgufTensor *t = gguf_find_tensor(f, full_tensors[i].name);
                assert_non_null(t);
                assert_ptr_equal(t, &f->tensors[i]); /* file order */
                assert_string_equal(t->name, full_tensors[i].name);
                assert_int_equal(t->n_dims, full_tensors[i].n_dims);
                for (int d = 0; d < 4; d++)
                        assert_int_equal(t->ne[d], full_tensors[i].ne[d]);
                assert_int_equal(t->type, full_tensors[i].type);
                assert_int_equal(t->n_bytes, full_tensors[i].n_bytes);
                assert_int_equal(t->offset, ff->offset[i]);
                assert_int_equal(t->offset % ff->alignment, 0);
                assert_ptr_equal(t->data, f->base + f->data_offset + t->offset);
                for (uint64_t j = 0; j < t->n_bytes; j++)
                        assert_int_equal(((const uint8_t *) t->data)[j], pattern(t->offset + j));
        }
        assert_int_equal(gguf_tensor_n_elements(gguf_find_tensor(f, "tok_embd.weight")), 24);
        assert_int_equal(gguf_tensor_n_elements(gguf_find_tensor(f, "blk.0.attn_q.weight")), 24);
        assert_int_equal(gguf_tensor_n_elements(gguf_find_tensor(f, "blk.0.ffn_up.weight")), 128);
        assert_null(gguf_find_tensor(f, "missing.weight"));
        assert_null(gguf_find_tensor(f, ""));
        assert_null(gguf_find_kv(f, "t.missing"));
        assert_null(gguf_find_kv(f, ""));
}

/* The v3 file with general.alignment = 64, owned by the caller with its copy. */
typedef struct Opened {
        FullFile ff;
        uint8_t *copy;
        GgufFile *f;
} Opened;

static void open_full(Opened *o, uint32_t version, uint32_t alignment) {
        build_full(&o->ff, version, alignment);
        o->f = open_ok(&o->ff.buf, &o->copy);
}

static void close_full(Opened *o) {
        gguf_close(o->f);
        free(o->copy);
        buf_free(&o->ff.buf);
}

/* A GemmaError with content that a getter must leave alone. */
static GemmaError sentinel_error(void) {
        GemmaError e = { .code = 77 };
        strcpy(e.message, "sentinel");
        return e;
}

static void assert_sentinel(const GemmaError *e) {
        assert_int_equal(e->code, 77);
        assert_string_equal(e->message, "sentinel");
}

/* A getter's failure: -EINVAL, the code in err, and a message naming the key and `phrase`. */
static void check_einval(int r, const GemmaError *err, const char *key, const char *phrase, const char *file, int line) {
        char quoted[128];
        snprintf(quoted, sizeof(quoted), "'%s'", key);
        if (r != -EINVAL || err->code != -EINVAL || !strstr(err->message, quoted) || !strstr(err->message, phrase)) {
                print_error("expected -EINVAL naming %s with \"%s\"; got r=%d code=%d message: %s\n", quoted, phrase, r,
                            err->code, err->message);
                _fail(file, line);
        }
}

#define expect_einval(r, err, key, phrase) check_einval((r), (err), (key), (phrase), __FILE__, __LINE__)

/* ---- valid files ------------------------------------------------------------------------- */

static void test_gguf_open_memory_valid_v3(void **state) {
        Opened o;
        open_full(&o, 3, 64);
        check_full(o.f, &o.ff);
        assert_int_equal(o.f->alignment, 64);
        assert_false(o.f->mapped);
        assert_string_equal(o.f->path, "good.gguf");
        close_full(&o);
}

static void test_gguf_open_memory_valid_v2(void **state) {
        Opened o;
        open_full(&o, 2, 0);
        check_full(o.f, &o.ff);
        assert_int_equal(o.f->version, 2);
        assert_int_equal(o.f->alignment, GGUF_DEFAULT_ALIGNMENT);
        close_full(&o);
}

static void test_gguf_open_memory_alignment(void **state) {
        static const uint32_t aligns[] = { 0, 1, 8, 32, 64, 256, 4096 };
        for (size_t i = 0; i < N_ELEMS(aligns); i++) {
                Opened o;
                open_full(&o, 3, aligns[i]);
                check_full(o.f, &o.ff);
                assert_int_equal(o.f->alignment, aligns[i] ? aligns[i] : 32);
                close_full(&o);
        }
}

static void test_gguf_open_memory_no_tensors_no_kv(void **state) {
        Buf b = { 0 };
        uint8_t *copy;
        put_header(&b, 3, 0, 0);
        GgufFile *f = open_ok(&b, &copy);
        assert_int_equal(f->n_kvs, 0);
        assert_int_equal(f->n_tensors, 0);
        assert_null(gguf_find_kv(f, "general.architecture"));
        assert_null(gguf_find_tensor(f, "x"));
        uint32_t u = 5;
        assert_int_equal(gguf_get_u32(f, "x", &u, NULL), -ENOENT);
        assert_int_equal(u, 5);
        gguf_close(f);
        free(copy);
        buf_free(&b);
}

static void test_gguf_open_memory_adjacent_tensors(void **state) {
        /* Back to back with no gap (64 bytes each, alignment 32): no overlap. */
        const TensorSpec ts[] = {
                { "b", 1, { 16 }, GGML_TYPE_F32, 64 },
                { "a", 1, { 16 }, GGML_TYPE_F32, 0 },
        };
        Buf b = { 0 };
        uint8_t *copy;
        build_tensor_file(&b, ts, 2, 0, 128);
        GgufFile *f = open_ok(&b, &copy);
        assert_int_equal(gguf_find_tensor(f, "a")->offset, 0);
        assert_int_equal(gguf_find_tensor(f, "b")->offset, 64);
        assert_ptr_equal(gguf_find_tensor(f, "b")->data, f->base + f->data_offset + 64);
        gguf_close(f);
        free(copy);
        buf_free(&b);
}

static void test_gguf_open_memory_array_depth_limit_ok(void **state) {
        /* GGUF_MAX_ARRAY_DEPTH arrays, one inside the next, the innermost holding one u8. */
        Buf b = { 0 };
        uint8_t *copy;
        put_header(&b, 3, 0, 1);
        put_key(&b, "deep", GGUF_TYPE_ARRAY);
        for (int level = 1; level <= GGUF_MAX_ARRAY_DEPTH; level++)
                put_array_head(&b, level < GGUF_MAX_ARRAY_DEPTH ? GGUF_TYPE_ARRAY : GGUF_TYPE_UINT8, 1);
        buf_u8(&b, 42);
        GgufFile *f = open_ok(&b, &copy);
        const GgufArray *a = &kv_of(f, "deep", GGUF_TYPE_ARRAY)->value.arr;
        for (int level = 1; level < GGUF_MAX_ARRAY_DEPTH; level++) {
                assert_int_equal(a->elem_type, GGUF_TYPE_ARRAY);
                assert_int_equal(a->count, 1);
                a = &a->arrays[0].arr;
        }
        double x;
        assert_int_equal(a->elem_type, GGUF_TYPE_UINT8);
        assert_true(gguf_array_get_f64(a, 0, &x) && x == 42);
        gguf_close(f);
        free(copy);
        buf_free(&b);
}

static void test_gguf_open_memory_key_at_max_length(void **state) {
        char key[GGUF_MAX_NAME + 1];
        Buf b = { 0 };
        uint8_t *copy;
        memset(key, 'k', GGUF_MAX_NAME);
        key[GGUF_MAX_NAME] = '\0';
        put_header(&b, 3, 0, 1);
        put_key(&b, key, GGUF_TYPE_UINT32);
        buf_u32(&b, 9);
        GgufFile *f = open_ok(&b, &copy);
        assert_int_equal(kv_of(f, key, GGUF_TYPE_UINT32)->value.u32, 9);
        gguf_close(f);
        free(copy);
        buf_free(&b);
}

/* ---- typed getters ----------------------------------------------------------------------- */

static void test_gguf_get_u32_conversions(void **state) {
        Opened o;
        GemmaError err = { 0 };
        uint32_t u;
        open_full(&o, 3, 64);
        const GgufFile *f = o.f;

        assert_int_equal(gguf_get_u32(f, "t.u8", &u, &err), 0);
        assert_int_equal(u, 200);
        assert_int_equal(gguf_get_u32(f, "t.u16", &u, &err), 0);
        assert_int_equal(u, 60000);
        assert_int_equal(gguf_get_u32(f, "t.u32", &u, &err), 0);
        assert_int_equal(u, 4000000000u);
        assert_int_equal(gguf_get_u32(f, "t.i32_pos", &u, &err), 0);
        assert_int_equal(u, 123456);
        assert_int_equal(gguf_get_u32(f, "t.u64_small", &u, &err), 0);
        assert_int_equal(u, 7);
        assert_int_equal(gguf_get_u32(f, "general.alignment", &u, &err), 0);
        assert_int_equal(u, 64);
        assert_int_equal(err.code, 0);

        static const struct {
                const char *key, *phrase;
        } bad[] = {
                { "t.i8", "out of range" },  { "t.i16", "out of range" }, { "t.i32", "out of range" },
                { "t.i64", "out of range" }, { "t.u64", "out of range" }, { "t.f32", "must be an integer, is f32" },
                { "t.f64", "must be an integer, is f64" }, { "t.bool", "must be an integer, is bool" },
                { "t.str", "must be an integer, is str" }, { "t.arr_u32", "must be an integer, is arr" },
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                err = (GemmaError) { 0 };
                u = 0xdeadbeef;
                expect_einval(gguf_get_u32(f, bad[i].key, &u, &err), &err, bad[i].key, bad[i].phrase);
                assert_int_equal(u, 0xdeadbeef);
                assert_non_null(strstr(err.message, "good.gguf"));
        }
        close_full(&o);
}

static void test_gguf_get_f32_conversions(void **state) {
        Opened o;
        GemmaError err = { 0 };
        float x;
        open_full(&o, 3, 0);
        const GgufFile *f = o.f;

        assert_int_equal(gguf_get_f32(f, "t.f32", &x, &err), 0);
        assert_true(x == 1.5f);
        assert_int_equal(gguf_get_f32(f, "t.f64", &x, &err), 0);
        assert_true(x == 2.25f);
        assert_int_equal(gguf_get_f32(f, "t.i8", &x, &err), 0);
        assert_true(x == -100.0f);
        assert_int_equal(gguf_get_f32(f, "t.u32", &x, &err), 0);
        assert_true(x == 4000000000.0f);
        assert_int_equal(gguf_get_f32(f, "t.i64", &x, &err), 0);
        assert_true(x == -5.0f);

        static const char *const bad[][2] = {
                { "t.bool", "must be a number, is bool" },
                { "t.str", "must be a number, is str" },
                { "t.arr_f32", "must be a number, is arr" },
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                err = (GemmaError) { 0 };
                x = -42.0f;
                expect_einval(gguf_get_f32(f, bad[i][0], &x, &err), &err, bad[i][0], bad[i][1]);
                assert_true(x == -42.0f);
        }
        close_full(&o);
}

static void test_gguf_get_bool_types(void **state) {
        Opened o;
        GemmaError err = { 0 };
        bool b = false;
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_bool(o.f, "t.bool", &b, &err), 0);
        assert_true(b);
        assert_int_equal(gguf_get_bool(o.f, "t.bool_false", &b, &err), 0);
        assert_false(b);
        b = true;
        expect_einval(gguf_get_bool(o.f, "t.u8", &b, &err), &err, "t.u8", "must be bool, is u8");
        assert_true(b);
        expect_einval(gguf_get_bool(o.f, "t.str", &b, &err), &err, "t.str", "must be bool, is str");
        expect_einval(gguf_get_bool(o.f, "t.arr_bool", &b, &err), &err, "t.arr_bool", "must be bool, is arr");
        assert_true(b);
        close_full(&o);
}

static void test_gguf_get_string_types(void **state) {
        Opened o;
        GemmaError err = { 0 };
        GgufString s = { 0 };
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_string(o.f, "t.str", &s, &err), 0);
        assert_int_equal(s.len, 12);
        assert_memory_equal(s.ptr, "hello, world", 12);
        /* A view into the file. */
        assert_true((const uint8_t *) s.ptr > o.f->base && (const uint8_t *) s.ptr + s.len <= o.f->base + o.f->size);

        GgufString before = { .ptr = "untouched", .len = 9 };
        s = before;
        expect_einval(gguf_get_string(o.f, "t.u32", &s, &err), &err, "t.u32", "must be a string, is u32");
        assert_ptr_equal(s.ptr, before.ptr);
        assert_int_equal(s.len, 9);
        expect_einval(gguf_get_string(o.f, "t.arr_str", &s, &err), &err, "t.arr_str", "must be a string, is arr");
        assert_ptr_equal(s.ptr, before.ptr);
        close_full(&o);
}

static void test_gguf_get_missing_key_enoent(void **state) {
        Opened o;
        GemmaError err = sentinel_error();
        uint32_t u = 11, us[3] = { 1, 2, 3 };
        float x = 2.0f, xs[3] = { 1, 2, 3 };
        bool b = true, bs[3] = { true, false, true };
        GgufString s = { .ptr = "keep", .len = 4 };
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_u32(o.f, "no.such.key", &u, &err), -ENOENT);
        assert_int_equal(gguf_get_f32(o.f, "no.such.key", &x, &err), -ENOENT);
        assert_int_equal(gguf_get_bool(o.f, "no.such.key", &b, &err), -ENOENT);
        assert_int_equal(gguf_get_string(o.f, "no.such.key", &s, &err), -ENOENT);
        assert_int_equal(gguf_get_u32_per_layer(o.f, "no.such.key", 3, us, &err), -ENOENT);
        assert_int_equal(gguf_get_f32_per_layer(o.f, "no.such.key", 3, xs, &err), -ENOENT);
        assert_int_equal(gguf_get_bool_per_layer(o.f, "no.such.key", 3, bs, &err), -ENOENT);
        /* A prefix of an existing key is a different key. */
        assert_int_equal(gguf_get_u32(o.f, "t.u3", &u, &err), -ENOENT);
        assert_int_equal(gguf_get_u32(o.f, "t.u32x", &u, &err), -ENOENT);
        assert_sentinel(&err);
        assert_int_equal(u, 11);
        assert_true(x == 2.0f);
        assert_true(b);
        assert_string_equal(s.ptr, "keep");
        assert_int_equal(us[0], 1);
        assert_int_equal(us[2], 3);
        assert_true(xs[1] == 2.0f);
        assert_false(bs[1]);

        /* NULL err is allowed. */
        assert_int_equal(gguf_get_u32(o.f, "t.f32", &u, NULL), -EINVAL);
        close_full(&o);
}

static void test_gguf_get_u32_per_layer_scalar_and_array(void **state) {
        Opened o;
        GemmaError err = { 0 };
        uint32_t v[4];
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.u32", 4, v, &err), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(v[i], 4000000000u);
        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.u8", 3, v, &err), 0);
        assert_int_equal(v[0], 200);
        assert_int_equal(v[2], 200);
        assert_int_equal(v[3], 4000000000u); /* n = 3 leaves the fourth alone */
        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.arr_u32", 4, v, &err), 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(v[i], (uint32_t) i + 1);
        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.arr_u16", 4, v, &err), 0);
        assert_int_equal(v[3], 400);
        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.arr_u64", 4, v, &err), -EINVAL); /* 2^40 */
        assert_int_equal(gguf_get_u32_per_layer(o.f, "t.arr_empty", 0, v, &err), 0);
        close_full(&o);
}

static void test_gguf_get_u32_per_layer_errors(void **state) {
        Opened o;
        open_full(&o, 3, 0);

        static const struct {
                const char *key;
                size_t n;
                const char *phrase;
        } bad[] = {
                { "t.arr_u32", 3, "has 4 entries, expected 3" },
                { "t.arr_u32", 5, "has 4 entries, expected 5" },
                { "t.arr_i32", 4, "value -1 is out of range" },
                { "t.arr_f32", 4, "must be an integer, is f32" },
                { "t.arr_bool", 4, "must be an integer, is bool" },
                { "t.arr_str", 3, "is an array of str, expected numbers" },
                { "t.arr_arr", 4, "is an array of arr, expected numbers" },
                { "t.str", 4, "must be an integer, is str" },
                { "t.i8", 4, "out of range" },
        };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                GemmaError err = { 0 };
                uint32_t v[5] = { 91, 92, 93, 94, 95 };
                expect_einval(gguf_get_u32_per_layer(o.f, bad[i].key, bad[i].n, v, &err), &err, bad[i].key, bad[i].phrase);
                /* Outputs stay untouched on failure, even after some elements converted. */
                for (int j = 0; j < 5; j++)
                        assert_int_equal(v[j], 91 + j);
        }
        close_full(&o);
}

static void test_gguf_get_f32_per_layer_scalar_and_array(void **state) {
        Opened o;
        GemmaError err = { 0 };
        float v[4];
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_f32_per_layer(o.f, "t.f32", 4, v, &err), 0);
        for (int i = 0; i < 4; i++)
                assert_true(v[i] == 1.5f);
        assert_int_equal(gguf_get_f32_per_layer(o.f, "t.arr_f32", 4, v, &err), 0);
        for (int i = 0; i < 4; i++)
                assert_true(v[i] == 0.5f + (float) i);
        assert_int_equal(gguf_get_f32_per_layer(o.f, "t.arr_i16", 4, v, &err), 0);
        assert_true(v[0] == -2.0f && v[1] == 3.0f && v[2] == -4.0f && v[3] == 5.0f);
        assert_int_equal(gguf_get_f32_per_layer(o.f, "t.arr_f64", 4, v, &err), 0);
        assert_true(v[0] == 0.25f && v[1] == -0.5f && v[2] == 1e10f && v[3] == 3.0f);

        float keep[4] = { 7, 7, 7, 7 };
        memcpy(v, keep, sizeof(v));
        expect_einval(gguf_get_f32_per_layer(o.f, "t.arr_bool", 4, v, &err), &err, "t.arr_bool", "must be a number, is bool");
        expect_einval(gguf_get_f32_per_layer(o.f, "t.arr_f32", 2, v, &err), &err, "t.arr_f32", "has 4 entries, expected 2");
        expect_einval(gguf_get_f32_per_layer(o.f, "t.arr_str", 3, v, &err), &err, "t.arr_str", "expected numbers");
        expect_einval(gguf_get_f32_per_layer(o.f, "t.str", 4, v, &err), &err, "t.str", "must be a number, is str");
        assert_memory_equal(v, keep, sizeof(v));
        close_full(&o);
}

static void test_gguf_get_bool_per_layer_scalar_and_array(void **state) {
        Opened o;
        GemmaError err = { 0 };
        bool v[4];
        open_full(&o, 3, 0);

        assert_int_equal(gguf_get_bool_per_layer(o.f, "t.bool", 4, v, &err), 0);
        assert_true(v[0] && v[1] && v[2] && v[3]);
        assert_int_equal(gguf_get_bool_per_layer(o.f, "t.bool_false", 4, v, &err), 0);
        assert_true(!v[0] && !v[1] && !v[2] && !v[3]);
        assert_int_equal(gguf_get_bool_per_layer(o.f, "t.arr_bool", 4, v, &err), 0);
        assert_true(v[0] && !v[1] && v[2] && v[3]);

        bool keep[4] = { false, true, false, true };
        memcpy(v, keep, sizeof(v));
        expect_einval(gguf_get_bool_per_layer(o.f, "t.arr_u8", 4, v, &err), &err, "t.arr_u8", "must be bool, is u8");
        expect_einval(gguf_get_bool_per_layer(o.f, "t.arr_bool", 3, v, &err), &err, "t.arr_bool", "has 4 entries, expected 3");
        expect_einval(gguf_get_bool_per_layer(o.f, "t.u32", 4, v, &err), &err, "t.u32", "must be bool, is u32");
        assert_memory_equal(v, keep, sizeof(v));
        close_full(&o);
}

static void test_gguf_array_get_f64_bounds(void **state) {
        Opened o;
        double x = -1;
        open_full(&o, 3, 0);
        const GgufArray *a = &kv_of(o.f, "t.arr_i64", GGUF_TYPE_ARRAY)->value.arr;
        assert_true(gguf_array_get_f64(a, 0, &x) && x == -7);
        assert_true(gguf_array_get_f64(a, 3, &x) && x == 70);
        x = -1;
        assert_false(gguf_array_get_f64(a, 4, &x));
        assert_false(gguf_array_get_f64(a, UINT64_MAX, &x));
        assert_true(x == -1);
        a = &kv_of(o.f, "t.arr_empty", GGUF_TYPE_ARRAY)->value.arr;
        assert_false(gguf_array_get_f64(a, 0, &x));
        close_full(&o);
}

static void test_gguf_value_describe_each_type(void **state) {
        Opened o;
        char buf[128];
        open_full(&o, 3, 0);

        static const char *const want[][2] = {
                { "t.u8", "u8 200" },
                { "t.i8", "i8 -100" },
                { "t.u16", "u16 60000" },
                { "t.i16", "i16 -30000" },
                { "t.u32", "u32 4000000000" },
                { "t.i32", "i32 -2000000000" },
                { "t.f32", "f32 1.5" },
                { "t.f64", "f64 2.25" },
                { "t.bool", "bool true" },
                { "t.bool_false", "bool false" },
                { "t.str", "str 'hello, world'" },
                { "t.u64", "u64 1099511627776" },
                { "t.i64", "i64 -5" },
                { "t.arr_f32", "arr[f32,4]" },
                { "t.arr_str", "arr[str,3]" },
                { "t.arr_arr", "arr[arr,4]" },
                { "t.arr_empty", "arr[u32,0]" },
        };
        for (size_t i = 0; i < N_ELEMS(want); i++) {
                gguf_value_describe(&gguf_find_kv(o.f, want[i][0])->value, buf, sizeof(buf));
                assert_string_equal(buf, want[i][1]);
        }

        /* Long strings are cut at 60 bytes. */
        char long_want[80] = "str '";
        memset(long_want + 5, 'x', 60);
        strcpy(long_want + 65, "'\xe2\x80\xa6");
        gguf_value_describe(&gguf_find_kv(o.f, "t.str_long")->value, buf, sizeof(buf));
        assert_string_equal(buf, long_want);

        /* A small buffer is filled and terminated. */
        char small[8];
        memset(small, '#', sizeof(small));
        gguf_value_describe(&gguf_find_kv(o.f, "t.u32")->value, small, sizeof(small));
        assert_string_equal(small, "u32 400");
        close_full(&o);
}

static void test_gguf_type_name_and_size(void **state) {
        assert_string_equal(gguf_type_name(GGUF_TYPE_UINT8), "u8");
        assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT64), "f64");
        assert_string_equal(gguf_type_name(GGUF_TYPE_ARRAY), "arr");
        assert_string_equal(gguf_type_name((GgufType) 13), "invalid");
        assert_string_equal(gguf_type_name((GgufType) -1), "invalid");
        assert_int_equal(gguf_type_size(GGUF_TYPE_BOOL), 1);
        assert_int_equal(gguf_type_size(GGUF_TYPE_INT16), 2);
        assert_int_equal(gguf_type_size(GGUF_TYPE_FLOAT32), 4);
        assert_int_equal(gguf_type_size(GGUF_TYPE_INT64), 8);
        assert_int_equal(gguf_type_size(GGUF_TYPE_STRING), 0);
        assert_int_equal(gguf_type_size(GGUF_TYPE_ARRAY), 0);
        assert_int_equal(gguf_type_size((GgufType) 99), 0);
}

static void test_gguf_close_null(void **state) {
        assert_null(gguf_close(NULL));
        GgufFile *f = NULL;
        gguf_closep(&f);
        assert_null(f);
}

/* ---- malformed files: header ------------------------------------------------------------- */

static void test_gguf_open_memory_bad_magic(void **state) {
        Buf b = { 0 };
        buf_raw(&b, "GGUG", 4);
        buf_u32(&b, 3);
        buf_u64(&b, 0);
        buf_u64(&b, 0);
        expect_reject(&b, "not a GGUF file (bad magic)");
        b.data[0] = 'g';
        b.data[3] = 'F';
        expect_reject(&b, "bad magic");
        buf_free(&b);
}

static void test_gguf_open_memory_version_1(void **state) {
        Buf b = { 0 };
        put_header(&b, 1, 0, 0);
        expect_reject(&b, "GGUF version 1 is not supported");
        buf_free(&b);
}

static void test_gguf_open_memory_version_unsupported(void **state) {
        static const uint32_t versions[] = { 0, 4, 5, 0xffffffffu };
        for (size_t i = 0; i < N_ELEMS(versions); i++) {
                Buf b = { 0 };
                char want[64];
                put_header(&b, versions[i], 0, 0);
                snprintf(want, sizeof(want), "unsupported GGUF version %u", versions[i]);
                expect_reject(&b, want);
                buf_free(&b);
        }
}

static void test_gguf_open_memory_big_endian(void **state) {
        /* A big-endian writer puts the version's bytes the other way round. */
        for (uint32_t v = 2; v <= 3; v++) {
                Buf b = { 0 };
                buf_raw(&b, "GGUF", 4);
                buf_u8(&b, 0), buf_u8(&b, 0), buf_u8(&b, 0), buf_u8(&b, (uint8_t) v);
                buf_zeros(&b, 16);
                expect_reject(&b, "big-endian GGUF files are not supported");
                buf_free(&b);
        }
}

static void test_gguf_open_memory_empty(void **state) {
        check_reject((const uint8_t *) "", 0, "truncated in the magic number", __FILE__, __LINE__);
}

/* Every proper prefix of a valid file fails cleanly with a specific message. */
static void test_gguf_open_memory_truncated_every_prefix(void **state) {
        static const char *const phrases[] = {
                "file truncated in ",                /* a fixed-size field */
                "bytes remain",                      /* a string longer than what is left */
                "does not fit in the",               /* an array longer than what is left */
                "cannot fit in a file of",           /* a count larger than what is left */
                "truncated before the data section",
                "extends past end of file (offset",
        };
        size_t counts[N_ELEMS(phrases)] = { 0 };
        for (int v = 0; v < 2; v++) {
                FullFile ff;
                build_full(&ff, v ? 2 : 3, v ? 0 : 64);
                expect_valid(&ff.buf);
                for (size_t len = 0; len < ff.buf.size; len++) {
                        GemmaError err = { 0 };
                        GgufFile *f = NULL;
                        uint8_t *copy;
                        int r = open_copy(ff.buf.data, len, "prefix.gguf", &f, &err, &copy);
                        free(copy);
                        size_t which = N_ELEMS(phrases);
                        for (size_t p = 0; p < N_ELEMS(phrases) && which == N_ELEMS(phrases); p++)
                                if (strstr(err.message, phrases[p]))
                                        which = p;
                        if (r >= 0 || f != NULL || err.code != r || strncmp(err.message, "prefix.gguf: ", 13) != 0 ||
                            which == N_ELEMS(phrases)) {
                                gguf_close(f);
                                fail_msg("prefix of %zu of %zu bytes: r=%d message: %s", len, ff.buf.size, r, err.message);
                        }
                        counts[which]++;
                }
                buf_free(&ff.buf);
        }
        /* Every kind of message showed up somewhere. */
        assert_true(counts[0] > 0);
        assert_true(counts[1] > 0);
        assert_true(counts[4] > 0);
        assert_true(counts[5] > 0);
}

static void test_gguf_open_memory_huge_tensor_count(void **state) {
        static const uint64_t counts[] = { 1ull << 40, UINT64_MAX, 3 };
        for (size_t i = 0; i < N_ELEMS(counts); i++) {
                Buf b = { 0 };
                put_header(&b, 3, counts[i], 0);
                buf_zeros(&b, 80); /* room for 2 minimal tensor infos, not 3 */
                expect_reject(&b, "tensor count");
                expect_reject(&b, "cannot fit in a file of");
                buf_free(&b);
        }
}

static void test_gguf_open_memory_huge_kv_count(void **state) {
        static const uint64_t counts[] = { 1ull << 40, UINT64_MAX, 1ull << 63, 100 };
        for (size_t i = 0; i < N_ELEMS(counts); i++) {
                Buf b = { 0 };
                put_header(&b, 3, 0, counts[i]);
                put_key(&b, "a", GGUF_TYPE_UINT8);
                buf_u8(&b, 1);
                expect_reject(&b, "metadata count");
                expect_reject(&b, "cannot fit in a file of");
                buf_free(&b);
        }
}

/* ---- malformed files: metadata ----------------------------------------------------------- */

static void test_gguf_open_memory_string_longer_than_file(void **state) {
        static const uint64_t lens[] = { 1000, 1ull << 40, UINT64_MAX };
        for (size_t i = 0; i < N_ELEMS(lens); i++) {
                Buf b = { 0 };
                char want[96];

                /* The key. */
                put_header(&b, 3, 0, 1);
                buf_u64(&b, lens[i]);
                buf_zeros(&b, 16);
                snprintf(want, sizeof(want), "the key of metadata entry 0 has length %llu", (unsigned long long) lens[i]);
                expect_reject(&b, want);
                buf_free(&b);

                /* A string value. */
                put_header(&b, 3, 0, 1);
                put_key(&b, "s", GGUF_TYPE_STRING);
                buf_u64(&b, lens[i]);
                buf_raw(&b, "abcd", 4);
                expect_reject(&b, "a string value has length");
                buf_free(&b);

                /* An element of a string array. */
                put_header(&b, 3, 0, 1);
                put_key(&b, "sa", GGUF_TYPE_ARRAY);
                put_array_head(&b, GGUF_TYPE_STRING, 2);
                buf_str(&b, "ok");
                buf_u64(&b, lens[i]);
                buf_raw(&b, "abcd", 4);
                expect_reject(&b, "element of string array 'sa' has length");
                buf_free(&b);

                /* A tensor name. */
                put_header(&b, 3, 1, 0);
                buf_u64(&b, lens[i]);
                buf_zeros(&b, 40);
                expect_reject(&b, "the name of tensor 0 has length");
                buf_free(&b);
        }
}

static void test_gguf_open_memory_array_count_too_large(void **state) {
        static const struct {
                uint32_t elem;
                uint64_t count;
                const char *phrase;
        } cases[] = {
                { GGUF_TYPE_UINT32, 1000, "array of 1000 u32 elements does not fit" },
                { GGUF_TYPE_UINT64, 1ull << 61, "array of 2305843009213693952 u64 elements does not fit" },
                { GGUF_TYPE_UINT64, UINT64_MAX, "u64 elements does not fit" },
                { GGUF_TYPE_UINT8, 17, "array of 17 u8 elements does not fit in the 16 bytes" },
                { GGUF_TYPE_BOOL, UINT64_MAX, "bool elements does not fit" },
                { GGUF_TYPE_STRING, 3, "array of 3 str elements does not fit" },
                { GGUF_TYPE_STRING, UINT64_MAX, "str elements does not fit" },
                { GGUF_TYPE_ARRAY, 2, "array of 2 arr elements does not fit" },
                { GGUF_TYPE_ARRAY, 1ull << 62, "arr elements does not fit" },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                Buf b = { 0 };
                put_header(&b, 3, 0, 1);
                put_key(&b, "a", GGUF_TYPE_ARRAY);
                put_array_head(&b, cases[i].elem, cases[i].count);
                buf_zeros(&b, 16);
                expect_reject(&b, cases[i].phrase);
                buf_free(&b);
        }

        /* Inside a nested array. */
        Buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "nest", GGUF_TYPE_ARRAY);
        put_array_head(&b, GGUF_TYPE_ARRAY, 2);
        put_array_head(&b, GGUF_TYPE_UINT16, 1);
        buf_u16(&b, 5);
        put_array_head(&b, GGUF_TYPE_FLOAT32, 1000);
        buf_zeros(&b, 16);
        expect_reject(&b, "key 'nest': array of 1000 f32 elements does not fit");
        buf_free(&b);
}

static void test_gguf_open_memory_array_too_deep(void **state) {
        for (int extra = 1; extra <= 3; extra++) {
                Buf b = { 0 };
                char want[64];
                int levels = GGUF_MAX_ARRAY_DEPTH + extra;
                put_header(&b, 3, 0, 1);
                put_key(&b, "deep", GGUF_TYPE_ARRAY);
                for (int level = 1; level <= levels; level++)
                        put_array_head(&b, level < levels ? GGUF_TYPE_ARRAY : GGUF_TYPE_UINT8, 1);
                buf_u8(&b, 42);
                snprintf(want, sizeof(want), "key 'deep': arrays nested deeper than %d", GGUF_MAX_ARRAY_DEPTH);
                expect_reject(&b, want);
                buf_free(&b);
        }
}

static void test_gguf_open_memory_unknown_value_type(void **state) {
        static const uint32_t types[] = { 13, 100, 0xffffffffu };
        for (size_t i = 0; i < N_ELEMS(types); i++) {
                Buf b = { 0 };
                char want[64];
                put_header(&b, 3, 0, 1);
                put_key(&b, "k", types[i]);
                buf_zeros(&b, 8);
                snprintf(want, sizeof(want), "key 'k' has unknown value type %u", types[i]);
                expect_reject(&b, want);
                buf_free(&b);
        }
}

static void test_gguf_open_memory_unknown_array_type(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "k", GGUF_TYPE_ARRAY);
        put_array_head(&b, 13, 1);
        buf_zeros(&b, 8);
        expect_reject(&b, "key 'k': array of unknown value type 13");
        buf_free(&b);

        /* Nested. */
        put_header(&b, 3, 0, 1);
        put_key(&b, "k", GGUF_TYPE_ARRAY);
        put_array_head(&b, GGUF_TYPE_ARRAY, 1);
        put_array_head(&b, 0xffffffffu, 1);
        buf_zeros(&b, 8);
        expect_reject(&b, "key 'k': array of unknown value type 4294967295");
        buf_free(&b);
}

static void test_gguf_open_memory_bool_not_0_or_1(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "flag", GGUF_TYPE_BOOL);
        buf_u8(&b, 2);
        expect_reject(&b, "key 'flag': bool has value 2 (must be 0 or 1)");
        buf_free(&b);

        put_header(&b, 3, 0, 1);
        put_key(&b, "flag", GGUF_TYPE_BOOL);
        buf_u8(&b, 255);
        expect_reject(&b, "bool has value 255");
        buf_free(&b);

        put_header(&b, 3, 0, 1);
        put_key(&b, "flags", GGUF_TYPE_ARRAY);
        put_array_head(&b, GGUF_TYPE_BOOL, 4);
        buf_u8(&b, 1), buf_u8(&b, 0), buf_u8(&b, 2), buf_u8(&b, 1);
        expect_reject(&b, "key 'flags': bool array element 2 has value 2");
        buf_free(&b);
}

static void test_gguf_open_memory_empty_key(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "", GGUF_TYPE_UINT32);
        buf_u32(&b, 1);
        expect_reject(&b, "the key of metadata entry 0 is empty");
        buf_free(&b);
}

static void test_gguf_open_memory_key_with_nul(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 2);
        put_key(&b, "first", GGUF_TYPE_UINT8);
        buf_u8(&b, 1);
        buf_strn(&b, "a\0b", 3);
        buf_u32(&b, GGUF_TYPE_UINT32);
        buf_u32(&b, 1);
        expect_reject(&b, "the key of metadata entry 1 contains a NUL byte");
        buf_free(&b);
}

static void test_gguf_open_memory_key_too_long(void **state) {
        char key[GGUF_MAX_NAME + 2];
        char want[64];
        Buf b = { 0 };
        memset(key, 'k', GGUF_MAX_NAME + 1);
        key[GGUF_MAX_NAME + 1] = '\0';
        put_header(&b, 3, 0, 1);
        put_key(&b, key, GGUF_TYPE_UINT32);
        buf_u32(&b, 1);
        snprintf(want, sizeof(want), "is %d bytes long (limit %d)", GGUF_MAX_NAME + 1, GGUF_MAX_NAME);
        expect_reject(&b, want);
        buf_free(&b);
}

static void test_gguf_open_memory_duplicate_key(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 3);
        put_key(&b, "dup.key", GGUF_TYPE_UINT32);
        buf_u32(&b, 1);
        put_key(&b, "other", GGUF_TYPE_UINT8);
        buf_u8(&b, 1);
        put_key(&b, "dup.key", GGUF_TYPE_STRING); /* a different type does not make it another key */
        buf_str(&b, "x");
        expect_reject(&b, "duplicate metadata key 'dup.key'");
        buf_free(&b);
}

static void test_gguf_open_memory_alignment_wrong_type(void **state) {
        Buf b = { 0 };
        put_header(&b, 3, 0, 1);
        put_key(&b, "general.alignment", GGUF_TYPE_UINT64);
        buf_u64(&b, 64);
        expect_reject(&b, "key 'general.alignment' must be u32, is u64");
        buf_free(&b);

        put_header(&b, 3, 0, 1);
        put_key(&b, "general.alignment", GGUF_TYPE_STRING);
        buf_str(&b, "32");
        expect_reject(&b, "must be u32, is str");
        buf_free(&b);

        put_header(&b, 3, 0, 1);
        put_key(&b, "general.alignment", GGUF_TYPE_INT32);
        buf_u32(&b, 32);
        expect_reject(&b, "must be u32, is i32");
        buf_free(&b);
}

static void test_gguf_open_memory_alignment_bad_value(void **state) {
        static const struct {
                uint32_t a;
                const char *phrase;
        } cases[] = {
                { 0, "'general.alignment' is 0 (must be a power of two" },
                { 48, "'general.alignment' is 48 (must be a power of two" },
                { 3, "'general.alignment' is 3" },
                { 0x80000001u, "'general.alignment' is 2147483649" },
                { 1u << 21, "'general.alignment' is 2097152" },
                { 1u << 31, "'general.alignment' is 2147483648" },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                Buf b = { 0 };
                const TensorSpec ts[] = { { "w", 1, { 8 }, GGML_TYPE_F32, 0 } };
                put_header(&b, 3, 1, 1);
                put_key(&b, "general.alignment", GGUF_TYPE_UINT32);
                buf_u32(&b, cases[i].a);
                put_tensor_info(&b, &ts[0]);
                buf_pad(&b, 32);
                buf_zeros(&b, 32);
                expect_reject(&b, cases[i].phrase);
                buf_free(&b);
        }
}

/* ---- malformed files: tensors ------------------------------------------------------------ */

static void reject_tensors(const TensorSpec *ts, size_t n, uint32_t alignment, size_t data_len, const char *phrase,
                           const char *file, int line) {
        Buf b = { 0 };
        build_tensor_file(&b, ts, n, alignment, data_len);
        check_reject(b.data, b.size, phrase, file, line);
        buf_free(&b);
}

#define expect_reject_tensors(ts, alignment, data_len, phrase) \
        reject_tensors((ts), N_ELEMS(ts), (alignment), (data_len), (phrase), __FILE__, __LINE__)

static void test_gguf_open_memory_duplicate_tensor(void **state) {
        const TensorSpec ts[] = {
                { "w", 1, { 8 }, GGML_TYPE_F32, 0 },
                { "v", 1, { 8 }, GGML_TYPE_F32, 32 },
                { "w", 1, { 8 }, GGML_TYPE_F16, 64 },
        };
        expect_reject_tensors(ts, 0, 96, "duplicate tensor name 'w'");
}

static void test_gguf_open_memory_tensor_name_bad(void **state) {
        const TensorSpec empty[] = { { "", 1, { 8 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(empty, 0, 32, "the name of tensor 0 is empty");

        char name[GGUF_MAX_NAME + 2];
        memset(name, 'n', GGUF_MAX_NAME + 1);
        name[GGUF_MAX_NAME + 1] = '\0';
        const TensorSpec longname[] = { { name, 1, { 8 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(longname, 0, 32, "the name of tensor 0 is 257 bytes long (limit 256)");

        Buf b = { 0 };
        put_header(&b, 3, 1, 0);
        buf_strn(&b, "w\0x", 3);
        buf_u32(&b, 1);
        buf_u64(&b, 8);
        buf_u32(&b, GGML_TYPE_F32);
        buf_u64(&b, 0);
        buf_pad(&b, 32);
        buf_zeros(&b, 32);
        expect_reject(&b, "the name of tensor 0 contains a NUL byte");
        buf_free(&b);
}

static void test_gguf_open_memory_n_dims_out_of_range(void **state) {
        const TensorSpec zero[] = { { "w", 0, { 0 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(zero, 0, 64, "tensor 'w' has 0 dimensions (allowed 1..4)");
        const TensorSpec five[] = { { "w", 5, { 2, 2, 2, 2, 2 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(five, 0, 128, "tensor 'w' has 5 dimensions (allowed 1..4)");

        Buf b = { 0 };
        put_header(&b, 3, 1, 0);
        buf_str(&b, "w");
        buf_u32(&b, 0xffffffffu);
        buf_zeros(&b, 64);
        expect_reject(&b, "tensor 'w' has 4294967295 dimensions");
        buf_free(&b);
}

static void test_gguf_open_memory_zero_dimension(void **state) {
        const TensorSpec d0[] = { { "w", 2, { 0, 4 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(d0, 0, 64, "tensor 'w' has a zero dimension (ne[0])");
        const TensorSpec d2[] = { { "w", 3, { 4, 4, 0 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(d2, 0, 64, "tensor 'w' has a zero dimension (ne[2])");
}

static void test_gguf_open_memory_element_count_overflow(void **state) {
        const TensorSpec wrap[] = { { "w", 2, { 1ull << 40, 1ull << 40 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(wrap, 0, 64, "tensor 'w' has too many elements (overflow at ne[1]");
        /* 2^63 fits in u64 but not in the signed element count. */
        const TensorSpec big[] = { { "w", 2, { 1ull << 32, 1ull << 31 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(big, 0, 64, "too many elements (overflow at ne[1]");
        const TensorSpec four[] = { { "w", 4, { 1u << 16, 1u << 16, 1u << 16, 1u << 16 }, GGML_TYPE_F16, 0 } };
        expect_reject_tensors(four, 0, 64, "too many elements (overflow at ne[3]");
        const TensorSpec huge0[] = { { "w", 1, { UINT64_MAX }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(huge0, 0, 64, "too many elements (overflow at ne[0]");
}

static void test_gguf_open_memory_byte_size_overflow(void **state) {
        /* 2^62 elements is a valid count, but 2^64 bytes of f32 is not. */
        const TensorSpec row[] = { { "w", 1, { 1ull << 62 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(row, 0, 64, "tensor 'w': byte size overflows");
        const TensorSpec rows[] = { { "w", 2, { 1ull << 61, 2 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(rows, 0, 64, "tensor 'w': byte size overflows");
}

static void test_gguf_open_memory_unknown_tensor_type(void **state) {
        static const uint32_t types[] = { 99, 4, 5, 16, 29, _GGML_TYPE_MAX, 0xffffffffu };
        for (size_t i = 0; i < N_ELEMS(types); i++) {
                char want[64];
                const TensorSpec ts[] = { { "w", 1, { 256 }, types[i], 0 } };
                snprintf(want, sizeof(want), "tensor 'w' has unknown type %u", types[i]);
                expect_reject_tensors(ts, 0, 2048, want);
        }
}

static void test_gguf_open_memory_partial_block(void **state) {
        const TensorSpec q8[] = { { "w", 2, { 33, 2 }, GGML_TYPE_Q8_0, 0 } };
        expect_reject_tensors(q8, 0, 128, "tensor 'w': row length 33 is not a multiple of the q8_0 block size 32");
        const TensorSpec q4k[] = { { "w", 1, { 128 }, GGML_TYPE_Q4_K, 0 } };
        expect_reject_tensors(q4k, 0, 256, "row length 128 is not a multiple of the q4_k block size 256");
}

static void test_gguf_open_memory_offset_not_aligned(void **state) {
        const TensorSpec ts[] = { { "w", 1, { 8 }, GGML_TYPE_F32, 16 } };
        expect_reject_tensors(ts, 0, 64, "tensor 'w' offset 16 is not a multiple of the alignment 32");
        const TensorSpec ts64[] = {
                { "a", 1, { 8 }, GGML_TYPE_F32, 0 },
                { "b", 1, { 8 }, GGML_TYPE_F32, 32 },
        };
        expect_reject_tensors(ts64, 64, 128, "tensor 'b' offset 32 is not a multiple of the alignment 64");
        const TensorSpec odd[] = { { "w", 1, { 8 }, GGML_TYPE_F32, 1 } };
        expect_reject_tensors(odd, 0, 64, "offset 1 is not a multiple");
}

static void test_gguf_open_memory_tensor_past_end(void **state) {
        const TensorSpec ts[] = { { "w", 1, { 32 }, GGML_TYPE_F32, 0 } };
        expect_reject_tensors(ts, 0, 64, "tensor 'w' extends past end of file (offset 0, size 128, data section 64 bytes)");
        const TensorSpec two[] = {
                { "a", 1, { 16 }, GGML_TYPE_F32, 0 },
                { "b", 1, { 16 }, GGML_TYPE_F32, 64 },
        };
        expect_reject_tensors(two, 0, 127, "tensor 'b' extends past end of file (offset 64, size 64, data section 127 bytes)");
        /* One byte short of fitting; and exactly fitting is fine. */
        expect_reject_tensors(ts, 0, 127, "tensor 'w' extends past end of file (offset 0, size 128");
        Buf b = { 0 };
        build_tensor_file(&b, ts, 1, 0, 128);
        expect_valid(&b);
        buf_free(&b);
        /* Data that starts beyond the end. */
        const TensorSpec far[] = { { "w", 1, { 8 }, GGML_TYPE_F32, 4096 } };
        expect_reject_tensors(far, 0, 64, "tensor 'w' extends past end of file (offset 4096, size 32");
}

static void test_gguf_open_memory_offset_near_max(void **state) {
        /* offset + size would wrap around to a small number if added carelessly. */
        const TensorSpec ts[] = { { "w", 1, { 16 }, GGML_TYPE_F32, UINT64_MAX - 31 } };
        expect_reject_tensors(ts, 0, 128, "tensor 'w' extends past end of file (offset 18446744073709551584, size 64");
        const TensorSpec ts2[] = { { "w", 1, { 16 }, GGML_TYPE_F32, 1ull << 63 } };
        expect_reject_tensors(ts2, 0, 128, "tensor 'w' extends past end of file (offset 9223372036854775808");
        const TensorSpec ts3[] = { { "w", 1, { 16 }, GGML_TYPE_F32, UINT64_MAX - 63 } };
        expect_reject_tensors(ts3, 64, 128, "extends past end of file (offset 18446744073709551552");
}

static void test_gguf_open_memory_overlapping_tensors(void **state) {
        const TensorSpec partial[] = {
                { "a", 1, { 16 }, GGML_TYPE_F32, 0 },
                { "b", 1, { 16 }, GGML_TYPE_F32, 32 },
        };
        expect_reject_tensors(partial, 0, 128, "tensors 'a' (offset 0, size 64) and 'b' (offset 32) overlap");
        const TensorSpec same[] = {
                { "x", 1, { 8 }, GGML_TYPE_F32, 64 },
                { "y", 1, { 8 }, GGML_TYPE_F16, 64 },
        };
        expect_reject_tensors(same, 0, 128, "overlap");
        /* Listed out of offset order, the overlap is still found. */
        const TensorSpec unordered[] = {
                { "c", 1, { 8 }, GGML_TYPE_F32, 128 },
                { "big", 1, { 64 }, GGML_TYPE_F32, 0 },
                { "d", 1, { 8 }, GGML_TYPE_F32, 256 },
        };
        expect_reject_tensors(unordered, 0, 288, "tensors 'big' (offset 0, size 256) and 'c' (offset 128) overlap");
}

static void test_gguf_open_memory_data_section_missing(void **state) {
        /* 24 + 33 = 57 bytes of header; the data section would start at 64. */
        Buf b = { 0 };
        const TensorSpec ts = { "w", 1, { 8 }, GGML_TYPE_F32, 0 };
        put_header(&b, 3, 1, 0);
        put_tensor_info(&b, &ts);
        assert_int_equal(b.size, 57);
        expect_reject(&b, "file truncated before the data section (starts at 64, file has 57 bytes)");
        buf_free(&b);
}

/* ---- gguf_open on real files ------------------------------------------------------------- */

static const char *tmp_dir(void) {
        const char *d = getenv("TMPDIR");
        return d && *d ? d : "/tmp";
}

/* A new temporary file holding the given bytes; returns its malloc'd path. */
static char *write_temp(const void *data, size_t n) {
        char *path;
        assert_true(asprintf(&path, "%s/test-gguf-XXXXXX", tmp_dir()) > 0);
        int fd = mkstemp(path);
        if (fd < 0)
                fail_msg("mkstemp %s: %s", path, strerror(errno));
        const uint8_t *p = data;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                assert_true(w > 0);
                p += w;
                n -= (size_t) w;
        }
        assert_int_equal(close(fd), 0);
        return path;
}

static void test_gguf_open_valid_file(void **state) {
        FullFile ff;
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        build_full(&ff, 3, 64);
        char *path = write_temp(ff.buf.data, ff.buf.size);
        int r = gguf_open(path, &f, &err);
        unlink(path);
        if (r < 0)
                fail_msg("gguf_open: %s", err.message);
        assert_true(f->mapped);
        assert_string_equal(f->path, path);
        check_full(f, &ff);
        gguf_close(f);
        free(path);
        buf_free(&ff.buf);
}

static void expect_open_fails(const char *path, int code, const char *phrase, const char *file, int line) {
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        int r = gguf_open(path, &f, &err);
        if (r != code || f != NULL || err.code != code || strncmp(err.message, path, strlen(path)) != 0 ||
            !strstr(err.message, phrase)) {
                print_error("gguf_open(%s): expected %d with \"%s\"; got r=%d message: %s\n", path, code, phrase, r,
                            err.message);
                gguf_close(f);
                _fail(file, line);
        }
}

static void test_gguf_open_missing_path(void **state) {
        char *path;
        assert_true(asprintf(&path, "%s/test-gguf-no-such-file-%d.gguf", tmp_dir(), (int) getpid()) > 0);
        expect_open_fails(path, -ENOENT, "cannot open: ", __FILE__, __LINE__);
        free(path);
}

static void test_gguf_open_directory(void **state) {
        expect_open_fails(tmp_dir(), -EINVAL, "not a regular file", __FILE__, __LINE__);
}

static void test_gguf_open_empty_file(void **state) {
        char *path = write_temp("", 0);
        expect_open_fails(path, -EBADMSG, "file too small to be GGUF (0 bytes)", __FILE__, __LINE__);
        unlink(path);
        free(path);
}

static void test_gguf_open_truncated_file(void **state) {
        FullFile ff;
        build_full(&ff, 3, 0);
        char *path = write_temp(ff.buf.data, 100);
        expect_open_fails(path, -EBADMSG, "cannot fit in a file of 100 bytes", __FILE__, __LINE__);
        unlink(path);
        free(path);
        path = write_temp(ff.buf.data, ff.buf.size - 1);
        expect_open_fails(path, -EBADMSG, "extends past end of file (offset", __FILE__, __LINE__);
        unlink(path);
        free(path);
        buf_free(&ff.buf);
}

/* ---- the writer -------------------------------------------------------------------------- */

static char *temp_output_path(void) {
        /* A fresh name inside a fresh directory, so the writer creates the file. */
        char *dir, *path;
        assert_true(asprintf(&dir, "%s/test-gguf-dir-XXXXXX", tmp_dir()) > 0);
        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&path, "%s/out.gguf", dir) > 0);
        free(dir);
        return path;
}

static void remove_output(char *path) {
        unlink(path);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        assert_int_equal(rmdir(path), 0); /* also proves no temporary file was left behind */
        free(path);
}

static void fill_rows(void *userdata, uint64_t row, void *dst) {
        uint64_t *calls = userdata;
        assert_int_equal(row, *calls); /* in order, once each */
        (*calls)++;
        float v[6];
        for (int j = 0; j < 6; j++)
                v[j] = (float) row * 10.0f + (float) j;
        memcpy(dst, v, sizeof(v));
}

static void test_gguf_writer_write_roundtrip(void **state) {
        static const uint8_t a_u8[] = { 1, 2, 250 };
        static const int16_t a_i16[] = { -300, 0, 300, 7 };
        static const int32_t a_i32[] = { -1, 1 };
        static const float a_f32[] = { 0.25f, -1.5f, 1e-3f };
        static const uint64_t a_u64[] = { 1ull << 50 };
        static const double a_f64[] = { 3.5, -2.0 };
        static const uint8_t a_bool[] = { 0, 1, 1 };
        static const char *const a_str[] = { "<pad>", "<eos>", "", "h\xc3\xa9llo" };

        static const struct {
                const char *name;
                uint32_t type, n_dims;
                uint64_t ne[4];
                size_t n_bytes;  /* by hand */
                uint64_t offset; /* by hand, alignment 64 */
        } tensors[] = {
                { "f32.weight", GGML_TYPE_F32, 2, { 5, 3 }, 60, 0 },
                { "f16.weight", GGML_TYPE_F16, 2, { 8, 2 }, 32, 64 },
                { "bf16.weight", GGML_TYPE_BF16, 1, { 4 }, 8, 128 },
                { "q8_0.weight", GGML_TYPE_Q8_0, 2, { 64, 3 }, 204, 192 },
                { "q4_0.weight", GGML_TYPE_Q4_0, 3, { 32, 1, 2 }, 36, 448 },
                { "rows.weight", GGML_TYPE_F32, 2, { 6, 4 }, 96, 512 },
        };

        _cleanup_(gguf_writer_freep) GgufWriter *w = gguf_writer_new();
        assert_non_null(w);
        assert_int_equal(gguf_writer_add_string(w, "general.architecture", "gemma3n"), 0);
        assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 64), 0);
        assert_int_equal(gguf_writer_add_u32(w, "t.u32", 4000000000u), 0);
        assert_int_equal(gguf_writer_add_f32(w, "t.f32", -0.75f), 0);
        assert_int_equal(gguf_writer_add_bool(w, "t.true", true), 0);
        assert_int_equal(gguf_writer_add_bool(w, "t.false", false), 0);
        assert_int_equal(gguf_writer_add_string(w, "t.empty", ""), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 3), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.i16", GGUF_TYPE_INT16, a_i16, 4), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.i32", GGUF_TYPE_INT32, a_i32, 2), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.f32", GGUF_TYPE_FLOAT32, a_f32, 3), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 1), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3), 0);
        assert_int_equal(gguf_writer_add_array(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0), 0);
        assert_int_equal(gguf_writer_add_string_array(w, "a.str", a_str, 4), 0);

        uint8_t *data[N_ELEMS(tensors)] = { 0 };
        uint64_t fill_calls = 0;
        for (size_t i = 0; i < N_ELEMS(tensors); i++) {
                data[i] = malloc(tensors[i].n_bytes);
                for (size_t j = 0; j < tensors[i].n_bytes; j++)
                        data[i][j] = (uint8_t) (pattern(j) ^ (uint8_t) i);
                if (strcmp(tensors[i].name, "rows.weight") == 0) {
                        assert_int_equal(gguf_writer_add_tensor_rows(w, tensors[i].name, tensors[i].type, tensors[i].n_dims,
                                                                     tensors[i].ne, fill_rows, &fill_calls), 0);
                        for (uint64_t r = 0; r < 4; r++)
                                for (int j = 0; j < 6; j++) {
                                        float v = (float) r * 10.0f + (float) j;
                                        memcpy(data[i] + (r * 6 + (uint64_t) j) * 4, &v, 4);
                                }
                } else
                        assert_int_equal(gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims,
                                                                tensors[i].ne, data[i], tensors[i].n_bytes), 0);
        }

        char *path = temp_output_path();
        GemmaError err = { 0 };
        if (gguf_writer_write(w, path, &err) < 0)
                fail_msg("gguf_writer_write: %s", err.message);
        assert_int_equal(fill_calls, 4);

        GgufFile *f = NULL;
        if (gguf_open(path, &f, &err) < 0)
                fail_msg("gguf_open: %s", err.message);
        assert_int_equal(f->version, 3);
        assert_int_equal(f->alignment, 64);
        assert_int_equal(f->n_kvs, 16);
        assert_int_equal(f->n_tensors, N_ELEMS(tensors));

        GgufString s;
        uint32_t u;
        float x;
        bool b;
        assert_int_equal(gguf_get_string(f, "general.architecture", &s, &err), 0);
        assert_int_equal(s.len, 7);
        assert_memory_equal(s.ptr, "gemma3n", 7);
        assert_int_equal(gguf_get_string(f, "t.empty", &s, &err), 0);
        assert_int_equal(s.len, 0);
        assert_int_equal(gguf_get_u32(f, "t.u32", &u, &err), 0);
        assert_int_equal(u, 4000000000u);
        assert_int_equal(gguf_get_f32(f, "t.f32", &x, &err), 0);
        assert_true(x == -0.75f);
        assert_int_equal(gguf_get_bool(f, "t.true", &b, &err), 0);
        assert_true(b);
        assert_int_equal(gguf_get_bool(f, "t.false", &b, &err), 0);
        assert_false(b);

        static const struct {
                const char *key;
                GgufType type;
                const void *data;
                size_t count, elem;
        } arrays[] = {
                { "a.u8", GGUF_TYPE_UINT8, a_u8, 3, 1 },     { "a.i16", GGUF_TYPE_INT16, a_i16, 4, 2 },
                { "a.i32", GGUF_TYPE_INT32, a_i32, 2, 4 },   { "a.f32", GGUF_TYPE_FLOAT32, a_f32, 3, 4 },
                { "a.u64", GGUF_TYPE_UINT64, a_u64, 1, 8 },  { "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2, 8 },
                { "a.bool", GGUF_TYPE_BOOL, a_bool, 3, 1 },  { "a.empty", GGUF_TYPE_UINT32, NULL, 0, 4 },
        };
        for (size_t i = 0; i < N_ELEMS(arrays); i++) {
                const GgufArray *a = &kv_of(f, arrays[i].key, GGUF_TYPE_ARRAY)->value.arr;
                assert_int_equal(a->elem_type, arrays[i].type);
                assert_int_equal(a->count, arrays[i].count);
                if (arrays[i].count)
                        assert_memory_equal(a->data, arrays[i].data, arrays[i].count * arrays[i].elem);
        }
        double d;
        assert_true(gguf_array_get_f64(&gguf_find_kv(f, "a.i16")->value.arr, 0, &d) && d == -300);
        const GgufArray *sa = &kv_of(f, "a.str", GGUF_TYPE_ARRAY)->value.arr;
        assert_int_equal(sa->elem_type, GGUF_TYPE_STRING);
        assert_int_equal(sa->count, 4);
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(sa->strings[i].len, strlen(a_str[i]));
                assert_memory_equal(sa->strings[i].ptr, a_str[i], strlen(a_str[i]));
        }

        for (size_t i = 0; i < N_ELEMS(tensors); i++) {
                const GgufTensor *t = gguf_find_tensor(f, tensors[i].name);
                assert_non_null(t);
                assert_ptr_equal(t, &f->tensors[i]);
                assert_int_equal(t->type, tensors[i].type);
                assert_int_equal(t->n_dims, tensors[i].n_dims);
                for (uint32_t dim = 0; dim < 4; dim++)
                        assert_int_equal(t->ne[dim], dim < tensors[i].n_dims ? tensors[i].ne[dim] : 1);
                assert_int_equal(t->n_bytes, tensors[i].n_bytes);
                assert_int_equal(t->offset, tensors[i].offset);
                assert_ptr_equal(t->data, f->base + f->data_offset + t->offset);
                assert_memory_equal(t->data, data[i], tensors[i].n_bytes);
                free(data[i]);
        }
        assert_int_equal(f->data_offset % 64, 0);
        assert_int_equal(f->size, f->data_offset + 512 + 96);
        gguf_close(f);
        remove_output(path);
}

static void test_gguf_writer_write_default_alignment(void **state) {
        static const uint16_t h[3] = { 0x3c00, 0x4000, 0xc000 };
        static const float one = 1.0f;
        static const uint64_t ne3[] = { 3 }, ne1[] = { 1 };
        _cleanup_(gguf_writer_freep) GgufWriter *w = gguf_writer_new();
        assert_int_equal(gguf_writer_add_tensor(w, "h", GGML_TYPE_F16, 1, ne3, h, sizeof(h)), 0);
        assert_int_equal(gguf_writer_add_tensor(w, "one", GGML_TYPE_F32, 1, ne1, &one, 4), 0);
        char *path = temp_output_path();
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        assert_int_equal(gguf_writer_write(w, path, &err), 0);
        if (gguf_open(path, &f, &err) < 0)
                fail_msg("gguf_open: %s", err.message);
        assert_int_equal(f->alignment, 32);
        assert_int_equal(f->n_kvs, 0);
        assert_int_equal(f->data_offset % 32, 0);
        assert_int_equal(gguf_find_tensor(f, "h")->offset, 0);
        assert_int_equal(gguf_find_tensor(f, "one")->offset, 32);
        assert_memory_equal(gguf_find_tensor(f, "h")->data, h, sizeof(h));
        assert_memory_equal(gguf_find_tensor(f, "one")->data, &one, 4);
        gguf_close(f);
        remove_output(path);
}

static void test_gguf_writer_add_tensor_size_mismatch(void **state) {
        static uint8_t buf[512];
        _cleanup_(gguf_writer_freep) GgufWriter *w = gguf_writer_new();
        const uint64_t ne[] = { 64, 2 }, ne33[] = { 33, 2 }, ne_zero[] = { 4, 0 }, ne_big[] = { 1ull << 62, 4 };

        /* 2 rows of 2 q8_0 blocks of 34 bytes = 136. */
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne, buf, 135), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne, buf, 137), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne, buf, 128), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "f", GGML_TYPE_F32, 2, ne, buf, 256), -EINVAL); /* 512 */
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne33, buf, 136), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 0, ne, buf, 136), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 5, ne, buf, 136), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", 99, 2, ne, buf, 136), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "z", GGML_TYPE_F32, 2, ne_zero, buf, 0), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "big", GGML_TYPE_F32, 2, ne_big, buf, 0), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor_rows(w, "r", GGML_TYPE_Q8_0, 2, ne33, fill_rows, NULL), -EINVAL);
        assert_int_equal(gguf_writer_add_array(w, "s", GGUF_TYPE_STRING, buf, 1), -EINVAL);
        assert_int_equal(gguf_writer_add_array(w, "s", GGUF_TYPE_ARRAY, buf, 1), -EINVAL);
        assert_int_equal(gguf_writer_add_tensor(w, "q", GGML_TYPE_Q8_0, 2, ne, buf, 136), 0);

        /* Only the accepted tensor is in the file. */
        char *path = temp_output_path();
        GemmaError err = { 0 };
        GgufFile *f = NULL;
        assert_int_equal(gguf_writer_write(w, path, &err), 0);
        if (gguf_open(path, &f, &err) < 0)
                fail_msg("gguf_open: %s", err.message);
        assert_int_equal(f->n_tensors, 1);
        assert_int_equal(f->n_kvs, 0);
        assert_int_equal(f->tensors[0].n_bytes, 136);
        gguf_close(f);
        remove_output(path);
}

static void test_gguf_writer_write_bad_alignment(void **state) {
        static const uint32_t bad[] = { 0, 48, 1u << 21 };
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                _cleanup_(gguf_writer_freep) GgufWriter *w = gguf_writer_new();
                static const float v[8];
                const uint64_t ne[] = { 8 };
                assert_int_equal(gguf_writer_add_u32(w, "general.alignment", bad[i]), 0);
                assert_int_equal(gguf_writer_add_tensor(w, "w", GGML_TYPE_F32, 1, ne, v, sizeof(v)), 0);
                char *path = temp_output_path();
                GemmaError err = { 0 };
                assert_int_equal(gguf_writer_write(w, path, &err), -EINVAL);
                assert_non_null(strstr(err.message, "general.alignment"));
                assert_int_equal(access(path, F_OK), -1);
                remove_output(path);
        }
}

static void test_gguf_writer_write_unwritable_path(void **state) {
        _cleanup_(gguf_writer_freep) GgufWriter *w = gguf_writer_new();
        char *path;
        GemmaError err = { 0 };
        assert_true(asprintf(&path, "%s/test-gguf-no-such-dir-%d/out.gguf", tmp_dir(), (int) getpid()) > 0);
        assert_int_equal(gguf_writer_write(w, path, &err), -ENOENT);
        assert_non_null(strstr(err.message, "cannot create"));
        free(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gguf_open_memory_valid_v3),
                cmocka_unit_test(test_gguf_open_memory_valid_v2),
                cmocka_unit_test(test_gguf_open_memory_alignment),
                cmocka_unit_test(test_gguf_open_memory_no_tensors_no_kv),
                cmocka_unit_test(test_gguf_open_memory_adjacent_tensors),
                cmocka_unit_test(test_gguf_open_memory_array_depth_limit_ok),
                cmocka_unit_test(test_gguf_open_memory_key_at_max_length),
                cmocka_unit_test(test_gguf_get_u32_conversions),
                cmocka_unit_test(test_gguf_get_f32_conversions),
                cmocka_unit_test(test_gguf_get_bool_types),
                cmocka_unit_test(test_gguf_get_string_types),
                cmocka_unit_test(test_gguf_get_missing_key_enoent),
                cmocka_unit_test(test_gguf_get_u32_per_layer_scalar_and_array),
                cmocka_unit_test(test_gguf_get_u32_per_layer_errors),
                cmocka_unit_test(test_gguf_get_f32_per_layer_scalar_and_array),
                cmocka_unit_test(test_gguf_get_bool_per_layer_scalar_and_array),
                cmocka_unit_test(test_gguf_array_get_f64_bounds),
                cmocka_unit_test(test_gguf_value_describe_each_type),
                cmocka_unit_test(test_gguf_type_name_and_size),
                cmocka_unit_test(test_gguf_close_null),
                cmocka_unit_test(test_gguf_open_memory_bad_magic),
                cmocka_unit_test(test_gguf_open_memory_version_1),
                cmocka_unit_test(test_gguf_open_memory_version_unsupported),
                cmocka_unit_test(test_gguf_open_memory_big_endian),
                cmocka_unit_test(test_gguf_open_memory_empty),
                cmocka_unit_test(test_gguf_open_memory_truncated_every_prefix),
                cmocka_unit_test(test_gguf_open_memory_huge_tensor_count),
                cmocka_unit_test(test_gguf_open_memory_huge_kv_count),
                cmocka_unit_test(test_gguf_open_memory_string_longer_than_file),
                cmocka_unit_test(test_gguf_open_memory_array_count_too_large),
                cmocka_unit_test(test_gguf_open_memory_array_too_deep),
                cmocka_unit_test(test_gguf_open_memory_unknown_value_type),
                cmocka_unit_test(test_gguf_open_memory_unknown_array_type),
                cmocka_unit_test(test_gguf_open_memory_bool_not_0_or_1),
                cmocka_unit_test(test_gguf_open_memory_empty_key),
                cmocka_unit_test(test_gguf_open_memory_key_with_nul),
                cmocka_unit_test(test_gguf_open_memory_key_too_long),
                cmocka_unit_test(test_gguf_open_memory_duplicate_key),
                cmocka_unit_test(test_gguf_open_memory_alignment_wrong_type),
                cmocka_unit_test(test_gguf_open_memory_alignment_bad_value),
                cmocka_unit_test(test_gguf_open_memory_duplicate_tensor),
                cmocka_unit_test(test_gguf_open_memory_tensor_name_bad),
                cmocka_unit_test(test_gguf_open_memory_n_dims_out_of_range),
                cmocka_unit_test(test_gguf_open_memory_zero_dimension),
                cmocka_unit_test(test_gguf_open_memory_element_count_overflow),
                cmocka_unit_test(test_gguf_open_memory_byte_size_overflow),
                cmocka_unit_test(test_gguf_open_memory_unknown_tensor_type),
                cmocka_unit_test(test_gguf_open_memory_partial_block),
                cmocka_unit_test(test_gguf_open_memory_offset_not_aligned),
                cmocka_unit_test(test_gguf_open_memory_tensor_past_end),
                cmocka_unit_test(test_gguf_open_memory_offset_near_max),
                cmocka_unit_test(test_gguf_open_memory_overlapping_tensors),
                cmocka_unit_test(test_gguf_open_memory_data_section_missing),
                cmocka_unit_test(test_gguf_open_valid_file),
                cmocka_unit_test(test_gguf_open_missing_path),
                cmocka_unit_test(test_gguf_open_directory),
                cmocka_unit_test(test_gguf_open_empty_file),
                cmocka_unit_test(test_gguf_open_truncated_file),
                cmocka_unit_test(test_gguf_writer_write_roundtrip),
                cmocka_unit_test(test_gguf_writer_write_default_alignment),
                cmocka_unit_test(test_gguf_writer_add_tensor_size_mismatch),
                cmocka_unit_test(test_gguf_writer_write_bad_alignment),
                cmocka_unit_test(test_gguf_writer_write_unwritable_path),
        };
        return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
