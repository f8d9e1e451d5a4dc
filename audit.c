/*
 * audit.c - the audit log
 *
 * Every event is rendered once, copied to the daemon's log, queued, and
 * appended to the audit file with O_APPEND and fsync by audit_flush() (the
 * file is opened per flush, so a rotated file is followed without a
 * signal).  A line that cannot be written stays queued and is retried on
 * every flush; it is never dropped, and it is already in the daemon's log.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"

struct audit {
    char *path; /* NULL: log only */
    char **queue;
    int n, cap;
};

/* Start an audit log; path NULL or "" means events go to the log only. */
struct audit *audit_open(const char *path)
{
    struct audit *a = calloc(1, sizeof(*a));

    if (a && path && path[0])
        a->path = strdup(path);
    return a;
}

/* Try once more to write what is queued, then free everything. */
void audit_close(struct audit *a)
{
    if (a == NULL)
        return;
    audit_flush(a);
    for (int i = 0; i < a->n; i++) {
        log_error("audit event lost at exit, not written to \"%s\": %s", a->path, a->queue[i]);
        free(a->queue[i]);
    }
    free(a->queue);
    free(a->path);
    free(a);
}

/*
 * Point the log at another file (a reload); what is queued is kept and goes
 * to the new file.
 */
void audit_set_path(struct audit *a, const char *path)
{
    if (a == NULL)
        return;
    free(a->path);
    a->path = path && path[0] ? strdup(path) : NULL;
}

/*
 * Render one line: {"ts":…,"event":…, then the fields in their order}.
 * Takes a reference to fields (may be NULL).  Returns a malloc'd string.
 */
char *audit_render(const char *ts, const char *event, json_t *fields)
{
    json_t *o = json_object();
    char *line;

    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "event", json_string(event));
    if (fields)
        json_object_update(o, fields);
    line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    return line;
}

/* A JSON string of s with any invalid UTF-8 replaced, never NULL. */
static json_t *jstr(const char *s)
{
    char *copy = strdup(s);
    json_t *j;

    if (copy == NULL)
        return json_string("?");
    log_sanitize_utf8(copy);
    j = json_string(copy);
    free(copy);
    return j;
}

/* Add a string field to an audit event (invalid UTF-8 replaced). */
void audit_set_string(json_t *o, const char *key, const char *value)
{
    json_object_set_new(o, key, jstr(value));
}

/*
 * The fields every event about a walsender carries.  The confirmed position
 * is flush, or write when flush is 0; a client that never confirmed
 * anything (or LSNs hidden from the role) gives nulls rather than a lag
 * counted from 0/0.
 */
json_t *audit_walsender_fields(const struct walsender *w)
{
    uint64_t confirmed = ws_confirmed(w);
    const char *cause = cause_name(policy_cause(w));
    char sent[32], flush[32];
    json_t *o = json_object();
    int64_t lag;

    lsn_format(w->sent_lsn, sent, sizeof(sent));
    lsn_format(confirmed, flush, sizeof(flush));
    json_object_set_new(o, "pid", json_integer(w->pid));
    json_object_set_new(o, "slot", jstr(w->slot));
    json_object_set_new(o, "kind", json_string(ws_kind_name(w->kind)));
    json_object_set_new(o, "application_name", jstr(w->application_name));
    json_object_set_new(o, "client_addr", jstr(w->client_addr));
    json_object_set_new(o, "sent_lsn", w->lsn_known ? json_string(sent) : json_null());
    json_object_set_new(o, "flush_lsn",
                        w->lsn_known && confirmed ? json_string(flush) : json_null());
    json_object_set_new(o, "lag_bytes",
                        ws_lag_bytes(w, &lag) ? json_integer((json_int_t)lag) : json_null());
    json_object_set_new(o, "cause", cause ? json_string(cause) : json_null());
    return o;
}

/* Write all of buf to fd; false with errno set. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/*
 * Append lines to the file, then fsync once: a tick that ended fifty
 * walsenders pays for one fsync, not fifty.  All or nothing: on any failure
 * the caller keeps every line (a retry may repeat one; none is lost).
 */
static bool write_lines(const char *path, char *const *lines, int n)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    bool ok = fd >= 0;

    for (int i = 0; ok && i < n; i++)
        ok = write_all(fd, lines[i], strlen(lines[i])) && write_all(fd, "\n", 1);
    if (ok)
        ok = fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    return ok;
}

/* Keep a line for the next flush; only memory exhaustion can lose it. */
static void enqueue(struct audit *a, char *line)
{
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 8;
        char **q = realloc(a->queue, (size_t)cap * sizeof(*q));

        if (q == NULL) {
            log_error("audit event lost (out of memory): %s", line);
            free(line);
            return;
        }
        a->queue = q;
        a->cap = cap;
    }
    a->queue[a->n++] = line;
}

/*
 * Write what is queued, oldest first, with one fsync.  Called once per turn
 * of the daemon's loop, after the actions, so writing never delays one.
 */
void audit_flush(struct audit *a)
{
    if (a == NULL || a->path == NULL || a->n == 0)
        return;
    if (!write_lines(a->path, a->queue, a->n)) {
        log_error("could not write audit log \"%s\": %m; %d event(s) queued, retrying", a->path,
                  a->n);
        return;
    }
    for (int i = 0; i < a->n; i++)
        free(a->queue[i]);
    a->n = 0;
}

/* How many events wait to be written. */
int audit_pending(const struct audit *a)
{
    return a ? a->n : 0;
}

/*
 * Record one event.  Consumes fields (may be NULL).  The line goes to the
 * log at once and is queued for the file; audit_flush() writes it.
 */
void audit_emit(struct audit *a, const char *event, json_t *fields)
{
    char ts[40];
    char *line;

    log_timestamp(ts, sizeof(ts));
    line = audit_render(ts, event, fields);
    json_decref(fields);
    if (line == NULL) {
        log_error("could not render audit event \"%s\"", event);
        return;
    }
    log_info("audit: %s", line);
    if (a == NULL || a->path == NULL) {
        free(line);
        return;
    }
    enqueue(a, line);
}
