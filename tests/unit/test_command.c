/*
 * test_command.c - command.c, what the HTTP API asks of the loop, run on a
 * guard whose /proc and data directory are fakes (fake_proc.h) and whose
 * walsenders s1 and s2 are real children of this test, so that a kill's
 * verified SIGTERM reaches a process: arm (the answer, the audit's
 * deadline_left_ms, the counter, the phase noted late, a peer's arm),
 * disarm (done, nothing armed, refused in a shutdown), Patroni callbacks,
 * kills (by slot, by pid, a selection with an excluded slot and with
 * force, a dry run and the method it would use, a failed kill 500, refused
 * kills 409, neither path 503), and one turn through a real HTTP server
 */
#include "fake_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "audit.h"
#include "clock.h"
#include "command.h"
#include "http.h"
#include "pgsql.h"
#include "pidfile.h"

enum { N_KIDS = 2 };

struct fixture {
    void *dir; /* the temporary directory (unit_util.h) */
    char path[PATH_MAX], root[PATH_MAX];
    char *exclude;
    pid_t kids[N_KIDS]; /* the walsenders of slots s1 and s2, real processes */
    struct guard *g;
};

/* The fake /proc start of kid i (seconds after boot). */
#define KID_START(i) (300 + (i))

/* Add one walsender, caught up, to ws. */
static void add_ws(struct walsender *ws, int *n, int pid, unsigned long long ticks,
                   enum ws_kind kind, const char *slot)
{
    struct walsender *w = &ws[(*n)++];

    memset(w, 0, sizeof(*w));
    w->pid = pid;
    w->start_ticks = ticks;
    w->kind = kind;
    w->lsn_known = true;
    w->sent_lsn = w->write_lsn = w->flush_lsn = 0x3000000;
    snprintf(w->slot, sizeof(w->slot), "%s", slot);
    snprintf(w->application_name, sizeof(w->application_name), "app%d", pid);
}

/*
 * Show the policy this turn's list (SQL up, fresh): s1 and s2 (logical,
 * the two children, while they run), a physical walsender and an unproven
 * one; stopping: the server shuts down.
 */
static void observe(struct fixture *fx, bool stopping)
{
    struct walsender ws[4];
    struct policy_output out = {0};
    int n = 0;

    for (int i = 0; i < N_KIDS; i++)
        if (fx->kids[i] > 0)
            add_ws(ws, &n, fx->kids[i], ticks_at(KID_START(i)), WS_LOGICAL, i ? "s2" : "s1");
    add_ws(ws, &n, PHYSICAL_PID, ticks_at(201), WS_PHYSICAL, "phys");
    add_ws(ws, &n, 1005, ticks_at(203), WS_UNPROVEN, "");
    struct observation obs = {.now_ms = mono_ms(),
                              .sql_up = true,
                              .stopping = stopping,
                              .stopping_why = "postmaster.pid says \"stopping\"",
                              .fresh = true,
                              .ws = ws,
                              .n_ws = n};
    assert_true(policy_step(&fx->g->policy, &obs, &out));
    policy_output_free(&out);
    assert_int_equal(fx->g->policy.n, n);
}

/*
 * A guard with no SQL session (never connected) and the signal path open:
 * postmaster.pid read from the fake data directory, its postmaster proven
 * in the fake /proc, where s1 and s2 are that postmaster's walsenders.
 * Slot s2 is excluded; the audit log is in the temporary directory.
 */
