/*
 * test_policy_risk.c - the classification of policy_risk.c, on walsenders
 * followed step by step with a fake clock: each cause from its own facts,
 * lagging, stalled (when, reset by movement, never for a physical walsender
 * or unknown LSNs, not for a client catching up) and the risk.
 */
#include "policy_fx.h"

/* Stalled once the confirmed position has not moved for stall_after while behind. */
static void test_stall_detection(void **state)
{
    struct fx *f = *state;
    struct tracked *t;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    for (int64_t t_ms = 0; t_ms < STALL; t_ms += 1000)
        step(f, T0 + t_ms, UP);
    t = tracked(f, 101);
    assert_true(policy_lagging(t));
    assert_int_equal(policy_stalled_for_ms(t, T0 + STALL - 1), STALL - 1);
    assert_false(policy_is_stalled(&f->p, t, T0 + STALL - 1));
    assert_true(policy_is_stalled(&f->p, t, T0 + STALL));
    f->ws[0].sent_lsn = 0x3000900; /* more sent, nothing confirmed: still the same stall */
    step(f, T0 + STALL, UP);
    assert_true(policy_is_stalled(&f->p, tracked(f, 101), T0 + STALL));
}

/* Movement of the confirmed position restarts the stall clock. */
static void test_stall_reset_by_movement(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    step(f, T0, UP);
    step(f, T0 + 20000, UP);
    f->ws[0].flush_lsn = f->ws[0].write_lsn = 0x3000150;
    step(f, T0 + 21000, UP);
    assert_int_equal(tracked(f, 101)->confirmed, 0x3000150);
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + STALL));
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + 21000 + STALL - 1));
    step(f, T0 + 40000, UP);
    assert_true(policy_is_stalled(&f->p, tracked(f, 101), T0 + 21000 + STALL));
}

/* Catching up (confirmed = sent) is not a stall, however long it lasts. */
static void test_caught_up_not_stalled(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "app");
    step(f, T0, UP);
    step(f, T0 + 10 * STALL, UP);
    assert_false(policy_lagging(tracked(f, 101)));
    assert_int_equal(policy_stalled_for_ms(tracked(f, 101), T0 + 10 * STALL), 0);
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + 10 * STALL));
    f->ws[0].sent_lsn += 0x100; /* lagging begins now: the clock starts now, not at T0 */
    step(f, T0 + 10 * STALL + 1000, UP);
    assert_true(policy_stalled_for_ms(tracked(f, 101), T0 + 10 * STALL + 1000) <= 1000);
}

/* flush 0 (client reports write only) falls back to write for confirmation. */
static void test_stall_flush_zero_uses_write(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    f->ws[0].flush_lsn = 0;
    step(f, T0, UP);
    assert_int_equal(tracked(f, 101)->confirmed, 0x3000100);
    assert_true(policy_lagging(tracked(f, 101)));
    f->ws[0].write_lsn = 0x3000180;
    step(f, T0 + 20000, UP);
    assert_int_equal(tracked(f, 101)->confirmed, 0x3000180);
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + STALL));
    f->ws[0].write_lsn = 0x3000200;
    step(f, T0 + 21000, UP);
    assert_false(policy_lagging(tracked(f, 101)));
}

/* Unknown LSNs (no pg_read_all_stats) are never stalled; physical ones are never stalled. */
static void test_never_stalled(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100);
    f->ws[0].lsn_known = false;
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    step(f, T0, UP);
    step(f, T0 + 10 * STALL, UP);
    assert_false(policy_lagging(tracked(f, 101)));
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + 10 * STALL));
    assert_true(policy_lagging(tracked(f, 102)));
    assert_false(policy_is_stalled(&f->p, tracked(f, 102), T0 + 10 * STALL));
}

