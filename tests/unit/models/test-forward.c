/* The Gemma 3n decoder on generated models: hyperparameters as written, batch vs one-at-a-time
 * decoding, soft-token (embedding) inputs, MatFormer slice views, and the forward pass's
 * errors. The numerics against an independent implementation live in tests/oracle/. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "gemma3n/forward.h"
#include "gemma3n/make-test.h"
#include "gemma3n/matformer.h"
#include "harness/test-model.h"
#include "tensor/type-traits.h"

/* A generated model in a temporary directory (harness/test-model.h). */
typedef TestModel Fixture;
#define fixture_new test_model_new
#define fixture_free test_model_free

/* Logits of every position: in one batch (split into micro-batches of `ubatch`), or one at a time. */
static uint32_t run_threads = 2;

static float *run(const Gemma3nModel *m, const Gemma3nSlice *slice, const int32_t *tokens, const float *embd,
                  const bool *has_embd, uint32_t n, uint32_t ubatch, bool decode) {
        KvCache *kv = NULL;
        CpuCompute *c = NULL;
        GemmaError err = { 0 };
        float *logits = calloc((size_t) n * m->hp.n_vocab, sizeof(float));
        assert_non_null(logits);
        if (gemma3n_kv_cache_new(m, n, decode ? 1 : ubatch, &kv, &err) < 0)
                fail_msg("kv: %s", err.message);
        if (cpu_compute_new(run_threads, &c, &err) < 0)
                fail_msg("compute: %s", err.message);
        if (decode) {
                for (uint32_t t = 0; t < n; t++) {
                        Gemma3nBatch b = { .n_tokens = 1, .tokens = tokens + t,
                                           .embd = embd ? embd + (size_t) t * m->hp.n_embd : NULL,
                                           .has_embd = has_embd ? has_embd + t : NULL, .logits_all = true };
                        if (gemma3n_forward(m, c, slice, kv, &b, logits + (size_t) t * m->hp.n_vocab, &err) < 0)
                                fail_msg("forward: %s", err.message);
                }
        } else {
                Gemma3nBatch b = { .n_tokens = n, .tokens = tokens, .embd = embd, .has_embd = has_embd,
                                   .logits_all = true };
                if (gemma3n_forward(m, c, slice, kv, &b, logits, &err) < 0)
                        fail_msg("forward: %s", err.message);
        }
        assert_int_equal(kv->n_pos, n);
        kv_cache_free(kv);
        cpu_compute_free(c);
        return logits;
}

static void random_tokens(int32_t *tokens, uint32_t n, uint32_t vocab, uint64_t seed) {
        for (uint32_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                tokens[i] = (int32_t) ((seed >> 33) % vocab);
        }
        tokens[0] = 2;
}

/* ---- Hyperparameters ---------------------------------------------------------------------- */

static void test_hparams_load_matches_spec(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 12;
        spec.swa_period = 4;         /* layers 3, 7, 11 global */
        spec.n_kv_shared = 4;        /* layers 8..11 share */
        spec.n_sparse_layers = 5;
        for (uint32_t l = 0; l < spec.n_layer; l++)
                spec.n_ff[l] = 64 + 32 * (l % 3);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nHParams *hp = &fx->model->hp;

        assert_int_equal(hp->n_layer, 12);
        assert_int_equal(hp->n_embd, spec.n_embd);
        assert_int_equal(hp->n_head, spec.n_head);
        assert_int_equal(hp->n_head_kv, spec.n_head_kv);
        assert_int_equal(hp->head_dim, spec.head_dim);
        assert_int_equal(hp->n_vocab, spec.n_vocab);
        assert_int_equal(hp->n_kv_shared, 4);
        assert_int_equal(hp->laurel_rank, 64);
        for (uint32_t l = 0; l < 12; l++) {
                assert_int_equal(hp->n_ff[l], 64 + 32 * (l % 3));
                assert_int_equal(hp->is_swa[l], l % 4 != 3);
                assert_true((hp->sparsity_k[l] > 0) == (l < 5));
        }
        /* Worked out by hand: layers 0..7 own KV; sliding 8, 9, 10 read layer 6 (the last sliding
         * layer before 8), global 11 reads layer 7. */
        for (uint32_t l = 0; l < 8; l++)
                assert_int_equal(hp->kv_source[l], l);
        assert_int_equal(hp->kv_source[8], 6);
        assert_int_equal(hp->kv_source[9], 6);
        assert_int_equal(hp->kv_source[10], 6);
        assert_int_equal(hp->kv_source[11], 7);
        fixture_free(fx);
}

