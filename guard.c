/*
 * guard.c - main(), command dispatch, the event loop
 *
 * Each turn of the loop waits for something to happen (a signal, a change
 * to postmaster.pid, data on the SQL session, a due time), observes
 * PostgreSQL through SQL, postmaster.pid and /proc, asks the policy what to
 * do and does it.  The loop never blocks on PostgreSQL for longer than a
 * query timeout and never exits on a runtime failure.
 */
#include "guard.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "check.h"
#include "client.h"
#include "clock.h"
#include "config.h"
#include "hook.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "pgsql.h"
#include "policy.h"
#include "proc.h"
#include "render.h"
#include "version.h"

#define CONNECT_TIMEOUT_MS   3000
#define QUERY_TIMEOUT_MS     3000
#define TERMINATE_TIMEOUT_MS 1000
#define SHUTDOWN_TICK_MS     100
#define COARSE_LAG_MS        50 /* how far file times may lag the write (see shutdown_began) */
#define BACKOFF_MIN_MS       250
#define BACKOFF_MAX_MS       5000
#define MAX_PROC_WALSENDERS  4096
#define HTTP_RETRY_MS        10000
#define MAX_COMMANDS         32
/* a turn due this close before the deadline waits for the deadline instead:
   a /proc scan then would still be running when the deadline comes */
#define PRE_DEADLINE_QUIET_MS 30
/* file descriptors kept free of pins, for everything else the guard opens */
#define FDS_NOT_FOR_PINS 128

extern char **environ;

/* Watch the data directory for postmaster.pid changes (best effort). */
static void watch_pgdata(struct guard *g)
{
    if (g->inowd >= 0)
        inotify_rm_watch(g->inofd, g->inowd);
    g->inowd = -1;
    if (g->inofd < 0 || g->pgdata[0] == '\0')
        return;
    g->inowd = inotify_add_watch(g->inofd, g->pgdata,
                                 IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO);
    if (g->inowd < 0)
        log_warn("could not watch \"%s\" for postmaster.pid changes: %m; polling it instead",
                 g->pgdata);
}

/* Work out, and log when it changes, whether the SIGTERM path is open. */
static void check_signal_path(struct guard *g)
{
    char why[256] = "";
    bool ok;

    if (g->pgdata[0] == '\0') {
        ok = false;
        snprintf(why, sizeof(why), "no data directory (--pgdata or PGDATA) to find the postmaster");
    } else if (g->pf_state == PIDFILE_INVALID) {
        ok = false; /* a file that proves nothing closes the path */
        snprintf(why, sizeof(why), "%s", g->pf_err);
    } else if (g->pf_state != PIDFILE_OK) {
        ok = g->signal_ok; /* server down: nothing to decide now */
        snprintf(why, sizeof(why), "%s", g->signal_why);
        if (!ok && why[0] == '\0')
            snprintf(why, sizeof(why), "no readable postmaster.pid in \"%s\" yet", g->pgdata);
    } else
        ok = proc_can_signal(g->proc_root, &g->pf, why, sizeof(why));
    if (ok != g->signal_ok || strcmp(why, g->signal_why) != 0) {
        if (ok)
            log_info("signal path available: postmaster %d is visible and may be signalled",
                     g->pf.pid);
        else if (why[0])
            log_warn("signal path unavailable: %s; walsenders can be ended through SQL only", why);
    }
    g->signal_ok = ok;
    snprintf(g->signal_why, sizeof(g->signal_why), "%s", ok ? "" : why);
}

/*
 * Use the data directory the server reports, but only when that server is
 * the one whose postmaster.pid lies there: the file must be that
 * directory's (proc_read_pidfile), its postmaster proven (working there,
 * started when line 3 says) and our own backend a child of it.  A remote
 * server's path may name a local cluster.
 */
static void adopt_data_directory(struct guard *g)
{
    const struct ws_server_info *in = &g->info;
    struct pidfile pf;
    struct proc_stat st;
    char err[512];

    if (proc_read_pidfile(in->data_directory, &pf, err, sizeof(err)) != PIDFILE_OK ||
        proc_prove_postmaster(g->proc_root, &pf, err, sizeof(err)) != PM_PROC_MATCH) {
        log_info("not using data directory \"%s\" reported by the server: %s", in->data_directory,
                 err);
        return;
    }
    if (!proc_read_stat(g->proc_root, in->backend_pid, &st) || st.ppid != pf.pid) {
        log_info("not using data directory \"%s\" reported by the server: its postmaster is "
                 "not the parent of our session here",
                 in->data_directory);
        return;
    }
    snprintf(g->pgdata, sizeof(g->pgdata), "%s", in->data_directory);
    log_info("using data directory \"%s\" reported by the server", g->pgdata);
    watch_pgdata(g);
}

/*
 * Say, once per major, what this version lets the guard see: on 10-13 a
 * logical walsender's title does not name its command, so only what SQL
 * recorded proves it; 17+ report walsenders waiting for failover standbys.
 */
static void report_version(struct guard *g, int major)
{
    if (major == g->pg_major)
        return;
    g->pg_major = major;
    if (major < 10)
        log_warn("PostgreSQL %d is older than 10, which this guard does not know", major);
    else if (major < 14)
        log_info("PostgreSQL %d: a logical walsender's process title does not show "
                 "START_REPLICATION; walsenders are proven by the PID, start time and slot SQL "
                 "recorded, and one the guard never saw through SQL cannot be proven once SQL is "
                 "gone (reported, not signalled)",
                 major);
    else
        log_info("PostgreSQL %d: logical walsenders are proven by what SQL recorded, or by a "
                 "\"START_REPLICATION\" title and open database files%s",
                 major,
                 major >= 17 ? "; failover slots waiting for synchronized_standby_slots "
                               "are reported (cause standby_wait)"
                             : "");
}

/* Say once, right after connecting, what the role cannot do. */
static void report_privileges(struct guard *g)
{
    const struct ws_server_info *in = &g->info;

    log_info("connected to PostgreSQL %d as role \"%s\" (backend %d%s)", in->version_num, in->role,
             in->backend_pid, in->in_recovery ? ", standby" : "");
    report_version(g, in->version_num / 10000);
    if (!in->superuser && !in->read_all_stats)
        log_warn("role \"%s\" is not a member of pg_read_all_stats (grant pg_monitor): "
                 "pg_stat_replication shows no LSNs, stalled walsenders cannot be recognised",
                 in->role);
    if (!in->superuser && !in->signal_backend)
        log_warn("role \"%s\" is not a member of pg_signal_backend: "
                 "walsenders cannot be terminated through SQL",
                 in->role);
    if (g->cfg.pgdata == NULL && in->data_directory[0] && g->pgdata[0] == '\0')
        adopt_data_directory(g);
}

/* Drop the session and schedule the next attempt with back-off. */
static void schedule_reconnect(struct guard *g, int64_t now)
{
    g->next_connect_ms = now + g->backoff_ms;
    g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g->backoff_ms * 2;
}

/*
 * Try to connect when due.  A refusal (57P03) after our session was ended
 * with 57P01, or at the very first attempt with no postmaster.pid to read,
 * means the server is shutting down.
 */
