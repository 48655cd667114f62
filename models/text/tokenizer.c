/* The Gemma tokenizer: vocabulary loading and validation, the added-piece trie, BPE by merge rank
 * or by piece score, byte fallback, and the streaming UTF-8 decoder. Algorithm: tokenizer.h. */
#include "tokenizer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/utf8.h"

#define SPACE_MARK "\xe2\x96\x81"       /* U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space */
#define SPACE_MARK_LEN 3
#define TOKENIZER_TEXT_MAX (1u << 30)   /* bytes of one encode call; "▁" triples a space, so the
                                         * normalised text still fits 32-bit offsets */

/* A node of the trie of added pieces (user-defined, control, unknown). Children of a node form a
 * singly linked list; the root's children are a 256-entry table. */
typedef struct TrieNode {
        int32_t child;
        int32_t sibling;
        int32_t id;                     /* piece ending here, or -1 */
        bool special;                   /* that piece is control/unknown: needs parse_special */
        uint8_t byte;
} TrieNode;

typedef struct MergeSlot {
        uint64_t key;                   /* left id << 32 | right id; MERGE_EMPTY when unused */
        uint32_t rank;
        int32_t result;
} MergeSlot;

#define MERGE_EMPTY UINT64_MAX

struct Tokenizer {
        TokenizerKind kind;
        uint32_t n_vocab;
        char *text;                     /* every piece, back to back */
        uint32_t *offset;               /* [n_vocab] piece start in text */
        uint32_t *length;               /* [n_vocab] piece length in bytes */
        float *scores;                  /* [n_vocab]; zeros when the file has none */
        uint8_t *types;                 /* [n_vocab] TokenType */

        int32_t *piece_slots;           /* open addressing: id or -1 */
        size_t piece_mask;

        MergeSlot *merge_slots;         /* TOKENIZER_KIND_MERGES only */
        size_t merge_mask;
        uint32_t n_merges;

        int32_t byte_id[256];           /* byte-fallback piece of each byte, or -1 */

        TrieNode *trie;
        size_t n_trie;
        int32_t trie_root[256];

        int32_t bos, eos, pad, unk, eot;
        int32_t end_ids[4];             /* eos, eot, "<eos>", "<end_of_turn>"; -1 where absent */
};

/* ---- Hashing ------------------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 1469598103934665603ull;            /* FNV-1a, 64 bit */
        for (size_t i = 0; i < n; i++)
                h = (h ^ (uint8_t) s[i]) * 1099511628211ull;
        return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
        x ^= x >> 33;                                   /* murmur3 finaliser */
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        return x ^ (x >> 33);
}

static size_t table_size(size_t n) {
        size_t size = 16;
        while (size < 2 * n)
                size <<= 1;
        return size;
}

static int32_t piece_lookup(const Tokenizer *tok, const char *s, size_t n) {
        for (size_t i = hash_bytes(s, n) & tok->piece_mask;; i = (i + 1) & tok->piece_mask) {
                int32_t id = tok->piece_slots[i];
                if (id < 0)
                        return -1;
                if (tok->length[id] == n && memcmp(tok->text + tok->offset[id], s, n) == 0)
                        return id;
        }
}

/* Inserts id unless its piece is already there (the lowest id keeps the piece). */
static void piece_insert(Tokenizer *tok, int32_t id) {
        const char *s = tok->text + tok->offset[id];
        size_t n = tok->length[id];
        for (size_t i = hash_bytes(s, n) & tok->piece_mask;; i = (i + 1) & tok->piece_mask) {
                int32_t other = tok->piece_slots[i];
                if (other < 0) {
                        tok->piece_slots[i] = id;
                        return;
                }
                if (tok->length[other] == n && memcmp(tok->text + tok->offset[other], s, n) == 0)
                        return;
        }
}

