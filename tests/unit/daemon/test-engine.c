/* Engine thread: loading events, a request gives exactly what the same Sequence gives when
 * stepped directly, cancel and release end requests as cancelled, requests of different
 * sequences are interleaved (round-robin), a clone continues exactly like its original, and a
 * bad model file is an event, not a crash. Events are awaited on the eventfd with poll(). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "gemma3n/make-test.h"
#include "harness/test-model.h"

typedef struct Fixture {
        char *dir;
        char path[512];
        Engine *engine;
} Fixture;

/* Everything the engine said, in order. */
typedef struct Log {
        EngineEvent *head, **tail;
} Log;

static void log_init(Log *l) {
        l->head = NULL;
        l->tail = &l->head;
}

static void log_done(Log *l) {
        engine_event_free_list(l->head);
        log_init(l);
}

/* Waits (poll on the eventfd, 60 s at most) until pred holds for the log. */
static void wait_for(Engine *e, Log *l, bool (*pred)(const Log *l, uint64_t arg), uint64_t arg) {
        for (int rounds = 0; !pred(l, arg); rounds++) {
                struct pollfd p = { .fd = engine_event_fd(e), .events = POLLIN };
                int r = poll(&p, 1, 60000);
                assert_true(r >= 0);
                if (r == 0)
                        fail_msg("no engine event for 60 s");
                EngineEvent *list = engine_take_events(e);
                *l->tail = list;
                while (*l->tail)
                        l->tail = &(*l->tail)->next;
        }
}

static const EngineEvent *find(const Log *l, EngineEventKind kind, uint64_t request_id) {
        for (const EngineEvent *e = l->head; e; e = e->next)
                if (e->kind == kind && (request_id == 0 || e->request_id == request_id))
                        return e;
        return NULL;
}

static bool loaded(const Log *l, uint64_t arg) {
        return find(l, ENGINE_EVENT_READY, 0) || find(l, ENGINE_EVENT_LOAD_FAILED, 0);
}

static bool finished(const Log *l, uint64_t request_id) {
        return find(l, ENGINE_EVENT_FINISHED, request_id) != NULL;
}

/* The text of one request, concatenated. */
static char *text_of(const Log *l, uint64_t request_id) {
        size_t n = 0;
        for (const EngineEvent *e = l->head; e; e = e->next)
                if (e->kind == ENGINE_EVENT_TEXT && e->request_id == request_id)
                        n += e->len;
        char *s = calloc(n + 1, 1);
        assert_non_null(s);
        n = 0;
        for (const EngineEvent *e = l->head; e; e = e->next)
                if (e->kind == ENGINE_EVENT_TEXT && e->request_id == request_id) {
                        memcpy(s + n, e->text, e->len);
                        n += e->len;
                }
        return s;
}

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(*fx));
        Gemma3nTestSpec spec;
        GemmaError err = {};
        Log l;

        gemma3n_test_spec_default(&spec);
        fx->dir = test_tmpdir();
        snprintf(fx->path, sizeof(fx->path), "%s/model.gguf", fx->dir);
        if (gemma3n_make_test_model(&spec, fx->path, &err) < 0)
                fail_msg("%s", err.message);
        EngineParams p = { .model_path = fx->path, .n_threads = 2, .prefill_chunk = 4, .prefault = true };
        if (engine_new(&p, &fx->engine, &err) < 0)
                fail_msg("%s", err.message);
        log_init(&l);
        wait_for(fx->engine, &l, loaded, 0);
        assert_non_null(find(&l, ENGINE_EVENT_READY, 0));
        /* Progress is reported and ends at 1. */
        const EngineEvent *last = NULL;
        for (const EngineEvent *e = l.head; e; e = e->next)
                if (e->kind == ENGINE_EVENT_LOAD_PROGRESS)
                        last = e;
        assert_non_null(last);
        assert_true(last->progress == 1.0);
        log_done(&l);
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;
        engine_free(fx->engine);
        test_tmpdir_remove(fx->dir);
        free(fx);
        return 0;
}

static const int32_t prompt[] = { 2, 5, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110 };

