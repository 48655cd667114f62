/* GGUF v3 writer: serialises metadata and tensor infos into a header buffer, then streams the
 * aligned tensor data after it. Layout as documented in gguf.h. */
#include "gguf-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "tensor/type-traits.h"

typedef struct Buffer {
        uint8_t *data;
        size_t size;
        size_t capacity;
} Buffer;

typedef struct WriterTensor {
        char *name;
        uint32_t type;
        uint32_t n_dims;
        uint64_t ne[GGUF_MAX_DIMS];
        void *data;              /* NULL when rows come from fill() */
        size_t n_bytes;
        size_t row_bytes;
        uint64_t n_rows;
        GgufRowFill fill;
        void *userdata;
} WriterTensor;

struct GgufWriter {
        Buffer kv;              /* serialised metadata entries */
        uint64_t n_kv;
        WriterTensor *tensors;
        size_t n_tensors;
        size_t tensors_capacity;
        uint32_t alignment;
};

static int buffer_append(Buffer *b, const void *p, size_t n) {
        if (n > SIZE_MAX - b->size)
                return -ENOMEM;
        if (b->size + n > b->capacity) {
                size_t cap = MAX(b->capacity * 2, b->size + n);
                cap = MAX(cap, (size_t) 256);
                uint8_t *d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->capacity = cap;
        }
        if (n)
                memcpy(b->data + b->size, p, n);
        b->size += n;
        return 0;
}

static int buffer_u32(Buffer *b, uint32_t v) {
        return buffer_append(b, &v, sizeof(v));
}

static int buffer_u64(Buffer *b, uint64_t v) {
        return buffer_append(b, &v, sizeof(v));
}

static int buffer_string(Buffer *b, const char *s) {
        size_t n = strlen(s);
        int k = buffer_u64(b, n);
        return k < 0 ? k : buffer_append(b, s, n);
}

static int write_all(int fd, const void *p, size_t n);

GgufWriter *gguf_writer_new(void) {
        GgufWriter *w = new0(GgufWriter, 1);
        if (w)
                w->alignment = GGUF_DEFAULT_ALIGNMENT;
        return w;
}

GgufWriter *gguf_writer_free(GgufWriter *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_tensors; i++) {
                free(w->tensors[i].name);
                free(w->tensors[i].data);
        }
        free(w->tensors);
        free(w->kv.data);
        free(w);
        return NULL;
}

static int kv_header(GgufWriter *w, const char *key, GgufType type) {
        int k;
        if ((k = buffer_string(&w->kv, key)) < 0 || (k = buffer_u32(&w->kv, type)) < 0)
                return k;
        w->n_kv++;
        return 0;
}

int gguf_writer_add_u32(GgufWriter *w, const char *key, uint32_t v) {
        int k = kv_header(w, key, GGUF_TYPE_UINT32);
        if (k == 0 && strcmp(key, "general.alignment") == 0)
                w->alignment = v;
        return k < 0 ? k : buffer_u32(&w->kv, v);
}

int gguf_writer_add_f32(GgufWriter *w, const char *key, float v) {
        int k = kv_header(w, key, GGUF_TYPE_FLOAT32);
        return k < 0 ? k : buffer_append(&w->kv, &v, sizeof(v));
}

int gguf_writer_add_bool(GgufWriter *w, const char *key, bool v) {
        uint8_t b = v;
        int k = kv_header(w, key, GGUF_TYPE_BOOL);
        return k < 0 ? k : buffer_append(&w->kv, &b, 1);
}

int gguf_writer_add_string(GgufWriter *w, const char *key, const char *v) {
        int k = kv_header(w, key, GGUF_TYPE_STRING);
        return k < 0 ? k : buffer_string(&w->kv, v);
}

int gguf_writer_add_array(GgufWriter *w, const char *key, GgufType elem_type, const void *data, size_t count) {
        size_t elem = gguf_type_size(elem_type), bytes;
        int k;
        if (elem == 0 || size_mul_overflow(elem, count, &bytes))
                return -EINVAL;
        if ((k = kv_header(w, key, GGUF_TYPE_ARRAY)) < 0 || (k = buffer_u32(&w->kv, elem_type)) < 0 ||
            (k = buffer_u64(&w->kv, count)) < 0)
                return k;
        return buffer_append(&w->kv, data, bytes);
}