static const MergeSlot *merge_lookup(const Tokenizer *tok, int32_t left, int32_t right) {
        uint64_t key = (uint64_t) (uint32_t) left << 32 | (uint32_t) right;
        for (size_t i = hash_u64(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
                const MergeSlot *s = &tok->merge_slots[i];
                if (s->key == key)
                        return s;
                if (s->key == MERGE_EMPTY)
                        return NULL;
        }
}

/* A pair listed twice keeps its later rank, as the reference's rank map does. */
static void merge_insert(Tokenizer *tok, int32_t left, int32_t right, uint32_t rank, int32_t result) {
        uint64_t key = (uint64_t) (uint32_t) left << 32 | (uint32_t) right;
        for (size_t i = hash_u64(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
                MergeSlot *s = &tok->merge_slots[i];
                if (s->key == key || s->key == MERGE_EMPTY) {
                        *s = (MergeSlot) { .key = key, .rank = rank, .result = result };
                        return;
                }
        }
}

/* ---- Loading ------------------------------------------------------------------------------------ */

const char *tokenizer_kind_to_string(TokenizerKind k) {
        switch (k) {
        case TOKENIZER_KIND_SCORES: return "scores";
        case TOKENIZER_KIND_MERGES: return "merges";
        }
        return "unknown";
}

Tokenizer *tokenizer_free(Tokenizer *tok) {
        if (!tok)
                return NULL;
        free(tok->text);
        free(tok->offset);
        free(tok->length);
        free(tok->scores);
        free(tok->types);
        free(tok->piece_slots);
        free(tok->merge_slots);
        free(tok->trie);
        free(tok);
        return NULL;
}

/* The array under key with the given element kind; -ENOENT (err untouched) when absent. */
static int get_array(const GgufFile *f, const char *key, bool want_strings, const GgufArray **ret,
                     GemmaError *err) {
        const GgufKv *kv = gguf_find_kv(f, key);
        if (!kv)
                return -ENOENT;
        if (kv->value.type != GGUF_TYPE_ARRAY)
                return gemma_error_set(err, -EINVAL, "%s: %s is a %s, not an array", f->path, key,
                                       gguf_type_name(kv->value.type));
        const GgufArray *a = &kv->value.arr;
        bool is_string = a->elem_type == GGUF_TYPE_STRING;
        bool is_number = a->elem_type != GGUF_TYPE_STRING && a->elem_type != GGUF_TYPE_ARRAY &&
                         a->elem_type != GGUF_TYPE_BOOL;
        if (want_strings ? !is_string : !is_number)
                return gemma_error_set(err, -EINVAL, "%s: %s is an array of %s, expected %s", f->path, key,
                                       gguf_type_name(a->elem_type), want_strings ? "strings" : "numbers");
        *ret = a;
        return 0;
}

static int get_special_id(const GgufFile *f, const char *key, uint32_t n_vocab, int32_t *ret, GemmaError *err) {
        uint32_t v;
        int k = gguf_get_u32(f, key, &v, err);
        if (k == -ENOENT) {
                *ret = -1;
                return 0;
        }
        if (k < 0)
                return k;
        if (v >= n_vocab)
                return gemma_error_set(err, -EINVAL, "%s: %s is %u, but the vocabulary has %u tokens", f->path, key,
                                       v, n_vocab);
        *ret = (int32_t) v;
        return 0;
}

static int hex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* The byte a byte piece "<0xHH>" stands for, or -1 when it is not spelled that way. */
static int byte_piece_value(const char *s, size_t n) {
        if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
                return -1;
        int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
        return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

static int load_pieces(Tokenizer *tok, const GgufFile *f, const GgufArray *tokens, GemmaError *err) {
        const uint32_t n = tok->n_vocab;
        size_t total = 0;

        for (uint32_t i = 0; i < n; i++) {
                const GgufString *s = &tokens->strings[i];
                size_t bad;
                if (s->len == 0 || s->len > TOKENIZER_PIECE_MAX)
                        return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.tokens[%u] is %" PRIu64
                                               " bytes long (must be 1..%u)", f->path, i, s->len, TOKENIZER_PIECE_MAX);
                if (!utf8_validate(s->ptr, s->len, &bad))
                        return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.tokens[%u] is not valid UTF-8 (byte %zu)",
                                               f->path, i, bad);
                total += s->len;        /* n <= 2^24 pieces of <= 4096 bytes: no overflow */
        }
        if (total > UINT32_MAX)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.tokens holds %zu bytes (at most %u)", f->path,
                                       total, UINT32_MAX);
        tok->text = malloc(total ? total : 1);
        tok->offset = new0(uint32_t, n);
        tok->length = new0(uint32_t, n);
        if (!tok->text || !tok->offset || !tok->length)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        size_t at = 0;
        for (uint32_t i = 0; i < n; i++) {
                const GgufString *s = &tokens->strings[i];
                memcpy(tok->text + at, s->ptr, s->len);
                tok->offset[i] = (uint32_t) at;
                tok->length[i] = (uint32_t) s->len;
                at += s->len;
        }
        return 0;
}