static void sql_connect(struct guard *g, int64_t now, bool *gone_hint)
{
    char err[512];
    enum pgsql_connect_result r;

    if (pgsql_connected(g->sql) || now < g->next_connect_ms)
        return;
    r = pgsql_connect(g->sql, g->cfg.dsn, CONNECT_TIMEOUT_MS, &g->info, err, sizeof(err));
    g->attempted = true;
    snprintf(g->sql_error, sizeof(g->sql_error), "%s", r == PGSQL_CONNECTED ? "" : err);
    if (r == PGSQL_CONNECTED) {
        report_privileges(g);
        g->ever_connected = true;
        g->backoff_ms = BACKOFF_MIN_MS;
        g->next_poll_ms = now;
        g->saw_57p01 = g->sql_stopping = false;
        *gone_hint = true; /* a server that accepts sessions is not the one shutting down */
        return;
    }
    if (r == PGSQL_REJECTED && (g->saw_57p01 || (!g->ever_connected && g->pf_state != PIDFILE_OK)))
        g->sql_stopping = true;
    if (r == PGSQL_UNREACHABLE)
        *gone_hint = true;
    log_msg(g->policy.phase == PHASE_WAITING && g->backoff_ms > BACKOFF_MIN_MS ? LOG_DEBUG
                                                                               : LOG_INFO,
            "could not connect to PostgreSQL: %s", err);
    schedule_reconnect(g, now);
}

/* Notice at once when the server ends our session (57P01 at a shutdown). */
static void sql_check(struct guard *g, int64_t now)
{
    char state[6] = "";

    if (!pgsql_connected(g->sql) || pgsql_check_session(g->sql, state, sizeof(state)))
        return;
    log_info("session to PostgreSQL ended%s%s", state[0] ? " with SQLSTATE " : "", state);
    snprintf(g->sql_error, sizeof(g->sql_error), "session ended%s%s",
             state[0] ? " with SQLSTATE " : "", state);
    if (strcmp(state, "57P01") == 0)
        g->saw_57p01 = true;
    g->next_connect_ms = now;
    g->backoff_ms = BACKOFF_MIN_MS;
}

/* Give each walsender its /proc start time, when the process is visible. */
static void add_identities(struct guard *g)
{
    for (int i = 0; i < g->n_ws; i++) {
        struct proc_stat st;

        if (g->signal_ok && proc_read_stat(g->proc_root, g->ws[i].pid, &st) && st.ppid == g->pf.pid)
            g->ws[i].start_ticks = st.start_ticks;
    }
}

/*
 * Warn once if the role sees walsenders but not their LSNs.  A role that may
 * see them (superuser, pg_read_all_stats) sees NULL only for a walsender that
 * has sent nothing yet, such as a standby's that has not replied.
 */
static void check_lsn_visibility(struct guard *g)
{
    if (g->info.superuser || g->info.read_all_stats)
        return;
    for (int i = 0; i < g->n_ws && !g->lsn_warned; i++)
        if (!g->ws[i].lsn_known) {
            log_warn("walsender %d shows NULL LSNs: role \"%s\" lacks pg_read_all_stats "
                     "(pg_monitor); only the deadline applies",
                     g->ws[i].pid, g->info.role);
            g->lsn_warned = true;
        }
}

/*
 * Without postmaster.pid, a smart shutdown is invisible to a session that
 * the server lets live: new sessions are refused (57P03) while ours goes on,
 * and the shutdown waits for us.  So each poll also asks whether the server
 * would accept a session.
 */
static void probe_smart_shutdown(struct guard *g)
{
    if (g->pf_state == PIDFILE_OK || g->sql_stopping)
        return;
    if (pgsql_probe(g->cfg.dsn) == PGSQL_REJECTED) {
        log_info("new sessions are refused (57P03) while ours lives: a smart shutdown");
        g->sql_stopping = true;
    }
}

/* Run the poll query when due; fills g->ws with a complete list. */
static void sql_poll(struct guard *g, int64_t now, bool force)
{
    int64_t t0;
    char err[512];
    bool ok;

    if (!pgsql_connected(g->sql) || (!force && now < g->next_poll_ms))
        return;
    g->next_poll_ms = now + g->cfg.poll_interval_ms;
    t0 = mono_us();
    ok = pgsql_snapshot(g->sql, QUERY_TIMEOUT_MS, &g->ws, &g->n_ws, err, sizeof(err));
    g->last_poll_us = mono_us() - t0;
    if (!ok) {
        /* at a fast stop the server ends our session before the last snapshot */
        log_msg(force ? LOG_DEBUG : LOG_WARN, "poll query failed: %s", err);
        if (strcmp(pgsql_last_sqlstate(g->sql), "57P01") == 0)
            g->saw_57p01 = true;
        return;
    }
    g->last_poll_wall_ms = wall_ms();
    log_debug("poll query: %d walsender(s) in %lld us", g->n_ws, (long long)g->last_poll_us);
    add_identities(g);
    check_lsn_visibility(g);
    probe_smart_shutdown(g);
}

/*
 * If the policy tracks this very process (same PID and start time: a reused
 * PID is a stranger), fill w with what SQL said of it and return true.
 */
static bool known_process(const struct guard *g, struct walsender *w)
{
    for (int j = 0; j < g->policy.n; j++) {
        const struct walsender *known = &g->policy.t[j].w;

        if (known->pid == w->pid && known->start_ticks == w->start_ticks) {
            *w = *known;
            w->lsn_known = false;
            return true;
        }
    }
    return false;
}

/*
 * What a child of the postmaster the policy does not know is, from /proc:
 * physical when streaming; logical when it runs START_REPLICATION (14+) and
 * holds a database's files open, which a physical walsender never does;
 * unproven when it only has a walsender's prefix and those files (10-13,
 * where a normal backend of a role "walsender" looks the same).  False:
 * not a walsender that holds up a shutdown.
 */
static bool classify_child(const struct guard *g, const struct proc_child *c, enum ws_kind *kind)
{
    switch (c->kind) {
    case TITLE_OTHER:
        return false;
    case TITLE_STREAMING:
        *kind = WS_PHYSICAL;
        return true;
    case TITLE_START_REPLICATION:
        *kind = proc_opens_database_files(g->proc_root, c->ident.pid, g->pgdata) ? WS_LOGICAL
                                                                                 : WS_PHYSICAL;
        return true;
    case TITLE_WALSENDER:
        *kind = WS_UNPROVEN;
        return (g->pg_major == 0 || g->pg_major < 14) &&
               proc_opens_database_files(g->proc_root, c->ident.pid, g->pgdata);
    }
    return false;
}

/*
 * With SQL gone in a shutdown, list the postmaster's walsenders from
 * /proc.  A child the policy tracks as the same process (PID and start
 * time) keeps what SQL said of it, whatever its title; any other is
 * classified by classify_child.
 */
static void proc_scan(struct guard *g)
{
    static struct proc_child found[MAX_PROC_WALSENDERS];
    int64_t t0;
    int n, kept = 0;

    if (!g->signal_ok || g->pf_state != PIDFILE_OK || g->ws != NULL)
        return;
    t0 = mono_us();
    n = proc_list_children(g->proc_root, g->pf.pid, g->pg_major, found, MAX_PROC_WALSENDERS);
    if (n < 0) {
        log_warn("could not list processes in \"%s\": %m", g->proc_root);
        return;
    }
    g->ws = calloc((size_t)(n ? n : 1), sizeof(*g->ws));
    if (g->ws == NULL)
        return;
    for (int i = 0; i < n; i++) {
        struct walsender *w = &g->ws[kept];
        enum ws_kind kind;

        w->pid = found[i].ident.pid;
        w->start_ticks = found[i].ident.start_ticks;
        if (known_process(g, w)) {
            kept++;
            continue;
        }
        if (!classify_child(g, &found[i], &kind)) {
            memset(w, 0, sizeof(*w));
            continue;
        }
        w->kind = kind;
        snprintf(w->title, sizeof(w->title), "%s", found[i].title);
        kept++;
    }
    g->n_ws = kept;
    log_debug("/proc scan: %d walsender(s) among %d children in %lld us", kept, n,
              (long long)(mono_us() - t0));
}

