/* Unit tests for models/text/sampler.c. Expected values come from outside the sampler: the random
 * stream's first words were computed by a separate throwaway Python implementation of
 * splitmix64/xoshiro256** written from the published algorithm; allowed token sets, softmax
 * probabilities and penalised argmaxes are computed here, independently, or worked out by hand in
 * the comments. Test logits come from a small generator local to this file with a fixed seed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/sampler.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

/* xorshift64* for test inputs only; independent of the sampler's own generator. */
static uint64_t test_rng_state;

static void test_rng_seed(uint64_t seed) {
        test_rng_state = seed ? seed : 1;
}

static float test_rng_float(float lo, float hi) {
        test_rng_state ^= test_rng_state >> 12;
        test_rng_state ^= test_rng_state << 25;
        test_rng_state ^= test_rng_state >> 27;
        uint64_t x = test_rng_state * UINT64_C(2685821657736338717);
        return lo + (hi - lo) * (float) ((double) (x >> 40) / (double) (UINT64_C(1) << 24));
}

static float *random_logits(size_t n, uint64_t seed, float lo, float hi) {
        float *l = malloc(n * sizeof(float));
        assert_non_null(l);
        test_rng_seed(seed);
        for (size_t i = 0; i < n; i++)
                l[i] = test_rng_float(lo, hi);
        return l;
}

static Sampler *make_sampler(const SamplerParams *p, uint32_t n_vocab) {
        GemmaError err = { 0 };
        Sampler *s = NULL;
        int r = sampler_new(p, n_vocab, &s, &err);
        if (r < 0)
                fail_msg("sampler_new: %d %s", r, err.message);
        return s;
}

/* Is token among the k largest logits (ties by lower id), computed by brute force? */
static bool in_top_k(const float *l, size_t n, size_t k, int token) {
        size_t better = 0;
        for (size_t i = 0; i < n; i++)
                if (l[i] > l[token] || (l[i] == l[token] && (int) i < token))
                        better++;
        return better < k;
}

/* Softmax of l / t in double precision. */
static void softmax_ref(const float *l, size_t n, double t, double *p) {
        double max = -INFINITY;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
                max = fmax(max, l[i]);
        for (size_t i = 0; i < n; i++) {
                p[i] = exp((l[i] - max) / t);
                sum += p[i];
        }
        for (size_t i = 0; i < n; i++)
                p[i] /= sum;
}

/* Draws n_draws tokens and checks every count is within 4 sigma of n_draws * want[i]. */
static void check_frequencies(const char *what, Sampler *s, const float *logits, const double *want, size_t n,
                              size_t n_draws) {
        size_t *count = calloc(n, sizeof(size_t));
        size_t bad = 0;
        assert_non_null(count);

        for (size_t d = 0; d < n_draws; d++) {
                int t = sampler_sample(s, logits);
                assert_true(t >= 0 && (size_t) t < n);
                count[t]++;
        }
        for (size_t i = 0; i < n; i++) {
                double mean = (double) n_draws * want[i];
                double sigma = sqrt((double) n_draws * want[i] * (1.0 - want[i]));
                if (fabs((double) count[i] - mean) > 4.0 * sigma) {
                        print_error("%s: token %zu drawn %zu times, want %.1f +- %.1f (4 sigma)\n", what, i,
                                    count[i], mean, 4.0 * sigma);
                        bad++;
                }
        }
        free(count);
        if (bad)
                fail_msg("%s: %zu tokens outside 4 sigma (seed %llu)", what, bad,
                         (unsigned long long) sampler_params(s)->seed);
}

/* ---- sampler_rng --------------------------------------------------------------------------- */

