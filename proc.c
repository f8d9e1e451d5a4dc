/*
 * proc.c - PostgreSQL as a process
 *
 * Reads postmaster.pid and /proc, proves that a PID still names the same
 * walsender child of this data directory's postmaster, and sends it SIGTERM
 * through a pidfd so that a PID recycled between the check and the signal
 * cannot be hit.  SIGTERM is the only signal this program sends.
 */
#include "proc.h"

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

#define START_TIME_SLACK_S 5

/* The status names of postmaster.pid line 8, trimmed. */
const char *pm_status_name(enum pm_status st)
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
static enum pm_status parse_status(const char *line)
{
    char s[16];
    size_t n;

    snprintf(s, sizeof(s), "%s", line);
    n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    for (int st = PM_STATUS_STARTING; st <= PM_STATUS_STANDBY; st++)
        if (strcmp(s, pm_status_name((enum pm_status)st)) == 0)
            return (enum pm_status)st;
    return PM_STATUS_UNKNOWN;
}

/*
 * Parse the text of postmaster.pid.  Line 1 must be a positive PID (a
 * negative one is a single-user backend, not a postmaster), line 2 an
 * absolute path and line 3 a positive start time: those three prove whose
 * file it is.  Later lines that are not written yet leave their fields
 * empty and the status UNKNOWN.
 */
bool proc_parse_pidfile(const char *text, struct pidfile *pf, char *err, size_t errlen)
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
 * identity, which proc_prove_postmaster needs.
 */
enum pidfile_result proc_read_pidfile(const char *pgdata, struct pidfile *pf, char *err,
                                      size_t errlen)
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
    if (!proc_parse_pidfile(text, pf, err, errlen) ||
        !names_directory(pgdata, pf, &dir, err, errlen)) {
        memset(pf, 0, sizeof(*pf));
        return PIDFILE_INVALID;
    }
    pf->dir_dev = dir.st_dev;
    pf->dir_ino = dir.st_ino;
    return PIDFILE_OK;
}

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

/* The major version in DIR/PG_VERSION ("13\n", or "9.6\n" for old ones: 9); 0 when unreadable. */
int proc_read_major(const char *pgdata)
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
 * come from proc_read_pidfile (which tied line 2 to the directory), the
 * process must work in that directory and its start time, from /proc,
 * must agree with line 3 within a few seconds.  Whatever cannot be
 * checked fails the proof; why says what.
 */
static enum pm_proc prove_postmaster(const char *proc_root, const struct pidfile *pf, char *why,
                                     size_t len);

/*
 * A postmaster.pid written in another PID namespace names a PID that is
 * another process here: say so when it is PID 1 (a container's first
 * process) or this guard itself, rather than what of the proof failed.
 */
enum pm_proc proc_prove_postmaster(const char *proc_root, const struct pidfile *pf, char *why,
                                   size_t len)
{
    enum pm_proc r = prove_postmaster(proc_root, pf, why, len);
    char path[PATH_MAX], comm[64] = "?";
    FILE *f;

    if (r != PM_PROC_MISMATCH || (pf->pid != 1 && pf->pid != getpid()))
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

static enum pm_proc prove_postmaster(const char *proc_root, const struct pidfile *pf, char *why,
                                     size_t len)
{
    struct proc_stat st;
    long long bt, hz = sysconf(_SC_CLK_TCK), started;

    if (pf->dir_ino == 0 || pf->start_time <= 0) {
        snprintf(why, len, "postmaster %d: postmaster.pid was not read from the data directory",
                 pf->pid);
        return PM_PROC_MISMATCH;
    }
    if (!proc_read_stat(proc_root, pf->pid, &st)) {
        snprintf(why, len, "postmaster %d is not visible in %s (another PID namespace?)", pf->pid,
                 proc_root);
        return PM_PROC_ABSENT;
    }
    if (!works_in_datadir(proc_root, pf, why, len))
        return PM_PROC_MISMATCH;
    bt = boot_time(proc_root);
    if (bt == 0 || hz <= 0) {
        snprintf(why, len,
                 "no boot time in \"%s/stat\": cannot compare PID %d's start time "
                 "with postmaster.pid line 3",
                 proc_root, pf->pid);
        return PM_PROC_MISMATCH;
    }
    started = bt + (long long)(st.start_ticks / (unsigned long long)hz);
    if (llabs(started - pf->start_time) > START_TIME_SLACK_S) {
        snprintf(why, len,
                 "PID %d in %s started at another time than postmaster.pid says (%lld, line 3: "
                 "%lld)",
                 pf->pid, proc_root, started, pf->start_time);
        return PM_PROC_MISMATCH;
    }
    return PM_PROC_MATCH;
}

/* proc_prove_postmaster without the reason. */
enum pm_proc proc_check_postmaster(const char *proc_root, const struct pidfile *pf)
{
    char why[512];

    return proc_prove_postmaster(proc_root, pf, why, sizeof(why));
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
        long long pid;

        if (parse_ll(e->d_name, &pid) && pid > 0 && pid <= INT_MAX &&
            add_if_child(proc_root, pm_pid, (int)pid, major, &out[n]))
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
    if (proc_check_postmaster(proc_root, pf) != PM_PROC_MATCH) {
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
                        proc_prove_postmaster(proc_root, pf, err, errlen) == PM_PROC_MATCH &&
                            proc_verify_walsender(proc_root, pf, id, major, logical, err, errlen),
                        err, errlen);
}

/* Is the postmaster pm_pid that started at pm_start (epoch s) still running under ROOT? */
static bool postmaster_alive(const char *proc_root, int pm_pid, long long pm_start)
{
    struct proc_stat st;
    long long bt = boot_time(proc_root), hz = sysconf(_SC_CLK_TCK);

    if (!proc_read_stat(proc_root, pm_pid, &st) || st.state == 'Z' || st.state == 'X')
        return false; /* gone, or dead and not yet reaped by its parent */
    if (bt == 0 || hz <= 0)
        return true; /* cannot tell: assume it lives, so nothing is signalled */
    return llabs(bt + (long long)(st.start_ticks / (unsigned long long)hz) - pm_start) <=
           START_TIME_SLACK_S;
}

/* Prove an orphaned walsender (see proc.h); the pidfd is open already. */
static bool verify_orphan(const char *proc_root, int pm_pid, long long pm_start,
                          const struct proc_ident *id, int major, char *err, size_t errlen)
{
    struct proc_stat st;
    char title[256];
    enum proc_title kind;

    if (pm_pid <= 0 || pm_start <= 0 || postmaster_alive(proc_root, pm_pid, pm_start)) {
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
 * Can this process signal the postmaster's children?  The postmaster must
 * be visible and ours to signal (same user or privileged).
 */
bool proc_can_signal(const char *proc_root, const struct pidfile *pf, char *why, size_t len)
{
    if (proc_prove_postmaster(proc_root, pf, why, len) != PM_PROC_MATCH)
        return false;
    if (kill(pf->pid, 0) != 0) {
        snprintf(why, len, "may not signal postmaster %d: %s", pf->pid, strerror(errno));
        return false;
    }
    return true;
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
    if (proc_prove_postmaster(proc_root, pf, err, errlen) != PM_PROC_MATCH ||
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