/*
 * Read postmaster.pid; log when it becomes unreadable or untrusted, once per
 * reason (a file that is not this directory's is refused, and says why).
 * The signal path is decided again whenever the file's state or its
 * postmaster (PID and start time) changes.
 */
static void read_pidfile(struct guard *g)
{
    char err[512] = "";
    enum pidfile_result prev = g->pf_state;
    int prev_pid = g->pf.pid;
    long long prev_start = g->pf.start_time;

    if (g->pgdata[0] == '\0') {
        g->pf_state = PIDFILE_MISSING;
        return;
    }
    g->pf_state = proc_read_pidfile(g->pgdata, &g->pf, err, sizeof(err));
    if (g->pf_state == PIDFILE_INVALID && (strcmp(err, g->pf_err) != 0 || !g->pf_read))
        log_warn("%s; not trusting it: no shutdown detection from it, no signal", err);
    if (g->pf_state == PIDFILE_MISSING && (prev != PIDFILE_MISSING || !g->pf_read))
        log_info("no postmaster.pid in \"%s\": PostgreSQL is not running there", g->pgdata);
    if (g->pf_state == PIDFILE_OK && (prev != PIDFILE_OK || !g->pf_read) &&
        !pgsql_connected(g->sql)) {
        int major = proc_read_major(g->pgdata);

        if (major)
            report_version(g, major);
    }
    snprintf(g->pf_err, sizeof(g->pf_err), "%s", g->pf_state == PIDFILE_OK ? "" : err);
    g->pf_read = true;
    if (g->pf_state == PIDFILE_INVALID ||
        (g->pf_state == PIDFILE_OK && (prev != PIDFILE_OK || !g->signal_ok ||
                                       g->pf.pid != prev_pid || g->pf.start_time != prev_start)))
        check_signal_path(g);
}

/* Is pf's postmaster (PID and start time, line 3) the one remembered in id? */
static bool same_postmaster(const struct pidfile *pf, const struct pm_ident *id)
{
    return id->pid != 0 && pf->pid == id->pid && pf->start_time == id->start_time;
}

/* Does the last read of postmaster.pid say "stopping"? */
static bool pidfile_stopping(const struct guard *g)
{
    /* a file left behind by a postmaster whose shutdown we saw end is stale;
       a new postmaster with the same PID (PID namespaces) is not that one */
    return g->pf_state == PIDFILE_OK && g->pf.status == PM_STATUS_STOPPING &&
           !same_postmaster(&g->pf, &g->done_pm);
}

/*
 * Has the postmaster we saw stopping exited?  With postmaster.pid: the file
 * is gone or names another postmaster (PID or start time), or its process
 * is gone.  Without it: the server stopped answering, or a new one accepts
 * sessions.
 */
static bool postmaster_gone(struct guard *g, bool sql_hint)
{
    if (!g->policy.stopping_seen)
        return false;
    if (g->stop_pm.pid == 0)
        return sql_hint;
    if (g->pf_state == PIDFILE_MISSING ||
        (g->pf_state == PIDFILE_OK && !same_postmaster(&g->pf, &g->stop_pm)))
        return true;
    return g->signal_ok && g->pf_state == PIDFILE_OK &&
           proc_check_postmaster(g->proc_root, &g->pf) != PM_PROC_MATCH;
}

/*
 * With the postmaster we saw stopping gone (SIGKILLed in the middle of a
 * shutdown, say by Patroni's escalation), list the logical walsenders it
 * left alive: the same processes (PID and start time recorded while they
 * were proven its children), now reparented.  Their shared memory keeps
 * PostgreSQL from starting again.  Replaces this tick's list.
 *
 * False, with no list, while one of them is still the postmaster's child:
 * the postmaster is then dying, not gone.  A SIGKILLed process stops
 * showing its working directory (and its postmaster.pid proof fails)
 * before the kernel hands its children to another parent; a list taken in
 * between would leave them out, and the policy, told the postmaster is
 * gone with nothing left, would forget them and end the shutdown while
 * they live on.  The next turn looks again.
 */
static bool orphan_scan(struct guard *g)
{
    int n = 0;

    free(g->ws);
    g->ws = NULL;
    g->n_ws = 0;
    for (int i = 0; i < g->policy.n; i++) {
        const struct walsender *w = &g->policy.t[i].w;
        struct proc_stat st;

        if (w->kind == WS_LOGICAL && w->start_ticks != 0 &&
            proc_read_stat(g->proc_root, w->pid, &st) && st.start_ticks == w->start_ticks &&
            st.ppid == g->stop_pm.pid) {
            log_debug("walsender %d is still a child of postmaster %d: the postmaster is "
                      "exiting, not gone yet",
                      w->pid, g->stop_pm.pid);
            return false;
        }
    }
    g->ws = calloc((size_t)(g->policy.n ? g->policy.n : 1), sizeof(*g->ws));
    if (g->ws == NULL)
        return true;
    for (int i = 0; i < g->policy.n; i++) {
        const struct walsender *w = &g->policy.t[i].w;
        struct proc_stat st;

        if (w->kind != WS_LOGICAL || w->start_ticks == 0 ||
            !proc_read_stat(g->proc_root, w->pid, &st) || st.start_ticks != w->start_ticks ||
            st.ppid == g->stop_pm.pid)
            continue;
        g->ws[n] = *w;
        g->ws[n].lsn_known = false;
        g->ws[n].orphaned = true;
        if (!g->policy.t[i].w.orphaned)
            log_warn("walsender %d (slot \"%s\") outlived postmaster %d (now a child of %d): "
                     "an orphan that keeps PostgreSQL from starting",
                     w->pid, w->slot, g->stop_pm.pid, st.ppid);
        n++;
    }
    g->n_ws = n;
    return true;
}

/*
 * Did a whole shutdown happen between two turns (the guard was not
 * scheduled, or stopped)?  The postmaster running at the last turn is gone
 * without a "stopping" seen: postmaster.pid is missing or names another
 * postmaster.  last is the one seen then; seen_pm is updated.
 */
static bool missed_shutdown(struct guard *g, const struct pm_ident *last)
{
    bool missed = false;

    if (g->policy.stopping_seen) {
        g->seen_pm = (struct pm_ident){0}; /* a shutdown under way: followed as such */
        return false;
    }
    if (g->pf_state == PIDFILE_OK) {
        missed = last->pid != 0 && !same_postmaster(&g->pf, last);
        if (g->pf.status != PM_STATUS_STOPPING)
            g->seen_pm = (struct pm_ident){.pid = g->pf.pid, .start_time = g->pf.start_time};
        if (missed)
            snprintf(g->missed_why, sizeof(g->missed_why),
                     "postmaster %d was replaced by %d: a shutdown between two turns", last->pid,
                     g->pf.pid);
    } else if (g->pf_state == PIDFILE_MISSING) {
        missed = last->pid != 0;
        g->seen_pm = (struct pm_ident){0};
        if (missed)
            snprintf(g->missed_why, sizeof(g->missed_why),
                     "postmaster %d and its postmaster.pid are gone: a shutdown between two turns",
                     last->pid);
    }
    return missed;
}

/*
 * When did the shutdown that postmaster.pid (just read and proven) reports
 * begin?  The postmaster writes "stopping" into it as it starts the shutdown
 * and does not write it again, so the file's change time (ctime: unlike the
 * mtime nobody can set it) is that moment, on the wall clock.  Returned on
 * the monotonic clock; 0 when unknown (no stat, a time before the
 * postmaster's own start, or in the future).
 */
