/* Helpers shared by the unit tests: temporary directories and float comparison with reports. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with test_tmpdir_remove(). */
static inline char *test_tmpdir(void) {
        const char *base = getenv("TMPDIR");
        char *path;
        if (asprintf(&path, "%s/gemmad-test.XXXXXX", base && *base ? base : "/tmp") < 0)
                return NULL;
        if (!mkdtemp(path)) {
                free(path);
                return NULL;
        }
        return path;
}

static inline void test_tmpdir_remove(char *path) {
        char *cmd;
        if (path && asprintf(&cmd, "rm -rf -- '%s'", path) >= 0) {
                if (system(cmd) != 0)
                        fprintf(stderr, "warning: could not remove %s\n", path);
                free(cmd);
        }
        free(path);
}

/* max|a-b| / max|b| over n values (infinite if any value is not finite); *worst gets the index of
 * the largest difference. */
static inline double test_rel_error(const float *a, const float *b, size_t n, size_t *worst_index) {
        double max_diff = 0, max_ref = 0;
        size_t worst = 0;
        for (size_t i = 0; i < n; i++) {
                double d = fabs((double) a[i] - b[i]);
                if (!isfinite(a[i]) || !isfinite(b[i]))
                        d = INFINITY;
                if (d > max_diff) {
                        max_diff = d;
                        worst = i;
                }
                if (fabs(b[i]) > max_ref)
                        max_ref = fabs(b[i]);
        }
        if (worst_index)
                *worst_index = worst;
        return max_ref > 0 ? max_diff / max_ref : max_diff;
}

/* test_rel_error() <= tol; prints where the largest difference is when not. */
static inline bool test_close_rel(const char *what, const float *a, const float *b, size_t n, double tol) {
        size_t worst;
        double rel = test_rel_error(a, b, n, &worst);
        if (!(rel <= tol)) {
                fprintf(stderr, "%s: relative error %.3g > %.3g (index %zu: %.9g vs %.9g)\n", what, rel, tol, worst,
                        a[worst], b[worst]);
                return false;
        }
        return true;
}
