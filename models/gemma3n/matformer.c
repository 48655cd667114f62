/* MatFormer presets, slice specs, bytes per token (see matformer.h). The export lives in
 * slice-export.c. */
#include "matformer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "tensor/type-traits.h"

static uint32_t ffn_block(const Gemma3nModel *m, uint32_t l) {
        return (uint32_t) type_traits(m->w.layers[l].ffn_down.type)->block_elems;
}

/* percent of layer l's width in whole blocks of ffn_down's type: the nearest, at least one. */
static uint32_t units_for_percent(const Gemma3nModel *m, uint32_t l, double percent) {
        const uint32_t B = ffn_block(m, l), n_blocks = m->hp.n_ff[l] / B;
        double blocks = nearbyint((double) m->hp.n_ff[l] * percent / 100.0 / B);
        if (blocks < 1)
                blocks = 1;
        if (blocks > n_blocks)
                blocks = n_blocks;
        return (uint32_t) blocks * B;
}

/* ---- Spec parsing --------------------------------------------------------------------------- */

typedef struct Amount {
        bool percent;
        double value;
} Amount;

typedef struct Parser {
        const Gemma3nModel *m;
        const char *spec;
        const char *p;
        GemmaError *err;
} Parser;

#define SPEC_FMT "slice spec '%.80s': "

static void skip_blanks(Parser *ps) {
        while (*ps->p == ' ' || *ps->p == '\t')
                ps->p++;
}

static int parse_error(Parser *ps, const char *what) {
        return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "%s at '%.20s'", ps->spec, what, ps->p);
}

/* A decimal number without sign: digits, at most one '.'. */
static int parse_number(Parser *ps, double *ret, bool *ret_integral) {
        char buf[32];
        size_t n = strspn(ps->p, "0123456789.");
        if (n == 0 || n >= sizeof(buf))
                return parse_error(ps, "expected a number");
        memcpy(buf, ps->p, n);
        buf[n] = 0;
        char *end;
        double v = strtod(buf, &end);
        if (*end || strchr(buf, '.') != strrchr(buf, '.') || !isfinite(v))
                return parse_error(ps, "expected a number");
        *ret = v;
        *ret_integral = !strchr(buf, '.');
        ps->p += n;
        return 0;
}

static int parse_uint(Parser *ps, uint32_t max, uint32_t *ret) {
        double v;
        bool integral;
        const char *at = ps->p;
        int k = parse_number(ps, &v, &integral);
        if (k < 0)
                return k;
        if (!integral || v > max) {
                ps->p = at;
                return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "'%.20s' is not a whole number up to %u", ps->spec, at, max);
        }
        *ret = (uint32_t) v;
        return 0;
}

static bool at_part_end(Parser *ps) {
        skip_blanks(ps);
        return *ps->p == 0 || *ps->p == ';';
}

static int parse_widths(Parser *ps, Amount *ret, size_t *ret_n) {
        size_t n = 0;
        for (;;) {
                Amount a = { 0 };
                uint32_t count = 1;
                bool integral;
                int k;
                skip_blanks(ps);
                const char *at = ps->p;
                if ((k = parse_number(ps, &a.value, &integral)) < 0)
                        return k;
                skip_blanks(ps);
                if (*ps->p == '%') {
                        ps->p++;
                        a.percent = true;
                        if (!(a.value > 0.0 && a.value <= 100.0))
                                return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "width '%.20s' is not a percentage in (0, 100]",
                                                       ps->spec, at);
                } else if (!integral || a.value < 1 || a.value > UINT32_MAX)
                        return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "width '%.20s' is not a positive whole number of units",
                                               ps->spec, at);
                skip_blanks(ps);
                if (*ps->p == '*') {
                        ps->p++;
                        skip_blanks(ps);
                        if ((k = parse_uint(ps, GEMMA3N_MAX_LAYERS, &count)) < 0)
                                return k;
                        if (count == 0)
                                return parse_error(ps, "a repeat count must be at least 1");
                }
                if (n + count > GEMMA3N_MAX_LAYERS)
                        return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "more than %d FFN widths", ps->spec, GEMMA3N_MAX_LAYERS);
                for (uint32_t i = 0; i < count; i++)
                        ret[n++] = a;
                if (at_part_end(ps))
                        break;
                if (*ps->p != ',')
                        return parse_error(ps, "expected ',' or ';'");
                ps->p++;
        }
        *ret_n = n;
        return 0;
}

