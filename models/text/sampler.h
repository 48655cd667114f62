/* Token sampler: turns one row of logits into one token id. Owns its random generator and the
 * recent-token history that the repetition penalties look at; never modifies the caller's logits.
 *
 * Pipeline, in this order (each step is skipped when its parameter is "off"):
 *
 *   penalties -> greedy (temperature == 0: argmax, done) -> temperature -> top-k -> softmax
 *   -> top-p -> min-p -> renormalise -> draw
 *
 * - Penalties apply to every distinct token among the last repeat_last_n accepted tokens, once per
 *   token however often it occurs: repeat_penalty divides a positive logit and multiplies a
 *   negative one; presence_penalty is then subtracted.
 * - Greedy picks the largest logit; ties go to the lowest token id.
 * - Candidates are ordered by logit, highest first, ties by lowest token id; top-k keeps the first
 *   top_k of that order (a bounded heap: O(V log k)), so ties at the cut are decided the same way.
 * - top-p keeps the shortest run of that order whose probabilities sum to at least top_p (at least
 *   one token). After top-k that is a scan of the sorted k; without top-k a quickselect-style
 *   partition steered by mass finds the cut in expected O(V) and sorts nothing (a run of bad
 *   pivots falls back to a heap, O(V log V) at worst). Masses are summed in double; near a tie at
 *   the cut the two paths may add in a different order. With top_k == 0 and top_p == 1 nothing is
 *   sorted or selected at all.
 * - min-p drops tokens whose probability is below min_p times the largest one.
 *
 * Logits that are NaN count as -inf (never drawn); +inf counts as the largest finite float.
 *
 * Random numbers: xoshiro256** (Blackman and Vigna, 2018), 256 bits of state, seeded by running
 * splitmix64 from the 64-bit seed four times. A draw takes the top 53 bits of one output as a
 * double in [0, 1). Integer arithmetic only, so a seed gives the same stream on every machine;
 * the token drawn is then the same wherever the logits are bit-identical. */
#pragma once

#include <stdint.h>

#include "base/error.h"

/* Longer than any context the engine supports; a larger window is a caller's mistake. */
#define SAMPLER_REPEAT_LAST_N_MAX 131072u
/* Token ids are returned as non-negative int, so a vocabulary must fit below INT32_MAX. */
#define SAMPLER_N_VOCAB_MAX ((uint32_t) INT32_MAX)

typedef struct SamplerParams {
        float temperature;       /* >= 0, finite; 0 = greedy */
        uint32_t top_k;          /* 0 = off; values above the vocabulary size mean "all" */
        float top_p;             /* (0, 1]; 1 = off */
        float min_p;             /* [0, 1]; 0 = off */
        float repeat_penalty;    /* > 0, finite; 1 = off */
        float presence_penalty;  /* finite; 0 = off */
        uint32_t repeat_last_n;  /* [0, SAMPLER_REPEAT_LAST_N_MAX]; 0 = no history, no penalties */
        uint64_t seed;           /* the whole random stream follows from this */
} SamplerParams;

/* Every filter off, plain softmax sampling at temperature 1. */
#define SAMPLER_PARAMS_INIT                                                                         \
        ((SamplerParams) {                                                                          \
                .temperature = 1.0f,                                                                \
                .top_k = 0,                                                                         \
                .top_p = 1.0f,                                                                      \
                .min_p = 0.0f,                                                                      \
                .repeat_penalty = 1.0f,                                                             \
                .presence_penalty = 0.0f,                                                           \
                .repeat_last_n = 64,                                                                \
                .seed = 0,                                                                          \
        })

/* The sampler's generator, exposed so that its stream can be checked against published values. */
typedef struct SamplerRng {
        uint64_t s[4];
} SamplerRng;

void sampler_rng_seed(SamplerRng *rng, uint64_t seed);
uint64_t sampler_rng_next(SamplerRng *rng);
/* Top 53 bits of the next output, scaled to [0, 1). */
double sampler_rng_uniform(SamplerRng *rng);

typedef struct Sampler Sampler;

/* 0 if every parameter is in range; otherwise -EINVAL and a message that names the parameter and
 * its allowed range ("top_p must be in (0, 1], got 1.5"). */
int sampler_params_validate(const SamplerParams *params, GemmaError *err);

/* Validates params and allocates a sampler for a vocabulary of n_vocab tokens
 * (1..SAMPLER_N_VOCAB_MAX). Errors: -EINVAL (bad parameter or n_vocab), -ENOMEM. */
int sampler_new(const SamplerParams *params, uint32_t n_vocab, Sampler **ret, GemmaError *err);
Sampler *sampler_free(Sampler *s);

static inline void sampler_freep(Sampler **s) {
        if (*s)
                sampler_free(*s);
}

/* Records a token (prompt or generated) in the penalty window. -EINVAL if token is not in
 * [0, n_vocab). */
int sampler_accept(Sampler *s, int32_t token);

/* Forgets the history and restarts the random stream from the seed: the sampler then behaves
 * exactly as a new one with the same parameters. */
void sampler_reset(Sampler *s);

/* Draws one token from logits[0 .. n_vocab). Returns the token id (>= 0), or -EDOM when no logit
 * is above -inf (after NaN handling and penalties). Does not record the token: call
 * sampler_accept() with whatever the caller ends up keeping. */
int sampler_sample(Sampler *s, const float *logits);

const SamplerParams *sampler_params(const Sampler *s);
