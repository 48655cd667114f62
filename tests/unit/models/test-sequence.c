/* Sequence: a conversation stepped one prefill chunk or one token at a time. Chunked prefill and
 * one-shot prefill give the same answer, turns continue the same KV, cancel ends a turn at the
 * next step, and context and state errors leave the sequence as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gemma3n/make-test.h"
#include "harness/test-model.h"
#include "text/sequence.h"

typedef TestModel Fixture;

static int setup(void **state) {
        *state = test_model_new(NULL);
        return 0;
}

static int teardown(void **state) {
        test_model_free(*state);
        return 0;
}


static const int32_t prompt[] = { 2, 5, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110 };
#define N_PROMPT (sizeof(prompt) / sizeof(prompt[0]))

static TurnParams greedy(uint32_t max_tokens) {
        TurnParams p = { .sampling = SAMPLER_PARAMS_INIT, .max_tokens = max_tokens };
        p.sampling.temperature = 0;
        return p;
}

/* Runs a turn to its end with prefill chunks of `chunk`; returns the steps taken. */
static unsigned run_turn(Sequence *s, uint32_t chunk, TestText *out) {
        SequenceStep step;
        GemmaError err = { 0 };
        unsigned steps = 0;
        do {
                if (sequence_step(s, NULL, chunk, test_text_collect, out, &step, &err) < 0)
                        fail_msg("step: %s", err.message);
                steps++;
        } while (step != SEQUENCE_FINISHED);
        return steps;
}

static void test_sequence_chunked_prefill_same_answer(void **state) {
        Fixture *fx = *state;
        TestText one = { 0 }, chunked = { 0 };
        for (int variant = 0; variant < 2; variant++) {
                Sequence *s = NULL;
                GemmaError err = { 0 };
                TurnParams p = greedy(12);
                assert_int_equal(sequence_new(fx->model, fx->tok, 256, &s, &err), 0);
                assert_int_equal(sequence_queue(s, prompt, N_PROMPT, &err), 0);
                assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), 0);
                unsigned steps = run_turn(s, variant ? 4 : UINT32_MAX, variant ? &chunked : &one);
                const SequenceStats *st = sequence_stats(s);
                assert_int_equal(st->n_prompt, N_PROMPT);
                assert_int_equal(st->finish, FINISH_LENGTH);
                assert_int_equal(st->n_generated, 12);
                /* Prefill chunks of 4 over 13 tokens: 3 extra steps before the first token. */
                assert_int_equal(steps, variant ? 12 + 3 + 1 : 12 + 1);
                sequence_free(s);
        }
        assert_true(one.len > 0);
        assert_int_equal(one.len, chunked.len);
        assert_memory_equal(one.buf, chunked.buf, one.len);
}

static void test_sequence_second_turn_continues_kv(void **state) {
        Fixture *fx = *state;
        Sequence *s = NULL;
        GemmaError err = { 0 };
        TestText t = { 0 };
        TurnParams p = greedy(5);
        assert_int_equal(sequence_new(fx->model, fx->tok, 256, &s, &err), 0);
        assert_int_equal(sequence_queue(s, prompt, N_PROMPT, &err), 0);
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), 0);
        run_turn(s, 64, &t);
        /* Ended by length: the last token is kept queued for the next turn; 4 are computed. */
        assert_int_equal(sequence_n_past(s), N_PROMPT + 4);
        assert_int_equal(sequence_n_queued(s), 1);
        const int32_t more[] = { 200, 201, 202 };
        assert_int_equal(sequence_queue(s, more, 3, &err), 0);
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), 0);
        run_turn(s, 64, &t);
        assert_int_equal(sequence_stats(s)->n_prompt, 4);
        assert_int_equal(sequence_n_past(s), N_PROMPT + 4 + 4 + 4);
        sequence_free(s);
}

static void test_sequence_cancel_and_state_errors(void **state) {
        Fixture *fx = *state;
        Sequence *s = NULL;
        GemmaError err = { 0 };
        TestText t = { 0 };
        SequenceStep step;
        TurnParams p = greedy(100);
        assert_int_equal(sequence_new(fx->model, fx->tok, 32, &s, &err), 0);
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), -EINVAL);   /* nothing queued */
        assert_int_equal(sequence_queue(s, prompt, N_PROMPT, &err), 0);
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), 0);
        assert_true(sequence_turn_running(s));
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), -EBUSY);
        assert_int_equal(sequence_step(s, NULL, 64, test_text_collect, &t, &step, &err), 0);
        assert_int_equal(step, SEQUENCE_PREFILLED);   /* the prompt, in one chunk */
        assert_int_equal(sequence_step(s, NULL, 64, test_text_collect, &t, &step, &err), 0);
        assert_int_equal(step, SEQUENCE_TOKEN);
        sequence_cancel(s);
        assert_int_equal(sequence_step(s, NULL, 64, test_text_collect, &t, &step, &err), 0);
        assert_int_equal(step, SEQUENCE_FINISHED);
        assert_int_equal(sequence_stats(s)->finish, FINISH_CANCELLED);
        assert_false(sequence_turn_running(s));

        /* 32 positions, 15 used or queued: 17 more would leave no room to answer. */
        int32_t many[17];
        for (int i = 0; i < 17; i++)
                many[i] = 10 + i;
        uint32_t queued = sequence_n_queued(s), past = sequence_n_past(s);
        assert_int_equal(sequence_queue(s, many, 32 - past - queued, &err), -EMSGSIZE);
        assert_non_null(strstr(err.message, "the context holds 32"));
        assert_int_equal(sequence_n_queued(s), queued);
        int32_t bad = (int32_t) fx->model->hp.n_vocab;
        assert_int_equal(sequence_queue(s, &bad, 1, &err), -EINVAL);
        assert_int_equal(sequence_n_queued(s), queued);
        sequence_free(s);
}