static void test_sampler_rng_known_values(void **state) {
        /* splitmix64 from 0 gives 0xe220a8397b1dcdaf first (the published first value); the rest
         * from the independent Python implementation. */
        static const uint64_t state0[4] = {
                UINT64_C(0xe220a8397b1dcdaf), UINT64_C(0x6e789e6aa1b965f4),
                UINT64_C(0x06c45d188009454f), UINT64_C(0xf88bb8a8724c81ec),
        };
        static const uint64_t out0[5] = {
                UINT64_C(0x99ec5f36cb75f2b4), UINT64_C(0xbf6e1f784956452a), UINT64_C(0x1a5f849d4933e6e0),
                UINT64_C(0x6aa594f1262d2d2c), UINT64_C(0xbba5ad4a1f842e59),
        };
        static const uint64_t out42[5] = {
                UINT64_C(0x15780b2e0c2ec716), UINT64_C(0x6104d9866d113a7e), UINT64_C(0xae17533239e499a1),
                UINT64_C(0xecb8ad4703b360a1), UINT64_C(0xfde6dc7fe2ec5e64),
        };
        SamplerRng rng;

        sampler_rng_seed(&rng, 0);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(rng.s[i], state0[i]);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(sampler_rng_next(&rng), out0[i]);

        sampler_rng_seed(&rng, 42);
        for (size_t i = 0; i < 5; i++)
                assert_int_equal(sampler_rng_next(&rng), out42[i]);

        /* uniform(): top 53 bits of the next word over 2^53. */
        sampler_rng_seed(&rng, 42);
        double u = sampler_rng_uniform(&rng);
        assert_true(u == (double) (UINT64_C(0x15780b2e0c2ec716) >> 11) / 9007199254740992.0);
        for (size_t i = 0; i < 100000; i++) {
                u = sampler_rng_uniform(&rng);
                assert_true(u >= 0.0 && u < 1.0);
        }
}

/* ---- determinism --------------------------------------------------------------------------- */

static void draw_sequence(uint64_t seed, const float *logits, uint32_t n_vocab, int *out, size_t n) {
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 1.5f;
        p.seed = seed;
        Sampler *s = make_sampler(&p, n_vocab);
        for (size_t i = 0; i < n; i++) {
                out[i] = sampler_sample(s, logits);
                assert_true(out[i] >= 0 && out[i] < (int) n_vocab);
        }
        sampler_free(s);
}

static void test_sampler_sample_same_seed_same_sequence(void **state) {
        enum { V = 1000, N = 300 };
        float *logits = random_logits(V, 7, -2.0f, 2.0f);
        int a[N], b[N];

        draw_sequence(1234, logits, V, a, N);
        draw_sequence(1234, logits, V, b, N);
        for (size_t i = 0; i < N; i++)
                if (a[i] != b[i])
                        fail_msg("draw %zu: %d vs %d with the same seed", i, a[i], b[i]);

        /* sampler_reset() restarts the same stream. */
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 1.5f;
        p.seed = 1234;
        Sampler *s = make_sampler(&p, V);
        for (size_t i = 0; i < 10; i++)
                (void) sampler_sample(s, logits);
        sampler_reset(s);
        for (size_t i = 0; i < N; i++)
                assert_int_equal(sampler_sample(s, logits), a[i]);
        sampler_free(s);
        free(logits);
}

static void test_sampler_sample_different_seed_differs(void **state) {
        enum { V = 1000, N = 300 };
        float *logits = random_logits(V, 7, -2.0f, 2.0f);
        int a[N], b[N];
        size_t same = 0;

        draw_sequence(1, logits, V, a, N);
        draw_sequence(2, logits, V, b, N);
        for (size_t i = 0; i < N; i++)
                same += a[i] == b[i];
        /* Near-uniform over 1000 tokens: a handful of coincidences at most. */
        if (same > N / 10)
                fail_msg("seeds 1 and 2 agree on %zu of %d draws", same, N);
        free(logits);
}

/* ---- greedy -------------------------------------------------------------------------------- */

