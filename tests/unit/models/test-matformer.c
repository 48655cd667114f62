/* MatFormer presets and slice specs: the presets each model shape offers (the official Mix-n-Match
 * configurations on an E4B-shaped model, written out below from the Lab's table), spec parsing,
 * formatting and their error messages, the KV-source rule for skipped layers, weight bytes per
 * token, and what an export writes into the file's metadata. Logits of exported files against the
 * runtime slice: test-forward.c. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/macro.h"
#include "gemma3n/make-test.h"
#include "gemma3n/matformer.h"
#include "gguf/gguf-writer.h"
#include "gguf/gguf.h"
#include "harness/test-model.h"
#include "tensor/type-traits.h"

/* A generated model in a temporary directory (harness/test-model.h). */
typedef TestModel Fixture;
#define fixture_new test_model_new
#define fixture_free test_model_free

/* E4B's layer count, attention pattern and KV sharing at test-sized widths: FFN 128 in q8_0 (the
 * half width, 64, is two blocks). */
static void spec_e4b_small(Gemma3nTestSpec *s) {
        gemma3n_test_spec_e4b(s);
        s->n_embd = 64;
        s->n_head = 2;
        s->n_head_kv = 1;
        s->head_dim = 32;
        s->n_vocab = 512;
        s->sliding_window = 8;
        s->n_ctx = 4096;
        s->type = GGML_TYPE_Q8_0;
        s->ple_type = GGML_TYPE_Q8_0;
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                s->n_ff[l] = 128;
}

static const Gemma3nPreset *find(const Gemma3nPreset *p, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(p[i].name, name) == 0)
                        return &p[i];
        return NULL;
}

/* ---- Presets -------------------------------------------------------------------------------- */

static void test_presets_default_model(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);   /* 8 layers; the shared 6, 7 are sliding: no Lab block */
        Fixture *fx = fixture_new(&spec);
        Gemma3nPreset *p = NULL;
        size_t n = 0;
        GemmaError err = { 0 };

        assert_false(gemma3n_model_is_e4b_shaped(fx->model));
        assert_int_equal(gemma3n_presets(fx->model, &p, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_string_equal(p[0].name, "full");
        assert_string_equal(p[1].name, "ffn-75");
        assert_string_equal(p[2].name, "ffn-50");
        for (uint32_t l = 0; l < 8; l++) {
                assert_int_equal(p[0].slice.ffn_units[l], 128);
                assert_int_equal(p[1].slice.ffn_units[l], 96);
                assert_int_equal(p[2].slice.ffn_units[l], 64);
        }
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(gemma3n_slice_validate(fx->model, &p[i].slice, &err), 0);
                assert_int_equal(gemma3n_slice_n_kept(fx->model, &p[i].slice), 8);
                if (i > 0)
                        assert_true(p[i].weight_bytes < p[i - 1].weight_bytes);
        }
        free(p);
        fixture_free(fx);
}

static void test_presets_proportional_round_to_blocks(void **state) {
        /* 160 units in q8_0 (5 blocks of 32): 75% = 3.75 blocks -> 4, 50% = 2.5 -> 2 (nearest,
         * ties to even); layers 5..9 share KV, 9 is the first global among them: the Lab block is
         * 5..9. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.type = GGML_TYPE_Q8_0;
        spec.n_layer = 12;
        spec.n_kv_shared = 7;
        for (uint32_t l = 0; l < GEMMA3N_MAX_LAYERS; l++)
                spec.n_ff[l] = 160;
        Fixture *fx = fixture_new(&spec);
        Gemma3nSlice s;
        GemmaError err = { 0 };

        assert_int_equal(gemma3n_preset_find(fx->model, "ffn-75", &s, &err), 0);
        assert_int_equal(s.ffn_units[0], 128);
        assert_int_equal(gemma3n_preset_find(fx->model, "FFN-50", &s, &err), 0);   /* names ignore case */
        assert_int_equal(s.ffn_units[11], 64);
        assert_int_equal(gemma3n_preset_find(fx->model, "ffn-100-skip", &s, &err), 0);
        for (uint32_t l = 0; l < 12; l++) {
                assert_int_equal(s.skip[l], l >= 5 && l <= 9);
                assert_int_equal(s.ffn_units[l], s.skip[l] ? 0 : 160);
        }
        assert_int_equal(gemma3n_preset_find(fx->model, "ffn-50-skip", &s, &err), 0);
        assert_int_equal(gemma3n_slice_n_kept(fx->model, &s), 7);
        assert_int_equal(gemma3n_preset_find(fx->model, "e2b", &s, &err), -ENOENT);
        assert_non_null(strstr(err.message, "no preset 'e2b'"));
        assert_non_null(strstr(err.message, "ffn-50-skip"));
        fixture_free(fx);
}

