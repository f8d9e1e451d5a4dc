/*
 * test_policy.c - the decision, driven step by step with observations and a
 * fake clock: every phase change, what is terminated when and why, stalls,
 * exclusions, dry run, physical walsenders, PID reuse, arm and disarm (the
 * classification itself, cause, lagging, stalled, risk: test_policy_risk.c).
 */
#include "policy_fx.h"

/* Connect at T0, then see the shutdown start at time at. */
static void start_shutdown(struct fx *f, int64_t at)
{
    step(f, T0, UP);
    step(f, at, STOP);
}

#define EXPECT_PHASE(f, ph) assert_string_equal(phase_name((f)->p.phase), phase_name(ph))

/* Assert transition i of the last step. */
static void expect_trans(const struct fx *f, int i, enum phase from, enum phase to)
{
    assert_true(i < f->out.n_trans);
    assert_string_equal(phase_name(f->out.trans[i].from), phase_name(from));
    assert_string_equal(phase_name(f->out.trans[i].to), phase_name(to));
    assert_true(f->out.trans[i].why[0] != '\0');
}

/* How many actions the last step listed for this PID. */
static int n_actions_for(const struct fx *f, int pid)
{
    int n = 0;

    for (int i = 0; i < f->out.n_act; i++) {
        assert_in_range(f->out.act[i].index, 0, f->p.n - 1);
        n += f->p.t[f->out.act[i].index].w.pid == pid;
    }
    return n;
}

/* How many ACT_TERMINATE the last step listed for this PID. */
static int n_terminations_for(const struct fx *f, int pid)
{
    int n = 0;

    for (int i = 0; i < f->out.n_act; i++)
        n += f->out.act[i].type == ACT_TERMINATE && f->p.t[f->out.act[i].index].w.pid == pid;
    return n;
}

/* How many actions of a type the last step listed. */
static int n_actions(const struct fx *f, enum action_type type)
{
    int n = 0;

    for (int i = 0; i < f->out.n_act; i++)
        n += f->out.act[i].type == type;
    return n;
}

/* Assert exactly one action for pid, of this type and reason; returns its index. */
static int expect_action(const struct fx *f, int pid, enum action_type type, enum reason r)
{
    for (int i = 0; i < f->out.n_act; i++) {
        const struct action *a = &f->out.act[i];

        if (f->p.t[a->index].w.pid != pid)
            continue;
        assert_int_equal(n_actions_for(f, pid), 1);
        assert_int_equal(a->type, type);
        assert_string_equal(reason_name(a->reason), reason_name(r));
        return a->index;
    }
    fail_msg("no action for pid %d", pid);
    return -1;
}

/* Report the outcome of every ACT_TERMINATE of the last step. */
static void record_all(struct fx *f, bool ok, int64_t now)
{
    for (int i = 0; i < f->out.n_act; i++)
        if (f->out.act[i].type == ACT_TERMINATE)
            policy_record(&f->p, f->out.act[i].index, ok, now);
}

/* Use these glob patterns as --exclude-slot. */
static void exclude(struct fx *f, const char *glob)
{
    f->cfg.exclude_slot[f->cfg.n_exclude_slot++] = (char *)glob;
}

/* ---- phases ---- */

/* waiting -> observing once SQL works; nothing happens before. */
static void test_waiting_to_observing(void **state)
{
    struct fx *f = *state;

    step(f, T0, 0);
    EXPECT_PHASE(f, PHASE_WAITING);
    assert_int_equal(f->out.n_trans, 0);
    step(f, T0 + 1000, UP);
    EXPECT_PHASE(f, PHASE_OBSERVING);
    assert_int_equal(f->out.n_trans, 1);
    expect_trans(f, 0, PHASE_WAITING, PHASE_OBSERVING);
    step(f, T0 + 2000, UP);
    assert_int_equal(f->out.n_trans, 0); /* logged once */
}

/* observing -> waiting when the session is lost without a shutdown. */
static void test_observing_to_waiting(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    step(f, T0 + 1000, 0);
    EXPECT_PHASE(f, PHASE_WAITING);
    expect_trans(f, 0, PHASE_OBSERVING, PHASE_WAITING);
    assert_false(f->out.shutdown_started);
    assert_false(f->p.clock_running);
}

/* observing -> shutting_down on "stopping"; shutdown_started is set once; the clock starts. */
static void test_observing_to_shutting_down(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 5000);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    expect_trans(f, 0, PHASE_OBSERVING, PHASE_SHUTTING_DOWN);
    assert_true(f->out.shutdown_started);
    assert_true(f->p.stopping_seen);
    assert_int_equal(f->p.shutdown_at_ms, T0 + 5000);
    assert_true(f->p.clock_running);
    assert_int_equal(f->p.deadline_at_ms, T0 + 5000 + DEADLINE);
    assert_string_equal(f->p.trigger, "postmaster.pid says \"stopping\"");
    step(f, T0 + 6000, STOP);
    assert_false(f->out.shutdown_started);
    assert_int_equal(f->out.n_trans, 0);
    step(f, T0 + 7000, STOP | UP);
    assert_false(f->out.shutdown_started);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
}

/* A guard started during a shutdown goes waiting -> shutting_down. */
static void test_waiting_to_shutting_down(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    expect_trans(f, 0, PHASE_WAITING, PHASE_SHUTTING_DOWN);
    assert_true(f->out.shutdown_started);
    assert_int_equal(f->p.deadline_at_ms, T0 + DEADLINE);
}

