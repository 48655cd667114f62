/* Unit tests for models/text/tokenizer.c and utf8.c on a hand-made vocabulary written with the GGUF
 * writer. Every expected id list below was worked out by hand from the table in make_vocab() and
 * the merge rule the file selects (comments show the steps); the real vocabulary is compared with
 * the reference tokenizer in tests/tokenizer/. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf-writer.h"
#include "gguf/gguf.h"
#include "harness/test-util.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* ---- The test vocabulary ------------------------------------------------------------------------
 *   0 <pad>  1 <eos>  2 <bos>  (control)      3 <unk> (unknown)
 *   4 <start_of_turn>  5 <end_of_turn>  (control)
 *   6 "\n"  7 "\n\n"  8 "▁▁"  (user-defined)
 *   9 + b   <0xBB> byte pieces for every byte b (9..264)
 * 265 ▁   266 a   267 b   268 c   269 ab   270 bc   271 abc   272 ▁a   273 ▁ab
 * 274 h   275 i   276 hi  277 ▁hi  278 é   279 x   280 <u> (user-defined)   281 j   282 ij
 * Scores (used without merges; higher joins first): ab -1, bc -2, abc -3, ▁a -4, ▁ab -5, hi -6,
 * ▁hi -7, ij -8, ▁▁ -9; single characters and the rest -100.
 * Merges (with_merges; lower rank joins first): 0 "i j", 1 "a b", 2 "b c", 3 "ab c", 4 "a bc",
 * 5 "▁ a", 6 "▁a b", 7 "▁ ab", 8 "h i", 9 "▁ hi", 10 "▁ ▁". Note "i j" comes first here while
 * ij has the lowest score of hi/ij: "hij" tells the two rules apart. */

#define SP "\xe2\x96\x81"
#define BYTE(b) (9 + (int32_t) (uint8_t) (b))
enum { PAD, EOS, BOS, UNK, SOT, EOT, NL, NL2, SPSP };
enum { T_SP = 265, T_A, T_B, T_C, T_AB, T_BC, T_ABC, T_SPA, T_SPAB, T_H, T_I, T_HI, T_SPHI, T_E_ACUTE, T_X, T_U, T_J, T_IJ,
       N_VOCAB };

#define MAX_VOCAB 300

typedef struct Vocab {
        const char *model;                      /* NULL: key left out */
        const char *tokens[MAX_VOCAB];
        uint32_t n_tokens;
        bool tokens_as_numbers;                 /* write tokenizer.ggml.tokens as i32[] */
        float scores[MAX_VOCAB];
        uint32_t n_scores;                      /* 0: key left out */
        int32_t types[MAX_VOCAB];
        uint32_t n_types;
        const char *merges[16];
        uint32_t n_merges;                      /* 0: key left out */
        int64_t bos, eos, pad, unk;             /* < 0: key left out */
} Vocab;

static char byte_names[256][8];