static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct guard *g;

    assert_non_null(fx);
    assert_int_equal(ut_tmpdir_setup(&fx->dir), 0);
    ut_path(fx->path, fx->dir, "audit.json");
    fake_tree(fx->dir, fx->root);
    fx->g = g = calloc(1, sizeof(*fx->g));
    assert_non_null(g);
    g->cfg.deadline_ms = 10000;
    g->cfg.stall_after_ms = 30000;
    g->cfg.kill_stalled = true;
    g->cfg.poll_interval_ms = 1000;
    g->cfg.physical_deadline_ms = -1;
    fx->exclude = strdup("s2");
    g->cfg.exclude_slot[0] = fx->exclude;
    g->cfg.n_exclude_slot = 1;
    g->audit = audit_open(fx->path);
    g->sql = pgsql_session_new();
    assert_non_null(g->audit);
    assert_non_null(g->sql);
    g->proc_root = fx->root;
    snprintf(g->pgdata, sizeof(g->pgdata), "%s", fixture_datadir);
    g->pf = fake_pidfile(BTIME + 100);
    g->pf_state = PIDFILE_OK;
    g->pg_major = 15;
    g->signal_ok = true;
    for (int i = 0; i < N_KIDS; i++) {
        fx->kids[i] = spawn_sleeper();
        fake_process(fx->root, fx->kids[i], PM_PID, ticks_at(KID_START(i)), TITLE_LOGICAL);
    }
    policy_init(&g->policy, &g->cfg, mono_ms());
    observe(fx, false);
    *state = fx;
    return 0;
}

/* Has kid i been ended by a SIGTERM (reaped: it is gone)?  False while it still runs. */
static bool kid_terminated(struct fixture *fx, int i)
{
    int st;

    for (int tries = 0; tries < 200; tries++) {
        pid_t r = waitpid(fx->kids[i], &st, WNOHANG);

        if (r == fx->kids[i]) {
            fx->kids[i] = 0;
            return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
        }
        usleep(5000);
    }
    return false;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    for (int i = 0; i < N_KIDS; i++)
        if (fx->kids[i] > 0) {
            kill(fx->kids[i], SIGKILL);
            waitpid(fx->kids[i], NULL, 0);
        }
    audit_close(fx->g->audit);
    pgsql_session_free(fx->g->sql);
    policy_free(&fx->g->policy);
    free(fx->g);
    free(fx->exclude);
    ut_tmpdir_teardown(&fx->dir);
    free(fx);
    return 0;
}

/* A command as the HTTP layer hands it over. */
static struct command new_command(enum command_type type, const char *reason)
{
    struct command c = {.type = type, .deadline_ms = -1, .trigger = TRIGGER_API};

    snprintf(c.requester, sizeof(c.requester), "unix");
    snprintf(c.reason, sizeof(c.reason), "%s", reason);
    return c;
}

/* The audit log's lines of one event, parsed (the caller frees the array). */
static json_t *events(struct fixture *fx, const char *event)
{
    json_t *a = json_array();
    char *text, *line, *save = NULL;

    audit_flush(fx->g->audit);
    text = ut_read_file(fx->path);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);

        assert_non_null(o);
        if (strcmp(json_string_value(json_object_get(o, "event")), event) == 0)
            json_array_append(a, o);
        json_decref(o);
    }
    free(text);
    return a;
}

/* The integer at key of an object. */
static json_int_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* An arm: 200 with the time left, audited as deadline_left_ms, counted, the phase noted late. */
static void test_arm(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_ARM, "maintenance");
    json_t *a;

    c.deadline_ms = 5000;
    command_run_early(fx->g, &c);
    assert_int_equal(c.status, 200);
    assert_string_equal(json_string_value(json_object_get(c.body, "trigger")), "api");
    assert_string_equal(json_string_value(json_object_get(c.body, "reason")), "maintenance");
    assert_int_equal(num(c.body, "deadline_left_ms"), 5000);
    assert_non_null(json_object_get(c.body, "deadline_at"));
    assert_int_equal(fx->g->c.arms[TRIGGER_API], 1);
    assert_true(fx->g->policy.clock_running);
    command_run_late(fx->g, &c);
    assert_string_equal(json_string_value(json_object_get(c.body, "phase")), "armed");
    a = events(fx, "armed");
    assert_int_equal(json_array_size(a), 1);
    assert_int_equal(num(json_array_get(a, 0), "deadline_left_ms"), 5000);
    assert_null(json_object_get(json_array_get(a, 0), "deadline_ms"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "requester")),
                        "unix");
    json_decref(a);
    json_decref(c.body);
}

