/*
 * pidfile.c - the postmaster of a data directory: postmaster.pid read and proven
 *
 * Reads PGDATA/postmaster.pid (a regular file in the data directory, never
 * a symbolic link, whose line 2 names that very directory and whose lines
 * are whole and well formed) and PG_VERSION, and proves that the PID of
 * line 1 is this directory's postmaster: it works in the directory and
 * started when line 3 says.  Whatever cannot be checked fails the proof.
 */
#include "pidfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"

#define START_TIME_SLACK_S 5

/* The status names of postmaster.pid line 8, trimmed. */
const char *pidfile_status_name(enum pidfile_status st)
{
    static const char *const names[] = {"unknown", "starting", "stopping", "ready", "standby"};

    return names[st];
}

/* Parse a whole decimal number that must fill the string; false otherwise. */
static bool parse_ll(const char *s, long long *out)
{
    char *end;

    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Copy line number n (1-based) of text into buf; false when absent. */
static bool get_line(const char *text, int n, char *buf, size_t len)
{
    const char *p = text, *e;

    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        if (p == NULL)
            return false;
        p++;
    }
    if (*p == '\0')
        return false;
    e = strchr(p, '\n');
    if (e == NULL)
        e = p + strlen(p);
    snprintf(buf, len, "%.*s", (int)(e - p), p);
    return true;
}

/* The length of line number n (1-based) of text, 0 when absent. */
static size_t line_length(const char *text, int n)
{
    const char *p = text;

    for (int i = 1; i < n && p; i++)
        if ((p = strchr(p, '\n')) != NULL)
            p++;
    return p ? strcspn(p, "\n") : 0;
}

/* Map line 8 (space-padded) to a status. */
static enum pidfile_status parse_status(const char *line)
{
    char s[16];
    size_t n;

    snprintf(s, sizeof(s), "%s", line);
    n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    for (int st = PIDFILE_STATUS_STARTING; st <= PIDFILE_STATUS_STANDBY; st++)
        if (strcmp(s, pidfile_status_name((enum pidfile_status)st)) == 0)
            return (enum pidfile_status)st;
    return PIDFILE_STATUS_UNKNOWN;
}

/*
 * Parse the text of postmaster.pid.  Line 1 must be a positive PID (a
 * negative one is a single-user backend, not a postmaster), line 2 an
 * absolute path and line 3 a positive start time: those three prove whose
 * file it is.  Later lines that are not written yet leave their fields
 * empty and the status UNKNOWN.
 */
bool pidfile_parse(const char *text, struct pidfile *pf, char *err, size_t errlen)
{
    char line[1024];
    long long v;

    memset(pf, 0, sizeof(*pf));
    for (int i = 1; i <= 8 && get_line(text, i, line, sizeof(line)); i++)
        pf->nlines = i;
    /* a line cut to fit would prove something the file does not say (MAXPGPATH is 1024) */
    for (int i = 1; i <= pf->nlines; i++)
        if (line_length(text, i) >= sizeof(line)) {
            snprintf(err, errlen, "postmaster.pid line %d: longer than %zu bytes", i,
                     sizeof(line) - 1);
            return false;
        }
    if (!get_line(text, 1, line, sizeof(line)) || !parse_ll(line, &v)) {
        snprintf(err, errlen, "postmaster.pid line 1: expected a PID, found \"%s\"",
                 pf->nlines ? line : "");
        return false;
    }
    if (v <= 0 || v > INT_MAX) {
        snprintf(err, errlen, "postmaster.pid line 1: PID %lld is not a postmaster's%s", v,
                 v < 0 ? " (a single-user backend)" : "");
        return false;
    }
    pf->pid = (int)v;
    if (!get_line(text, 2, line, sizeof(line)) || line[0] != '/') {
        snprintf(err, errlen, "postmaster.pid line 2: expected the data directory, found \"%s\"",
                 pf->nlines >= 2 ? line : "");
        return false;
    }
    snprintf(pf->datadir, sizeof(pf->datadir), "%s", line);
    if (!get_line(text, 3, line, sizeof(line)) || !parse_ll(line, &v) || v <= 0) {
        snprintf(err, errlen, "postmaster.pid line 3: expected the start time, found \"%s\"",
                 pf->nlines >= 3 ? line : "");
        return false;
    }
    pf->start_time = v;
    if (get_line(text, 4, line, sizeof(line)) && parse_ll(line, &v) && v > 0 && v < 65536)
        pf->port = (int)v;
    if (get_line(text, 5, line, sizeof(line)))
        snprintf(pf->socket_dir, sizeof(pf->socket_dir), "%s", line);
    if (get_line(text, 8, line, sizeof(line)))
        pf->status = parse_status(line);
    return true;
}