/* The official configurations: one character per kept layer, '8' = 2048 * 8 (the full width F),
 * '4' = 2048 * 4 (F/2), as google/gemma3n-slicing-configs lists them. */
static const struct {
        const char *name;
        const char *widths;
} official[] = {
        { "e2b", "444444444444444444444444444444" },
        { "e1.96b-layer", "444484444444444444444444444444" },
        { "e2.54b-layer", "44448444444444444444888884444444444" },
        { "e2.69b-layer", "44448444484444844448888884444444444" },
        { "e2.98b-layer", "44444444444444488888888884444488888" },
        { "e3.18b-layer", "44448444488888888888888884444844448" },
        { "e3.39b-layer", "44448444488888888888888888888844448" },
        { "e3.59b-layer", "44448888888888888888888888888844448" },
        { "e3.79b-layer", "44448888888888888888888888888888888" },
        { "e2.49b-block", "44444444444444444444888884444444444" },
        { "e2.73b-block", "44444444444444488888888884444444444" },
        { "e2.98b-block", "44444444448888888888888884444444444" },
        { "e3.24b-block", "44444444448888888888888888888844444" },
        { "e3.49b-block", "44444888888888888888888888888844444" },
        { "e3.79b-block", "44444888888888888888888888888888888" },
};

static void test_presets_e4b_official_configs(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nPreset *p = NULL;
        size_t n = 0;
        GemmaError err = { 0 };

        assert_true(gemma3n_model_is_e4b_shaped(m));
        assert_int_equal(gemma3n_presets(m, &p, &n, &err), 0);
        /* full, 15 official, ffn-75, ffn-50, ffn-100-skip, ffn-75-skip (ffn-50-skip is e2b). */
        assert_int_equal(n, 1 + 15 + 4);
        assert_string_equal(p[0].name, "full");
        assert_null(find(p, n, "ffn-50-skip"));
        for (size_t i = 0; i < ELEMENTSOF(official); i++) {
                const Gemma3nPreset *q = find(p, n, official[i].name);
                assert_non_null(q);
                const size_t n_kept = strlen(official[i].widths);
                assert_int_equal(gemma3n_slice_n_kept(m, &q->slice), n_kept);
                /* Skipped: 20..24 when 30 layers are kept (the Lab's E2B block), none otherwise. */
                for (uint32_t l = 0, kept = 0; l < 35; l++) {
                        assert_int_equal(q->slice.skip[l], n_kept == 30 && l >= 20 && l <= 24);
                        if (q->slice.skip[l]) {
                                assert_int_equal(q->slice.ffn_units[l], 0);
                                continue;
                        }
                        assert_int_equal(q->slice.ffn_units[l], official[i].widths[kept] == '8' ? 128 : 64);
                        kept++;
                }
                assert_int_equal(gemma3n_slice_validate(m, &q->slice, &err), 0);
                assert_string_equal(gemma3n_preset_name_of(m, &q->slice), official[i].name);
        }
        for (size_t i = 1; i < n; i++)
                assert_true(p[i].weight_bytes <= p[i - 1].weight_bytes);
        assert_string_equal(p[n - 1].name, "e2b");   /* the smallest */
        free(p);

        /* Another layer count or KV sharing is not the E4B shape. */
        fixture_free(fx);
        spec.n_kv_shared = 10;
        fx = fixture_new(&spec);
        assert_false(gemma3n_model_is_e4b_shaped(fx->model));
        assert_int_equal(gemma3n_presets(fx->model, &p, &n, &err), 0);
        assert_null(find(p, n, "e2b"));
        assert_non_null(find(p, n, "ffn-50-skip"));   /* 25..29 is its Lab block */
        free(p);
        fixture_free(fx);
}

