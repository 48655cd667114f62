/* Stop-string matcher (see stop.h): owns copies of the stop strings and one growing buffer that
 * holds the bytes handed out by the last call, followed by the held-back tail. */
#include "stop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct StopMatcher {
        char **stops;
        size_t *stop_lens;
        size_t n_stops;
        size_t max_len;    /* longest stop string */

        char *buf;         /* [emitted bytes of the last call][held bytes] */
        size_t buf_len;
        size_t buf_cap;
        size_t emitted;    /* leading bytes already handed out; dropped on the next call */
        bool stopped;
};

int stop_matcher_new(const char *const *stops, size_t n_stops, StopMatcher **ret, GemmaError *err) {
        _cleanup_(stop_matcher_freep) StopMatcher *m = NULL;

        if (n_stops > STOP_MATCHER_STRINGS_MAX)
                return gemma_error_set(err, -EINVAL, "too many stop strings: %zu (at most %d)", n_stops,
                                       STOP_MATCHER_STRINGS_MAX);
        if (n_stops > 0 && !stops)
                return gemma_error_set(err, -EINVAL, "stop string list missing");
        for (size_t i = 0; i < n_stops; i++) {
                if (!stops[i])
                        return gemma_error_set(err, -EINVAL, "stop string %zu is missing", i);
                size_t len = strnlen(stops[i], STOP_MATCHER_STRING_BYTES_MAX + 1);
                if (len == 0)
                        return gemma_error_set(err, -EINVAL, "stop string %zu is empty", i);
                if (len > STOP_MATCHER_STRING_BYTES_MAX)
                        return gemma_error_set(err, -EINVAL, "stop string %zu is longer than %d bytes", i,
                                               STOP_MATCHER_STRING_BYTES_MAX);
        }

        m = new0(StopMatcher, 1);
        if (!m)
                return gemma_error_set(err, -ENOMEM, "out of memory allocating the stop matcher");
        m->stops = new0(char *, n_stops);
        m->stop_lens = new0(size_t, n_stops);
        if (!m->stops || !m->stop_lens)
                return gemma_error_set(err, -ENOMEM, "out of memory allocating the stop matcher");
        for (size_t i = 0; i < n_stops; i++) {
                m->stops[i] = strdup(stops[i]);
                if (!m->stops[i]) {
                        m->n_stops = i;  /* so that free releases the copies made so far */
                        return gemma_error_set(err, -ENOMEM, "out of memory copying stop strings");
                }
                m->stop_lens[i] = strlen(stops[i]);
                m->max_len = MAX(m->max_len, m->stop_lens[i]);
        }
        m->n_stops = n_stops;

        m->buf_cap = m->max_len + 256;
        m->buf = malloc(m->buf_cap);
        if (!m->buf)
                return gemma_error_set(err, -ENOMEM, "out of memory allocating the stop matcher");

        *ret = TAKE_PTR(m);
        return 0;
}

StopMatcher *stop_matcher_free(StopMatcher *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; m->stops && i < m->n_stops; i++)
                free(m->stops[i]);
        free(m->stops);
        free(m->stop_lens);
        free(m->buf);
        free(m);
        return NULL;
}

void stop_matcher_reset(StopMatcher *m) {
        m->buf_len = 0;
        m->emitted = 0;
        m->stopped = false;
}

size_t stop_matcher_n_held(const StopMatcher *m) {
        return m->buf_len - m->emitted;
}

/* Drops what the last call handed out, so the buffer starts with the held bytes. */
static void compact(StopMatcher *m) {
        if (m->emitted == 0)
                return;
        memmove(m->buf, m->buf + m->emitted, m->buf_len - m->emitted);
        m->buf_len -= m->emitted;
        m->emitted = 0;
}

/* Earliest-ending occurrence of any stop string in buf that ends after byte old_len (the held
 * bytes alone never contain one). Returns the stop index or -1; *ret_pos is where it starts. */
static int find_stop(const StopMatcher *m, size_t old_len, size_t *ret_pos) {
        int best = -1;
        size_t best_pos = 0;
        size_t best_end = 0;

        for (size_t i = 0; i < m->n_stops; i++) {
                size_t len = m->stop_lens[i];
                size_t from = old_len + 1 > len ? old_len + 1 - len : 0;
                if (len > m->buf_len - from)
                        continue;
                const char *hit = memmem(m->buf + from, m->buf_len - from, m->stops[i], len);
                if (!hit)
                        continue;
                size_t pos = (size_t) (hit - m->buf);
                size_t end = pos + len;
                if (best < 0 || end < best_end || (end == best_end && pos < best_pos)) {
                        best = (int) i;
                        best_pos = pos;
                        best_end = end;
                }
        }
        *ret_pos = best_pos;
        return best;
}

/* Length of the longest tail of buf that is a proper prefix of some stop string. */
static size_t held_tail(const StopMatcher *m) {
        size_t hold = 0;

        for (size_t i = 0; i < m->n_stops; i++) {
                size_t k = MIN(m->stop_lens[i] - 1, m->buf_len);
                for (; k > hold; k--)
                        if (memcmp(m->buf + m->buf_len - k, m->stops[i], k) == 0) {
                                hold = k;
                                break;
                        }
        }
        return hold;
}

int stop_matcher_feed(StopMatcher *m, const char *text, size_t len, StopMatch *ret) {
        size_t need;
        size_t pos;

        if (m->stopped)
                return -ESTALE;
        compact(m);
        if (size_add_overflow(m->buf_len, len, &need))
                return -ENOMEM;
        if (need > m->buf_cap) {
                size_t cap = MAX(need, m->buf_cap * 2);
                char *b = realloc(m->buf, cap);
                if (!b)
                        return -ENOMEM;
                m->buf = b;
                m->buf_cap = cap;
        }
        size_t old_len = m->buf_len;
        if (len > 0)
                memcpy(m->buf + old_len, text, len);
        m->buf_len = need;

        int stop = find_stop(m, old_len, &pos);
        if (stop >= 0) {
                m->buf_len = pos;  /* the stop string and everything after it are dropped */
                m->emitted = pos;
                m->stopped = true;
                *ret = (StopMatch) { .text = m->buf, .n_bytes = pos, .stop_index = stop };
                return 1;
        }

        m->emitted = m->buf_len - held_tail(m);
        *ret = (StopMatch) { .text = m->buf, .n_bytes = m->emitted, .stop_index = -1 };
        return 0;
}

int stop_matcher_flush(StopMatcher *m, StopMatch *ret) {
        if (m->stopped)
                return -ESTALE;
        compact(m);
        m->emitted = m->buf_len;
        *ret = (StopMatch) { .text = m->buf, .n_bytes = m->buf_len, .stop_index = -1 };
        return 0;
}
