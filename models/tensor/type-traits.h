/* Tensor element types as numbered by GGUF/ggml, and one table of their traits.
 *
 * Every quantised type stores blocks of block_elems values in block_bytes bytes. dequant_ref is the
 * scalar reference (the oracle for every fast kernel); quantize_ref exists for the types that
 * gemma-model make-test can write. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum GgmlType {
        GGML_TYPE_F32 = 0,
        GGML_TYPE_F16 = 1,
        GGML_TYPE_Q4_0 = 2,
        GGML_TYPE_Q4_1 = 3,
        GGML_TYPE_Q5_0 = 6,
        GGML_TYPE_Q5_1 = 7,
        GGML_TYPE_Q8_0 = 8,
        GGML_TYPE_Q8_1 = 9,
        GGML_TYPE_Q2_K = 10,
        GGML_TYPE_Q3_K = 11,
        GGML_TYPE_Q4_K = 12,
        GGML_TYPE_Q5_K = 13,
        GGML_TYPE_Q6_K = 14,
        GGML_TYPE_Q8_K = 15,
        GGML_TYPE_BF16 = 30,
        _GGML_TYPE_MAX = 40,          /* one past the largest number the table may hold */
} GgmlType;

/* Converts n values (a multiple of block_elems) starting at a block boundary. */
typedef void (*DequantRowFn)(const void *src, float *dst, size_t n);
typedef void (*QuantizeRowFn)(const float *src, void *dst, size_t n);

typedef struct TypeTraits {
        const char *name;            /* "q4_0", as ggml spells it */
        size_t block_elems;
        size_t block_bytes;
        DequantRowFn dequant_ref;    /* NULL: the type is known but cannot be computed with */
        QuantizeRowFn quantize_ref;  /* NULL: gemma-model cannot write this type */
} TypeTraits;

/* NULL for a number that is not a known type. */
const TypeTraits *type_traits(uint32_t type);
const char *type_name(uint32_t type);
/* Looks a type up by its name ("f16", "Q8_0"; case-insensitive). Returns -EINVAL if unknown. */
int type_from_name(const char *name);

/* Bytes taken by n elements; false when n is not a whole number of blocks or it overflows. */
bool type_row_bytes(uint32_t type, uint64_t n, uint64_t *ret_bytes);

/* Reference (de)quantisation, one function per type (quant-ref.c). */
void dequant_row_f32(const void *src, float *dst, size_t n);
void dequant_row_f16(const void *src, float *dst, size_t n);
void dequant_row_bf16(const void *src, float *dst, size_t n);
void dequant_row_q4_0(const void *src, float *dst, size_t n);
void dequant_row_q4_1(const void *src, float *dst, size_t n);
void dequant_row_q5_0(const void *src, float *dst, size_t n);
void dequant_row_q5_1(const void *src, float *dst, size_t n);
void dequant_row_q8_0(const void *src, float *dst, size_t n);
void dequant_row_q4_k(const void *src, float *dst, size_t n);
void dequant_row_q5_k(const void *src, float *dst, size_t n);
void dequant_row_q6_k(const void *src, float *dst, size_t n);
void dequant_row_q8_k(const void *src, float *dst, size_t n);

void quantize_row_f32(const float *src, void *dst, size_t n);
void quantize_row_f16(const float *src, void *dst, size_t n);
void quantize_row_bf16(const float *src, void *dst, size_t n);
void quantize_row_q8_0(const float *src, void *dst, size_t n);
void quantize_row_q4_0(const float *src, void *dst, size_t n);
