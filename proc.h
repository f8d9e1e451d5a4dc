/*
 * proc.h - PostgreSQL as a process: postmaster.pid, /proc/PID/{stat,cmdline},
 * identity checks and the one signal the guard ever sends (SIGTERM)
 *
 * The /proc root and the data directory are parameters so that unit tests
 * can point them at fixtures.
 */
#ifndef DG_PROC_H
#define DG_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum pm_status {
    PM_STATUS_UNKNOWN,
    PM_STATUS_STARTING,
    PM_STATUS_STOPPING,
    PM_STATUS_READY,
    PM_STATUS_STANDBY
};

enum pidfile_result { PIDFILE_OK, PIDFILE_MISSING, PIDFILE_INVALID };

/* What /proc says of the PID in postmaster.pid. */
enum pm_proc {
    PM_PROC_MATCH,   /* that process runs and started when postmaster.pid says */
    PM_PROC_ABSENT,  /* no such process visible (gone, or another PID namespace) */
    PM_PROC_MISMATCH /* a process with that PID started at another time: not ours */
};

/* What postmaster.pid says (PostgreSQL >= 10 layout). */
struct pidfile {
    int pid;
    char datadir[1024];
    long long start_time; /* epoch seconds */
    int port;
    char socket_dir[1024];
    int nlines;            /* how many lines were present */
    enum pm_status status; /* line 8; UNKNOWN while not yet written */
    dev_t dir_dev;         /* the data directory it was read from (and line 2 names); */
    ino_t dir_ino;         /* 0 when not read by proc_read_pidfile: proves nothing */
};

/* The parts of /proc/PID/stat the guard uses. */
struct proc_stat {
    int pid;
    char comm[64];
    char state;
    int ppid;
    unsigned long long start_ticks; /* field 22, clock ticks after boot */
};

/* The proven identity of a process: same PID and same start time. */
struct proc_ident {
    int pid;
    unsigned long long start_ticks;
};

/*
 * What a process title says a postmaster child is (FACTS.md 23).  Titles
 * differ by major: "wal sender process USER HOST(PORT) STATE" on 10,
 * "walsender USER HOST(PORT) STATE" on 11-13, and from 14 a walsender shows
 * its replication command: "walsender USER [DB] HOST(PORT) START_REPLICATION"
 * (16+ name the database).  A streaming logical walsender on 10-13 shows
 * "idle", exactly as a normal backend of a role named "walsender" does, so
 * a title alone never proves a logical walsender there.
 */
enum proc_title {
    TITLE_OTHER,             /* not a walsender's title */
    TITLE_WALSENDER,         /* a walsender's prefix, any other state ("idle", a command) */
    TITLE_START_REPLICATION, /* 14+: running START_REPLICATION (logical, or physical unsent) */
    TITLE_STREAMING          /* "streaming X/Y": a physical walsender */
};

/* A child of the postmaster found under /proc, with what its title says. */
struct proc_child {
    struct proc_ident ident;
    enum proc_title kind;
    char title[256];
};