/*
 * Open DIR/postmaster.pid for reading, refusing a symbolic link and
 * anything but a regular file (a FIFO would block: O_NONBLOCK).  Fills
 * *dir with the directory's identity.  Returns the fd, or -1 with err and
 * *missing set when the directory or the file is not there.
 */
static int open_pidfile(const char *pgdata, struct stat *dir, bool *missing, char *err,
                        size_t errlen)
{
    struct stat st;
    int dfd, fd;

    *missing = false;
    dfd = open(pgdata, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, dir) != 0) {
        *missing = errno == ENOENT;
        snprintf(err, errlen, "could not open data directory \"%s\": %s", pgdata, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    fd = openat(dfd, "postmaster.pid", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    close(dfd);
    if (fd < 0) {
        *missing = errno == ENOENT;
        if (errno == ELOOP)
            snprintf(err, errlen, "\"%s/postmaster.pid\" is a symbolic link: not trusted", pgdata);
        else
            snprintf(err, errlen, "could not open \"%s/postmaster.pid\": %s", pgdata,
                     strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "\"%s/postmaster.pid\" is not a regular file: not trusted", pgdata);
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * Does line 2 of pf name the directory dir (same device and inode)?  A
 * copy of another cluster's postmaster.pid names that cluster's directory.
 */
static bool names_directory(const char *pgdata, const struct pidfile *pf, const struct stat *dir,
                            char *err, size_t errlen)
{
    struct stat st;

    if (stat(pf->datadir, &st) != 0) {
        snprintf(err, errlen, "\"%s/postmaster.pid\" line 2: data directory \"%s\": %s", pgdata,
                 pf->datadir, strerror(errno));
        return false;
    }
    if (st.st_dev != dir->st_dev || st.st_ino != dir->st_ino) {
        snprintf(err, errlen,
                 "\"%s/postmaster.pid\" line 2 names \"%s\", not this data directory: "
                 "another cluster's file",
                 pgdata, pf->datadir);
        return false;
    }
    return true;
}

/*
 * Read DIR/postmaster.pid.  MISSING when the file is not there (the
 * postmaster is not running) or still empty (one is starting); INVALID with
 * err for anything unreadable, unparsable, not a regular file, or naming
 * another data directory on line 2.  Only an OK pf carries the directory's
 * identity, which pidfile_prove_postmaster needs.
 */
enum pidfile_result pidfile_read(const char *pgdata, struct pidfile *pf, char *err, size_t errlen)
{
    char text[8192];
    struct stat dir;
    bool missing;
    ssize_t n;
    int fd;

    memset(pf, 0, sizeof(*pf));
    fd = open_pidfile(pgdata, &dir, &missing, err, errlen);
    if (fd < 0)
        return missing ? PIDFILE_MISSING : PIDFILE_INVALID;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "could not read \"%s/postmaster.pid\": %s", pgdata, strerror(errno));
        return PIDFILE_INVALID;
    }
    text[n] = '\0';
    if (n == 0) {
        /* a postmaster creating the file: not there yet, as far as we care */
        snprintf(err, errlen, "\"%s/postmaster.pid\" is empty", pgdata);
        return PIDFILE_MISSING;
    }
    if (!pidfile_parse(text, pf, err, errlen) || !names_directory(pgdata, pf, &dir, err, errlen)) {
        memset(pf, 0, sizeof(*pf));
        return PIDFILE_INVALID;
    }
    pf->dir_dev = dir.st_dev;
    pf->dir_ino = dir.st_ino;
    return PIDFILE_OK;
}

/* The major version in DIR/PG_VERSION ("13\n", or "9.6\n" for old ones: 9); 0 when unreadable. */
int pidfile_read_major(const char *pgdata)
{
    char path[PATH_MAX], text[16];
    ssize_t n;
    long long v;
    int fd;

    if ((size_t)snprintf(path, sizeof(path), "%s/PG_VERSION", pgdata) >= sizeof(path))
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    text[strcspn(text, ".\n")] = '\0';
    return parse_ll(text, &v) && v > 0 && v < 1000 ? (int)v : 0;
}

/*
 * The boot time in epoch seconds, from ROOT/stat "btime"; 0 if unknown.
 * It never changes while the system runs, so it is read once per root.
 */
static long long boot_time(const char *proc_root)
{
    static char cached_root[PATH_MAX];
    static long long cached;
    char path[PATH_MAX], line[256];
    long long bt = 0;
    FILE *f;

    if (cached && strcmp(cached_root, proc_root) == 0)
        return cached;
    snprintf(path, sizeof(path), "%s/stat", proc_root);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    if (bt > 0) {
        snprintf(cached_root, sizeof(cached_root), "%s", proc_root);
        cached = bt;
    }
    return bt;
}

/* When the process of st started, in epoch seconds (boot time + start ticks); 0 if unknown. */
static long long started_at(const char *proc_root, const struct proc_stat *st)
{
    long long bt = boot_time(proc_root), hz = sysconf(_SC_CLK_TCK);

    if (bt == 0 || hz <= 0)
        return 0;
    return bt + (long long)(st->start_ticks / (unsigned long long)hz);
}

/*
 * Does the process pf->pid work in the data directory pf was read from
 * (ROOT/PID/cwd, same device and inode)?  A working directory that cannot
 * be seen proves nothing: false, with why.
 */
static bool works_in_datadir(const char *proc_root, const struct pidfile *pf, char *why, size_t len)
{
    char path[PATH_MAX], target[PATH_MAX];
    struct stat cwd;
    ssize_t n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%d/cwd", proc_root, pf->pid) >= sizeof(path)) {
        snprintf(why, len, "/proc root \"%s\" too long", proc_root);
        return false;
    }
    if (stat(path, &cwd) != 0) {
        int e = errno;
        struct stat owner;
        char dir[PATH_MAX];

        snprintf(dir, sizeof(dir), "%s/%d", proc_root, pf->pid);
        if ((e == EACCES || e == EPERM) && stat(dir, &owner) == 0)
            snprintf(why, len,
                     "may not read \"%s\" (%s): the kernel shows /proc/PID/cwd and fd only to the "
                     "process's UID and GID, %u:%u, and this guard runs as %u:%u (PG_UID and "
                     "PG_GID, runAsUser and runAsGroup)",
                     path, strerror(e), (unsigned)owner.st_uid, (unsigned)owner.st_gid,
                     (unsigned)geteuid(), (unsigned)getegid());
        else
            snprintf(why, len, "cannot see the working directory of postmaster %d (\"%s\": %s)",
                     pf->pid, path, strerror(e));
        return false;
    }
    if (cwd.st_dev == pf->dir_dev && cwd.st_ino == pf->dir_ino)
        return true;
    n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    snprintf(why, len, "PID %d works in \"%s\", not in the data directory \"%s\"", pf->pid,
             n > 0 ? target : "?", pf->datadir);
    return false;
}

/*
 * Is the PID of postmaster.pid this data directory's postmaster?  pf must
 * come from pidfile_read (which tied line 2 to the directory), the
 * process must work in that directory and its start time, from /proc,
 * must agree with line 3 within a few seconds.  Whatever cannot be
 * checked fails the proof; why says what.
 */
static enum pidfile_proof prove_postmaster(const char *proc_root, const struct pidfile *pf,
                                           char *why, size_t len)
{
    struct proc_stat st;
    long long started;

    if (pf->dir_ino == 0 || pf->start_time <= 0) {
        snprintf(why, len, "postmaster %d: postmaster.pid was not read from the data directory",
                 pf->pid);
        return PIDFILE_PROOF_MISMATCH;
    }
    if (!proc_read_stat(proc_root, pf->pid, &st)) {
        snprintf(why, len, "postmaster %d is not visible in %s (another PID namespace?)", pf->pid,
                 proc_root);
        return PIDFILE_PROOF_ABSENT;
    }
    if (!works_in_datadir(proc_root, pf, why, len))
        return PIDFILE_PROOF_MISMATCH;
    started = started_at(proc_root, &st);
    if (started == 0) {
        snprintf(why, len,
                 "no boot time in \"%s/stat\": cannot compare PID %d's start time "
                 "with postmaster.pid line 3",
                 proc_root, pf->pid);
        return PIDFILE_PROOF_MISMATCH;
    }
    if (llabs(started - pf->start_time) > START_TIME_SLACK_S) {
        snprintf(why, len,
                 "PID %d in %s started at another time than postmaster.pid says (%lld, line 3: "
                 "%lld)",
                 pf->pid, proc_root, started, pf->start_time);
        return PIDFILE_PROOF_MISMATCH;
    }
    return PIDFILE_PROOF_MATCH;
}

/*
 * A postmaster.pid written in another PID namespace names a PID that is
 * another process here: say so when it is PID 1 (a container's first
 * process) or this guard itself, rather than what of the proof failed.
 */
enum pidfile_proof pidfile_prove_postmaster(const char *proc_root, const struct pidfile *pf,
                                            char *why, size_t len)
{
    enum pidfile_proof r = prove_postmaster(proc_root, pf, why, len);
    char path[PATH_MAX], comm[64] = "?";
    FILE *f;

    if (r != PIDFILE_PROOF_MISMATCH || (pf->pid != 1 && pf->pid != getpid()))
        return r;
    snprintf(path, sizeof(path), "%s/%d/comm", proc_root, pf->pid);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(comm, sizeof(comm), f) == NULL)
            snprintf(comm, sizeof(comm), "?");
        comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
    snprintf(why, len,
             "postmaster.pid names PID %d, which here is %s (\"%s\"), not the postmaster: "
             "PostgreSQL runs in another PID namespace, where it is PID %d; share it "
             "(docker run --pid=container:NAME, Kubernetes shareProcessNamespace: true)",
             pf->pid, pf->pid == getpid() ? "this guard itself" : "another process", comm, pf->pid);
    return r;
}