static int64_t shutdown_began(struct guard *g, int64_t now)
{
    char path[PATH_MAX];
    struct stat st;
    struct timespec res;
    int64_t changed, ago;

    if (snprintf(path, sizeof(path), "%s/postmaster.pid", g->pgdata) >= (int)sizeof(path) ||
        stat(path, &st) != 0)
        return 0;
    /* file times come from the coarse clock: the write is up to one of its
       ticks later than the time stamped, and on an overloaded virtual machine
       more (about 30 ms was seen): a tick plus COARSE_LAG_MS, so that the
       deadline is a little late rather than early */
    if (clock_getres(CLOCK_REALTIME_COARSE, &res) != 0) {
        res.tv_sec = 0;
        res.tv_nsec = 10000000;
    }
    changed = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000 +
              (int64_t)res.tv_sec * 1000 + (res.tv_nsec + 999999) / 1000000 + COARSE_LAG_MS;
    ago = wall_ms() - changed;
    if (ago < 0 || st.st_ctim.tv_sec < g->pf.start_time)
        return 0;
    log_msg(ago >= 1000 ? LOG_INFO : LOG_DEBUG,
            "the shutdown began %lld ms ago (postmaster.pid changed then): the deadline counts "
            "from then",
            (long long)ago);
    return now - ago;
}

/* Gather this tick's facts into an observation for the policy. */
static void observe(struct guard *g, struct observation *obs)
{
    int64_t now = mono_ms();
    struct pm_ident last = g->seen_pm;
    bool pid_stopping, missed, sql_hint = false;

    free(g->ws);
    g->ws = NULL;
    g->n_ws = 0;
    read_pidfile(g);
    missed = missed_shutdown(g, &last);
    pid_stopping = pidfile_stopping(g);
    sql_check(g, now);
    if (!pid_stopping)
        sql_connect(g, now, &sql_hint);
    /* the shutdown is noticed first; the last snapshot comes a turn later */
    sql_poll(g, now, (pid_stopping || g->sql_stopping) && g->policy.stopping_seen);
    /* at the deadline, the pinned walsenders are signalled before anything is scanned */
    g->deadline_turn = g->policy.stopping_seen && g->policy.clock_running && !g->deadline_done &&
                       now >= g->policy.deadline_at_ms && g->pins.n > 0;
    if (!pgsql_connected(g->sql) && (pid_stopping || g->sql_stopping || g->policy.stopping_seen) &&
        !g->deadline_turn)
        proc_scan(g);
    memset(obs, 0, sizeof(*obs));
    obs->now_ms = now;
    obs->sql_up = pgsql_connected(g->sql);
    /*
     * A readable postmaster.pid is the authority: a 57P03 while it does not
     * say "stopping" comes from a server starting up (crash recovery) or a
     * standby that refuses sessions, not from a shutdown.
     */
    obs->stopping = missed || pid_stopping || (g->sql_stopping && g->pf_state != PIDFILE_OK);
    obs->stopping_why = missed         ? g->missed_why
                        : pid_stopping ? "postmaster.pid says \"stopping\""
                        : g->saw_57p01 ? "session ended with 57P01, reconnect refused with 57P03"
                                       : "new sessions refused with 57P03";
    if (missed)
        g->stop_pm = last; /* started and ended unseen: both in this turn */
    else if (obs->stopping && !g->policy.stopping_seen) {
        g->stop_pm.pid = g->pf_state == PIDFILE_OK ? g->pf.pid : 0;
        g->stop_pm.start_time = g->pf_state == PIDFILE_OK ? g->pf.start_time : 0;
        /* a guard that saw this postmaster run saw the stop begin (inotify):
           its own sight is never early; one started or restarted during the
           shutdown takes postmaster.pid's change time */
        if (pid_stopping && !same_postmaster(&g->pf, &last))
            obs->began_ms = shutdown_began(g, now);
    }
    obs->postmaster_gone = missed || postmaster_gone(g, sql_hint);
    /* a postmaster whose walsenders are still its children is not gone:
       nothing is observed this turn, the tracked set is kept */
    if (obs->postmaster_gone && g->stop_pm.pid != 0 && g->stop_pm.start_time > 0 && !orphan_scan(g))
        obs->postmaster_gone = false;
    obs->fresh = g->ws != NULL;
    obs->ws = g->ws;
    obs->n_ws = g->n_ws;
}

/*
 * Record a termination (or its failure, or a dry run's would-be) in the
 * audit log, the counters and the shutdown summary.  c: the API command
 * that asked for it, or NULL.
 */
void guard_audit_termination(struct guard *g, const struct tracked *t, const char *event,
                             const char *method, enum reason r, const char *sqlerr,
                             const char *error, const struct command *c)
{
    json_t *f = audit_walsender_fields(&t->w);
    bool done = strcmp(event, "terminated") == 0;

    if (method)
        json_object_set_new(f, "method", json_string(method));
    json_object_set_new(f, "reason", json_string(reason_name(r)));
    if (sqlerr && sqlerr[0])
        audit_set_string(f, "sql_error", sqlerr);
    if (error && error[0])
        audit_set_string(f, "error", error);
    if (c) {
        audit_set_string(f, "requester", c->requester);
        if (c->reason[0])
            audit_set_string(f, "note", c->reason);
    }
    if (done)
        g->c.terminations[strcmp(method, "sql") == 0 ? METHOD_SQL : METHOD_SIGNAL][r]++;
    else if (strcmp(event, "terminate_failed") == 0)
        g->c.terminate_failures[r]++;
    if (done && g->summary)
        json_array_append(g->summary, f);
    audit_emit(g->audit, event, f);
}

/*
 * Try SQL first?  While the session works, yes; once the server is shutting
 * down the signal is preferred when available: the server is ending the
 * session and a query on it could wait.
 */
bool guard_use_sql(const struct guard *g)
{
    return pgsql_connected(g->sql) && !(g->policy.stopping_seen && g->signal_ok);
}

/*
 * End one walsender: pg_terminate_backend() while the session works, else
 * (or when SQL refuses, e.g. a superuser's walsender) a verified SIGTERM.
 * Returns the method used, or NULL with err when neither worked; sqlerr
 * keeps why SQL was not enough, if it was tried.
 */
const char *guard_terminate(struct guard *g, const struct tracked *t, char *sqlerr,
                            size_t sqlerrlen, char *err, size_t errlen)
{
    struct proc_ident id = {.pid = t->w.pid, .start_ticks = t->w.start_ticks};
    bool signalled;

    sqlerr[0] = '\0';
    if (t->w.orphaned)
        return proc_terminate_orphan(g->proc_root, g->stop_pm.pid, g->stop_pm.start_time, &id,
                                     g->pg_major, err, errlen)
                   ? "signal"
                   : NULL;
    if (guard_use_sql(g)) {
        if (pgsql_terminate(g->sql, &t->w, TERMINATE_TIMEOUT_MS, &signalled, sqlerr, sqlerrlen) &&
            signalled)
            return "sql";
        if (sqlerr[0] == '\0')
            snprintf(sqlerr, sqlerrlen, "pg_terminate_backend(%d): no such walsender any more",
                     t->w.pid);
    }
    if (!g->signal_ok) {
        snprintf(err, errlen, "signal path unavailable: %s", g->signal_why);
        return NULL;
    }
    if (!proc_terminate(g->proc_root, &g->pf, &id, g->pg_major, t->w.kind == WS_LOGICAL, err,
                        errlen))
        return NULL;
    return "signal";
}