static void test_sampler_sample_greedy_argmax(void **state) {
        enum { V = 5000 };
        float *logits = random_logits(V, 11, -10.0f, 10.0f);
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 0.0f;
        Sampler *s = make_sampler(&p, V);

        for (uint64_t round = 0; round < 20; round++) {
                size_t want = 0;
                test_rng_seed(100 + round);
                for (size_t i = 0; i < V; i++)
                        logits[i] = test_rng_float(-10.0f, 10.0f);
                for (size_t i = 1; i < V; i++)
                        if (logits[i] > logits[want])
                                want = i;
                assert_int_equal(sampler_sample(s, logits), (int) want);
        }
        sampler_free(s);
        free(logits);

        /* Ties go to the lowest id; NaN never wins; +inf does. */
        float tie[6] = { 0.5f, 3.0f, 1.0f, 3.0f, NAN, 3.0f };
        s = make_sampler(&p, 6);
        assert_int_equal(sampler_sample(s, tie), 1);
        tie[4] = INFINITY;
        assert_int_equal(sampler_sample(s, tie), 4);
        sampler_free(s);

        float nan_first[3] = { NAN, -1.0f, -2.0f };
        s = make_sampler(&p, 3);
        assert_int_equal(sampler_sample(s, nan_first), 1);
        sampler_free(s);
}

static void test_sampler_sample_no_finite_logit(void **state) {
        float l[4] = { -INFINITY, NAN, -INFINITY, NAN };
        SamplerParams p = SAMPLER_PARAMS_INIT;

        p.temperature = 0.0f;
        Sampler *s = make_sampler(&p, 4);
        assert_int_equal(sampler_sample(s, l), -EDOM);
        sampler_free(s);

        p.temperature = 1.0f;
        s = make_sampler(&p, 4);
        assert_int_equal(sampler_sample(s, l), -EDOM);
        sampler_free(s);

        p.top_k = 2;
        s = make_sampler(&p, 4);
        assert_int_equal(sampler_sample(s, l), -EDOM);
        sampler_free(s);

        /* One finite logit among -inf ones is the only possible draw, with any filter. */
        float one[4] = { -INFINITY, NAN, 0.25f, -INFINITY };
        p.top_k = 3;
        p.top_p = 0.5f;
        p.min_p = 0.9f;
        s = make_sampler(&p, 4);
        for (size_t i = 0; i < 100; i++)
                assert_int_equal(sampler_sample(s, one), 2);
        sampler_free(s);
}

/* ---- top-k, top-p, min-p ------------------------------------------------------------------- */

static void test_sampler_sample_top_k_bounds(void **state) {
        enum { V = 1000, K = 10, N = 10000 };
        float *logits = random_logits(V, 21, -1.0f, 1.0f);
        size_t seen[V] = { 0 };
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 5.0f;  /* flat, so every one of the k gets drawn */
        p.top_k = K;
        p.seed = 99;
        Sampler *s = make_sampler(&p, V);

        for (size_t d = 0; d < N; d++) {
                int t = sampler_sample(s, logits);
                assert_true(t >= 0 && t < V);
                if (!in_top_k(logits, V, K, t))
                        fail_msg("draw %zu: token %d (logit %g) is not in the top %d (seed 99)", d, t,
                                 (double) logits[t], K);
                seen[t]++;
        }
        size_t distinct = 0;
        for (size_t i = 0; i < V; i++)
                distinct += seen[i] > 0;
        assert_int_equal(distinct, K);
        sampler_free(s);
        free(logits);

        /* Ties at the cut are decided by the lower id: all equal, k = 3 keeps 0, 1, 2. */
        float flat[8] = { 0 };
        p.top_k = 3;
        s = make_sampler(&p, 8);
        for (size_t d = 0; d < 2000; d++)
                assert_in_range(sampler_sample(s, flat), 0, 2);
        sampler_free(s);

        /* k = 1 is greedy whatever the temperature. */
        logits = random_logits(V, 22, -1.0f, 1.0f);
        p.top_k = 1;
        s = make_sampler(&p, V);
        for (size_t d = 0; d < 100; d++) {
                int t = sampler_sample(s, logits);
                assert_true(t >= 0 && t < V);
                assert_true(in_top_k(logits, V, 1, t));
        }
        sampler_free(s);
        free(logits);
}