/* Losing SQL during the shutdown (57P03) does not leave shutting_down. */
static void test_shutting_down_survives_sql_loss(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    step(f, T0 + 2000, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    step(f, T0 + 3000, 0); /* stopping no longer reported: still the same shutdown */
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(f->out.n_trans, 0);
}

/* ---- the deadline ---- */

/* Before the deadline nothing is terminated (nothing stalled). */
static void test_no_actions_before_deadline(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    add_logical(f, 102, "cdc");
    start_shutdown(f, T0 + 1000);
    for (int64_t t = T0 + 1000; t < T0 + 1000 + DEADLINE; t += 1000) {
        step(f, t, STOP);
        assert_int_equal(f->out.n_act, 0);
    }
    step(f, T0 + 1000 + DEADLINE - 1, STOP);
    assert_int_equal(f->out.n_act, 0);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
}

/* At the deadline: enforcing, one ACT_TERMINATE per logical walsender, none for physical. */
static void test_deadline_terminates_logical_once(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    add_logical(f, 101, "app");
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    add_logical(f, 103, "cdc");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_trans(f, 0, PHASE_SHUTTING_DOWN, PHASE_ENFORCING);
    assert_int_equal(f->out.n_act, 2);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
    expect_action(f, 103, ACT_TERMINATE, REASON_DEADLINE);
    assert_int_equal(n_actions_for(f, 102), 0);
}

/* A zero deadline terminates in the very step that sees the shutdown. */
static void test_zero_deadline(void **state)
{
    struct fx *f = *state;

    f->cfg.deadline_ms = 0;
    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    assert_int_equal(f->out.n_trans, 2);
    expect_trans(f, 0, PHASE_OBSERVING, PHASE_SHUTTING_DOWN);
    expect_trans(f, 1, PHASE_SHUTTING_DOWN, PHASE_ENFORCING);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* Feed one shutdown observation that says when the shutdown began. */
static void step_began(struct fx *f, int64_t now, int64_t began)
{
    struct observation obs = {.now_ms = now,
                              .stopping = true,
                              .stopping_why = "postmaster.pid says \"stopping\"",
                              .began_ms = began,
                              .fresh = true,
                              .ws = f->ws,
                              .n_ws = f->n};

    policy_output_reset(&f->out);
    assert_true(policy_step(&f->p, &obs, &f->out));
}

/*
 * A guard (re)started during a shutdown counts the deadline from when the
 * shutdown began, not from its own first sight of it; a beginning in the
 * future (a clock step) counts from now.
 */
static void test_deadline_from_shutdown_began(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step_began(f, T0 + 4000, T0 + 1000); /* began 3 s before it was seen */
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(f->p.deadline_at_ms, T0 + 1000 + DEADLINE);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 4000), T0 + 1000 + DEADLINE);
    step_began(f, T0 + 1000 + DEADLINE, 0);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* A shutdown that began longer ago than the deadline is enforced at first sight. */
static void test_deadline_long_past(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step_began(f, T0 + 2 * DEADLINE, T0);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* A beginning not before now (unknown: 0, or a clock step) counts from now. */
static void test_deadline_began_in_future(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step_began(f, T0 + 1000, T0 + 5000);
    assert_int_equal(f->p.deadline_at_ms, T0 + 1000 + DEADLINE);
}

/* Without a non-excluded logical walsender the deadline does not lead to enforcing. */
static void test_no_enforcing_without_logical(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(n_actions(f, ACT_TERMINATE), 0);
    f->n = 0;
    step(f, d + 1000, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    exclude(f, "keep_*");
    add_logical(f, 104, "keep_me");
    step(f, d + 2000, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    expect_action(f, 104, ACT_SKIP_EXCLUDED, REASON_DEADLINE);
}

/* A failed termination is retried after POLICY_RETRY_MS, not before. */
static void test_retry_after_failure(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;
    struct tracked *t;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
    record_all(f, false, d);
    t = tracked(f, 101);
    assert_int_equal(t->attempts, 1);
    assert_true(t->reported);
    assert_false(t->terminated);
    step(f, d + 100, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, d + POLICY_RETRY_MS - 1, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, d + POLICY_RETRY_MS, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
    record_all(f, true, d + POLICY_RETRY_MS);
    t = tracked(f, 101);
    assert_int_equal(t->attempts, 2);
    assert_true(t->terminated);
    assert_int_equal(t->last_attempt_ms, d + POLICY_RETRY_MS);
    /* once ended it is not tried again, even if no fresh list shows it gone */
    step(f, d + 10 * POLICY_RETRY_MS, STOP);
    assert_int_equal(f->out.n_act, 0);
}

/* policy_record: success marks terminated, failure marks reported; bad indexes are ignored. */
static void test_record(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    add_logical(f, 102, "cdc");
    step(f, T0, UP);
    policy_record(&f->p, 0, true, T0 + 5);
    policy_record(&f->p, 1, false, T0 + 6);
    policy_record(&f->p, -1, true, T0 + 7);
    policy_record(&f->p, 2, true, T0 + 7);
    assert_true(f->p.t[0].terminated);
    assert_false(f->p.t[0].reported);
    assert_int_equal(f->p.t[0].last_attempt_ms, T0 + 5);
    assert_false(f->p.t[1].terminated);
    assert_true(f->p.t[1].reported);
    assert_int_equal(f->p.t[1].attempts, 1);
}

/* The postmaster's exit ends the shutdown: done with completed set, then waiting. */
static void test_done_then_waiting(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    step(f, T0 + 2000, STOP);
    f->n = 0;
    step(f, T0 + 3000, GONE);
    EXPECT_PHASE(f, PHASE_DONE);
    expect_trans(f, 0, PHASE_SHUTTING_DOWN, PHASE_DONE);
    assert_true(f->out.completed);
    assert_false(f->p.clock_running);
    assert_false(f->p.stopping_seen);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 3000), INT64_MAX);
    step(f, T0 + 4000, 0);
    EXPECT_PHASE(f, PHASE_WAITING);
    expect_trans(f, 0, PHASE_DONE, PHASE_WAITING);
    assert_false(f->out.completed);
}

/* done -> waiting -> observing in one step when the new server is already up. */
static void test_done_then_observing(void **state)
{
    struct fx *f = *state;

    start_shutdown(f, T0 + 1000);
    step(f, T0 + 2000, GONE);
    EXPECT_PHASE(f, PHASE_DONE);
    step(f, T0 + 3000, UP);
    EXPECT_PHASE(f, PHASE_OBSERVING);
    assert_int_equal(f->out.n_trans, 2);
    expect_trans(f, 0, PHASE_DONE, PHASE_WAITING);
    expect_trans(f, 1, PHASE_WAITING, PHASE_OBSERVING);
}

/* A postmaster that is gone without a shutdown seen is not a completed shutdown. */
static void test_gone_without_shutdown(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    step(f, T0 + 1000, GONE);
    assert_false(f->out.completed);
    EXPECT_PHASE(f, PHASE_WAITING);
}

/* Enforcing ends in done too; the next shutdown starts its own clock. */
static void test_enforcing_to_done_and_again(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    record_all(f, true, d);
    f->n = 0;
    step(f, d + 100, GONE);
    EXPECT_PHASE(f, PHASE_DONE);
    assert_true(f->out.completed);
    step(f, d + 5000, UP);
    add_logical(f, 201, "app");
    step(f, d + 6000, STOP);
    assert_true(f->out.shutdown_started);
    assert_int_equal(f->p.deadline_at_ms, d + 6000 + DEADLINE);
    step(f, d + 6000 + DEADLINE, STOP);
    expect_action(f, 201, ACT_TERMINATE, REASON_DEADLINE);
}

/* ---- stalled walsenders ended (what is stalled: test_policy_risk.c) ---- */

/* kill_stalled yes: a stalled logical walsender is ended when the shutdown starts. */
static void test_kill_stalled_at_shutdown_start(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    add_logical(f, 102, "healthy");
    step(f, T0, UP);
    step(f, T0 + STALL, UP);
    assert_int_equal(f->out.n_act, 0); /* observing: never an action */
    step(f, T0 + STALL + 1000, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(f->out.n_act, 1);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
}

/* kill_stalled no: the stalled one waits for the deadline like the others. */
static void test_kill_stalled_off_waits(void **state)
{
    struct fx *f = *state;
    int64_t s = T0 + STALL + 1000;

    f->cfg.kill_stalled = false;
    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    step(f, T0, UP);
    step(f, s, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, s + DEADLINE - 1, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, s + DEADLINE, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* A walsender that becomes stalled during the shutdown is ended then, before the deadline. */
static void test_stall_during_shutdown(void **state)
{
    struct fx *f = *state;

    f->cfg.stall_after_ms = 5000;
    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000); /* lagging since T0 */
    step(f, T0 + 4999, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, T0 + 5000, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
}

/* ---- exclusions, dry run, physical walsenders ---- */

/* An excluded slot gets one ACT_SKIP_EXCLUDED and never ACT_TERMINATE. */
static void test_excluded_skipped_once(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    exclude(f, "debezium_*");
    add_logical(f, 101, "debezium_orders");
    add_logical(f, 102, "app");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    expect_action(f, 101, ACT_SKIP_EXCLUDED, REASON_DEADLINE);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
    record_all(f, false, d);
    for (int64_t t = d + 500; t < d + 10000; t += 500) {
        step(f, t, STOP);
        assert_int_equal(n_actions_for(f, 101), 0);
        assert_int_equal(n_actions(f, ACT_SKIP_EXCLUDED), 0);
        record_all(f, false, t);
    }
}

/* A stalled excluded walsender is reported (reason stalled), not terminated. */
static void test_excluded_stalled(void **state)
{
    struct fx *f = *state;

    exclude(f, "keep");
    add_ws(f, 101, WS_LOGICAL, "keep", 0x3000200, 0x3000100);
    step(f, T0, UP);
    step(f, T0 + STALL, STOP);
    expect_action(f, 101, ACT_SKIP_EXCLUDED, REASON_STALLED);
    step(f, T0 + STALL + DEADLINE, STOP);
    assert_int_equal(f->out.n_act, 0);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
}

/*
 * BUG: --exclude-slot ("never terminate walsenders of matching slots") is
 * ignored for physical walsenders: with --physical-deadline set, a physical
 * walsender of an excluded slot gets ACT_TERMINATE.
 */
static void test_excluded_physical_not_terminated(void **state)
{
    struct fx *f = *state;

    f->cfg.physical_deadline_ms = 5000;
    exclude(f, "standby_*");
    add_ws(f, 102, WS_PHYSICAL, "standby_1", 0x3000000, 0x2000000);
    start_shutdown(f, T0 + 1000);
    step(f, T0 + 6000, STOP);
    assert_int_equal(n_actions(f, ACT_TERMINATE), 0);
    expect_action(f, 102, ACT_SKIP_EXCLUDED, REASON_DEADLINE);
}

/* dry run: one ACT_WOULD_TERMINATE per walsender, never ACT_TERMINATE. */
static void test_dry_run(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    f->cfg.dry_run = true;
    f->cfg.physical_deadline_ms = 2 * DEADLINE;
    add_logical(f, 101, "app");
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    add_logical(f, 103, "cdc");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    assert_int_equal(f->out.n_act, 2);
    expect_action(f, 101, ACT_WOULD_TERMINATE, REASON_DEADLINE);
    expect_action(f, 103, ACT_WOULD_TERMINATE, REASON_DEADLINE);
    for (int64_t t = d + 1000; t <= T0 + 1000 + 4 * DEADLINE; t += 1000) {
        step(f, t, STOP);
        assert_int_equal(n_actions(f, ACT_TERMINATE), 0);
        assert_int_equal(n_actions_for(f, 101) + n_actions_for(f, 103), 0);
        if (t == T0 + 1000 + 2 * DEADLINE)
            expect_action(f, 102, ACT_WOULD_TERMINATE, REASON_DEADLINE);
        else
            assert_int_equal(f->out.n_act, 0);
    }
}

/* dry run with kill_stalled: the stalled one is reported at shutdown start, reason stalled. */
static void test_dry_run_stalled(void **state)
{
    struct fx *f = *state;

    f->cfg.dry_run = true;
    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    step(f, T0, UP);
    step(f, T0 + STALL, STOP);
    expect_action(f, 101, ACT_WOULD_TERMINATE, REASON_STALLED);
    step(f, T0 + STALL + DEADLINE, STOP);
    assert_int_equal(f->out.n_act, 0);
}

/*
 * BUG: the one-report flags outlive the stop they were for.  In a dry run,
 * an arm that expires (or is disarmed) marks the walsender reported, and the
 * real shutdown that follows gets no ACT_WOULD_TERMINATE for it, so the
 * audit log says nothing about what the shutdown would have terminated.
 */
static void test_dry_run_reports_again_next_stop(void **state)
{
    struct fx *f = *state;
    int64_t e = T0 + DEADLINE + POLICY_ARM_GRACE_MS;

    f->cfg.dry_run = true;
    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "before_stop hook", &f->out);
    step(f, T0 + DEADLINE, UP);
    expect_action(f, 101, ACT_WOULD_TERMINATE, REASON_DEADLINE);
    step(f, e, UP);
    assert_true(f->out.expired);
    step(f, e + 1000, STOP);
    step(f, e + 1000 + DEADLINE, STOP);
    expect_action(f, 101, ACT_WOULD_TERMINATE, REASON_DEADLINE);
}

/* physical_deadline off: a physical walsender is never terminated, however long. */
static void test_physical_deadline_off(void **state)
{
    struct fx *f = *state;

    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    for (int64_t t = T0 + 2000; t < T0 + 3600 * 1000; t += 60000) {
        step(f, t, STOP);
        assert_int_equal(n_terminations_for(f, 102), 0);
        record_all(f, false, t);
    }
}

/* physical_deadline set: the physical walsender is terminated at shutdown start + that. */
static void test_physical_deadline_set(void **state)
{
    struct fx *f = *state;
    int64_t s = T0 + 1000;

    f->cfg.physical_deadline_ms = 20000;
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    start_shutdown(f, s);
    step(f, s + DEADLINE, STOP);
    assert_int_equal(f->out.n_act, 0);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN); /* physical ones do not make "enforcing" */
    step(f, s + 20000 - 1, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, s + 20000, STOP);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
}

/* The physical deadline counts from the shutdown, not from an arm; an arm alone never starts it. */
static void test_physical_deadline_from_shutdown(void **state)
{
    struct fx *f = *state;

    f->cfg.physical_deadline_ms = 0;
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000000, 0x2000000);
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + 1000, UP);
    step(f, T0 + 50000, UP);
    assert_int_equal(f->out.n_act, 0);
    step(f, T0 + 51000, STOP);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
}

/* ---- the tracked list ---- */

/* Same PID, different start time: a new walsender (stall clock and attempts start over). */
static void test_pid_reuse(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;
    struct tracked *t;

    f->cfg.kill_stalled = false;
    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    record_all(f, false, d);
    assert_int_equal(tracked(f, 101)->attempts, 1);
    f->ws[0].start_ticks += 1;
    step(f, d + 100, STOP);
    t = tracked(f, 101);
    assert_int_equal(t->attempts, 0);
    assert_false(t->reported);
    assert_int_equal(t->confirmed_since_ms, d + 100);
    assert_int_equal(t->w.start_ticks, 101 * 100 + 1);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE); /* no retry wait for a new one */
}

/* Same PID and start time, or an unknown start time: the same walsender, state kept. */
static void test_same_walsender_kept(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    step(f, T0, UP);
    policy_record(&f->p, 0, false, T0);
    step(f, T0 + 1000, UP);
    assert_int_equal(tracked(f, 101)->attempts, 1);
    assert_int_equal(tracked(f, 101)->confirmed_since_ms, T0);
    f->ws[0].start_ticks = 0; /* this round /proc could not be read */
    step(f, T0 + 2000, UP);
    assert_int_equal(tracked(f, 101)->attempts, 1);
    assert_int_equal(tracked(f, 101)->w.start_ticks, 101 * 100);
    assert_int_equal(tracked(f, 101)->confirmed_since_ms, T0);
}

/* A walsender missing from a fresh list is dropped; a non-fresh observation keeps the list. */
static void test_list_fresh_and_stale(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    add_logical(f, 102, "cdc");
    step(f, T0, UP);
    assert_int_equal(f->p.n, 2);
    f->ws[0] = f->ws[1];
    f->n = 1;
    step(f, T0 + 1000, UP);
    assert_int_equal(f->p.n, 1);
    assert_null(tracked(f, 101));
    assert_non_null(tracked(f, 102));
    f->n = 0;
    step(f, T0 + 2000, 0 | STALE);
    assert_int_equal(f->p.n, 1);
    assert_non_null(tracked(f, 102));
    step(f, T0 + 3000, 0);
    assert_int_equal(f->p.n, 0);
}

/* /proc-only rows keep the LSNs, kind and slot learned from SQL, and the stall clock runs on. */
static void test_proc_only_rows_keep_sql_facts(void **state)
{
    struct fx *f = *state;
    struct tracked *t;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    f->ws[0].start_ticks = 0; /* SQL row: /proc not read yet */
    step(f, T0, UP);
    memset(&f->ws[0], 0, sizeof(f->ws[0]));
    f->ws[0].pid = 101;
    f->ws[0].start_ticks = 777;
    f->ws[0].kind = WS_PHYSICAL; /* a guess from the title must not win */
    f->ws[0].lsn_known = false;
    step(f, T0 + 10000, STOP);
    t = tracked(f, 101);
    assert_true(t->w.lsn_known);
    assert_int_equal(t->w.kind, WS_LOGICAL);
    assert_string_equal(t->w.slot, "app");
    assert_int_equal(t->w.sent_lsn, 0x3000200);
    assert_int_equal(t->confirmed, 0x3000100);
    assert_int_equal(t->w.start_ticks, 777);
    assert_int_equal(t->confirmed_since_ms, T0);
    step(f, T0 + STALL, 0);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
}

/* A walsender first seen in /proc (no LSNs) is still terminated at the deadline if logical. */
static void test_proc_only_new_walsender(void **state)
{
    struct fx *f = *state;
    int64_t s = T0 + 1000;

    add_logical(f, 101, "");
    f->ws[0].lsn_known = false;
    f->ws[0].sent_lsn = f->ws[0].write_lsn = f->ws[0].flush_lsn = 0;
    step(f, T0, 0);
    step(f, s, STOP);
    assert_false(policy_lagging(tracked(f, 101)));
    step(f, s + DEADLINE, 0);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* ---- arm and disarm ---- */

/* policy_arm: observing -> armed; deadline counted from the arm; expiry after grace. */
static void test_arm_from_observing(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    policy_output_reset(&f->out);
    policy_arm(&f->p, T0 + 1000, -1, "before_stop hook", &f->out);
    EXPECT_PHASE(f, PHASE_ARMED);
    expect_trans(f, 0, PHASE_OBSERVING, PHASE_ARMED);
    assert_string_equal(f->out.trans[0].why, "before_stop hook");
    assert_true(f->p.clock_running);
    assert_int_equal(f->p.deadline_at_ms, T0 + 1000 + DEADLINE);
    assert_int_equal(f->p.arm_expires_ms, T0 + 1000 + DEADLINE + POLICY_ARM_GRACE_MS);
    assert_string_equal(f->p.trigger, "before_stop hook");
}

/* An arm from waiting works too, and an explicit deadline replaces --deadline. */
static void test_arm_from_waiting_explicit(void **state)
{
    struct fx *f = *state;

    policy_arm(&f->p, T0, 3000, "api", &f->out);
    EXPECT_PHASE(f, PHASE_ARMED);
    expect_trans(f, 0, PHASE_WAITING, PHASE_ARMED);
    assert_int_equal(f->p.deadline_at_ms, T0 + 3000);
    step(f, T0 + 1000, 0);
    EXPECT_PHASE(f, PHASE_ARMED); /* SQL down while armed: stays armed */
}

/* Re-arming never moves the deadline later, but may bring it closer. */
static void test_rearm_never_later(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    policy_arm(&f->p, T0, 5000, "first", &f->out);
    policy_output_reset(&f->out);
    policy_arm(&f->p, T0 + 1000, 10000, "second", &f->out);
    assert_int_equal(f->p.deadline_at_ms, T0 + 5000);
    assert_string_equal(f->p.trigger, "first");
    assert_int_equal(f->out.n_trans, 0);
    policy_arm(&f->p, T0 + 2000, 1000, "third", &f->out);
    assert_int_equal(f->p.deadline_at_ms, T0 + 3000);
    assert_int_equal(f->p.arm_expires_ms, T0 + 3000 + POLICY_ARM_GRACE_MS);
    EXPECT_PHASE(f, PHASE_ARMED);
}

/* armed -> enforcing at the arm's deadline; nothing before it. */
static void test_armed_to_enforcing(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + DEADLINE - 1, UP);
    assert_int_equal(f->out.n_act, 0);
    EXPECT_PHASE(f, PHASE_ARMED);
    step(f, T0 + DEADLINE, UP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_trans(f, 0, PHASE_ARMED, PHASE_ENFORCING);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* Armed with kill_stalled: a stalled walsender is ended at the next step. */
static void test_armed_kills_stalled(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    add_logical(f, 102, "app");
    step(f, T0, UP);
    step(f, T0 + STALL, UP);
    policy_arm(&f->p, T0 + STALL, -1, "before_stop hook", &f->out);
    step(f, T0 + STALL, UP);
    assert_int_equal(f->out.n_act, 1);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
}

/*
 * The arm ends a stalled walsender, its client reconnects before the stop:
 * the new walsender on that slot is not stalled yet, but it is ended at
 * shutdown start (reason stalled), and only it.
 */
static void test_reconnect_after_stalled_end(void **state)
{
    struct fx *f = *state;
    int64_t a = T0 + STALL;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    add_logical(f, 102, "app");
    step(f, T0, UP);
    policy_arm(&f->p, a, -1, "before_stop hook", &f->out);
    step(f, a, UP);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
    record_all(f, true, a);
    f->n = 0;
    add_logical(f, 102, "app");
    add_ws(f, 103, WS_LOGICAL, "stuck", 0x3000200, 0x3000100); /* the client is back */
    step(f, a + 4, UP);
    assert_int_equal(f->out.n_act, 0); /* not before the shutdown starts */
    step(f, a + 8, STOP);
    assert_int_equal(f->out.n_act, 1);
    expect_action(f, 103, ACT_TERMINATE, REASON_STALLED);
    assert_false(policy_is_stalled(&f->p, tracked(f, 103), a + 8));
}

/* A walsender seen only in /proc at shutdown (slot unknown) counts as that client. */
static void test_reconnect_proc_only(void **state)
{
    struct fx *f = *state;
    int64_t a = T0 + STALL;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    step(f, T0, UP);
    policy_arm(&f->p, a, -1, "before_stop hook", &f->out);
    step(f, a, UP);
    record_all(f, true, a);
    f->n = 0;
    add_ws(f, 103, WS_LOGICAL, "", 0, 0);
    f->ws[0].lsn_known = false;
    step(f, a + 8, STOP);
    expect_action(f, 103, ACT_TERMINATE, REASON_STALLED);
}

/* A failed termination, another slot, or a later arm: no early end at shutdown start. */
static void test_reconnect_rule_bounds(void **state)
{
    struct fx *f = *state;
    int64_t a = T0 + STALL;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    step(f, T0, UP);
    policy_arm(&f->p, a, -1, "before_stop hook", &f->out);
    step(f, a, UP);
    record_all(f, false, a); /* not ended: nothing to remember */
    assert_int_equal(f->p.n_ended_stalled, 0);
    step(f, a + POLICY_RETRY_MS, UP);
    record_all(f, true, a + POLICY_RETRY_MS);
    assert_int_equal(f->p.n_ended_stalled, 1);
    assert_int_equal(policy_disarm(&f->p, a + 1000, "api", &f->out), DISARM_DONE);
    assert_int_equal(f->p.n_ended_stalled, 0); /* that arm is over */
    f->n = 0;
    add_logical(f, 103, "stuck");
    add_logical(f, 104, "other");
    policy_arm(&f->p, a + 2000, -1, "before_stop hook", &f->out);
    step(f, a + 2000, UP);
    step(f, a + 2010, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, a + 2000 + DEADLINE, 0);
    expect_action(f, 103, ACT_TERMINATE, REASON_DEADLINE);
    expect_action(f, 104, ACT_TERMINATE, REASON_DEADLINE);
}

/*
 * A peer's arm (pre_promote): stalled walsenders end at once, but the
 * deadline waits for this server's own shutdown; then it counts from the arm.
 */
static void test_peer_arm_needs_stop(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    add_logical(f, 102, "app");
    step(f, T0, UP);
    step(f, T0 + STALL, UP);
    policy_arm_peer(&f->p, T0 + STALL, -1, "pre_promote", &f->out);
    EXPECT_PHASE(f, PHASE_ARMED);
    step(f, T0 + STALL, UP);
    assert_int_equal(f->out.n_act, 1);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
    policy_record(&f->p, 0, true, T0 + STALL);
    step(f, T0 + STALL + DEADLINE + 1, UP);
    assert_int_equal(f->out.n_act, 0); /* the app walsender lives: no shutdown here */
    EXPECT_PHASE(f, PHASE_ARMED);
    step(f, T0 + STALL + DEADLINE + 2, UP | STOP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
}

/* A peer's arm does not weaken a before_stop arm, and a before_stop arm strengthens it. */
static void test_peer_arm_and_before_stop(void **state)
{
    struct fx *f = *state;

    add_logical(f, 102, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "before_stop", &f->out);
    policy_arm_peer(&f->p, T0, -1, "pre_promote", &f->out);
    step(f, T0 + DEADLINE, UP);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
    policy_disarm(&f->p, T0 + DEADLINE, "reset", &f->out);
    policy_arm_peer(&f->p, T0 + DEADLINE, -1, "pre_promote", &f->out);
    policy_arm(&f->p, T0 + DEADLINE, -1, "before_stop", &f->out);
    step(f, T0 + 2 * DEADLINE, UP);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
}

/* An arm with no shutdown expires at deadline + grace: back to observing, expired set. */
static void test_arm_expiry(void **state)
{
    struct fx *f = *state;
    int64_t e = T0 + DEADLINE + POLICY_ARM_GRACE_MS;

    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + DEADLINE, UP);
    EXPECT_PHASE(f, PHASE_ARMED); /* nothing logical to enforce on */
    step(f, e - 1, UP);
    assert_false(f->out.expired);
    step(f, e, UP);
    assert_true(f->out.expired);
    EXPECT_PHASE(f, PHASE_OBSERVING);
    expect_trans(f, 0, PHASE_ARMED, PHASE_OBSERVING);
    assert_false(f->p.clock_running);
    step(f, e + 1000, UP);
    assert_false(f->out.expired);
}

/* An arm that expires while SQL is down returns to waiting. */
static void test_arm_expiry_to_waiting(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + DEADLINE, 0);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    record_all(f, true, T0 + DEADLINE);
    step(f, T0 + DEADLINE + POLICY_ARM_GRACE_MS, 0);
    assert_true(f->out.expired);
    EXPECT_PHASE(f, PHASE_WAITING);
    expect_trans(f, 0, PHASE_ENFORCING, PHASE_WAITING);
}

/* A shutdown after an arm keeps the arm's (earlier) deadline and never expires. */
static void test_arm_then_shutdown(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "before_stop hook", &f->out);
    step(f, T0 + 4000, STOP);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    expect_trans(f, 0, PHASE_ARMED, PHASE_SHUTTING_DOWN);
    assert_true(f->out.shutdown_started);
    assert_int_equal(f->p.deadline_at_ms, T0 + DEADLINE);
    assert_string_equal(f->p.trigger, "before_stop hook");
    step(f, T0 + DEADLINE, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
    record_all(f, false, T0 + DEADLINE);
    step(f, T0 + DEADLINE + POLICY_ARM_GRACE_MS + 1, STOP);
    assert_false(f->out.expired);
    EXPECT_PHASE(f, PHASE_ENFORCING);
}

/* An arm during a shutdown can only bring the deadline closer; the phase stays. */
static void test_arm_during_shutdown(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    policy_output_reset(&f->out);
    policy_arm(&f->p, T0 + 2000, 0, "api kill now", &f->out);
    assert_int_equal(f->out.n_trans, 0);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(f->p.deadline_at_ms, T0 + 2000);
    step(f, T0 + 2000, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
}

/* policy_disarm when armed: back to observing, clock stopped, nothing terminated later. */
static void test_disarm_when_armed(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    policy_output_reset(&f->out);
    assert_int_equal(policy_disarm(&f->p, T0 + 1000, "disarmed by api", &f->out), DISARM_DONE);
    EXPECT_PHASE(f, PHASE_OBSERVING);
    expect_trans(f, 0, PHASE_ARMED, PHASE_OBSERVING);
    assert_false(f->p.clock_running);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 1000), INT64_MAX);
    step(f, T0 + DEADLINE + 1000, UP);
    assert_int_equal(f->out.n_act, 0);
    EXPECT_PHASE(f, PHASE_OBSERVING);
}

/* policy_disarm from enforcing (an arm that reached its deadline) is allowed. */
static void test_disarm_from_enforcing(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + DEADLINE, UP);
    EXPECT_PHASE(f, PHASE_ENFORCING);
    policy_output_reset(&f->out);
    assert_int_equal(policy_disarm(&f->p, T0 + DEADLINE + 1, "api", &f->out), DISARM_DONE);
    EXPECT_PHASE(f, PHASE_OBSERVING);
}