static int load_types_and_scores(Tokenizer *tok, const GgufFile *f, const GgufArray *types, const GgufArray *scores,
                                 GemmaError *err) {
        const uint32_t n = tok->n_vocab;

        tok->types = new0(uint8_t, n);
        tok->scores = new0(float, n);
        if (!tok->types || !tok->scores)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        for (int b = 0; b < 256; b++)
                tok->byte_id[b] = -1;
        for (uint32_t i = 0; i < n; i++) {
                double v = 0;
                /* Range first: converting an out-of-range double to int is undefined. */
                if (!gguf_array_get_f64(types, i, &v) || !(v >= TOKEN_TYPE_NORMAL && v <= TOKEN_TYPE_BYTE) ||
                    v != (double) (int) v)
                        return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.token_type[%u] is %g (must be 1..6)",
                                               f->path, i, v);
                tok->types[i] = (uint8_t) v;
                if (tok->types[i] == TOKEN_TYPE_BYTE) {
                        int b = byte_piece_value(tok->text + tok->offset[i], tok->length[i]);
                        if (b < 0)
                                return gemma_error_set(err, -EINVAL,
                                                       "%s: tokenizer.ggml.tokens[%u] is a byte piece but is spelled '%.*s', "
                                                       "not <0xHH>", f->path, i, (int) tok->length[i],
                                                       tok->text + tok->offset[i]);
                        if (tok->byte_id[b] < 0)
                                tok->byte_id[b] = (int32_t) i;
                }
                if (scores) {
                        if (!gguf_array_get_f64(scores, i, &v) || v != v)
                                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.scores[%u] is not a number",
                                                       f->path, i);
                        tok->scores[i] = (float) v;
                }
        }
        return 0;
}

static int build_piece_table(Tokenizer *tok, GemmaError *err) {
        size_t size = table_size(tok->n_vocab);
        tok->piece_slots = malloc_multiply(size, sizeof(int32_t));
        if (!tok->piece_slots)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        memset(tok->piece_slots, 0xff, size * sizeof(int32_t));
        tok->piece_mask = size - 1;
        for (uint32_t i = 0; i < tok->n_vocab; i++)
                piece_insert(tok, (int32_t) i);
        return 0;
}

/* "LEFT RIGHT": pieces contain no space in practice, but a space inside a piece is allowed as long
 * as exactly one split gives two pieces whose concatenation is a piece. */
static int load_merges(Tokenizer *tok, const GgufFile *f, const GgufArray *merges, GemmaError *err) {
        if (merges->count > TOKENIZER_N_MERGES_MAX)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.merges has %" PRIu64 " entries (at most %u)",
                                       f->path, merges->count, TOKENIZER_N_MERGES_MAX);
        size_t size = table_size(merges->count);
        _cleanup_free_ char *joined = malloc(2 * TOKENIZER_PIECE_MAX);

        tok->merge_slots = malloc_multiply(size, sizeof(MergeSlot));
        if (!tok->merge_slots || !joined)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < size; i++)
                tok->merge_slots[i] = (MergeSlot) { .key = MERGE_EMPTY };
        tok->merge_mask = size - 1;
        tok->n_merges = (uint32_t) merges->count;

        for (uint32_t r = 0; r < tok->n_merges; r++) {
                const GgufString *m = &merges->strings[r];
                int32_t left = -1, right = -1, result = -1;
                int n_splits = 0;
                for (uint64_t sp = 1; sp + 1 < m->len; sp++) {
                        if (m->ptr[sp] != ' ')
                                continue;
                        uint64_t ln = sp, rn = m->len - sp - 1;
                        if (ln > TOKENIZER_PIECE_MAX || rn > TOKENIZER_PIECE_MAX)
                                continue;
                        int32_t l = piece_lookup(tok, m->ptr, ln), rr = piece_lookup(tok, m->ptr + sp + 1, rn);
                        if (l < 0 || rr < 0)
                                continue;
                        memcpy(joined, m->ptr, ln);
                        memcpy(joined + ln, m->ptr + sp + 1, rn);
                        int32_t j = piece_lookup(tok, joined, ln + rn);
                        if (j < 0)
                                continue;
                        left = l, right = rr, result = j;
                        n_splits++;
                }
                if (n_splits != 1)
                        return gemma_error_set(err, -EINVAL,
                                               "%s: tokenizer.ggml.merges[%u] '%.*s' is not two pieces whose "
                                               "concatenation is a piece%s", f->path, r, (int) MIN(m->len, 200), m->ptr,
                                               n_splits > 1 ? " (ambiguous split)" : "");
                merge_insert(tok, left, right, r, result);
        }
        return 0;
}