/* Probabilities 0.05, 0.5, 0.1, 0.2, 0.15 (ids in that order), as logits ln(p). */
static void known_logits(float l[5]) {
        static const double prob[5] = { 0.05, 0.5, 0.1, 0.2, 0.15 };
        for (size_t i = 0; i < 5; i++)
                l[i] = (float) log(prob[i]);
}

static void test_sampler_sample_top_p_excludes(void **state) {
        /* Sorted: 0.5 (id 1), 0.2 (id 3), 0.15 (id 4), 0.1, 0.05. Running sums 0.5, 0.7, 0.85:
         * top_p = 0.8 keeps ids 1, 3, 4, renormalised to 0.5/0.85, 0.2/0.85, 0.15/0.85. */
        static const double want[5] = { 0.0, 0.5 / 0.85, 0.0, 0.2 / 0.85, 0.15 / 0.85 };
        float l[5];
        known_logits(l);

        /* top_k = 0 takes the heap path, top_k = 4 the sorted one; both must agree. */
        static const uint32_t ks[] = { 0, 4, 5 };
        for (size_t j = 0; j < N_ELEMS(ks); j++) {
                SamplerParams p = SAMPLER_PARAMS_INIT;
                char what[64];
                p.top_p = 0.8f;
                p.top_k = ks[j];
                p.seed = 5 + j;
                Sampler *s = make_sampler(&p, 5);
                for (size_t d = 0; d < 10000; d++) {
                        int t = sampler_sample(s, l);
                        if (t == 0 || t == 2)
                                fail_msg("top_p 0.8, top_k %u: draw %zu returned excluded token %d", ks[j], d, t);
                }
                snprintf(what, sizeof(what), "top_p 0.8, top_k %u", ks[j]);
                check_frequencies(what, s, l, want, 5, 20000);
                sampler_free(s);
        }

        /* A small top_p keeps only the most likely token. */
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.top_p = 0.3f;
        Sampler *s = make_sampler(&p, 5);
        for (size_t d = 0; d < 1000; d++)
                assert_int_equal(sampler_sample(s, l), 1);
        sampler_free(s);
}

static const float *sort_keys;

static int by_logit_desc(const void *a, const void *b) {
        size_t i = *(const size_t *) a;
        size_t j = *(const size_t *) b;
        if (sort_keys[i] != sort_keys[j])
                return sort_keys[i] > sort_keys[j] ? -1 : 1;
        return i < j ? -1 : 1;
}

/* Enough tokens that top-p without top-k partitions several times before the heap takes over. */
static void test_sampler_sample_top_p_distribution(void **state) {
        enum { V = 300 };
        static const float top_ps[] = { 0.3f, 0.7f, 0.95f };
        float *logits = random_logits(V, 41, -3.0f, 3.0f);
        double prob[V];
        double want[V];
        size_t order[V];

        softmax_ref(logits, V, 1.0, prob);
        for (size_t i = 0; i < V; i++)
                order[i] = i;
        sort_keys = logits;
        qsort(order, V, sizeof(size_t), by_logit_desc);

        for (size_t c = 0; c < N_ELEMS(top_ps); c++) {
                double top_p = top_ps[c];
                double cum = 0.0;
                size_t m = 0;
                char what[64];

                while (m < V && cum < top_p)
                        cum += prob[order[m++]];
                /* The cut must not sit on a rounding knife edge for this seed. */
                assert_true(cum - prob[order[m - 1]] < top_p - 1e-4 && cum > top_p + 1e-4);
                memset(want, 0, sizeof(want));
                for (size_t i = 0; i < m; i++)
                        want[order[i]] = prob[order[i]] / cum;

                SamplerParams p = SAMPLER_PARAMS_INIT;
                p.top_p = top_ps[c];
                p.seed = 300 + c;
                Sampler *s = make_sampler(&p, V);
                snprintf(what, sizeof(what), "top_p %g over %d tokens (%zu kept)", top_p, V, m);
                check_frequencies(what, s, logits, want, V, 20000);
                sampler_free(s);
        }
        free(logits);
}

