/* UTF-8 validation, decoding and the streaming complete-prefix rule (RFC 3629; table in utf8.h). */
#include "utf8.h"

/* The range the second byte of a sequence must lie in, given its lead byte; the third and fourth
 * bytes are always 80..BF. Returns the sequence length, or 0 for a byte that cannot lead one. */
static size_t lead_info(uint8_t c, uint8_t *lo, uint8_t *hi) {
        *lo = 0x80;
        *hi = 0xbf;
        if (c < 0x80)
                return 1;
        if (c < 0xc2)
                return 0;       /* continuation byte, or C0/C1 (overlong two-byte forms) */
        if (c < 0xe0)
                return 2;
        if (c < 0xf0) {
                if (c == 0xe0)
                        *lo = 0xa0;     /* no overlong three-byte forms */
                else if (c == 0xed)
                        *hi = 0x9f;     /* no surrogates */
                return 3;
        }
        if (c < 0xf5) {
                if (c == 0xf0)
                        *lo = 0x90;     /* no overlong four-byte forms */
                else if (c == 0xf4)
                        *hi = 0x8f;     /* nothing above U+10FFFF */
                return 4;
        }
        return 0;
}

/* How many of the n bytes at s (n >= 1) agree with a valid sequence, and its length (0: the lead
 * byte is invalid). */
static size_t scan(const uint8_t *s, size_t n, size_t *ret_len) {
        uint8_t lo, hi;
        size_t len = lead_info(s[0], &lo, &hi), ok;

        *ret_len = len;
        if (len == 0)
                return 0;
        for (ok = 1; ok < len && ok < n; ok++) {
                if (s[ok] < lo || s[ok] > hi)
                        break;
                lo = 0x80;
                hi = 0xbf;
        }
        return ok;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *ret_cp) {
        const uint8_t *u = (const uint8_t *) s;
        size_t len;

        if (n == 0 || scan(u, n, &len) != len || len == 0)
                return 0;
        if (ret_cp) {
                uint32_t cp = len == 1 ? u[0] : len == 2 ? u[0] & 0x1fu : len == 3 ? u[0] & 0x0fu : u[0] & 0x07u;
                for (size_t i = 1; i < len; i++)
                        cp = cp << 6 | (u[i] & 0x3fu);
                *ret_cp = cp;
        }
        return len;
}

bool utf8_is_truncated(const char *s, size_t n) {
        size_t len;
        if (n == 0)
                return false;
        return scan((const uint8_t *) s, n, &len) == n && n < len;
}

bool utf8_validate(const char *s, size_t n, size_t *ret_bad_offset) {
        size_t i = 0;
        while (i < n) {
                /* ASCII runs are the common case. */
                if ((uint8_t) s[i] < 0x80) {
                        i++;
                        continue;
                }
                size_t len = utf8_decode(s + i, n - i, NULL);
                if (len == 0) {
                        if (ret_bad_offset)
                                *ret_bad_offset = i;
                        return false;
                }
                i += len;
        }
        return true;
}

size_t utf8_complete_prefix(const char *s, size_t n) {
        /* Only the last sequence can be cut off, and a sequence is at most 4 bytes: look for its
         * lead byte among the last 3 bytes. */
        for (size_t back = 1; back <= 3 && back <= n; back++) {
                uint8_t c = (uint8_t) s[n - back];
                if (c >= 0x80 && c < 0xc0)
                        continue;       /* continuation byte: the lead is further back */
                return utf8_is_truncated(s + n - back, back) ? n - back : n;
        }
        return n;
}

size_t utf8_encode(uint32_t cp, char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | cp >> 6);
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp >= 0xd800 && cp < 0xe000)
                return 0;
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | cp >> 12);
                out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        if (cp < 0x110000) {
                out[0] = (char) (0xf0 | cp >> 18);
                out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
                out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
                out[3] = (char) (0x80 | (cp & 0x3f));
                return 4;
        }
        return 0;
}