static int build_trie(Tokenizer *tok, GemmaError *err) {
        size_t n_nodes = 0;

        for (int b = 0; b < 256; b++)
                tok->trie_root[b] = -1;
        for (uint32_t i = 0; i < tok->n_vocab; i++)
                if (tok->types[i] == TOKEN_TYPE_USER_DEFINED || tok->types[i] == TOKEN_TYPE_CONTROL ||
                    tok->types[i] == TOKEN_TYPE_UNKNOWN)
                        n_nodes += tok->length[i];
        tok->trie = new0(TrieNode, n_nodes);
        if (!tok->trie)
                return gemma_error_set(err, -ENOMEM, "out of memory");

        for (uint32_t i = 0; i < tok->n_vocab; i++) {
                uint8_t t = tok->types[i];
                if (t != TOKEN_TYPE_USER_DEFINED && t != TOKEN_TYPE_CONTROL && t != TOKEN_TYPE_UNKNOWN)
                        continue;
                const uint8_t *s = (const uint8_t *) tok->text + tok->offset[i];
                int32_t *link = &tok->trie_root[s[0]], node = -1;
                for (uint32_t d = 0; d < tok->length[i]; d++) {
                        if (d > 0) {
                                link = &tok->trie[node].child;
                                while (*link >= 0 && tok->trie[*link].byte != s[d])
                                        link = &tok->trie[*link].sibling;
                        }
                        if (*link < 0) {
                                TrieNode *nn = &tok->trie[tok->n_trie];
                                *nn = (TrieNode) { .child = -1, .sibling = -1, .id = -1, .byte = s[d] };
                                *link = (int32_t) tok->n_trie++;
                        }
                        node = *link;
                }
                if (tok->trie[node].id < 0) {
                        tok->trie[node].id = (int32_t) i;
                        tok->trie[node].special = t != TOKEN_TYPE_USER_DEFINED;
                }
        }
        return 0;
}

int tokenizer_load(const GgufFile *f, Tokenizer **ret, GemmaError *err) {
        _cleanup_(tokenizer_freep) Tokenizer *tok = NULL;
        const GgufArray *tokens = NULL, *types = NULL, *scores = NULL, *merges = NULL;
        GgufString model;
        int k;

        k = gguf_get_string(f, "tokenizer.ggml.model", &model, err);
        if (k == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: no tokenizer.ggml.model key: the file has no vocabulary",
                                       f->path);
        if (k < 0)
                return k;
        if (model.len != 5 || memcmp(model.ptr, "llama", 5) != 0)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.model is '%.*s'; only 'llama' "
                                       "(SentencePiece-style) vocabularies are supported", f->path,
                                       (int) MIN(model.len, 64), model.ptr);

        if ((k = get_array(f, "tokenizer.ggml.tokens", true, &tokens, err)) == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.tokens is missing", f->path);
        if (k < 0)
                return k;
        if (tokens->count == 0 || tokens->count > TOKENIZER_N_VOCAB_MAX)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.tokens has %" PRIu64 " entries (must be 1..%u)",
                                       f->path, tokens->count, TOKENIZER_N_VOCAB_MAX);
        if ((k = get_array(f, "tokenizer.ggml.token_type", false, &types, err)) == -ENOENT)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.token_type is missing", f->path);
        if (k < 0)
                return k;
        if ((k = get_array(f, "tokenizer.ggml.scores", false, &scores, err)) < 0 && k != -ENOENT)
                return k;
        if ((k = get_array(f, "tokenizer.ggml.merges", true, &merges, err)) < 0 && k != -ENOENT)
                return k;
        if (types->count != tokens->count)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.token_type has %" PRIu64 " entries for %" PRIu64
                                       " tokens", f->path, types->count, tokens->count);
        if (scores && scores->count != tokens->count)
                return gemma_error_set(err, -EINVAL, "%s: tokenizer.ggml.scores has %" PRIu64 " entries for %" PRIu64
                                       " tokens", f->path, scores->count, tokens->count);
        if (!scores && !merges)
                return gemma_error_set(err, -EINVAL, "%s: the vocabulary has neither tokenizer.ggml.scores nor "
                                       "tokenizer.ggml.merges", f->path);

        tok = new0(Tokenizer, 1);
        if (!tok)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        tok->n_vocab = (uint32_t) tokens->count;
        tok->kind = merges ? TOKENIZER_KIND_MERGES : TOKENIZER_KIND_SCORES;

        if ((k = load_pieces(tok, f, tokens, err)) < 0 ||
            (k = load_types_and_scores(tok, f, types, scores, err)) < 0 ||
            (k = build_piece_table(tok, err)) < 0 ||
            (merges && (k = load_merges(tok, f, merges, err)) < 0) ||
            (k = build_trie(tok, err)) < 0)
                return k;

        if ((k = get_special_id(f, "tokenizer.ggml.bos_token_id", tok->n_vocab, &tok->bos, err)) < 0 ||
            (k = get_special_id(f, "tokenizer.ggml.eos_token_id", tok->n_vocab, &tok->eos, err)) < 0 ||
            (k = get_special_id(f, "tokenizer.ggml.padding_token_id", tok->n_vocab, &tok->pad, err)) < 0 ||
            (k = get_special_id(f, "tokenizer.ggml.unknown_token_id", tok->n_vocab, &tok->unk, err)) < 0 ||
            (k = get_special_id(f, "tokenizer.ggml.eot_token_id", tok->n_vocab, &tok->eot, err)) < 0)
                return k;
        tok->end_ids[0] = tok->eos;
        tok->end_ids[1] = tok->eot;
        tok->end_ids[2] = tokenizer_find_piece(tok, "<eos>");
        tok->end_ids[3] = tokenizer_find_piece(tok, "<end_of_turn>");

        *ret = TAKE_PTR(tok);
        return 0;
}

