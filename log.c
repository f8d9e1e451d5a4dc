/*
 * log.c - the daemon's own log
 *
 * One line per message on stderr: "TIMESTAMP LEVEL: message" or, with
 * --log-format json, {"ts":…,"level":…,"msg":…}.  Messages follow the
 * PostgreSQL style: lower case, no trailing period, names in quotes.
 */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set the format and the lowest level written. */
void log_setup(enum log_format format, enum log_level level)
{
    log_fmt = format;
    log_min = level;
}

/* Parse "debug|info|warn|error"; false when s is none of them. */
bool log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    return false;
}

/* Parse "text|json"; false when s is neither. */
bool log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

/* The name of a level, as the options spell it. */
const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

/* Write the current UTC time as RFC 3339 with milliseconds into buf. */
void log_timestamp(char *buf, int len)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(buf, (size_t)len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

/* Length of the valid UTF-8 sequence at s, 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
    int n = s[0] < 0x80             ? 1
            : (s[0] & 0xE0) == 0xC0 ? 2
            : (s[0] & 0xF0) == 0xE0 ? 3
            : (s[0] & 0xF8) == 0xF0 ? 4
                                    : 0;

    if (n == 2 && s[0] < 0xC2)
        return 0; /* overlong */
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)))
        return 0; /* overlong, or a UTF-16 surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || s[0] > 0xF4 || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

/*
 * Replace, in place, every byte that is not part of valid UTF-8 by '?':
 * names from a SQL_ASCII server or a message cut mid-character must still
 * make valid JSON.
 */
void log_sanitize_utf8(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        int n = utf8_len(p);

        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

/*
 * Format and write one message.  errno is preserved so that callers can use
 * %m; a message that does not fit in 4 KiB is cut, never dropped.
 */
void log_msg(enum log_level level, const char *fmt, ...)
{
    int saved_errno = errno;
    char msg[4096];
    char ts[40];
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    errno = saved_errno;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_timestamp(ts, sizeof(ts));
    if (log_fmt == LOG_FORMAT_JSON) {
        log_sanitize_utf8(msg);
        json_t *o = json_pack("{s:s,s:s,s:s}", "ts", ts, "level", level_names[level], "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        fprintf(stderr, "%s\n", line ? line : msg);
        free(line);
        json_decref(o);
    } else
        fprintf(stderr, "%s %s: %s\n", ts, level_names[level], msg);
    fflush(stderr);
    errno = saved_errno;
}
