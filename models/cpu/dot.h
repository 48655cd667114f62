/* Dot kernels by name: the scalar rows (dot-ref.c) and the AVX2 rows (dot-avx2.c, built with its
 * own -mavx2 -mfma -mf16c flags and only called when cpuid says so). Signatures are DotFn. */
#pragma once

#include <stddef.h>

void dot_f32_ref(size_t n, const void *w, const void *x, float *ret);
void dot_f16_ref(size_t n, const void *w, const void *x, float *ret);
void dot_bf16_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q8_0_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q4_0_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q4_1_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q5_0_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q5_1_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q4_k_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q5_k_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q6_k_ref(size_t n, const void *w, const void *x, float *ret);
void dot_q8_k_ref(size_t n, const void *w, const void *x, float *ret);

void dot_f32_avx2(size_t n, const void *w, const void *x, float *ret);
void dot_f16_avx2(size_t n, const void *w, const void *x, float *ret);
void dot_q8_0_avx2(size_t n, const void *w, const void *x, float *ret);
void dot_q4_0_avx2(size_t n, const void *w, const void *x, float *ret);