const char *pm_status_name(enum pm_status st);
/* Parse the text of postmaster.pid; lines 1 (PID), 2 (data dir), 3 (start time) must be valid. */
bool proc_parse_pidfile(const char *text, struct pidfile *pf, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/*
 * Read PGDATA/postmaster.pid: a regular file (not a symbolic link) whose
 * line 2 names PGDATA itself (same device and inode); INVALID with err otherwise.
 */
enum pidfile_result proc_read_pidfile(const char *pgdata, struct pidfile *pf, char *err,
                                      size_t errlen);
bool proc_parse_stat(const char *text, struct proc_stat *st) __attribute__((warn_unused_result));
bool proc_read_stat(const char *proc_root, int pid, struct proc_stat *st)
    __attribute__((warn_unused_result));
bool proc_read_title(const char *proc_root, int pid, char *buf, size_t len)
    __attribute__((warn_unused_result));
/* Classify a title by the rules of PostgreSQL major (0: unknown, any major's forms). */
enum proc_title proc_parse_title(const char *title, int major);
/* The major version in DIR/PG_VERSION (10, 13, 18, ...), 0 when unreadable. */
int proc_read_major(const char *pgdata);
/*
 * Is the PID of pf the postmaster of pf's data directory: visible, working
 * in that directory, started when line 3 says?  why says what failed.
 */
enum pm_proc proc_prove_postmaster(const char *proc_root, const struct pidfile *pf, char *why,
                                   size_t len);
enum pm_proc proc_check_postmaster(const char *proc_root, const struct pidfile *pf);
/*
 * The children of pm_pid under ROOT, each with its title's kind: every
 * child, whatever its title, so that a walsender known from SQL is found
 * even where its title proves nothing.  At most max; -1 when ROOT is unreadable.
 */
int proc_list_children(const char *proc_root, int pm_pid, int major, struct proc_child *out,
                       int max);
bool proc_opens_database_files(const char *proc_root, int pid, const char *pgdata);
/*
 * Prove that id (PID and start time recorded while SQL showed it as a
 * walsender) is still that process, a child of pf's postmaster, with a
 * walsender's title under major's rules (and not a physical one's when
 * logical).  False with err naming what failed.
 */
bool proc_verify_walsender(const char *proc_root, const struct pidfile *pf,
                           const struct proc_ident *id, int major, bool logical, char *err,
                           size_t errlen) __attribute__((warn_unused_result));
/*
 * SIGTERM to a walsender left alive by a postmaster that is gone (SIGKILLed
 * mid-shutdown): id was recorded while it was proven a child of the
 * postmaster pm_pid started at pm_start (epoch seconds, postmaster.pid line
 * 3).  That postmaster must be gone, the process the same one (start time),
 * reparented, with a logical walsender's title.  False with err.
 */
bool proc_terminate_orphan(const char *proc_root, int pm_pid, long long pm_start,
                           const struct proc_ident *id, int major, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* SIGTERM through a pidfd opened before proc_verify_walsender; false with err. */
bool proc_terminate(const char *proc_root, const struct pidfile *pf, const struct proc_ident *id,
                    int major, bool logical, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool proc_can_signal(const char *proc_root, const struct pidfile *pf, char *why, size_t len);

/*
 * A process held by a pidfd and proven after the pidfd was opened.  A
 * pidfd names one process for as long as it is held: a PID freed by an
 * exit and reused is another process, which the pidfd cannot reach
 * (ESRCH).  So a proof made after the open still holds when the signal goes.
 */
struct proc_pin {
    struct proc_ident ident;
    int pidfd; /* -1: nothing pinned */
    bool seen; /* for proc_pinset_sweep */
};

/* The pins of one shutdown: its postmaster's and its walsenders'. */
struct proc_pinset {
    struct proc_pin pm;
    struct proc_pin *p;
    int n, cap;
};

/*
 * Pin pf's postmaster: open a pidfd for its PID, then prove it is this data
 * directory's postmaster (proc_prove_postmaster).  False with err, also on
 * kernels without pidfds.
 */
bool proc_pin_postmaster(const char *proc_root, const struct pidfile *pf, struct proc_pin *pm,
                         char *err, size_t errlen) __attribute__((warn_unused_result));
/*
 * Pin the walsender id, a child of the pinned postmaster pm: open a pidfd,
 * then prove what proc_verify_walsender proves (parent pm, same start time,
 * a walsender's title, not a physical one's when logical), then that pm has
 * not exited (so it was pm's PID that the parent named).  False with err.
 */
bool proc_pin_walsender(const char *proc_root, const struct proc_pin *pm,
                        const struct proc_ident *id, int major, bool logical, struct proc_pin *pin,
                        char *err, size_t errlen) __attribute__((warn_unused_result));
/* Has the pinned process exited (its pidfd polls readable)?  True without a pin. */
bool proc_pin_exited(const struct proc_pin *pin);
/* SIGTERM through the pin's pidfd; false with errno set (ESRCH: it exited). */
bool proc_pin_signal(const struct proc_pin *pin) __attribute__((warn_unused_result));
/* Close the pin's pidfd. */
void proc_pin_release(struct proc_pin *pin);
void proc_pinset_init(struct proc_pinset *s);
/* The pin of id (same PID and start time) in s, or NULL; the search starts at index hint. */
struct proc_pin *proc_pinset_find(struct proc_pinset *s, const struct proc_ident *id, int hint);
/* Keep pin in s (s owns its pidfd now); false, the pin released, when out of memory. */
bool proc_pinset_add(struct proc_pinset *s, struct proc_pin *pin);
/* Release the walsender pins not marked seen, and clear the marks of the others. */
void proc_pinset_sweep(struct proc_pinset *s);
/* Release every pin, the postmaster's too. */
void proc_pinset_clear(struct proc_pinset *s);

#endif