/* ---- Queries ------------------------------------------------------------------------------------ */

uint32_t tokenizer_n_vocab(const Tokenizer *tok) {
        return tok->n_vocab;
}

TokenizerKind tokenizer_kind(const Tokenizer *tok) {
        return tok->kind;
}

int32_t tokenizer_find_piece(const Tokenizer *tok, const char *s) {
        return piece_lookup(tok, s, strlen(s));
}

int32_t tokenizer_bos(const Tokenizer *tok) {
        return tok->bos;
}

int32_t tokenizer_eos(const Tokenizer *tok) {
        return tok->eos;
}

int32_t tokenizer_pad(const Tokenizer *tok) {
        return tok->pad;
}

int32_t tokenizer_unk(const Tokenizer *tok) {
        return tok->unk;
}

bool tokenizer_is_end_of_generation(const Tokenizer *tok, int32_t id) {
        if (id < 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(tok->end_ids); i++)
                if (tok->end_ids[i] == id)
                        return true;
        return false;
}

TokenType tokenizer_token_type(const Tokenizer *tok, int32_t id) {
        if (id < 0 || (uint32_t) id >= tok->n_vocab)
                return 0;
        return tok->types[id];
}

bool tokenizer_is_control(const Tokenizer *tok, int32_t id) {
        TokenType t = tokenizer_token_type(tok, id);
        return t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_UNKNOWN;
}

const char *tokenizer_piece(const Tokenizer *tok, int32_t id, size_t *ret_len) {
        if (id < 0 || (uint32_t) id >= tok->n_vocab)
                return NULL;
        if (ret_len)
                *ret_len = tok->length[id];
        return tok->text + tok->offset[id];
}

int tokenizer_piece_bytes(const Tokenizer *tok, int32_t id, char *buf, size_t size) {
        if (id < 0 || (uint32_t) id >= tok->n_vocab)
                return -EINVAL;
        const char *s = tok->text + tok->offset[id];
        size_t n = tok->length[id], out = 0;

        if (tok->types[id] == TOKEN_TYPE_BYTE) {
                if (size > 0)
                        buf[0] = (char) byte_piece_value(s, n);
                return 1;
        }
        for (size_t i = 0; i < n;) {
                char c;
                if (n - i >= SPACE_MARK_LEN && memcmp(s + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
                        c = ' ';
                        i += SPACE_MARK_LEN;
                } else
                        c = s[i++];
                if (out < size)
                        buf[out] = c;
                out++;
        }
        return (int) out;
}

/* ---- Encoding ----------------------------------------------------------------------------------- */

/* One symbol of the BPE word: a run of the normalised text, and the pair it starts with its next
 * symbol (prio: lower merges first; result: the joined piece). */
typedef struct Sym {
        int32_t prev, next;
        int32_t id;                     /* piece of this run, or -1 */
        int32_t heap;                   /* position in the pair queue, or -1 */
        uint32_t start, len;            /* bytes of the normalised text */
        uint32_t prio;
        int32_t result;
} Sym;

typedef struct Encoder {
        const Tokenizer *tok;
        char *norm;                     /* the current word with " " replaced by "▁" */
        size_t norm_cap;
        Sym *sym;
        size_t sym_cap;
        int32_t *heap;                  /* symbol indices; ordered by (prio, index) */
        size_t n_heap, heap_cap;
        int32_t *ids;
        size_t n_ids, ids_cap;
        GemmaError *err;
} Encoder;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
        if (need <= *cap)
                return 0;
        size_t n = *cap ? *cap : 64;
        while (n < need) {
                if (size_mul_overflow(n, 2, &n))
                        return -ENOMEM;
        }
        void *q = NULL;
        size_t bytes;
        if (!size_mul_overflow(n, elem, &bytes))
                q = realloc(*p, bytes);
        if (!q)
                return -ENOMEM;
        *p = q;
        *cap = n;
        return 0;
}