/*
 * Say once that a physical walsender outlives the deadline and will not be
 * ended (no --physical-deadline), and what bounds it: PostgreSQL's
 * wal_sender_timeout, which ends it only if its standby falls silent.
 */
static void report_holding(struct guard *g, const struct tracked *t)
{
    json_t *f = audit_walsender_fields(&t->w);
    int ms = g->info.wal_sender_timeout_ms;
    char bound[160];

    if (ms > 0)
        snprintf(bound, sizeof(bound), "wal_sender_timeout (%d ms) if its standby is silent", ms);
    else
        snprintf(bound, sizeof(bound), "%s",
                 g->info.version_num ? "nothing: wal_sender_timeout is 0"
                                     : "wal_sender_timeout (unknown)");
    audit_set_string(f, "bound", bound);
    audit_emit(g->audit, "holding", f);
    log_warn("physical walsender %d (\"%s\") is still there after the deadline and may hold the "
             "shutdown up; it is not ended without --physical-deadline; bound: %s",
             t->w.pid, t->w.application_name, bound);
}

/* Count a termination for the guard's own figures, when it was for the deadline. */
static void note_deadline_signal(struct guard *g, enum reason r, int64_t at_us)
{
    int64_t after = at_us - g->policy.deadline_at_ms * 1000;

    if (r != REASON_DEADLINE)
        return;
    if (g->dl_count++ == 0)
        g->dl_first_us = after;
    g->dl_last_us = after;
}

/*
 * Carry out one action of the policy and report its outcome back.
 * signalled: signal_pinned sent it its SIGTERM already; only the audit is left.
 */
static void act(struct guard *g, const struct action *a, int64_t now, bool signalled)
{
    struct tracked *t = &g->policy.t[a->index];
    char err[512] = "", sqlerr[256] = "";
    const char *method;

    switch (a->type) {
    case ACT_SKIP_EXCLUDED:
        log_warn("not terminating walsender %d: slot \"%s\" is excluded", t->w.pid, t->w.slot);
        return;
    case ACT_REPORT_HOLDING:
        report_holding(g, t);
        return;
    case ACT_REPORT_UNPROVEN:
        snprintf(err, sizeof(err),
                 "process %d (\"%s\") looks like a logical walsender, but PostgreSQL %d's titles "
                 "cannot prove it one without SQL, which never showed it: not signalled",
                 t->w.pid, t->w.title, g->pg_major);
        guard_audit_termination(g, t, "terminate_failed", NULL, a->reason, NULL, err, NULL);
        log_warn("%s; if it holds the shutdown up, end it by hand (kill -TERM %d)", err, t->w.pid);
        return;
    case ACT_WOULD_TERMINATE:
        guard_audit_termination(g, t, "would_terminate", guard_use_sql(g) ? "sql" : "signal",
                                a->reason, NULL, NULL, NULL);
        return;
    case ACT_TERMINATE:
        break;
    }
    method = signalled ? "signal" : guard_terminate(g, t, sqlerr, sizeof(sqlerr), err, sizeof(err));
    if (method && !signalled)
        note_deadline_signal(g, a->reason, mono_us());
    if (method) {
        if (!t->terminated)
            guard_audit_termination(g, t, "terminated", method, a->reason, sqlerr, NULL, NULL);
        policy_record(&g->policy, a->index, true, now);
        return;
    }
    if (!t->reported)
        guard_audit_termination(g, t, "terminate_failed", NULL, a->reason, sqlerr, err, NULL);
    else
        log_debug("terminating walsender %d failed again: %s", t->w.pid, err);
    policy_record(&g->policy, a->index, false, now);
}

/*
 * While a shutdown runs, this thread (not the HTTP API's) asks for
 * SCHED_FIFO at priority 1, and goes back to what it had when it ends.
 * Logical walsenders that hold a shutdown up spin (PostgreSQL's WalSndDone
 * loop): beside 200 of them a guard at nice 0 gets about a hundredth of a
 * core, and its turns stretch a hundredfold.  Allowed by RLIMIT_RTPRIO >= 1
 * (systemd: LimitRTPRIO=1) or CAP_SYS_NICE; otherwise said once, and the
 * guard runs as it was started (Nice= still helps).  The guard never spins
 * (TAP 002 counts its turns), and the kernel keeps 5 % of each core for
 * the others (sched_rt_runtime_us).
 */
static void realtime_during_shutdown(struct guard *g, bool on)
{
    struct sched_param sp = {.sched_priority = 1};
    int rc;

    if (on == g->rt_on || (on && g->rt_warned)) /* refused once: not asked again every turn */
        return;
    if (on && !g->rt_saved) {
        g->rt_saved = pthread_getschedparam(pthread_self(), &g->rt_policy, &g->rt_param) == 0;
        if (!g->rt_saved)
            return;
    }
    if (on && g->rt_policy != SCHED_OTHER)
        return; /* started with a real-time policy (chrt, CPUSchedulingPolicy=): kept */
    rc = on ? pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp)
            : pthread_setschedparam(pthread_self(), g->rt_policy, &g->rt_param);
    if (rc == 0) {
        g->rt_on = on;
        log_debug("%s", on ? "SCHED_FIFO while the shutdown runs" : "back to SCHED_OTHER");
    } else if (on && !g->rt_warned) {
        g->rt_warned = true;
        log_info("running at the priority it was started with during the shutdown: SCHED_FIFO "
                 "refused (%s); LimitRTPRIO=1 in the systemd unit allows it",
                 strerror(rc));
    }
}

/*
 * While a shutdown runs and the signal path is open, hold a pidfd for its
 * postmaster and for every logical walsender the deadline would end, each
 * proven after its pidfd was opened (proc_pin_walsender).  Then the deadline
 * costs one pidfd_send_signal per walsender, and the proof still holds: the
 * pidfd reaches that process or nothing, and a child's parent changes only
 * when the parent exits, which the postmaster's pidfd tells.  A walsender
 * not pinned (it appeared after the last scan) is proven when it is ended.
 */
static void pin_walsenders(struct guard *g)
{
    char err[512];

    if (!g->policy.stopping_seen || g->cfg.dry_run || !g->signal_ok || g->pf_state != PIDFILE_OK ||
        !same_postmaster(&g->pf, &g->stop_pm)) {
        if (g->pins.pm.pidfd >= 0 || g->pins.n > 0)
            proc_pinset_clear(&g->pins);
        return;
    }
    if (g->pins.pm.pidfd < 0 &&
        !proc_pin_postmaster(g->proc_root, &g->pf, &g->pins.pm, err, sizeof(err))) {
        log_debug("walsenders not pinned: postmaster %d: %s", g->pf.pid, err);
        return;
    }
    if (proc_pin_exited(&g->pins.pm)) {
        proc_pinset_clear(&g->pins);
        return;
    }
    for (int i = 0; i < g->policy.n; i++) {
        const struct tracked *t = &g->policy.t[i];
        struct proc_ident id = {.pid = t->w.pid, .start_ticks = t->w.start_ticks};
        struct proc_pin pin, *have;

        if (t->w.kind != WS_LOGICAL || t->w.orphaned || t->terminated || id.start_ticks == 0 ||
            config_slot_excluded(&g->cfg, t->w.slot))
            continue;
        if ((have = proc_pinset_find(&g->pins, &id, i)) != NULL)
            have->seen = have->pidfd >= 0; /* a failed one is released, pinned anew next turn */
        else if (g->pins.n >= g->max_pins)
            continue;
        else if (!proc_pin_walsender(g->proc_root, &g->pins.pm, &id, g->pg_major, true, &pin, err,
                                     sizeof(err)))
            log_debug("walsender %d not pinned: %s", id.pid, err);
        else if ((pin.seen = true, !proc_pinset_add(&g->pins, &pin)))
            log_error("out of memory pinning walsender %d", id.pid);
    }
    proc_pinset_sweep(&g->pins);
}