/* ---- Specs ---------------------------------------------------------------------------------- */

static void assert_parses_to(const Gemma3nModel *m, const char *spec, const Gemma3nSlice *want) {
        Gemma3nSlice got;
        GemmaError err = { 0 };
        if (gemma3n_slice_parse(m, spec, &got, &err) < 0)
                fail_msg("'%s': %s", spec, err.message);
        if (memcmp(&got, want, sizeof(got)) != 0)
                fail_msg("'%s' parsed to another slice", spec);
}

static void test_spec_parse_forms(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nSlice want;
        GemmaError err = { 0 };

        /* e1.96b-layer: one width per kept layer (the Lab's order), one per model layer (skipped
         * entries ignored), percentages, units, blanks. */
        assert_int_equal(gemma3n_preset_find(m, "e1.96b-layer", &want, &err), 0);
        assert_parses_to(m, "ffn=64*4,128,64*25;skip=20-24", &want);
        assert_parses_to(m, "ffn=50%*4,100%,50%*25;skip=20,21,22-24", &want);
        assert_parses_to(m, "ffn=64*4,128,64*15,1*5,64*10;skip=20-24", &want);
        assert_parses_to(m, "  skip = 20 - 24 ;ffn = 64 * 4 , 128 , 64 * 25 ; ", &want);

        assert_int_equal(gemma3n_preset_find(m, "e2b", &want, &err), 0);
        assert_parses_to(m, "ffn=64;skip=20-24", &want);
        assert_parses_to(m, "ffn=50%;skip=20-24", &want);

        gemma3n_slice_full(m, &want);
        assert_parses_to(m, "ffn=100%", &want);
        assert_parses_to(m, "skip=", &want);
        want.skip[30] = true;
        want.ffn_units[30] = 0;
        assert_parses_to(m, "skip=30", &want);

        /* A preset name or a spec. */
        assert_int_equal(gemma3n_slice_from_string(m, "e3.79b-block", &want, &err), 0);
        assert_int_equal(want.ffn_units[4], 64);
        assert_int_equal(want.ffn_units[5], 128);
        assert_int_equal(gemma3n_slice_from_string(m, "ffn=96", &want, &err), 0);
        assert_int_equal(want.ffn_units[34], 96);
        fixture_free(fx);
}

static void test_spec_format_round_trip(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nPreset *p = NULL;
        size_t n = 0;
        GemmaError err = { 0 };

        assert_int_equal(gemma3n_presets(m, &p, &n, &err), 0);
        for (size_t i = 0; i < n; i++) {
                char *text = gemma3n_slice_format(m, &p[i].slice);
                assert_non_null(text);
                assert_parses_to(m, text, &p[i].slice);
                free(text);
        }
        char *text = gemma3n_slice_format(m, &find(p, n, "e2b")->slice);
        assert_string_equal(text, "ffn=64;skip=20-24");
        free(text);
        text = gemma3n_slice_format(m, &find(p, n, "e2.98b-layer")->slice);
        assert_string_equal(text, "ffn=64*15,128*10,64*5,128*5");
        free(text);
        text = gemma3n_slice_format(m, &find(p, n, "e1.96b-layer")->slice);
        assert_string_equal(text, "ffn=64*4,128,64*25;skip=20-24");
        free(text);

        /* Separate skipped ranges, and a run that continues across a skipped layer. */
        Gemma3nSlice s;
        assert_int_equal(gemma3n_slice_parse(m, "ffn=32*10,96*21;skip=0,2-3,34", &s, &err), 0);
        text = gemma3n_slice_format(m, &s);
        assert_string_equal(text, "ffn=32*10,96*21;skip=0,2-3,34");
        free(text);
        free(p);
        fixture_free(fx);
}