/* Every cut size m over a near-flat distribution, with top_p half way into the m-th best token's
 * probability, so that the running sum first reaches it there: exactly the m best may be drawn, and over 3000 draws each of them is
 * (a kept token has probability > 1/120, so missing one has odds below e^-25). Sweeping every m
 * makes the cut land on each partition pivot at least once. */
static void test_sampler_sample_top_p_exact_sets(void **state) {
        enum { V = 100, N = 3000 };
        float *logits = random_logits(V, 51, -0.2f, 0.2f);
        double prob[V];
        size_t order[V];
        size_t seen[V];
        bool kept[V];

        softmax_ref(logits, V, 1.0, prob);
        for (size_t i = 0; i < V; i++)
                order[i] = i;
        sort_keys = logits;
        qsort(order, V, sizeof(size_t), by_logit_desc);

        double cum = 0.0;  /* mass of the m - 1 best */
        for (size_t m = 1; m < V; m++) {
                double top_p = cum + prob[order[m - 1]] / 2;  /* half way into the m-th best */
                cum += prob[order[m - 1]];

                memset(kept, 0, sizeof(kept));
                memset(seen, 0, sizeof(seen));
                for (size_t i = 0; i < m; i++)
                        kept[order[i]] = true;

                SamplerParams p = SAMPLER_PARAMS_INIT;
                p.top_p = (float) top_p;
                p.seed = m;
                Sampler *s = make_sampler(&p, V);
                for (size_t d = 0; d < N; d++) {
                        int t = sampler_sample(s, logits);
                        assert_true(t >= 0 && t < V);
                        if (!kept[t])
                                fail_msg("top_p %.6f (cut after %zu tokens): drew token %d, ranked outside", top_p, m, t);
                        seen[t]++;
                }
                for (size_t i = 0; i < m; i++)
                        if (!seen[order[i]])
                                fail_msg("top_p %.6f (cut after %zu tokens): token %zu (rank %zu) never drawn in %d",
                                         top_p, m, order[i], i, N);
                sampler_free(s);
        }
        free(logits);
}

static void test_sampler_sample_top_p_large_vocab(void **state) {
        enum { V = 262144 };
        float *logits = random_logits(V, 31, -8.0f, 8.0f);
        double *prob = malloc(V * sizeof(double));
        assert_non_null(prob);
        softmax_ref(logits, V, 1.0, prob);

        /* The smallest logit still inside top_p = 0.5, found with a brute-force threshold search:
         * a token is allowed iff the mass of strictly better tokens is below 0.5. */
        double cut_mass = 0.0;
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.top_p = 0.5f;
        p.seed = 77;
        Sampler *s = make_sampler(&p, V);
        for (size_t d = 0; d < 30; d++) {
                int t = sampler_sample(s, logits);
                assert_true(t >= 0 && t < V);
                cut_mass = 0.0;
                for (size_t i = 0; i < V; i++)
                        if (logits[i] > logits[t] || (logits[i] == logits[t] && (int) i < t))
                                cut_mass += prob[i];
                if (cut_mass >= 0.5 + 1e-6)
                        fail_msg("draw %zu: token %d has %.6f of the mass ahead of it (top_p 0.5)", d, t, cut_mass);
        }
        sampler_free(s);

        p.top_k = 40;
        p.top_p = 0.9f;
        p.min_p = 0.05f;
        s = make_sampler(&p, V);
        for (size_t d = 0; d < 30; d++) {
                int t = sampler_sample(s, logits);
                assert_true(t >= 0 && t < V);
                assert_true(in_top_k(logits, V, 40, t));
        }
        sampler_free(s);
        free(prob);
        free(logits);
}