/*
 * Send SIGTERM, in one loop and before any audit line or log, to every
 * walsender this turn's actions end that is pinned; sent[i] is set for
 * those that got it (act() audits them; the others go the usual way, proven
 * anew).  Only while the signal path is preferred and the postmaster pinned
 * and alive.  Returns how many were sent.
 */
static int signal_pinned(struct guard *g, const struct policy_output *out, bool *sent)
{
    struct proc_pin **pin = calloc((size_t)out->n_act + 1, sizeof(*pin));
    int64_t t0 = mono_us(), t1 = t0;
    int n = 0, failed = 0;

    if (pin == NULL || guard_use_sql(g) || proc_pin_exited(&g->pins.pm)) {
        free(pin);
        return 0;
    }
    for (int i = 0; i < out->n_act; i++) {
        const struct tracked *t = &g->policy.t[out->act[i].index];
        struct proc_ident id = {.pid = t->w.pid, .start_ticks = t->w.start_ticks};

        if (out->act[i].type == ACT_TERMINATE && t->w.kind == WS_LOGICAL && !t->w.orphaned)
            pin[i] = proc_pinset_find(&g->pins, &id, out->act[i].index);
    }
    for (int i = 0; i < out->n_act; i++) {
        if (pin[i] == NULL || pin[i]->pidfd < 0)
            continue;
        sent[i] = proc_pin_signal(pin[i]);
        t1 = mono_us();
        if (sent[i]) {
            n++;
            note_deadline_signal(g, out->act[i].reason, t1);
        } else {
            log_debug("SIGTERM through the pidfd of walsender %d failed: %m; proving it anew",
                      pin[i]->ident.pid);
            proc_pin_release(pin[i]);
            failed++;
        }
    }
    free(pin);
    if (n > 0)
        log_info("sent SIGTERM to %d pinned walsender(s) in %lld us%s", n, (long long)(t1 - t0),
                 failed ? "; some pidfds failed, proving those anew" : "");
    return n;
}

/* Audit the start of a shutdown and open its summary. */
static void shutdown_started(struct guard *g, const struct observation *obs)
{
    json_t *f = json_object();
    int logical = 0;

    for (int i = 0; i < g->policy.n; i++)
        logical += g->policy.t[i].w.kind == WS_LOGICAL;
    audit_set_string(f, "trigger", obs->stopping_why);
    if (obs->began_ms > 0 && obs->began_ms < obs->now_ms) {
        /* when the shutdown began (postmaster.pid's change time), on the wall clock */
        char ts[40];

        render_time(wall_ms() - (obs->now_ms - obs->began_ms), ts, sizeof(ts));
        audit_set_string(f, "began", ts);
    }
    json_object_set_new(f, "postmaster_pid",
                        g->stop_pm.pid ? json_integer(g->stop_pm.pid) : json_null());
    json_object_set_new(f, "logical_walsenders", json_integer(logical));
    json_object_set_new(f, "deadline_ms", json_integer(g->cfg.deadline_ms));
    audit_emit(g->audit, "shutdown_started", f);
    g->c.shutdowns++;
    g->deadline_done = false;
    g->dl_count = 0;
    json_decref(g->summary);
    g->summary = json_array();
    g->shutdown_wall_ms = wall_ms();
}

/* Audit the end of a shutdown with what was done, and start over. */
static void shutdown_completed(struct guard *g)
{
    json_t *f = json_object();

    g->c.last_shutdown_ms = wall_ms() - g->shutdown_wall_ms;
    json_object_set_new(f, "duration_ms", json_integer(g->c.last_shutdown_ms));
    json_object_set_new(f, "postmaster_pid",
                        g->stop_pm.pid ? json_integer(g->stop_pm.pid) : json_null());
    json_object_set_new(f, "terminated", g->summary ? g->summary : json_array());
    json_object_set_new(f, "deadline_to_first_signal_us",
                        g->dl_count ? json_integer(g->dl_first_us) : json_null());
    json_object_set_new(f, "deadline_to_last_signal_us",
                        g->dl_count ? json_integer(g->dl_last_us) : json_null());
    json_object_set_new(f, "deadline_signals", json_integer(g->dl_count));
    g->summary = NULL;
    audit_emit(g->audit, "shutdown_completed", f);
    proc_pinset_clear(&g->pins);
    g->deadline_done = false;
    realtime_during_shutdown(g, false);
    g->done_pm = g->stop_pm;
    g->stop_pm.pid = 0;
    g->stop_pm.start_time = 0;
    g->saw_57p01 = g->sql_stopping = false;
    g->next_connect_ms = mono_ms();
    g->backoff_ms = BACKOFF_MIN_MS;
}

/* Ask the policy and carry out its answer. */
static void decide(struct guard *g, const struct observation *obs)
{
    struct policy_output out = {0};
    bool armed = g->policy.clock_running && !g->policy.stopping_seen;
    bool *sent;

    if (g->policy.clock_running && obs->now_ms >= g->policy.deadline_at_ms &&
        obs->now_ms - g->policy.deadline_at_ms < 1000)
        log_debug("deciding %lld ms after the deadline",
                  (long long)(obs->now_ms - g->policy.deadline_at_ms));
    if (!policy_step(&g->policy, obs, &out))
        log_error("out of memory while deciding; retrying");
    realtime_during_shutdown(g, g->policy.stopping_seen);
    pin_walsenders(g);
    sent = calloc((size_t)out.n_act + 1, sizeof(*sent));
    if (sent && out.n_act > 0)
        signal_pinned(g, &out, sent);
    if (g->deadline_turn) {
        g->deadline_done = true;
        g->turn_now = true; /* the scan skipped for the signals' sake */
    }
    for (int i = 0; i < out.n_trans; i++)
        log_info("state \"%s\" -> \"%s\": %s", phase_name(out.trans[i].from),
                 phase_name(out.trans[i].to), out.trans[i].why);
    if (out.shutdown_started)
        shutdown_started(g, obs);
    if (out.shutdown_started && !armed)
        g->c.arms[TRIGGER_SHUTDOWN]++;
    if (out.expired)
        audit_emit(g->audit, "disarmed", json_pack("{s:s}", "reason", "expired"));
    for (int i = 0; i < out.n_act; i++)
        act(g, &out.act[i], obs->now_ms, sent && sent[i]);
    free(sent);
    if (out.completed)
        shutdown_completed(g);
    policy_output_free(&out);
}

/*
 * Under a shutdown, close our own session once the last snapshot is taken
 * (the turn after the one that noticed it), so that a smart shutdown does not
 * wait for us.
 */
static void release_session(struct guard *g, bool snapshot_taken)
{
    if (!pgsql_connected(g->sql) || !g->policy.stopping_seen || !snapshot_taken)
        return;
    pgsql_disconnect(g->sql);
    log_info("closed own session: the server is shutting down");
}

/* Log the effective configuration (at start-up and after a reload). */
static void log_config(struct guard *g, const char *what)
{
    char dsn[1024];

    pgsql_scrub_dsn(g->cfg.dsn, dsn, sizeof(dsn));
    log_info("demotion-guard %s %s: dsn \"%s\", pgdata \"%s\", deadline %lldms, "
             "stall-after %lldms, kill-stalled-at-shutdown %s, poll-interval %lldms, "
             "physical-deadline %s, %d excluded slot pattern(s)%s",
             version_string(), what, dsn, g->pgdata, (long long)g->cfg.deadline_ms,
             (long long)g->cfg.stall_after_ms, g->cfg.kill_stalled ? "yes" : "no",
             (long long)g->cfg.poll_interval_ms, g->cfg.physical_deadline_ms < 0 ? "off" : "on",
             g->cfg.n_exclude_slot, g->cfg.dry_run ? ", dry run: nothing will be terminated" : "");
}

