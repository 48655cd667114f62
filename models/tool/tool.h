/* gemma-model: shared declarations of the subcommands and their argument helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int cmd_info(int argc, char **argv);
int cmd_make_test(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Each prints "gemma-model: <what>: <why>" on failure and returns a negative errno. */
int parse_u32(const char *what, const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int parse_u64(const char *what, const char *s, uint64_t *ret);
/* "1,2,3" (or "@FILE" holding such a list, commas or whitespace between numbers). *ret is malloced. */
int parse_i32_list(const char *what, const char *s, int32_t **ret, size_t *ret_n);

/* Prints "gemma-model: " + message to stderr; returns -EINVAL for "return usage_error(...)". */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exit codes (documented in --help). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,      /* the operation failed: unreadable or invalid model, I/O error */
        EXIT_USAGE = 2,       /* bad command line */
};
