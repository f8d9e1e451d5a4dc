/*
 * test_command.c - command.c, what the HTTP API asks of the loop, run on a
 * guard with no server: arm (the answer, the audit's deadline_left_ms, the
 * counter, the phase noted late), disarm (done, nothing armed, refused in a
 * shutdown), a Patroni callback that ends an arm, and a kill with neither
 * SQL nor the signal path
 */
#include "unit_util.h"

#include "audit.h"
#include "clock.h"
#include "command.h"
#include "pgsql.h"

struct fixture {
    void *dir; /* the temporary directory (unit_util.h) */
    char path[PATH_MAX];
    struct guard *g;
};

/* A guard with no session and no signal path, its audit log in a fresh directory. */
static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    assert_int_equal(ut_tmpdir_setup(&fx->dir), 0);
    ut_path(fx->path, fx->dir, "audit.json");
    fx->g = calloc(1, sizeof(*fx->g));
    assert_non_null(fx->g);
    fx->g->cfg.deadline_ms = 10000;
    fx->g->audit = audit_open(fx->path);
    fx->g->sql = pgsql_session_new();
    assert_non_null(fx->g->audit);
    assert_non_null(fx->g->sql);
    policy_init(&fx->g->policy, &fx->g->cfg, mono_ms());
    snprintf(fx->g->signal_why, sizeof(fx->g->signal_why), "no postmaster.pid");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    audit_close(fx->g->audit);
    pgsql_session_free(fx->g->sql);
    policy_free(&fx->g->policy);
    free(fx->g);
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
    assert_int_equal(num(c.body, "deadline_ms"), 5000);
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
    assert_int_equal(num(c.body, "deadline_ms"), 10000);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arm_default_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disarm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disarm_refused_in_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_unavailable, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