/* Check what the config loader cannot: libpq can parse the DSN, the data directory exists. */
static bool validate(const struct config *cfg, char *err, size_t errlen)
{
    struct http_tls tls;
    struct stat st;
    char why[512];

    if (!pgsql_check_dsn(cfg->dsn, why, sizeof(why))) {
        /* the value is not repeated: it may hold a password */
        snprintf(err, errlen, "invalid value for option \"--dsn\" (%s): %s",
                 config_origin(cfg, "dsn"), why);
        return false;
    }
    if (!http_listen_check(cfg->listen,
                           cfg->token_file != NULL || (cfg->tls_client_ca && cfg->tls_client_ca[0]),
                           why, sizeof(why))) {
        snprintf(err, errlen, "%s (source of --listen: %s)", why, config_origin(cfg, "listen"));
        return false;
    }
    if (!http_tls_read(cfg->listen, cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &tls, err,
                       errlen))
        return false;
    http_tls_free(&tls);
    if (cfg->token_file) {
        char *token;

        if (!http_token_read(cfg->token_file, &token, why, sizeof(why))) {
            snprintf(err, errlen, "invalid value for option \"--token-file\" (%s): %s",
                     config_origin(cfg, "token-file"), why);
            return false;
        }
        free(token);
    }
    if (cfg->pgdata == NULL || cfg->pgdata[0] == '\0')
        return true;
    if (stat(cfg->pgdata, &st) != 0) {
        snprintf(err, errlen, "invalid value \"%s\" for option \"--pgdata\": %s", cfg->pgdata,
                 strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "invalid value \"%s\" for option \"--pgdata\": not a directory",
                 cfg->pgdata);
        return false;
    }
    return true;
}

/* Keep the --listen in effect (a change takes a restart). */
static void set_listen(struct config *cfg, const char *listen)
{
    char *l = strdup(listen);

    if (l == NULL)
        return;
    free(cfg->listen);
    cfg->listen = l;
}

/* Read --token-file (validated already) and hand the token to the server. */
static void load_token(struct guard *g, const struct config *cfg)
{
    char err[512], *token = NULL;

    if (cfg->token_file && !http_token_read(cfg->token_file, &token, err, sizeof(err)))
        log_error("%s; POST requests are refused until it is fixed", err);
    if (cfg->token_file && token == NULL)
        token = strdup(""); /* matches no bearer: http_bearer_ok needs the exact token */
    free(g->token);
    g->token = token;
    if (g->http)
        http_set_token(g->http, g->token);
}

/*
 * Read the TLS files (validated already) and, when the API is up, restart
 * its listener with them; on failure the previous material stays in use.
 */
static void load_tls(struct guard *g, const struct config *cfg)
{
    struct http_tls tls;
    char err[512];

    if (!http_tls_read(cfg->listen, cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &tls, err,
                       sizeof(err))) {
        log_error("%s; keeping the previous TLS certificate", err);
        return;
    }
    if (http_tls_equal(&tls, &g->tls)) {
        http_tls_free(&tls);
        return;
    }
    if (g->http && !http_set_tls(g->http, &tls, err, sizeof(err))) {
        log_error("TLS not reloaded, keeping the previous certificate: %s", err);
        http_tls_free(&tls);
        return;
    }
    if (g->http)
        log_info("HTTP API on %s: TLS material reloaded%s", http_bound(g->http),
                 tls.cert ? "" : ", now plain HTTP");
    http_tls_free(&g->tls);
    g->tls = tls;
}

/* Start the HTTP API when due; a failure is logged and retried, never fatal. */
static void start_http(struct guard *g, int64_t now)
{
    char err[512];

    if (g->http || strcmp(g->cfg.listen, "off") == 0 || now < g->next_http_ms)
        return;
    g->http = http_start_tls(g->cfg.listen, g->token, &g->tls, err, sizeof(err));
    if (g->http) {
        log_info("HTTP API listening on %s%s%s", http_bound(g->http),
                 !g->tls.cert       ? ""
                 : g->tls.client_ca ? " (TLS, client certificates required)"
                                    : " (TLS)",
                 g->token ? " (POST requests need the bearer token)" : "");
        return;
    }
    log_msg(g->next_http_ms ? LOG_DEBUG : LOG_ERROR,
            "HTTP API not started: %s; guarding without it, retrying every %d s", err,
            HTTP_RETRY_MS / 1000);
    g->next_http_ms = now + HTTP_RETRY_MS;
}

/* Re-read the configuration; keep the old one if the new one is invalid. */
static void reload(struct guard *g)
{
    struct config nc;
    char err[CONFIG_ERR_LEN];

    if (!config_load(&nc, g->argc, g->argv, environ, err, sizeof(err)) ||
        !validate(&nc, err, sizeof(err))) {
        log_error("configuration not reloaded, keeping the previous one: %s", err);
        config_free(&nc);
        return;
    }
    if (strcmp(nc.listen, g->cfg.listen) != 0)
        log_warn("option \"--listen\" changed to \"%s\": that takes a restart; still serving "
                 "\"%s\"",
                 nc.listen, g->cfg.listen);
    set_listen(&nc, g->cfg.listen);
    /* the address still served must keep its token or mTLS */
    if (!http_listen_check(nc.listen,
                           nc.token_file != NULL || (nc.tls_client_ca && nc.tls_client_ca[0]), err,
                           sizeof(err))) {
        log_error("configuration not reloaded, keeping the previous one: %s", err);
        config_free(&nc);
        return;
    }
    if (strcmp(nc.dsn, g->cfg.dsn) != 0)
        pgsql_disconnect(g->sql);
    load_token(g, &nc);
    load_tls(g, &nc);
    config_free(&g->cfg);
    g->cfg = nc;
    g->policy.cfg = &g->cfg;
    log_setup(g->cfg.log_format, g->cfg.log_level);
    if (g->cfg.pgdata && strcmp(g->cfg.pgdata, g->pgdata) != 0) {
        snprintf(g->pgdata, sizeof(g->pgdata), "%s", g->cfg.pgdata);
        g->seen_pm = (struct pm_ident){0}; /* another directory's postmaster is no replacement */
    }
    watch_pgdata(g);
    audit_set_path(g->audit, g->cfg.audit_log);
    log_config(g, "configuration reloaded");
}

/* Read every pending inotify event; they only wake the loop up. */
static void drain_inotify(int fd, char *buf, size_t len)
{
    ssize_t n;

    /* a bounded number of reads, and a log line only for postmaster.pid:
       a log file written into the data directory must not feed the loop */
    for (int i = 0; i < 16 && (n = read(fd, buf, len)) > 0; i++)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;

            if (ev->len && strcmp(ev->name, "postmaster.pid") == 0)
                log_debug("inotify: mask 0x%x on postmaster.pid", ev->mask);
            p += sizeof(*ev) + ev->len;
        }
}

/*
 * Sleep until the next due time or an event: a signal, a postmaster.pid
 * change, input on the session.  Returns false when asked to stop.
 */