static void check_error(const Gemma3nModel *m, const char *spec, const char *message) {
        Gemma3nSlice s;
        GemmaError err = { 0 };
        int k = gemma3n_slice_from_string(m, spec, &s, &err);
        if (k >= 0)
                fail_msg("'%s' was accepted", spec);
        if (!strstr(err.message, message))
                fail_msg("'%s': message '%s' lacks '%s'", spec, err.message, message);
}

static void test_spec_errors(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;

        check_error(m, "=", "expected 'ffn=' or 'skip='");
        check_error(m, "ffn=", "expected a number");
        check_error(m, "ffn=abc", "expected a number at 'abc'");
        check_error(m, "ffn=0", "not a positive whole number");
        check_error(m, "ffn=1.5", "not a positive whole number");
        check_error(m, "ffn=150%", "not a percentage");
        check_error(m, "ffn=64,64", "2 FFN widths given; the model needs 1 or 35");
        check_error(m, "ffn=64,64;skip=30", "needs 1, 34 (one per kept layer) or 35");
        check_error(m, "ffn=64*0", "repeat count");
        check_error(m, "ffn=64;ffn=64", "part given twice");
        check_error(m, "size=64", "expected 'ffn=' or 'skip='");
        check_error(m, "ffn=64 64", "expected ',' or ';'");
        check_error(m, "skip=35", "layer 35 does not exist (the model has layers 0..34)");
        check_error(m, "skip=24-20", "backwards");
        check_error(m, "skip=a", "expected a number");
        check_error(m, "ffn=160", "layer 0 uses 160 FFN units (allowed 1..128)");
        check_error(m, "ffn=48", "layer 0: 48 FFN units is not a multiple of 32");
        check_error(m, "ffn=128*20,48,128*14", "layer 20: 48 FFN units");
        check_error(m, "nonsense", "no preset 'nonsense'");
        /* KV sources are reserved (the MatFormer Lab's rule). */
        check_error(m, "skip=18", "layer 18 cannot be skipped: layer 20 reads its KV");
        check_error(m, "skip=19", "layer 19 cannot be skipped: layer 24 reads its KV");
        check_error(m, "skip=15-24", "layer 18 cannot be skipped");
        fixture_free(fx);

        /* Without KV sharing nothing is reserved, but some layer must remain. */
        Gemma3nTestSpec small;
        gemma3n_test_spec_default(&small);
        small.n_kv_shared = 0;
        fx = fixture_new(&small);
        check_error(fx->model, "skip=0-7", "every layer is skipped");
        fixture_free(fx);
}

/* ---- Skipped layers and KV ------------------------------------------------------------------ */

static void test_skip_kv_source_rule(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nSlice s, full, skip_block, ffn75;
        GemmaError err = { 0 };

        /* Sources as the spec gives them for E4B: sliding shared layers read 18, global ones 19. */
        for (uint32_t l = 20; l < 35; l++)
                assert_int_equal(m->hp.kv_source[l], l % 5 == 4 ? 19 : 18);
        /* Skipping a KV-owning layer that no one reads from is allowed... */
        assert_int_equal(gemma3n_slice_parse(m, "skip=17", &s, &err), 0);
        assert_int_equal(gemma3n_slice_validate(m, &s, &err), 0);
        /* ...and validation names the layer when a source is skipped in a hand-made slice. */
        gemma3n_slice_full(m, &s);
        s.skip[19] = true;
        assert_int_equal(gemma3n_slice_validate(m, &s, &err), -EINVAL);
        assert_non_null(strstr(err.message, "layer 19 cannot be skipped"));
        s.skip[19] = false;
        s.skip[40] = true;   /* beyond the model */
        assert_int_equal(gemma3n_slice_validate(m, &s, &err), -EINVAL);
        assert_non_null(strstr(err.message, "layer 40"));

        /* Which switches keep the KV: only changes after the last KV-writing layer (19). */
        gemma3n_slice_full(m, &full);
        assert_int_equal(gemma3n_preset_find(m, "ffn-100-skip", &skip_block, &err), 0);
        assert_int_equal(gemma3n_preset_find(m, "ffn-75", &ffn75, &err), 0);
        assert_true(gemma3n_slice_same_kv(m, &full, &skip_block));
        assert_false(gemma3n_slice_same_kv(m, &full, &ffn75));
        assert_int_equal(gemma3n_slice_parse(m, "skip=17", &s, &err), 0);
        assert_false(gemma3n_slice_same_kv(m, &full, &s));
        assert_int_equal(gemma3n_slice_parse(m, "ffn=128*20,64*15", &s, &err), 0);
        assert_true(gemma3n_slice_same_kv(m, &full, &s));
        assert_false(gemma3n_slice_equal(m, &full, &s));

        /* A slice-shaped cache holds nothing for a skipped KV-owning layer. */
        KvCache *kv = NULL;
        assert_int_equal(gemma3n_slice_parse(m, "skip=12-14", &s, &err), 0);
        assert_int_equal(gemma3n_kv_cache_new_for_slice(m, &s, 16, 4, &kv, &err), 0);
        for (uint32_t l = 0; l < 35; l++) {
                uint8_t want = l >= 20 || (l >= 12 && l <= 14) ? KV_CLASS_NONE : l % 5 == 4 ? KV_CLASS_GLOBAL : KV_CLASS_SLIDING;
                assert_int_equal(kv->layer_class[l], want);
        }
        kv_cache_free(kv);
        fixture_free(fx);
}