static int emit_id(Encoder *e, int32_t id) {
        if (grow((void **) &e->ids, &e->ids_cap, e->n_ids + 1, sizeof(int32_t)) < 0)
                return -ENOMEM;
        e->ids[e->n_ids++] = id;
        return 0;
}

/* Float score to a key where a higher score gives a lower (earlier) key. */
static uint32_t score_prio(float s) {
        uint32_t u;
        memcpy(&u, &s, sizeof(u));
        u = u & 0x80000000u ? ~u : u | 0x80000000u;     /* now ascending with s */
        return ~u;
}

static bool heap_less(const Sym *sym, int32_t a, int32_t b) {
        return sym[a].prio < sym[b].prio || (sym[a].prio == sym[b].prio && a < b);
}

static void heap_set(Encoder *e, size_t pos, int32_t s) {
        e->heap[pos] = s;
        e->sym[s].heap = (int32_t) pos;
}

static void heap_up(Encoder *e, size_t pos) {
        int32_t s = e->heap[pos];
        while (pos > 0) {
                size_t parent = (pos - 1) / 2;
                if (!heap_less(e->sym, s, e->heap[parent]))
                        break;
                heap_set(e, pos, e->heap[parent]);
                pos = parent;
        }
        heap_set(e, pos, s);
}

static void heap_down(Encoder *e, size_t pos) {
        int32_t s = e->heap[pos];
        for (;;) {
                size_t c = 2 * pos + 1;
                if (c >= e->n_heap)
                        break;
                if (c + 1 < e->n_heap && heap_less(e->sym, e->heap[c + 1], e->heap[c]))
                        c++;
                if (!heap_less(e->sym, e->heap[c], s))
                        break;
                heap_set(e, pos, e->heap[c]);
                pos = c;
        }
        heap_set(e, pos, s);
}

static void heap_remove(Encoder *e, int32_t s) {
        size_t pos = (size_t) e->sym[s].heap;
        int32_t last = e->heap[--e->n_heap];
        e->sym[s].heap = -1;
        if (last == s)
                return;
        heap_set(e, pos, last);
        heap_up(e, pos);
        heap_down(e, (size_t) e->sym[last].heap);
}

/* Works out whether symbol i and its next symbol can be joined, and at what priority. */
static bool pair_candidate(const Encoder *e, int32_t i, uint32_t *ret_prio, int32_t *ret_result) {
        const Tokenizer *tok = e->tok;
        const Sym *a = &e->sym[i];
        if (a->next < 0)
                return false;
        const Sym *b = &e->sym[a->next];

        if (tok->kind == TOKENIZER_KIND_MERGES) {
                if (a->id < 0 || b->id < 0)
                        return false;
                const MergeSlot *m = merge_lookup(tok, a->id, b->id);
                if (!m)
                        return false;
                *ret_prio = m->rank;
                *ret_result = m->result;
                return true;
        }
        /* SentencePiece BPE: any adjacent pair whose text is a normal or user-defined piece. */
        size_t n = (size_t) a->len + b->len;
        if (n > TOKENIZER_PIECE_MAX)
                return false;
        int32_t r = piece_lookup(tok, e->norm + a->start, n);
        if (r < 0 || (tok->types[r] != TOKEN_TYPE_NORMAL && tok->types[r] != TOKEN_TYPE_USER_DEFINED))
                return false;
        *ret_prio = score_prio(tok->scores[r]);
        *ret_result = r;
        return true;
}

/* Recomputes the pair that starts at symbol i and puts it into, moves it in, or takes it out of
 * the queue. */
static void pair_update(Encoder *e, int32_t i) {
        Sym *s = &e->sym[i];
        uint32_t prio;
        int32_t result;

        if (!pair_candidate(e, i, &prio, &result)) {
                if (s->heap >= 0)
                        heap_remove(e, i);
                return;
        }
        s->prio = prio;
        s->result = result;
        if (s->heap < 0) {
                e->heap[e->n_heap] = i;
                s->heap = (int32_t) e->n_heap++;
                heap_up(e, (size_t) s->heap);
        } else {
                heap_up(e, (size_t) s->heap);
                heap_down(e, (size_t) s->heap);
        }
}