static void test_sampler_sample_min_p_excludes(void **state) {
        /* Largest probability 0.5: min_p = 0.35 cuts at 0.175, keeping 0.5 (id 1) and 0.2 (id 3),
         * renormalised to 5/7 and 2/7. */
        static const double want[5] = { 0.0, 0.5 / 0.7, 0.0, 0.2 / 0.7, 0.0 };
        float l[5];
        known_logits(l);

        static const uint32_t ks[] = { 0, 3 };
        for (size_t j = 0; j < N_ELEMS(ks); j++) {
                SamplerParams p = SAMPLER_PARAMS_INIT;
                char what[64];
                p.min_p = 0.35f;
                p.top_k = ks[j];
                p.seed = 8 + j;
                Sampler *s = make_sampler(&p, 5);
                for (size_t d = 0; d < 10000; d++) {
                        int t = sampler_sample(s, l);
                        if (t != 1 && t != 3)
                                fail_msg("min_p 0.35, top_k %u: draw %zu returned excluded token %d", ks[j], d, t);
                }
                snprintf(what, sizeof(what), "min_p 0.35, top_k %u", ks[j]);
                check_frequencies(what, s, l, want, 5, 20000);
                sampler_free(s);
        }

        /* top_p then min_p: top_p 0.8 keeps 0.5, 0.2, 0.15; min_p 0.35 then drops 0.15. */
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.top_p = 0.8f;
        p.min_p = 0.35f;
        Sampler *s = make_sampler(&p, 5);
        check_frequencies("top_p 0.8 + min_p 0.35", s, l, want, 5, 20000);
        sampler_free(s);
}

/* ---- distribution -------------------------------------------------------------------------- */

static void test_sampler_sample_distribution(void **state) {
        static const float l[6] = { 1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f };
        double want[6];
        SamplerParams p = SAMPLER_PARAMS_INIT;

        softmax_ref(l, 6, 1.0, want);
        p.seed = 2024;
        Sampler *s = make_sampler(&p, 6);
        check_frequencies("temperature 1", s, l, want, 6, 20000);
        sampler_free(s);

        softmax_ref(l, 6, 0.5, want);
        p.temperature = 0.5f;
        s = make_sampler(&p, 6);
        check_frequencies("temperature 0.5", s, l, want, 6, 20000);
        sampler_free(s);

        /* top_k = 3 keeps ids 4, 1, 0 and renormalises their temperature-2 softmax. */
        static const float kept[6] = { 1.0f, 2.0f, -INFINITY, -INFINITY, 3.0f, -INFINITY };
        softmax_ref(kept, 6, 2.0, want);
        p.temperature = 2.0f;
        p.top_k = 3;
        s = make_sampler(&p, 6);
        check_frequencies("temperature 2, top_k 3", s, l, want, 6, 20000);
        sampler_free(s);
}

/* ---- penalties ----------------------------------------------------------------------------- */

static void test_sampler_sample_repeat_penalty(void **state) {
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 0.0f;
        p.repeat_penalty = 1.25f;
        p.repeat_last_n = 2;
        Sampler *s = make_sampler(&p, 4);

        /* Positive logits are divided: 2.0 / 1.25 = 1.6 < 1.8, so id 1 wins once id 0 was seen. */
        float pos[4] = { 2.0f, 1.8f, -0.5f, 1.0f };
        float copy[4];
        memcpy(copy, pos, sizeof(pos));
        assert_int_equal(sampler_sample(s, pos), 0);
        assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, pos), 1);
        assert_memory_equal(pos, copy, sizeof(pos));  /* the caller's logits are left alone */

        /* The window is 2 tokens: after 2 and 3, token 0 is forgotten. */
        assert_int_equal(sampler_accept(s, 2), 0);
        assert_int_equal(sampler_sample(s, pos), 1);
        assert_int_equal(sampler_accept(s, 3), 0);
        assert_int_equal(sampler_sample(s, pos), 0);
        sampler_free(s);

        /* Negative logits are multiplied: -1.0 * 1.25 = -1.25 < -1.1 (dividing would give -0.8). */
        float neg[3] = { -1.0f, -1.1f, -3.0f };
        s = make_sampler(&p, 3);
        assert_int_equal(sampler_sample(s, neg), 0);
        assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, neg), 1);
        sampler_free(s);

        /* Once per token however often seen: 2.0 / 1.25 = 1.6 > 1.5 (three times would be 1.024). */
        float once[2] = { 2.0f, 1.5f };
        p.repeat_last_n = 8;
        s = make_sampler(&p, 2);
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, once), 0);
        sampler_free(s);

        /* repeat_last_n = 0: no history, no penalty. */
        p.repeat_last_n = 0;
        s = make_sampler(&p, 4);
        assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, pos), 0);
        sampler_free(s);
}

