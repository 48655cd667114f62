/* Imports a Hugging Face tokenizer.json (the Gemma pipeline: BPE with byte fallback) into the
 * arrays a GGUF converter writes: pieces, scores, token types, merges and special ids.
 *
 * What is written:
 *   tokens   model.vocab by id (ids must be 0..n-1 with no gaps). Added tokens with ids inside
 *            that range must spell the same piece; ones beyond it are left out (Gemma 3's
 *            <image_soft_token> at 262144 belongs to the vision vocabulary, not the 262,144 text
 *            pieces Gemma 3n shares) and counted in *ret_n_dropped.
 *   types    6 byte for "<0xHH>" pieces, 2 unknown for model.unk_token, 3 control for the other
 *            added tokens marked special, 4 user-defined for added tokens not marked special
 *            (the reference cuts all added tokens out of the text before BPE; gemmad's tokenizer
 *            does so for user-defined pieces always and for control ones with parse_special),
 *            1 normal for everything else.
 *   merges   model.merges in order, as "LEFT RIGHT" (both the old "a b" strings and the newer
 *            ["a", "b"] pairs are read).
 *   scores   what SentencePiece would give: a piece made by merges scores minus the rank of the
 *            first merge that makes it, so that "highest score first" picks the same pairs as
 *            "lowest rank first"; pieces no merge makes score -(number of merges). Ranks below
 *            2^24 are exact in f32.
 *   ids      bos "<bos>", eos "<eos>", pad "<pad>", unk model.unk_token; -1 when absent.
 * The normalizer, pre-tokenizer and model options are checked against the pipeline gemmad's
 * tokenizer implements (models/text/tokenizer.h); anything else is refused with a message. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/tokenizer.h"
#include "tool.h"

/* The vocabulary plus the storage it points into; vocab comes first so the two convert. */
typedef struct ImportedVocab {
        Gemma3nTestVocab vocab;
        char **tokens;
        float *scores;
        int32_t *types;
        char **merges;
        uint32_t n_merges;
} ImportedVocab;

Gemma3nTestVocab *tokenizer_json_vocab_free(Gemma3nTestVocab *v) {
        ImportedVocab *iv = (ImportedVocab *) v;
        if (!iv)
                return NULL;
        for (uint32_t i = 0; iv->tokens && i < iv->vocab.n_tokens; i++)
                free(iv->tokens[i]);
        for (uint32_t i = 0; iv->merges && i < iv->n_merges; i++)
                free(iv->merges[i]);
        free(iv->tokens);
        free(iv->scores);
        free(iv->types);
        free(iv->merges);
        free(iv);
        return NULL;
}

