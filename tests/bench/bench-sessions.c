/* Benchmark of what one KV cache for every client buys, on the engine that gemmad runs (the
 * D-Bus layer adds the same small cost to every figure):
 *
 * 1. Shared system prompt: a 1000-token system prompt and a 20-token question. Client 1 runs
 *    cold; clients 2..8 each ask their own question. Time to first token of the warm clients
 *    as a fraction of the cold one (target <= 0.10).
 * 2. Concurrency: aggregate decode tokens/s with 1, 2, 4 and 8 sessions generating at once,
 *    as a multiple of one session (target >= 2.5x at 4).
 * 3. The same at a long context: 1 and 4 sessions that each start from the cached system prompt
 *    of part 1 with a question of their own, so every step attends to 1000 positions per session.
 *
 * Every figure is a ratio of times measured in the same run, so machine noise mostly cancels.
 * Usage: bench-sessions MODEL.gguf [THREADS] [--no-pack]
 * (--no-pack: the matrices are read from the file, as with pack_weights = false). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/macro.h"
#include "engine/engine.h"
#include "request.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Events of the requests in flight, drained from the engine's eventfd. */
/* The most sessions one count runs, the most tokens one of them generates, and the most session
 * counts one part compares. */
enum { MAX_SESSIONS = 8, MAX_GENERATE = 128, MAX_COUNTS = 4 };

typedef struct Tracker {
        Engine *e;
        uint32_t n_finished;
        EngineResult results[64];
        double finished_at[64];   /* now_sec() when the request's FINISHED event was taken */
        /* now_sec() of the request's text events: one per step that produced text, i.e. per
         * generated token but for the rare token whose text waits for the next (a partial UTF-8
         * character) */
        double text_at[64][MAX_GENERATE];
        uint32_t n_text[64];
        uint64_t first_id;
} Tracker;

static void drain(Tracker *t) {
        struct pollfd p = { .fd = engine_event_fd(t->e), .events = POLLIN };
        if (poll(&p, 1, 600000) <= 0) {
                fprintf(stderr, "bench-sessions: no engine event for 10 minutes\n");
                exit(1);
        }
        EngineEvent *list = engine_take_events(t->e);
        for (EngineEvent *ev = list; ev; ev = ev->next) {
                if (ev->kind == ENGINE_EVENT_LOAD_FAILED) {
                        fprintf(stderr, "bench-sessions: %s\n", ev->message);
                        exit(1);
                }
                if (ev->kind == ENGINE_EVENT_READY)
                        t->n_finished = UINT32_MAX;   /* loading done marker */
                if (ev->kind == ENGINE_EVENT_TEXT && ev->request_id >= t->first_id &&
                    ev->request_id - t->first_id < 64) {
                        const uint64_t i = ev->request_id - t->first_id;
                        if (t->n_text[i] < MAX_GENERATE)
                                t->text_at[i][t->n_text[i]++] = now_sec();
                }
                if (ev->kind == ENGINE_EVENT_FINISHED &&
                    (ev->result.finish == ENGINE_FINISH_OVERFLOW || ev->result.finish == ENGINE_FINISH_ERROR)) {
                        /* a figure from failed requests would be a figure of nothing */
                        fprintf(stderr, "bench-sessions: request %" PRIu64 " failed: %s\n", ev->request_id,
                                ev->result.message);
                        exit(1);
                }
                if (ev->kind == ENGINE_EVENT_FINISHED && ev->request_id >= t->first_id &&
                    ev->request_id - t->first_id < 64) {
                        t->results[ev->request_id - t->first_id] = ev->result;
                        t->finished_at[ev->request_id - t->first_id] = now_sec();
                        t->n_finished++;
                }
        }
        engine_event_free_list(list);
}

static void submit(Engine *e, uint64_t id, const int32_t *ids, size_t n, uint32_t max_tokens, const char *key) {
        GemmaError err = {};
        EngineJob job = {
                .sequence_id = id,
                .n_ctx = 2048,
                .request_id = id,
                .tokens = malloc(n * sizeof(int32_t)),
                .n_tokens = n,
                .generate = true,
                .turn = { .sampling = SAMPLER_PARAMS_INIT, .max_tokens = max_tokens },
                .release_after = true,
                .cache_key = key,
        };
        /* what gemmad samples with for a client that sets no options */
        job.turn.sampling.temperature = (float) REQUEST_DEFAULT_TEMPERATURE;
        job.turn.sampling.top_k = REQUEST_DEFAULT_TOP_K;
        job.turn.sampling.top_p = (float) REQUEST_DEFAULT_TOP_P;
        job.turn.sampling.min_p = (float) REQUEST_DEFAULT_MIN_P;
        job.turn.sampling.repeat_penalty = (float) REQUEST_DEFAULT_REPEAT_PENALTY;
        job.turn.sampling.seed = id;
        memcpy(job.tokens, ids, n * sizeof(int32_t));
        if (engine_submit(e, &job, &err) < 0) {
                fprintf(stderr, "bench-sessions: %s\n", err.message);
                exit(1);
        }
}