static void test_kv_cache_shape_follows_layers(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);   /* 8 layers, period 5, 2 shared, window 8 */
        Fixture *fx = fixture_new(&spec);
        KvCache *kv = NULL;
        GemmaError err = { 0 };
        int32_t tokens[100];
        float *logits = calloc(fx->model->hp.n_vocab, sizeof(float));
        assert_int_equal(gemma3n_kv_cache_new(fx->model, 100, 4, &kv, &err), 0);
        /* Layer 4 is global, 0-3 and 5 sliding, 6-7 reuse earlier layers' KV. */
        for (uint32_t l = 0; l < 8; l++) {
                uint8_t want = l >= 6 ? KV_CLASS_NONE : l == 4 ? KV_CLASS_GLOBAL : KV_CLASS_SLIDING;
                assert_int_equal(kv->layer_class[l], want);
        }
        assert_int_equal(kv_cache_bytes(kv), 0);   /* pages come with the positions */
        random_tokens(tokens, 100, spec.n_vocab, 5);
        Gemma3nBatch b = { .n_tokens = 100, .tokens = tokens };
        assert_int_equal(gemma3n_forward(fx->model, NULL, NULL, kv, &b, logits, &err), 0);
        /* 64-position pages of K and V, one KV head of 32 values: the global layer holds both pages
         * of positions 0..99; the 5 sliding layers only the page their last window (96+1-8..99)
         * falls in. */
        const uint64_t page = 2ull * 64 * 32 * sizeof(float);
        assert_int_equal(kv_cache_bytes(kv), 2 * 1 * page + 1 * 5 * page);
        kv_cache_free(kv);
        free(logits);
        fixture_free(fx);
}

/* ---- Batch vs decode ----------------------------------------------------------------------- */

static void check_batch_equals_decode(const Gemma3nTestSpec *spec, uint32_t n, uint32_t ubatch) {
        Fixture *fx = fixture_new(spec);
        int32_t *tokens = calloc(n, sizeof(*tokens));
        random_tokens(tokens, n, spec->n_vocab, spec->seed);
        float *batch = run(fx->model, NULL, tokens, NULL, NULL, n, n, false);
        float *split = run(fx->model, NULL, tokens, NULL, NULL, n, ubatch, false);
        float *decode = run(fx->model, NULL, tokens, NULL, NULL, n, 1, true);
        size_t total = (size_t) n * spec->n_vocab;
        for (size_t i = 0; i < total; i++)
                assert_true(isfinite(batch[i]));
        assert_true(test_close_rel("decode vs batch", decode, batch, total, 1e-5));
        assert_true(test_close_rel("micro-batches vs batch", split, batch, total, 1e-5));
        free(batch);
        free(split);
        free(decode);
        free(tokens);
        fixture_free(fx);
}

static void test_forward_decode_equals_batch(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        /* 30 tokens with a window of 8 and micro-batches of 3: the sliding ring wraps many times. */
        check_batch_equals_decode(&spec, 30, 3);
}

static void test_forward_decode_equals_batch_no_kv_sharing(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_kv_shared = 0;
        spec.n_head = 4;
        spec.n_head_kv = 2;
        spec.seed = 7;
        check_batch_equals_decode(&spec, 20, 5);
}

static void test_forward_decode_equals_batch_quantized(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.type = GGML_TYPE_Q8_0;
        spec.ple_type = GGML_TYPE_Q4_0;
        spec.seed = 11;
        check_batch_equals_decode(&spec, 16, 16);
}

