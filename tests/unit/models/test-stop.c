/* Unit tests for models/text/stop.c. Expected outputs are written by hand or come from a
 * brute-force reference in this file (scan every end position of the whole text, take the first
 * where a stop string ends), which every chunking of the same text must reproduce. */
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

#include "text/stop.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- helpers ----------------------------------------------------------------------------- */

static StopMatcher *make_matcher(const char *const *stops, size_t n) {
        GemmaError err = { 0 };
        StopMatcher *m = NULL;
        int r = stop_matcher_new(stops, n, &m, &err);
        if (r < 0)
                fail_msg("stop_matcher_new: %d %s", r, err.message);
        return m;
}

/* What a run produced: everything emitted, and the stop (or -1 if it ran to the flush). */
typedef struct Run {
        char out[4096];
        size_t n_out;
        int stop_index;
} Run;

static void run_append(Run *run, const StopMatch *o) {
        assert_true(run->n_out + o->n_bytes < sizeof(run->out));
        memcpy(run->out + run->n_out, o->text, o->n_bytes);
        run->n_out += o->n_bytes;
        run->out[run->n_out] = '\0';
}

/* Feeds text cut at the given offsets (ascending, each in [0, len]), then flushes if no stop.
 * Checks after every call that what has been emitted is a prefix of want_out. */
static void run_chunks(StopMatcher *m, const char *text, const size_t *cuts, size_t n_cuts, const char *want_out,
                       Run *run) {
        size_t len = strlen(text);
        size_t from = 0;
        StopMatch o;
        int r = 0;

        stop_matcher_reset(m);
        *run = (Run) { .stop_index = -1 };
        for (size_t c = 0; c <= n_cuts && r == 0; c++) {
                size_t to = c < n_cuts ? cuts[c] : len;
                r = stop_matcher_feed(m, text + from, to - from, &o);
                assert_true(r == 0 || r == 1);
                run_append(run, &o);
                if (strncmp(run->out, want_out, run->n_out) != 0 || run->n_out > strlen(want_out))
                        fail_msg("'%s' emitted '%s' after byte %zu; not a prefix of '%s'", text, run->out, to,
                                 want_out);
                assert_int_equal(o.stop_index, r == 1 ? o.stop_index : -1);
                if (r == 1)
                        run->stop_index = o.stop_index;
                from = to;
        }
        if (r == 0) {
                assert_int_equal(stop_matcher_flush(m, &o), 0);
                run_append(run, &o);
        }
        assert_int_equal(stop_matcher_n_held(m), 0);
}

static void check_run(const char *what, const Run *run, const char *want_out, int want_stop) {
        if (strcmp(run->out, want_out) != 0 || run->stop_index != want_stop)
                fail_msg("%s: emitted '%s' stop %d, want '%s' stop %d", what, run->out, run->stop_index, want_out,
                         want_stop);
}

/* Every single cut and every pair of cuts of text must give the same result. */
static void check_all_splits(const char *const *stops, size_t n_stops, const char *text, const char *want_out,
                             int want_stop) {
        StopMatcher *m = make_matcher(stops, n_stops);
        size_t len = strlen(text);
        char what[128];
        Run run;

        run_chunks(m, text, NULL, 0, want_out, &run);
        check_run(text, &run, want_out, want_stop);
        for (size_t i = 0; i <= len; i++) {
                size_t cut1[1] = { i };
                run_chunks(m, text, cut1, 1, want_out, &run);
                snprintf(what, sizeof(what), "'%s' cut at %zu", text, i);
                check_run(what, &run, want_out, want_stop);
                for (size_t j = i; j <= len; j++) {
                        size_t cut2[2] = { i, j };
                        run_chunks(m, text, cut2, 2, want_out, &run);
                        snprintf(what, sizeof(what), "'%s' cut at %zu and %zu", text, i, j);
                        check_run(what, &run, want_out, want_stop);
                }
        }
        /* One byte at a time. */
        size_t *cuts = malloc((len + 1) * sizeof(size_t));
        assert_non_null(cuts);
        for (size_t i = 0; i <= len; i++)
                cuts[i] = i;
        run_chunks(m, text, cuts, len + 1, want_out, &run);
        snprintf(what, sizeof(what), "'%s' byte by byte", text);
        check_run(what, &run, want_out, want_stop);
        free(cuts);
        stop_matcher_free(m);
}

/* ---- stop_matcher_feed --------------------------------------------------------------------- */