static void test_sampler_sample_presence_penalty(void **state) {
        SamplerParams p = SAMPLER_PARAMS_INIT;
        p.temperature = 0.0f;
        p.presence_penalty = 0.25f;
        p.repeat_last_n = 16;
        Sampler *s = make_sampler(&p, 3);

        /* 2.0 - 0.25 = 1.75 < 1.9. Subtracted once: seen twice it is still 1.75 > 1.7 for id 2. */
        float l[3] = { 2.0f, 1.9f, 1.7f };
        assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, l), 1);
        assert_int_equal(sampler_accept(s, 1), 0);
        assert_int_equal(sampler_accept(s, 1), 0);
        /* now 1.75, 1.65, 1.7 */
        assert_int_equal(sampler_sample(s, l), 0);
        sampler_free(s);

        /* Both together: repeat first, then presence. (-1.0 * 1.5) - 0.5 = -2.0 < -1.9. */
        p.repeat_penalty = 1.5f;
        p.presence_penalty = 0.5f;
        float n[2] = { -1.0f, -1.9f };
        s = make_sampler(&p, 2);
        assert_int_equal(sampler_accept(s, 0), 0);
        assert_int_equal(sampler_sample(s, n), 1);
        sampler_free(s);

        /* Negative presence penalty favours seen tokens: 1.0 + 0.5 = 1.5 > 1.4. */
        p.repeat_penalty = 1.0f;
        p.presence_penalty = -0.5f;
        float f[2] = { 1.4f, 1.0f };
        s = make_sampler(&p, 2);
        assert_int_equal(sampler_accept(s, 1), 0);
        assert_int_equal(sampler_sample(s, f), 1);
        sampler_free(s);
}

static void test_sampler_accept_out_of_range(void **state) {
        SamplerParams p = SAMPLER_PARAMS_INIT;
        Sampler *s = make_sampler(&p, 10);
        assert_int_equal(sampler_accept(s, -1), -EINVAL);
        assert_int_equal(sampler_accept(s, 10), -EINVAL);
        assert_int_equal(sampler_accept(s, 9), 0);
        sampler_free(s);
}

/* ---- validation ---------------------------------------------------------------------------- */

typedef struct BadParam {
        const char *name;   /* must appear in the message */
        const char *range;  /* and so must the allowed range */
        SamplerParams p;
} BadParam;

