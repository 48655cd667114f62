/* Logging for gemmad: one line per message on stderr, with a syslog priority prefix ("<3>")
 * when stderr is connected to the journal (JOURNAL_STREAM), so that journalctl shows levels. */
#pragma once

#include <syslog.h>

#include "base/macro.h"

void log_set_max_level(int level);
void log_msg(int level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