static int parse_layers(Parser *ps, bool *skip) {
        const uint32_t L = ps->m->hp.n_layer;
        if (at_part_end(ps))
                return 0;   /* "skip=" alone: nothing skipped */
        for (;;) {
                uint32_t a = 0, b = 0;   /* set by parse_uint(); initialised for -Wmaybe-uninitialized */
                int k;
                skip_blanks(ps);
                if ((k = parse_uint(ps, UINT32_MAX, &a)) < 0)
                        return k;
                b = a;
                skip_blanks(ps);
                if (*ps->p == '-') {
                        ps->p++;
                        skip_blanks(ps);
                        if ((k = parse_uint(ps, UINT32_MAX, &b)) < 0)
                                return k;
                }
                if (b < a)
                        return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "layer range %u-%u is backwards", ps->spec, a, b);
                if (b >= L)
                        return gemma_error_set(ps->err, -EINVAL, SPEC_FMT "layer %u does not exist (the model has layers 0..%u)",
                                               ps->spec, b, L - 1);
                for (uint32_t l = a; l <= b; l++)
                        skip[l] = true;
                if (at_part_end(ps))
                        return 0;
                if (*ps->p != ',')
                        return parse_error(ps, "expected ',' or ';'");
                ps->p++;
        }
}

int gemma3n_slice_parse(const Gemma3nModel *m, const char *spec, Gemma3nSlice *ret, GemmaError *err) {
        const uint32_t L = m->hp.n_layer;
        Parser ps = { .m = m, .spec = spec, .p = spec, .err = err };
        Amount widths[GEMMA3N_MAX_LAYERS];
        size_t n_widths = 0;
        bool have_ffn = false, have_skip = false;
        Gemma3nSlice s;
        int k;

        memset(&s, 0, sizeof(s));
        for (;;) {
                skip_blanks(&ps);
                if (*ps.p == 0 && ps.p == spec)
                        return gemma_error_set(err, -EINVAL, "slice spec is empty");
                size_t n = strcspn(ps.p, "=;");
                while (n > 0 && (ps.p[n - 1] == ' ' || ps.p[n - 1] == '\t'))
                        n--;
                bool is_ffn = n == 3 && strncmp(ps.p, "ffn", 3) == 0, is_skip = n == 4 && strncmp(ps.p, "skip", 4) == 0;
                if (!is_ffn && !is_skip)
                        return parse_error(&ps, "expected 'ffn=' or 'skip='");
                if ((is_ffn && have_ffn) || (is_skip && have_skip))
                        return parse_error(&ps, "part given twice");
                ps.p += n;
                skip_blanks(&ps);
                if (*ps.p != '=')
                        return parse_error(&ps, "expected '='");
                ps.p++;
                if (is_ffn) {
                        have_ffn = true;
                        if ((k = parse_widths(&ps, widths, &n_widths)) < 0)
                                return k;
                } else {
                        have_skip = true;
                        if ((k = parse_layers(&ps, s.skip)) < 0)
                                return k;
                }
                skip_blanks(&ps);
                if (*ps.p == 0)
                        break;
                ps.p++;   /* ';' */
                skip_blanks(&ps);
                if (*ps.p == 0)
                        break;   /* a trailing ';' is harmless */
        }

        const uint32_t n_kept = gemma3n_slice_n_kept(m, &s);
        if (n_kept == 0)
                return gemma_error_set(err, -EINVAL, SPEC_FMT "every layer is skipped", spec);
        if (have_ffn && n_widths != 1 && n_widths != n_kept && n_widths != L) {
                if (n_kept == L)
                        return gemma_error_set(err, -EINVAL, SPEC_FMT "%zu FFN widths given; the model needs 1 or %u (one per layer)",
                                               spec, n_widths, L);
                return gemma_error_set(err, -EINVAL,
                                       SPEC_FMT "%zu FFN widths given; the slice needs 1, %u (one per kept layer) or %u (one per layer)",
                                       spec, n_widths, n_kept, L);
        }
        for (uint32_t l = 0, kept = 0; l < L; l++) {
                if (s.skip[l])
                        continue;
                const Amount *a = !have_ffn ? NULL : n_widths == 1 ? &widths[0] : n_widths == n_kept ? &widths[kept] : &widths[l];
                kept++;
                if (!a)
                        s.ffn_units[l] = m->hp.n_ff[l];
                else if (a->percent)
                        s.ffn_units[l] = units_for_percent(m, l, a->value);
                else
                        s.ffn_units[l] = (uint32_t) a->value;
        }
        if ((k = gemma3n_slice_validate(m, &s, err)) < 0)
                return k;
        *ret = s;
        return 0;
}