static void make_vocab(Vocab *v, bool with_merges) {
        static const struct {
                const char *piece;
                int32_t type;
                float score;
        } rest[] = {
                { SP, 1, -100 },      { "a", 1, -100 },    { "b", 1, -100 },    { "c", 1, -100 },   { "ab", 1, -1 },
                { "bc", 1, -2 },      { "abc", 1, -3 },    { SP "a", 1, -4 },   { SP "ab", 1, -5 }, { "h", 1, -100 },
                { "i", 1, -100 },     { "hi", 1, -6 },     { SP "hi", 1, -7 },  { "\xc3\xa9", 1, -100 },
                { "x", 1, -100 },     { "<u>", 4, -100 },  { "j", 1, -100 },    { "ij", 1, -8 },
        };
        static const char *const head[] = { "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                                             "\n", "\n\n", SP SP };
        static const int32_t head_types[] = { 3, 3, 3, 2, 3, 3, 4, 4, 4 };
        static const char *const merges[] = { "i j", "a b", "b c", "ab c", "a bc", SP " a",
                                              SP "a b", SP " ab", "h i", SP " hi", SP " " SP };
        uint32_t n = 0;

        *v = (Vocab) { .model = "llama", .bos = BOS, .eos = EOS, .pad = PAD, .unk = UNK };
        for (size_t i = 0; i < N_ELEMS(head); i++, n++) {
                v->tokens[n] = head[i];
                v->types[n] = head_types[i];
                v->scores[n] = i == SPSP ? -9.0f : 0.0f;
        }
        for (int b = 0; b < 256; b++, n++) {
                snprintf(byte_names[b], sizeof(byte_names[b]), "<0x%02X>", b);
                v->tokens[n] = byte_names[b];
                v->types[n] = 6;
        }
        for (size_t i = 0; i < N_ELEMS(rest); i++, n++) {
                v->tokens[n] = rest[i].piece;
                v->types[n] = rest[i].type;
                v->scores[n] = rest[i].score;
        }
        assert_int_equal(n, N_VOCAB);
        v->n_tokens = v->n_scores = v->n_types = n;
        if (with_merges) {
                for (size_t i = 0; i < N_ELEMS(merges); i++)
                        v->merges[i] = merges[i];
                v->n_merges = N_ELEMS(merges);
        }
}

static int write_and_load(const Vocab *v, Tokenizer **ret, GemmaError *err) {
        char *dir = test_tmpdir(), *path = NULL;
        GgufWriter *w = gguf_writer_new();
        GgufFile *f = NULL;
        int k;

        assert_non_null(dir);
        assert_non_null(w);
        assert_true(asprintf(&path, "%s/vocab.gguf", dir) > 0);
        if (v->model)
                assert_int_equal(gguf_writer_add_string(w, "tokenizer.ggml.model", v->model), 0);
        if (v->tokens_as_numbers)
                assert_int_equal(gguf_writer_add_array(w, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, v->types, v->n_types), 0);
        else if (v->n_tokens)
                assert_int_equal(gguf_writer_add_string_array(w, "tokenizer.ggml.tokens", v->tokens, v->n_tokens), 0);
        if (v->n_scores)
                assert_int_equal(gguf_writer_add_array(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n_scores), 0);
        if (v->n_types)
                assert_int_equal(gguf_writer_add_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n_types), 0);
        if (v->n_merges)
                assert_int_equal(gguf_writer_add_string_array(w, "tokenizer.ggml.merges", v->merges, v->n_merges), 0);
        if (v->bos >= 0)
                assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t) v->bos), 0);
        if (v->eos >= 0)
                assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t) v->eos), 0);
        if (v->pad >= 0)
                assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t) v->pad), 0);
        if (v->unk >= 0)
                assert_int_equal(gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t) v->unk), 0);
        assert_int_equal(gguf_writer_write(w, path, NULL), 0);
        gguf_writer_free(w);

        GemmaError open_err = { 0 };
        if (gguf_open(path, &f, &open_err) < 0)
                fail_msg("gguf_open: %s", open_err.message);
        k = tokenizer_load(f, ret, err);
        gguf_close(f);
        free(path);
        test_tmpdir_remove(dir);
        return k;
}

static Tokenizer *load(bool with_merges) {
        Vocab v;
        Tokenizer *tok = NULL;
        GemmaError err = { 0 };
        make_vocab(&v, with_merges);
        if (write_and_load(&v, &tok, &err) < 0)
                fail_msg("tokenizer_load: %s", err.message);
        return tok;
}

static int setup_both(void **state) {
        Tokenizer **t = calloc(2, sizeof(Tokenizer *));
        t[0] = load(false);
        t[1] = load(true);
        *state = t;
        return 0;
}

static int teardown_both(void **state) {
        Tokenizer **t = *state;
        tokenizer_free(t[0]);
        tokenizer_free(t[1]);
        free(t);
        return 0;
}

/* Encodes and compares with want, printing both lists when they differ. */
static void check_encode_n(const Tokenizer *tok, const char *what, const char *text, size_t len, bool special,
                           const int32_t *want, size_t n_want) {
        int32_t *ids = NULL;
        size_t n = 0;
        GemmaError err = { 0 };
        int r = tokenizer_encode(tok, text, len, special, &ids, &n, &err);
        if (r < 0)
                fail_msg("%s: tokenizer_encode failed: %d %s", what, r, err.message);
        bool same = n == n_want && memcmp(ids, want, n * sizeof(int32_t)) == 0;
        if (!same) {
                print_error("%s (%s): got %zu ids:", what, tokenizer_kind_to_string(tokenizer_kind(tok)), n);
                for (size_t i = 0; i < n; i++)
                        print_error(" %d", ids[i]);
                print_error("\n  want %zu ids:", n_want);
                for (size_t i = 0; i < n_want; i++)
                        print_error(" %d", want[i]);
                print_error("\n");
        }
        free(ids);
        assert_true(same);
}

