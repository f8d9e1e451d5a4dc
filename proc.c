/*
 * proc.c - PostgreSQL's processes under /proc, and the one signal sent to them
 *
 * Reads /proc/PID/stat and cmdline, lists the postmaster's children, proves
 * that a PID still names the same walsender child of this data directory's
 * postmaster (pidfile.c proves the postmaster), and sends it SIGTERM
 * through a pidfd so that a PID recycled between the check and the signal
 * cannot be hit.  SIGTERM is the only signal this program sends.
 */
#include "proc.h"
#include "pidfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Parse /proc/PID/stat.  The command name sits in parentheses and may hold
 * spaces and parentheses itself, so fields are counted from the last ')'.
 */
bool proc_parse_stat(const char *text, struct proc_stat *st)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    const char *p;
    long long v;
    char *end;

    memset(st, 0, sizeof(*st));
    if (open == NULL || close == NULL || close < open)
        return false;
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text || v <= 0 || v > INT_MAX)
        return false;
    st->pid = (int)v;
    snprintf(st->comm, sizeof(st->comm), "%.*s", (int)(close - open - 1), open + 1);
    p = close + 1;
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return false;
        if (field == 3)
            st->state = *p;
        else if (field == 4 || field == 22) {
            errno = 0;
            unsigned long long u = strtoull(p, &end, 10);
            if (errno || end == p)
                return false;
            if (field == 4)
                st->ppid = (int)u;
            else
                st->start_ticks = u;
        }
        p = strchr(p, ' ');
        if (p == NULL && field < 22)
            return false;
        if (p == NULL)
            break;
    }
    return st->start_ticks > 0;
}

/*
 * Read at most len - 1 bytes of ROOT/PID/NAME into buf, NUL-terminated.
 * False when the file is gone or empty.
 */
static bool read_proc_file(const char *proc_root, int pid, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%d/%s", proc_root, pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return true;
}

/* Read and parse ROOT/PID/stat; false when gone or unparsable. */
bool proc_read_stat(const char *proc_root, int pid, struct proc_stat *st)
{
    char text[1024];

    return read_proc_file(proc_root, pid, "stat", text, sizeof(text)) &&
           proc_parse_stat(text, st) && st->pid == pid;
}

/* Read the process title (first NUL-terminated string of cmdline). */
bool proc_read_title(const char *proc_root, int pid, char *buf, size_t len)
{
    return read_proc_file(proc_root, pid, "cmdline", buf, len);
}

/*
 * Skip "postgres: " and an optional "CLUSTER: " (cluster_name), then the
 * walsender's own prefix for this major; NULL when the title has none.
 */
static const char *walsender_rest(const char *title, int major)
{
    static const char *const prefixes[] = {"walsender ", "wal sender process "};
    const char *rest, *colon;

    if (strncmp(title, "postgres: ", 10) != 0)
        return NULL;
    rest = title + 10;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 2; i++) {
            size_t n = strlen(prefixes[i]);
            bool fits = major == 0 || (i == 0 ? major >= 11 : major == 10);

            if (fits && strncmp(rest, prefixes[i], n) == 0)
                return rest + n;
        }
        colon = strstr(rest, ": ");
        if (pass > 0 || colon == NULL)
            return NULL;
        rest = colon + 2;
    }
    return NULL;
}

/*
 * Classify a postmaster child's title.  "streaming X/Y" is a physical
 * walsender on every major; a title ending in START_REPLICATION is a
 * walsender running that command (a normal backend's title ends in its SQL
 * state, never in a replication command), which titles show from 14 on;
 * anything else with a walsender's prefix proves only the prefix.
 */
enum proc_title proc_parse_title(const char *title, int major)
{
    static const char tail[] = " START_REPLICATION";
    size_t len = strlen(title), tl = sizeof(tail) - 1;
    const char *rest = walsender_rest(title, major);

    while (len > 0 && title[len - 1] == ' ')
        len--;
    if (rest == NULL || *rest == '\0' || *rest == ' ')
        return TITLE_OTHER;
    if (strstr(rest, " streaming ") != NULL)
        return TITLE_STREAMING;
    if ((major == 0 || major >= 14) && len >= tl && strncmp(title + len - tl, tail, tl) == 0)
        return TITLE_START_REPLICATION;
    return TITLE_WALSENDER;
}

/*
 * Does the process hold files of a database open (ROOT/PID/fd links into
 * PGDATA/base/, PGDATA resolved as the kernel shows it)?  A logical
 * walsender reads catalogs; a physical one never opens a database's files.
 * Only this data directory's base/ counts: "/base/" elsewhere in a path (a
 * data directory under /srv/base/) proves nothing.  False when unreadable.
 */