/* Without a deadline in the request the configured one applies. */
static void test_arm_default_deadline(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_ARM, "");
    json_t *a;

    command_run_early(fx->g, &c);
    assert_int_equal(c.status, 200);
    assert_int_equal(num(c.body, "deadline_left_ms"), 10000);
    assert_string_equal(json_string_value(json_object_get(c.body, "reason")), "api");
    a = events(fx, "armed");
    assert_int_equal(num(json_array_get(a, 0), "deadline_left_ms"), 10000);
    json_decref(a);
    json_decref(c.body);
}

/* Disarm: was_armed tells whether an arm ended; audited only then. */
static void test_disarm(void **state)
{
    struct fixture *fx = *state;
    struct command arm = new_command(CMD_ARM, ""), d1 = new_command(CMD_DISARM, "done"),
                   d2 = new_command(CMD_DISARM, "");
    json_t *a;

    command_run_early(fx->g, &arm);
    command_run_early(fx->g, &d1);
    assert_int_equal(d1.status, 200);
    assert_true(json_is_true(json_object_get(d1.body, "was_armed")));
    assert_false(fx->g->policy.clock_running);
    command_run_early(fx->g, &d2);
    assert_int_equal(d2.status, 200);
    assert_true(json_is_false(json_object_get(d2.body, "was_armed")));
    a = events(fx, "disarmed");
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "note")), "done");
    json_decref(a);
    json_decref(arm.body);
    json_decref(d1.body);
    json_decref(d2.body);
}

/* While the server shuts down the deadline stays: 409. */
static void test_disarm_refused_in_shutdown(void **state)
{
    struct fixture *fx = *state;
    struct command d = new_command(CMD_DISARM, "");

    fx->g->policy.stopping_seen = true;
    command_run_early(fx->g, &d);
    assert_int_equal(d.status, 409);
    assert_string_equal(json_string_value(json_object_get(d.body, "error")), "conflict");
    json_decref(d.body);
}

/* Patroni's on_role_change ends an arm (reset); on_start does not. */
static void test_callback(void **state)
{
    struct fixture *fx = *state;
    struct command arm = new_command(CMD_ARM, ""), start = new_command(CMD_CALLBACK, ""),
                   change = new_command(CMD_CALLBACK, "");
    json_t *a;

    snprintf(start.action, sizeof(start.action), "on_start");
    snprintf(change.action, sizeof(change.action), "on_role_change");
    snprintf(change.role, sizeof(change.role), "replica");
    command_run_early(fx->g, &arm);
    command_run_early(fx->g, &start);
    assert_true(json_is_false(json_object_get(start.body, "reset")));
    assert_true(fx->g->policy.clock_running);
    command_run_early(fx->g, &change);
    assert_true(json_is_true(json_object_get(change.body, "reset")));
    assert_false(fx->g->policy.clock_running);
    a = events(fx, "patroni_callback");
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    json_decref(arm.body);
    json_decref(start.body);
    json_decref(change.body);
}

/* A kill with no session and no signal path: 503, saying why for both. */
static void test_kill_unavailable(void **state)
{
    struct fixture *fx = *state;
    struct command k = new_command(CMD_KILL, "");
    const char *detail;

    fx->g->signal_ok = false;
    snprintf(fx->g->signal_why, sizeof(fx->g->signal_why), "no postmaster.pid");
    k.sel = KILL_ALL_LOGICAL;
    command_run_early(fx->g, &k); /* a kill only asks for a fresh snapshot early */
    assert_null(k.body);
    command_run_late(fx->g, &k);
    assert_int_equal(k.status, 503);
    detail = json_string_value(json_object_get(k.body, "detail"));
    assert_non_null(strstr(detail, "no session"));
    assert_non_null(strstr(detail, "no postmaster.pid"));
    json_decref(k.body);
}

