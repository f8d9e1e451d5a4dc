/*
 * guard.c - the daemon: the event loop, the state machine driver, the
 * deadline's pinned walsenders and its one signalling loop
 *
 * Each turn of the loop waits for something to happen (a signal, a change
 * to postmaster.pid, data on the SQL session, a due time), observes
 * PostgreSQL (observe.c), asks the policy what to do and does it.  The
 * loop never blocks on PostgreSQL for longer than a query timeout and never
 * exits on a runtime failure.
 */
#include "guard.h"

#include <errno.h>
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
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "command.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "observe.h"
#include "pgsql.h"
#include "pidfile.h"
#include "policy.h"
#include "proc.h"
#include "render.h"
#include "session.h"
#include "settings.h"
#include "terminate.h"

#define SHUTDOWN_TICK_MS 100
#define HTTP_RETRY_MS    10000
#define MAX_COMMANDS     32
/* a turn due this close before the deadline waits for the deadline instead:
   a /proc scan then would still be running when the deadline comes */
#define PRE_DEADLINE_QUIET_MS 30
/* file descriptors kept free of pins, for everything else the guard opens */
#define FDS_NOT_FOR_PINS 128

extern char **environ;

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
    enum method method = METHOD_SIGNAL;
    bool done;

    switch (a->type) {
    case ACT_SKIP_EXCLUDED:
        log_warn("not terminating walsender %d: slot \"%s\" is excluded", t->w.pid, t->w.slot);
        return;
    case ACT_REPORT_HOLDING:
        terminate_report_holding(g, t);
        return;
    case ACT_REPORT_UNPROVEN:
        snprintf(err, sizeof(err),
                 "process %d (\"%s\") looks like a logical walsender, but PostgreSQL %d's titles "
                 "cannot prove it one without SQL, which never showed it: not signalled",
                 t->w.pid, t->w.title, g->pg_major);
        terminate_audit(g, t, TERMINATE_FAILED, METHOD_SIGNAL, a->reason, NULL, err, NULL);
        log_warn("%s; if it holds the shutdown up, end it by hand (kill -TERM %d)", err, t->w.pid);
        return;
    case ACT_WOULD_TERMINATE:
        terminate_audit(g, t, TERMINATE_WOULD_END, terminate_method(g), a->reason, NULL, NULL,
                        NULL);
        return;
    case ACT_TERMINATE:
        break;
    }
    done =
        signalled || terminate_walsender(g, t, &method, sqlerr, sizeof(sqlerr), err, sizeof(err));
    if (done && !signalled)
        note_deadline_signal(g, a->reason, mono_us());
    if (done) {
        if (!t->terminated)
            terminate_audit(g, t, TERMINATE_ENDED, method, a->reason, sqlerr, NULL, NULL);
        policy_record(&g->policy, a->index, true, now);
        return;
    }
    if (!t->reported)
        terminate_audit(g, t, TERMINATE_FAILED, method, a->reason, sqlerr, err, NULL);
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
        !observe_same_postmaster(&g->pf, &g->stop_pm)) {
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

        if (id.start_ticks == 0 || !policy_deadline_target(&g->policy, t))
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

    if (pin == NULL || terminate_use_sql(g) || proc_pin_exited(&g->pins.pm)) {
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
    session_connect_now(g, mono_ms());
}

/* Ask the policy and carry out its answer. */
static void ask_policy(struct guard *g, const struct observation *obs)
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
    if (!pgsql_connected(g->sql) && !observe_pidfile_stopping(g) && g->next_connect_ms < at)
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
    session_connect_now(g, mono_ms());
    g->last_poll_us = -1;
    g->c.last_shutdown_ms = -1;
    proc_pinset_init(&g->pins);
    g->max_pins = max_pins();
    policy_init(&g->policy, &g->cfg, mono_ms());
    settings_load_token(g, &g->cfg);
    settings_load_tls(g, &g->cfg);
    start_http(g, mono_ms());
    observe_watch_pgdata(g);
    observe_read_pidfile(g);
    observe_check_signal_path(g);
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
        !settings_check(&g.cfg, err, sizeof(err))) {
        fprintf(stderr, "demotion-guard: %s\n", err);
        config_free(&g.cfg);
        return 2;
    }
    log_setup(g.cfg.log_format, g.cfg.log_level);
    if (g.cfg.pgdata)
        snprintf(g.pgdata, sizeof(g.pgdata), "%s", g.cfg.pgdata);
    settings_log(&g, "starting");
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
            settings_reload(&g);
        }
        if (g.http)
            command_take(&g, cmds, MAX_COMMANDS, &n_cmds);
        for (int i = 0; i < n_cmds; i++)
            command_run_early(&g, cmds[i]);
        observe_turn(&g, &obs);
        ask_policy(&g, &obs);
        for (int i = 0; i < n_cmds; i++)
            command_run_late(&g, cmds[i]);
        session_release(&g, was_stopping);
        audit_flush(g.audit);
        command_publish(&g);
        for (int i = 0; i < n_cmds; i++)
            command_answer(&g, cmds[i]);
        start_http(&g, mono_ms());
    }
    notify_stopping();
    http_stop(g.http);
    free(g.token);
    tls_free(&g.tls);
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