static bool wait_event(struct guard *g, bool *hup)
{
    struct pollfd pfd[4] = {{.fd = g->sigfd, .events = POLLIN},
                            {.fd = g->inofd, .events = POLLIN},
                            {.fd = pgsql_socket(g->sql), .events = POLLIN},
                            {.fd = g->http ? http_command_fd(g->http) : -1, .events = POLLIN}};
    int64_t now_us = mono_us(), now = now_us / 1000, at = policy_next_wakeup(&g->policy, now);
    int64_t deadline = g->policy.deadline_at_ms, wait_us;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct timespec ts;

    if (pgsql_connected(g->sql) && g->next_poll_ms < at)
        at = g->next_poll_ms;
    if (!pgsql_connected(g->sql) && !pidfile_stopping(g) && g->next_connect_ms < at)
        at = g->next_connect_ms; /* no attempts while postmaster.pid says stopping */
    if (g->policy.stopping_seen && pgsql_connected(g->sql))
        at = now; /* the last snapshot, then the session is closed */
    if (g->policy.stopping_seen || g->inowd < 0)
        at = at < now + SHUTDOWN_TICK_MS ? at : now + SHUTDOWN_TICK_MS;
    at = at < now + 1000 ? at : now + 1000;
    if (!g->http && strcmp(g->cfg.listen, "off") != 0 && g->next_http_ms < at)
        at = g->next_http_ms;
    if (g->policy.stopping_seen && g->policy.clock_running && at > now && at < deadline &&
        deadline - at < PRE_DEADLINE_QUIET_MS)
        at = deadline;
    if (g->turn_now)
        at = now;
    g->turn_now = false;
    /* to the microsecond: the turn that ends walsenders at the deadline
       starts when the deadline's millisecond does, not up to 1 ms later */
    wait_us = at > now ? at * 1000 - now_us : 0;
    ts.tv_sec = wait_us / 1000000;
    ts.tv_nsec = wait_us % 1000000 * 1000;
    if (ppoll(pfd, 4, &ts, NULL) < 0 && errno != EINTR)
        log_warn("poll failed: %m");
    if (pfd[1].revents & POLLIN)
        drain_inotify(g->inofd, buf, sizeof(buf));
    if (pfd[0].revents & POLLIN) {
        struct signalfd_siginfo si;

        while (read(g->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGHUP)
                *hup = true;
            else {
                log_info("received %s, stopping", strsignal((int)si.ssi_signo));
                return false;
            }
        }
    }
    return true;
}

/* How many pidfds may be held for the deadline: RLIMIT_NOFILE less what the rest needs. */
static int max_pins(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return MAX_PROC_WALSENDERS;
    if (rl.rlim_cur <= FDS_NOT_FOR_PINS)
        return 0;
    return rl.rlim_cur - FDS_NOT_FOR_PINS > MAX_PROC_WALSENDERS
               ? MAX_PROC_WALSENDERS
               : (int)(rl.rlim_cur - FDS_NOT_FOR_PINS);
}

/* Block the signals we read through signalfd and open the watchers. */
static bool setup(struct guard *g)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    g->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    g->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    g->inowd = -1;
    if (g->sigfd < 0) {
        log_error("could not create signalfd: %m");
        return false;
    }
    g->sql = pgsql_session_new();
    g->audit = audit_open(g->cfg.audit_log);
    if (g->sql == NULL || g->audit == NULL) {
        log_error("out of memory");
        return false;
    }
    g->backoff_ms = BACKOFF_MIN_MS;
    g->next_connect_ms = mono_ms();
    g->last_poll_us = -1;
    g->c.last_shutdown_ms = -1;
    proc_pinset_init(&g->pins);
    g->max_pins = max_pins();
    policy_init(&g->policy, &g->cfg, mono_ms());
    load_token(g, &g->cfg);
    load_tls(g, &g->cfg);
    start_http(g, mono_ms());
    watch_pgdata(g);
    read_pidfile(g);
    check_signal_path(g);
    return true;
}

/*
 * "demotion-guard run": load the configuration (exit 2 when it is wrong),
 * then loop until SIGTERM or SIGINT.
 */
int guard_run(int argc, char **argv)
{
    static struct guard g;
    char err[CONFIG_ERR_LEN];
    bool hup = false;

    g.argc = argc;
    g.argv = argv;
    g.proc_root = "/proc";
    if (!config_load(&g.cfg, argc, argv, environ, err, sizeof(err)) ||
        !validate(&g.cfg, err, sizeof(err))) {
        fprintf(stderr, "demotion-guard: %s\n", err);
        config_free(&g.cfg);
        return 2;
    }
    log_setup(g.cfg.log_format, g.cfg.log_level);
    if (g.cfg.pgdata)
        snprintf(g.pgdata, sizeof(g.pgdata), "%s", g.cfg.pgdata);
    log_config(&g, "starting");
    if (!setup(&g))
        return 1;
    notify_ready();
    /* the first turn at once: a guard started during a shutdown acts on it now */
    for (bool first = true; first || wait_event(&g, &hup); first = false) {
        struct command *cmds[MAX_COMMANDS];
        struct observation obs;
        bool was_stopping = g.policy.stopping_seen;
        int n_cmds = 0;

        if (hup) {
            hup = false;
            reload(&g);
        }
        if (g.http)
            command_take(&g, cmds, MAX_COMMANDS, &n_cmds);
        for (int i = 0; i < n_cmds; i++)
            command_run_early(&g, cmds[i]);
        observe(&g, &obs);
        decide(&g, &obs);
        for (int i = 0; i < n_cmds; i++)
            command_run_late(&g, cmds[i]);
        release_session(&g, was_stopping);
        audit_flush(g.audit);
        command_publish(&g);
        for (int i = 0; i < n_cmds; i++)
            command_answer(&g, cmds[i]);
        start_http(&g, mono_ms());
    }
    notify_stopping();
    http_stop(g.http);
    free(g.token);
    http_tls_free(&g.tls);
    pgsql_session_free(g.sql);
    audit_close(g.audit);
    policy_free(&g.policy);
    proc_pinset_clear(&g.pins);
    free(g.ws);
    json_decref(g.summary);
    config_free(&g.cfg);
    log_info("stopped");
    return 0;
}

/* Print the top-level usage. */
static void usage(FILE *out)
{
    fprintf(
        out,
        "demotion-guard ends logical walsenders that hold up a PostgreSQL shutdown\n\n"
        "usage:\n"
        "  demotion-guard run [options]   the daemon\n"
        "  demotion-guard status [--json | --watch [I]] | arm [--deadline D] [--reason R] |\n"
        "                 disarm | kill --slot S | --pid P | --stalled | --all-logical [--force]\n"
        "                                  clients of a running daemon (--url, --token-file;\n"
        "                                  \"demotion-guard status --help\")\n"
        "  demotion-guard check [--json]  would a stop now hang? (exit 0 no, 3 the guard\n"
        "                                  ends it, 4 it will not; \"check --help\")\n"
        "  demotion-guard hook before-stop | pre-promote | callback ACTION ROLE SCOPE\n"
        "                                  for Patroni (\"demotion-guard hook --help\")\n"
        "  demotion-guard --version | --help\n\n");
    config_usage(out);
    fprintf(out, "\ndurations: 250ms, 10s, 2m, 1h; exit codes: 0 ok, 1 runtime failure, 2 usage\n");
}

/* Dispatch the command line. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        version_print(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) {
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0) {
                usage(stdout);
                return 0;
            }
        return guard_run(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "check") == 0)
        return check_main(argc - 1, argv + 1);
    if (client_is_command(argv[1]))
        return client_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "hook") == 0)
        return hook_main(argc - 2, argv + 2);
    fprintf(stderr, "demotion-guard: unknown command \"%s\" (try --help)\n", argv[1]);
    return 2;
}
