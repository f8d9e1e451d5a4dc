/*
 * guard.h - the daemon: its state, the event loop, the state machine driver
 *
 * struct guard is shared by the modules of the daemon: guard.c (the loop),
 * observe.c (what it sees), session.c (its SQL session), settings.c (its
 * configuration), terminate.c (ending one walsender) and command.c (what
 * the HTTP API asks of the loop, and the view it publishes); nothing else
 * sees it.
 */
#ifndef DG_GUARD_H
#define DG_GUARD_H

#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "pidfile.h"
#include "policy.h"
#include "proc.h"
#include "render.h"
#include "tls.h"
#include "walsender.h"

struct http_server;   /* http.h: the HTTP API */
struct pgsql_session; /* pgsql.h: the SQL session, the only user of libpq */

/* The most walsenders listed from /proc in one turn, and pinned for the deadline. */
#define MAX_PROC_WALSENDERS 4096

/*
 * A postmaster as the guard remembers it: PID and start time (line 3 of
 * postmaster.pid, proven against /proc when the signal path is open).  PIDs
 * repeat, in a PID namespace predictably: the PID alone is not a postmaster.
 */
struct pm_ident {
    int pid;
    long long start_time;
};

struct guard {
    struct config cfg;
    int argc;
    char **argv;
    const char *proc_root;
    char pgdata[PATH_MAX]; /* --pgdata, or data_directory from SQL */

    struct pgsql_session *sql;
    struct ws_server_info info;
    bool ever_connected;
    bool saw_57p01;    /* our session was ended by a shutdown */
    bool sql_stopping; /* ... and the server then refused us: 57P03 */
    bool lsn_warned;
    int64_t next_connect_ms, backoff_ms, next_poll_ms;
    int64_t last_poll_us; /* -1: none yet */

    enum pidfile_result pf_state;
    bool pf_read; /* postmaster.pid was read at least once */
    struct pidfile pf;
    int pg_major;     /* from SQL, else PG_VERSION; 0: unknown (titles of every major accepted) */
    char pf_err[512]; /* why the last read was not OK */
    bool signal_ok;
    char signal_why[256];
    struct pm_ident stop_pm; /* the postmaster whose shutdown we follow (pid 0: none) */
    struct pm_ident done_pm; /* the last one whose shutdown ended */
    struct pm_ident seen_pm; /* the postmaster running at the last turn (pid 0: none) */
    char missed_why[160];    /* how a shutdown between two turns was noticed */

    struct walsender *ws; /* this tick's complete list, or NULL */
    int n_ws;

    struct policy policy;
    struct audit *audit;
    json_t *summary; /* terminations of the current shutdown */
    int64_t shutdown_wall_ms;

    int sigfd, inofd, inowd;

    /* the deadline: walsenders pinned while a shutdown runs (proc.h), signalled in one loop */
    struct proc_pinset pins;
    int max_pins;        /* what RLIMIT_NOFILE leaves for pidfds */
    bool deadline_turn;  /* this turn acts at the deadline: no /proc scan before the signals */
    bool deadline_done;  /* ... and has run for this shutdown */
    bool turn_now;       /* take the next turn at once (the scan the deadline turn skipped) */
    int64_t dl_first_us; /* the guard's own figures for shutdown_completed: first and last */
    int64_t dl_last_us;  /* termination for reason deadline, after the deadline */
    int dl_count;
    bool rt_on, rt_saved, rt_warned; /* SCHED_FIFO while a shutdown runs (guard.c) */
    int rt_policy;                   /* ... and what this thread had before */
    struct sched_param rt_param;

    /* HTTP API */
    struct http_server *http;
    char *token;
    struct tls_material tls; /* --tls-cert, --tls-key, --tls-client-ca as read */
    int64_t next_http_ms;    /* next attempt to bind --listen */
    struct counters c;
    bool attempted;      /* a connection attempt has finished */
    char sql_error[256]; /* why the last attempt failed */
    int64_t last_poll_wall_ms;
};

/* "demotion-guard run": load the configuration (exit 2 when wrong), then loop until SIGTERM. */
int guard_run(int argc, char **argv);

#endif