/* Run c as the loop does: early, then late. */
static void run(struct fixture *fx, struct command *c)
{
    command_run_early(fx->g, c);
    command_run_late(fx->g, c);
}

/* The string member key of the answer's body. */
static const char *body_str(const struct command *c, const char *key)
{
    json_t *v = json_object_get(c->body, key);

    if (!json_is_string(v))
        fail_msg("answer has no string \"%s\"", key);
    return json_string_value(v);
}

/* Target i of a kill's answer. */
static json_t *target(const struct command *c, size_t i)
{
    json_t *ts = json_object_get(c->body, "targets");

    assert_true(json_is_array(ts));
    assert_true(i < json_array_size(ts));
    return json_array_get(ts, i);
}

/* The string member key of target i, or NULL when absent or null. */
static const char *target_str(const struct command *c, size_t i, const char *key)
{
    return json_string_value(json_object_get(target(c, i), key));
}

/* Is kid i still running (not reaped)? */
static bool kid_alive(struct fixture *fx, int i)
{
    return fx->kids[i] > 0 && waitpid(fx->kids[i], NULL, WNOHANG) == 0;
}

/* The string member key of audit line i of event. */
static const char *event_str(const json_t *a, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(a, i), key));
}

/*
 * An arm with a free-text reason answers and audits it as given; a
 * pre_promote arm is a peer's (the deadline waits for a stop seen here) and
 * is counted apart; the policy's trigger names the requester.
 */
static void test_arm_reason_and_peer(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_ARM, "patroni before_stop"), d = new_command(CMD_DISARM, ""),
                   p = new_command(CMD_ARM, "");
    json_t *a;

    c.trigger = TRIGGER_BEFORE_STOP;
    run(fx, &c);
    assert_int_equal(c.status, 200);
    assert_string_equal(body_str(&c, "trigger"), "before_stop");
    assert_string_equal(body_str(&c, "reason"), "patroni before_stop");
    assert_false(fx->g->policy.needs_stop);
    assert_int_equal(fx->g->c.arms[TRIGGER_BEFORE_STOP], 1);
    assert_non_null(strstr(fx->g->policy.trigger, "armed by unix (patroni before_stop)"));
    a = events(fx, "armed");
    assert_string_equal(event_str(a, 0, "trigger"), "before_stop");
    assert_string_equal(event_str(a, 0, "reason"), "patroni before_stop");
    json_decref(a);
    run(fx, &d);
    assert_string_equal(body_str(&d, "phase"), "observing");
    p.trigger = TRIGGER_PRE_PROMOTE;
    run(fx, &p);
    assert_int_equal(p.status, 200);
    assert_string_equal(body_str(&p, "trigger"), "pre_promote");
    assert_string_equal(body_str(&p, "reason"), "pre_promote");
    assert_true(fx->g->policy.needs_stop);
    assert_int_equal(fx->g->c.arms[TRIGGER_PRE_PROMOTE], 1);
    assert_int_equal(fx->g->c.arms[TRIGGER_API], 0);
    json_decref(c.body);
    json_decref(d.body);
    json_decref(p.body);
}

/* During a shutdown Patroni's on_stop resets nothing: the deadline stays. */
static void test_callback_in_shutdown(void **state)
{
    struct fixture *fx = *state;
    struct command arm = new_command(CMD_ARM, ""), stop = new_command(CMD_CALLBACK, "");
    json_t *a;

    run(fx, &arm);
    observe(fx, true);
    snprintf(stop.action, sizeof(stop.action), "on_stop");
    snprintf(stop.role, sizeof(stop.role), "primary");
    snprintf(stop.scope, sizeof(stop.scope), "demo");
    run(fx, &stop);
    assert_int_equal(stop.status, 200);
    assert_true(json_is_false(json_object_get(stop.body, "reset")));
    assert_true(fx->g->policy.clock_running);
    a = events(fx, "patroni_callback");
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(event_str(a, 0, "action"), "on_stop");
    assert_string_equal(event_str(a, 0, "scope"), "demo");
    assert_true(json_is_false(json_object_get(json_array_get(a, 0), "reset")));
    json_decref(a);
    json_decref(arm.body);
    json_decref(stop.body);
}