static TurnParams turn_params(uint32_t max_tokens, uint64_t seed) {
        TurnParams t = { .sampling = SAMPLER_PARAMS_INIT, .max_tokens = max_tokens };
        t.sampling.seed = seed;
        return t;
}

static void submit_keyed(Engine *e, uint64_t seq, uint64_t request, const int32_t *ids, size_t n, bool generate,
                         uint32_t max_tokens, uint64_t seed, bool release, const char *key) {
        GemmaError err = {};
        EngineJob job = {
                .sequence_id = seq,
                .n_ctx = 256,
                .request_id = request,
                .tokens = malloc(n * sizeof(int32_t)),
                .n_tokens = n,
                .generate = generate,
                .turn = turn_params(max_tokens, seed),
                .release_after = release,
                .cache_key = key,
        };
        memcpy(job.tokens, ids, n * sizeof(int32_t));
        if (engine_submit(e, &job, &err) < 0)
                fail_msg("%s", err.message);
        assert_null(job.tokens);
}

static void submit(Engine *e, uint64_t seq, uint64_t request, const int32_t *ids, size_t n, bool generate,
                   uint32_t max_tokens, uint64_t seed, bool release) {
        submit_keyed(e, seq, request, ids, n, generate, max_tokens, seed, release, NULL);
}


/* What a Sequence stepped by hand produces for the prompt: the engine must give the same. */
static void reference_text(const char *path, uint32_t max_tokens, uint64_t seed, TestText *out, SequenceStats *stats) {
        GemmaError err = {};
        Gemma3nModel *m;
        Tokenizer *tok;
        CpuCompute *c;
        Sequence *s;
        Gemma3nSlice slice;
        if (gemma3n_model_load(path, &m, &err) < 0 || tokenizer_load(m->file, &tok, &err) < 0 ||
            cpu_compute_new(1, &c, &err) < 0 || sequence_new(m, tok, 256, &s, &err) < 0)
                fail_msg("%s", err.message);
        gemma3n_slice_full(m, &slice);
        TurnParams t = turn_params(max_tokens, seed);
        if (sequence_queue(s, prompt, sizeof(prompt) / sizeof(prompt[0]), &err) < 0 ||
            sequence_begin_turn(s, &t, &slice, &err) < 0)
                fail_msg("%s", err.message);
        SequenceStep step;
        do {
                if (sequence_step(s, c, 64, test_text_collect, out, &step, &err) < 0)
                        fail_msg("%s", err.message);
        } while (step != SEQUENCE_FINISHED);
        *stats = *sequence_stats(s);
        sequence_free(s);
        cpu_compute_free(c);
        tokenizer_free(tok);
        gemma3n_model_free(m);
}

static void test_engine_generate_matches_sequence(void **state) {
        Fixture *fx = *state;
        Log l;
        TestText ref = {};
        SequenceStats st;

        reference_text(fx->path, 40, 11, &ref, &st);
        log_init(&l);
        submit(fx->engine, 1, 1, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 40, 11, true);
        wait_for(fx->engine, &l, finished, 1);
        const EngineEvent *f = find(&l, ENGINE_EVENT_FINISHED, 1);
        char *text = text_of(&l, 1);
        assert_int_equal(f->result.n_generated, st.n_generated);
        assert_int_equal(f->result.n_prompt, st.n_prompt);
        assert_string_equal(engine_finish_to_string(f->result.finish), finish_reason_to_string(st.finish));
        assert_int_equal(strlen(text), ref.len);
        assert_memory_equal(text, ref.buf, ref.len);
        free(text);
        log_done(&l);
}

