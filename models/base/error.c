/* The engine's error contract: one line of text per failure (see error.h). */
#include "error.h"

#include <stdio.h>
#include <string.h>

int gemma_error_setv(GemmaError *err, int code, const char *fmt, va_list ap) {
        if (!err)
                return code;
        err->code = code;
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        return code;
}

int gemma_error_set(GemmaError *err, int code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        gemma_error_setv(err, code, fmt, ap);
        va_end(ap);
        return code;
}

int gemma_error_prefix(GemmaError *err, const char *fmt, ...) {
        char joined[2 * GEMMA_ERROR_MESSAGE_MAX];
        va_list ap;
        int n;

        if (!err)
                return 0;
        va_start(ap, fmt);
        n = vsnprintf(joined, GEMMA_ERROR_MESSAGE_MAX, fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if (n >= GEMMA_ERROR_MESSAGE_MAX)
                n = GEMMA_ERROR_MESSAGE_MAX - 1;
        /* The old message follows the prefix; the whole is cut to fit, keeping a NUL at the end. */
        size_t old_len = strnlen(err->message, sizeof(err->message));
        memcpy(joined + n, err->message, old_len);
        joined[(size_t) n + old_len] = '\0';
        memcpy(err->message, joined, sizeof(err->message) - 1);
        err->message[sizeof(err->message) - 1] = '\0';
        return err->code;
}
