/* Prompt rendering of turns: the turns a session sends one by one, with the model's answers in
 * between, add up to exactly the tokens of the whole conversation rendered by the chat template
 * (the reference), so a conversation continued in the KV cache is the conversation the model was
 * trained on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gemma3n/make-test.h"
#include "gemma3n/model.h"
#include "harness/test-model.h"
#include "prompt.h"
#include "text/chat-template.h"

typedef TestModel Fixture;

static int setup(void **state) {
        *state = test_model_new(NULL);
        return 0;
}

static int teardown(void **state) {
        test_model_free(*state);
        return 0;
}

typedef struct Ids {
        int32_t v[4096];
        size_t n;
} Ids;

static void append_ids(Ids *ids, const int32_t *v, size_t n) {
        assert_true(ids->n + n <= 4096);
        memcpy(ids->v + ids->n, v, n * sizeof(int32_t));
        ids->n += n;
}

static void render_turn(const Tokenizer *tok, const PromptTurn *t, Ids *out) {
        DaemonError err = {};
        int32_t *ids = NULL;
        size_t n = 0;
        if (prompt_render(tok, t, &ids, &n, &err) < 0)
                fail_msg("%s", err.message);
        append_ids(out, ids, n);
        free(ids);
}

/* The reference: the chat template over the whole conversation, special tokens parsed. */
static void reference(const Tokenizer *tok, const ChatMessage *msgs, size_t n, bool generation_prompt, Ids *out) {
        GemmaError err = {};
        char *text = NULL;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (chat_template_render(msgs, n, generation_prompt, &text, &err) < 0 ||
            tokenizer_encode(tok, text, strlen(text), true, &ids, &n_ids, &err) < 0)
                fail_msg("%s", err.message);
        append_ids(out, ids, n_ids);
        free(ids);
        free(text);
}

static void encode_plain(const Tokenizer *tok, const char *text, Ids *out) {
        GemmaError err = {};
        int32_t *ids = NULL;
        size_t n = 0;
        if (tokenizer_encode(tok, text, strlen(text), true, &ids, &n, &err) < 0)
                fail_msg("%s", err.message);
        append_ids(out, ids, n);
        free(ids);
}

static void assert_ids_equal(const Ids *a, const Ids *b) {
        size_t n = a->n < b->n ? a->n : b->n;
        for (size_t i = 0; i < n; i++)
                if (a->v[i] != b->v[i])
                        fail_msg("token %zu differs: %d vs %d (lengths %zu, %zu)", i, a->v[i], b->v[i], a->n, b->n);
        assert_int_equal(a->n, b->n);
}

static void test_prompt_render_first_turn(void **state) {
        Fixture *fx = *state;
        Ids got = {}, want = {};
        PromptTurn t = { .system = "Be brief.", .text = "hello world", .generate = true };
        render_turn(fx->tok, &t, &got);
        reference(fx->tok, (ChatMessage[]) { { "system", "Be brief." }, { "user", "hello world" } }, 2, true, &want);
        assert_ids_equal(&got, &want);
        assert_int_equal(got.v[0], tokenizer_bos(fx->tok));
}

static void test_prompt_render_conversation_adds_up(void **state) {
        Fixture *fx = *state;
        Ids got = {}, want = {};

        PromptTurn t1 = { .system = "Be brief.", .text = "hello world", .generate = true };
        render_turn(fx->tok, &t1, &got);
        /* The model's answer as it went through the KV cache: its tokens, no end token. */
        encode_plain(fx->tok, "the cat", &got);
        PromptTurn t2 = { .text = "and the dog?", .generate = true, .started = true, .model_turn_open = true };
        render_turn(fx->tok, &t2, &got);
        encode_plain(fx->tok, "a dog", &got);
        PromptTurn t3 = { .text = "thanks", .generate = true, .started = true, .model_turn_open = true };
        render_turn(fx->tok, &t3, &got);

        reference(fx->tok,
                  (ChatMessage[]) {
                          { "system", "Be brief." },
                          { "user", "hello world" },
                          { "model", "the cat" },
                          { "user", "and the dog?" },
                          { "model", "a dog" },
                          { "user", "thanks" },
                  },
                  6, true, &want);
        assert_ids_equal(&got, &want);
}

static void test_prompt_render_append_then_prompt(void **state) {
        Fixture *fx = *state;
        Ids got = {}, want = {};

        /* Append: a closed user turn, no generation prompt. */
        PromptTurn a = { .system = "S", .text = "context", .generate = false };
        render_turn(fx->tok, &a, &got);
        reference(fx->tok, (ChatMessage[]) { { "system", "S" }, { "user", "context" } }, 2, false, &want);
        assert_ids_equal(&got, &want);

        /* Then a prompt: a second user turn (nothing to close) and the model's opening. */
        PromptTurn p = { .text = "question", .generate = true, .started = true, .model_turn_open = false };
        render_turn(fx->tok, &p, &got);
        encode_plain(fx->tok, "<start_of_turn>user\nquestion<end_of_turn>\n<start_of_turn>model\n", &want);
        assert_ids_equal(&got, &want);
}

static void test_prompt_render_raw(void **state) {
        Fixture *fx = *state;
        Ids got = {}, want = {};
        PromptTurn t = { .text = "hello", .raw = true, .generate = true };
        render_turn(fx->tok, &t, &got);
        want.v[0] = tokenizer_bos(fx->tok);
        want.n = 1;
        encode_plain(fx->tok, "hello", &want);
        assert_ids_equal(&got, &want);

        /* Later raw text continues without a second BOS. */
        Ids more = {}, more_want = {};
        PromptTurn t2 = { .text = " world", .raw = true, .generate = true, .started = true };
        render_turn(fx->tok, &t2, &more);
        encode_plain(fx->tok, " world", &more_want);
        assert_ids_equal(&more, &more_want);
}

static void test_prompt_render_errors(void **state) {
        Fixture *fx = *state;
        DaemonError err = {};
        int32_t *ids = (int32_t *) 0x1;   /* must stay untouched */
        size_t n = 77;

        PromptTurn raw_system = { .system = "S", .text = "x", .raw = true };
        assert_true(prompt_render(fx->tok, &raw_system, &ids, &n, &err) < 0);
        assert_int_equal(err.kind, DAEMON_ERROR_INVALID_ARGS);
        assert_non_null(strstr(err.message, "raw"));

        PromptTurn bad_utf8 = { .text = "\xff\xfe", .generate = true };
        assert_true(prompt_render(fx->tok, &bad_utf8, &ids, &n, &err) < 0);
        assert_int_equal(err.kind, DAEMON_ERROR_INVALID_ARGS);

        PromptTurn empty_raw = { .text = "", .raw = true, .started = true };
        assert_true(prompt_render(fx->tok, &empty_raw, &ids, &n, &err) < 0);
        assert_int_equal(err.kind, DAEMON_ERROR_INVALID_ARGS);

        assert_ptr_equal(ids, (int32_t *) 0x1);
        assert_int_equal(n, 77);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prompt_render_first_turn),
                cmocka_unit_test(test_prompt_render_conversation_adds_up),
                cmocka_unit_test(test_prompt_render_append_then_prompt),
                cmocka_unit_test(test_prompt_render_raw),
                cmocka_unit_test(test_prompt_render_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