/* Disarmed while SQL is down: straight back to waiting, not through observing. */
static void test_disarm_while_down(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + 100, 0);
    EXPECT_PHASE(f, PHASE_ARMED);
    policy_output_reset(&f->out);
    assert_int_equal(policy_disarm(&f->p, T0 + 200, "api", &f->out), DISARM_DONE);
    EXPECT_PHASE(f, PHASE_WAITING);
    expect_trans(f, 0, PHASE_ARMED, PHASE_WAITING);
}

/* policy_disarm is refused once the server was seen stopping, and when nothing is armed. */
static void test_disarm_refused(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    assert_int_equal(policy_disarm(&f->p, T0, "api", &f->out), DISARM_NOT_ARMED);
    EXPECT_PHASE(f, PHASE_OBSERVING);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    step(f, T0 + 1000, STOP);
    policy_output_reset(&f->out);
    assert_int_equal(policy_disarm(&f->p, T0 + 2000, "api", &f->out), DISARM_REFUSED);
    EXPECT_PHASE(f, PHASE_SHUTTING_DOWN);
    assert_int_equal(f->out.n_trans, 0);
    assert_true(f->p.clock_running);
    step(f, T0 + DEADLINE, STOP);
    assert_int_equal(policy_disarm(&f->p, T0 + DEADLINE, "api", &f->out), DISARM_REFUSED);
    EXPECT_PHASE(f, PHASE_ENFORCING);
}

