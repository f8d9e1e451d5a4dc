/*
 * test_session.c - session.c without a server: a connection attempt to
 * nobody hints that the server is gone and backs off, doubling up to its
 * cap; no attempt before it is due; session_connect_now starts over
 */
#include "unit_util.h"

#include "guard.h"
#include "pgsql.h"
#include "session.h"

/* A guard whose DSN names a socket directory that does not exist. */
static struct guard *guard_to_nobody(char *dsn)
{
    struct guard *g = calloc(1, sizeof(*g));

    assert_non_null(g);
    g->cfg.dsn = dsn;
    g->sql = pgsql_session_new();
    assert_non_null(g->sql);
    policy_init(&g->policy, &g->cfg, 0);
    session_connect_now(g, 1000);
    return g;
}

static void free_guard(struct guard *g)
{
    pgsql_session_free(g->sql);
    policy_free(&g->policy);
    free(g);
}

/* Unreachable: a gone hint, the error kept, the next attempt later by a doubling back-off. */
static void test_unreachable_backs_off(void **state)
{
    char dsn[] = "host=/nonexistent-dg-unit-socket-dir port=1 dbname=postgres";
    struct guard *g = guard_to_nobody(dsn);
    int64_t want[] = {250, 500, 1000, 2000, 4000, 5000, 5000};
    int64_t now = 1000;
    bool hint = false;

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        hint = false;
        assert_false(session_connect(g, now, &hint));
        assert_true(hint);
        assert_true(g->attempted);
        assert_true(g->sql_error[0] != '\0');
        assert_int_equal(g->next_connect_ms - now, want[i]);
        assert_false(g->sql_stopping); /* nobody answered: no 57P03, no shutdown seen */
        now = g->next_connect_ms;
    }
    free_guard(g);
}

/* Before it is due, no attempt is made; session_connect_now makes one due at once. */
static void test_not_before_due(void **state)
{
    char dsn[] = "host=/nonexistent-dg-unit-socket-dir port=1 dbname=postgres";
    struct guard *g = guard_to_nobody(dsn);
    bool hint = false;

    (void)state;
    assert_false(session_connect(g, 1000, &hint));
    g->attempted = false;
    hint = false;
    assert_false(session_connect(g, 1249, &hint));
    assert_false(g->attempted);
    assert_false(hint);
    session_connect_now(g, 1300);
    assert_int_equal(g->next_connect_ms, 1300);
    assert_false(session_connect(g, 1300, &hint));
    assert_true(g->attempted);
    assert_int_equal(g->next_connect_ms, 1300 + 250);
    free_guard(g);
}

/* Without a session, checking and releasing it change nothing. */
static void test_no_session(void **state)
{
    char dsn[] = "host=/nonexistent-dg-unit-socket-dir port=1";
    struct guard *g = guard_to_nobody(dsn);

    (void)state;
    g->policy.stopping_seen = true;
    session_check(g, 5000);
    assert_int_equal(g->next_connect_ms, 1000);
    assert_false(g->saw_57p01);
    session_release(g, true);
    assert_false(pgsql_connected(g->sql));
    free_guard(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_backs_off),
        cmocka_unit_test(test_not_before_due),
        cmocka_unit_test(test_no_session),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
