/* The Gemma tokenizer: text to token ids and back, from the vocabulary in a GGUF file. Owns a
 * copy of every piece, the lookup tables built from them, and nothing of the GgufFile after
 * tokenizer_load() returns.
 *
 * What the file must hold (spec gemma3n-text.md §4.6)
 *   tokenizer.ggml.model       "llama" (SentencePiece-style pieces: "▁" stands for a space)
 *   tokenizer.ggml.tokens      string[n]: the pieces, id = index
 *   tokenizer.ggml.token_type  i32[n]: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 *                              6 byte ("<0x00>".."<0xFF>", byte fallback)
 *   tokenizer.ggml.scores      f32[n]: required unless merges are present
 *   tokenizer.ggml.merges      string[m], optional: "LEFT RIGHT", highest priority first
 *   tokenizer.ggml.{bos,eos,padding,unknown,eot}_token_id   optional u32 ids
 * Everything is checked at load time: array types and lengths, token types, piece lengths
 * (1..TOKENIZER_PIECE_MAX bytes, valid UTF-8), byte pieces spelled "<0xHH>", every merge naming
 * two pieces whose concatenation is a piece, special ids in range. A malformed vocabulary is an
 * -EINVAL naming the key and the index; pieces that occur twice keep the lowest id for lookups.
 *
 * Encoding (tokenizer_encode), the Gemma reference pipeline as the published tokenizer.json
 * defines it (normalizer: replace " " by "▁"; pre-tokenizer: split on " ", which after that
 * normalizer never matches; model: BPE with byte fallback; no prefix space, no BOS here):
 *   1. Added pieces are cut out of the raw text first, scanning left to right and taking the
 *      longest piece that starts at each position. User-defined pieces (type 4: "\n", "\n\n",
 *      "\t\t", "▁▁", "<unused7>", "<b>", ...) are always cut out; control and unknown pieces
 *      ("<start_of_turn>", "<bos>", "<unk>", ...) only when parse_special is true, otherwise
 *      they are ordinary text. This is the reference's added-token splitter.
 *   2. Every stretch of text between them has each " " replaced by "▁" and is then one BPE
 *      "word" (the reference has no further pre-tokenization: digits, punctuation and runs of
 *      spaces all take part in merges).
 *   3. BPE: the word starts as one symbol per character; repeatedly the best adjacent pair is
 *      joined, ties going to the leftmost pair, until no pair qualifies. Which pair is best is
 *      decided from the file:
 *        - with tokenizer.ggml.merges: the pair listed earliest in the merges (lowest rank).
 *          This is exactly the reference BPE model (HF tokenizers / transformers.js rank the
 *          pairs the same way and break ties by position), so ids match it token for token.
 *        - without merges (published Gemma GGUF files, converted from the SentencePiece model):
 *          the pair whose joined piece is a normal or user-defined piece with the highest score.
 *          This is SentencePiece's BPE rule, from which the reference merges were derived (the
 *          converter lists every split of every piece, ordered by that piece's score). The
 *          test suite checks this mode against the reference too.
 *      A pair queue keyed by (priority, position) over a linked list of symbols makes this
 *      O(n log n) in the length of the word, so long inputs without newlines stay fast.
 *   4. A final symbol that is a piece becomes its id; one that is not (a character missing from
 *      the vocabulary) becomes the byte pieces of its UTF-8 bytes; without byte pieces it becomes
 *      the unknown id, consecutive unknowns fused into one (the reference's fuse_unk).
 * Invalid UTF-8 input is an error (-EILSEQ naming the byte offset), never replaced: the caller
 * validates or repairs text at its own door (D-Bus strings are always valid UTF-8).
 *
 * Decoding: a piece's bytes are its text with "▁" replaced by " "; a byte piece is its single
 * byte; control and unknown pieces are their text ("<end_of_turn>"), so that
 * decode(encode(x, parse_special)) == x for any x without a literal "▁". A TokenStream, which
 * is what generation uses, can instead render control pieces as nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "gguf/gguf.h"

#define TOKENIZER_N_VOCAB_MAX (1u << 24)
#define TOKENIZER_N_MERGES_MAX (1u << 26)
#define TOKENIZER_PIECE_MAX 4096            /* bytes of one piece */

/* tokenizer.ggml.token_type values. */
typedef enum TokenType {
        TOKEN_TYPE_NORMAL = 1,
        TOKEN_TYPE_UNKNOWN = 2,
        TOKEN_TYPE_CONTROL = 3,
        TOKEN_TYPE_USER_DEFINED = 4,
        TOKEN_TYPE_UNUSED = 5,
        TOKEN_TYPE_BYTE = 6,
} TokenType;

