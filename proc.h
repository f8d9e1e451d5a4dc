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

/* A walsender found under /proc: child of the postmaster, walsender title. */
struct proc_walsender {
    struct proc_ident ident;
    bool physical_title; /* title says "streaming": a physical walsender */
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
bool proc_title_is_walsender(const char *title, bool *physical);
/*
 * Is the PID of pf the postmaster of pf's data directory: visible, working
 * in that directory, started when line 3 says?  why says what failed.
 */
enum pm_proc proc_prove_postmaster(const char *proc_root, const struct pidfile *pf, char *why,
                                   size_t len);
enum pm_proc proc_check_postmaster(const char *proc_root, const struct pidfile *pf);
int proc_find_walsenders(const char *proc_root, int pm_pid, struct proc_walsender *out, int max);
bool proc_opens_database_files(const char *proc_root, int pid);
bool proc_verify_walsender(const char *proc_root, const struct pidfile *pf,
                           const struct proc_ident *id, bool logical, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool proc_terminate(const char *proc_root, const struct pidfile *pf, const struct proc_ident *id,
                    bool logical, char *err, size_t errlen) __attribute__((warn_unused_result));
bool proc_can_signal(const char *proc_root, const struct pidfile *pf, char *why, size_t len);

#endif
