/* Unit tests for models/text/chat-template.c. Every expected string is written out by hand from
 * spec/gemma3n-text.md §4.7 (the Gemma 3n Jinja template); the system + user case is the spec's
 * own example. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat-template.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

static void check_render(const ChatMessage *m, size_t n, bool gen, const char *want) {
        GemmaError err = { 0 };
        char *text = NULL;
        int r = chat_template_render(m, n, gen, &text, &err);

        if (r < 0)
                fail_msg("render failed: %d %s", r, err.message);
        assert_non_null(text);
        if (strcmp(text, want) != 0) {
                size_t i = 0;
                while (text[i] && text[i] == want[i])
                        i++;
                fail_msg("rendered text differs at byte %zu:\n got: '%s'\nwant: '%s'", i, text, want);
        }
        free(text);
}

/* Checks -EINVAL, an untouched output and a message containing want_msg. */
static void check_reject(const ChatMessage *m, size_t n, const char *want_msg) {
        GemmaError err = { 0 };
        char *sentinel = (char *) &err;
        char *text = sentinel;

        assert_int_equal(chat_template_render(m, n, true, &text, &err), -EINVAL);
        assert_ptr_equal(text, sentinel);
        assert_int_equal(err.code, -EINVAL);
        if (!strstr(err.message, want_msg))
                fail_msg("message '%s' does not contain '%s'", err.message, want_msg);
}

/* ---- golden strings ------------------------------------------------------------------------ */

