/* The engine's error contract.
 *
 * Functions that can fail return int: 0 (or a positive count) on success, a negative errno on
 * failure. When the caller passes a GemmaError, it receives one line of text that names the
 * problem the way a user should read it ("model.gguf: tensor 'blk.3.ffn_up.weight' extends past
 * end of file (offset …, size …)"). Outputs passed as ret_ parameters stay untouched on failure. */
#pragma once

#include <stdarg.h>

#include "macro.h"

#define GEMMA_ERROR_MESSAGE_MAX 512

typedef struct GemmaError {
        int code;                             /* negative errno, 0 when unset */
        char message[GEMMA_ERROR_MESSAGE_MAX];
} GemmaError;

/* Records code and message in err (which may be NULL) and returns code, so callers can write
 * "return gemma_error_set(err, -EINVAL, "...", ...);". */
int gemma_error_set(GemmaError *err, int code, const char *fmt, ...) _printf_(3, 4);
int gemma_error_setv(GemmaError *err, int code, const char *fmt, va_list ap) _printf_(3, 0);

/* Prefixes an existing message with more context ("loading 'x.gguf': ..."); keeps the code. */
int gemma_error_prefix(GemmaError *err, const char *fmt, ...) _printf_(2, 3);

static inline const char *gemma_error_message(const GemmaError *err) {
        return err && err->message[0] ? err->message : "unknown error";
}
