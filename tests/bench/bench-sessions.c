/* Benchmark of what one KV cache for every client buys, on the engine that gemmad runs (the
 * D-Bus layer adds the same small cost to every figure):
 *
 * 1. Shared system prompt: a 1000-token system prompt and a 20-token question. Client 1 runs
 *    cold; clients 2..8 each ask their own question. Time to first token of the warm clients
 *    as a fraction of the cold one (target <= 0.10).
 * 2. Concurrency: aggregate decode tokens/s with 1, 2, 4 and 8 sessions generating at once,
 *    as a multiple of one session (target >= 2.5x at 4).
 *
 * Every figure is a ratio of times measured in the same run, so machine noise mostly cancels.
 * Usage: bench-sessions MODEL.gguf [THREADS] [--no-pack]
 * (--no-pack: the matrices are read from the file, as with pack_weights = false). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "request.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Events of the requests in flight, drained from the engine's eventfd. */
typedef struct Tracker {
        Engine *e;
        uint32_t n_finished;
        EngineResult results[64];
        double finished_at[64];   /* now_sec() when the request's FINISHED event was taken */
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
        Tracker t = { .e = e };
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
        enum { PROMPT = 8, GENERATE = 48 };
        static const uint32_t sessions[] = { 1, 2, 4, 8 };
        /* Two figures per count: tokens over the whole wall time (each session's prompt included),
         * and decoding alone: the tokens after each session's first one, over the time from the
         * first session's first token to the last session's last. Three rounds over the counts in
         * turn, best of each: a noisy machine slows a round, it rarely speeds one up, and one slow
         * single-session round would flatter every ratio. */
        enum { N_COUNTS = sizeof(sessions) / sizeof(sessions[0]), ROUNDS = 3 };
        double best_wall[N_COUNTS] = { 0 }, best_decode[N_COUNTS] = { 0 };
        for (int round = 0; round < ROUNDS; round++)
                for (size_t k = 0; k < N_COUNTS; k++) {
                        uint32_t n = sessions[k];
                        int32_t ids[PROMPT];
                        double submitted[8];
                        t.first_id = 2000 + 100 * (round * N_COUNTS + k);
                        t.n_finished = 0;
                        double t0 = now_sec();
                        for (uint32_t i = 0; i < n; i++) {
                                ids[0] = 2;
                                random_ids(ids + 1, PROMPT - 1, V, &rng);
                                submitted[i] = now_sec();
                                submit(e, t.first_id + i, ids, PROMPT, GENERATE, NULL);
                        }
                        while (t.n_finished < n)
                                drain(&t);
                        double wall = now_sec() - t0, first = 1e300, last = 0;
                        uint64_t tokens = 0, decoded = 0;
                        for (uint32_t i = 0; i < n; i++) {
                                tokens += t.results[i].n_generated;
                                decoded += t.results[i].n_generated > 0 ? t.results[i].n_generated - 1 : 0;
                                if (submitted[i] + t.results[i].ttft_sec < first)
                                        first = submitted[i] + t.results[i].ttft_sec;
                                if (t.finished_at[i] > last)
                                        last = t.finished_at[i];
                        }
                        best_wall[k] = MAX(best_wall[k], tokens / wall);
                        best_decode[k] = MAX(best_decode[k], decoded / (last - first));
                }
        printf("concurrent sessions, %d-token prompts, %d tokens each (best of %d rounds):\n", PROMPT, GENERATE,
               ROUNDS);
        printf("               with prompts (wall)           decoding (first token to last)\n");
        for (size_t k = 0; k < N_COUNTS; k++)
                printf("  %u session%s: %6.2f tokens/s (%5.2fx one)     %6.2f tokens/s (%5.2fx one)\n", sessions[k],
                       sessions[k] > 1 ? "s" : " ", best_wall[k], best_wall[k] / best_wall[0], best_decode[k],
                       best_decode[k] / best_decode[0]);
        printf("  (target: >= 2.5x at 4 sessions, aggregate decode tokens/s)\n");
        engine_free(e);
        return 0;
}
