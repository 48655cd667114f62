/* UTF-8 as RFC 3629 defines it: validation, code point decoding, and the complete prefix of a
 * byte stream that a streaming decoder may show now. Pure functions over caller-owned bytes.
 *
 * Valid sequences (the table in RFC 3629 §4):
 *   U+0000..U+007F     00..7F
 *   U+0080..U+07FF     C2..DF 80..BF
 *   U+0800..U+0FFF     E0     A0..BF 80..BF
 *   U+1000..U+CFFF     E1..EC 80..BF 80..BF
 *   U+D000..U+D7FF     ED     80..9F 80..BF          (no surrogates D800..DFFF)
 *   U+E000..U+FFFF     EE..EF 80..BF 80..BF
 *   U+10000..U+3FFFF   F0     90..BF 80..BF 80..BF
 *   U+40000..U+FFFFF   F1..F3 80..BF 80..BF 80..BF
 *   U+100000..U+10FFFF F4     80..8F 80..BF 80..BF
 * Everything else is invalid: C0, C1, F5..FF anywhere, overlong forms, surrogates, code points
 * above U+10FFFF, continuation bytes without a lead byte. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* U+FFFD REPLACEMENT CHARACTER, the text a decoder shows for bytes that are not UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"
#define UTF8_REPLACEMENT_LEN 3

/* Decodes the sequence at s (n bytes available). Returns its length (1..4) and sets *ret_cp when
 * it is valid and complete; returns 0 (leaving *ret_cp alone) when it is invalid or cut off by n.
 * ret_cp may be NULL. */
size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp);

/* True when the n bytes at s (n >= 1) are a proper prefix of some valid sequence, i.e. more
 * bytes could still complete them ("\xf0\x9f" is, "\xf0\x41" and "\xc0" are not). */
bool utf8_is_truncated(const char *s, size_t n);

/* True when all n bytes are valid UTF-8. On false, *ret_bad_offset (may be NULL) gets the offset
 * of the first byte that does not start a valid complete sequence. */
bool utf8_validate(const char *s, size_t n, size_t *ret_bad_offset);

/* For streaming: the length of the prefix of s that may be shown now. That is everything except
 * a trailing utf8_is_truncated() sequence, which more bytes could complete. Invalid bytes in the
 * prefix never become valid, so they are part of it; the caller replaces them. */
size_t utf8_complete_prefix(const char *s, size_t n);

/* Writes the UTF-8 encoding of cp (at most 4 bytes) to out and returns its length; 0 for a
 * surrogate or a value above U+10FFFF. */
size_t utf8_encode(uint32_t cp, char out[static 4]);
