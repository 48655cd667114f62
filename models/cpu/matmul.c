/* Matmul dispatch: a table of kernels per weight type, reference kernels at the end. */
#include "matmul.h"

#include <assert.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "tensor/type-traits.h"

typedef void (*MatmulFn)(const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride,
                         float *y, size_t y_stride, size_t n_tokens);

typedef struct MatmulKernel {
        int type;                /* -1: any type */
        const char *name;
        MatmulFn fn;
} MatmulKernel;

void tensor_dequant_row(const Tensor *w, size_t row, float *dst, size_t n) {
        const TypeTraits *t = type_traits(w->type);
        assert(t && t->dequant_ref && n % t->block_elems == 0);
        t->dequant_ref(tensor_row(w, row), dst, n);
}

/* F32 weights need no conversion: dot straight from the mapping. */
static void matmul_f32_ref(const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride,
                           float *y, size_t y_stride, size_t n_tokens) {
        for (size_t o = 0; o < n_out; o++) {
                const float *row = tensor_row(w, o);
                for (size_t t = 0; t < n_tokens; t++) {
                        const float *xt = x + t * x_stride;
                        float sum = 0.0f;
                        for (size_t i = 0; i < n_in; i++)
                                sum += row[i] * xt[i];
                        y[t * y_stride + o] = sum;
                }
        }
}

/* Any type: dequantise one weight row (the type's reference function), then dot it with every
 * token, so each row is converted once per call whatever the number of tokens. */
static void matmul_dequant_ref(const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride,
                               float *y, size_t y_stride, size_t n_tokens) {
        float *row = malloc_multiply(n_in, sizeof(float));
        if (!row)
                abort();   /* n_in floats: a few KiB; failing here means the process is already lost */
        for (size_t o = 0; o < n_out; o++) {
                tensor_dequant_row(w, o, row, n_in);
                for (size_t t = 0; t < n_tokens; t++) {
                        const float *xt = x + t * x_stride;
                        float sum = 0.0f;
                        for (size_t i = 0; i < n_in; i++)
                                sum += row[i] * xt[i];
                        y[t * y_stride + o] = sum;
                }
        }
        free(row);
}

static const MatmulKernel kernels[] = {
        { GGML_TYPE_F32, "f32-ref", matmul_f32_ref },
        { -1, "dequant-ref", matmul_dequant_ref },
};

static const MatmulKernel *kernel_for(unsigned type) {
        for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
                if (kernels[i].type < 0 || (unsigned) kernels[i].type == type)
                        return &kernels[i];
        return NULL;
}

const char *matmul_kernel_name(unsigned type) {
        return kernel_for(type)->name;
}

void matmul(const Tensor *w, size_t n_out, size_t n_in, const float *x, size_t x_stride, float *y, size_t y_stride,
            size_t n_tokens) {
        assert(n_out <= w->ne[1] && n_in <= w->ne[0]);
        kernel_for(w->type)->fn(w, n_out, n_in, x, x_stride, y, y_stride, n_tokens);
}
