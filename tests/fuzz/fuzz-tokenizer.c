/* libFuzzer target for the tokenizer: any bytes are either rejected as invalid UTF-8 or encoded
 * into valid ids that decode back to exactly the input (first byte: bit 0 = parse_special). The
 * vocabulary, built once, has special, byte-fallback, user-defined and merged pieces, with
 * merges, so both the added-piece splitter and BPE see every path. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf-writer.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SP "\xe2\x96\x81"

static Tokenizer *load_vocabulary(void) {
        static const char *const pieces[] = {
                "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "\n", "\n\n", SP SP,
                SP, "a", "b", "c", "ab", "bc", "abc", SP "a", SP "ab", "\xc3\xa9", "\xf0\x9f\x98\x80",
        };
        static const char *const merges[] = { "a b", "b c", "ab c", SP " a", SP "a b", SP " " SP };
        const size_t n_special = 6, n_pieces = sizeof(pieces) / sizeof(pieces[0]), n = n_pieces + 256;
        const char *tokens[300];
        char bytes[256][8];
        float scores[300] = { 0 };
        int32_t types[300];
        GemmaError err = { 0 };
        GgufWriter *w = gguf_writer_new();
        GgufFile *f = NULL;
        Tokenizer *tok = NULL;
        char path[] = "/tmp/fuzz-tokenizer-XXXXXX";

        for (size_t i = 0; i < n_pieces; i++) {
                tokens[i] = pieces[i];
                types[i] = i < n_special ? (i == 3 ? 2 : 3) : (i < 9 ? 4 : 1);
                scores[i] = -(float) i;
        }
        for (size_t b = 0; b < 256; b++) {
                snprintf(bytes[b], sizeof(bytes[b]), "<0x%02zX>", b);
                tokens[n_pieces + b] = bytes[b];
                types[n_pieces + b] = 6;
        }
        int fd = mkstemp(path);
        if (fd < 0 || !w)
                abort();
        close(fd);
        if (gguf_writer_add_string(w, "tokenizer.ggml.model", "llama") < 0 ||
            gguf_writer_add_string_array(w, "tokenizer.ggml.tokens", tokens, n) < 0 ||
            gguf_writer_add_array(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, n) < 0 ||
            gguf_writer_add_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n) < 0 ||
            gguf_writer_add_string_array(w, "tokenizer.ggml.merges", merges, sizeof(merges) / sizeof(merges[0])) < 0 ||
            gguf_writer_write(w, path, &err) < 0 || gguf_open(path, &f, &err) < 0 || tokenizer_load(f, &tok, &err) < 0) {
                fprintf(stderr, "fuzz-tokenizer: cannot build the vocabulary: %s\n", err.message);
                abort();
        }
        unlink(path);
        gguf_close(f);
        gguf_writer_free(w);
        return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Tokenizer *tok;
        int32_t *ids = NULL;
        size_t n_ids;

        if (!tok)
                tok = load_vocabulary();
        if (size == 0)
                return 0;
        const bool parse_special = data[0] & 1;
        const char *text = (const char *) data + 1;
        const size_t len = size - 1;
        if (tokenizer_encode(tok, text, len, parse_special, &ids, &n_ids, NULL) < 0)
                return 0;

        /* Decoding gives the input back, except that a literal U+2581 decodes as a space. */
        char *out = malloc(len + 64);
        size_t n_out = 0;
        bool overflow = false;
        for (size_t i = 0; i < n_ids; i++) {
                if (ids[i] < 0 || (uint32_t) ids[i] >= tokenizer_n_vocab(tok))
                        abort();
                char piece[64];
                int r = tokenizer_piece_bytes(tok, ids[i], piece, sizeof(piece));
                if (r < 0)
                        abort();
                if (n_out + (size_t) r > len + 63) {
                        overflow = true;
                        break;
                }
                memcpy(out + n_out, piece, (size_t) r);
                n_out += (size_t) r;
        }
        if (!memmem(text, len, SP, 3) && (overflow || n_out != len || memcmp(out, text, len) != 0))
                abort();
        free(out);
        free(ids);
        return 0;
}
