/*
 * audit.c - the audit log
 *
 * Every event is rendered once, copied to the daemon's log, queued, and
 * appended to the audit file with O_APPEND and fsync by audit_flush() (the
 * file is opened per flush, so a rotated file is followed without a
 * signal).  A line that cannot be written stays queued and is retried on
 * every flush; it is never dropped, and it is already in the daemon's log.
 * Every line in the file is whole: a write that fails half-way is cut off
 * again (ftruncate to the size before it), and a torn last line left by a
 * crash is removed before the next append.  What is still queued at exit
 * goes to FILE.pending, space reserved beforehand (so a full disk does not
 * refuse it), and is queued first at the next start.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"

#define SPILL_BYTES 65536 /* room reserved in FILE.pending for what exit cannot write */

struct audit {
    char *path; /* NULL: log only */
    char **queue;
    int n, cap;
    bool reserved;   /* FILE.pending exists with SPILL_BYTES allocated */
    char *spill_src; /* FILE.pending whose lines are queued: emptied once they are written */
};

static void enqueue(struct audit *a, char *line);

/* FILE.pending of path into buf; false when it does not fit. */
static bool spill_path(const char *path, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "%s.pending", path) < len;
}

/*
 * Make sure FILE.pending exists with SPILL_BYTES allocated, so that exit
 * can write there on a full disk.  Its content is JSON lines up to the
 * first NUL byte.  Best effort: false (quietly) when it cannot be made yet.
 */
