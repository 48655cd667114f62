/* Text generation for one prompt, start to end: what gemma-model generate runs. A thin loop over
 * a Sequence (sequence.h), which is what an engine serving many clients steps instead. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sequence.h"

typedef struct GeneratorParams {
        TurnParams turn;
        uint32_t n_ctx;               /* context positions: prompt + generated */
        const Gemma3nSlice *slice;    /* NULL: the full model */
} GeneratorParams;

/* Errors: -EMSGSIZE when the prompt does not fit the context (the message names the numbers),
 * -EINVAL for bad parameters, and any forward-pass error. stats is filled on success. */
int generator_run(const Gemma3nModel *m, CpuCompute *c, const Tokenizer *tok, const int32_t *prompt, size_t n_prompt,
                  const GeneratorParams *params, SequenceEmit emit, void *userdata, SequenceStats *stats,
                  GemmaError *err);