int gguf_writer_add_string_array(GgufWriter *w, const char *key, const char *const *v, size_t count) {
        int k;
        if ((k = kv_header(w, key, GGUF_TYPE_ARRAY)) < 0 || (k = buffer_u32(&w->kv, GGUF_TYPE_STRING)) < 0 ||
            (k = buffer_u64(&w->kv, count)) < 0)
                return k;
        for (size_t i = 0; i < count; i++)
                if ((k = buffer_string(&w->kv, v[i])) < 0)
                        return k;
        return 0;
}

static int buffer_gguf_string(Buffer *b, const GgufString *s) {
        int k = buffer_u64(b, s->len);
        return k < 0 ? k : buffer_append(b, s->ptr, s->len);
}

/* Element type, count and elements of an array, as they follow an array's type tag. */
static int buffer_array(Buffer *b, const GgufArray *a) {
        size_t elem = gguf_type_size(a->elem_type), bytes;
        int k;
        if ((k = buffer_u32(b, a->elem_type)) < 0 || (k = buffer_u64(b, a->count)) < 0)
                return k;
        switch (a->elem_type) {
        case GGUF_TYPE_STRING:
                for (uint64_t i = 0; i < a->count; i++)
                        if ((k = buffer_gguf_string(b, &a->strings[i])) < 0)
                                return k;
                return 0;
        case GGUF_TYPE_ARRAY:
                for (uint64_t i = 0; i < a->count; i++)
                        if ((k = buffer_array(b, &a->arrays[i].arr)) < 0)
                                return k;
                return 0;
        default:
                if (elem == 0 || size_mul_overflow(elem, a->count, &bytes))
                        return -EINVAL;
                return buffer_append(b, a->data, bytes);
        }
}

int gguf_writer_add_value(GgufWriter *w, const char *key, const GgufValue *v) {
        int k;
        if ((unsigned) v->type >= _GGUF_TYPE_MAX)
                return -EINVAL;
        if (v->type == GGUF_TYPE_UINT32)
                return gguf_writer_add_u32(w, key, v->u32);   /* general.alignment takes effect */
        if ((k = kv_header(w, key, v->type)) < 0)
                return k;
        switch (v->type) {
        case GGUF_TYPE_STRING:
                return buffer_gguf_string(&w->kv, &v->str);
        case GGUF_TYPE_ARRAY:
                return buffer_array(&w->kv, &v->arr);
        case GGUF_TYPE_BOOL: {
                uint8_t b = v->b;
                return buffer_append(&w->kv, &b, 1);
        }
        default:
                /* Every scalar member of the union starts at its first byte (little-endian, as
                 * the format and the reader require). */
                return buffer_append(&w->kv, &v->u8, gguf_type_size(v->type));
        }
}

/* Appends a tensor entry with its shape checked; data is attached by the callers below. */
static int tensor_new(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t ne[],
                      WriterTensor **ret) {
        uint64_t n_rows = 1, row_bytes, n_bytes;

        if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
                return -EINVAL;
        for (uint32_t d = 0; d < n_dims; d++)
                if (ne[d] == 0 || (d > 0 && __builtin_mul_overflow(n_rows, ne[d], &n_rows)))
                        return -EINVAL;
        if (!type_row_bytes(type, ne[0], &row_bytes) || __builtin_mul_overflow(row_bytes, n_rows, &n_bytes) ||
            n_bytes > SIZE_MAX)
                return -EINVAL;

        if (w->n_tensors == w->tensors_capacity) {
                size_t cap = MAX(w->tensors_capacity * 2, (size_t) 64);
                WriterTensor *t = realloc(w->tensors, cap * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                w->tensors = t;
                w->tensors_capacity = cap;
        }
        WriterTensor *t = &w->tensors[w->n_tensors];
        *t = (WriterTensor) { .type = type, .n_dims = n_dims, .n_bytes = n_bytes, .row_bytes = row_bytes,
                              .n_rows = n_rows };
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
                t->ne[d] = d < n_dims ? ne[d] : 1;
        t->name = strdup(name);
        if (!t->name)
                return -ENOMEM;
        w->n_tensors++;
        *ret = t;
        return 0;
}

int gguf_writer_add_tensor(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t ne[], const void *data, size_t n_bytes) {
        WriterTensor *t;
        int k = tensor_new(w, name, type, n_dims, ne, &t);
        if (k < 0)
                return k;
        if (t->n_bytes != n_bytes || !(t->data = malloc(n_bytes ? n_bytes : 1))) {
                k = t->n_bytes != n_bytes ? -EINVAL : -ENOMEM;
                free(t->name);
                w->n_tensors--;
                return k;
        }
        memcpy(t->data, data, n_bytes);
        return 0;
}

int gguf_writer_add_tensor_rows(GgufWriter *w, const char *name, uint32_t type, uint32_t n_dims,
                                const uint64_t ne[], GgufRowFill fill, void *userdata) {
        WriterTensor *t;
        int k = tensor_new(w, name, type, n_dims, ne, &t);
        if (k < 0)
                return k;
        t->fill = fill;
        t->userdata = userdata;
        return 0;
}

/* Streams a generated tensor row by row. */
static int write_rows(int fd, const WriterTensor *t) {
        uint8_t *row = malloc(t->row_bytes ? t->row_bytes : 1);
        int k = 0;
        if (!row)
                return -ENOMEM;
        for (uint64_t r = 0; r < t->n_rows && k == 0; r++) {
                t->fill(t->userdata, r, row);
                k = write_all(fd, row, t->row_bytes);
        }
        free(row);
        return k;
}

static uint64_t align_up(uint64_t x, uint32_t a) {
        return (x + a - 1) / a * a;
}

static int write_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t r = write(fd, b, n);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += r;
                n -= (size_t) r;
        }
        return 0;
}