/* pidfile_prove_postmaster without the reason. */
enum pidfile_proof pidfile_check_postmaster(const char *proc_root, const struct pidfile *pf)
{
    char why[512];

    return pidfile_prove_postmaster(proc_root, pf, why, sizeof(why));
}

/*
 * Can this process signal the postmaster's children?  The postmaster must
 * be visible and ours to signal (same user or privileged).
 */
bool pidfile_can_signal(const char *proc_root, const struct pidfile *pf, char *why, size_t len)
{
    if (pidfile_prove_postmaster(proc_root, pf, why, len) != PIDFILE_PROOF_MATCH)
        return false;
    if (kill(pf->pid, 0) != 0) {
        snprintf(why, len, "may not signal postmaster %d: %s", pf->pid, strerror(errno));
        return false;
    }
    return true;
}

/*
 * Dead and not yet reaped (Z, X) counts as gone; a start time that cannot be
 * compared (no boot time) as alive, so that nothing is signalled on a guess.
 */
bool pidfile_postmaster_alive(const char *proc_root, int pm_pid, long long pm_start)
{
    struct proc_stat st;
    long long started;

    if (!proc_read_stat(proc_root, pm_pid, &st) || st.state == 'Z' || st.state == 'X')
        return false; /* gone, or dead and not yet reaped by its parent */
    started = started_at(proc_root, &st);
    if (started == 0)
        return true; /* cannot tell: assume it lives, so nothing is signalled */
    return llabs(started - pm_start) <= START_TIME_SLACK_S;
}