/* Plain-text token ids: above the control and byte-fallback range of a Gemma vocabulary. */
static void random_ids(int32_t *ids, size_t n, uint32_t n_vocab, uint64_t *state) {
        for (size_t i = 0; i < n; i++) {
                *state = *state * 6364136223846793005ull + 1442695040888963407ull;
                ids[i] = 1000 + (int32_t) ((*state >> 33) % (n_vocab - 1000));
        }
}

/* Rounds over the session counts in turn, best of each. Every session gets `prefix` (n_prefix
 * tokens, looked up in the prefix cache) and then n_own random tokens of its own, and generates
 * `generate` tokens. Three figures per count: tokens over the whole wall time (each session's
 * prompt included); decoding: the tokens after each session's first one, over the time from the
 * first session's first token to the last session's last (steps that also prefill a later
 * session's prompt included); and all decoding: tokens per second while every session decodes,
 * from the last session's first token to the first session's last (text events, timed as this
 * thread takes them: precise for steps of milliseconds, not for a toy model's microseconds). A noisy machine slows a
 * round, it rarely speeds one up, and one slow single-session round would flatter every ratio. */
enum { ROUNDS = 3 };

static void concurrency(Tracker *t, const uint32_t *sessions, size_t n_counts, const int32_t *prefix, size_t n_prefix,
                        size_t n_own, uint32_t generate, uint32_t V, uint64_t *rng, uint64_t first_id) {
        double best_wall[MAX_COUNTS] = { 0 }, best_decode[MAX_COUNTS] = { 0 }, best_all[MAX_COUNTS] = { 0 };
        bool fits = n_counts <= MAX_COUNTS && generate <= MAX_GENERATE;
        for (size_t k = 0; k < n_counts; k++)
                fits = fits && sessions[k] <= MAX_SESSIONS;
        int32_t *ids = malloc((n_prefix + n_own) * sizeof(int32_t));
        if (!fits || !ids) {
                fprintf(stderr, "bench-sessions: %s\n", fits ? "out of memory" : "more than the tracker holds");
                exit(1);
        }
        if (n_prefix)
                memcpy(ids, prefix, n_prefix * sizeof(int32_t));
        for (int round = 0; round < ROUNDS; round++)
                for (size_t k = 0; k < n_counts; k++) {
                        const uint32_t n = sessions[k];
                        double submitted[MAX_SESSIONS];
                        t->first_id = first_id + 100 * (round * n_counts + k);
                        t->n_finished = 0;
                        memset(t->n_text, 0, sizeof(t->n_text));
                        double t0 = now_sec();
                        for (uint32_t i = 0; i < n; i++) {
                                random_ids(ids + n_prefix, n_own, V, rng);
                                if (!n_prefix)
                                        ids[0] = 2;
                                submitted[i] = now_sec();
                                submit(t->e, t->first_id + i, ids, n_prefix + n_own, generate,
                                       n_prefix ? "user\nfull" : NULL);
                        }
                        while (t->n_finished < n)
                                drain(t);
                        double wall = now_sec() - t0, first = 1e300, last = 0;
                        uint64_t tokens = 0, decoded = 0;
                        for (uint32_t i = 0; i < n; i++) {
                                tokens += t->results[i].n_generated;
                                decoded += t->results[i].n_generated > 0 ? t->results[i].n_generated - 1 : 0;
                                if (submitted[i] + t->results[i].ttft_sec < first)
                                        first = submitted[i] + t->results[i].ttft_sec;
                                if (t->finished_at[i] > last)
                                        last = t->finished_at[i];
                        }
                        best_wall[k] = MAX(best_wall[k], tokens / wall);
                        best_decode[k] = MAX(best_decode[k], decoded / (last - first));
                        /* all decoding: from the last session's first text to the first
                         * session's last, the texts every session got in between */
                        double from = 0, to = 1e300;
                        for (uint32_t i = 0; i < n; i++)
                                if (t->n_text[i] > 0) {
                                        from = MAX(from, t->text_at[i][0]);
                                        to = MIN(to, t->text_at[i][t->n_text[i] - 1]);
                                }
                        uint32_t in_window = 0;
                        for (uint32_t i = 0; i < n; i++)
                                for (uint32_t j = 0; j < t->n_text[i]; j++)
                                        in_window += t->text_at[i][j] > from && t->text_at[i][j] <= to;
                        if (to > from)
                                best_all[k] = MAX(best_all[k], in_window / (to - from));
                }
        printf("               with prompts (wall)         decoding (first token to last)  all decoding\n");
        for (size_t k = 0; k < n_counts; k++)
                printf("  %u session%s: %6.2f tokens/s (%5.2fx one)   %6.2f tokens/s (%5.2fx one)"
                       "    %6.2f tokens/s (%5.2fx one)\n",
                       sessions[k], sessions[k] > 1 ? "s" : " ", best_wall[k], best_wall[k] / best_wall[0],
                       best_decode[k], best_decode[k] / best_decode[0], best_all[k], best_all[k] / best_all[0]);
        free(ids);
}