static bool reserve_spill(struct audit *a)
{
    char sp[PATH_MAX];
    int fd;

    if (a->reserved || !spill_path(a->path, sp, sizeof(sp)))
        return a->reserved;
    fd = open(sp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return false;
    a->reserved = posix_fallocate(fd, 0, SPILL_BYTES) == 0;
    close(fd);
    return a->reserved;
}

/*
 * Queue the whole lines of FILE.pending (left by an exit that could not
 * write them), ahead of anything else, and remember to empty it once they
 * reach the file.
 */
static void load_spill(struct audit *a)
{
    char sp[PATH_MAX], *buf, *p, *nl;
    ssize_t n;
    int fd;

    if (!spill_path(a->path, sp, sizeof(sp)) ||
        (fd = open(sp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
        return;
    buf = malloc(SPILL_BYTES + 1);
    n = buf ? read(fd, buf, SPILL_BYTES) : -1;
    close(fd);
    if (n <= 0 || buf[0] == '\0') {
        free(buf);
        return;
    }
    buf[n] = '\0';
    for (p = buf; *p && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        char *line = strndup(p, (size_t)(nl - p));

        if (line)
            enqueue(a, line);
    }
    log_warn("audit: %d event(s) left in \"%s\" at the last exit queued for \"%s\"", a->n, sp,
             a->path);
    free(buf);
    a->spill_src = strdup(sp);
}

/* Empty the FILE.pending whose lines have now been written (its space stays reserved). */
static void clear_spill(struct audit *a)
{
    int fd;

    if (a->spill_src == NULL)
        return;
    fd = open(a->spill_src, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || pwrite(fd, "", 1, 0) != 1 || fsync(fd) != 0)
        log_warn("audit: could not empty \"%s\": %m; its events may be written again",
                 a->spill_src);
    if (fd >= 0)
        close(fd);
    free(a->spill_src);
    a->spill_src = NULL;
}

/*
 * Write the queue, whole lines only, into the reserved FILE.pending,
 * NUL-terminated.  Returns how many lines it holds (the oldest first).
 */
static int spill_queue(struct audit *a)
{
    char sp[PATH_MAX];
    off_t off = 0;
    int fd, i = 0;

    if (!a->reserved || !spill_path(a->path, sp, sizeof(sp)) ||
        (fd = open(sp, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return 0;
    for (; i < a->n; i++) {
        size_t len = strlen(a->queue[i]);

        if (off + (off_t)len + 2 > SPILL_BYTES ||
            pwrite(fd, a->queue[i], len, off) != (ssize_t)len ||
            pwrite(fd, "\n", 1, off + (off_t)len) != 1)
            break;
        off += (off_t)len + 1;
    }
    if (pwrite(fd, "", 1, off) != 1 || fsync(fd) != 0)
        i = 0;
    close(fd);
    return i;
}

/* Start an audit log; path NULL or "" means events go to the log only. */
struct audit *audit_open(const char *path)
{
    struct audit *a = calloc(1, sizeof(*a));

    if (a && path && path[0]) {
        a->path = strdup(path);
        if (a->path) {
            load_spill(a);
            reserve_spill(a);
        }
    }
    return a;
}

/*
 * Try once more to write what is queued; keep what still cannot be
 * written in FILE.pending for the next start; then free everything.
 */
void audit_close(struct audit *a)
{
    int kept;

    if (a == NULL)
        return;
    audit_flush(a);
    kept = a->n && a->path ? spill_queue(a) : 0;
    for (int i = 0; i < a->n; i++) {
        if (i < kept)
            log_warn("audit event not written to \"%s\" at exit, kept in \"%s.pending\" for the "
                     "next start: %s",
                     a->path, a->path, a->queue[i]);
        else
            log_error("audit event lost at exit, not written to \"%s\": %s", a->path, a->queue[i]);
        free(a->queue[i]);
    }
    free(a->queue);
    free(a->path);
    free(a->spill_src);
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
    a->reserved = false;
    if (a->path)
        reserve_spill(a);
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
static json_t *audit_str(const char *s)
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
    json_object_set_new(o, key, audit_str(value));
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
    json_object_set_new(o, "slot", audit_str(w->slot));
    json_object_set_new(o, "kind", json_string(ws_kind_name(w->kind)));
    json_object_set_new(o, "application_name", audit_str(w->application_name));
    json_object_set_new(o, "client_addr", audit_str(w->client_addr));
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
 * Remove a torn last line (no '\n' at the end: a crash in the middle of a
 * write) so that the next line starts a line of its own.  *size is the
 * file's size, updated.  False with errno when it cannot be read or cut.
 */
static bool trim_torn_tail(const char *path, int fd, off_t *size)
{
    char buf[4096];
    off_t end = *size;
    bool found = false;

    if (end == 0)
        return true; /* an empty file has no torn line */
    while (end > 0 && !found) {
        size_t want = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
        size_t i = want;

        if (pread(fd, buf, want, end - (off_t)want) != (ssize_t)want)
            return false;
        if (end == *size && buf[want - 1] == '\n')
            return true;
        while (i > 0 && buf[i - 1] != '\n')
            i--;
        found = i > 0;
        end -= (off_t)(want - i);
    }
    if (ftruncate(fd, end) != 0)
        return false;
    log_warn("audit log \"%s\": removed a torn last line (%lld bytes)", path,
             (long long)(*size - end));
    *size = end;
    return true;
}

/*
 * Append lines to the file, then fsync once: a tick that ended fifty
 * walsenders pays for one fsync, not fifty.  All or nothing: on any failure
 * (a short write on a full disk, a failed fsync) the file is cut back to
 * its size before, so no line is torn, and the caller keeps every line.
 */
static bool write_lines(const char *path, char *const *lines, int n)
{
    /* read too, to find a torn tail; O_NONBLOCK: a FIFO must not block the loop */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0640);
    struct stat st;
    bool ok = fd >= 0 && fstat(fd, &st) == 0;
    bool regular = ok && S_ISREG(st.st_mode); /* only a file can be cut back */
    off_t before = regular ? st.st_size : 0;

    if (regular)
        ok = trim_torn_tail(path, fd, &before);
    for (int i = 0; ok && i < n; i++)
        ok = write_all(fd, lines[i], strlen(lines[i])) && write_all(fd, "\n", 1);
    if (ok)
        ok = fsync(fd) == 0 || !regular;
    if (!ok && regular) {
        int saved = errno;

        if (ftruncate(fd, before) != 0)
            log_error("audit log \"%s\": could not cut a failed write back to %lld bytes: %m", path,
                      (long long)before);
        errno = saved;
    }
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
    clear_spill(a);
    reserve_spill(a);
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
