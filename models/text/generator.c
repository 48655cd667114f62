/* One prompt to the end of its answer, by stepping a single Sequence. */
#include "generator.h"

#include <errno.h>

#include "base/macro.h"

int generator_run(const Gemma3nModel *m, CpuCompute *c, const Tokenizer *tok, const int32_t *prompt, size_t n_prompt,
                  const GeneratorParams *params, SequenceEmit emit, void *userdata, SequenceStats *stats,
                  GemmaError *err) {
        _cleanup_(sequence_freep) Sequence *s = NULL;
        SequenceStep step;
        int k;

        if (n_prompt == 0)
                return gemma_error_set(err, -EINVAL, "the prompt is empty");
        if ((k = sequence_new(m, tok, params->n_ctx, &s, err)) < 0)
                return k;
        k = sequence_queue(s, prompt, n_prompt, err);
        if (k == -EMSGSIZE)
                return gemma_error_set(err, k, "the prompt has %zu tokens but the context holds %u (one more is needed to answer)",
                                       n_prompt, params->n_ctx);
        if (k < 0)
                return k;
        if ((k = sequence_begin_turn(s, &params->turn, params->slice, err)) < 0)
                return k;
        do {
                /* One step prefills the whole prompt: nothing else shares this engine. */
                if ((k = sequence_step(s, c, UINT32_MAX, emit, userdata, &step, err)) < 0)
                        return k;
        } while (step != SEQUENCE_FINISHED);
        *stats = *sequence_stats(s);
        return 0;
}