/* ---- API kills ---- */

/* Run an API kill on what the last step tracked; the output is reset first. */
static enum kill_verdict kill(struct fx *f, enum kill_selector sel, const char *slot, int pid,
                              bool force, char *why, size_t len)
{
    struct kill_request rq = {.sel = sel, .slot = slot, .pid = pid, .force = force};

    policy_output_reset(&f->out);
    why[0] = '\0';
    return policy_kill(&f->p, &rq, T0 + 1000, &f->out, why, len);
}

/* The action listed for a PID by the last kill; -1 when none. */
static int action_of(const struct fx *f, int pid)
{
    for (int i = 0; i < f->out.n_act; i++)
        if (f->p.t[f->out.act[i].index].w.pid == pid) {
            assert_int_equal(f->out.act[i].reason, REASON_API);
            return (int)f->out.act[i].type;
        }
    return -1;
}

/* A named target that is gone, physical, unproven or excluded is refused, and says why. */
static void test_kill_named_refused(void **state)
{
    struct fx *f = *state;
    char why[200];

    add_logical(f, 101, "app");
    add_ws(f, 102, WS_PHYSICAL, "", 0x3000000, 0x1000000);
    add_ws(f, 103, WS_UNPROVEN, "", 0, 0);
    add_logical(f, 104, "cdc_keep");
    exclude(f, "cdc_*");
    step(f, T0, UP);
    assert_int_equal(kill(f, KILL_SLOT, "gone", 0, false, why, sizeof(why)), KILL_REFUSED);
    assert_string_equal(why, "no walsender on slot \"gone\" (any more)");
    assert_int_equal(kill(f, KILL_PID, NULL, 999, false, why, sizeof(why)), KILL_REFUSED);
    assert_string_equal(why, "no walsender with pid 999 (any more)");
    assert_int_equal(kill(f, KILL_PID, NULL, 102, true, why, sizeof(why)), KILL_REFUSED);
    assert_non_null(strstr(why, "physical"));
    assert_int_equal(kill(f, KILL_PID, NULL, 103, true, why, sizeof(why)), KILL_REFUSED);
    assert_non_null(strstr(why, "not proven"));
    assert_int_equal(kill(f, KILL_SLOT, "cdc_keep", 0, false, why, sizeof(why)), KILL_REFUSED);
    assert_non_null(strstr(why, "--exclude-slot"));
    assert_int_equal(f->out.n_act, 0);
    assert_int_equal(kill(f, KILL_SLOT, "cdc_keep", 0, true, why, sizeof(why)), KILL_OK);
    assert_int_equal(f->out.n_act, 1);
    assert_int_equal(action_of(f, 104), ACT_TERMINATE);
    assert_int_equal(kill(f, KILL_PID, NULL, 101, false, why, sizeof(why)), KILL_OK);
    assert_int_equal(f->out.n_act, 1);
    assert_int_equal(action_of(f, 101), ACT_TERMINATE);
}

