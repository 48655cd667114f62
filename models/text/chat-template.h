/* Gemma 3n chat template: renders a conversation into the prompt text the model was trained on
 * (spec gemma3n-text.md §4.7; the Jinja template shipped as tokenizer.chat_template). Text only:
 * image and audio items are not handled here.
 *
 *   <bos><start_of_turn>user\n{system}\n\n{user, trimmed}<end_of_turn>\n
 *   <start_of_turn>model\n{assistant, trimmed}<end_of_turn>\n
 *   ...
 *   <start_of_turn>model\n                                   (add_generation_prompt)
 *
 * - The text starts with the literal characters "<bos>". Tokenize it with special-token parsing
 *   on (so "<bos>", "<start_of_turn>" and "<end_of_turn>" become their control ids 2, 105, 106)
 *   and with automatic BOS off, or the prompt gets two BOS tokens. Because the whole text is
 *   parsed for special tokens, a message that itself contains "<end_of_turn>" is read as a
 *   control token too, exactly as with the reference template.
 * - An optional first message with role "system" is not a turn: its content, untrimmed, followed
 *   by "\n\n", is put in front of the first user turn's content.
 * - After it, roles must alternate user, model, user, ... starting with user; "assistant" and
 *   "model" are the same role and render as "model". User and model contents are trimmed of
 *   leading and trailing whitespace as Python's str.strip() defines it (ASCII whitespace, the
 *   separators U+001C..U+001F and the Unicode spaces U+0085, U+00A0, U+1680, U+2000..U+200A,
 *   U+2028, U+2029, U+202F, U+205F, U+3000, all UTF-8 encoded).
 * - A system message with no user message after it is rejected (-EINVAL). The reference template
 *   accepts it and silently drops the system text (its prefix is only ever written into a user
 *   turn, and there is none), rendering just "<bos>" plus the generation prompt; we refuse rather
 *   than lose the caller's instructions without a word.
 * - Where the reference is looser we are stricter and say so with -EINVAL naming the message
 *   index: it only checks that even turns are "user" and odd ones are not, so it would render a
 *   "system" (or any other) role in an odd position as its own turn; we accept only the roles
 *   above, and "system" only first.
 * - No messages at all render as "<bos>" (plus the generation prompt), as in the reference. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct ChatMessage {
        const char *role;     /* "system" (first only), "user", "assistant" or "model" */
        const char *content;  /* UTF-8, NUL-terminated */
} ChatMessage;

/* Renders messages[0 .. n) and, if add_generation_prompt, the opening of the model's turn, into a
 * newly allocated NUL-terminated string in *ret_text (the caller frees it). Errors: -EINVAL (a
 * missing role or content, an unknown role, roles out of order, a system message without a user
 * message; the message names the index), -ENOMEM. *ret_text is untouched on failure. */
int chat_template_render(const ChatMessage *messages, size_t n, bool add_generation_prompt, char **ret_text,
                         GemmaError *err);
