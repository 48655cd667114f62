/* CPU feature detection (cpuid + xgetbv on x86-64), masked by GEMMAD_CPU_FEATURES. */
#include "cpu-features.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static const struct {
        uint32_t bit;
        const char *name;
} feature_names[] = {
        { CPU_FEATURE_AVX2, "avx2" },         { CPU_FEATURE_FMA, "fma" },
        { CPU_FEATURE_F16C, "f16c" },         { CPU_FEATURE_AVX512F, "avx512f" },
        { CPU_FEATURE_AVX512BW, "avx512bw" }, { CPU_FEATURE_AVX512VNNI, "avx512vnni" },
        { CPU_FEATURE_NEON, "neon" },         { CPU_FEATURE_DOTPROD, "dotprod" },
};

static uint32_t detect(void) {
        uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        if (!__get_cpuid(1, &a, &b, &c, &d))
                return 0;
        const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29), avx = c & (1u << 28);
        if (!osxsave || !avx)
                return 0;
        /* The OS must save the AVX (and, for AVX-512, the opmask and ZMM) registers. */
        unsigned xcr0_lo, xcr0_hi;
        __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
        if ((xcr0_lo & 0x6) != 0x6)
                return 0;
        if (fma)
                f |= CPU_FEATURE_FMA;
        if (f16c)
                f |= CPU_FEATURE_F16C;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
                if (b & (1u << 5))
                        f |= CPU_FEATURE_AVX2;
                if ((xcr0_lo & 0xe6) == 0xe6) {
                        if (b & (1u << 16))
                                f |= CPU_FEATURE_AVX512F;
                        if (b & (1u << 30))
                                f |= CPU_FEATURE_AVX512BW;
                        if (c & (1u << 11))
                                f |= CPU_FEATURE_AVX512VNNI;
                }
        }
#elif defined(__aarch64__)
        f |= CPU_FEATURE_NEON;
#endif
        return f;
}

/* "none", or a comma list of feature names to keep. Unknown names are ignored. */
static uint32_t mask_from_env(void) {
        const char *e = getenv("GEMMAD_CPU_FEATURES");
        uint32_t mask = 0;
        if (!e)
                return UINT32_MAX;
        for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++) {
                const char *p = e;
                size_t n = strlen(feature_names[i].name);
                while ((p = strstr(p, feature_names[i].name))) {
                        if ((p == e || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
                                mask |= feature_names[i].bit;
                        p += n;
                }
        }
        return mask;
}

static uint32_t features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void features_init(void) {
        features = detect() & mask_from_env();
}

uint32_t cpu_features_get(void) {
        pthread_once(&features_once, features_init);
        return features;
}

void cpu_features_describe(uint32_t f, char *buf, unsigned size) {
        size_t used = 0;
        if (size == 0)
                return;
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
                if (f & feature_names[i].bit) {
                        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", feature_names[i].name);
                        if (n < 0 || (size_t) n >= size - used)
                                return;
                        used += (size_t) n;
                }
        if (!used)
                snprintf(buf, size, "none");
}