static int write_zeros(int fd, size_t n) {
        static const uint8_t zeros[64];
        int k = 0;
        while (n > 0 && k == 0) {
                size_t c = MIN(n, sizeof(zeros));
                k = write_all(fd, zeros, c);
                n -= c;
        }
        return k;
}

int gguf_writer_write(GgufWriter *w, const char *path, GemmaError *err) {
        Buffer head = { 0 };
        _cleanup_free_ char *tmp = NULL;
        uint64_t offset = 0;
        int k, fd;

        /* The same rule the reader applies; 0 would also divide by zero below. */
        if (w->alignment == 0 || (w->alignment & (w->alignment - 1)) != 0 || w->alignment > (1u << 20))
                return gemma_error_set(err, -EINVAL, "%s: general.alignment %u is not a power of two up to 1 MiB",
                                       path, w->alignment);
        if ((k = buffer_append(&head, GGUF_MAGIC, 4)) < 0 || (k = buffer_u32(&head, 3)) < 0 ||
            (k = buffer_u64(&head, w->n_tensors)) < 0 || (k = buffer_u64(&head, w->n_kv)) < 0 ||
            (k = buffer_append(&head, w->kv.data, w->kv.size)) < 0)
                goto fail_mem;
        for (size_t i = 0; i < w->n_tensors; i++) {
                const WriterTensor *t = &w->tensors[i];
                if ((k = buffer_string(&head, t->name)) < 0 || (k = buffer_u32(&head, t->n_dims)) < 0)
                        goto fail_mem;
                for (uint32_t d = 0; d < t->n_dims; d++)
                        if ((k = buffer_u64(&head, t->ne[d])) < 0)
                                goto fail_mem;
                if ((k = buffer_u32(&head, t->type)) < 0 || (k = buffer_u64(&head, offset)) < 0)
                        goto fail_mem;
                offset = align_up(offset + t->n_bytes, w->alignment);
        }

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                k = -ENOMEM;
                goto fail_mem;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                k = -errno;
                free(head.data);
                return gemma_error_set(err, k, "%s: cannot create: %s", path, strerror(-k));
        }
        k = write_all(fd, head.data, head.size);
        if (k == 0)
                k = write_zeros(fd, align_up(head.size, w->alignment) - head.size);
        for (size_t i = 0; k == 0 && i < w->n_tensors; i++) {
                const WriterTensor *t = &w->tensors[i];
                k = t->data ? write_all(fd, t->data, t->n_bytes) : write_rows(fd, t);
                if (k == 0 && i + 1 < w->n_tensors)
                        k = write_zeros(fd, align_up(t->n_bytes, w->alignment) - t->n_bytes);
        }
        free(head.data);
        if (k == 0 && fchmod(fd, 0644) < 0)
                k = -errno;
        if (close(fd) < 0 && k == 0)
                k = -errno;
        if (k == 0 && rename(tmp, path) < 0)
                k = -errno;
        if (k < 0) {
                unlink(tmp);
                return gemma_error_set(err, k, "%s: cannot write: %s", path, strerror(-k));
        }
        return 0;

fail_mem:
        free(head.data);
        return gemma_error_set(err, k, "%s: out of memory while serialising", path);
}