#define CHECK(tok, text, special, ...)                                                                      \
        do {                                                                                                 \
                const int32_t want_[] = { __VA_ARGS__ };                                                     \
                check_encode_n(tok, #text, text, strlen(text), special, want_, N_ELEMS(want_));              \
        } while (0)

/* Both kinds of file must give the same ids. */
#define CHECK_BOTH(text, special, ...)                                                                      \
        do {                                                                                                 \
                CHECK(t[0], text, special, __VA_ARGS__);                                                     \
                CHECK(t[1], text, special, __VA_ARGS__);                                                     \
        } while (0)

/* ---- tokenizer_load ----------------------------------------------------------------------------- */

static void test_tokenizer_load_kind_from_file(void **state) {
        Tokenizer **t = *state;
        assert_int_equal(tokenizer_kind(t[0]), TOKENIZER_KIND_SCORES);
        assert_int_equal(tokenizer_kind(t[1]), TOKENIZER_KIND_MERGES);
        assert_int_equal(tokenizer_n_vocab(t[0]), N_VOCAB);
        assert_int_equal(tokenizer_bos(t[0]), BOS);
        assert_int_equal(tokenizer_eos(t[0]), EOS);
        assert_int_equal(tokenizer_pad(t[0]), PAD);
        assert_int_equal(tokenizer_unk(t[0]), UNK);
}

/* Each case breaks one thing; the load must fail with -EINVAL, name the problem, and leave *ret. */
static void expect_load_error(const Vocab *v, const char *needle) {
        Tokenizer *sentinel = (Tokenizer *) (uintptr_t) 0x1234, *tok = sentinel;
        GemmaError err = { 0 };
        int r = write_and_load(v, &tok, &err);
        if (r != -EINVAL || !strstr(err.message, needle))
                fail_msg("want -EINVAL with '%s', got %d '%s'", needle, r, err.message);
        assert_ptr_equal(tok, sentinel);
}

static void test_tokenizer_load_malformed(void **state) {
        Vocab v;

        make_vocab(&v, false);
        v.n_scores--;
        expect_load_error(&v, "tokenizer.ggml.scores has 282 entries for 283 tokens");

        make_vocab(&v, false);
        v.n_types++;
        v.types[v.n_types - 1] = 1;
        expect_load_error(&v, "tokenizer.ggml.token_type has 284 entries for 283 tokens");

        make_vocab(&v, false);
        v.types[T_A] = 7;
        expect_load_error(&v, "tokenizer.ggml.token_type[266] is 7");

        make_vocab(&v, false);
        v.types[T_A] = 0;
        expect_load_error(&v, "token_type[266] is 0");

        make_vocab(&v, false);
        v.types[T_A] = INT32_MAX;
        expect_load_error(&v, "token_type[266] is 2.14748e+09");

        make_vocab(&v, false);
        v.tokens[BYTE(0x41)] = "<0xZZ>";
        expect_load_error(&v, "tokens[74] is a byte piece but is spelled '<0xZZ>'");

        make_vocab(&v, false);
        v.tokens[T_X] = "";
        expect_load_error(&v, "tokenizer.ggml.tokens[279] is 0 bytes long");

        make_vocab(&v, false);
        v.tokens[T_X] = "\xc3(";
        expect_load_error(&v, "tokenizer.ggml.tokens[279] is not valid UTF-8");

        make_vocab(&v, true);
        v.merges[3] = "a q";
        expect_load_error(&v, "tokenizer.ggml.merges[3] 'a q' is not two pieces");

        make_vocab(&v, true);
        v.merges[3] = "c a";         /* both pieces, but "ca" is not */
        expect_load_error(&v, "tokenizer.ggml.merges[3] 'c a'");

        make_vocab(&v, true);
        v.merges[3] = "abc";         /* no separator */
        expect_load_error(&v, "tokenizer.ggml.merges[3]");

        make_vocab(&v, false);
        v.bos = N_VOCAB;
        expect_load_error(&v, "tokenizer.ggml.bos_token_id is 283, but the vocabulary has 283 tokens");

        make_vocab(&v, false);
        v.model = "gpt2";
        expect_load_error(&v, "tokenizer.ggml.model is 'gpt2'");

        make_vocab(&v, false);
        v.model = NULL;
        expect_load_error(&v, "no tokenizer.ggml.model");

        make_vocab(&v, false);
        v.n_tokens = 0;
        expect_load_error(&v, "tokenizer.ggml.tokens is missing");

        make_vocab(&v, false);
        v.tokens_as_numbers = true;
        expect_load_error(&v, "tokenizer.ggml.tokens is an array of i32");

        make_vocab(&v, false);
        v.n_types = 0;
        expect_load_error(&v, "tokenizer.ggml.token_type is missing");

        make_vocab(&v, false);
        v.n_scores = 0;
        expect_load_error(&v, "neither tokenizer.ggml.scores nor tokenizer.ggml.merges");

        make_vocab(&v, false);
        v.scores[T_AB] = __builtin_nanf("");
        expect_load_error(&v, "tokenizer.ggml.scores[269] is not a number");
        (void) state;
}

/* Without scores but with merges the vocabulary is complete. */
static void test_tokenizer_load_merges_without_scores(void **state) {
        Vocab v;
        Tokenizer *tok = NULL;
        GemmaError err = { 0 };
        make_vocab(&v, true);
        v.n_scores = 0;
        assert_int_equal(write_and_load(&v, &tok, &err), 0);
        CHECK(tok, "abc", false, T_ABC);
        tokenizer_free(tok);
        (void) state;
}

/* ---- tokenizer_encode --------------------------------------------------------------------------- */

static void test_tokenizer_encode_merges(void **state) {
        Tokenizer **t = *state;
        CHECK_BOTH("ab", false, T_AB);
        /* scores: ab(-1) beats bc(-2), then ab+c = abc(-3). merges: "a b"(1) beats "b c"(2), then "ab c"(3). */
        CHECK_BOTH("abc", false, T_ABC);
        /* "▁ab": ab joins first in both, then ▁+ab. No space prefix is added. */
        CHECK_BOTH(" ab", false, T_SPAB);
        CHECK_BOTH("ab ", false, T_AB, T_SP);
        /* "▁hi▁hi": both hi (leftmost first), then both ▁hi; "▁hi▁hi" is no piece. */
        CHECK_BOTH(" hi hi", false, T_SPHI, T_SPHI);
        CHECK_BOTH("cab", false, T_C, T_AB);
}

static void test_tokenizer_encode_rule_decided_by_file(void **state) {
        Tokenizer **t = *state;
        /* scores: hi(-6) beats ij(-8). merges: "i j"(0) beats "h i"(8). */
        CHECK(t[0], "hij", false, T_HI, T_J);
        CHECK(t[1], "hij", false, T_H, T_IJ);
}

static void test_tokenizer_encode_whitespace_runs(void **state) {
        Tokenizer **t = *state;
        /* "a▁▁b": only ▁+▁ is a piece (user-defined ▁▁, score -9, rank 10). */
        CHECK_BOTH("a  b", false, T_A, SPSP, T_B);
        /* "▁▁▁a": ▁a (-4 / rank 5) beats ▁▁ (-9 / rank 10), then the first two ▁ join. */
        CHECK_BOTH("   a", false, SPSP, T_SPA);
        /* Four spaces: ▁▁ at 0, then ▁▁ at 2 (leftmost first); ▁▁▁▁ is no piece. */
        CHECK_BOTH("    ", false, SPSP, SPSP);
        CHECK_BOTH(" ", false, T_SP);
        /* A literal "▁▁" in the text is the user-defined piece, cut out before BPE. */
        CHECK_BOTH(SP SP "a", false, SPSP, T_A);
        /* Tabs have no piece: byte fallback. */
        CHECK_BOTH("\t\ta", false, BYTE('\t'), BYTE('\t'), T_A);
}

static void test_tokenizer_encode_newlines(void **state) {
        Tokenizer **t = *state;
        /* Longest user-defined piece first: "\n\n" then "\n". */
        CHECK_BOTH("a\n\n\nb", false, T_A, NL2, NL, T_B);
        CHECK_BOTH("\n", false, NL);
        CHECK_BOTH("\n\n\n\n", false, NL2, NL2);
        /* "\r" has no piece; the newline pieces still split the text. */
        CHECK_BOTH("a\r\nb\r", false, T_A, BYTE('\r'), NL, T_B, BYTE('\r'));
        /* A newline ends a BPE word: "a" and "b" on either side do not join. */
        CHECK_BOTH("a\nb", false, T_A, NL, T_B);
}

static void test_tokenizer_encode_byte_fallback(void **state) {
        Tokenizer **t = *state;
        CHECK_BOTH("\xc3\xa9", false, T_E_ACUTE);                                         /* é is a piece */
        CHECK_BOTH("x\xc3\xbcx", false, T_X, BYTE(0xc3), BYTE(0xbc), T_X);                /* ü is not */
        CHECK_BOTH("\xf0\x9f\x98\x80", false, BYTE(0xf0), BYTE(0x9f), BYTE(0x98), BYTE(0x80)); /* 😀 */
        CHECK_BOTH("1", false, BYTE('1'));
        /* A NUL byte is an ordinary character. */
        const int32_t want[] = { T_A, BYTE(0), T_B };
        check_encode_n(t[0], "a\\0b", "a\0b", 3, false, want, N_ELEMS(want));
        check_encode_n(t[1], "a\\0b", "a\0b", 3, false, want, N_ELEMS(want));
}

static void test_tokenizer_encode_parse_special(void **state) {
        Tokenizer **t = *state;
        CHECK_BOTH("<start_of_turn>ab<end_of_turn>", true, SOT, T_AB, EOT);
        CHECK_BOTH("<bos>a", true, BOS, T_A);
        /* Off: control pieces are text; only b and a have pieces. */
        CHECK_BOTH("<bos>a", false, BYTE('<'), T_B, BYTE('o'), BYTE('s'), BYTE('>'), T_A);
        CHECK_BOTH("<unk>", true, UNK);
        CHECK_BOTH("<bos", true, BYTE('<'), T_B, BYTE('o'), BYTE('s'));
        /* User-defined pieces are cut out either way. */
        CHECK_BOTH("a<u>b", false, T_A, T_U, T_B);
        CHECK_BOTH("a<u>b", true, T_A, T_U, T_B);
        CHECK_BOTH("<bos><bos>\n", true, BOS, BOS, NL);
}

static void test_tokenizer_encode_invalid_utf8(void **state) {
        static const struct {
                const char *text;
                size_t bad;
        } cases[] = {
                { "a\xff" "b", 1 },         /* never valid */
                { "ab\xe2\x82", 2 },        /* cut off at the end */
                { "\xc0\xaf", 0 },          /* overlong */
                { "a\xed\xa0\x80", 1 },     /* surrogate */
                { "\xf4\x90\x80\x80", 0 },  /* above U+10FFFF */
                { "\x80", 0 },              /* lone continuation byte */
                { "x\xe2(\xa1", 1 },        /* broken sequence */
        };
        Tokenizer **t = *state;
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                int32_t *ids = (int32_t *) (uintptr_t) 0x5678;
                size_t n = 77;
                GemmaError err = { 0 };
                char want[64];
                int r = tokenizer_encode(t[0], cases[i].text, strlen(cases[i].text), true, &ids, &n, &err);
                snprintf(want, sizeof(want), "not valid UTF-8 at byte %zu", cases[i].bad);
                if (r != -EILSEQ || !strstr(err.message, want))
                        fail_msg("case %zu: want -EILSEQ '%s', got %d '%s'", i, want, r, err.message);
                assert_ptr_equal(ids, (int32_t *) (uintptr_t) 0x5678);
                assert_int_equal(n, 77);
        }
}