static void test_stop_matcher_feed_split_everywhere(void **state) {
        static const char *const gemma[] = { "<end_of_turn>", "<eos>" };

        check_all_splits(gemma, 2, "Hello <end_of_turn> world", "Hello ", 0);
        check_all_splits(gemma, 2, "<end_of_turn>", "", 0);
        check_all_splits(gemma, 2, "abc<eos>", "abc", 1);
        check_all_splits(gemma, 2, "no stop here", "no stop here", -1);
        check_all_splits(gemma, 2, "a <end_of_tur", "a <end_of_tur", -1);  /* released by the flush */
        check_all_splits(gemma, 2, "<<end_of_turn>", "<", 0);
        check_all_splits(gemma, 2, "<e<eos>", "<e", 1);
        check_all_splits(gemma, 2, "x<end_of<eos>y", "x<end_of", 1);
}

static void test_stop_matcher_feed_releases_partial(void **state) {
        static const char *const stops[] = { "<end_of_turn>" };
        StopMatcher *m = make_matcher(stops, 1);
        StopMatch o;

        assert_int_equal(stop_matcher_feed(m, "abc<end", 7, &o), 0);
        assert_int_equal(o.n_bytes, 3);
        assert_memory_equal(o.text, "abc", 3);
        assert_int_equal(o.stop_index, -1);
        assert_int_equal(stop_matcher_n_held(m), 4);

        /* "<end" + "ing" can no longer become the stop string: all of it goes out. */
        assert_int_equal(stop_matcher_feed(m, "ing", 3, &o), 0);
        assert_int_equal(o.n_bytes, 7);
        assert_memory_equal(o.text, "<ending", 7);
        assert_int_equal(stop_matcher_n_held(m), 0);

        /* A held "<" followed by a new "<": only the first is released. */
        assert_int_equal(stop_matcher_feed(m, "<", 1, &o), 0);
        assert_int_equal(o.n_bytes, 0);
        assert_int_equal(stop_matcher_feed(m, "<e", 2, &o), 0);
        assert_int_equal(o.n_bytes, 1);
        assert_memory_equal(o.text, "<", 1);
        assert_int_equal(stop_matcher_n_held(m), 2);

        /* An empty feed changes nothing. */
        assert_int_equal(stop_matcher_feed(m, NULL, 0, &o), 0);
        assert_int_equal(o.n_bytes, 0);
        assert_int_equal(stop_matcher_n_held(m), 2);
        stop_matcher_free(m);

        /* Self-overlapping stop "aab" in "aaab": the first 'a' is released once a third one
         * arrives, and the stop starts at the second. */
        static const char *const aab[] = { "aab" };
        m = make_matcher(aab, 1);
        assert_int_equal(stop_matcher_feed(m, "aa", 2, &o), 0);
        assert_int_equal(o.n_bytes, 0);
        assert_int_equal(stop_matcher_feed(m, "a", 1, &o), 0);
        assert_int_equal(o.n_bytes, 1);
        assert_memory_equal(o.text, "a", 1);
        assert_int_equal(stop_matcher_feed(m, "b", 1, &o), 1);
        assert_int_equal(o.n_bytes, 0);
        assert_int_equal(o.stop_index, 0);
        stop_matcher_free(m);

        check_all_splits(aab, 1, "aaab", "a", 0);
        check_all_splits(aab, 1, "aaaaaab!", "aaaa", 0);
        static const char *const abab[] = { "abac" };
        check_all_splits(abab, 1, "ababac", "ab", 0);
        check_all_splits(abab, 1, "ababab", "ababab", -1);
}

static void test_stop_matcher_feed_multiple_stops(void **state) {
        /* The first stop to complete wins, even if a longer one started earlier. */
        static const char *const a[] = { "abcd", "bc" };
        check_all_splits(a, 2, "xabcd", "xa", 1);

        /* Both complete at the same byte: the longer (earlier start) wins, whatever the order. */
        static const char *const b[] = { "bc", "abc" };
        check_all_splits(b, 2, "zabc", "z", 1);
        static const char *const c[] = { "abc", "bc" };
        check_all_splits(c, 2, "zabc", "z", 0);

        /* Equal strings: the lower index. */
        static const char *const d[] = { "ab", "ab" };
        check_all_splits(d, 2, "xxab", "xx", 0);

        /* Shared prefixes: "<end>" vs "<end_of_turn>". */
        static const char *const e[] = { "<end_of_turn>", "<end>" };
        check_all_splits(e, 2, "hi <end_of_turn>", "hi ", 0);
        check_all_splits(e, 2, "hi <end> there", "hi ", 1);
        check_all_splits(e, 2, "hi <end_x", "hi <end_x", -1);

        /* Many stop strings; only the one present fires. */
        static const char *const many[] = { "USER:", "\n\n\n", "</s>", "<|im_end|>", "###" };
        check_all_splits(many, 5, "answer\n\nmore##\n\n\nnext", "answer\n\nmore##", 1);
        check_all_splits(many, 5, "x</s", "x</s", -1);
}

