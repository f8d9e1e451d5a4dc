/*
 * pidfile.h - the postmaster of a data directory: postmaster.pid (read only
 * as a regular file of that directory whose line 2 names it), PG_VERSION,
 * and the proof that postmaster.pid's PID is that directory's postmaster
 * (working directory and start time under /proc)
 */
#ifndef DG_PIDFILE_H
#define DG_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum pidfile_status {
    PIDFILE_STATUS_UNKNOWN,
    PIDFILE_STATUS_STARTING,
    PIDFILE_STATUS_STOPPING,
    PIDFILE_STATUS_READY,
    PIDFILE_STATUS_STANDBY
};

enum pidfile_result { PIDFILE_OK, PIDFILE_MISSING, PIDFILE_INVALID };

/* What /proc says of the PID in postmaster.pid. */
enum pidfile_proof {
    PIDFILE_PROOF_MATCH,   /* that process runs and started when postmaster.pid says */
    PIDFILE_PROOF_ABSENT,  /* no such process visible (gone, or another PID namespace) */
    PIDFILE_PROOF_MISMATCH /* a process with that PID started at another time: not ours */
};

/* What postmaster.pid says (PostgreSQL >= 10 layout). */
struct pidfile {
    int pid;
    char datadir[1024];
    long long start_time; /* epoch seconds */
    int port;
    char socket_dir[1024];
    int nlines;                 /* how many lines were present */
    enum pidfile_status status; /* line 8; UNKNOWN while not yet written */
    dev_t dir_dev;              /* the data directory it was read from (and line 2 names); */
    ino_t dir_ino;              /* 0 when not read by pidfile_read: proves nothing */
};

/* The name of a line-8 status ("ready", "stopping", ...; "unknown"). */
const char *pidfile_status_name(enum pidfile_status st);
/* Parse the text of postmaster.pid; lines 1 (PID), 2 (data dir), 3 (start time) must be valid. */
bool pidfile_parse(const char *text, struct pidfile *pf, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/*
 * Read PGDATA/postmaster.pid: a regular file (not a symbolic link) whose
 * line 2 names PGDATA itself (same device and inode); INVALID with err otherwise.
 */
enum pidfile_result pidfile_read(const char *pgdata, struct pidfile *pf, char *err, size_t errlen);
/* The major version in DIR/PG_VERSION (10, 13, 18, ...), 0 when unreadable. */
int pidfile_read_major(const char *pgdata);
/*
 * Is the PID of pf the postmaster of pf's data directory: visible, working
 * in that directory, started when line 3 says?  why says what failed.
 */
enum pidfile_proof pidfile_prove_postmaster(const char *proc_root, const struct pidfile *pf,
                                            char *why, size_t len);
/* pidfile_prove_postmaster without the reason. */
enum pidfile_proof pidfile_check_postmaster(const char *proc_root, const struct pidfile *pf);
/* Is pf's postmaster proven and ours to signal (kill 0)?  False with why. */
bool pidfile_can_signal(const char *proc_root, const struct pidfile *pf, char *why, size_t len);
/*
 * Is the postmaster pm_pid that started at pm_start (epoch seconds, line 3)
 * still running under ROOT?  A zombie is gone; a start time that cannot be
 * compared counts as running (so that nothing is signalled on a guess).
 */
bool pidfile_postmaster_alive(const char *proc_root, int pm_pid, long long pm_start);

#endif
