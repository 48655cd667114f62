/* CPU features that select kernels, detected once (cpuid + xgetbv on x86-64, hwcaps on aarch64). */
#pragma once

#include <stdint.h>

enum {
        CPU_FEATURE_AVX2 = 1u << 0,
        CPU_FEATURE_FMA = 1u << 1,
        CPU_FEATURE_F16C = 1u << 2,
        CPU_FEATURE_AVX512F = 1u << 3,
        CPU_FEATURE_AVX512BW = 1u << 4,
        CPU_FEATURE_AVX512VNNI = 1u << 5,
        CPU_FEATURE_AVX512VL = 1u << 6,
        CPU_FEATURE_NEON = 1u << 8,
        CPU_FEATURE_DOTPROD = 1u << 9,
};

/* Features of this machine, masked by the environment variable GEMMAD_CPU_FEATURES when set
 * (a comma list such as "avx2,fma,f16c", or "none"), so tests and users can force the scalar
 * kernels. Computed on first call; thread-safe. */
uint32_t cpu_features_get(void);

/* Features of this machine, ignoring GEMMAD_CPU_FEATURES. */
uint32_t cpu_features_detect(void);

/* The mask a GEMMAD_CPU_FEATURES value stands for: the named features ("avx2", "fma", "f16c",
 * "avx512f", "avx512bw", "avx512vl", "avx512vnni", "neon", "dotprod"; case-insensitive, separated
 * by commas or spaces). "none" (or any list naming no known feature) is 0; unknown names are ignored.
 * NULL or an empty string means no mask: UINT32_MAX. */
uint32_t cpu_features_parse(const char *list);

/* "avx2,fma,f16c" into buf, or "none"; truncated at a whole name when buf is too small. */
void cpu_features_describe(uint32_t features, char *buf, unsigned size);