/*
 * A kill asks for a fresh list early and acts late: slot s1's walsender
 * gets a verified SIGTERM (no session: the signal path), the answer lists
 * it with the method and no phase, the termination is audited with reason
 * api and the requester, counted, and recorded in the policy; s2 lives.
 */
static void test_kill_slot(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_KILL, "rebalance");
    json_t *a;

    c.sel = KILL_SLOT;
    snprintf(c.slot, sizeof(c.slot), "s1");
    fx->g->next_poll_ms = mono_ms() + 60000;
    command_run_early(fx->g, &c);
    assert_true(fx->g->next_poll_ms <= mono_ms());
    assert_null(c.body);
    command_run_late(fx->g, &c);
    assert_int_equal(c.status, 200);
    assert_int_equal(json_array_size(json_object_get(c.body, "targets")), 1);
    assert_int_equal(json_integer_value(json_object_get(target(&c, 0), "pid")), fx->kids[0]);
    assert_string_equal(target_str(&c, 0, "slot"), "s1");
    assert_string_equal(target_str(&c, 0, "kind"), "logical");
    assert_non_null(target_str(&c, 0, "application_name"));
    assert_string_equal(target_str(&c, 0, "result"), "terminated");
    assert_string_equal(target_str(&c, 0, "method"), "signal");
    assert_true(json_is_null(json_object_get(target(&c, 0), "error")));
    assert_null(json_object_get(c.body, "phase"));
    assert_true(kid_terminated(fx, 0));
    assert_true(kid_alive(fx, 1));
    assert_true(fx->g->policy.t[0].terminated);
    assert_int_equal(fx->g->c.terminations[METHOD_SIGNAL][REASON_API], 1);
    a = events(fx, "terminated");
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(event_str(a, 0, "reason"), "api");
    assert_string_equal(event_str(a, 0, "method"), "signal");
    assert_string_equal(event_str(a, 0, "requester"), "unix");
    assert_string_equal(event_str(a, 0, "note"), "rebalance");
    json_decref(a);
    json_decref(c.body);
}

/*
 * A kill by pid whose process fails its proof (another start time: the PID
 * was reused) answers 500 terminate_failed, the target "failed" with the
 * error and no method, audited as terminate_failed; nothing is signalled.
 */
static void test_kill_failed(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_KILL, "");
    json_t *a;

    fake_process(fx->root, fx->kids[0], PM_PID, ticks_at(KID_START(0)) + 1, TITLE_LOGICAL);
    c.sel = KILL_PID;
    c.pid = fx->kids[0];
    run(fx, &c);
    assert_int_equal(c.status, 500);
    assert_string_equal(body_str(&c, "error"), "terminate_failed");
    assert_string_equal(body_str(&c, "detail"), "a target could not be terminated");
    assert_string_equal(target_str(&c, 0, "result"), "failed");
    assert_true(json_is_null(json_object_get(target(&c, 0), "method")));
    assert_non_null(strstr(target_str(&c, 0, "error"), "PID reused"));
    assert_true(kid_alive(fx, 0));
    assert_false(fx->g->policy.t[0].terminated);
    assert_int_equal(fx->g->c.terminate_failures[REASON_API], 1);
    a = events(fx, "terminate_failed");
    assert_int_equal(json_array_size(a), 1);
    assert_null(json_object_get(json_array_get(a, 0), "method"));
    assert_non_null(strstr(event_str(a, 0, "error"), "PID reused"));
    json_decref(a);
    json_decref(c.body);
}

/*
 * A selection of every logical walsender ends s1 and lists excluded s2 as
 * "excluded", untouched and without a method; physical and unproven ones
 * are never listed.  With force s2 is ended too.
 */
