/* Token sampler: penalties, greedy, temperature, top-k, top-p, min-p and the draw (see sampler.h).
 * Owns the random generator, the penalty window and two scratch rows of n_vocab entries. */
#include "sampler.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct SamplerCand {
        float v;     /* logit, then probability once softmax has run */
        int32_t id;
} SamplerCand;

struct Sampler {
        SamplerParams params;
        uint32_t n_vocab;
        SamplerRng rng;
        int32_t *history;       /* ring of the last repeat_last_n accepted tokens */
        uint32_t n_history;     /* entries filled */
        uint32_t history_next;  /* slot the next accepted token goes to */
        float *work;            /* [n_vocab] logits after NaN handling and penalties */
        SamplerCand *cand;      /* [n_vocab] candidates */
};

/* ---- random numbers ------------------------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, unsigned k) {
        return (x << k) | (x >> (64 - k));
}

/* splitmix64 (Steele, Lea and Flood, 2014): spreads one 64-bit seed into well-mixed words. */
static uint64_t splitmix64_next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

void sampler_rng_seed(SamplerRng *rng, uint64_t seed) {
        uint64_t sm = seed;
        for (size_t i = 0; i < 4; i++)
                rng->s[i] = splitmix64_next(&sm);
}

/* xoshiro256**: output is rotl(s1 * 5, 7) * 9, then the state advances by the xor/shift step. */
uint64_t sampler_rng_next(SamplerRng *rng) {
        uint64_t *s = rng->s;
        uint64_t result = rotl64(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl64(s[3], 45);
        return result;
}

double sampler_rng_uniform(SamplerRng *rng) {
        return (double) (sampler_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ---- parameters ---------------------------------------------------------------------------- */

int sampler_params_validate(const SamplerParams *p, GemmaError *err) {
        if (!p)
                return gemma_error_set(err, -EINVAL, "sampler parameters missing");
        if (!isfinite(p->temperature) || p->temperature < 0.0f)
                return gemma_error_set(err, -EINVAL,
                                       "temperature must be a finite number >= 0 (0 = greedy), got %g",
                                       (double) p->temperature);
        if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
                return gemma_error_set(err, -EINVAL, "top_p must be in (0, 1] (1 = off), got %g",
                                       (double) p->top_p);
        if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
                return gemma_error_set(err, -EINVAL, "min_p must be in [0, 1] (0 = off), got %g",
                                       (double) p->min_p);
        if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0.0f)
                return gemma_error_set(err, -EINVAL,
                                       "repeat_penalty must be a finite number > 0 (1 = off), got %g",
                                       (double) p->repeat_penalty);
        if (!isfinite(p->presence_penalty))
                return gemma_error_set(err, -EINVAL,
                                       "presence_penalty must be a finite number (0 = off), got %g",
                                       (double) p->presence_penalty);
        if (p->repeat_last_n > SAMPLER_REPEAT_LAST_N_MAX)
                return gemma_error_set(err, -EINVAL, "repeat_last_n must be in [0, %u], got %u",
                                       SAMPLER_REPEAT_LAST_N_MAX, p->repeat_last_n);
        return 0;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

int sampler_new(const SamplerParams *params, uint32_t n_vocab, Sampler **ret, GemmaError *err) {
        _cleanup_(sampler_freep) Sampler *s = NULL;
        int r;

        r = sampler_params_validate(params, err);
        if (r < 0)
                return r;
        if (n_vocab == 0 || n_vocab > SAMPLER_N_VOCAB_MAX)
                return gemma_error_set(err, -EINVAL, "n_vocab must be in [1, %u], got %u",
                                       SAMPLER_N_VOCAB_MAX, n_vocab);

        s = new0(Sampler, 1);
        if (!s)
                return gemma_error_set(err, -ENOMEM, "out of memory allocating the sampler");
        s->params = *params;
        s->n_vocab = n_vocab;
        s->work = malloc_multiply(n_vocab, sizeof(float));
        s->cand = malloc_multiply(n_vocab, sizeof(SamplerCand));
        if (params->repeat_last_n > 0)
                s->history = malloc_multiply(params->repeat_last_n, sizeof(int32_t));
        if (!s->work || !s->cand || (params->repeat_last_n > 0 && !s->history))
                return gemma_error_set(err, -ENOMEM, "out of memory allocating sampler buffers for %u tokens",
                                       n_vocab);
        sampler_reset(s);

        *ret = TAKE_PTR(s);
        return 0;
}

Sampler *sampler_free(Sampler *s) {
        if (!s)
                return NULL;
        free(s->history);
        free(s->work);
        free(s->cand);
        free(s);
        return NULL;
}

const SamplerParams *sampler_params(const Sampler *s) {
        return &s->params;
}

void sampler_reset(Sampler *s) {
        s->n_history = 0;
        s->history_next = 0;
        sampler_rng_seed(&s->rng, s->params.seed);
}

int sampler_accept(Sampler *s, int32_t token) {
        if (token < 0 || (uint32_t) token >= s->n_vocab)
                return -EINVAL;
        if (s->params.repeat_last_n == 0)
                return 0;
        s->history[s->history_next] = token;
        s->history_next = (s->history_next + 1) % s->params.repeat_last_n;
        if (s->n_history < s->params.repeat_last_n)
                s->n_history++;
        return 0;
}

/* ---- candidate ordering -------------------------------------------------------------------- */

/* The order every step agrees on: larger value first, then lower token id. */
static inline bool cand_before(SamplerCand a, SamplerCand b) {
        return a.v > b.v || (a.v == b.v && a.id < b.id);
}

/* Binary heap sift-down. worst_on_top: the root is the candidate that comes last in the order
 * (top-k selection keeps the k best by replacing the root); otherwise the root comes first. */
static void heap_sift_down(SamplerCand *h, size_t n, size_t i, bool worst_on_top) {
        for (;;) {
                size_t top = i;
                size_t l = 2 * i + 1;

                for (size_t c = l; c < n && c <= l + 1; c++) {
                        bool above = worst_on_top ? cand_before(h[top], h[c]) : cand_before(h[c], h[top]);
                        if (above)
                                top = c;
                }
                if (top == i)
                        return;
                SamplerCand t = h[i];
                h[i] = h[top];
                h[top] = t;
                i = top;
        }
}

static void heap_build(SamplerCand *h, size_t n, bool worst_on_top) {
        for (size_t i = n / 2; i-- > 0;)
                heap_sift_down(h, n, i, worst_on_top);
}

/* ---- pipeline steps ------------------------------------------------------------------------ */

static inline float logit_sanitize(float l) {
        if (isnan(l))
                return -INFINITY;
        if (l > FLT_MAX)
                return FLT_MAX;
        return l;
}

/* work = logits with NaN/+inf handled, then penalties for every token in the window. A token seen
 * several times is recomputed from the caller's value each time, so it is penalised once. */
static void load_logits(Sampler *s, const float *logits) {
        const SamplerParams *p = &s->params;
        float *w = s->work;

        for (size_t i = 0; i < s->n_vocab; i++)
                w[i] = logit_sanitize(logits[i]);

        if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f)
                return;
        for (size_t j = 0; j < s->n_history; j++) {
                int32_t t = s->history[j];
                float l = logit_sanitize(logits[t]);

                if (p->repeat_penalty != 1.0f)
                        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
                l -= p->presence_penalty;
                w[t] = logit_sanitize(l);
        }
}

/* Greedy: first index of the largest value; -EDOM when everything is -inf. */
static int pick_argmax(const float *w, size_t n) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
                if (w[i] > w[best])
                        best = i;
        if (w[best] == -INFINITY)
                return -EDOM;
        return (int) best;
}

/* The k best of w[0 .. n) into cand[0 .. k), best first. O(n log k). */
static void select_top_k(const float *w, size_t n, size_t k, SamplerCand *cand) {
        for (size_t i = 0; i < k; i++)
                cand[i] = (SamplerCand) { w[i], (int32_t) i };
        heap_build(cand, k, true);
        for (size_t i = k; i < n; i++) {
                SamplerCand c = { w[i], (int32_t) i };
                if (cand_before(c, cand[0])) {
                        cand[0] = c;
                        heap_sift_down(cand, k, 0, true);
                }
        }
        /* Heap sort: the worst of what is left moves to the end each round, so the best ends first. */
        for (size_t end = k; end > 1; end--) {
                SamplerCand t = cand[0];
                cand[0] = cand[end - 1];
                cand[end - 1] = t;
                heap_sift_down(cand, end - 1, 0, true);
        }
}

/* Logits to probabilities at temperature t, in place. Subtracting the largest logit first keeps
 * exp() in range; the largest therefore gets weight 1 and the sum is at least 1. */
static void softmax(SamplerCand *cand, size_t n, float t, bool sorted) {
        float max = cand[0].v;
        double sum = 0.0;

        if (!sorted)
                for (size_t i = 1; i < n; i++)
                        max = MAX(max, cand[i].v);
        for (size_t i = 0; i < n; i++) {
                float e = expf((cand[i].v - max) / t);
                cand[i].v = e;
                sum += e;
        }
        for (size_t i = 0; i < n; i++)
                cand[i].v = (float) (cand[i].v / sum);
}

/* The best candidates of cand[0 .. n) whose mass reaches need, moved to the front best-first, by
 * popping a heap: O(n + m log n) for m kept. Returns m (n if rounding never reaches need). */
static size_t top_p_heap(SamplerCand *cand, size_t n, double need) {
        double cum = 0.0;
        size_t end = n;

        if (n == 0)
                return 0;
        /* The popped ones collect at the tail, best last. */
        heap_build(cand, n, false);
        while (end > 0) {
                SamplerCand best = cand[0];
                cand[0] = cand[end - 1];
                cand[end - 1] = best;
                end--;
                heap_sift_down(cand, end, 0, false);
                cum += best.v;
                if (cum >= need)
                        break;
        }
        size_t m = n - end;
        for (size_t i = end, j = n - 1; i < j; i++, j--) {
                SamplerCand t = cand[i];
                cand[i] = cand[j];
                cand[j] = t;
        }
        memmove(cand, cand + end, m * sizeof(SamplerCand));
        return m;
}

static inline void cand_swap(SamplerCand *a, SamplerCand *b) {
        SamplerCand t = *a;
        *a = *b;
        *b = t;
}

/* Median of cand[a], cand[b], cand[c] in candidate order, moved to cand[c]. */
static void median_to(SamplerCand *cand, size_t a, size_t b, size_t c) {
        if (cand_before(cand[b], cand[a]))
                cand_swap(&cand[a], &cand[b]);
        /* now a before b */
        if (cand_before(cand[c], cand[a]))
                cand_swap(&cand[a], &cand[c]);  /* c was first: a is the median */
        else if (cand_before(cand[b], cand[c]))
                cand_swap(&cand[b], &cand[c]);  /* c was last: b is the median */
}

/* Top-p without a sorted list: partitions by candidate order around a pivot, as nth_element does,
 * but steers by mass instead of by count, until the cut is found (expected O(n)). Afterwards
 * cand[0 .. m) are the m best, in no particular order. A run of bad pivots hands the rest to the
 * heap, so the worst case stays O(n log n). */
static size_t top_p_select(SamplerCand *cand, size_t n, double need) {
        size_t lo = 0;
        size_t hi = n;

        /* Invariant: [0, lo) are kept and beat everything after; [hi, n) are dropped. */
        for (unsigned round = 0; hi - lo > 64 && round < 48; round++) {
                median_to(cand, lo, lo + (hi - lo) / 2, hi - 1);
                SamplerCand pivot = cand[hi - 1];
                double mass = 0.0;
                size_t a = lo;

                for (size_t j = lo; j < hi - 1; j++)
                        if (cand_before(cand[j], pivot)) {
                                mass += cand[j].v;
                                cand_swap(&cand[a++], &cand[j]);
                        }
                cand_swap(&cand[a], &cand[hi - 1]);
                /* [lo, a) beat the pivot, now at a; (a, hi) come after it. */
                if (mass >= need)
                        hi = a;
                else if (mass + pivot.v >= need)
                        return a + 1;
                else {
                        need -= mass + pivot.v;
                        lo = a + 1;
                }
        }
        return lo + top_p_heap(cand + lo, hi - lo, need);
}

/* Keeps the shortest best-first run whose probabilities reach top_p (at least one token). */
static size_t apply_top_p(SamplerCand *cand, size_t n, float top_p, bool sorted) {
        double cum = 0.0;

        if (!sorted)
                return top_p_select(cand, n, top_p);
        for (size_t i = 0; i < n; i++) {
                cum += cand[i].v;
                if (cum >= top_p)
                        return i + 1;
        }
        return n;
}

static size_t apply_min_p(SamplerCand *cand, size_t n, float min_p) {
        float max = 0.0f;
        size_t m = 0;

        for (size_t i = 0; i < n; i++)
                max = MAX(max, cand[i].v);
        float cut = min_p * max;
        for (size_t i = 0; i < n; i++)
                if (cand[i].v >= cut)
                        cand[m++] = cand[i];
        return m;
}

/* Draws from what is left; dividing the coin by the kept mass is the renormalisation. */
static int draw(SamplerRng *rng, const SamplerCand *cand, size_t n) {
        double sum = 0.0;
        double cum = 0.0;
        int last = -EDOM;

        for (size_t i = 0; i < n; i++)
                sum += cand[i].v;
        double u = sampler_rng_uniform(rng) * sum;
        for (size_t i = 0; i < n; i++) {
                if (cand[i].v <= 0.0f)
                        continue;
                cum += cand[i].v;
                last = cand[i].id;
                if (u < cum)
                        return cand[i].id;
        }
        return last;  /* rounding left u at the very top of the mass */
}

int sampler_sample(Sampler *s, const float *logits) {
        const SamplerParams *p = &s->params;
        SamplerCand *cand = s->cand;
        size_t n_vocab = s->n_vocab;
        size_t n = 0;
        bool sorted;

        load_logits(s, logits);
        if (p->temperature == 0.0f)
                return pick_argmax(s->work, n_vocab);

        if (p->top_k > 0 && p->top_k < n_vocab) {
                n = p->top_k;
                select_top_k(s->work, n_vocab, n, cand);
                sorted = true;
        } else {
                for (size_t i = 0; i < n_vocab; i++)
                        if (s->work[i] > -INFINITY)
                                cand[n++] = (SamplerCand) { s->work[i], (int32_t) i };
                sorted = false;
        }
        if (n == 0 || (sorted && cand[0].v == -INFINITY))
                return -EDOM;

        softmax(cand, n, p->temperature, sorted);
        if (p->top_p < 1.0f)
                n = apply_top_p(cand, n, p->top_p, sorted);
        if (p->min_p > 0.0f)
                n = apply_min_p(cand, n, p->min_p);
        return draw(&s->rng, cand, n);
}
