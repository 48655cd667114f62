/* gemmad's log lines (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

void log_msg(int level, const char *fmt, ...) {
        static int journal = -1;
        va_list ap;

        if (level > max_level)
                return;
        if (journal < 0)
                journal = getenv("JOURNAL_STREAM") != NULL;
        if (journal)
                fprintf(stderr, "<%d>", level);
        else
                fputs("gemmad: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}
