/* PROVISIONAL until cpuid detection lands. */
#include "cpu-features.h"

#include <stdio.h>

uint32_t cpu_features_get(void) {
        return 0;
}

void cpu_features_describe(uint32_t features, char *buf, unsigned size) {
        snprintf(buf, size, "none");
}