static void test_engine_cancel_and_release(void **state) {
        Fixture *fx = *state;
        Log l;

        log_init(&l);
        /* A long request cancelled right away ends cancelled with fewer tokens than asked. */
        submit(fx->engine, 10, 10, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 200, 3, false);
        engine_cancel(fx->engine, 10);
        wait_for(fx->engine, &l, finished, 10);
        const EngineEvent *f = find(&l, ENGINE_EVENT_FINISHED, 10);
        assert_int_equal(f->result.finish, ENGINE_FINISH_CANCELLED);
        assert_true(f->result.n_generated < 200);

        /* Releasing the sequence under a running request ends it cancelled too. */
        submit(fx->engine, 10, 11, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 200, 3, false);
        engine_release_sequence(fx->engine, 10);
        wait_for(fx->engine, &l, finished, 11);
        assert_int_equal(find(&l, ENGINE_EVENT_FINISHED, 11)->result.finish, ENGINE_FINISH_CANCELLED);

        /* Cancelling an unknown request is harmless. */
        engine_cancel(fx->engine, 999);
        submit(fx->engine, 12, 12, prompt, 3, true, 2, 3, true);
        wait_for(fx->engine, &l, finished, 12);
        assert_int_equal(find(&l, ENGINE_EVENT_FINISHED, 12)->result.finish, ENGINE_FINISH_LENGTH);
        log_done(&l);
}

static void test_engine_round_robin(void **state) {
        Fixture *fx = *state;
        Log l;

        log_init(&l);
        submit(fx->engine, 20, 20, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 60, 5, true);
        submit(fx->engine, 21, 21, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 60, 6, true);
        wait_for(fx->engine, &l, finished, 20);
        wait_for(fx->engine, &l, finished, 21);
        /* Neither request may finish before the other has produced text: steps alternate. */
        size_t text21_before_finish20 = 0, text20_before_finish21 = 0;
        bool done20 = false, done21 = false;
        for (const EngineEvent *e = l.head; e; e = e->next) {
                if (e->kind == ENGINE_EVENT_FINISHED)
                        *(e->request_id == 20 ? &done20 : &done21) = true;
                if (e->kind == ENGINE_EVENT_TEXT && e->request_id == 21 && !done20)
                        text21_before_finish20 += e->len;
                if (e->kind == ENGINE_EVENT_TEXT && e->request_id == 20 && !done21)
                        text20_before_finish21 += e->len;
        }
        assert_true(text21_before_finish20 > 0);
        assert_true(text20_before_finish21 > 0);
        log_done(&l);
}

static void test_engine_clone_continues_identically(void **state) {
        Fixture *fx = *state;
        Log l;
        static const int32_t next_turn[] = { 106, 107, 120, 121, 122 };

        log_init(&l);
        submit(fx->engine, 30, 30, prompt, sizeof(prompt) / sizeof(prompt[0]), true, 10, 9, false);
        wait_for(fx->engine, &l, finished, 30);
        GemmaError err = {};
        assert_int_equal(engine_clone_sequence(fx->engine, 30, 31, 256, 31, &err), 0);
        wait_for(fx->engine, &l, finished, 31);
        const EngineEvent *c = find(&l, ENGINE_EVENT_FINISHED, 31);
        assert_int_equal(c->result.finish, ENGINE_FINISH_STOP);
        assert_int_equal(c->result.n_past, find(&l, ENGINE_EVENT_FINISHED, 30)->result.n_past);

        /* The same next turn on both gives the same answer. */
        submit(fx->engine, 30, 32, next_turn, 5, true, 20, 4, false);
        submit(fx->engine, 31, 33, next_turn, 5, true, 20, 4, false);
        wait_for(fx->engine, &l, finished, 32);
        wait_for(fx->engine, &l, finished, 33);
        char *a = text_of(&l, 32), *b = text_of(&l, 33);
        assert_true(strlen(a) > 0);
        assert_string_equal(a, b);
        free(a);
        free(b);

        /* Cloning a sequence that is generating is refused. */
        submit(fx->engine, 30, 34, next_turn, 5, true, 200, 4, false);
        assert_int_equal(engine_clone_sequence(fx->engine, 30, 35, 256, 35, &err), 0);
        wait_for(fx->engine, &l, finished, 35);
        assert_int_equal(find(&l, ENGINE_EVENT_FINISHED, 35)->result.finish, ENGINE_FINISH_ERROR);
        engine_release_sequence(fx->engine, 30);
        engine_release_sequence(fx->engine, 31);
        wait_for(fx->engine, &l, finished, 34);
        log_done(&l);
}