static void test_tokenizer_encode_empty(void **state) {
        Tokenizer **t = *state;
        int32_t *ids = NULL;
        size_t n = 5;
        assert_int_equal(tokenizer_encode(t[1], "", 0, true, &ids, &n, NULL), 0);
        assert_non_null(ids);
        assert_int_equal(n, 0);
        free(ids);
}

/* Without byte pieces a missing character is <unk>, a run of them one <unk>; without <unk> it is
 * an error. */
static void test_tokenizer_encode_unknown(void **state) {
        Vocab v;
        Tokenizer *tok = NULL;
        GemmaError err = { 0 };
        int32_t *ids = NULL;
        size_t n;

        make_vocab(&v, false);
        for (int b = 0; b < 256; b++)
                v.types[BYTE(b)] = 5;  /* unused: no longer byte pieces */
        assert_int_equal(write_and_load(&v, &tok, &err), 0);
        CHECK(tok, "x\xc3\xbc\xc3\xbcx\xc3\xbc", false, T_X, UNK, T_X, UNK);
        tokenizer_free(tok);

        v.unk = -1;
        v.types[UNK] = 3;
        tok = NULL;
        assert_int_equal(write_and_load(&v, &tok, &err), 0);
        assert_int_equal(tokenizer_encode(tok, "a\xc3\xbc", 3, false, &ids, &n, &err), -EINVAL);
        assert_non_null(strstr(err.message, "cannot encode U+00FC"));
        assert_null(ids);
        tokenizer_free(tok);
        (void) state;
}