static int emit_unknown(Encoder *e, size_t word_first_id) {
        const Tokenizer *tok = e->tok;
        if (tok->unk < 0)
                return -EINVAL;
        /* The reference fuses runs of unknowns within a word into one. */
        if (e->n_ids > word_first_id && e->ids[e->n_ids - 1] == tok->unk)
                return 0;
        return emit_id(e, tok->unk);
}

/* BPE over one stretch of raw text between added pieces. */
static int encode_word(Encoder *e, const char *raw, size_t n_raw) {
        const Tokenizer *tok = e->tok;
        size_t n_norm = 0, n_sym = 0, first_id = e->n_ids;
        int k;

        if (n_raw == 0)
                return 0;
        for (size_t i = 0; i < n_raw; i++)
                n_norm += raw[i] == ' ' ? SPACE_MARK_LEN : 1;
        if ((k = grow((void **) &e->norm, &e->norm_cap, n_norm, 1)) < 0)
                return k;
        for (size_t i = 0, o = 0; i < n_raw; i++) {
                if (raw[i] == ' ') {
                        memcpy(e->norm + o, SPACE_MARK, SPACE_MARK_LEN);
                        o += SPACE_MARK_LEN;
                } else
                        e->norm[o++] = raw[i];
        }

        /* One symbol per character (the text was validated, so lead bytes give the lengths). */
        for (size_t o = 0; o < n_norm; n_sym++) {
                uint32_t len = (uint32_t) utf8_decode(e->norm + o, n_norm - o, NULL);
                if ((k = grow((void **) &e->sym, &e->sym_cap, n_sym + 1, sizeof(Sym))) < 0)
                        return k;
                e->sym[n_sym] = (Sym) { .prev = (int32_t) n_sym - 1, .next = -1, .heap = -1, .start = (uint32_t) o,
                                        .len = len, .id = piece_lookup(tok, e->norm + o, len) };
                if (n_sym > 0)
                        e->sym[n_sym - 1].next = (int32_t) n_sym;
                o += len;
        }
        /* The pair queue holds at most one entry per symbol. */
        if ((k = grow((void **) &e->heap, &e->heap_cap, n_sym, sizeof(int32_t))) < 0)
                return k;
        e->n_heap = 0;
        for (size_t i = 0; i + 1 < n_sym; i++)
                pair_update(e, (int32_t) i);

        while (e->n_heap > 0) {
                int32_t i = e->heap[0];
                Sym *a = &e->sym[i];
                int32_t j = a->next;
                Sym *b = &e->sym[j];

                /* i stays queued: pair_update() below gives it its new pair or takes it out. */
                if (b->heap >= 0)
                        heap_remove(e, j);
                a->id = a->result;
                a->len += b->len;
                a->next = b->next;
                if (b->next >= 0)
                        e->sym[b->next].prev = i;
                if (a->prev >= 0)
                        pair_update(e, a->prev);
                pair_update(e, i);
        }

        for (int32_t i = n_sym ? 0 : -1; i >= 0; i = e->sym[i].next) {
                const Sym *s = &e->sym[i];
                if (s->id >= 0) {
                        if ((k = emit_id(e, s->id)) < 0)
                                return k;
                        continue;
                }
                /* Byte fallback: all of the character's bytes must have pieces, or it is unknown. */
                bool all = true;
                for (uint32_t b = 0; b < s->len; b++)
                        all &= tok->byte_id[(uint8_t) e->norm[s->start + b]] >= 0;
                for (uint32_t b = 0; all && b < s->len; b++)
                        if ((k = emit_id(e, tok->byte_id[(uint8_t) e->norm[s->start + b]])) < 0)
                                return k;
                if (!all && (k = emit_unknown(e, first_id)) < 0) {
                        if (k != -EINVAL)
                                return k;
                        uint32_t cp = 0;
                        utf8_decode(e->norm + s->start, s->len, &cp);
                        return gemma_error_set(e->err, -EINVAL, "cannot encode U+%04X: the vocabulary has no piece, no "
                                               "byte pieces and no unknown piece for it", cp);
                }
        }
        return 0;
}

/* The longest added piece that starts at text[pos], or -1; *ret_len gets its length. */
static int32_t trie_match(const Tokenizer *tok, const char *text, size_t len, size_t pos, bool parse_special,
                          size_t *ret_len) {
        int32_t node = tok->trie_root[(uint8_t) text[pos]], best = -1;
        size_t d = 1;

        while (node >= 0) {
                const TrieNode *t = &tok->trie[node];
                if (t->id >= 0 && (parse_special || !t->special)) {
                        best = t->id;
                        *ret_len = d;
                }
                if (pos + d >= len)
                        break;
                uint8_t c = (uint8_t) text[pos + d];
                for (node = t->child; node >= 0 && tok->trie[node].byte != c; node = tok->trie[node].sibling)
                        ;
                d++;
        }
        return best;
}