static void test_engine_overflow_and_append(void **state) {
        Fixture *fx = *state;
        Log l;
        int32_t big[300];
        for (size_t i = 0; i < 300; i++)
                big[i] = 100 + (int32_t) (i % 50);

        log_init(&l);
        submit(fx->engine, 40, 40, big, 300, true, 10, 1, true);
        wait_for(fx->engine, &l, finished, 40);
        const EngineEvent *f = find(&l, ENGINE_EVENT_FINISHED, 40);
        assert_int_equal(f->result.finish, ENGINE_FINISH_OVERFLOW);
        assert_non_null(strstr(f->result.message, "300"));

        /* Append: prefill only, no text, the positions are kept. */
        submit(fx->engine, 41, 41, prompt, sizeof(prompt) / sizeof(prompt[0]), false, 0, 0, false);
        wait_for(fx->engine, &l, finished, 41);
        f = find(&l, ENGINE_EVENT_FINISHED, 41);
        assert_int_equal(f->result.finish, ENGINE_FINISH_STOP);
        assert_int_equal(f->result.n_past, sizeof(prompt) / sizeof(prompt[0]));
        assert_int_equal(f->result.n_generated, 0);
        char *t = text_of(&l, 41);
        assert_string_equal(t, "");
        free(t);
        engine_release_sequence(fx->engine, 41);
        log_done(&l);
}