/* Brute force over the whole text: the first end position where any stop string ends; among
 * those the longest; among equal ones the lowest index. */
static int reference_stop(const char *const *stops, size_t n_stops, const char *text, size_t *ret_before) {
        size_t len = strlen(text);
        for (size_t end = 1; end <= len; end++) {
                int best = -1;
                size_t best_len = 0;
                for (size_t i = 0; i < n_stops; i++) {
                        size_t l = strlen(stops[i]);
                        if (l <= end && memcmp(text + end - l, stops[i], l) == 0 && l > best_len) {
                                best = (int) i;
                                best_len = l;
                        }
                }
                if (best >= 0) {
                        *ret_before = end - best_len;
                        return best;
                }
        }
        *ret_before = len;
        return -1;
}

static void test_stop_matcher_feed_random_chunks(void **state) {
        static const char *const stops[] = { "abc", "bca", "cc", "aab", "abab" };
        StopMatcher *m = make_matcher(stops, N_ELEMS(stops));
        uint64_t x = 0x1234567;  /* seed, printed on failure through the text itself */

        for (size_t round = 0; round < 2000; round++) {
                char text[33];
                char want[33];
                size_t cuts[8];
                size_t len;
                size_t before;
                Run run;

                x = x * 6364136223846793005u + 1442695040888963407u;
                len = 1 + (x >> 59);  /* 1..32 */
                for (size_t i = 0; i < len; i++) {
                        x = x * 6364136223846793005u + 1442695040888963407u;
                        text[i] = "abcx"[(x >> 60) & 3];
                }
                text[len] = '\0';
                int want_stop = reference_stop(stops, N_ELEMS(stops), text, &before);
                memcpy(want, text, before);
                want[before] = '\0';

                size_t n_cuts = (x >> 20) % N_ELEMS(cuts);
                for (size_t c = 0; c < n_cuts; c++) {
                        x = x * 6364136223846793005u + 1442695040888963407u;
                        cuts[c] = (x >> 33) % (len + 1);
                }
                for (size_t c = 1; c < n_cuts; c++)  /* insertion sort: cuts must ascend */
                        for (size_t k = c; k > 0 && cuts[k - 1] > cuts[k]; k--) {
                                size_t t = cuts[k];
                                cuts[k] = cuts[k - 1];
                                cuts[k - 1] = t;
                        }
                run_chunks(m, text, cuts, n_cuts, want, &run);
                check_run(text, &run, want, want_stop);
        }
        stop_matcher_free(m);
}

static void test_stop_matcher_feed_large_chunk(void **state) {
        static const char *const stops[] = { "<end_of_turn>" };
        StopMatcher *m = make_matcher(stops, 1);
        size_t n = 100000;
        char *big = malloc(n + 32);
        StopMatch o;

        assert_non_null(big);
        memset(big, 'y', n);
        memcpy(big + n, "<end_of_turn>tail", 17);
        assert_int_equal(stop_matcher_feed(m, big, n + 5, &o), 0);
        assert_int_equal(o.n_bytes, n);
        assert_int_equal(stop_matcher_n_held(m), 5);
        assert_int_equal(stop_matcher_feed(m, big + n + 5, 12, &o), 1);
        assert_int_equal(o.n_bytes, 0);
        assert_int_equal(o.stop_index, 0);
        free(big);
        stop_matcher_free(m);
}

static void test_stop_matcher_feed_no_stops(void **state) {
        StopMatcher *m = make_matcher(NULL, 0);
        StopMatch o;

        assert_int_equal(stop_matcher_feed(m, "<end_of_turn>", 13, &o), 0);
        assert_int_equal(o.n_bytes, 13);
        assert_int_equal(stop_matcher_n_held(m), 0);
        stop_matcher_free(m);
}

/* ---- flush, reset, stopped state ----------------------------------------------------------- */