int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, bool parse_special, int32_t **ret_ids,
                     size_t *ret_n, GemmaError *err) {
        Encoder e = { .tok = tok, .err = err };
        size_t bad, word = 0;
        int k = 0;

        if (len > TOKENIZER_TEXT_MAX)
                return gemma_error_set(err, -EINVAL, "text of %zu bytes is too long to tokenize (at most %u)", len,
                                       TOKENIZER_TEXT_MAX);
        if (!utf8_validate(text, len, &bad))
                return gemma_error_set(err, -EILSEQ, "text is not valid UTF-8 at byte %zu", bad);

        for (size_t pos = 0; pos < len && k >= 0;) {
                size_t n;
                int32_t id = trie_match(tok, text, len, pos, parse_special, &n);
                if (id < 0) {
                        pos++;
                        continue;
                }
                if ((k = encode_word(&e, text + word, pos - word)) < 0 || (k = emit_id(&e, id)) < 0)
                        break;
                pos += n;
                word = pos;
        }
        if (k >= 0)
                k = encode_word(&e, text + word, len - word);
        if (k >= 0 && !e.ids)
                k = grow((void **) &e.ids, &e.ids_cap, 1, sizeof(int32_t));

        free(e.norm);
        free(e.sym);
        free(e.heap);
        if (k < 0) {
                free(e.ids);
                if (k == -ENOMEM)
                        return gemma_error_set(err, -ENOMEM, "out of memory");
                return k;       /* err already set */
        }
        *ret_ids = e.ids;
        *ret_n = e.n_ids;
        return 0;
}

/* ---- Streaming decoder -------------------------------------------------------------------------- */

struct TokenStream {
        const Tokenizer *tok;
        bool render_control;
        char *pending;                  /* bytes not yet emitted: at most a cut-off character plus one piece */
        size_t n_pending, pending_cap;
        char *out;                      /* the chunk being emitted, with U+FFFD replacements */
        size_t out_cap;
};

TokenStream *tokenstream_new(const Tokenizer *tok, bool render_control) {
        TokenStream *ts = new0(TokenStream, 1);
        if (!ts)
                return NULL;
        ts->tok = tok;
        ts->render_control = render_control;
        return ts;
}

TokenStream *tokenstream_free(TokenStream *ts) {
        if (!ts)
                return NULL;
        free(ts->pending);
        free(ts->out);
        free(ts);
        return NULL;
}

/* Emits the first n pending bytes (invalid bytes as U+FFFD each) and keeps the rest. */
static int stream_emit(TokenStream *ts, size_t n, TokenStreamEmit emit, void *userdata) {
        size_t o = 0;
        int k;

        if (n == 0)
                return 0;
        if (grow((void **) &ts->out, &ts->out_cap, n * UTF8_REPLACEMENT_LEN, 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_decode(ts->pending + i, n - i, NULL);
                if (len == 0) {
                        memcpy(ts->out + o, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
                        o += UTF8_REPLACEMENT_LEN;
                        i++;
                        continue;
                }
                memcpy(ts->out + o, ts->pending + i, len);
                o += len;
                i += len;
        }
        memmove(ts->pending, ts->pending + n, ts->n_pending - n);
        ts->n_pending -= n;
        k = emit(userdata, ts->out, o);
        return k < 0 ? k : 0;
}

int tokenstream_push(TokenStream *ts, int32_t id, TokenStreamEmit emit, void *userdata) {
        int n = tokenizer_piece_bytes(ts->tok, id, NULL, 0);
        if (n < 0)
                return n;
        if (!ts->render_control && tokenizer_is_control(ts->tok, id))
                return 0;
        if (grow((void **) &ts->pending, &ts->pending_cap, ts->n_pending + (size_t) n, 1) < 0)
                return -ENOMEM;
        tokenizer_piece_bytes(ts->tok, id, ts->pending + ts->n_pending, (size_t) n);
        ts->n_pending += (size_t) n;
        return stream_emit(ts, utf8_complete_prefix(ts->pending, ts->n_pending), emit, userdata);
}

int tokenstream_flush(TokenStream *ts, TokenStreamEmit emit, void *userdata) {
        int k = stream_emit(ts, ts->n_pending, emit, userdata);
        ts->n_pending = 0;
        return k;
}