static void test_forward_threads_give_identical_logits(void **state) {
        /* Every output row is computed whole by one thread, so the split cannot change a bit. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.type = GGML_TYPE_Q8_0;
        Fixture *fx = fixture_new(&spec);
        int32_t tokens[9];
        random_tokens(tokens, 9, spec.n_vocab, 13);
        run_threads = 1;
        float *one = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, false);
        run_threads = 3;
        float *three = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, false);
        run_threads = 2;
        assert_true(test_close_rel("3 threads vs 1", three, one, 9 * (size_t) spec.n_vocab, 0));
        free(one);
        free(three);
        fixture_free(fx);
}

/* Attention's units of work (one row, one KV head and all or an equal share of its query heads)
 * depend on the number of threads; each head's arithmetic does not. E2B's 8 query heads over 2 KV
 * heads, decoding across KV pages: 1 and 2 threads take whole groups of 4, 3 threads halves of a
 * group, 5 single heads; all give the same logits to the bit. */
static void test_forward_attention_split_gives_identical_logits(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_head = 8;
        spec.n_head_kv = 2;
        spec.head_dim = 16;
        spec.sliding_window = 40;
        Fixture *fx = fixture_new(&spec);
        enum { N = 80 };   /* past the 64-position pages of run()'s cache, and past the window */
        int32_t tokens[N];
        random_tokens(tokens, N, spec.n_vocab, 17);
        static const uint32_t threads[] = { 1, 2, 3, 5 };
        float *logits[4];
        for (int i = 0; i < 4; i++) {
                run_threads = threads[i];
                logits[i] = run(fx->model, NULL, tokens, NULL, NULL, N, N, true);
        }
        run_threads = 2;
        for (int i = 1; i < 4; i++) {
                char what[64];
                snprintf(what, sizeof(what), "decoding on %u threads vs 1", threads[i]);
                assert_true(test_close_rel(what, logits[i], logits[0], N * (size_t) spec.n_vocab, 0));
        }
        for (int i = 0; i < 4; i++)
                free(logits[i]);
        fixture_free(fx);
}

/* The packed copies of the matrices (cpu/packed.h) against the file's: the same logits to the bit,
 * prompt and decoding, for both types that pack; on a machine whose kernels do not pack, nothing
 * is packed and the model still runs. */
static void check_packed_weights(uint32_t type) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.type = type;
        spec.seed = 23;
        Fixture *fx = fixture_new(&spec);
        int32_t tokens[9];
        random_tokens(tokens, 9, spec.n_vocab, 29);
        float *batch = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, false);
        float *decode = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, true);

        GemmaError err = {};
        const uint32_t features = cpu_features_get();
        if (gemma3n_model_pack_weights(fx->model, features, &err) < 0)
                fail_msg("pack: %s", err.message);
        gemma3n_model_wait_packed(fx->model);
        const WeightPackerProgress p = gemma3n_model_pack_progress(fx->model);
        const DotKernel *k = dot_kernel_find(type, features);
        if (!k->tile_packed) {
                assert_int_equal(p.matrices, 0);
                printf("SKIP: %s does not pack on this machine\n", k->name);
        } else {
                assert_true(p.matrices > 0 && p.matrices_done == p.matrices);
                assert_non_null(tensor_packed(&fx->model->w.layers[0].ffn_gate));
                printf("packed %u matrices of %s, %" PRIu64 " bytes\n", p.matrices, type_traits(type)->name, p.bytes);
        }
        float *batch_packed = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, false);
        float *decode_packed = run(fx->model, NULL, tokens, NULL, NULL, 9, 9, true);
        const size_t n = 9 * (size_t) spec.n_vocab;
        assert_true(test_close_rel("packed prompt vs file", batch_packed, batch, n, 0));
        assert_true(test_close_rel("packed decoding vs file", decode_packed, decode, n, 0));
        free(batch), free(decode), free(batch_packed), free(decode_packed);
        fixture_free(fx);
}

static void test_forward_packed_weights_give_identical_logits(void **state) {
        check_packed_weights(GGML_TYPE_Q4_0);
        check_packed_weights(GGML_TYPE_Q8_0);
}

