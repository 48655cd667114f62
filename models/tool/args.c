/* Argument parsing helpers for gemma-model: numbers and lists with range checks and messages. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "gemma3n/forward.h"
#include "gemma3n/matformer.h"
#include "tool.h"

int usage_error(const char *fmt, ...) {
        va_list ap;
        fputs("gemma-model: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

int parse_u64(const char *what, const char *s, uint64_t *ret) {
        char *end;
        errno = 0;
        if (!s || !*s || *s == '-')
                return usage_error("%s: '%s' is not a non-negative integer", what, s ? s : "");
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || *end)
                return usage_error("%s: '%s' is not a non-negative integer", what, s);
        *ret = v;
        return 0;
}

int parse_u32(const char *what, const char *s, uint32_t min, uint32_t max, uint32_t *ret) {
        uint64_t v = 0;
        int k = parse_u64(what, s, &v);
        if (k < 0)
                return k;
        if (v < min || v > max)
                return usage_error("%s: %" PRIu64 " is out of range (%" PRIu32 "..%" PRIu32 ")", what, v, min, max);
        *ret = (uint32_t) v;
        return 0;
}

int parse_float(const char *what, const char *s, float *ret) {
        char *end;
        errno = 0;
        float v = strtof(s, &end);
        if (!*s || *end || errno == ERANGE)
                return usage_error("%s: '%s' is not a number", what, s);
        *ret = v;
        return 0;
}

char *read_text_file(const char *path) {
        bool is_stdin = strcmp(path, "-") == 0;
        FILE *f = is_stdin ? stdin : fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        if (!f)
                return NULL;
        FILE *mem = open_memstream(&buf, &size);
        if (mem) {
                char chunk[4096];
                size_t n;
                while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                        fwrite(chunk, 1, n, mem);
                fclose(mem);
        }
        if (!is_stdin)
                fclose(f);
        return buf;
}

int parse_i32_list(const char *what, const char *s, int32_t **ret, size_t *ret_n) {
        _cleanup_free_ char *file_text = NULL;
        _cleanup_free_ int32_t *v = NULL;
        size_t n = 0, cap = 0;

        if (s[0] == '@') {
                file_text = read_text_file(s + 1);
                if (!file_text)
                        return usage_error("%s: cannot read '%s': %m", what, s + 1);
                s = file_text;
        }
        for (const char *p = s;;) {
                while (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
                        p++;
                if (!*p)
                        break;
                char *end;
                errno = 0;
                long x = strtol(p, &end, 10);
                if (end == p || errno || x < INT32_MIN || x > INT32_MAX)
                        return usage_error("%s: '%.20s' is not an integer", what, p);
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        int32_t *nv = realloc(v, cap * sizeof(*v));
                        if (!nv)
                                return usage_error("%s: out of memory", what);
                        v = nv;
                }
                v[n++] = (int32_t) x;
                p = end;
        }
        if (n == 0)
                return usage_error("%s: the list is empty", what);
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int slice_from_ffn_units(const Gemma3nModel *m, uint32_t ffn_units, Gemma3nSlice *ret, GemmaError *err) {
        if (ffn_units == 0) {
                gemma3n_slice_full(m, ret);
                return 0;
        }
        return gemma3n_slice_uniform(m, ffn_units, ret, err);
}

int slice_from_options(const Gemma3nModel *m, uint32_t ffn_units, const char *slice_arg, Gemma3nSlice *ret,
                       GemmaError *err) {
        if (slice_arg)
                return gemma3n_slice_from_string(m, slice_arg, ret, err);
        return slice_from_ffn_units(m, ffn_units, ret, err);
}
