/* A random-weight test model written to a temporary directory and loaded with its tokenizer: the
 * fixture of the tests that run text through the engine. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "gemma3n/make-test.h"
#include "gemma3n/model.h"
#include "harness/test-util.h"
#include "text/tokenizer.h"

typedef struct TestModel {
        char *dir;
        char path[512];               /* the model file */
        Gemma3nModel *model;
        Tokenizer *tok;
} TestModel;

/* spec NULL: gemma3n_test_spec_default(). Fails the test on any error. */
static inline TestModel *test_model_new(const Gemma3nTestSpec *spec) {
        TestModel *t = calloc(1, sizeof(*t));
        Gemma3nTestSpec def;
        GemmaError err = { 0 };
        if (!spec) {
                gemma3n_test_spec_default(&def);
                spec = &def;
        }
        assert_non_null(t);
        t->dir = test_tmpdir();
        assert_non_null(t->dir);
        snprintf(t->path, sizeof(t->path), "%s/model.gguf", t->dir);
        if (gemma3n_make_test_model(spec, t->path, &err) < 0 || gemma3n_model_load(t->path, &t->model, &err) < 0 ||
            tokenizer_load(t->model->file, &t->tok, &err) < 0)
                fail_msg("%s", err.message);
        return t;
}

static inline void test_model_free(TestModel *t) {
        if (!t)
                return;
        tokenizer_free(t->tok);
        gemma3n_model_free(t->model);
        test_tmpdir_remove(t->dir);
        free(t);
}

/* Text a sequence streams out, collected for comparison (a SequenceEmit). */
typedef struct TestText {
        char buf[16384];
        size_t len;
} TestText;

static inline int test_text_collect(void *userdata, const char *text, size_t len) {
        TestText *t = userdata;
        assert_true(t->len + len < sizeof(t->buf));
        memcpy(t->buf + t->len, text, len);
        t->len += len;
        return 0;
}