/* The cause of one walsender as seen: each value from its own facts. */
static void test_cause(void **state)
{
    struct fx *f = *state;
    struct walsender *w;

    w = &f->ws[add_ws(f, 101, WS_LOGICAL, "app", 0x3000200, 0x3000100)];
    assert_int_equal(policy_cause(w), CAUSE_BEHIND);
    w->flush_lsn = w->write_lsn = 0x3000201; /* a client confirming LSN + 1 */
    assert_int_equal(policy_cause(w), CAUSE_AHEAD);
    w->flush_lsn = w->write_lsn = 0x3000200;
    assert_int_equal(policy_cause(w), CAUSE_NONE);
    w->flush_lsn = 0; /* write only: the write position counts */
    assert_int_equal(policy_cause(w), CAUSE_NONE);
    w->write_lsn = 0; /* nothing confirmed yet */
    assert_int_equal(policy_cause(w), CAUSE_SILENT);
    w->sent_lsn = 0;
    assert_int_equal(policy_cause(w), CAUSE_NONE);
    w->sent_lsn = w->flush_lsn = w->write_lsn = 0x3000200;
    w->standby_wait = true; /* 17+: waits for a failover standby, whatever its client does */
    assert_int_equal(policy_cause(w), CAUSE_STANDBY_WAIT);
    w->kind = WS_PHYSICAL; /* the wait event is a logical walsender's */
    assert_int_equal(policy_cause(w), CAUSE_NONE);
    w->lsn_known = false;
    assert_int_equal(policy_cause(w), CAUSE_UNKNOWN);
    w->lsn_known = true;
    w->kind = WS_UNPROVEN;
    assert_int_equal(policy_cause(w), CAUSE_UNKNOWN);
    assert_null(cause_name(CAUSE_NONE));
    assert_string_equal(cause_name(CAUSE_BEHIND), "behind");
    assert_string_equal(cause_name(CAUSE_AHEAD), "ahead");
    assert_string_equal(cause_name(CAUSE_STANDBY_WAIT), "standby_wait");
    assert_string_equal(cause_name(CAUSE_SILENT), "silent");
    assert_string_equal(cause_name(CAUSE_UNKNOWN), "unknown");
}

/* An ahead client while sending still moves (catching up after a reconnect) is not stuck. */
static void test_ahead_catching_up(void **state)
{
    struct fx *f = *state;

    add_ws(f, 101, WS_LOGICAL, "app", 0x3000000, 0x3000201);
    step(f, T0, UP);
    for (int i = 1; i <= 4; i++) {
        f->ws[0].sent_lsn += 0x40;
        step(f, T0 + i * STALL / 2, UP);
    }
    assert_true(policy_lagging(tracked(f, 101)));
    assert_false(policy_is_stalled(&f->p, tracked(f, 101), T0 + 2 * STALL));
    step(f, T0 + 3 * STALL, UP); /* sending stands still now too */
    assert_true(policy_is_stalled(&f->p, tracked(f, 101), T0 + 3 * STALL));
}

/* Risk: ok, unknown, lagging; stalled never for a physical walsender, however long. */
static void test_risk(void **state)
{
    struct fx *f = *state;

    add_logical(f, 101, "ok");
    add_ws(f, 102, WS_PHYSICAL, "replica1", 0x3000200, 0x3000100);
    add_ws(f, 103, WS_LOGICAL, "blind", 0x3000200, 0x3000100);
    f->ws[2].lsn_known = false;
    add_ws(f, 104, WS_LOGICAL, "failover", 0x3000200, 0x3000200);
    f->ws[3].standby_wait = true;
    step(f, T0, UP);
    step(f, T0 + 10 * STALL, UP);
    assert_int_equal(policy_risk(&f->p, tracked(f, 101), T0 + 10 * STALL), RISK_OK);
    assert_int_equal(policy_risk(&f->p, tracked(f, 102), T0 + 10 * STALL), RISK_LAGGING);
    assert_int_equal(policy_risk(&f->p, tracked(f, 103), T0 + 10 * STALL), RISK_UNKNOWN);
    assert_int_equal(policy_risk(&f->p, tracked(f, 104), T0 + 10 * STALL), RISK_LAGGING);
    assert_false(policy_is_stalled(&f->p, tracked(f, 104), T0 + 10 * STALL));
    assert_string_equal(risk_name(RISK_STALLED), "stalled");
}

#define FX(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX(test_stall_detection),       FX(test_stall_reset_by_movement),
        FX(test_caught_up_not_stalled), FX(test_stall_flush_zero_uses_write),
        FX(test_never_stalled),         FX(test_cause),
        FX(test_ahead_catching_up),     FX(test_risk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
