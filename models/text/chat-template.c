/* Gemma 3n chat template (see chat-template.h): checks roles, then renders in two passes, one to
 * measure and one to write, so the result is a single exact allocation. */
#include "chat-template.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef enum ChatRole {
        CHAT_ROLE_SYSTEM,
        CHAT_ROLE_USER,
        CHAT_ROLE_MODEL,
        _CHAT_ROLE_MAX,
        _CHAT_ROLE_INVALID = -EINVAL,
} ChatRole;

static ChatRole chat_role_from_string(const char *s) {
        if (strcmp(s, "system") == 0)
                return CHAT_ROLE_SYSTEM;
        if (strcmp(s, "user") == 0)
                return CHAT_ROLE_USER;
        if (strcmp(s, "assistant") == 0 || strcmp(s, "model") == 0)
                return CHAT_ROLE_MODEL;
        return _CHAT_ROLE_INVALID;
}

/* ---- trimming (Python str.strip() whitespace, UTF-8) ----------------------------------------- */

static bool is_ascii_space(unsigned char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* Is the code point encoded by the n bytes at p (n = 2 or 3) one of the non-ASCII spaces? */
static bool is_multibyte_space(const unsigned char *p, size_t n) {
        if (n == 2)
                return p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0);        /* U+0085, U+00A0 */
        if (p[0] == 0xe1)
                return p[1] == 0x9a && p[2] == 0x80;                          /* U+1680 */
        if (p[0] == 0xe2 && p[1] == 0x80)
                return (p[2] >= 0x80 && p[2] <= 0x8a) ||                      /* U+2000..U+200A */
                       p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf;          /* U+2028, 2029, 202F */
        if (p[0] == 0xe2 && p[1] == 0x81)
                return p[2] == 0x9f;                                          /* U+205F */
        if (p[0] == 0xe3)
                return p[1] == 0x80 && p[2] == 0x80;                          /* U+3000 */
        return false;
}

/* Bytes of whitespace starting at s[0] (0 if none). */
static size_t space_len_at(const unsigned char *s, size_t len) {
        if (len >= 1 && is_ascii_space(s[0]))
                return 1;
        if (len >= 2 && is_multibyte_space(s, 2))
                return 2;
        if (len >= 3 && is_multibyte_space(s, 3))
                return 3;
        return 0;
}

/* Bytes of whitespace ending at s[len - 1] (0 if none). */
static size_t space_len_before(const unsigned char *s, size_t len) {
        if (len >= 1 && is_ascii_space(s[len - 1]))
                return 1;
        if (len >= 2 && is_multibyte_space(s + len - 2, 2))
                return 2;
        if (len >= 3 && is_multibyte_space(s + len - 3, 3))
                return 3;
        return 0;
}

static void trim(const char *s, const char **ret_start, size_t *ret_len) {
        const unsigned char *p = (const unsigned char *) s;
        size_t len = strlen(s);
        size_t k;

        while ((k = space_len_at(p, len)) > 0) {
                p += k;
                len -= k;
        }
        while ((k = space_len_before(p, len)) > 0)
                len -= k;
        *ret_start = (const char *) p;
        *ret_len = len;
}

/* ---- output -------------------------------------------------------------------------------- */

/* Measures when buf is NULL, writes otherwise. */
typedef struct Out {
        char *buf;
        size_t len;
        bool overflow;
} Out;

static void out_put(Out *o, const char *s, size_t n) {
        if (o->buf)
                memcpy(o->buf + o->len, s, n);
        if (size_add_overflow(o->len, n, &o->len))
                o->overflow = true;
}

static void out_puts(Out *o, const char *s) {
        out_put(o, s, strlen(s));
}

static void render(const ChatMessage *messages, size_t n, bool add_generation_prompt, Out *o) {
        size_t first = 0;

        out_puts(o, "<bos>");
        if (n > 0 && chat_role_from_string(messages[0].role) == CHAT_ROLE_SYSTEM)
                first = 1;
        for (size_t i = first; i < n; i++) {
                bool user = (i - first) % 2 == 0;
                const char *text;
                size_t len;

                out_puts(o, user ? "<start_of_turn>user\n" : "<start_of_turn>model\n");
                if (i == first && first == 1) {
                        out_puts(o, messages[0].content);
                        out_puts(o, "\n\n");
                }
                trim(messages[i].content, &text, &len);
                out_put(o, text, len);
                out_puts(o, "<end_of_turn>\n");
        }
        if (add_generation_prompt)
                out_puts(o, "<start_of_turn>model\n");
}

/* ---- validation ---------------------------------------------------------------------------- */

static int check_messages(const ChatMessage *messages, size_t n, GemmaError *err) {
        size_t first = 0;

        if (n > 0 && !messages)
                return gemma_error_set(err, -EINVAL, "chat messages missing");
        for (size_t i = 0; i < n; i++) {
                if (!messages[i].role)
                        return gemma_error_set(err, -EINVAL, "message %zu: role missing", i);
                if (!messages[i].content)
                        return gemma_error_set(err, -EINVAL, "message %zu: content missing", i);

                ChatRole role = chat_role_from_string(messages[i].role);
                if (role < 0)
                        return gemma_error_set(err, -EINVAL,
                                               "message %zu: unknown role '%s' (expected system, user, assistant or model)",
                                               i, messages[i].role);
                if (role == CHAT_ROLE_SYSTEM) {
                        if (i != 0)
                                return gemma_error_set(err, -EINVAL,
                                                       "message %zu: role 'system' is only allowed as the first message",
                                                       i);
                        first = 1;
                        continue;
                }
                ChatRole want = (i - first) % 2 == 0 ? CHAT_ROLE_USER : CHAT_ROLE_MODEL;
                if (role != want)
                        return gemma_error_set(err, -EINVAL,
                                               "message %zu: expected role '%s' but got '%s' (roles must alternate user/assistant, starting with user, after an optional system message)",
                                               i, want == CHAT_ROLE_USER ? "user" : "assistant", messages[i].role);
        }
        if (first == 1 && n == 1)
                return gemma_error_set(err, -EINVAL,
                                       "message 0: a system message must be followed by a user message");
        return 0;
}

int chat_template_render(const ChatMessage *messages, size_t n, bool add_generation_prompt, char **ret_text,
                         GemmaError *err) {
        Out o = { .buf = NULL };
        int r;

        r = check_messages(messages, n, err);
        if (r < 0)
                return r;

        render(messages, n, add_generation_prompt, &o);
        if (o.overflow || o.len == SIZE_MAX)
                return gemma_error_set(err, -ENOMEM, "chat prompt too long");

        size_t len = o.len;
        o = (Out) { .buf = malloc(len + 1) };
        if (!o.buf)
                return gemma_error_set(err, -ENOMEM, "out of memory rendering a %zu-byte chat prompt", len);
        render(messages, n, add_generation_prompt, &o);
        o.buf[len] = '\0';

        *ret_text = o.buf;
        return 0;
}
