/* Turning a client's text into the tokens a turn adds to a sequence: the Gemma chat template for
 * the first turn (with <bos> and the system text), the continuation of a conversation for later
 * ones, or the raw text. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon-error.h"
#include "text/tokenizer.h"

typedef struct PromptTurn {
        const char *system;           /* first turn only; NULL: none */
        const char *text;
        bool raw;                     /* no template: the text as it is */
        bool generate;                /* end with the opening of the model's turn */
        bool started;                 /* the sequence already holds earlier turns */
        bool model_turn_open;         /* the last turn was the model's, not yet closed */
} PromptTurn;

/* Errors: INVALID_ARGS (text not valid UTF-8, system with raw, nothing to add), NO_MEMORY. */
int prompt_render(const Tokenizer *tok, const PromptTurn *t, int32_t **ret_ids, size_t *ret_n, DaemonError *err);