/* ---- Formatting ----------------------------------------------------------------------------- */

char *gemma3n_slice_format(const Gemma3nModel *m, const Gemma3nSlice *s) {
        const uint32_t L = m->hp.n_layer;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        uint32_t first_units = 0;
        bool uniform = true, any_kept = false;
        for (uint32_t l = 0; l < L; l++)
                if (!s->skip[l]) {
                        if (any_kept && s->ffn_units[l] != first_units)
                                uniform = false;
                        if (!any_kept)
                                first_units = s->ffn_units[l];
                        any_kept = true;
                }
        fputs("ffn=", f);
        if (uniform)
                fprintf(f, "%u", first_units);
        else {
                bool first = true;
                for (uint32_t l = 0; l < L;) {
                        if (s->skip[l]) {
                                l++;
                                continue;
                        }
                        /* A run of kept layers (skipped ones in between do not break it). */
                        uint32_t units = s->ffn_units[l], count = 0, j = l;
                        while (j < L && (s->skip[j] || s->ffn_units[j] == units)) {
                                count += !s->skip[j];
                                j++;
                        }
                        fprintf(f, first ? "%u" : ",%u", units);
                        if (count > 1)
                                fprintf(f, "*%u", count);
                        first = false;
                        l = j;
                }
        }
        bool first = true;
        for (uint32_t l = 0; l < L;) {
                if (!s->skip[l]) {
                        l++;
                        continue;
                }
                uint32_t j = l;
                while (j + 1 < L && s->skip[j + 1])
                        j++;
                fputs(first ? ";skip=" : ",", f);
                if (j > l)
                        fprintf(f, "%u-%u", l, j);
                else
                        fprintf(f, "%u", l);
                first = false;
                l = j + 1;
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- Bytes per token ------------------------------------------------------------------------ */

static uint64_t tensor_rows_bytes(const Tensor *t, uint64_t rows) {
        return (uint64_t) t->row_bytes * rows;
}

uint64_t gemma3n_slice_weight_bytes(const Gemma3nModel *m, const Gemma3nSlice *s) {
        const Gemma3nHParams *hp = &m->hp;
        const Gemma3nWeights *w = &m->w;
        const uint64_t P = hp->n_embd_ple;
        uint32_t n_kept = 0;
        uint64_t bytes = 0, chunk;

        for (uint32_t l = 0; l < hp->n_layer; l++) {
                if (s->skip[l])
                        continue;
                const Gemma3nLayerWeights *lw = &w->layers[l];
                const uint64_t F = s->ffn_units[l];
                uint64_t down_row = 0;
                n_kept++;
                bytes += tensor_rows_bytes(&lw->attn_q, lw->attn_q.ne[1]) +
                         tensor_rows_bytes(&lw->attn_output, lw->attn_output.ne[1]);
                if (gemma3n_layer_owns_kv(hp, l))
                        bytes += tensor_rows_bytes(&lw->attn_k, lw->attn_k.ne[1]) +
                                 tensor_rows_bytes(&lw->attn_v, lw->attn_v.ne[1]);
                bytes += tensor_rows_bytes(&lw->ffn_gate, F) + tensor_rows_bytes(&lw->ffn_up, F);
                if (type_row_bytes(lw->ffn_down.type, F, &down_row))
                        bytes += lw->ffn_down.ne[1] * down_row;
                bytes += tensor_rows_bytes(&lw->inp_gate, lw->inp_gate.ne[1]) + tensor_rows_bytes(&lw->proj, lw->proj.ne[1]);
                bytes += tensor_rows_bytes(&lw->laurel_l, lw->laurel_l.ne[1]) +
                         tensor_rows_bytes(&lw->laurel_r, lw->laurel_r.ne[1]);
        }
        bytes += w->token_embd.row_bytes;
        if (type_row_bytes(w->per_layer_token_embd.type, P, &chunk))
                bytes += n_kept * chunk;   /* the kept layers' chunks of one row */
        else
                bytes += w->per_layer_token_embd.row_bytes;
        bytes += tensor_rows_bytes(&w->per_layer_model_proj, n_kept * P);
        for (uint32_t j = 0; j + 1 < hp->n_altup; j++)
                bytes += tensor_rows_bytes(&w->altup_proj[j], hp->n_embd) + tensor_rows_bytes(&w->altup_unembd_proj[j], hp->n_embd);
        const Tensor *head = w->has_output ? &w->output : &w->token_embd;
        bytes += tensor_rows_bytes(head, head->ne[1]);
        return bytes;
}

/* ---- Presets -------------------------------------------------------------------------------- */

#define E4B_LAYERS 35
#define E4B_FIRST_SHARED 20
#define E4B_SWA_PERIOD 5

bool gemma3n_model_is_e4b_shaped(const Gemma3nModel *m) {
        const Gemma3nHParams *hp = &m->hp;
        if (hp->n_layer != E4B_LAYERS || hp->n_layer - hp->n_kv_shared != E4B_FIRST_SHARED)
                return false;
        for (uint32_t l = 0; l < hp->n_layer; l++)
                if (hp->is_swa[l] != (l % E4B_SWA_PERIOD != E4B_SWA_PERIOD - 1) || hp->n_ff[l] != hp->n_ff[0] ||
                    (hp->n_ff[l] / 2) % ffn_block(m, l) != 0)
                        return false;
        return true;
}

/* The official configurations (MatFormer Lab / google/gemma3n-slicing-configs): the layers
 * skipped, and the kept layers (numbered after skipping, as the Lab numbers its width lists)
 * that have the full width F; every other kept layer has F/2. */
static const struct {
        const char *name;
        const char *description;
        const char *skip;
        const char *full_width;
} official_configs[] = {
        { "e2b", "MatFormer Lab: Config for official E2B Model (30 layers, 1.91B effective parameters, MMLU PT 50.9%)",
          "20-24", "" },
        { "e1.96b-layer", "MatFormer Lab: Config for E1.96B (layer-level) (30 layers, 1.96B, MMLU PT 53.4%)", "20-24", "4" },
        { "e2.54b-layer", "MatFormer Lab: Config for E2.54B (layer-level) (2.54B, MMLU PT 55.4%)", "", "4,20-24" },
        { "e2.69b-layer", "MatFormer Lab: Config for E2.69B (layer-level) (2.69B, MMLU PT 57.7%)", "", "4,9,14,19-24" },
        { "e2.98b-layer", "MatFormer Lab: Config for E2.98B (layer-level) (2.98B, MMLU PT 59.5%)", "", "15-24,30-34" },
        { "e3.18b-layer", "MatFormer Lab: Config for E3.18B (layer-level) (3.18B, MMLU PT 61.8%)", "", "4,9-24,29,34" },
        { "e3.39b-layer", "MatFormer Lab: Config for E3.39B (layer-level) (3.39B, MMLU PT 63.0%)", "", "4,9-29,34" },
        { "e3.59b-layer", "MatFormer Lab: Config for E3.59B (layer-level) (3.59B, MMLU PT 63.4%)", "", "4-29,34" },
        { "e3.79b-layer", "MatFormer Lab: Config for E3.79B (layer-level) (3.79B, MMLU PT 63.4%)", "", "4-34" },
        { "e2.49b-block", "MatFormer Lab: Config for E2.49B (block-level) (2.49B, MMLU PT 54.5%)", "", "20-24" },
        { "e2.73b-block", "MatFormer Lab: Config for E2.73B (block-level) (2.73B, MMLU PT 57.1%)", "", "15-24" },
        { "e2.98b-block", "MatFormer Lab: Config for E2.98B (block-level) (2.98B, MMLU PT 59.5%)", "", "10-24" },
        { "e3.24b-block", "MatFormer Lab: Config for E3.24B (block-level) (3.24B, MMLU PT 60.7%)", "", "10-29" },
        { "e3.49b-block", "MatFormer Lab: Config for E3.49B (block-level) (3.49B, MMLU PT 61.4%)", "", "5-29" },
        { "e3.79b-block", "MatFormer Lab: Config for E3.79B (block-level) (3.74B as listed, MMLU PT 62.0%)", "", "5-34" },
};

/* Marks the layers of a "1,4-6" list (no validation beyond the range: the table is ours). */
static void mark_layers(const char *list, bool *marks, uint32_t n) {
        for (const char *p = list; *p;) {
                char *end;
                unsigned long a = strtoul(p, &end, 10), b = a;
                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                for (unsigned long l = a; l <= b && l < n; l++)
                        marks[l] = true;
                p = *end == ',' ? end + 1 : end;
        }
}

static void official_slice(const Gemma3nModel *m, size_t i, Gemma3nSlice *ret) {
        bool full[GEMMA3N_MAX_LAYERS] = { false };
        memset(ret, 0, sizeof(*ret));
        mark_layers(official_configs[i].skip, ret->skip, m->hp.n_layer);
        mark_layers(official_configs[i].full_width, full, m->hp.n_layer);
        for (uint32_t l = 0, kept = 0; l < m->hp.n_layer; l++)
                if (!ret->skip[l]) {
                        ret->ffn_units[l] = full[kept] ? m->hp.n_ff[l] : m->hp.n_ff[l] / 2;
                        kept++;
                }
}

/* The block the MatFormer Lab skips, generalised: the first KV-sharing layers up to and including
 * the first global layer among them. false when the model has no such block. */
static bool lab_skip_block(const Gemma3nModel *m, uint32_t *ret_first, uint32_t *ret_last) {
        const Gemma3nHParams *hp = &m->hp;
        if (hp->n_kv_shared == 0)
                return false;
        const uint32_t first = hp->n_layer - hp->n_kv_shared;
        for (uint32_t l = first; l < hp->n_layer; l++)
                if (!hp->is_swa[l]) {
                        *ret_first = first;
                        *ret_last = l;
                        return true;
                }
        return false;
}

typedef struct PresetList {
        Gemma3nPreset *v;
        size_t n;
} PresetList;

static void preset_add(const Gemma3nModel *m, PresetList *list, const char *name, const char *description,
                       const Gemma3nSlice *s) {
        if (gemma3n_slice_validate(m, s, NULL) < 0)
                return;
        for (size_t i = 0; i < list->n; i++)
                if (gemma3n_slice_equal(m, &list->v[i].slice, s))
                        return;   /* the same slice under an earlier name */
        Gemma3nPreset *p = &list->v[list->n++];
        p->name = name;
        p->description = description;
        p->slice = *s;
        p->weight_bytes = gemma3n_slice_weight_bytes(m, s);
}

#define MAX_PRESETS (1 + ELEMENTSOF(official_configs) + 5)

int gemma3n_presets(const Gemma3nModel *m, Gemma3nPreset **ret, size_t *ret_n, GemmaError *err) {
        static const struct {
                const char *name;
                const char *description;
                uint32_t percent;
                bool skip;
        } generic[] = {
                { "ffn-75", "every layer's FFN at 75% of its width", 75, false },
                { "ffn-50", "every layer's FFN at 50% of its width", 50, false },
                { "ffn-100-skip", "full FFN widths, without the block of layers the MatFormer Lab skips", 100, true },
                { "ffn-75-skip", "FFN at 75%, without the block of layers the MatFormer Lab skips", 75, true },
                { "ffn-50-skip", "FFN at 50%, without the block of layers the MatFormer Lab skips", 50, true },
        };
        PresetList list = { .v = new0(Gemma3nPreset, MAX_PRESETS) };
        Gemma3nSlice s;
        uint32_t skip_first = 0, skip_last = 0;

        if (!list.v)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        gemma3n_slice_full(m, &s);
        preset_add(m, &list, "full", "every layer at full width (the model as it is)", &s);
        if (gemma3n_model_is_e4b_shaped(m))
                for (size_t i = 0; i < ELEMENTSOF(official_configs); i++) {
                        official_slice(m, i, &s);
                        preset_add(m, &list, official_configs[i].name, official_configs[i].description, &s);
                }
        const bool have_block = lab_skip_block(m, &skip_first, &skip_last);
        for (size_t i = 0; i < ELEMENTSOF(generic); i++) {
                if (generic[i].skip && !have_block)
                        continue;
                gemma3n_slice_full(m, &s);
                for (uint32_t l = 0; l < m->hp.n_layer; l++) {
                        if (generic[i].skip && l >= skip_first && l <= skip_last) {
                                s.skip[l] = true;
                                s.ffn_units[l] = 0;
                        } else
                                s.ffn_units[l] = units_for_percent(m, l, generic[i].percent);
                }
                preset_add(m, &list, generic[i].name, generic[i].description, &s);
        }
        /* Largest first; `full` stays first, ties keep their order (insertion sort: stable). */
        for (size_t i = 2; i < list.n; i++) {
                Gemma3nPreset p = list.v[i];
                size_t j = i;
                while (j > 1 && list.v[j - 1].weight_bytes < p.weight_bytes) {
                        list.v[j] = list.v[j - 1];
                        j--;
                }
                list.v[j] = p;
        }
        *ret = list.v;
        *ret_n = list.n;
        return 0;
}

int gemma3n_preset_find(const Gemma3nModel *m, const char *name, Gemma3nSlice *ret, GemmaError *err) {
        _cleanup_free_ Gemma3nPreset *presets = NULL;
        size_t n;
        int k;

        if ((k = gemma3n_presets(m, &presets, &n, err)) < 0)
                return k;
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(presets[i].name, name) == 0) {
                        *ret = presets[i].slice;
                        return 0;
                }
        char names[512] = "";
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(names);
                snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", presets[i].name);
        }
        return gemma_error_set(err, -ENOENT, "slice: this model has no preset '%.40s' (it has: %s)", name, names);
}

const char *gemma3n_preset_name_of(const Gemma3nModel *m, const Gemma3nSlice *s) {
        _cleanup_free_ Gemma3nPreset *presets = NULL;
        size_t n;

        if (gemma3n_presets(m, &presets, &n, NULL) < 0)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (gemma3n_slice_equal(m, &presets[i].slice, s))
                        return presets[i].name;
        return NULL;
}

int gemma3n_slice_from_string(const Gemma3nModel *m, const char *text, Gemma3nSlice *ret, GemmaError *err) {
        if (!strchr(text, '='))
                return gemma3n_preset_find(m, text, ret, err);
        return gemma3n_slice_parse(m, text, ret, err);
}