static void test_kill_all_logical(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_KILL, ""), f = new_command(CMD_KILL, "");

    c.sel = KILL_ALL_LOGICAL;
    run(fx, &c);
    assert_int_equal(c.status, 200);
    assert_int_equal(json_array_size(json_object_get(c.body, "targets")), 2);
    assert_string_equal(target_str(&c, 0, "slot"), "s1");
    assert_string_equal(target_str(&c, 0, "result"), "terminated");
    assert_string_equal(target_str(&c, 1, "slot"), "s2");
    assert_string_equal(target_str(&c, 1, "result"), "excluded");
    assert_true(json_is_null(json_object_get(target(&c, 1), "method")));
    assert_true(kid_terminated(fx, 0));
    assert_true(kid_alive(fx, 1));
    observe(fx, false); /* the next turn: s1 is gone */
    f.sel = KILL_ALL_LOGICAL;
    f.force = true;
    run(fx, &f);
    assert_int_equal(f.status, 200);
    assert_int_equal(json_array_size(json_object_get(f.body, "targets")), 1);
    assert_string_equal(target_str(&f, 0, "slot"), "s2");
    assert_string_equal(target_str(&f, 0, "result"), "terminated");
    assert_true(kid_terminated(fx, 1));
    assert_int_equal(fx->g->c.terminations[METHOD_SIGNAL][REASON_API], 2);
    json_decref(c.body);
    json_decref(f.body);
}

/*
 * Under --dry-run a kill ends nothing: each target is "would_terminate"
 * with the method a termination would use now (the signal: no session),
 * audited as such and not counted.
 */
static void test_kill_dry_run(void **state)
{
    struct fixture *fx = *state;
    struct command c = new_command(CMD_KILL, "");
    json_t *a;

    fx->g->cfg.dry_run = true;
    c.sel = KILL_PID;
    c.pid = fx->kids[0];
    run(fx, &c);
    assert_int_equal(c.status, 200);
    assert_string_equal(target_str(&c, 0, "result"), "would_terminate");
    assert_string_equal(target_str(&c, 0, "method"), "signal");
    assert_true(kid_alive(fx, 0));
    assert_false(fx->g->policy.t[0].terminated);
    for (int m = 0; m < N_METHODS; m++)
        assert_int_equal(fx->g->c.terminations[m][REASON_API], 0);
    a = events(fx, "would_terminate");
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(event_str(a, 0, "method"), "signal");
    assert_string_equal(event_str(a, 0, "reason"), "api");
    json_decref(a);
    json_decref(c.body);
}

/* Assert that a kill of (sel, slot, pid, force) is refused 409 with detail holding needle. */
static void kill_refused(struct fixture *fx, enum kill_selector sel, const char *slot, int pid,
                         bool force, const char *needle)
{
    struct command c = new_command(CMD_KILL, "");

    c.sel = sel;
    snprintf(c.slot, sizeof(c.slot), "%s", slot);
    c.pid = pid;
    c.force = force;
    run(fx, &c);
    assert_int_equal(c.status, 409);
    assert_string_equal(body_str(&c, "error"), "conflict");
    if (strstr(body_str(&c, "detail"), needle) == NULL)
        fail_msg("detail \"%s\" does not contain \"%s\"", body_str(&c, "detail"), needle);
    json_decref(c.body);
}

/*
 * A named target that is gone, physical, unproven or excluded without
 * force is refused: nothing is signalled, nothing audited.
 */
static void test_kill_refusals(void **state)
{
    struct fixture *fx = *state;

    kill_refused(fx, KILL_SLOT, "nope", 0, false, "no walsender on slot \"nope\"");
    kill_refused(fx, KILL_PID, "", 4242, false, "no walsender with pid 4242");
    kill_refused(fx, KILL_PID, "", PHYSICAL_PID, true, "physical");
    kill_refused(fx, KILL_PID, "", 1005, true, "not proven");
    kill_refused(fx, KILL_SLOT, "s2", 0, false, "excluded");
    assert_true(kid_alive(fx, 0));
    assert_true(kid_alive(fx, 1));
    audit_flush(fx->g->audit);
    assert_int_equal(access(fx->path, F_OK), -1); /* not a line written */
}

