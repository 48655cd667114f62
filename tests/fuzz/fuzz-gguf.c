/* libFuzzer target for the GGUF reader: any input must be rejected cleanly or open into a file
 * whose every key, value and tensor can be read back (ASan checks that tensor bytes lie inside
 * the input). */
#include <stdint.h>
#include <stdlib.h>

#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LAYERS 256

/* Reads the string's last byte, so ASan checks that it lies inside the input. */
static void touch_string(const GgufString *s) {
        if (s->len)
                (void) *(const volatile char *) &s->ptr[s->len - 1];
}

static void walk_array(const GgufArray *a) {
        char desc[128];
        double x;
        for (uint64_t i = 0; i < a->count && i < MAX_LAYERS; i++) {
                if (a->elem_type == GGUF_TYPE_STRING)
                        touch_string(&a->strings[i]);
                else if (a->elem_type == GGUF_TYPE_ARRAY) {
                        gguf_value_describe(&a->arrays[i], desc, sizeof(desc));
                        walk_array(&a->arrays[i].arr);
                } else if (!gguf_array_get_f64(a, i, &x))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        GemmaError err = { 0 };
        GgufFile *f = NULL;

        if (gguf_open_memory(data, size, "fuzz.gguf", &f, &err) < 0) {
                if (f || err.code == 0 || !err.message[0])
                        abort(); /* a failure must leave *ret alone and say why */
                return 0;
        }

        for (size_t i = 0; i < f->n_kvs; i++) {
                const GgufKv *kv = &f->kvs[i];
                const GgufValue *v = &kv->value;
                size_t n = v->type == GGUF_TYPE_ARRAY && v->arr.count < MAX_LAYERS ? (size_t) v->arr.count : 3;
                uint32_t u, us[MAX_LAYERS];
                float x, xs[MAX_LAYERS];
                bool b, bs[MAX_LAYERS];
                GgufString s;
                char desc[128];

                if (gguf_find_kv(f, kv->key) != kv)
                        abort();
                gguf_value_describe(v, desc, sizeof(desc));
                gguf_get_u32(f, kv->key, &u, &err);
                gguf_get_f32(f, kv->key, &x, &err);
                gguf_get_bool(f, kv->key, &b, &err);
                gguf_get_string(f, kv->key, &s, &err);
                gguf_get_u32_per_layer(f, kv->key, n, us, &err);
                gguf_get_f32_per_layer(f, kv->key, n, xs, &err);
                gguf_get_bool_per_layer(f, kv->key, n, bs, &err);
                if (v->type == GGUF_TYPE_STRING)
                        touch_string(&v->str);
                if (v->type == GGUF_TYPE_ARRAY)
                        walk_array(&v->arr);
        }

        for (size_t i = 0; i < f->n_tensors; i++) {
                const GgufTensor *t = &f->tensors[i];
                if (gguf_find_tensor(f, t->name) != t || gguf_tensor_n_elements(t) == 0)
                        abort();
                const volatile uint8_t *p = t->data;
                (void) p[0];
                (void) p[t->n_bytes - 1];
        }

        gguf_close(f);
        return 0;
}