typedef enum TokenizerKind {
        TOKENIZER_KIND_SCORES,      /* SentencePiece BPE: joined piece with the highest score first */
        TOKENIZER_KIND_MERGES,      /* ranked merges: earliest listed pair first */
} TokenizerKind;

typedef struct Tokenizer Tokenizer;

/* Builds the tokenizer from f's tokenizer.* keys. On failure *ret is untouched and err names the
 * key (and index) that is wrong. f may be closed afterwards. */
int tokenizer_load(const GgufFile *f, Tokenizer **ret, GemmaError *err);

Tokenizer *tokenizer_free(Tokenizer *tok);

static inline void tokenizer_freep(Tokenizer **tok) {
        if (*tok)
                tokenizer_free(*tok);
}

/* Encodes len bytes of text (NUL bytes are ordinary characters). Never adds BOS: the caller (or
 * the chat template's literal "<bos>" with parse_special) decides. On success *ret_ids is a
 * malloc()ed array of *ret_n ids (non-NULL even when *ret_n is 0). Errors: -EILSEQ for invalid
 * UTF-8, -EINVAL for a character that has no piece, no byte piece and no unknown piece, -ENOMEM. */
int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, bool parse_special, int32_t **ret_ids,
                     size_t *ret_n, GemmaError *err);

uint32_t tokenizer_n_vocab(const Tokenizer *tok);
TokenizerKind tokenizer_kind(const Tokenizer *tok);
const char *tokenizer_kind_to_string(TokenizerKind k);

/* The id of the piece spelled exactly s (NUL-terminated), or -1. */
int32_t tokenizer_find_piece(const Tokenizer *tok, const char *s);

/* Ids from the tokenizer.ggml.*_token_id keys; -1 when the key is absent. */
int32_t tokenizer_bos(const Tokenizer *tok);
int32_t tokenizer_eos(const Tokenizer *tok);
int32_t tokenizer_pad(const Tokenizer *tok);
int32_t tokenizer_unk(const Tokenizer *tok);

/* True for the ids that end generation: the eos key, the eot key, and the pieces "<eos>" and
 * "<end_of_turn>" found by their text (spec §4.6: files disagree on which one eos names). */
bool tokenizer_is_end_of_generation(const Tokenizer *tok, int32_t id);

/* The type of id, or 0 when id is out of range. */
TokenType tokenizer_token_type(const Tokenizer *tok, int32_t id);

/* True for control and unknown pieces (what parse_special makes recognisable). */
bool tokenizer_is_control(const Tokenizer *tok, int32_t id);

/* The piece as stored ("▁world", "<0x0A>"); *ret_len gets its length. NULL for an id out of range. */
const char *tokenizer_piece(const Tokenizer *tok, int32_t id, size_t *ret_len);

/* The bytes id stands for in decoded text (see "Decoding" above). Returns their number n and
 * copies min(n, size) of them to buf (no terminating NUL: a byte piece may be 0x00), so a call
 * with size 0 measures. -EINVAL for an id out of range. */
int tokenizer_piece_bytes(const Tokenizer *tok, int32_t id, char *buf, size_t size);

/* ---- Streaming decoder -------------------------------------------------------------------------
 * Turns ids into text chunks that are always complete UTF-8: bytes of a character split over
 * several tokens (byte-fallback pieces of an emoji) are held until the character is whole, then
 * emitted once. Bytes that can never become valid UTF-8 (a stray <0xFF>, a sequence broken off
 * by another piece) are emitted as U+FFFD, one per byte. */

typedef struct TokenStream TokenStream;

/* Receives one chunk (len >= 1, valid UTF-8, not NUL-terminated). A negative return aborts the
 * push and is passed back to its caller. */
typedef int (*TokenStreamEmit)(void *userdata, const char *text, size_t len);

/* render_control: whether control and unknown pieces appear as their text (true) or as nothing
 * (false, what a chat front end wants). The stream refers to tok, which must outlive it. */
TokenStream *tokenstream_new(const Tokenizer *tok, bool render_control);
TokenStream *tokenstream_free(TokenStream *ts);

static inline void tokenstream_freep(TokenStream **ts) {
        if (*ts)
                tokenstream_free(*ts);
}

/* Adds one id; calls emit at most once with the text that became complete. Returns 0, -EINVAL
 * for an id out of range (nothing is added), or emit's negative return. */
int tokenstream_push(TokenStream *ts, int32_t id, TokenStreamEmit emit, void *userdata);

/* End of the stream: emits what is held back (an unfinished character becomes U+FFFD per byte)
 * and resets the stream for reuse. */
int tokenstream_flush(TokenStream *ts, TokenStreamEmit emit, void *userdata);