bool proc_opens_database_files(const char *proc_root, int pid, const char *pgdata)
{
    char path[PATH_MAX], link[PATH_MAX], real[PATH_MAX], base[PATH_MAX + 8];
    struct dirent *e;
    bool found = false;
    size_t bl;
    DIR *d;

    if (realpath(pgdata, real) == NULL ||
        (size_t)snprintf(base, sizeof(base), "%s/base/", real) >= sizeof(base))
        return false;
    bl = strlen(base);
    snprintf(path, sizeof(path), "%s/%d/fd", proc_root, pid);
    d = opendir(path);
    if (d == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL) {
        char fdpath[PATH_MAX];
        ssize_t n;

        if (e->d_name[0] == '.')
            continue;
        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
        n = readlink(fdpath, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        found = strncmp(link, base, bl) == 0;
    }
    closedir(d);
    return found;
}

/* If pid is a child of pm_pid, store it and its title's kind in *out. */
static bool add_if_child(const char *proc_root, int pm_pid, int pid, int major,
                         struct proc_child *out)
{
    struct proc_stat st;

    if (!proc_read_stat(proc_root, pid, &st) || st.ppid != pm_pid)
        return false;
    if (!proc_read_title(proc_root, pid, out->title, sizeof(out->title)))
        out->title[0] = '\0'; /* exiting: no cmdline any more */
    out->kind = proc_parse_title(out->title, major);
    out->ident.pid = pid;
    out->ident.start_ticks = st.start_ticks;
    return true;
}

/*
 * The postmaster's children from ROOT/PM/task/PM/children (a single-threaded
 * postmaster's list); -1 when the kernel does not offer the file.
 */
static int children_from_file(const char *proc_root, int pm_pid, int major, struct proc_child *out,
                              int max)
{
    char path[PATH_MAX];
    FILE *f;
    long long pid;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%d/task/%d/children", proc_root, pm_pid, pm_pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (n < max && fscanf(f, "%lld", &pid) == 1)
        if (pid > 0 && pid <= INT_MAX && add_if_child(proc_root, pm_pid, (int)pid, major, &out[n]))
            n++;
    fclose(f);
    return n;
}

/* The PID a /proc entry is named after (digits only); 0 for any other entry. */
static int pid_of_name(const char *name)
{
    char *end;
    long long v;

    if (!isdigit((unsigned char)name[0]))
        return 0;
    errno = 0;
    v = strtoll(name, &end, 10);
    return errno == 0 && *end == '\0' && v <= INT_MAX ? (int)v : 0;
}

/*
 * List the postmaster's children: from its children file when there is one
 * (a few reads), else by scanning every process.
 */
int proc_list_children(const char *proc_root, int pm_pid, int major, struct proc_child *out,
                       int max)
{
    int n = children_from_file(proc_root, pm_pid, major, out, max);
    DIR *d;
    struct dirent *e;

    if (n >= 0)
        return n;
    d = opendir(proc_root);
    if (d == NULL)
        return -1;
    n = 0;
    while ((e = readdir(d)) != NULL && n < max) {
        int pid = pid_of_name(e->d_name);

        if (pid > 0 && add_if_child(proc_root, pm_pid, pid, major, &out[n]))
            n++;
    }
    closedir(d);
    return n;
}

/*
 * Prove that id is still that process (start time: no PID reuse), a child
 * of pm_pid, with a walsender's title under major's rules, and not a
 * physical one's when logical.  False with err.
 */
static bool verify_child(const char *proc_root, int pm_pid, const struct proc_ident *id, int major,
                         bool logical, char *err, size_t errlen)
{
    struct proc_stat st;
    char title[256];
    enum proc_title kind;

    if (!proc_read_stat(proc_root, id->pid, &st)) {
        snprintf(err, errlen, "process %d is gone", id->pid);
        return false;
    }
    if (st.ppid != pm_pid) {
        snprintf(err, errlen, "process %d has parent %d, not postmaster %d", id->pid, st.ppid,
                 pm_pid);
        return false;
    }
    if (id->start_ticks == 0 || st.start_ticks != id->start_ticks) {
        snprintf(err, errlen, "process %d started at tick %llu, not %llu: PID reused", id->pid,
                 st.start_ticks, id->start_ticks);
        return false;
    }
    if (!proc_read_title(proc_root, id->pid, title, sizeof(title)))
        title[0] = '\0';
    kind = proc_parse_title(title, major);
    if (kind == TITLE_OTHER) {
        snprintf(err, errlen, "process %d has no walsender's title (\"%.120s\")", id->pid, title);
        return false;
    }
    if (logical && kind == TITLE_STREAMING) {
        snprintf(err, errlen, "process %d is a physical walsender, not the logical one expected",
                 id->pid);
        return false;
    }
    return true;
}

/*
 * Prove that id still names a walsender child of the postmaster of pf:
 * the postmaster matches postmaster.pid, the process's parent is it, the
 * start time is unchanged (no PID reuse) and the title has a walsender's
 * prefix.  The proof is the identity SQL saw; the title only confirms it.
 */
bool proc_verify_walsender(const char *proc_root, const struct pidfile *pf,
                           const struct proc_ident *id, int major, bool logical, char *err,
                           size_t errlen)
{
    if (pidfile_check_postmaster(proc_root, pf) != PIDFILE_PROOF_MATCH) {
        snprintf(err, errlen, "postmaster %d of postmaster.pid is not running here", pf->pid);
        return false;
    }
    return verify_child(proc_root, pf->pid, id, major, logical, err, errlen);
}

/*
 * Open a pidfd for pid (-1 on kernels without pidfds, ENOSYS: kill() is
 * used then); false with err when the process cannot be opened.
 */
static bool open_pidfd(int pid, int *pidfd, char *err, size_t errlen)
{
    *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (*pidfd < 0 && errno != ENOSYS) {
        snprintf(err, errlen, "could not open process %d: %s", pid, strerror(errno));
        return false;
    }
    return true;
}

/*
 * SIGTERM through the pidfd opened before the proof (the process that was
 * proven, or nothing: ESRCH), or kill() without one; closes the pidfd.
 * proven: the proof held; false sends nothing.  False with err otherwise.
 */
static bool send_sigterm(int pidfd, int pid, bool proven, char *err, size_t errlen)
{
    int rc = 0;

    if (proven && pidfd >= 0)
        rc = (int)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
    else if (proven)
        rc = kill(pid, SIGTERM);
    if (rc != 0)
        snprintf(err, errlen, "could not send SIGTERM to process %d: %s", pid, strerror(errno));
    if (pidfd >= 0)
        close(pidfd);
    return proven && rc == 0;
}

/*
 * Send SIGTERM to a proven walsender.  A pidfd is opened first and the
 * identity checked after, so the signal reaches the process that was
 * checked or nothing (ESRCH).  Falls back to kill() on kernels without
 * pidfds.  Returns false with err when not proven or not signalled.
 */
bool proc_terminate(const char *proc_root, const struct pidfile *pf, const struct proc_ident *id,
                    int major, bool logical, char *err, size_t errlen)
{
    int pidfd;

    if (!open_pidfd(id->pid, &pidfd, err, errlen))
        return false;
    /* the postmaster's proof first, for a reason that says what failed */
    return send_sigterm(pidfd, id->pid,
                        pidfile_prove_postmaster(proc_root, pf, err, errlen) ==
                                PIDFILE_PROOF_MATCH &&
                            proc_verify_walsender(proc_root, pf, id, major, logical, err, errlen),
                        err, errlen);
}

/* Prove an orphaned walsender (see proc.h); the pidfd is open already. */
static bool verify_orphan(const char *proc_root, int pm_pid, long long pm_start,
                          const struct proc_ident *id, int major, char *err, size_t errlen)
{
    struct proc_stat st;
    char title[256];
    enum proc_title kind;

    if (pm_pid <= 0 || pm_start <= 0 || pidfile_postmaster_alive(proc_root, pm_pid, pm_start)) {
        snprintf(err, errlen, "postmaster %d is not known to be gone", pm_pid);
        return false;
    }
    if (!proc_read_stat(proc_root, id->pid, &st)) {
        snprintf(err, errlen, "process %d is gone", id->pid);
        return false;
    }
    if (id->start_ticks == 0 || st.start_ticks != id->start_ticks) {
        snprintf(err, errlen, "process %d started at tick %llu, not %llu: PID reused", id->pid,
                 st.start_ticks, id->start_ticks);
        return false;
    }
    if (st.ppid == pm_pid) {
        snprintf(err, errlen, "process %d is still a child of %d", id->pid, pm_pid);
        return false;
    }
    if (!proc_read_title(proc_root, id->pid, title, sizeof(title)))
        title[0] = '\0';
    kind = proc_parse_title(title, major);
    if (kind == TITLE_OTHER || kind == TITLE_STREAMING) {
        snprintf(err, errlen, "process %d has no logical walsender's title (\"%.120s\")", id->pid,
                 title);
        return false;
    }
    return true;
}

bool proc_terminate_orphan(const char *proc_root, int pm_pid, long long pm_start,
                           const struct proc_ident *id, int major, char *err, size_t errlen)
{
    int pidfd;

    if (!open_pidfd(id->pid, &pidfd, err, errlen))
        return false;
    return send_sigterm(pidfd, id->pid,
                        verify_orphan(proc_root, pm_pid, pm_start, id, major, err, errlen), err,
                        errlen);
}

/*
 * Pin the postmaster: the pidfd first, the proof after, so that the pidfd
 * holds the process that was proven (see proc.h).
 */
bool proc_pin_postmaster(const char *proc_root, const struct pidfile *pf, struct proc_pin *pm,
                         char *err, size_t errlen)
{
    struct proc_stat st;

    pm->pidfd = -1;
    if (!open_pidfd(pf->pid, &pm->pidfd, err, errlen))
        return false;
    if (pm->pidfd < 0) {
        snprintf(err, errlen, "this kernel has no pidfds");
        return false;
    }
    if (pidfile_prove_postmaster(proc_root, pf, err, errlen) != PIDFILE_PROOF_MATCH ||
        !proc_read_stat(proc_root, pf->pid, &st)) {
        proc_pin_release(pm);
        return false;
    }
    pm->ident.pid = pf->pid;
    pm->ident.start_ticks = st.start_ticks;
    return true;
}

/*
 * Pin a walsender of the pinned postmaster: pidfd, proof, then the
 * postmaster still there.  While a process lives its PID is its own, so
 * the parent PID read during the proof named the pinned postmaster.
 */
bool proc_pin_walsender(const char *proc_root, const struct proc_pin *pm,
                        const struct proc_ident *id, int major, bool logical, struct proc_pin *pin,
                        char *err, size_t errlen)
{
    pin->pidfd = -1;
    pin->seen = false;
    if (pm->pidfd < 0) {
        snprintf(err, errlen, "the postmaster is not pinned");
        return false;
    }
    if (!open_pidfd(id->pid, &pin->pidfd, err, errlen))
        return false;
    if (pin->pidfd < 0) {
        snprintf(err, errlen, "this kernel has no pidfds");
        return false;
    }
    if (!verify_child(proc_root, pm->ident.pid, id, major, logical, err, errlen)) {
        proc_pin_release(pin);
        return false;
    }
    if (proc_pin_exited(pm)) {
        snprintf(err, errlen, "postmaster %d exited", pm->ident.pid);
        proc_pin_release(pin);
        return false;
    }
    pin->ident = *id;
    return true;
}

/* A pidfd polls readable once its process has exited. */
bool proc_pin_exited(const struct proc_pin *pin)
{
    struct pollfd p = {.fd = pin->pidfd, .events = POLLIN};

    if (pin->pidfd < 0)
        return true;
    return poll(&p, 1, 0) != 0; /* readable, or an error: not known alive */
}

bool proc_pin_signal(const struct proc_pin *pin)
{
    if (pin->pidfd < 0) {
        errno = EBADF;
        return false;
    }
    return syscall(SYS_pidfd_send_signal, pin->pidfd, SIGTERM, NULL, 0) == 0;
}

void proc_pin_release(struct proc_pin *pin)
{
    if (pin->pidfd >= 0)
        close(pin->pidfd);
    pin->pidfd = -1;
}

void proc_pinset_init(struct proc_pinset *s)
{
    memset(s, 0, sizeof(*s));
    s->pm.pidfd = -1;
}

/* Pins are kept in the order they were added, mostly the policy's: a hint finds most at once. */
struct proc_pin *proc_pinset_find(struct proc_pinset *s, const struct proc_ident *id, int hint)
{
    if (hint < 0 || hint >= s->n)
        hint = 0;
    for (int k = 0; k < s->n; k++) {
        struct proc_pin *p = &s->p[(hint + k) % s->n];

        if (p->ident.pid == id->pid && p->ident.start_ticks == id->start_ticks)
            return p;
    }
    return NULL;
}

bool proc_pinset_add(struct proc_pinset *s, struct proc_pin *pin)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        struct proc_pin *p = realloc(s->p, (size_t)cap * sizeof(*p));

        if (p == NULL) {
            proc_pin_release(pin);
            return false;
        }
        s->p = p;
        s->cap = cap;
    }
    s->p[s->n++] = *pin;
    return true;
}

/* Keep the seen pins in place, in order; release the others. */
void proc_pinset_sweep(struct proc_pinset *s)
{
    int kept = 0;

    for (int i = 0; i < s->n; i++) {
        if (!s->p[i].seen) {
            proc_pin_release(&s->p[i]);
            continue;
        }
        s->p[kept] = s->p[i];
        s->p[kept++].seen = false;
    }
    s->n = kept;
}

void proc_pinset_clear(struct proc_pinset *s)
{
    for (int i = 0; i < s->n; i++)
        proc_pin_release(&s->p[i]);
    proc_pin_release(&s->pm);
    free(s->p);
    proc_pinset_init(s);
}