/* A selection ends logical walsenders only; excluded ones are listed as such; dry run reports. */
static void test_kill_selection(void **state)
{
    struct fx *f = *state;
    char why[200];

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000000, 0x1000000);
    add_ws(f, 102, WS_PHYSICAL, "", 0x3000000, 0x1000000);
    add_ws(f, 103, WS_LOGICAL, "cdc_stuck", 0x3000000, 0x1000000);
    add_logical(f, 104, "fine");
    add_ws(f, 105, WS_UNPROVEN, "", 0, 0);
    exclude(f, "cdc_*");
    step(f, T0 - STALL, UP);
    step(f, T0 + 1000, UP);
    assert_int_equal(kill(f, KILL_STALLED, NULL, 0, false, why, sizeof(why)), KILL_OK);
    assert_int_equal(f->out.n_act, 2); /* the lagging physical one is never "stalled" */
    assert_int_equal(action_of(f, 101), ACT_TERMINATE);
    assert_int_equal(action_of(f, 103), ACT_SKIP_EXCLUDED);
    assert_int_equal(action_of(f, 102), -1);
    assert_int_equal(kill(f, KILL_ALL_LOGICAL, NULL, 0, true, why, sizeof(why)), KILL_OK);
    assert_int_equal(f->out.n_act, 3);
    assert_int_equal(action_of(f, 103), ACT_TERMINATE);
    assert_int_equal(action_of(f, 104), ACT_TERMINATE);
    assert_int_equal(action_of(f, 105), -1);
    f->cfg.dry_run = true;
    assert_int_equal(kill(f, KILL_PID, NULL, 101, false, why, sizeof(why)), KILL_OK);
    assert_int_equal(action_of(f, 101), ACT_WOULD_TERMINATE);
    assert_int_equal(kill(f, KILL_ALL_LOGICAL, NULL, 0, false, why, sizeof(why)), KILL_OK);
    assert_int_equal(action_of(f, 103), ACT_SKIP_EXCLUDED);
    assert_int_equal(action_of(f, 104), ACT_WOULD_TERMINATE);
}