static void imported_freep(ImportedVocab **iv) {
        if (*iv)
                tokenizer_json_vocab_free(&(*iv)->vocab);
}

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static json_object *get(json_object *o, const char *key, json_type type) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
                return NULL;
        return v;
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v = get(o, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

static bool is_string_pattern(json_object *pattern, const char *s) {
        const char *p = get_string(pattern, "String");
        return p && strcmp(p, s) == 0;
}

/* The pipeline must be the one tokenizer_encode() implements. */
static int check_pipeline(const char *path, json_object *root, json_object *model, GemmaError *err) {
        json_object *norm = get(root, "normalizer", json_type_object), *pre = get(root, "pre_tokenizer", json_type_object);
        const char *type;

        if (!norm || !(type = get_string(norm, "type")) || strcmp(type, "Replace") != 0 ||
            !is_string_pattern(get(norm, "pattern", json_type_object), " ") || !get_string(norm, "content") ||
            strcmp(get_string(norm, "content"), "\xe2\x96\x81") != 0)
                return gemma_error_set(err, -EINVAL, "%s: the normalizer is not Replace(' ' -> U+2581), the Gemma one", path);
        /* Splitting on " " after that normalizer never matches: accept it, or no pre-tokenizer. */
        if (pre && (!(type = get_string(pre, "type")) || strcmp(type, "Split") != 0 ||
                    !is_string_pattern(get(pre, "pattern", json_type_object), " ")))
                return gemma_error_set(err, -EINVAL, "%s: the pre-tokenizer is not Split(' '), the Gemma one", path);
        if (!(type = get_string(model, "type")) || strcmp(type, "BPE") != 0)
                return gemma_error_set(err, -EINVAL, "%s: model.type is '%s', expected BPE", path, type ? type : "");
        json_object *v;
        if ((v = get(model, "ignore_merges", json_type_boolean)) && json_object_get_boolean(v))
                return gemma_error_set(err, -EINVAL, "%s: model.ignore_merges is not supported", path);
        if (get_string(model, "continuing_subword_prefix") || get_string(model, "end_of_word_suffix"))
                return gemma_error_set(err, -EINVAL, "%s: BPE subword prefixes and suffixes are not supported", path);
        if ((v = get(model, "dropout", json_type_double)) && json_object_get_double(v) > 0)
                return gemma_error_set(err, -EINVAL, "%s: BPE dropout is not supported", path);
        return 0;
}

static bool is_byte_piece(const char *s) {
        return strlen(s) == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && isxdigit((unsigned char) s[3]) &&
               isxdigit((unsigned char) s[4]);
}

static int32_t vocab_id(json_object *vocab, const char *piece) {
        json_object *v = get(vocab, piece, json_type_int);
        return v ? (int32_t) json_object_get_int(v) : -1;
}

static int read_tokens(const char *path, json_object *vocab, ImportedVocab *iv, GemmaError *err) {
        size_t n = json_object_object_length(vocab);

        if (n == 0 || n > TOKENIZER_N_VOCAB_MAX)
                return gemma_error_set(err, -EINVAL, "%s: model.vocab has %zu pieces", path, n);
        iv->vocab.n_tokens = (uint32_t) n;
        iv->tokens = new0(char *, n);
        iv->scores = new0(float, n);
        iv->types = new0(int32_t, n);
        if (!iv->tokens || !iv->scores || !iv->types)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        json_object_object_foreach(vocab, piece, idv) {
                int64_t id = json_object_is_type(idv, json_type_int) ? json_object_get_int64(idv) : -1;
                if (id < 0 || (uint64_t) id >= n)
                        return gemma_error_set(err, -EINVAL, "%s: model.vocab['%s'] is not an id in 0..%zu", path, piece,
                                               n - 1);
                if (iv->tokens[id])
                        return gemma_error_set(err, -EINVAL, "%s: model.vocab gives id %" PRId64 " to both '%s' and '%s'",
                                               path, id, iv->tokens[id], piece);
                if (!*piece)
                        return gemma_error_set(err, -EINVAL, "%s: model.vocab has an empty piece (id %" PRId64 ")", path, id);
                if (!(iv->tokens[id] = strdup(piece)))
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                iv->types[id] = is_byte_piece(piece) ? TOKEN_TYPE_BYTE : TOKEN_TYPE_NORMAL;
        }
        return 0;       /* n distinct ids in 0..n-1: every slot is filled */
}

static int read_added_tokens(const char *path, json_object *root, ImportedVocab *iv, const char *unk,
                             uint32_t *ret_n_dropped, GemmaError *err) {
        json_object *added = get(root, "added_tokens", json_type_array);
        uint32_t dropped = 0;

        for (size_t i = 0; added && i < json_object_array_length(added); i++) {
                json_object *t = json_object_array_get_idx(added, i), *idv = get(t, "id", json_type_int),
                            *special = get(t, "special", json_type_boolean);
                const char *content = get_string(t, "content");
                if (!idv || !content)
                        return gemma_error_set(err, -EINVAL, "%s: added_tokens[%zu] lacks an id or content", path, i);
                int64_t id = json_object_get_int64(idv);
                if (id < 0)
                        return gemma_error_set(err, -EINVAL, "%s: added_tokens[%zu] has id %" PRId64, path, i, id);
                if ((uint64_t) id >= iv->vocab.n_tokens) {
                        dropped++;
                        continue;
                }
                if (strcmp(iv->tokens[id], content) != 0)
                        return gemma_error_set(err, -EINVAL, "%s: added_tokens[%zu] '%s' has id %" PRId64
                                               ", which model.vocab gives to '%s'", path, i, content, id, iv->tokens[id]);
                bool is_special = special && json_object_get_boolean(special);
                iv->types[id] = unk && strcmp(content, unk) == 0 ? TOKEN_TYPE_UNKNOWN
                                : is_special                     ? TOKEN_TYPE_CONTROL
                                                                 : TOKEN_TYPE_USER_DEFINED;
        }
        *ret_n_dropped = dropped;
        return 0;
}

static int read_merges(const char *path, json_object *model, json_object *vocab, ImportedVocab *iv, bool with_merges,
                       GemmaError *err) {
        json_object *merges = get(model, "merges", json_type_array);
        size_t n = merges ? json_object_array_length(merges) : 0;
        const float unmade = -(float) n;
        _cleanup_free_ bool *made = new0(bool, iv->vocab.n_tokens);

        if (n > TOKENIZER_N_MERGES_MAX)
                return gemma_error_set(err, -EINVAL, "%s: model.merges has %zu entries (at most %u)", path, n,
                                       TOKENIZER_N_MERGES_MAX);
        if (!made || (with_merges && !(iv->merges = new0(char *, n))))
                return gemma_error_set(err, -ENOMEM, "out of memory");
        for (size_t r = 0; r < n; r++) {
                json_object *m = json_object_array_get_idx(merges, r);
                _cleanup_free_ char *left = NULL, *joined = NULL;
                const char *right = NULL;

                if (json_object_is_type(m, json_type_string)) {
                        const char *s = json_object_get_string(m), *sp = strchr(s, ' ');
                        if (sp && (left = strndup(s, (size_t) (sp - s))))
                                right = sp + 1;
                } else if (json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2 &&
                           json_object_is_type(json_object_array_get_idx(m, 0), json_type_string) &&
                           json_object_is_type(json_object_array_get_idx(m, 1), json_type_string)) {
                        left = strdup(json_object_get_string(json_object_array_get_idx(m, 0)));
                        right = json_object_get_string(json_object_array_get_idx(m, 1));
                }
                if (!left || !right)
                        return gemma_error_set(err, -EINVAL, "%s: model.merges[%zu] is not a pair of pieces", path, r);
                if (asprintf(&joined, "%s%s", left, right) < 0) {
                        joined = NULL;
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                }
                int32_t result = vocab_id(vocab, joined);
                if (vocab_id(vocab, left) < 0 || vocab_id(vocab, right) < 0 || result < 0 ||
                    (uint32_t) result >= iv->vocab.n_tokens)
                        return gemma_error_set(err, -EINVAL, "%s: model.merges[%zu] '%s' + '%s' is not made of pieces", path,
                                               r, left, right);
                if (!made[result]) {
                        made[result] = true;
                        iv->scores[result] = -(float) r;
                }
                if (with_merges) {
                        if (asprintf(&iv->merges[r], "%s %s", left, right) < 0) {
                                iv->merges[r] = NULL;
                                return gemma_error_set(err, -ENOMEM, "out of memory");
                        }
                        iv->n_merges = (uint32_t) r + 1;
                }
        }
        for (uint32_t i = 0; i < iv->vocab.n_tokens; i++)
                if (!made[i])
                        iv->scores[i] = unmade;
        return 0;
}

int tokenizer_json_import(const char *path, bool with_merges, Gemma3nTestVocab **ret, uint32_t *ret_n_dropped,
                          GemmaError *err) {
        _cleanup_(json_putp) json_object *root = json_object_from_file(path);
        _cleanup_(imported_freep) ImportedVocab *iv = NULL;
        json_object *model, *vocab;
        uint32_t dropped = 0;
        int k;

        if (!root) {
                const char *why = json_util_get_last_err();
                why = why ? why : "unknown error";
                return gemma_error_set(err, -EINVAL, "%s: cannot read JSON: %.*s", path, (int) strcspn(why, "\n"), why);
        }
        if (!(model = get(root, "model", json_type_object)) || !(vocab = get(model, "vocab", json_type_object)))
                return gemma_error_set(err, -EINVAL, "%s: no model.vocab object (is this a tokenizer.json?)", path);
        if ((k = check_pipeline(path, root, model, err)) < 0)
                return k;
        if (!(iv = new0(ImportedVocab, 1)))
                return gemma_error_set(err, -ENOMEM, "out of memory");

        const char *unk = get_string(model, "unk_token");
        if ((k = read_tokens(path, vocab, iv, err)) < 0 ||
            (k = read_added_tokens(path, root, iv, unk, &dropped, err)) < 0 ||
            (k = read_merges(path, model, vocab, iv, with_merges, err)) < 0)
                return k;

        iv->vocab.tokens = (const char *const *) iv->tokens;
        iv->vocab.scores = iv->scores;
        iv->vocab.types = iv->types;
        iv->vocab.n_merges = iv->n_merges;
        iv->vocab.merges = (const char *const *) iv->merges;
        iv->vocab.bos_id = vocab_id(vocab, "<bos>");
        iv->vocab.eos_id = vocab_id(vocab, "<eos>");
        iv->vocab.pad_id = vocab_id(vocab, "<pad>");
        iv->vocab.unk_id = unk ? vocab_id(vocab, unk) : -1;
        if (iv->vocab.unk_id >= 0)
                iv->types[iv->vocab.unk_id] = TOKEN_TYPE_UNKNOWN;
        *ret_n_dropped = dropped;
        *ret = &TAKE_PTR(iv)->vocab;
        return 0;
}