static void test_engine_bad_model_is_an_event(void **state) {
        GemmaError err = {};
        Engine *e;
        Log l;
        char *dir = test_tmpdir();
        char path[512];
        snprintf(path, sizeof(path), "%s/broken.gguf", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("GGUF but not really", f);
        fclose(f);

        EngineParams p = { .model_path = path, .n_threads = 1, .prefill_chunk = 4 };
        assert_int_equal(engine_new(&p, &e, &err), 0);
        log_init(&l);
        wait_for(e, &l, loaded, 0);
        const EngineEvent *ev = find(&l, ENGINE_EVENT_LOAD_FAILED, 0);
        assert_non_null(ev);
        assert_non_null(strstr(ev->message, "broken.gguf"));
        /* Requests still get an answer: an error. */
        submit(e, 1, 1, prompt, 3, true, 5, 1, true);
        wait_for(e, &l, finished, 1);
        assert_int_equal(find(&l, ENGINE_EVENT_FINISHED, 1)->result.finish, ENGINE_FINISH_ERROR);
        log_done(&l);
        engine_free(e);
        test_tmpdir_remove(dir);
}

static void test_engine_rejects_empty_jobs(void **state) {
        Fixture *fx = *state;
        GemmaError err = {};
        EngineJob job = { .sequence_id = 1, .n_ctx = 256, .request_id = 1 };
        assert_int_equal(engine_submit(fx->engine, &job, &err), -EINVAL);
        job.tokens = malloc(sizeof(int32_t));
        job.n_tokens = 1;
        job.request_id = 0;
        assert_int_equal(engine_submit(fx->engine, &job, &err), -EINVAL);
        assert_non_null(job.tokens);   /* still the caller's */
        free(job.tokens);
}

/* A long shared prefix (a "system prompt") and a few different endings. */
static void make_prompt(int32_t *ids, size_t n_shared, size_t n, uint32_t variant) {
        ids[0] = 2;
        for (size_t i = 1; i < n; i++)
                ids[i] = 100 + (int32_t) ((i * 7 + (i >= n_shared ? variant * 13 : 0)) % 150);
}

/* Runs one request to its end and returns its text and result. */
static char *run_one(Engine *e, uint64_t id, const int32_t *ids, size_t n, const char *key, EngineResult *res) {
        Log l;
        log_init(&l);
        submit_keyed(e, id, id, ids, n, true, 12, 77, true, key);
        wait_for(e, &l, finished, id);
        *res = find(&l, ENGINE_EVENT_FINISHED, id)->result;
        char *t = text_of(&l, id);
        log_done(&l);
        return t;
}

static void test_engine_prefix_cache_reuses_and_matches(void **state) {
        Fixture *fx = *state;
        int32_t a[150], b[150];
        EngineResult r1, r2, r3, r4;

        make_prompt(a, 130, 150, 1);
        make_prompt(b, 130, 150, 2);
        /* Cold, no sharing: the reference answer for b. */
        char *cold = run_one(fx->engine, 100, b, 150, NULL, &r1);
        assert_int_equal(r1.n_cached, 0);
        /* a under a key fills the cache; b under the same key reuses the shared pages. */
        char *first = run_one(fx->engine, 101, a, 150, "user\nfull", &r2);
        char *warm = run_one(fx->engine, 102, b, 150, "user\nfull", &r3);
        assert_int_equal(r2.n_cached, 0);
        assert_true(r3.n_cached >= 96 && r3.n_cached <= 130);   /* whole 32-position pages of the 130 shared */
        assert_int_equal(r3.n_cached % 32, 0);
        assert_string_equal(warm, cold);
        assert_int_equal(r3.n_generated, r1.n_generated);
        /* Another scope sees nothing. */
        char *other = run_one(fx->engine, 103, b, 150, "app:org.example.Other\nfull", &r4);
        assert_int_equal(r4.n_cached, 0);
        assert_string_equal(other, cold);
        EngineCacheStats st = engine_cache_stats(fx->engine);
        assert_true(st.hits >= 1);
        assert_true(st.cached_tokens >= r3.n_cached);
        free(cold);
        free(first);
        free(warm);
        free(other);
}

static void test_engine_tiny_budget_evicts_and_stays_correct(void **state) {
        Fixture *fx = *state;
        GemmaError err = {};
        Engine *e;
        Log l;
        int32_t a[150], b[150];
        EngineResult r1, r2, r3;

        EngineParams p = { .model_path = fx->path, .n_threads = 2, .prefill_chunk = 16, .kv_budget_bytes = 1 };
        assert_int_equal(engine_new(&p, &e, &err), 0);
        log_init(&l);
        wait_for(e, &l, loaded, 0);
        log_done(&l);
        make_prompt(a, 130, 150, 1);
        make_prompt(b, 130, 150, 2);
        char *cold = run_one(fx->engine, 200, b, 150, NULL, &r1);
        char *x = run_one(e, 1, a, 150, "user\nfull", &r2);
        char *y = run_one(e, 2, b, 150, "user\nfull", &r3);
        /* Nothing may stay cached over a one-byte budget: b is computed in full, correctly. */
        assert_int_equal(r3.n_cached, 0);
        assert_string_equal(y, cold);
        assert_true(engine_cache_stats(e).evictions > 0);
        free(cold);
        free(x);
        free(y);
        engine_free(e);
}

static void test_engine_batched_sessions_match_alone(void **state) {
        Fixture *fx = *state;
        enum { N = 4 };
        int32_t p[N][40];
        char *alone[N];
        EngineResult r;
        Log l;

        for (uint32_t i = 0; i < N; i++) {
                make_prompt(p[i], 5, 20 + 5 * i, i + 1);
                alone[i] = run_one(fx->engine, 300 + i, p[i], 20 + 5 * i, NULL, &r);
        }
        /* All at once: decode rows share forward passes, prompts go in as chunks between them. */
        log_init(&l);
        for (uint32_t i = 0; i < N; i++)
                submit_keyed(fx->engine, 400 + i, 400 + i, p[i], 20 + 5 * i, true, 12, 77, true, NULL);
        for (uint32_t i = 0; i < N; i++)
                wait_for(fx->engine, &l, finished, 400 + i);
        for (uint32_t i = 0; i < N; i++) {
                char *t = text_of(&l, 400 + i);
                assert_string_equal(t, alone[i]);
                free(t);
                free(alone[i]);
        }
        log_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_engine_generate_matches_sequence),
                cmocka_unit_test(test_engine_cancel_and_release),
                cmocka_unit_test(test_engine_round_robin),
                cmocka_unit_test(test_engine_clone_continues_identically),
                cmocka_unit_test(test_engine_overflow_and_append),
                cmocka_unit_test(test_engine_bad_model_is_an_event),
                cmocka_unit_test(test_engine_rejects_empty_jobs),
                cmocka_unit_test(test_engine_prefix_cache_reuses_and_matches),
                cmocka_unit_test(test_engine_tiny_budget_evicts_and_stays_correct),
                cmocka_unit_test(test_engine_batched_sessions_match_alone),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