/* ---- wake-ups ---- */

/* Nothing pending while only observing, even with a lagging walsender. */
static void test_wakeup_idle(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "stuck", 0x3000200, 0x3000100);
    step(f, T0, UP);
    assert_int_equal(policy_next_wakeup(&f->p, T0), INT64_MAX);
}

/* During a shutdown: the deadline, or an earlier stall threshold. */
static void test_wakeup_deadline_and_stall(void **state)
{
    struct fx *f = *state;

    f->cfg.deadline_ms = 60000;
    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 1000), T0 + 61000);
    f->ws[0].sent_lsn += 0x100; /* starts lagging; last caught up at T0 + 1000 */
    step(f, T0 + 2000, STOP);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 2000), T0 + 1000 + STALL);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + 1000 + STALL), T0 + 61000);
}

/* After a failed attempt the retry time is the next wake-up. */
static void test_wakeup_retry(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    step(f, d, STOP);
    record_all(f, false, d);
    assert_int_equal(policy_next_wakeup(&f->p, d), d + POLICY_RETRY_MS);
}

/* Armed past its deadline: the arm's expiry; in a shutdown: the physical deadline. */
static void test_wakeup_expiry_and_physical(void **state)
{
    struct fx *f = *state;

    step(f, T0, UP);
    policy_arm(&f->p, T0, -1, "api", &f->out);
    assert_int_equal(policy_next_wakeup(&f->p, T0), T0 + DEADLINE);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + DEADLINE), T0 + DEADLINE + POLICY_ARM_GRACE_MS);
    f->cfg.physical_deadline_ms = 2 * DEADLINE;
    step(f, T0 + DEADLINE + 1, STOP);
    assert_int_equal(policy_next_wakeup(&f->p, T0 + DEADLINE + 1), T0 + 3 * DEADLINE + 1);
}