/* A 10 MB line without newlines is one BPE word: it must take seconds, not hours. */
static void test_tokenizer_encode_long_input(void **state) {
        Tokenizer **t = *state;
        const size_t reps = 3500000;    /* " hi" x 3.5M = 10.5 MB */
        char *text = malloc(3 * reps);
        assert_non_null(text);
        for (size_t i = 0; i < reps; i++)
                memcpy(text + 3 * i, " hi", 3);
        for (int k = 0; k < 2; k++) {
                int32_t *ids = NULL;
                size_t n = 0;
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                assert_int_equal(tokenizer_encode(t[k], text, 3 * reps, false, &ids, &n, NULL), 0);
                clock_gettime(CLOCK_MONOTONIC, &b);
                double s = (double) (b.tv_sec - a.tv_sec) + 1e-9 * (double) (b.tv_nsec - a.tv_nsec);
                fprintf(stderr, "encoding %zu bytes (%s): %.2f s\n", 3 * reps, tokenizer_kind_to_string(tokenizer_kind(t[k])), s);
                assert_int_equal(n, reps);
                for (size_t i = 0; i < n; i++)
                        if (ids[i] != T_SPHI)
                                fail_msg("id %zu is %d, want %d", i, ids[i], T_SPHI);
                free(ids);
                assert_true(s < 60.0);
        }
        free(text);
}

/* ---- Lookups and pieces ------------------------------------------------------------------------- */