static void test_forward_prefill_skips_shared_layers_same_logits(void **state) {
        /* With logits for the last position only, the KV-sharing top layers run for that one row;
         * the result must equal running them for every row. Micro-batches of 7 over 20 tokens also
         * cover the batches whose top layers are skipped entirely. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 10;
        spec.n_kv_shared = 3;
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        const uint32_t n = 20, V = m->hp.n_vocab;
        int32_t tokens[20];
        float *last = calloc(V, sizeof(float)), *full = calloc(V, sizeof(float));
        GemmaError err = { 0 };
        random_tokens(tokens, n, spec.n_vocab, 21);
        float *all = run(m, NULL, tokens, NULL, NULL, n, 7, false);

        for (int variant = 0; variant < 2; variant++) {
                KvCache *kv = NULL;
                assert_int_equal(gemma3n_kv_cache_new(m, n, 7, &kv, &err), 0);
                Gemma3nBatch b = { .n_tokens = n, .tokens = tokens, .full_prefill = variant == 1 };
                assert_int_equal(gemma3n_forward(m, NULL, NULL, kv, &b, variant ? full : last, &err), 0);
                assert_int_equal(kv->n_pos, n);
                kv_cache_free(kv);
        }
        assert_true(test_close_rel("skipped vs full prefill", last, full, V, 0));
        assert_true(test_close_rel("skipped vs all-logits last row", last, all + (size_t) (n - 1) * V, V, 0));
        free(last);
        free(full);
        free(all);
        fixture_free(fx);
}

/* ---- Embedding (soft-token) input ----------------------------------------------------------- */

static void test_forward_embedding_input_matches_pad_token(void **state) {
        /* A soft token takes the padding token's per-layer row. So feeding the padding token's own
         * scaled embedding as a soft token must give exactly what feeding id 0 gives. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        const uint32_t n = 12, D = m->hp.n_embd;
        int32_t tokens[12];
        bool has_embd[12] = { false };
        float *embd = calloc((size_t) n * D, sizeof(float));
        random_tokens(tokens, n, spec.n_vocab, 5);
        for (uint32_t t = 3; t < 7; t++) {
                tokens[t] = 0;
                has_embd[t] = true;
                tensor_dequant_row(&m->w.token_embd, 0, embd + (size_t) t * D, D);
                for (uint32_t i = 0; i < D; i++)
                        embd[(size_t) t * D + i] *= sqrtf((float) D);
        }
        float *by_id = run(m, NULL, tokens, NULL, NULL, n, n, false);
        /* The id at a soft-token position is ignored: put a different one there. */
        for (uint32_t t = 3; t < 7; t++)
                tokens[t] = 42;
        float *by_embd = run(m, NULL, tokens, embd, has_embd, n, n, false);
        float *by_embd_decode = run(m, NULL, tokens, embd, has_embd, n, 1, true);
        size_t total = (size_t) n * m->hp.n_vocab;
        assert_true(test_close_rel("soft token vs pad id", by_embd, by_id, total, 1e-6));
        assert_true(test_close_rel("soft token decode vs batch", by_embd_decode, by_embd, total, 1e-5));
        free(by_id);
        free(by_embd);
        free(by_embd_decode);
        free(embd);
        fixture_free(fx);
}

static void test_forward_embedding_input_changes_output(void **state) {
        /* An arbitrary soft token changes its own and later positions, never earlier ones. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        const uint32_t n = 8, D = m->hp.n_embd, V = m->hp.n_vocab;
        int32_t tokens[8];
        bool has_embd[8] = { false };
        float *embd = calloc((size_t) n * D, sizeof(float));
        random_tokens(tokens, n, spec.n_vocab, 9);
        has_embd[4] = true;
        for (uint32_t i = 0; i < D; i++)
                embd[4 * D + i] = sinf((float) i);
        float *plain = run(m, NULL, tokens, NULL, NULL, n, n, false);
        float *soft = run(m, NULL, tokens, embd, has_embd, n, n, false);
        assert_true(test_close_rel("positions before the soft token", soft, plain, 4 * (size_t) V, 0));
        double diff = 0;
        for (size_t i = 4 * (size_t) V; i < (size_t) n * V; i++)
                diff = fmax(diff, fabs(soft[i] - plain[i]));
        assert_true(diff > 1e-3);
        free(plain);
        free(soft);
        free(embd);
        fixture_free(fx);
}

/* ---- MatFormer slices ----------------------------------------------------------------------- */

static void test_slice_full_width_equals_full_model(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        Fixture *fx = fixture_new(&spec);
        Gemma3nSlice slice;
        GemmaError err = { 0 };
        int32_t tokens[10];
        random_tokens(tokens, 10, spec.n_vocab, 3);
        assert_int_equal(gemma3n_slice_uniform(fx->model, 128, &slice, &err), 0);   /* the full width */
        float *full = run(fx->model, NULL, tokens, NULL, NULL, 10, 10, false);
        float *sliced = run(fx->model, &slice, tokens, NULL, NULL, 10, 10, false);
        assert_true(test_close_rel("full-width slice", sliced, full, 10 * (size_t) spec.n_vocab, 0));
        assert_int_equal(gemma3n_slice_uniform(fx->model, 64, &slice, &err), 0);
        float *half = run(fx->model, &slice, tokens, NULL, NULL, 10, 10, false);
        assert_true(test_rel_error(half, full, 10 * (size_t) spec.n_vocab, NULL) > 1e-3);
        free(full);
        free(sliced);
        free(half);
        fixture_free(fx);
}

static void test_slice_validate_rejects_bad_widths(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.type = GGML_TYPE_Q8_0;
        Fixture *fx = fixture_new(&spec);
        Gemma3nSlice slice;
        GemmaError err = { 0 };
        assert_int_equal(gemma3n_slice_uniform(fx->model, 0, &slice, &err), -EINVAL);
        assert_int_equal(gemma3n_slice_uniform(fx->model, 160, &slice, &err), -EINVAL);
        assert_non_null(strstr(err.message, "allowed 1..128"));
        assert_int_equal(gemma3n_slice_uniform(fx->model, 40, &slice, &err), -EINVAL);   /* not whole q8_0 blocks */
        assert_non_null(strstr(err.message, "not a multiple of 32"));
        gemma3n_slice_full(fx->model, &slice);
        slice.ffn_units[3] = spec.n_ff[3] + 32;
        assert_int_equal(gemma3n_slice_validate(fx->model, &slice, &err), -EINVAL);
        assert_non_null(strstr(err.message, "layer 3"));
        fixture_free(fx);
}

/* A slice with skipped layers (a KV-owning one among them) and mixed widths, on a quantised model,
 * gives exactly the logits of the model file exported without those layers: batch, micro-batches
 * with the prefill saving, and one token at a time. */
static void check_skip_slice_equals_export(const Gemma3nTestSpec *spec, const char *slice_spec, uint32_t n_kept) {
        Fixture *fx = fixture_new(spec);
        Gemma3nModel *exported = NULL;
        Gemma3nSlice slice;
        GemmaError err = { 0 };
        char out[600];
        const uint32_t n = 24;
        int32_t tokens[24];

        random_tokens(tokens, n, spec->n_vocab, 77);
        if (gemma3n_slice_parse(fx->model, slice_spec, &slice, &err) < 0)
                fail_msg("%s: %s", slice_spec, err.message);
        snprintf(out, sizeof(out), "%s/sliced.gguf", fx->dir);
        if (gemma3n_slice_export(fx->model, &slice, out, &err) < 0)
                fail_msg("export: %s", err.message);
        if (gemma3n_model_load(out, &exported, &err) < 0)
                fail_msg("load export: %s", err.message);
        assert_int_equal(exported->hp.n_layer, n_kept);

        const size_t total = (size_t) n * spec->n_vocab;
        float *view = run(fx->model, &slice, tokens, NULL, NULL, n, n, false);
        float *file = run(exported, NULL, tokens, NULL, NULL, n, n, false);
        float *view_decode = run(fx->model, &slice, tokens, NULL, NULL, n, 1, true);
        float *file_decode = run(exported, NULL, tokens, NULL, NULL, n, 1, true);
        assert_true(test_close_rel("slice view vs exported file", view, file, total, 0));
        assert_true(test_close_rel("slice view vs exported file, decode", view_decode, file_decode, total, 0));
        assert_true(test_close_rel("slice decode vs batch", view_decode, view, total, 1e-5));

        /* Last-position logits with the prefill saving, in micro-batches of 5. */
        float *last_view = calloc(spec->n_vocab, sizeof(float)), *last_file = calloc(spec->n_vocab, sizeof(float));
        for (int i = 0; i < 2; i++) {
                KvCache *kv = NULL;
                const Gemma3nModel *m = i ? exported : fx->model;
                assert_int_equal(gemma3n_kv_cache_new_for_slice(m, i ? NULL : &slice, n, 5, &kv, &err), 0);
                Gemma3nBatch b = { .n_tokens = n, .tokens = tokens };
                assert_int_equal(gemma3n_forward(m, NULL, i ? NULL : &slice, kv, &b, i ? last_file : last_view, &err), 0);
                kv_cache_free(kv);
        }
        assert_true(test_close_rel("prefill saving, view vs file", last_view, last_file, spec->n_vocab, 0));
        assert_true(test_close_rel("prefill saving vs all logits", last_view, view + (size_t) (n - 1) * spec->n_vocab,
                                   spec->n_vocab, 0));
        free(last_view);
        free(last_file);
        free(view);
        free(file);
        free(view_decode);
        free(file_decode);
        gemma3n_model_free(exported);
        fixture_free(fx);
}

static void test_slice_skip_equals_exported_model(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 12;
        spec.n_kv_shared = 4;          /* 8..11 share: sliding ones read 7, global 9 reads 4 */
        spec.n_sparse_layers = 4;
        spec.type = GGML_TYPE_Q8_0;
        spec.ple_type = GGML_TYPE_Q4_0;
        spec.seed = 5;
        /* Layer 1 (sparse, owns KV), 5 (owns KV, read by no one) and 10 (shares) skipped. */
        check_skip_slice_equals_export(&spec, "ffn=96,64,128,32,64,96,128,32,64;skip=1,5,10", 9);
        /* The Lab's block (8..9) and a uniform width: the standard key layout. */
        check_skip_slice_equals_export(&spec, "ffn=64;skip=8-9", 10);
}

static void test_slice_skip_e4b_preset_equals_export(void **state) {
        /* E2B cut out of an E4B-shaped model, f16 weights. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_e4b(&spec);
        spec.n_embd = 64;
        spec.n_head = 2;
        spec.n_head_kv = 1;
        spec.head_dim = 32;
        spec.n_vocab = 300;
        spec.sliding_window = 6;
        spec.n_ctx = 4096;
        spec.type = GGML_TYPE_F16;
        spec.ple_type = GGML_TYPE_F16;
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                spec.n_ff[l] = 128;
        check_skip_slice_equals_export(&spec, "ffn=64;skip=20-24", 30);
}

/* Slices that agree up to the last KV-writing layer share KV: a context computed under one and
 * continued under the other equals a cold run of the other. A slice-shaped cache refuses a
 * slice that needs a layer it keeps nothing for. */
static void test_slice_switch_keeps_kv_when_same_kv(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 12;
        spec.n_kv_shared = 4;
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        const uint32_t n = 16, V = m->hp.n_vocab;
        Gemma3nSlice full, top;
        GemmaError err = { 0 };
        int32_t tokens[16];
        KvCache *kv = NULL;

        random_tokens(tokens, n, spec.n_vocab, 31);
        gemma3n_slice_full(m, &full);
        assert_int_equal(gemma3n_slice_parse(m, "ffn=128*8,64*4;skip=8-9", &top, &err), 0);
        assert_true(gemma3n_slice_same_kv(m, &full, &top));
        float *cold = run(m, &top, tokens, NULL, NULL, n, n, false);
        float *got = calloc((size_t) 8 * V, sizeof(float));
        assert_int_equal(gemma3n_kv_cache_new(m, n, 8, &kv, &err), 0);
        Gemma3nBatch b = { .n_tokens = 8, .tokens = tokens, .logits_all = true };
        assert_int_equal(gemma3n_forward(m, NULL, &full, kv, &b, got, &err), 0);
        b.tokens = tokens + 8;
        assert_int_equal(gemma3n_forward(m, NULL, &top, kv, &b, got, &err), 0);
        assert_true(test_close_rel("continued under the other slice vs cold", got, cold + (size_t) 8 * V, (size_t) 8 * V,
                                   1e-5));
        kv_cache_free(kv);

        Gemma3nSlice skip5;
        assert_int_equal(gemma3n_slice_parse(m, "skip=5", &skip5, &err), 0);
        assert_int_equal(gemma3n_kv_cache_new_for_slice(m, &skip5, n, 8, &kv, &err), 0);
        assert_int_equal(kv->layer_class[5], KV_CLASS_NONE);
        b.tokens = tokens;
        assert_int_equal(gemma3n_forward(m, NULL, &full, kv, &b, got, &err), -EINVAL);
        assert_non_null(strstr(err.message, "keeps nothing for layer 5"));
        assert_int_equal(kv->n_pos, 0);
        assert_int_equal(gemma3n_forward(m, NULL, &skip5, kv, &b, got, &err), 0);
        kv_cache_free(kv);
        free(cold);
        free(got);
        fixture_free(fx);
}

/* ---- Errors ---------------------------------------------------------------------------------- */

static void test_forward_rejects_bad_token_and_overflow(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        Fixture *fx = fixture_new(&spec);
        KvCache *kv = NULL;
        GemmaError err = { 0 };
        float *logits = calloc(spec.n_vocab * 4, sizeof(float));
        int32_t bad[2] = { 2, (int32_t) spec.n_vocab };
        int32_t neg[1] = { -1 };
        int32_t ok[4] = { 2, 10, 11, 12 };

        assert_int_equal(gemma3n_kv_cache_new(fx->model, 3, 8, &kv, &err), 0);
        Gemma3nBatch b = { .n_tokens = 2, .tokens = bad, .logits_all = true };
        assert_int_equal(gemma3n_forward(fx->model, NULL, NULL, kv, &b, logits, &err), -EINVAL);
        assert_non_null(strstr(err.message, "out of range"));
        b = (Gemma3nBatch) { .n_tokens = 1, .tokens = neg };
        assert_int_equal(gemma3n_forward(fx->model, NULL, NULL, kv, &b, logits, &err), -EINVAL);
        b = (Gemma3nBatch) { .n_tokens = 4, .tokens = ok };
        assert_int_equal(gemma3n_forward(fx->model, NULL, NULL, kv, &b, logits, &err), -ENOSPC);
        assert_non_null(strstr(err.message, "do not fit"));
        assert_int_equal(kv->n_pos, 0);   /* nothing was consumed */
        b.n_tokens = 3;
        assert_int_equal(gemma3n_forward(fx->model, NULL, NULL, kv, &b, logits, &err), 0);
        assert_int_equal(kv->n_pos, 3);
        kv_cache_free(kv);
        free(logits);
        fixture_free(fx);
}

static void test_make_test_spec_rejects_impossible_sharing(void **state) {
        Gemma3nTestSpec spec;
        GemmaError err = { 0 };
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 5;
        spec.n_kv_shared = 1;   /* layer 4 is global and layers 0..3 are all sliding */
        assert_int_equal(gemma3n_test_spec_validate(&spec, &err), -EINVAL);
        assert_non_null(strstr(err.message, "no earlier global layer"));
}

/* ---- Batched decoding of several sequences ------------------------------------------------ */

/* Three sequences of different lengths, stepped together (a prefill chunk of one next to decode
 * rows of the others, and pure decode steps) give every sequence the logits it gets alone. The
 * pool is shared and one sequence starts as a copy-on-write share of another's prefix. */
static void test_forward_multi_matches_single(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.sliding_window = 6;   /* so the decode steps cross sliding-page releases */
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        const uint32_t V = m->hp.n_vocab, n = 24;
        int32_t tokens[3][24];
        GemmaError err = { 0 };
        KvPool *pool = NULL;
        KvCache *kv[3] = { NULL };
        float *alone[3];
        float *got = calloc((size_t) 3 * V, sizeof(float));

        for (int i = 0; i < 3; i++) {
                random_tokens(tokens[i], n, spec.n_vocab, 40 + (uint64_t) i);
                alone[i] = run(m, NULL, tokens[i], NULL, NULL, n, 4, true);
        }
        /* Sequence 2 starts with sequence 0's first 8 tokens: it will share their pages. */
        memcpy(tokens[2], tokens[0], 8 * sizeof(int32_t));
        free(alone[2]);
        alone[2] = run(m, NULL, tokens[2], NULL, NULL, n, 4, true);

        assert_int_equal(gemma3n_kv_pool_new(m, 4, 0, &pool, &err), 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(kv_cache_new_in(pool, n, 8, &kv[i], &err), 0);

        /* Step 1: sequence 0 prefills 8 tokens alone. */
        Gemma3nSeqBatch b0 = { kv[0], tokens[0], 8, true };
        assert_int_equal(gemma3n_forward_multi(m, NULL, NULL, &b0, 1, got, &err), 0);
        assert_true(test_close_rel("seq 0 after its prefill", got, alone[0] + 7 * (size_t) V, V, 1e-5));
        /* Sequence 2 takes those 8 positions by reference. */
        assert_int_equal(kv_cache_share(kv[2], kv[0], 8, &err), 0);

        /* Step 2: seq 1 prefills 5 tokens (logits wanted), seqs 0 and 2 decode one token each. */
        Gemma3nSeqBatch b[3] = {
                { kv[0], tokens[0] + 8, 1, true },
                { kv[1], tokens[1], 5, true },
                { kv[2], tokens[2] + 8, 1, true },
        };
        assert_int_equal(gemma3n_forward_multi(m, NULL, NULL, b, 3, got, &err), 0);
        assert_true(test_close_rel("seq 0 decode", got, alone[0] + 8 * (size_t) V, V, 1e-5));
        assert_true(test_close_rel("seq 1 chunk", got + V, alone[1] + 4 * (size_t) V, V, 1e-5));
        assert_true(test_close_rel("seq 2 decode on shared pages", got + 2 * (size_t) V, alone[2] + 8 * (size_t) V, V,
                                   1e-5));

        /* Then pure decode steps for all three until the end. */
        uint32_t at[3] = { 9, 5, 9 };
        while (at[0] < n) {
                Gemma3nSeqBatch d[3];
                uint32_t k = 0;
                for (int i = 0; i < 3; i++)
                        if (at[i] < n)
                                d[k++] = (Gemma3nSeqBatch) { kv[i], tokens[i] + at[i], 1, true };
                assert_int_equal(gemma3n_forward_multi(m, NULL, NULL, d, k, got, &err), 0);
                k = 0;
                for (int i = 0; i < 3; i++)
                        if (at[i] < n) {
                                char what[64];
                                snprintf(what, sizeof(what), "seq %d position %u", i, at[i]);
                                assert_true(test_close_rel(what, got + (size_t) k * V, alone[i] + (size_t) at[i] * V, V,
                                                           1e-5));
                                at[i]++;
                                k++;
                        }
        }

        /* A cache may appear only once, and rows must fit its micro-batch. */
        Gemma3nSeqBatch twice[2] = { { kv[1], tokens[1], 1, true }, { kv[1], tokens[1], 1, true } };
        assert_int_equal(gemma3n_forward_multi(m, NULL, NULL, twice, 2, got, &err), -EINVAL);
        for (int i = 0; i < 3; i++) {
                kv_cache_free(kv[i]);
                free(alone[i]);
        }
        assert_int_equal(kv_pool_bytes(pool), 0);   /* every page went back */
        kv_pool_unref(pool);
        free(got);
        fixture_free(fx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hparams_load_matches_spec),
                cmocka_unit_test(test_kv_cache_shape_follows_layers),
                cmocka_unit_test(test_forward_decode_equals_batch),
                cmocka_unit_test(test_forward_decode_equals_batch_no_kv_sharing),
                cmocka_unit_test(test_forward_decode_equals_batch_quantized),
                cmocka_unit_test(test_forward_threads_give_identical_logits),
                cmocka_unit_test(test_forward_attention_split_gives_identical_logits),
                cmocka_unit_test(test_forward_packed_weights_give_identical_logits),
                cmocka_unit_test(test_forward_prefill_skips_shared_layers_same_logits),
                cmocka_unit_test(test_forward_embedding_input_matches_pad_token),
                cmocka_unit_test(test_forward_embedding_input_changes_output),
                cmocka_unit_test(test_slice_full_width_equals_full_model),
                cmocka_unit_test(test_slice_validate_rejects_bad_widths),
                cmocka_unit_test(test_slice_skip_equals_exported_model),
                cmocka_unit_test(test_slice_skip_e4b_preset_equals_export),
                cmocka_unit_test(test_slice_switch_keeps_kv_when_same_kv),
                cmocka_unit_test(test_forward_rejects_bad_token_and_overflow),
                cmocka_unit_test(test_make_test_spec_rejects_impossible_sharing),
                cmocka_unit_test(test_forward_multi_matches_single),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
