/* MatFormer slices by name and by spec: the presets a model offers, a small text grammar for
 * custom slices (the daemon's configuration file uses it), an estimate of the weight bytes a
 * slice reads per token, and the export of a slice as a model file of its own.
 *
 * What a slice is, what skipping a layer means and which layers may not be skipped: forward.h.
 *
 * ---- Presets -------------------------------------------------------------------------------
 *
 * Every model:
 *   full           every layer at full width
 *   ffn-75         every layer's FFN at 75 % of its width, rounded to the nearest whole block of
 *   ffn-50         ffn_down's type (at least one block); 50 % likewise
 *   ffn-100-skip   full width without the layers the MatFormer Lab skips;
 *   ffn-75-skip    with 75 %; ffn-50-skip with 50 %. The Lab skips one block of 4 sliding + 1
 *   ffn-50-skip    global layer: the first KV-sharing layers up to and including the first global
 *                  one among them (20..24 in E2B and E4B). Offered when the model has such a block.
 *
 * Models with the E4B shape (35 layers, a global layer every 5th, the top 15 sharing KV, one FFN
 * width F with F/2 in whole blocks): the official Mix-n-Match configurations of the MatFormer Lab
 * (Hugging Face dataset google/gemma3n-slicing-configs, configs.csv; spec gemma3n-text.md §5.2),
 * widths F ("2_048 * 8" = 16384 in E4B) and F/2 ("2_048 * 4" = 8192):
 *   e2b            "Config for official E2B Model": skip 20-24, every kept layer F/2
 *   e1.96b-layer   skip 20-24; kept layer 4 F, the rest F/2
 *   e2.54b-layer   F at 4, 20-24                     e2.49b-block   F at 20-24
 *   e2.69b-layer   F at 4, 9, 14, 19-24              e2.73b-block   F at 15-24
 *   e2.98b-layer   F at 15-24, 30-34                 e2.98b-block   F at 10-24
 *   e3.18b-layer   F at 4, 9-24, 29, 34              e3.24b-block   F at 10-29
 *   e3.39b-layer   F at 4, 9-29, 34                  e3.49b-block   F at 5-29
 *   e3.59b-layer   F at 4-29, 34                     e3.79b-block   F at 5-34
 *   e3.79b-layer   F at 4-34
 * (all other layers F/2; "Main model" is `full`). A proportional preset equal to one of these is
 * not listed twice (ffn-50-skip is e2b).
 *
 * ---- Slice specs ---------------------------------------------------------------------------
 *
 *   spec    = part *( ";" part )             each part at most once; blanks around tokens ignored
 *   part    = "ffn=" widths / "skip=" [ layers ]
 *   widths  = width *( "," width )
 *   width   = amount [ "*" count ]           the amount repeated count times
 *   amount  = units / percent "%"            units: FFN units; percent (decimals allowed, > 0,
 *                                            <= 100) of the layer's width, rounded to the nearest
 *                                            whole block of ffn_down's type, at least one block
 *   layers  = range *( "," range )
 *   range   = layer [ "-" layer ]            layers as numbered in the model, inclusive ranges
 *
 * The width list, once expanded, has 1 entry (every kept layer), one per kept layer in order (the
 * MatFormer Lab's convention), or one per layer of the model (entries of skipped layers are
 * ignored). Without "ffn=" every kept layer has its full width; without "skip=" none is skipped.
 * Examples: "ffn=75%", "ffn=8192;skip=20-24" (E2B from E4B), "ffn=50%*4,100%,50%*25;skip=20-24"
 * (e1.96b-layer), "skip=20,21".
 *
 * gemma3n_slice_format() writes the canonical spec: "ffn=" with one entry per kept layer in units,
 * runs of equal widths as "U*n" (a single "U" when all are equal), then ";skip=" with ranges when
 * layers are skipped. Parsing it gives the same slice back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "forward.h"
#include "model.h"

typedef struct Gemma3nPreset {
        const char *name;                /* static text */
        const char *description;         /* static text: what the preset is, where it comes from */
        Gemma3nSlice slice;
        uint64_t weight_bytes;           /* gemma3n_slice_weight_bytes() of the slice */
} Gemma3nPreset;

/* The presets this model offers, largest (most weight bytes per token) first; `full` is always
 * the first. *ret is malloced (free()). */
int gemma3n_presets(const Gemma3nModel *m, Gemma3nPreset **ret, size_t *ret_n, GemmaError *err);

/* A preset by name (case-insensitive). -ENOENT with a message listing the names when the model
 * has no such preset. */
int gemma3n_preset_find(const Gemma3nModel *m, const char *name, Gemma3nSlice *ret, GemmaError *err);

/* The name of the preset equal to the slice (gemma3n_slice_equal()), or NULL. Static text. */
const char *gemma3n_preset_name_of(const Gemma3nModel *m, const Gemma3nSlice *s);

/* Parses a spec (grammar above) into a validated slice. -EINVAL with a message that quotes the
 * offending text or names the layer. */
int gemma3n_slice_parse(const Gemma3nModel *m, const char *spec, Gemma3nSlice *ret, GemmaError *err);

/* A preset name or else a spec (anything with '='): what --slice and the configuration file
 * accept. */
int gemma3n_slice_from_string(const Gemma3nModel *m, const char *text, Gemma3nSlice *ret, GemmaError *err);

/* The canonical spec of a slice; malloced, NULL when out of memory. */
char *gemma3n_slice_format(const Gemma3nModel *m, const Gemma3nSlice *s);

/* Weight bytes one decode step reads under the slice: every matrix the kept layers multiply with
 * (FFN rows and columns cut to the slice; a KV-sharing layer's own K/V projections are never
 * read), the AltUp projections, the whole LM head, one row of the token table and the kept
 * layers' chunks of one PLE row, and the kept layers' rows of per_layer_model_proj. */
uint64_t gemma3n_slice_weight_bytes(const Gemma3nModel *m, const Gemma3nSlice *s);

/* Whether the model has the E4B shape the official Mix-n-Match configurations are defined on. */
bool gemma3n_model_is_e4b_shaped(const Gemma3nModel *m);

/* Writes the slice as a model file of its own, as the MatFormer Lab exports one (spec §5.1):
 *   - skipped layers' blk.N.* tensors are dropped and the kept layers renumbered in order;
 *   - ffn_gate/ffn_up keep their first F rows, ffn_down the first F values of every row (whole
 *     blocks of its type, which validation guarantees);
 *   - per_layer_token_embd keeps the kept layers' P-value chunks of every row, per_layer_model_proj
 *     their P-row blocks (the chunks must be whole blocks of the table's type);
 *   - block_count, feed_forward_length, attention.shared_kv_layers (minus the skipped sharing
 *     layers), the per-layer arrays (sliding_window_pattern, activation_sparsity_scale and any
 *     other gemma3n.* array with one entry per layer) follow the kept layers; where a file relies on
 *     a default that the renumbering would change (period-5 layer pattern, sparsity on the first
 *     10 layers) the per-layer array is written instead;
 *   - every other key and tensor is copied unchanged, and gemmad.slice records the spec.
 * feed_forward_length keeps the source's form: a scalar stays a scalar when the slice is uniform
 * (an array otherwise), an array stays an array (the layout converted Gemma 3n files have), so a
 * uniform export has the standard layout other GGUF runtimes load. Tensors are streamed from the
 * mapped source while the file is written: nothing model-sized is held in memory.
 * The exported file loaded normally gives the logits the slice gives on this model. */
int gemma3n_slice_export(const Gemma3nModel *m, const Gemma3nSlice *s, const char *path, GemmaError *err);