static void test_tokenizer_find_piece(void **state) {
        Tokenizer **t = *state;
        assert_int_equal(tokenizer_find_piece(t[0], "<start_of_turn>"), SOT);
        assert_int_equal(tokenizer_find_piece(t[0], SP "hi"), T_SPHI);
        assert_int_equal(tokenizer_find_piece(t[0], "<0x41>"), BYTE('A'));
        assert_int_equal(tokenizer_find_piece(t[0], "zzz"), -1);
        assert_int_equal(tokenizer_find_piece(t[0], ""), -1);
}

static void test_tokenizer_is_end_of_generation(void **state) {
        Tokenizer **t = *state;
        assert_true(tokenizer_is_end_of_generation(t[0], EOS));
        assert_true(tokenizer_is_end_of_generation(t[0], EOT));     /* found by its text */
        assert_false(tokenizer_is_end_of_generation(t[0], BOS));
        assert_false(tokenizer_is_end_of_generation(t[0], T_A));
        assert_false(tokenizer_is_end_of_generation(t[0], -1));

        /* An eos key naming another piece adds to the set. */
        Vocab v;
        Tokenizer *tok = NULL;
        make_vocab(&v, false);
        v.eos = T_X;
        assert_int_equal(write_and_load(&v, &tok, NULL), 0);
        assert_true(tokenizer_is_end_of_generation(tok, T_X));
        assert_true(tokenizer_is_end_of_generation(tok, EOS));
        assert_true(tokenizer_is_end_of_generation(tok, EOT));
        tokenizer_free(tok);
}

