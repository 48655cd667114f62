/* Prompt rendering for the daemon's requests (see prompt.h). */
#include "prompt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/chat-template.h"

static int encode(const Tokenizer *tok, const char *text, bool add_bos, int32_t **ret_ids, size_t *ret_n,
                  DaemonError *err) {
        _cleanup_free_ int32_t *ids = NULL;
        size_t n = 0;
        GemmaError gerr = {};
        int r = tokenizer_encode(tok, text, strlen(text), true, &ids, &n, &gerr);
        if (r == -ENOMEM)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        if (r < 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "Cannot tokenize the text: %s",
                                        gemma_error_message(&gerr));
        if (add_bos) {
                int32_t *with = malloc_multiply(n + 1, sizeof(int32_t));
                if (!with)
                        return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
                with[0] = tokenizer_bos(tok);
                if (n)
                        memcpy(with + 1, ids, n * sizeof(int32_t));
                free(ids);
                ids = with;
                n++;
        }
        if (n == 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "The text is empty: nothing to add.");
        *ret_ids = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

int prompt_render(const Tokenizer *tok, const PromptTurn *t, int32_t **ret_ids, size_t *ret_n, DaemonError *err) {
        if (t->raw) {
                if (t->system)
                        return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                                "Option 'system' cannot be combined with 'raw' (raw text has no template).");
                return encode(tok, t->text, !t->started, ret_ids, ret_n, err);
        }

        ChatMessage msgs[2];
        size_t n = 0;
        if (t->system && !t->started)
                msgs[n++] = (ChatMessage) { "system", t->system };
        msgs[n++] = (ChatMessage) { "user", t->text };

        _cleanup_free_ char *rendered = NULL;
        GemmaError gerr = {};
        int r = chat_template_render(msgs, n, t->generate, &rendered, &gerr);
        if (r == -ENOMEM)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        if (r < 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "%s", gemma_error_message(&gerr));
        if (!t->started)
                return encode(tok, rendered, false, ret_ids, ret_n, err);

        /* A later turn continues the conversation: no second <bos>, and the model's previous turn
         * is closed first (its end token ended generation and was never computed). */
        static const char bos[] = "<bos>", close_turn[] = "<end_of_turn>\n";
        const char *body = strncmp(rendered, bos, strlen(bos)) == 0 ? rendered + strlen(bos) : rendered;
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s%s", t->model_turn_open ? close_turn : "", body) < 0)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        return encode(tok, text, false, ret_ids, ret_n, err);
}