int main(int argc, char **argv) {
        const char *model = NULL, *threads = NULL;
        bool pack = true, bad = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--no-pack") == 0)
                        pack = false;
                else if (!model)
                        model = argv[i];
                else if (!threads && argv[i][0] && strspn(argv[i], "0123456789") == strlen(argv[i]))
                        threads = argv[i];
                else
                        bad = true;
        }
        if (!model || bad) {
                fprintf(stderr, "Usage: bench-sessions MODEL.gguf [THREADS] [--no-pack]\n");
                return 2;
        }
        GemmaError err = {};
        EngineParams p = {
                .model_path = model,
                .n_threads = threads ? (uint32_t) atoi(threads) : 0,
                .prefill_chunk = 128,
                .prefault = true,
                .kv_budget_bytes = 4ull << 30,
                .pack_weights = pack,
        };
        Engine *e;
        if (engine_new(&p, &e, &err) < 0) {
                fprintf(stderr, "bench-sessions: %s\n", err.message);
                return 1;
        }
        static Tracker t;   /* 64 KiB of text times */
        t.e = e;
        while (t.n_finished != UINT32_MAX)
                drain(&t);
        /* measured once packing is done: what a daemon serves from a few seconds after start */
        gemma3n_model_wait_packed(engine_model(e));
        const WeightPackerProgress packed = gemma3n_model_pack_progress(engine_model(e));
        if (packed.matrices > 0)
                printf("packed weights: %u matrices, %.0f MiB, in %.2f s after ready\n", packed.matrices,
                       (double) packed.bytes / (1 << 20), packed.seconds);
        else
                printf("packed weights: none (%s)\n", pack ? "nothing packs on this machine" : "--no-pack");
        const uint32_t V = engine_model(e)->hp.n_vocab;
        if (V <= 1000) {
                fprintf(stderr, "bench-sessions: the prompts are drawn from ids 1000 and up; this model has %u\n", V);
                return 1;
        }
        uint64_t rng = 12345;

        /* ---- 1. shared system prompt ---- */
        enum { SYSTEM = 1000, QUESTION = 20, CLIENTS = 8 };
        static int32_t prompt[SYSTEM + QUESTION];
        prompt[0] = 2;
        random_ids(prompt + 1, SYSTEM - 1, V, &rng);
        double ttft[CLIENTS];
        uint32_t cached[CLIENTS];
        for (uint32_t c = 0; c < CLIENTS; c++) {
                random_ids(prompt + SYSTEM, QUESTION, V, &rng);
                t.first_id = 1000 + c;
                t.n_finished = 0;
                submit(e, t.first_id, prompt, SYSTEM + QUESTION, 1, "user\nfull");
                while (t.n_finished < 1)
                        drain(&t);
                ttft[c] = t.results[0].ttft_sec;
                cached[c] = t.results[0].n_cached;
        }
        double warm = 0;
        for (uint32_t c = 1; c < CLIENTS; c++)
                warm += ttft[c] / (CLIENTS - 1);
        printf("shared system prompt (%d + %d tokens), time to first token:\n", SYSTEM, QUESTION);
        printf("  client 1 (cold):     %8.1f ms\n", ttft[0] * 1e3);
        for (uint32_t c = 1; c < CLIENTS; c++)
                printf("  client %u (warm):     %8.1f ms  (%u tokens from the cache)\n", c + 1, ttft[c] * 1e3,
                       cached[c]);
        printf("  warm / cold:         %8.3f   (target <= 0.10)\n\n", warm / ttft[0]);

        /* ---- 2. concurrency ---- */
        static const uint32_t sessions[] = { 1, 2, 4, 8 };
        enum { PROMPT = 8, GENERATE = 48 };
        printf("concurrent sessions, %d-token prompts, %d tokens each (best of %d rounds):\n", PROMPT, GENERATE,
               ROUNDS);
        concurrency(&t, sessions, ELEMENTSOF(sessions), NULL, 0, PROMPT, GENERATE, V, &rng, 2000);
        printf("  (target: >= 2.5x at 4 sessions, aggregate decode tokens/s)\n\n");

        /* ---- 3. concurrency at a long context ---- */
        static const uint32_t long_sessions[] = { 1, 4 };
        enum { LONG_GENERATE = 32 };
        printf("concurrent sessions after the cached %d-token system prompt, each with its own %d-token\n"
               "question, %d tokens each (best of %d rounds):\n", SYSTEM, QUESTION, LONG_GENERATE, ROUNDS);
        concurrency(&t, long_sessions, ELEMENTSOF(long_sessions), prompt, SYSTEM, QUESTION, LONG_GENERATE, V, &rng,
                    5000);
        engine_free(e);
        return 0;
}
