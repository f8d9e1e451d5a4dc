/*
 * log.h - the daemon's own log, on stderr, as text or JSON lines
 */
#ifndef DG_LOG_H
#define DG_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set the format and the lowest level written. */
void log_setup(enum log_format format, enum log_level level);
/* Parse "debug|info|warn|error" into *out; false when s is none of them. */
bool log_level_parse(const char *s, enum log_level *out);
/* Parse "text|json" into *out; false when s is neither. */
bool log_format_parse(const char *s, enum log_format *out);
/* The name of a level, as the options spell it. */
const char *log_level_name(enum log_level level);
/* Format and write one message at level (errno kept for %m; cut at 4 KiB, never dropped). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The current UTC time as RFC 3339 with milliseconds, into buf. */
void log_timestamp(char *buf, int len);
/* Replace, in place, every byte that is not part of valid UTF-8 by '?'. */
void log_sanitize_utf8(char *s);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