static void test_stop_matcher_flush_and_stale(void **state) {
        static const char *const stops[] = { "STOP" };
        StopMatcher *m = make_matcher(stops, 1);
        StopMatch o;

        assert_int_equal(stop_matcher_feed(m, "abST", 4, &o), 0);
        assert_int_equal(o.n_bytes, 2);
        assert_int_equal(stop_matcher_flush(m, &o), 0);
        assert_int_equal(o.n_bytes, 2);
        assert_memory_equal(o.text, "ST", 2);
        assert_int_equal(o.stop_index, -1);
        assert_int_equal(stop_matcher_n_held(m), 0);

        /* Usable again after a flush. */
        assert_int_equal(stop_matcher_feed(m, "xSTOPy", 6, &o), 1);
        assert_int_equal(o.n_bytes, 1);
        assert_memory_equal(o.text, "x", 1);
        assert_int_equal(stop_matcher_feed(m, "z", 1, &o), -ESTALE);
        assert_int_equal(stop_matcher_flush(m, &o), -ESTALE);
        assert_int_equal(stop_matcher_n_held(m), 0);

        stop_matcher_reset(m);
        assert_int_equal(stop_matcher_feed(m, "S", 1, &o), 0);
        assert_int_equal(o.n_bytes, 0);
        stop_matcher_reset(m);
        assert_int_equal(stop_matcher_n_held(m), 0);
        assert_int_equal(stop_matcher_feed(m, "q", 1, &o), 0);
        assert_int_equal(o.n_bytes, 1);
        assert_memory_equal(o.text, "q", 1);
        stop_matcher_free(m);
        assert_null(stop_matcher_free(NULL));
}

/* ---- stop_matcher_new ---------------------------------------------------------------------- */

static void test_stop_matcher_new_rejects(void **state) {
        StopMatcher *sentinel = (StopMatcher *) &sentinel;
        StopMatcher *m = sentinel;
        GemmaError err = { 0 };

        static const char *const empty[] = { "a", "" };
        assert_int_equal(stop_matcher_new(empty, 2, &m, &err), -EINVAL);
        assert_ptr_equal(m, sentinel);
        assert_non_null(strstr(err.message, "stop string 1 is empty"));

        const char *const missing[] = { NULL };
        assert_int_equal(stop_matcher_new(missing, 1, &m, &err), -EINVAL);
        assert_non_null(strstr(err.message, "stop string 0"));
        assert_ptr_equal(m, sentinel);

        char *longer = malloc(STOP_MATCHER_STRING_BYTES_MAX + 2);
        assert_non_null(longer);
        memset(longer, 'x', STOP_MATCHER_STRING_BYTES_MAX + 1);
        longer[STOP_MATCHER_STRING_BYTES_MAX + 1] = '\0';
        const char *const too_long[] = { "ok", longer };
        assert_int_equal(stop_matcher_new(too_long, 2, &m, &err), -EINVAL);
        assert_non_null(strstr(err.message, "stop string 1"));
        longer[STOP_MATCHER_STRING_BYTES_MAX] = '\0';  /* exactly the limit is fine */
        assert_int_equal(stop_matcher_new(too_long, 2, &m, &err), 0);
        m = stop_matcher_free(m);
        free(longer);

        const char *lots[STOP_MATCHER_STRINGS_MAX + 1];
        for (size_t i = 0; i < N_ELEMS(lots); i++)
                lots[i] = "s";
        m = sentinel;
        assert_int_equal(stop_matcher_new(lots, N_ELEMS(lots), &m, &err), -EINVAL);
        assert_non_null(strstr(err.message, "too many"));
        assert_ptr_equal(m, sentinel);
        assert_int_equal(stop_matcher_new(lots, STOP_MATCHER_STRINGS_MAX, &m, &err), 0);
        stop_matcher_free(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_stop_matcher_feed_split_everywhere),
                cmocka_unit_test(test_stop_matcher_feed_releases_partial),
                cmocka_unit_test(test_stop_matcher_feed_multiple_stops),
                cmocka_unit_test(test_stop_matcher_feed_random_chunks),
                cmocka_unit_test(test_stop_matcher_feed_large_chunk),
                cmocka_unit_test(test_stop_matcher_feed_no_stops),
                cmocka_unit_test(test_stop_matcher_flush_and_stale),
                cmocka_unit_test(test_stop_matcher_new_rejects),
        };
        return cmocka_run_group_tests_name("stop.c", tests, NULL, NULL);
}