/* ---- Bytes per token ------------------------------------------------------------------------ */

static void test_weight_bytes_monotonic(void **state) {
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nSlice s;
        GemmaError err = { 0 };
        uint64_t prev = UINT64_MAX;

        /* Narrower everywhere: fewer bytes; and each q8_0 block of 32 units dropped in every layer
         * saves gate + up (32 rows of 64 values each) and down (64 rows of 32 values): 3 x 32 x 64
         * values = 6144 values = 192 blocks of 34 bytes per layer, 35 layers. */
        for (uint32_t units = 128; units >= 32; units -= 32) {
                char text[32];
                snprintf(text, sizeof(text), "ffn=%u", units);
                assert_int_equal(gemma3n_slice_parse(m, text, &s, &err), 0);
                uint64_t bytes = gemma3n_slice_weight_bytes(m, &s);
                if (prev != UINT64_MAX)
                        assert_int_equal(prev - bytes, 35ull * 192 * 34);
                prev = bytes;
        }
        /* Skipping more layers: fewer bytes, at any width. */
        const char *chain[] = { "ffn=64", "ffn=64;skip=20", "ffn=64;skip=20-24", "ffn=64;skip=15-17,20-24",
                                "ffn=64;skip=0-17,20-34" };
        prev = UINT64_MAX;
        for (size_t i = 0; i < ELEMENTSOF(chain); i++) {
                assert_int_equal(gemma3n_slice_parse(m, chain[i], &s, &err), 0);
                uint64_t bytes = gemma3n_slice_weight_bytes(m, &s);
                assert_true(bytes < prev);
                prev = bytes;
        }
        /* A slice never reads more than the full model, which reads less than the file holds (one
         * row of each embedding table, no K/V projections of KV-sharing layers). */
        Gemma3nSlice full;
        gemma3n_slice_full(m, &full);
        uint64_t file_bytes = 0;
        for (size_t i = 0; i < m->file->n_tensors; i++)
                file_bytes += m->file->tensors[i].n_bytes;
        assert_true(gemma3n_slice_weight_bytes(m, &full) < file_bytes);
        assert_true(gemma3n_slice_weight_bytes(m, &s) < gemma3n_slice_weight_bytes(m, &full));
        fixture_free(fx);
}

/* ---- Export metadata ------------------------------------------------------------------------ */

static uint32_t u32_of(const GgufFile *f, const char *key) {
        uint32_t v = 0;
        GemmaError err = { 0 };
        if (gguf_get_u32(f, key, &v, &err) < 0)
                fail_msg("%s: %s", key, err.message);
        return v;
}

