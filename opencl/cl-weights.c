/* Weights on the device: Q4_0, Q8_0, F16 and F32 matrices keep their values and are repacked into
 * separate scale and value arrays (aligned vector loads on the device); every other type is
 * dequantised and stored as F16 once, at load. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cl-accel-internal.h"
#include "cpu/matmul.h"
#include "tensor/fp16.h"
#include "tensor/type-traits.h"

int cl_fail(GemmaError *err, cl_int code, const char *what) {
        return gemma_error_set(err, cl_error_to_errno(code), "opencl: %s: %s (%d)", what, cl_error_name(code), code);
}

int cl_buffer_new(ClCtx *c, size_t n, const void *init, cl_mem *ret, GemmaError *err) {
        cl_int code;
        if (n == 0)
                n = 4;   /* zero-sized buffers are invalid; a placeholder keeps kernels' arguments set */
        if (n > c->max_alloc)
                return gemma_error_set(err, -ENOMEM, "opencl: a buffer of %zu bytes exceeds the device's largest allocation (%llu)",
                                       n, (unsigned long long) c->max_alloc);
        cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, n, NULL, &code);
        if (!m)
                return cl_fail(err, code, "creating a buffer");
        /* Writing now, blocking, makes the device commit the memory: running out shows here,
         * at load, where the layer can still stay on the CPU. */
        if (init)
                code = clEnqueueWriteBuffer(c->queue, m, CL_TRUE, 0, n, init, 0, NULL, NULL);
        else {
                const uint8_t zero = 0;
                code = clEnqueueFillBuffer(c->queue, m, &zero, 1, 0, n, 0, NULL, NULL);
                if (code == CL_SUCCESS)
                        code = clFinish(c->queue);
        }
        if (code != CL_SUCCESS) {
                clReleaseMemObject(m);
                return cl_fail(err, code, "filling a buffer");
        }
        c->allocated += n;
        *ret = m;
        return 0;
}

void cl_buffer_free(ClCtx *c, cl_mem *m, size_t n) {
        if (!*m)
                return;
        clReleaseMemObject(*m);
        *m = NULL;
        c->allocated -= n ? n : 4;
}

static DevFormat device_format(uint32_t type) {
        switch (type) {
        case GGML_TYPE_F32: return DEV_F32;
        case GGML_TYPE_Q8_0: return DEV_Q8_0;
        case GGML_TYPE_Q4_0: return DEV_Q4_0;
        default: return DEV_F16;
        }
}

static uint64_t format_bytes(DevFormat f, uint64_t rows, uint64_t cols, uint64_t *values, uint64_t *scales) {
        const uint64_t n = rows * cols;
        *scales = 0;
        *values = 0;
        switch (f) {
        case DEV_F32: *values = n * 4; break;
        case DEV_F16: *values = n * 2; break;
        case DEV_Q8_0: *values = n; *scales = n / 32 * 2; break;
        case DEV_Q4_0: *values = n / 2; *scales = n / 32 * 2; break;
        }
        return *values + *scales;
}

uint64_t dev_matrix_bytes(const Tensor *w) {
        uint64_t v, s;
        return format_bytes(device_format(w->type), w->ne[1], w->ne[0], &v, &s);
}

int dev_matrix_upload(ClCtx *c, const Tensor *w, DevMatrix *ret, GemmaError *err) {
        const DevFormat f = device_format(w->type);
        const uint64_t rows = w->ne[1], cols = w->ne[0];
        uint64_t nv, ns;
        int k;

        DevMatrix m = { .fmt = f, .rows = (uint32_t) rows, .cols = (uint32_t) cols, .nb_row = (uint32_t) (cols / 32) };
        m.bytes = format_bytes(f, rows, cols, &nv, &ns);
        _cleanup_free_ uint8_t *values = malloc(nv ? nv : 1);
        _cleanup_free_ uint8_t *scales = ns ? malloc(ns) : NULL;
        _cleanup_free_ float *row = f == DEV_F16 ? new0(float, cols) : NULL;
        if (!values || (ns && !scales) || (f == DEV_F16 && !row))
                return gemma_error_set(err, -ENOMEM, "opencl: out of memory repacking %s", w->name);

        for (uint64_t r = 0; r < rows; r++) {
                const uint8_t *src = tensor_row(w, r);
                switch (f) {
                case DEV_F32:
                        memcpy(values + r * cols * 4, src, cols * 4);
                        break;
                case DEV_F16:
                        if (w->type == GGML_TYPE_F16)
                                memcpy(values + r * cols * 2, src, cols * 2);
                        else {
                                tensor_dequant_row(w, r, row, cols);
                                uint16_t *dst = (uint16_t *) (values + r * cols * 2);
                                for (uint64_t i = 0; i < cols; i++)
                                        dst[i] = f32_to_f16(row[i]);
                        }
                        break;
                case DEV_Q8_0:
                case DEV_Q4_0: {
                        const size_t qb = f == DEV_Q8_0 ? 32 : 16, bb = 2 + qb;
                        for (uint64_t b = 0; b < m.nb_row; b++) {
                                memcpy(scales + (r * m.nb_row + b) * 2, src + b * bb, 2);
                                memcpy(values + (r * m.nb_row + b) * qb, src + b * bb + 2, qb);
                        }
                        break;
                }
                }
        }
        if ((k = cl_buffer_new(c, nv, values, &m.values, err)) < 0)
                return k;
        if (ns && (k = cl_buffer_new(c, ns, scales, &m.scales, err)) < 0) {
                cl_buffer_free(c, &m.values, nv);
                return k;
        }
        if (f == DEV_F16 && w->type != GGML_TYPE_F16)
                c->converted++;
        *ret = m;
        return 0;
}

void dev_matrix_free(ClCtx *c, DevMatrix *m) {
        uint64_t nv, ns;
        format_bytes(m->fmt, m->rows, m->cols, &nv, &ns);
        cl_buffer_free(c, &m->values, nv);
        cl_buffer_free(c, &m->scales, ns);
}