static void test_chat_template_render_single_turn(void **state) {
        const ChatMessage m[] = { { "user", "Hi" } };

        check_render(m, 1, true, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
        check_render(m, 1, false, "<bos><start_of_turn>user\nHi<end_of_turn>\n");
}

static void test_chat_template_render_system(void **state) {
        /* The spec's example. */
        const ChatMessage m[] = { { "system", "S" }, { "user", "Hi" } };
        check_render(m, 2, true, "<bos><start_of_turn>user\nS\n\nHi<end_of_turn>\n<start_of_turn>model\n");

        /* The system text is not trimmed; the user text is, after the prefix. */
        const ChatMessage sp[] = {
                { "system", "  You are terse.\n" },
                { "user", "\n  What is 2+2?  \t" },
        };
        check_render(sp, 2, true,
                     "<bos><start_of_turn>user\n  You are terse.\n\n\nWhat is 2+2?<end_of_turn>\n"
                     "<start_of_turn>model\n");

        /* An empty system message still adds its "\n\n". */
        const ChatMessage e[] = { { "system", "" }, { "user", "Hi" } };
        check_render(e, 2, false, "<bos><start_of_turn>user\n\n\nHi<end_of_turn>\n");

        /* Only the first user turn carries the prefix. */
        const ChatMessage multi[] = {
                { "system", "Be kind." },
                { "user", "One" },
                { "assistant", "Two" },
                { "user", "Three" },
        };
        check_render(multi, 4, true,
                     "<bos><start_of_turn>user\nBe kind.\n\nOne<end_of_turn>\n"
                     "<start_of_turn>model\nTwo<end_of_turn>\n"
                     "<start_of_turn>user\nThree<end_of_turn>\n"
                     "<start_of_turn>model\n");
}

static void test_chat_template_render_multi_turn(void **state) {
        const ChatMessage m[] = {
                { "user", "Hello" },
                { "assistant", "Hi! How can I help?" },
                { "user", "Tell me a joke." },
                { "model", "Why did the chicken cross the road?" },
                { "user", "Why?" },
        };
        check_render(m, N_ELEMS(m), true,
                     "<bos><start_of_turn>user\nHello<end_of_turn>\n"
                     "<start_of_turn>model\nHi! How can I help?<end_of_turn>\n"
                     "<start_of_turn>user\nTell me a joke.<end_of_turn>\n"
                     "<start_of_turn>model\nWhy did the chicken cross the road?<end_of_turn>\n"
                     "<start_of_turn>user\nWhy?<end_of_turn>\n"
                     "<start_of_turn>model\n");

        /* Ending on the model's turn without a generation prompt: a finished history. */
        check_render(m, 4, false,
                     "<bos><start_of_turn>user\nHello<end_of_turn>\n"
                     "<start_of_turn>model\nHi! How can I help?<end_of_turn>\n"
                     "<start_of_turn>user\nTell me a joke.<end_of_turn>\n"
                     "<start_of_turn>model\nWhy did the chicken cross the road?<end_of_turn>\n");

        /* No messages: just BOS (and the generation prompt), as the reference renders it. */
        check_render(NULL, 0, false, "<bos>");
        check_render(NULL, 0, true, "<bos><start_of_turn>model\n");
}

static void test_chat_template_render_trimming(void **state) {
        const ChatMessage m[] = {
                { "user", " \t\r\n\v\f  spaced out \n\n" },
                { "assistant", "\n\nanswer\n" },
                { "user", "inner  \n  space kept" },
                { "assistant", "   " },
                { "user", "" },
        };
        check_render(m, N_ELEMS(m), false,
                     "<bos><start_of_turn>user\nspaced out<end_of_turn>\n"
                     "<start_of_turn>model\nanswer<end_of_turn>\n"
                     "<start_of_turn>user\ninner  \n  space kept<end_of_turn>\n"
                     "<start_of_turn>model\n<end_of_turn>\n"
                     "<start_of_turn>user\n<end_of_turn>\n");

        /* Python's strip() also removes Unicode spaces: U+00A0 (C2 A0), U+3000 (E3 80 80),
         * U+2009 (E2 80 89), U+0085 (C2 85), and the separator U+001F. Non-spaces such as
         * U+00E9 (C3 A9) and U+200B (E2 80 8B, zero width space, not isspace) stay. */
        const ChatMessage u[] = {
                { "user", "\xc2\xa0\xe3\x80\x80 caf\xc3\xa9\xe2\x80\x89\xc2\x85\x1f" },
                { "assistant", "\xe2\x80\x8bzw\xe2\x80\x8b" },
        };
        check_render(u, 2, false,
                     "<bos><start_of_turn>user\ncaf\xc3\xa9<end_of_turn>\n"
                     "<start_of_turn>model\n\xe2\x80\x8bzw\xe2\x80\x8b<end_of_turn>\n");
}

/* Every code point Python's str.isspace() accepts (listed by a throwaway script over all of
 * Unicode), UTF-8 encoded: each is trimmed on both sides. */
static const char *const py_spaces[] = {
        "\x09", "\x0a", "\x0b", "\x0c", "\x0d", "\x1c", "\x1d", "\x1e", "\x1f", "\x20",
        "\xc2\x85",     /* U+0085 */
        "\xc2\xa0",     /* U+00A0 */
        "\xe1\x9a\x80", /* U+1680 */
        "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85",
        "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", /* U+2000..U+200A */
        "\xe2\x80\xa8", /* U+2028 */
        "\xe2\x80\xa9", /* U+2029 */
        "\xe2\x80\xaf", /* U+202F */
        "\xe2\x81\x9f", /* U+205F */
        "\xe3\x80\x80", /* U+3000 */
};

/* Neighbours of those that isspace() rejects: each must survive trimming. */
static const char *const py_not_spaces[] = {
        "\x08", "\x0e", "\x1b", "\x21",
        "\xc2\x84",     /* U+0084 */
        "\xc2\xa1",     /* U+00A1 */
        "\xe1\x99\xbf", /* U+167F */
        "\xe1\x9a\x81", /* U+1681 */
        "\xe1\xa0\x8e", /* U+180E */
        "\xe2\x80\x8b", /* U+200B */
        "\xe2\x80\xa7", /* U+2027 */
        "\xe2\x80\xaa", /* U+202A */
        "\xe2\x80\xae", /* U+202E */
        "\xe2\x80\xb0", /* U+2030 */
        "\xe2\x81\x9e", /* U+205E */
        "\xe2\x81\xa0", /* U+2060 */
        "\xe3\x80\x81", /* U+3001 */
};

static void test_chat_template_render_trim_each_space(void **state) {
        char content[32];
        char want[128];

        for (size_t i = 0; i < N_ELEMS(py_spaces); i++) {
                const char *sp = py_spaces[i];
                snprintf(content, sizeof(content), "%s%sX%s%s", sp, sp, sp, sp);
                const ChatMessage m[] = { { "user", content } };
                check_render(m, 1, false, "<bos><start_of_turn>user\nX<end_of_turn>\n");
        }
        for (size_t i = 0; i < N_ELEMS(py_not_spaces); i++) {
                const char *ns = py_not_spaces[i];
                snprintf(content, sizeof(content), " %sX%s ", ns, ns);
                snprintf(want, sizeof(want), "<bos><start_of_turn>user\n%sX%s<end_of_turn>\n", ns, ns);
                const ChatMessage m[] = { { "user", content } };
                check_render(m, 1, false, want);
        }
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_chat_template_render_role_errors(void **state) {
        const ChatMessage starts_with_model[] = { { "assistant", "Hi" } };
        check_reject(starts_with_model, 1, "message 0: expected role 'user' but got 'assistant'");

        const ChatMessage two_users[] = { { "user", "a" }, { "user", "b" } };
        check_reject(two_users, 2, "message 1: expected role 'assistant' but got 'user'");

        const ChatMessage two_models[] = {
                { "system", "s" }, { "user", "a" }, { "model", "b" }, { "assistant", "c" },
        };
        check_reject(two_models, 4, "message 3: expected role 'user' but got 'assistant'");

        const ChatMessage late_system[] = { { "user", "a" }, { "system", "s" } };
        check_reject(late_system, 2, "message 1: role 'system' is only allowed as the first message");

        const ChatMessage two_systems[] = { { "system", "a" }, { "system", "b" }, { "user", "c" } };
        check_reject(two_systems, 3, "message 1: role 'system'");

        const ChatMessage unknown[] = { { "user", "a" }, { "tool", "b" } };
        check_reject(unknown, 2, "message 1: unknown role 'tool'");

        const ChatMessage cased[] = { { "User", "a" } };
        check_reject(cased, 1, "message 0: unknown role 'User'");

        const ChatMessage system_only[] = { { "system", "You are helpful." } };
        check_reject(system_only, 1, "message 0: a system message must be followed by a user message");

        const ChatMessage no_role[] = { { "user", "a" }, { NULL, "b" } };
        check_reject(no_role, 2, "message 1: role missing");

        const ChatMessage no_content[] = { { "user", NULL } };
        check_reject(no_content, 1, "message 0: content missing");

        check_reject(NULL, 1, "messages missing");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chat_template_render_single_turn),
                cmocka_unit_test(test_chat_template_render_system),
                cmocka_unit_test(test_chat_template_render_multi_turn),
                cmocka_unit_test(test_chat_template_render_trimming),
                cmocka_unit_test(test_chat_template_render_trim_each_space),
                cmocka_unit_test(test_chat_template_render_role_errors),
        };
        return cmocka_run_group_tests_name("chat-template.c", tests, NULL, NULL);
}