/* ---- cause and risk in the decision (their rules: test_policy_risk.c) ---- */

/*
 * A client ahead of what was sent never lets a shutdown finish either:
 * lagging, and stalled once unmoved for --stall-after; ended at shutdown start.
 */
static void test_ahead_stalls(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000201);
    step(f, T0, UP);
    assert_int_equal(policy_risk(&f->p, tracked(f, 101), T0), RISK_LAGGING);
    step(f, T0 + STALL, UP);
    assert_int_equal(policy_risk(&f->p, tracked(f, 101), T0 + STALL), RISK_STALLED);
    step(f, T0 + STALL + 1, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_STALLED);
}

/*
 * A process only /proc saw, that cannot be proven a logical walsender, is
 * never terminated: at the deadline it is reported once, in dry run too.
 */
static void test_unproven_reported_once(void **state)
{
    struct fx *f = *state;

    f->ws[add_ws(f, 101, WS_UNPROVEN, "", 0, 0)].lsn_known = false;
    step(f, T0, STOP);
    assert_int_equal(f->out.n_act, 0);
    step(f, T0 + DEADLINE, STOP);
    expect_action(f, 101, ACT_REPORT_UNPROVEN, REASON_DEADLINE);
    step(f, T0 + DEADLINE + POLICY_RETRY_MS, STOP);
    assert_int_equal(f->out.n_act, 0);
    assert_int_equal(n_actions(f, ACT_TERMINATE), 0);
}

/*
 * A physical walsender still there past the deadline of a shutdown, with no
 * --physical-deadline, is reported once (it may hold the stop) and never ended.
 */
static void test_physical_holding_reported_once(void **state)
{
    struct fx *f = *state;
    int64_t d = T0 + 1000 + DEADLINE;

    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    add_logical(f, 101, "app");
    start_shutdown(f, T0 + 1000);
    assert_int_equal(f->out.n_act, 0);
    /* while a logical walsender is left, the physical one waits with the rest */
    step(f, d + POLICY_HOLD_GRACE_MS, STOP);
    assert_int_equal(n_actions(f, ACT_REPORT_HOLDING), 0);
    f->n = 0; /* the logical walsender is gone */
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    step(f, d + POLICY_HOLD_GRACE_MS + 100, STOP);
    expect_action(f, 102, ACT_REPORT_HOLDING, REASON_DEADLINE);
    step(f, d + POLICY_HOLD_GRACE_MS + 200, STOP);
    assert_int_equal(f->out.n_act, 0);
    /* not in an arm without a shutdown */
    step(f, d + 5000, GONE);
    step(f, d + 6000, UP);
    policy_arm(&f->p, d + 6000, 0, "test", &f->out);
    step(f, d + 6000 + 2 * POLICY_HOLD_GRACE_MS, UP);
    assert_int_equal(n_actions(f, ACT_REPORT_HOLDING), 0);
}

/* With --physical-deadline the physical walsender is ended, not reported as holding. */
static void test_physical_holding_not_with_deadline(void **state)
{
    struct fx *f = *state;

    f->cfg.physical_deadline_ms = 2 * DEADLINE;
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000);
    step(f, T0 + 1000 + 2 * DEADLINE, STOP);
    assert_int_equal(n_actions(f, ACT_REPORT_HOLDING), 0);
    expect_action(f, 102, ACT_TERMINATE, REASON_DEADLINE);
}

/*
 * The postmaster SIGKILLed mid-shutdown leaves a logical walsender alive:
 * the shutdown is not complete until it is ended (reason orphaned, at once,
 * whatever the deadline); a failure is reported once and then lets go.
 */
static void test_orphan_ended_then_completed(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000);
    f->n = 1; /* the postmaster is gone; 101 is still there, reparented */
    f->ws[0].orphaned = true;
    f->ws[0].lsn_known = false;
    step(f, T0 + 2000, STOP | GONE);
    assert_false(f->out.completed);
    expect_action(f, 101, ACT_TERMINATE, REASON_ORPHANED);
    record_all(f, true, T0 + 2000);
    step(f, T0 + 2100, STOP | GONE); /* ended: not waited for again */
    assert_true(f->out.completed);
    EXPECT_PHASE(f, PHASE_DONE);
    assert_string_equal(reason_name(REASON_ORPHANED), "orphaned");
}