static void test_tokenizer_piece_bytes(void **state) {
        Tokenizer **t = *state;
        char buf[32];
        assert_int_equal(tokenizer_piece_bytes(t[0], T_SPHI, buf, sizeof(buf)), 3);
        assert_memory_equal(buf, " hi", 3);
        assert_int_equal(tokenizer_piece_bytes(t[0], BYTE(0xf0), buf, sizeof(buf)), 1);
        assert_int_equal((uint8_t) buf[0], 0xf0);
        assert_int_equal(tokenizer_piece_bytes(t[0], BYTE(0), buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 0);
        assert_int_equal(tokenizer_piece_bytes(t[0], EOT, buf, sizeof(buf)), 13);
        assert_memory_equal(buf, "<end_of_turn>", 13);
        assert_int_equal(tokenizer_piece_bytes(t[0], SPSP, NULL, 0), 2);       /* measure */
        memset(buf, 'z', sizeof(buf));
        assert_int_equal(tokenizer_piece_bytes(t[0], T_SPAB, buf, 2), 3);     /* truncated copy */
        assert_memory_equal(buf, " az", 3);
        assert_int_equal(tokenizer_piece_bytes(t[0], N_VOCAB, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(tokenizer_piece_bytes(t[0], -1, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(tokenizer_token_type(t[0], BYTE(3)), TOKEN_TYPE_BYTE);
        assert_true(tokenizer_is_control(t[0], UNK));
        assert_false(tokenizer_is_control(t[0], T_U));
}

/* ---- TokenStream -------------------------------------------------------------------------------- */

typedef struct Sink {
        char text[256];
        size_t n;
        int calls;
} Sink;

static int sink_emit(void *userdata, const char *text, size_t len) {
        Sink *s = userdata;
        assert_true(len > 0);
        assert_true(utf8_validate(text, len, NULL));
        assert_true(s->n + len < sizeof(s->text));
        memcpy(s->text + s->n, text, len);
        s->n += len;
        s->calls++;
        return 0;
}

static void sink_expect(Sink *s, const char *want, int calls) {
        if (s->n != strlen(want) || memcmp(s->text, want, s->n) != 0 || s->calls != calls)
                fail_msg("stream gave '%.*s' in %d calls, want '%s' in %d", (int) s->n, s->text, s->calls, want, calls);
        *s = (Sink) { 0 };
}

static void test_tokenstream_emoji_split_over_tokens(void **state) {
        Tokenizer **t = *state;
        TokenStream *ts = tokenstream_new(t[0], false);
        Sink s = { 0 };

        assert_non_null(ts);
        assert_int_equal(tokenstream_push(ts, T_X, sink_emit, &s), 0);
        sink_expect(&s, "x", 1);
        /* 😀 = F0 9F 98 80: nothing until the fourth byte, then the whole character, once. */
        assert_int_equal(tokenstream_push(ts, BYTE(0xf0), sink_emit, &s), 0);
        assert_int_equal(tokenstream_push(ts, BYTE(0x9f), sink_emit, &s), 0);
        assert_int_equal(tokenstream_push(ts, BYTE(0x98), sink_emit, &s), 0);
        sink_expect(&s, "", 0);
        assert_int_equal(tokenstream_push(ts, BYTE(0x80), sink_emit, &s), 0);
        sink_expect(&s, "\xf0\x9f\x98\x80", 1);
        assert_int_equal(tokenstream_push(ts, T_SPHI, sink_emit, &s), 0);
        sink_expect(&s, " hi", 1);
        /* Two bytes of é then a piece: the pending bytes and the piece go out together. */
        assert_int_equal(tokenstream_push(ts, BYTE(0xc3), sink_emit, &s), 0);
        assert_int_equal(tokenstream_push(ts, BYTE(0xa9), sink_emit, &s), 0);
        sink_expect(&s, "\xc3\xa9", 1);
        assert_int_equal(tokenstream_flush(ts, sink_emit, &s), 0);
        sink_expect(&s, "", 0);
        tokenstream_free(ts);
}

static void test_tokenstream_invalid_bytes(void **state) {
        Tokenizer **t = *state;
        TokenStream *ts = tokenstream_new(t[0], true);
        Sink s = { 0 };

        /* FF can never start a character: replaced at once. */
        assert_int_equal(tokenstream_push(ts, BYTE(0xff), sink_emit, &s), 0);
        sink_expect(&s, UTF8_REPLACEMENT, 1);
        /* E2 then a piece: E2 cannot be completed any more. */
        assert_int_equal(tokenstream_push(ts, BYTE(0xe2), sink_emit, &s), 0);
        assert_int_equal(tokenstream_push(ts, T_A, sink_emit, &s), 0);
        sink_expect(&s, UTF8_REPLACEMENT "a", 1);
        /* A character cut off by the end of the stream: one U+FFFD per byte at the flush. */
        assert_int_equal(tokenstream_push(ts, BYTE(0xf0), sink_emit, &s), 0);
        assert_int_equal(tokenstream_push(ts, BYTE(0x9f), sink_emit, &s), 0);
        assert_int_equal(tokenstream_flush(ts, sink_emit, &s), 0);
        sink_expect(&s, UTF8_REPLACEMENT UTF8_REPLACEMENT, 1);
        /* The stream is reusable after a flush; out-of-range ids are refused. */
        assert_int_equal(tokenstream_push(ts, N_VOCAB, sink_emit, &s), -EINVAL);
        assert_int_equal(tokenstream_push(ts, T_B, sink_emit, &s), 0);
        sink_expect(&s, "b", 1);
        tokenstream_free(ts);
}

static void test_tokenstream_control_pieces(void **state) {
        Tokenizer **t = *state;
        TokenStream *quiet = tokenstream_new(t[0], false), *loud = tokenstream_new(t[0], true);
        Sink s = { 0 };
        const int32_t ids[] = { SOT, T_A, NL, EOT, UNK };

        for (size_t i = 0; i < N_ELEMS(ids); i++)
                assert_int_equal(tokenstream_push(quiet, ids[i], sink_emit, &s), 0);
        sink_expect(&s, "a\n", 2);
        for (size_t i = 0; i < N_ELEMS(ids); i++)
                assert_int_equal(tokenstream_push(loud, ids[i], sink_emit, &s), 0);
        sink_expect(&s, "<start_of_turn>a\n<end_of_turn><unk>", 5);
        tokenstream_free(quiet);
        tokenstream_free(loud);
}

/* decode(encode(x)) == x with special parsing, for text without a literal "▁". */
static void test_tokenizer_round_trip(void **state) {
        static const char *const texts[] = {
                "<start_of_turn>user\nhi  abc\t\xc3\xbc\xf0\x9f\x98\x80<end_of_turn>\n",
                "   leading spaces, trailing   ",
                "\n\n\n\r\n<bos><u><u>x\xe2\x80\x8b\xf4\x8f\xbf\xbd",
        };
        Tokenizer **t = *state;
        for (int k = 0; k < 2; k++)
                for (size_t i = 0; i < N_ELEMS(texts); i++) {
                        int32_t *ids;
                        size_t n;
                        Sink s = { 0 };
                        TokenStream *ts = tokenstream_new(t[k], true);
                        assert_int_equal(tokenizer_encode(t[k], texts[i], strlen(texts[i]), true, &ids, &n, NULL), 0);
                        for (size_t j = 0; j < n; j++)
                                assert_int_equal(tokenstream_push(ts, ids[j], sink_emit, &s), 0);
                        assert_int_equal(tokenstream_flush(ts, sink_emit, &s), 0);
                        if (s.n != strlen(texts[i]) || memcmp(s.text, texts[i], s.n) != 0)
                                fail_msg("text %zu (%s) decoded to '%.*s'", i,
                                         tokenizer_kind_to_string(tokenizer_kind(t[k])), (int) s.n, s.text);
                        free(ids);
                        tokenstream_free(ts);
                }
}

/* ---- utf8 --------------------------------------------------------------------------------------- */

static void test_utf8_decode(void **state) {
        static const struct {
                const char *s;
                size_t n, len;
                uint32_t cp;
        } cases[] = {
                { "A", 1, 1, 0x41 },
                { "\x00", 1, 1, 0 },
                { "\xc2\x80", 2, 2, 0x80 },
                { "\xdf\xbf", 2, 2, 0x7ff },
                { "\xe0\xa0\x80", 3, 3, 0x800 },
                { "\xed\x9f\xbf", 3, 3, 0xd7ff },
                { "\xee\x80\x80", 3, 3, 0xe000 },
                { "\xef\xbf\xbf", 3, 3, 0xffff },
                { "\xf0\x90\x80\x80", 4, 4, 0x10000 },
                { "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff },
                { "\xc1\xbf", 2, 0, 0 },                /* overlong */
                { "\xe0\x9f\xbf", 3, 0, 0 },            /* overlong */
                { "\xf0\x8f\xbf\xbf", 4, 0, 0 },        /* overlong */
                { "\xed\xa0\x80", 3, 0, 0 },            /* surrogate */
                { "\xf4\x90\x80\x80", 4, 0, 0 },        /* > U+10FFFF */
                { "\xf5\x80\x80\x80", 4, 0, 0 },
                { "\xe2\x82", 2, 0, 0 },                /* truncated */
                { "\xbf", 1, 0, 0 },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                uint32_t cp = 0xdeadbeef;
                size_t len = utf8_decode(cases[i].s, cases[i].n, &cp);
                if (len != cases[i].len || (len && cp != cases[i].cp))
                        fail_msg("case %zu: length %zu U+%04X, want %zu U+%04X", i, len, cp, cases[i].len, cases[i].cp);
                char out[4];
                if (len)
                        assert_int_equal(utf8_encode(cp, out), len);
        }
        char out[4];
        assert_int_equal(utf8_encode(0xd800, out), 0);
        assert_int_equal(utf8_encode(0x110000, out), 0);
        (void) state;
}

static void test_utf8_complete_prefix(void **state) {
        static const struct {
                const char *s;
                size_t n, want;
        } cases[] = {
                { "", 0, 0 },
                { "ab", 2, 2 },
                { "a\xf0", 2, 1 },
                { "a\xf0\x9f", 3, 1 },
                { "a\xf0\x9f\x98", 4, 1 },
                { "a\xf0\x9f\x98\x80", 5, 5 },
                { "\xe2\x82", 2, 0 },
                { "\xe2\x82\xac", 3, 3 },
                { "a\xff", 2, 2 },              /* invalid: emitted (as U+FFFD by the caller) */
                { "a\xf0\x41", 3, 3 },          /* broken: never completes */
                { "a\xe0\x80", 3, 3 },          /* E0 80 is overlong already */
                { "\x80\x80\x80", 3, 3 },
                { "\xc3\xa9\xc3", 3, 2 },
        };
        for (size_t i = 0; i < N_ELEMS(cases); i++) {
                size_t got = utf8_complete_prefix(cases[i].s, cases[i].n);
                if (got != cases[i].want)
                        fail_msg("case %zu: %zu, want %zu", i, got, cases[i].want);
        }
        size_t bad = 99;
        assert_true(utf8_validate("h\xc3\xa9llo", 6, &bad));
        assert_int_equal(bad, 99);
        assert_false(utf8_validate("h\xc3\xa9l\xc3lo", 6, &bad));
        assert_int_equal(bad, 4);
        (void) state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tokenizer_load_kind_from_file),
                cmocka_unit_test(test_tokenizer_load_malformed),
                cmocka_unit_test(test_tokenizer_load_merges_without_scores),
                cmocka_unit_test(test_tokenizer_encode_merges),
                cmocka_unit_test(test_tokenizer_encode_rule_decided_by_file),
                cmocka_unit_test(test_tokenizer_encode_whitespace_runs),
                cmocka_unit_test(test_tokenizer_encode_newlines),
                cmocka_unit_test(test_tokenizer_encode_byte_fallback),
                cmocka_unit_test(test_tokenizer_encode_parse_special),
                cmocka_unit_test(test_tokenizer_encode_invalid_utf8),
                cmocka_unit_test(test_tokenizer_encode_empty),
                cmocka_unit_test(test_tokenizer_encode_unknown),
                cmocka_unit_test(test_tokenizer_encode_long_input),
                cmocka_unit_test(test_tokenizer_find_piece),
                cmocka_unit_test(test_tokenizer_is_end_of_generation),
                cmocka_unit_test(test_tokenizer_piece_bytes),
                cmocka_unit_test(test_tokenstream_emoji_split_over_tokens),
                cmocka_unit_test(test_tokenstream_invalid_bytes),
                cmocka_unit_test(test_tokenstream_control_pieces),
                cmocka_unit_test(test_tokenizer_round_trip),
                cmocka_unit_test(test_utf8_decode),
                cmocka_unit_test(test_utf8_complete_prefix),
        };
        return cmocka_run_group_tests(tests, setup_both, teardown_both);
}
