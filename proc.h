/*
 * proc.h - PostgreSQL's processes under /proc (stat, cmdline, the
 * postmaster's children), the proven identity of a walsender, pidfds and
 * the one signal the guard ever sends (SIGTERM); the postmaster itself and
 * its postmaster.pid are pidfile.h's
 *
 * The /proc root and the data directory are parameters so that unit tests
 * can point them at fixtures.
 */
#ifndef DG_PROC_H
#define DG_PROC_H

#include <stdbool.h>
#include <stddef.h>

struct pidfile; /* pidfile.h: what postmaster.pid says */

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

/* Parse the text of /proc/PID/stat (the command name may hold spaces and parentheses). */
bool proc_parse_stat(const char *text, struct proc_stat *st) __attribute__((warn_unused_result));
/* Read and parse ROOT/PID/stat; false when gone, unparsable or another PID's. */
bool proc_read_stat(const char *proc_root, int pid, struct proc_stat *st)
    __attribute__((warn_unused_result));
/* The process title (the first string of ROOT/PID/cmdline) into buf; false when gone or empty. */
bool proc_read_title(const char *proc_root, int pid, char *buf, size_t len)
    __attribute__((warn_unused_result));
/* Classify a title by the rules of PostgreSQL major (0: unknown, any major's forms). */
enum proc_title proc_parse_title(const char *title, int major);
/*
 * The children of pm_pid under ROOT, each with its title's kind: every
 * child, whatever its title, so that a walsender known from SQL is found
 * even where its title proves nothing.  At most max; -1 when ROOT is unreadable.
 */
int proc_list_children(const char *proc_root, int pm_pid, int major, struct proc_child *out,
                       int max);
/* Does the process hold files under PGDATA/base/ open (a logical walsender reads catalogs)? */
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
 * directory's postmaster (pidfile_prove_postmaster).  False with err, also on
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
/* An empty set: no postmaster pinned, no walsenders. */
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