static void test_sampler_params_validate_rejects(void **state) {
        SamplerParams ok = SAMPLER_PARAMS_INIT;
        BadParam bad[] = {
                { "temperature", ">= 0", ok },  { "temperature", ">= 0", ok },
                { "temperature", ">= 0", ok },  { "top_p", "(0, 1]", ok },
                { "top_p", "(0, 1]", ok },       { "top_p", "(0, 1]", ok },
                { "min_p", "[0, 1]", ok },       { "min_p", "[0, 1]", ok },
                { "min_p", "[0, 1]", ok },       { "repeat_penalty", "> 0", ok },
                { "repeat_penalty", "> 0", ok }, { "repeat_penalty", "> 0", ok },
                { "presence_penalty", "finite", ok }, { "presence_penalty", "finite", ok },
                { "repeat_last_n", "[0, 131072]", ok },
        };
        bad[0].p.temperature = -0.1f;
        bad[1].p.temperature = NAN;
        bad[2].p.temperature = INFINITY;
        bad[3].p.top_p = 0.0f;
        bad[4].p.top_p = 1.5f;
        bad[5].p.top_p = NAN;
        bad[6].p.min_p = -0.01f;
        bad[7].p.min_p = 1.01f;
        bad[8].p.min_p = NAN;
        bad[9].p.repeat_penalty = 0.0f;
        bad[10].p.repeat_penalty = -1.0f;
        bad[11].p.repeat_penalty = INFINITY;
        bad[12].p.presence_penalty = NAN;
        bad[13].p.presence_penalty = -INFINITY;
        bad[14].p.repeat_last_n = SAMPLER_REPEAT_LAST_N_MAX + 1;

        assert_int_equal(sampler_params_validate(&ok, NULL), 0);
        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                GemmaError err = { 0 };
                Sampler *s = (Sampler *) &err;  /* a sentinel: must stay untouched */

                assert_int_equal(sampler_params_validate(&bad[i].p, &err), -EINVAL);
                if (!strstr(err.message, bad[i].name) || !strstr(err.message, bad[i].range))
                        fail_msg("case %zu: message '%s' does not name '%s' and '%s'", i, err.message,
                                 bad[i].name, bad[i].range);
                assert_int_equal(err.code, -EINVAL);

                memset(&err, 0, sizeof(err));
                assert_int_equal(sampler_new(&bad[i].p, 100, &s, &err), -EINVAL);
                assert_ptr_equal(s, (Sampler *) &err);
                assert_non_null(strstr(err.message, bad[i].name));
        }

        /* Edges that are allowed. */
        SamplerParams edge = ok;
        edge.temperature = 0.0f;
        edge.top_p = 1.0f;
        edge.min_p = 1.0f;
        edge.repeat_penalty = 1e-3f;
        edge.presence_penalty = -2.0f;
        edge.repeat_last_n = SAMPLER_REPEAT_LAST_N_MAX;
        edge.top_k = UINT32_MAX;
        assert_int_equal(sampler_params_validate(&edge, NULL), 0);

        GemmaError err = { 0 };
        Sampler *s = NULL;
        assert_int_equal(sampler_new(&ok, 0, &s, &err), -EINVAL);
        assert_null(s);
        assert_non_null(strstr(err.message, "n_vocab"));
        assert_int_equal(sampler_params_validate(NULL, NULL), -EINVAL);

        /* top_k above the vocabulary means "all". */
        edge.temperature = 1.0f;
        edge.min_p = 0.0f;
        s = make_sampler(&edge, 3);
        float l[3] = { 0.0f, 0.0f, 0.0f };
        assert_in_range(sampler_sample(s, l), 0, 2);
        sampler_free(s);
        assert_null(sampler_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sampler_rng_known_values),
                cmocka_unit_test(test_sampler_sample_same_seed_same_sequence),
                cmocka_unit_test(test_sampler_sample_different_seed_differs),
                cmocka_unit_test(test_sampler_sample_greedy_argmax),
                cmocka_unit_test(test_sampler_sample_no_finite_logit),
                cmocka_unit_test(test_sampler_sample_top_k_bounds),
                cmocka_unit_test(test_sampler_sample_top_p_excludes),
                cmocka_unit_test(test_sampler_sample_top_p_distribution),
                cmocka_unit_test(test_sampler_sample_top_p_exact_sets),
                cmocka_unit_test(test_sampler_sample_top_p_large_vocab),
                cmocka_unit_test(test_sampler_sample_min_p_excludes),
                cmocka_unit_test(test_sampler_sample_distribution),
                cmocka_unit_test(test_sampler_sample_repeat_penalty),
                cmocka_unit_test(test_sampler_sample_presence_penalty),
                cmocka_unit_test(test_sampler_accept_out_of_range),
                cmocka_unit_test(test_sampler_params_validate_rejects),
        };
        return cmocka_run_group_tests_name("sampler.c", tests, NULL, NULL);
}
