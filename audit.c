/*
 * audit.c - the audit log
 *
 * Every event is rendered once, copied to the daemon's log, and appended to
 * the audit file with O_APPEND and fsync (the file is opened per event, so a
 * rotated file is followed without a signal).  A line that cannot be
 * written stays queued and is retried on every audit_flush(); it is never
 * dropped, and it is already in the daemon's log.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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

/*
 * The fields every event about a walsender carries.  The confirmed position
 * is flush, or write when flush is 0; a client that never confirmed
 * anything (or LSNs hidden from the role) gives nulls rather than a lag
 * counted from 0/0.
 */
json_t *audit_walsender_fields(const struct walsender *w)
{
    uint64_t confirmed = w->flush_lsn ? w->flush_lsn : w->write_lsn;
    char sent[32], flush[32];
    json_t *o = json_object();

    lsn_format(w->sent_lsn, sent, sizeof(sent));
    lsn_format(confirmed, flush, sizeof(flush));
    json_object_set_new(o, "pid", json_integer(w->pid));
    json_object_set_new(o, "slot", json_string(w->slot));
    json_object_set_new(o, "kind", json_string(w->kind == WS_LOGICAL ? "logical" : "physical"));
    json_object_set_new(o, "application_name", json_string(w->application_name));
    json_object_set_new(o, "client_addr", json_string(w->client_addr));
    json_object_set_new(o, "sent_lsn", w->lsn_known ? json_string(sent) : json_null());
    json_object_set_new(o, "flush_lsn", w->lsn_known && confirmed ? json_string(flush) : json_null());
    json_object_set_new(o, "lag_bytes",
                        w->lsn_known && confirmed
                            ? json_integer((json_int_t)lsn_diff(w->sent_lsn, confirmed))
                            : json_null());
    return o;
}

/* Append one line to the file and fsync it; false with errno set. */
static bool write_line(const char *path, const char *line)
{
    size_t len = strlen(line), done = 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    bool ok;

    if (fd < 0)
        return false;
    while (done < len + 1) {
        const char *p = done < len ? line + done : "\n";
        size_t want = done < len ? len - done : 1;
        ssize_t n = write(fd, p, want);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    ok = done == len + 1 && fsync(fd) == 0;
    if (close(fd) != 0)
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
 * Write what is queued, oldest first, stopping at the first failure so the
 * order of the file is kept.
 */
void audit_flush(struct audit *a)
{
    int done = 0;

    if (a == NULL || a->path == NULL)
        return;
    while (done < a->n && write_line(a->path, a->queue[done]))
        free(a->queue[done++]);
    if (done < a->n)
        log_error("could not write audit log \"%s\": %m; %d event(s) queued, retrying",
                  a->path, a->n - done);
    memmove(a->queue, a->queue + done, (size_t)(a->n - done) * sizeof(*a->queue));
    a->n -= done;
}

/* How many events wait to be written. */
int audit_pending(const struct audit *a)
{
    return a ? a->n : 0;
}

/*
 * Record one event.  Consumes fields (may be NULL).  The line goes to the
 * log at once and to the file after anything still queued.
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
    audit_flush(a);
}
