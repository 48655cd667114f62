/* CPU features that select kernels, detected once (cpuid on x86-64). */
#pragma once

#include <stdint.h>

enum {
        CPU_FEATURE_AVX2 = 1u << 0,
        CPU_FEATURE_FMA = 1u << 1,
        CPU_FEATURE_F16C = 1u << 2,
        CPU_FEATURE_AVX512F = 1u << 3,
        CPU_FEATURE_AVX512BW = 1u << 4,
        CPU_FEATURE_AVX512VNNI = 1u << 5,
        CPU_FEATURE_NEON = 1u << 8,
        CPU_FEATURE_DOTPROD = 1u << 9,
};

/* Features of this machine, masked by the environment variable GEMMAD_CPU_FEATURES when set
 * (a comma list such as "avx2,fma,f16c", or "none"), so tests and users can force the scalar
 * kernels. Computed on first call; thread-safe. */
uint32_t cpu_features_get(void);

/* "avx2,fma,f16c" into buf. */
void cpu_features_describe(uint32_t features, char *buf, unsigned size);