static void test_export_e2b_metadata(void **state) {
        /* E2B exported from an E4B-shaped model: the layout of a converted E2B file. */
        Gemma3nTestSpec spec;
        spec_e4b_small(&spec);
        Fixture *fx = fixture_new(&spec);
        const Gemma3nModel *m = fx->model;
        Gemma3nSlice s;
        GemmaError err = { 0 };
        char out[600];
        GgufFile *f = NULL;
        Gemma3nModel *e2b = NULL;

        snprintf(out, sizeof(out), "%s/e2b.gguf", fx->dir);
        assert_int_equal(gemma3n_preset_find(m, "e2b", &s, &err), 0);
        if (gemma3n_slice_export(m, &s, out, &err) < 0)
                fail_msg("export: %s", err.message);
        assert_int_equal(gguf_open(out, &f, &err), 0);
        assert_int_equal(u32_of(f, "gemma3n.block_count"), 30);
        assert_int_equal(u32_of(f, "gemma3n.attention.shared_kv_layers"), 10);
        const GgufKv *ff = gguf_find_kv(f, "gemma3n.feed_forward_length");
        assert_non_null(ff);   /* an array, as the source (and converted files) have it */
        assert_int_equal(ff->value.type, GGUF_TYPE_ARRAY);
        assert_int_equal(ff->value.arr.elem_type, GGUF_TYPE_INT32);
        assert_int_equal(ff->value.arr.count, 30);
        for (uint32_t i = 0; i < 30; i++) {
                double v = 0;
                assert_true(gguf_array_get_f64(&ff->value.arr, i, &v));
                assert_true(v == 64);
        }
        const GgufKv *swa = gguf_find_kv(f, "gemma3n.attention.sliding_window_pattern");
        assert_non_null(swa);
        assert_int_equal(swa->value.arr.count, 30);
        const GgufKv *sp = gguf_find_kv(f, "gemma3n.activation_sparsity_scale");
        assert_non_null(sp);
        assert_int_equal(sp->value.arr.count, 30);
        GgufString slice_key;
        assert_int_equal(gguf_get_string(f, "gemmad.slice", &slice_key, &err), 0);
        assert_int_equal(slice_key.len, strlen("ffn=64;skip=20-24"));
        assert_memory_equal(slice_key.ptr, "ffn=64;skip=20-24", slice_key.len);
        /* Tensors: 7 global + 24 per kept layer, the PLE table and projection cut to 30 chunks. */
        assert_int_equal(f->n_tensors, 7 + 24 * 30);
        assert_null(gguf_find_tensor(f, "blk.30.attn_q.weight"));
        assert_int_equal(gguf_find_tensor(f, "per_layer_token_embd.weight")->ne[0], 30 * 256);
        assert_int_equal(gguf_find_tensor(f, "per_layer_model_proj.weight")->ne[1], 30 * 256);
        assert_int_equal(gguf_find_tensor(f, "blk.29.ffn_down.weight")->ne[0], 64);
        assert_int_equal(gguf_find_tensor(f, "blk.29.ffn_gate.weight")->ne[1], 64);
        /* blk.20 of the export is blk.25 of the source, byte for byte. */
        const GgufTensor *a = gguf_find_tensor(f, "blk.20.attn_q.weight"), *b = gguf_find_tensor(m->file, "blk.25.attn_q.weight");
        assert_int_equal(a->n_bytes, b->n_bytes);
        assert_memory_equal(a->data, b->data, a->n_bytes);
        gguf_close(f);

        /* Loaded: E2B's structure (spec §1.2): global every 5th, 20..29 share 18 / 19, sparsity on 0..9. */
        assert_int_equal(gemma3n_model_load(out, &e2b, &err), 0);
        assert_int_equal(e2b->hp.n_layer, 30);
        for (uint32_t l = 0; l < 30; l++) {
                assert_int_equal(e2b->hp.is_swa[l], l % 5 != 4);
                assert_int_equal(e2b->hp.kv_source[l], l < 20 ? l : l % 5 == 4 ? 19 : 18);
                assert_true((e2b->hp.sparsity_k[l] > 0) == (l < 10));
                assert_int_equal(e2b->hp.n_ff[l], 64);
        }
        gemma3n_model_free(e2b);
        fixture_free(fx);
}