static void test_sequence_reaches_context_end(void **state) {
        Fixture *fx = *state;
        Sequence *s = NULL;
        GemmaError err = { 0 };
        TestText t = { 0 };
        TurnParams p = greedy(1000);
        assert_int_equal(sequence_new(fx->model, fx->tok, 20, &s, &err), 0);
        assert_int_equal(sequence_queue(s, prompt, N_PROMPT, &err), 0);
        assert_int_equal(sequence_begin_turn(s, &p, NULL, &err), 0);
        run_turn(s, 64, &t);
        const SequenceStats *st = sequence_stats(s);
        /* Unless the model ends its turn first, the context (20) ends it with reason length. */
        if (st->finish != FINISH_STOP) {
                assert_int_equal(st->finish, FINISH_LENGTH);
                assert_true(sequence_n_past(s) + 1 >= sequence_n_ctx(s));
        }
        assert_true(sequence_n_past(s) + sequence_n_queued(s) <= 20);
        sequence_free(s);
}

/* A slice switch between turns: the second turn, computed after the switch, equals a cold run of
 * the new slice over the same tokens (the context is recomputed, never mixed). */
static void test_sequence_slice_switch_recomputes(void **state) {
        Fixture *fx = *state;
        Sequence *a = NULL, *b = NULL;
        GemmaError err = { 0 };
        TestText first = { 0 }, after = { 0 }, cold = { 0 };
        TurnParams p = greedy(6);
        Gemma3nSlice narrow;
        const int32_t more[] = { 200, 201, 202, 203 };

        assert_int_equal(gemma3n_slice_uniform(fx->model, 64, &narrow, &err), 0);
        assert_int_equal(sequence_new(fx->model, fx->tok, 256, &a, &err), 0);
        assert_int_equal(sequence_queue(a, prompt, N_PROMPT, &err), 0);
        assert_int_equal(sequence_begin_turn(a, &p, NULL, &err), 0);
        run_turn(a, 64, &first);
        /* The context so far: the prompt, the answer, and the kept last token. */
        uint32_t n_hist;
        const int32_t *hist = sequence_history(a, &n_hist);
        int32_t context[256];
        memcpy(context, hist, n_hist * sizeof(int32_t));
        uint32_t n = n_hist;
        assert_int_equal(sequence_n_queued(a), 1);
        assert_int_equal(sequence_queue(a, more, 4, &err), 0);
        assert_int_equal(sequence_begin_turn(a, &p, &narrow, &err), 0);
        /* Everything the full model computed is queued again in front of the new tokens. */
        assert_int_equal(sequence_n_past(a), 0);
        assert_int_equal(sequence_n_queued(a), n_hist + 1 + 4);
        run_turn(a, 64, &after);

        /* Cold: the same tokens (history, the kept token, the 4 new ones) through the narrow
         * slice from the start. */
        uint32_t n2;
        const int32_t *h2 = sequence_history(a, &n2);
        assert_true(n2 >= n + 1 + 4);
        assert_memory_equal(h2, context, n * sizeof(int32_t));
        assert_int_equal(sequence_new(fx->model, fx->tok, 256, &b, &err), 0);
        assert_int_equal(sequence_queue(b, h2, n + 5, &err), 0);
        if (sequence_begin_turn(b, &p, &narrow, &err) < 0)
                fail_msg("%s", err.message);
        run_turn(b, 64, &cold);
        assert_true(after.len > 0);
        assert_int_equal(after.len, cold.len);
        assert_memory_equal(after.buf, cold.buf, cold.len);
        sequence_free(a);
        sequence_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sequence_chunked_prefill_same_answer),
                cmocka_unit_test(test_sequence_second_turn_continues_kv),
                cmocka_unit_test(test_sequence_cancel_and_state_errors),
                cmocka_unit_test(test_sequence_reaches_context_end),
                cmocka_unit_test(test_sequence_slice_switch_recomputes),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
