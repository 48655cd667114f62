/* gemma-model: shared declarations of the subcommands and their argument helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gemma3n/make-test.h"

int cmd_info(int argc, char **argv);
int cmd_make_test(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_slice(int argc, char **argv);
int cmd_devices(int argc, char **argv);

/* Reads a Hugging Face tokenizer.json into the arrays make-test writes (tokenizer-json.c says
 * how each is derived). Without with_merges the vocabulary is written with scores only, as
 * converters from SentencePiece files write it. *ret_n_dropped counts added tokens whose ids lie
 * beyond model.vocab (left out). Free the result with tokenizer_json_vocab_free(). */
int tokenizer_json_import(const char *path, bool with_merges, Gemma3nTestVocab **ret, uint32_t *ret_n_dropped,
                          GemmaError *err);
Gemma3nTestVocab *tokenizer_json_vocab_free(Gemma3nTestVocab *v);
static inline void tokenizer_json_vocab_freep(Gemma3nTestVocab **v) {
        if (*v)
                tokenizer_json_vocab_free(*v);
}

/* Each prints "gemma-model: <what>: <why>" on failure and returns a negative errno. */
int parse_u32(const char *what, const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int parse_u64(const char *what, const char *s, uint64_t *ret);
/* A float; range checks belong to whoever uses it (NaN and infinities pass through). */
int parse_float(const char *what, const char *s, float *ret);
/* The whole file (or standard input for "-") as a NUL-terminated string; NULL with errno set. */
char *read_text_file(const char *path);
/* "1,2,3" (or "@FILE" holding such a list, commas or whitespace between numbers). *ret is malloced. */
int parse_i32_list(const char *what, const char *s, int32_t **ret, size_t *ret_n);

/* Prints "gemma-model: " + message to stderr; returns -EINVAL for "return usage_error(...)". */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The --ffn-units option: 0 means the full model, else the uniform MatFormer slice. */
typedef struct Gemma3nModel Gemma3nModel;
typedef struct Gemma3nSlice Gemma3nSlice;
typedef struct GemmaError GemmaError;
int slice_from_ffn_units(const Gemma3nModel *m, uint32_t ffn_units, Gemma3nSlice *ret, GemmaError *err);
/* --ffn-units K or --slice NAME|SPEC (slice_arg NULL: not given); the caller has refused both. */
int slice_from_options(const Gemma3nModel *m, uint32_t ffn_units, const char *slice_arg, Gemma3nSlice *ret,
                       GemmaError *err);

/* Exit codes (documented in --help). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,      /* the operation failed: unreadable or invalid model, I/O error */
        EXIT_USAGE = 2,       /* bad command line */
};