static void test_export_keeps_layer_types_on_unaligned_skip(void **state) {
        /* Skipping 2 and 3 of a period-5 model: the kept layers keep their own types (the renumbered
         * period-5 rule would make the old layer 6 global), and sparsity stays on the old first 3. */
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 12;
        spec.n_kv_shared = 2;
        Fixture *fx = fixture_new(&spec);
        Gemma3nSlice s;
        GemmaError err = { 0 };
        char out[600];
        Gemma3nModel *x = NULL;

        snprintf(out, sizeof(out), "%s/x.gguf", fx->dir);
        assert_int_equal(gemma3n_slice_parse(fx->model, "ffn=96;skip=2-3", &s, &err), 0);
        assert_int_equal(gemma3n_slice_export(fx->model, &s, out, &err), 0);
        assert_int_equal(gemma3n_model_load(out, &x, &err), 0);
        const uint32_t old_of[10] = { 0, 1, 4, 5, 6, 7, 8, 9, 10, 11 };
        for (uint32_t l = 0; l < 10; l++) {
                assert_int_equal(x->hp.is_swa[l], fx->model->hp.is_swa[old_of[l]]);
                assert_true(x->hp.sparsity_k[l] == fx->model->hp.sparsity_k[old_of[l]]);
                assert_int_equal(x->hp.n_ff[l], 96);
        }
        /* Shared layers 10, 11 (new 8, 9) are sliding and read the old layer 8 (new 6). */
        assert_int_equal(x->hp.kv_source[8], 6);
        assert_int_equal(x->hp.kv_source[9], 6);
        gemma3n_model_free(x);
        fixture_free(fx);
}

/* The test model rewritten with the key forms other converters use: a scalar
 * feed_forward_length, a scalar sliding-window period, and no activation_sparsity_scale (so the
 * loader's defaults apply: sparsity on the first 10 layers). */
static void write_scalar_keys_copy(const Gemma3nModel *m, const char *path) {
        const GgufFile *f = m->file;
        GgufWriter *w = gguf_writer_new();
        GemmaError err = { 0 };
        assert_non_null(w);
        for (size_t i = 0; i < f->n_kvs; i++) {
                const char *key = f->kvs[i].key;
                if (strcmp(key, "gemma3n.feed_forward_length") == 0)
                        assert_int_equal(gguf_writer_add_u32(w, key, m->hp.n_ff[0]), 0);
                else if (strcmp(key, "gemma3n.attention.sliding_window_pattern") == 0)
                        assert_int_equal(gguf_writer_add_u32(w, key, 5), 0);
                else if (strcmp(key, "gemma3n.activation_sparsity_scale") != 0)
                        assert_int_equal(gguf_writer_add_value(w, key, &f->kvs[i].value), 0);
        }
        for (size_t i = 0; i < f->n_tensors; i++) {
                const GgufTensor *t = &f->tensors[i];
                assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->n_bytes), 0);
        }
        if (gguf_writer_write(w, path, &err) < 0)
                fail_msg("write: %s", err.message);
        gguf_writer_free(w);
}

static float *all_logits(const Gemma3nModel *m, const Gemma3nSlice *s, const int32_t *tokens, uint32_t n) {
        KvCache *kv = NULL;
        GemmaError err = { 0 };
        float *logits = calloc((size_t) n * m->hp.n_vocab, sizeof(float));
        assert_non_null(logits);
        assert_int_equal(gemma3n_kv_cache_new(m, n, n, &kv, &err), 0);
        Gemma3nBatch b = { .n_tokens = n, .tokens = tokens, .logits_all = true };
        if (gemma3n_forward(m, NULL, s, kv, &b, logits, &err) < 0)
                fail_msg("forward: %s", err.message);
        kv_cache_free(kv);
        return logits;
}