/* Without an HTTP server nothing is published (and nothing breaks). */
static void test_publish_without_http(void **state)
{
    struct fixture *fx = *state;

    assert_null(fx->g->http);
    command_publish(fx->g);
}

/* Send a raw HTTP/1.0 request to the server at "127.0.0.1:PORT"; the whole answer. */
static char *exchange(const char *bound, const char *req)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *buf = calloc(1, 65536);
    size_t n = 0;
    ssize_t r;

    assert_non_null(buf);
    assert_true(fd >= 0);
    sa.sin_port = htons((uint16_t)atoi(strchr(bound, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (n < 65535 && (r = read(fd, buf + n, 65535 - n)) > 0)
        n += (size_t)r;
    close(fd);
    return buf;
}

/* A client's POST /v1/arm, in its own thread: the main loop answers it. */
static void *post_arm(void *arg)
{
    const char *bound = arg;

    return exchange(bound, "POST /v1/arm HTTP/1.0\r\nContent-Type: application/json\r\n"
                           "Content-Length: 31\r\n\r\n{\"reason\":\"maintenance window\"}");
}

/* Take the one command a client queued (waiting up to 5 s for it). */
static struct command *take_one(struct fixture *fx)
{
    struct command *cmds[4];
    int n = 0;

    for (int i = 0; i < 500 && n == 0; i++) {
        command_take(fx->g, cmds, 4, &n);
        if (n == 0)
            usleep(10000);
    }
    assert_int_equal(n, 1);
    return cmds[0];
}

/*
 * One turn as the loop runs it, through a real HTTP server: a published
 * view serves the status (the postmaster from postmaster.pid, why SQL is
 * not a path) and the walsenders (the excluded slot marked); a POST is
 * taken, run, published and answered, the answer after the view that
 * shows its effect.
 */
static void test_turn_over_http(void **state)
{
    struct fixture *fx = *state;
    char err[512], *resp, bound[64];
    struct command *c;
    pthread_t th;
    void *answer = NULL;

    fx->g->http = http_start("127.0.0.1:0", NULL, err, sizeof(err));
    if (fx->g->http == NULL)
        fail_msg("%s", err);
    snprintf(bound, sizeof(bound), "%s", http_bound(fx->g->http));
    command_publish(fx->g);
    resp = exchange(bound, "GET /v1/status HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(strstr(resp, "\"phase\":\"observing\""));
    assert_non_null(strstr(resp, "\"postmaster_pid\":1000"));
    assert_non_null(strstr(resp, "\"pidfile\":\"ok\""));
    assert_non_null(strstr(resp, "no SQL session"));
    free(resp);
    resp = exchange(bound, "GET /v1/walsenders HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, "\"slot\":\"s1\""));
    assert_non_null(strstr(resp, "\"excluded\":true"));
    free(resp);

    assert_int_equal(pthread_create(&th, NULL, post_arm, bound), 0);
    c = take_one(fx);
    assert_int_equal(c->type, CMD_ARM);
    command_run_early(fx->g, c);
    command_run_late(fx->g, c);
    command_publish(fx->g);
    command_answer(fx->g, c);
    assert_int_equal(pthread_join(th, &answer), 0);
    assert_non_null(answer);
    assert_non_null(strstr(answer, " 200 "));
    assert_non_null(strstr(answer, "\"reason\":\"maintenance window\""));
    assert_non_null(strstr(answer, "\"phase\":\"armed\""));
    free(answer);
    resp = exchange(bound, "GET /v1/status HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(resp, "\"phase\":\"armed\""));
    free(resp);
    http_stop(fx->g->http);
    fx->g->http = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arm_default_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disarm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disarm_refused_in_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arm_reason_and_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_in_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_all_logical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_without_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turn_over_http, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
