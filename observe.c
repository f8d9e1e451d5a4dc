/*
 * observe.c - the observation of PostgreSQL: postmaster.pid, the SQL
 * snapshot and /proc, gathered each turn into one struct observation
 *
 * postmaster.pid says whether a shutdown runs and which postmaster runs it
 * (proven against /proc before the signal path opens); SQL gives the
 * complete list of walsenders while the server answers; once it stops
 * answering in a shutdown, /proc lists the postmaster's walsenders, and
 * after the postmaster is gone, the orphans it left.  The policy gets the
 * facts, never the sources.
 */
#include "observe.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "pgsql.h"
#include "pidfile.h"
#include "proc.h"
#include "session.h"

#define QUERY_TIMEOUT_MS 3000
#define COARSE_LAG_MS    50 /* how far file times may lag the write (see shutdown_began) */

/* Watch the data directory for postmaster.pid changes (best effort). */
void observe_watch_pgdata(struct guard *g)
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
void observe_check_signal_path(struct guard *g)
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
        ok = pidfile_can_signal(g->proc_root, &g->pf, why, sizeof(why));
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
 * directory's (pidfile_read), its postmaster proven (working there,
 * started when line 3 says) and our own backend a child of it.  A remote
 * server's path may name a local cluster.
 */
static void adopt_data_directory(struct guard *g)
{
    const struct ws_server_info *in = &g->info;
    struct pidfile pf;
    struct proc_stat st;
    char err[512];

    if (pidfile_read(in->data_directory, &pf, err, sizeof(err)) != PIDFILE_OK ||
        pidfile_prove_postmaster(g->proc_root, &pf, err, sizeof(err)) != PIDFILE_PROOF_MATCH) {
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
    observe_watch_pgdata(g);
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
void observe_read_pidfile(struct guard *g)
{
    char err[512] = "";
    enum pidfile_result prev = g->pf_state;
    int prev_pid = g->pf.pid;
    long long prev_start = g->pf.start_time;

    if (g->pgdata[0] == '\0') {
        g->pf_state = PIDFILE_MISSING;
        return;
    }
    g->pf_state = pidfile_read(g->pgdata, &g->pf, err, sizeof(err));
    if (g->pf_state == PIDFILE_INVALID && (strcmp(err, g->pf_err) != 0 || !g->pf_read))
        log_warn("%s; not trusting it: no shutdown detection from it, no signal", err);
    if (g->pf_state == PIDFILE_MISSING && (prev != PIDFILE_MISSING || !g->pf_read))
        log_info("no postmaster.pid in \"%s\": PostgreSQL is not running there", g->pgdata);
    if (g->pf_state == PIDFILE_OK && (prev != PIDFILE_OK || !g->pf_read) &&
        !pgsql_connected(g->sql)) {
        int major = pidfile_read_major(g->pgdata);

        if (major)
            report_version(g, major);
    }
    snprintf(g->pf_err, sizeof(g->pf_err), "%s", g->pf_state == PIDFILE_OK ? "" : err);
    g->pf_read = true;
    if (g->pf_state == PIDFILE_INVALID ||
        (g->pf_state == PIDFILE_OK && (prev != PIDFILE_OK || !g->signal_ok ||
                                       g->pf.pid != prev_pid || g->pf.start_time != prev_start)))
        observe_check_signal_path(g);
}

/* Is pf's postmaster (PID and start time, line 3) the one remembered in id? */
bool observe_same_postmaster(const struct pidfile *pf, const struct pm_ident *id)
{
    return id->pid != 0 && pf->pid == id->pid && pf->start_time == id->start_time;
}

/* Does the last read of postmaster.pid say "stopping"? */
bool observe_pidfile_stopping(const struct guard *g)
{
    /* a file left behind by a postmaster whose shutdown we saw end is stale;
       a new postmaster with the same PID (PID namespaces) is not that one */
    return g->pf_state == PIDFILE_OK && g->pf.status == PIDFILE_STATUS_STOPPING &&
           !observe_same_postmaster(&g->pf, &g->done_pm);
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
        (g->pf_state == PIDFILE_OK && !observe_same_postmaster(&g->pf, &g->stop_pm)))
        return true;
    return g->signal_ok && g->pf_state == PIDFILE_OK &&
           pidfile_check_postmaster(g->proc_root, &g->pf) != PIDFILE_PROOF_MATCH;
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
        missed = last->pid != 0 && !observe_same_postmaster(&g->pf, last);
        if (g->pf.status != PIDFILE_STATUS_STOPPING)
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
void observe_turn(struct guard *g, struct observation *obs)
{
    int64_t now = mono_ms();
    struct pm_ident last = g->seen_pm;
    bool pid_stopping, missed, sql_hint = false;

    free(g->ws);
    g->ws = NULL;
    g->n_ws = 0;
    observe_read_pidfile(g);
    missed = missed_shutdown(g, &last);
    pid_stopping = observe_pidfile_stopping(g);
    session_check(g, now);
    if (!pid_stopping && session_connect(g, now, &sql_hint))
        report_privileges(g);
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
        if (pid_stopping && !observe_same_postmaster(&g->pf, &last))
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