static void test_export_scalar_key_forms(void **state) {
        Gemma3nTestSpec spec;
        gemma3n_test_spec_default(&spec);
        spec.n_layer = 12;
        spec.n_kv_shared = 2;
        Fixture *fx = fixture_new(&spec);
        Gemma3nModel *src = NULL, *x = NULL;
        GgufFile *f = NULL;
        Gemma3nSlice s;
        GemmaError err = { 0 };
        char path[600], out[600];
        const int32_t tokens[10] = { 2, 17, 99, 5, 250, 42, 7, 8, 9, 10 };

        snprintf(path, sizeof(path), "%s/scalar.gguf", fx->dir);
        snprintf(out, sizeof(out), "%s/out.gguf", fx->dir);
        write_scalar_keys_copy(fx->model, path);
        assert_int_equal(gemma3n_model_load(path, &src, &err), 0);
        assert_true(src->hp.sparsity_k[9] > 0 && src->hp.sparsity_k[10] == 0);

        /* Uniform, nothing renumbered: the scalar forms stay. */
        assert_int_equal(gemma3n_slice_parse(src, "ffn=64;skip=10", &s, &err), 0);
        assert_int_equal(gemma3n_slice_export(src, &s, out, &err), 0);
        assert_int_equal(gguf_open(out, &f, &err), 0);
        assert_int_equal(gguf_find_kv(f, "gemma3n.feed_forward_length")->value.type, GGUF_TYPE_UINT32);
        assert_int_equal(u32_of(f, "gemma3n.feed_forward_length"), 64);
        assert_int_equal(gguf_find_kv(f, "gemma3n.attention.sliding_window_pattern")->value.type, GGUF_TYPE_UINT32);
        assert_null(gguf_find_kv(f, "gemma3n.activation_sparsity_scale"));
        gguf_close(f);

        /* Mixed widths and a skip that moves layers: an array of widths, and the per-layer arrays
         * the defaults no longer describe. */
        assert_int_equal(gemma3n_slice_parse(src, "ffn=64,96,64,96,64,96,64,96,64,96;skip=2-3", &s, &err), 0);
        assert_int_equal(gemma3n_slice_export(src, &s, out, &err), 0);
        assert_int_equal(gguf_open(out, &f, &err), 0);
        const GgufKv *ff = gguf_find_kv(f, "gemma3n.feed_forward_length");
        assert_int_equal(ff->value.type, GGUF_TYPE_ARRAY);
        assert_int_equal(ff->value.arr.count, 10);
        assert_int_equal(gguf_find_kv(f, "gemma3n.attention.sliding_window_pattern")->value.type, GGUF_TYPE_ARRAY);
        assert_int_equal(gguf_find_kv(f, "gemma3n.activation_sparsity_scale")->value.type, GGUF_TYPE_ARRAY);
        gguf_close(f);
        assert_int_equal(gemma3n_model_load(out, &x, &err), 0);
        const uint32_t old_of[10] = { 0, 1, 4, 5, 6, 7, 8, 9, 10, 11 };
        for (uint32_t l = 0; l < 10; l++) {
                assert_int_equal(x->hp.is_swa[l], src->hp.is_swa[old_of[l]]);
                assert_true(x->hp.sparsity_k[l] == src->hp.sparsity_k[old_of[l]]);
                assert_int_equal(x->hp.n_ff[l], l % 2 ? 96 : 64);
        }
        float *view = all_logits(src, &s, tokens, 10), *file = all_logits(x, NULL, tokens, 10);
        assert_true(test_close_rel("scalar-key source: view vs export", view, file, 10 * (size_t) spec.n_vocab, 0));
        free(view);
        free(file);
        gemma3n_model_free(x);
        gemma3n_model_free(src);
        fixture_free(fx);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_presets_default_model),
                cmocka_unit_test(test_presets_proportional_round_to_blocks),
                cmocka_unit_test(test_presets_e4b_official_configs),
                cmocka_unit_test(test_spec_parse_forms),
                cmocka_unit_test(test_spec_format_round_trip),
                cmocka_unit_test(test_spec_errors),
                cmocka_unit_test(test_skip_kv_source_rule),
                cmocka_unit_test(test_weight_bytes_monotonic),
                cmocka_unit_test(test_export_e2b_metadata),
                cmocka_unit_test(test_export_keeps_layer_types_on_unaligned_skip),
                cmocka_unit_test(test_export_scalar_key_forms),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
