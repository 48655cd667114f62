/* CPU feature detection, masked by GEMMAD_CPU_FEATURES.
 *
 * x86-64: cpuid leaf 1 (FMA, F16C, AVX, OSXSAVE) and leaf 7 (AVX2, AVX512F/BW/VL/VNNI). A feature
 * counts only when the OS also saves the registers it uses, which xgetbv(0) tells: XCR0 bits 1-2
 * (SSE and AVX state) for every feature here, bits 5-7 (opmask, upper ZMM halves, ZMM16-31) in
 * addition for AVX-512. aarch64: NEON is architectural; the dot-product extension comes from the
 * kernel's hwcaps. */
#include "cpu-features.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "base/macro.h"

static const struct {
        uint32_t bit;
        const char *name;
} feature_names[] = {
        { CPU_FEATURE_AVX2, "avx2" },
        { CPU_FEATURE_FMA, "fma" },
        { CPU_FEATURE_F16C, "f16c" },
        { CPU_FEATURE_AVX512F, "avx512f" },
        { CPU_FEATURE_AVX512BW, "avx512bw" },
        { CPU_FEATURE_AVX512VL, "avx512vl" },
        { CPU_FEATURE_AVX512VNNI, "avx512vnni" },
        { CPU_FEATURE_NEON, "neon" },
        { CPU_FEATURE_DOTPROD, "dotprod" },
};

#if defined(__x86_64__) || defined(__i386__)
#define XCR0_AVX_STATE 0x06u      /* XMM | YMM */
#define XCR0_AVX512_STATE 0xe0u   /* opmask | ZMM_Hi256 | Hi16_ZMM */

static uint32_t detect_x86(void) {
        unsigned a, b, c, d;
        uint32_t f = 0;

        if (!__get_cpuid(1, &a, &b, &c, &d))
                return 0;
        const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
        if (!osxsave || !avx)
                return 0;   /* no usable YMM registers: nothing here may run */

        unsigned xcr0_lo, xcr0_hi;
        __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
        if ((xcr0_lo & XCR0_AVX_STATE) != XCR0_AVX_STATE)
                return 0;

        if (c & (1u << 12))
                f |= CPU_FEATURE_FMA;
        if (c & (1u << 29))
                f |= CPU_FEATURE_F16C;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
                if (b & (1u << 5))
                        f |= CPU_FEATURE_AVX2;
                if ((xcr0_lo & XCR0_AVX512_STATE) == XCR0_AVX512_STATE) {
                        if (b & (1u << 16))
                                f |= CPU_FEATURE_AVX512F;
                        if (b & (1u << 30))
                                f |= CPU_FEATURE_AVX512BW;
                        if (b & (1u << 31))
                                f |= CPU_FEATURE_AVX512VL;
                        if (c & (1u << 11))
                                f |= CPU_FEATURE_AVX512VNNI;
                }
        }
        return f;
}
#endif

uint32_t cpu_features_detect(void) {
#if defined(__x86_64__) || defined(__i386__)
        return detect_x86();
#elif defined(__aarch64__)
        uint32_t f = CPU_FEATURE_NEON;
#ifdef HWCAP_ASIMDDP
        if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP)
                f |= CPU_FEATURE_DOTPROD;
#endif
        return f;
#else
        return 0;
#endif
}

uint32_t cpu_features_parse(const char *list) {
        uint32_t mask = 0;

        if (!list || !*list)
                return UINT32_MAX;
        for (const char *p = list; *p;) {
                size_t len = strcspn(p, ", \t");
                for (size_t i = 0; i < ELEMENTSOF(feature_names); i++)
                        if (len == strlen(feature_names[i].name) && strncasecmp(p, feature_names[i].name, len) == 0)
                                mask |= feature_names[i].bit;
                p += len;
                p += strspn(p, ", \t");
        }
        return mask;
}

static uint32_t features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

static void features_init(void) {
        features = cpu_features_detect() & cpu_features_parse(getenv("GEMMAD_CPU_FEATURES"));
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
        for (size_t i = 0; i < ELEMENTSOF(feature_names); i++) {
                if (!(f & feature_names[i].bit))
                        continue;
                int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", feature_names[i].name);
                if (n < 0 || (size_t) n >= size - used) {
                        buf[used] = '\0';   /* drop the partial name */
                        return;
                }
                used += (size_t) n;
        }
        if (!used)
                snprintf(buf, size, "none");
}