/* An orphan that cannot be ended is reported once; the shutdown then completes. */
static void test_orphan_failure_lets_go(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000);
    f->ws[0].orphaned = true;
    step(f, T0 + 2000, STOP | GONE);
    expect_action(f, 101, ACT_TERMINATE, REASON_ORPHANED);
    assert_false(f->out.completed);
    record_all(f, false, T0 + 2000);
    step(f, T0 + 2100, STOP | GONE);
    assert_true(f->out.completed);
}

/*
 * A deadline termination that failed while the postmaster was dying (its
 * proof gone, its children not yet reparented) does not count against the
 * orphan the walsender becomes a turn later: the orphan gets its own
 * attempt before the shutdown may complete.
 */
static void test_orphan_after_failed_deadline_attempt(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    start_shutdown(f, T0 + 1000);
    step(f, T0 + 1000 + DEADLINE, STOP);
    expect_action(f, 101, ACT_TERMINATE, REASON_DEADLINE);
    record_all(f, false, T0 + 1000 + DEADLINE); /* postmaster not proven */
    f->ws[0].orphaned = true;
    f->ws[0].lsn_known = false;
    step(f, T0 + 1100 + DEADLINE, STOP | GONE);
    assert_false(f->out.completed);
    expect_action(f, 101, ACT_TERMINATE, REASON_ORPHANED);
    record_all(f, true, T0 + 1100 + DEADLINE);
    step(f, T0 + 1200 + DEADLINE, STOP | GONE);
    assert_true(f->out.completed);
}

/* ---- names ---- */

/* Phases and reasons are named as logs, audit and metrics spell them. */
/* The walsenders the deadline would end, which the guard pins beforehand: the same ones decide()
 * ends. */
static void test_deadline_target(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    add_logical(f, 102, "debezium_1");
    add_ws(f, 103, WS_PHYSICAL, "standby", 0x3000000, 0x3000000);
    add_logical(f, 104, "orphan");
    f->ws[3].orphaned = true;
    exclude(f, "debezium_*");
    step(f, T0, UP);
    assert_true(policy_deadline_target(&f->p, tracked(f, 101)));
    assert_false(policy_deadline_target(&f->p, tracked(f, 102))); /* excluded */
    assert_false(policy_deadline_target(&f->p, tracked(f, 103))); /* physical */
    assert_false(
        policy_deadline_target(&f->p, tracked(f, 104))); /* an orphan, not the deadline's */
    tracked(f, 101)->terminated = true;
    assert_false(policy_deadline_target(&f->p, tracked(f, 101)));
    tracked(f, 101)->terminated = false;
    f->cfg.dry_run = true;
    assert_false(policy_deadline_target(&f->p, tracked(f, 101)));
    f->cfg.dry_run = false;
    /* and decide() ends exactly the target at the deadline (the orphan for reason orphaned) */
    step(f, T0 + 1000, STOP);
    step(f, T0 + 1000 + DEADLINE, STOP);
    int ended = 0;
    for (int i = 0; i < f->out.n_act; i++)
        if (f->out.act[i].type == ACT_TERMINATE && f->out.act[i].reason == REASON_DEADLINE) {
            assert_true(policy_deadline_target(&f->p, &f->p.t[f->out.act[i].index]));
            assert_int_equal(f->p.t[f->out.act[i].index].w.pid, 101);
            ended++;
        }
    assert_int_equal(ended, 1);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(phase_name(PHASE_WAITING), "waiting");
    assert_string_equal(phase_name(PHASE_OBSERVING), "observing");
    assert_string_equal(phase_name(PHASE_ARMED), "armed");
    assert_string_equal(phase_name(PHASE_SHUTTING_DOWN), "shutting_down");
    assert_string_equal(phase_name(PHASE_ENFORCING), "enforcing");
    assert_string_equal(phase_name(PHASE_DONE), "done");
    assert_string_equal(reason_name(REASON_DEADLINE), "deadline");
    assert_string_equal(reason_name(REASON_STALLED), "stalled");
    assert_string_equal(reason_name(REASON_API), "api");
}

#define FX(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_waiting_to_observing),
        FX(test_observing_to_waiting),
        FX(test_observing_to_shutting_down),
        FX(test_waiting_to_shutting_down),
        FX(test_shutting_down_survives_sql_loss),
        FX(test_no_actions_before_deadline),
        FX(test_deadline_terminates_logical_once),
        FX(test_zero_deadline),
        FX(test_deadline_from_shutdown_began),
        FX(test_deadline_long_past),
        FX(test_deadline_began_in_future),
        FX(test_no_enforcing_without_logical),
        FX(test_retry_after_failure),
        FX(test_record),
        FX(test_done_then_waiting),
        FX(test_done_then_observing),
        FX(test_gone_without_shutdown),
        FX(test_enforcing_to_done_and_again),
        FX(test_kill_stalled_at_shutdown_start),
        FX(test_kill_stalled_off_waits),
        FX(test_stall_during_shutdown),
        FX(test_excluded_skipped_once),
        FX(test_excluded_stalled),
        FX(test_excluded_physical_not_terminated),
        FX(test_dry_run),
        FX(test_dry_run_stalled),
        FX(test_dry_run_reports_again_next_stop),
        FX(test_physical_deadline_off),
        FX(test_physical_deadline_set),
        FX(test_physical_deadline_from_shutdown),
        FX(test_pid_reuse),
        FX(test_same_walsender_kept),
        FX(test_list_fresh_and_stale),
        FX(test_proc_only_rows_keep_sql_facts),
        FX(test_proc_only_new_walsender),
        FX(test_arm_from_observing),
        FX(test_arm_from_waiting_explicit),
        FX(test_rearm_never_later),
        FX(test_armed_to_enforcing),
        FX(test_armed_kills_stalled),
        FX(test_reconnect_after_stalled_end),
        FX(test_reconnect_proc_only),
        FX(test_reconnect_rule_bounds),
        FX(test_peer_arm_needs_stop),
        FX(test_peer_arm_and_before_stop),
        FX(test_arm_expiry),
        FX(test_arm_expiry_to_waiting),
        FX(test_arm_then_shutdown),
        FX(test_arm_during_shutdown),
        FX(test_disarm_when_armed),
        FX(test_disarm_from_enforcing),
        FX(test_disarm_while_down),
        FX(test_disarm_refused),
        FX(test_kill_named_refused),
        FX(test_kill_selection),
        FX(test_wakeup_idle),
        FX(test_wakeup_deadline_and_stall),
        FX(test_wakeup_retry),
        FX(test_wakeup_expiry_and_physical),
        FX(test_ahead_stalls),
        FX(test_unproven_reported_once),
        FX(test_physical_holding_reported_once),
        FX(test_physical_holding_not_with_deadline),
        FX(test_orphan_ended_then_completed),
        FX(test_orphan_failure_lets_go),
        FX(test_orphan_after_failed_deadline_attempt),
        FX(test_deadline_target),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
