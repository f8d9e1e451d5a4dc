/*
 * test_check.c - "demotion-guard check": argument parsing and its errors,
 * the evaluation of sample answers (every action and exit code 0, 3, 4),
 * the rendering, and check_main's exit codes 1 (unreachable) and 2 (usage)
 */
#include "unit_util.h"

#include "check.h"
#include "client.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *no_env[] = {NULL};

/* A /v1/status with the given signal path, dry run, kill-stalled and physical deadline. */
static json_t *status_of(bool signal, bool dry_run, bool kill_stalled, const char *physical)
{
    char text[2048];
    json_error_t jerr;
    json_t *j;

    snprintf(text, sizeof(text),
             "{\"phase\": \"observing\","
             " \"paths\": {\"sql\": {\"available\": true, \"why\": null},"
             "  \"signal\": {\"available\": %s, \"why\": %s}},"
             " \"config\": {\"deadline_ms\": 10000, \"stall_after_ms\": 30000,"
             "  \"kill_stalled_at_shutdown\": %s, \"physical_deadline_ms\": %s,"
             "  \"dry_run\": %s, \"exclude_slot\": [\"debezium_*\"], \"token\": false}}",
             signal ? "true" : "false", signal ? "null" : "\"no data directory\"",
             kill_stalled ? "true" : "false", physical, dry_run ? "true" : "false");
    j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return j;
}

/* A /v1/walsenders holding the given rows (JSON objects, comma-separated). */
static json_t *walsenders_of(const char *rows)
{
    char text[4096];
    json_error_t jerr;
    json_t *j;

    snprintf(text, sizeof(text), "{\"as_of\": \"2026-11-25T22:00:00.123Z\", \"walsenders\": [%s]}",
             rows);
    j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return j;
}

#define HEALTHY                                                                                    \
    "{\"pid\": 4302, \"kind\": \"logical\", \"slot\": \"fine\", \"lag_bytes\": 0,"                 \
    " \"stalled_for_ms\": 0, \"risk\": \"ok\", \"cause\": null, \"excluded\": false}"
#define STALLED                                                                                    \
    "{\"pid\": 4300, \"kind\": \"logical\", \"slot\": \"orders\", \"lag_bytes\": 166456,"          \
    " \"stalled_for_ms\": 45000, \"risk\": \"stalled\", \"cause\": \"behind\", \"excluded\": "     \
    "false}"
#define LAGGING                                                                                    \
    "{\"pid\": 4303, \"kind\": \"logical\", \"slot\": \"billing\", \"lag_bytes\": -1,"             \
    " \"stalled_for_ms\": 2000, \"risk\": \"lagging\", \"cause\": \"ahead\", \"excluded\": false}"
#define EXCLUDED                                                                                   \
    "{\"pid\": 4301, \"kind\": \"logical\", \"slot\": \"debezium_inv\", \"lag_bytes\": null,"      \
    " \"stalled_for_ms\": 0, \"risk\": \"unknown\", \"cause\": \"unknown\", \"excluded\": true}"
#define PHYSICAL                                                                                   \
    "{\"pid\": 4400, \"kind\": \"physical\", \"slot\": null, \"lag_bytes\": 3221225472,"           \
    " \"stalled_for_ms\": 0, \"risk\": \"lagging\", \"cause\": \"behind\", \"excluded\": false}"
#define UNPROVEN                                                                                   \
    "{\"pid\": 4500, \"kind\": \"unproven\", \"slot\": null, \"lag_bytes\": null,"                 \
    " \"stalled_for_ms\": 0, \"risk\": \"unknown\", \"cause\": \"unknown\", \"excluded\": false}"

/* Evaluate, check the exit code and that the verdict holds want; returns the result. */
static json_t *evaluate(json_t *st, const char *rows, int exit_code, const char *want)
{
    json_t *ws = walsenders_of(rows), *res = check_evaluate(st, ws);
    const char *verdict = json_string_value(json_object_get(res, "verdict"));

    assert_non_null(verdict);
    assert_int_equal(json_integer_value(json_object_get(res, "exit")), exit_code);
    if (strstr(verdict, want) == NULL)
        fail_msg("verdict \"%s\" does not hold \"%s\"", verdict, want);
    json_decref(st);
    json_decref(ws);
    return res;
}

/* The action of holder i. */
static const char *action_of(const json_t *res, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(res, "holders"), i), "action"));
}

/* No cause anywhere: exit 0, no holders. */
static void test_clear(void **state)
{
    json_t *res = evaluate(status_of(true, false, true, "null"), HEALTHY, CHECK_CLEAR,
                           "nothing would hold a stop up (1 walsender,");

    (void)state;
    assert_int_equal(json_array_size(json_object_get(res, "holders")), 0);
    json_decref(res);
    res = evaluate(status_of(true, false, true, "null"), "", CHECK_CLEAR, "nothing would hold");
    json_decref(res);
}

/* A stalled one ended at shutdown start, a lagging one at the deadline: exit 3, within 10s. */
static void test_ended(void **state)
{
    json_t *res =
        evaluate(status_of(true, false, true, "null"), STALLED "," LAGGING "," HEALTHY, CHECK_ENDED,
                 "a stop now would be held up by 2 walsenders; the guard ends them "
                 "within 10s");

    (void)state;
    assert_string_equal(action_of(res, 0), "ended at shutdown start (stalled)");
    assert_string_equal(action_of(res, 1), "ended at the deadline (10s)");
    assert_int_equal(json_integer_value(json_object_get(res, "worst_case_ms")), 10000);
    json_decref(res);
    res = evaluate(status_of(true, false, true, "null"), STALLED, CHECK_ENDED,
                   "held up by 1 walsender; the guard ends it at shutdown start");
    json_decref(res);
    res = evaluate(status_of(true, false, false, "null"), STALLED, CHECK_ENDED,
                   "the guard ends it within 10s");
    assert_string_equal(action_of(res, 0), "ended at the deadline (10s)");
    json_decref(res);
}

/* An excluded slot: exit 4, named in the verdict. */
static void test_excluded(void **state)
{
    json_t *res = evaluate(status_of(true, false, true, "null"), STALLED "," EXCLUDED, CHECK_HELD,
                           "held up by 2 walsenders; 1 walsender the guard will not end: slot "
                           "debezium_inv (excluded slot)");

    (void)state;
    assert_true(json_is_null(json_object_get(res, "worst_case_ms")));
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(res, "holders"), 1), "ended")));
    json_decref(res);
}

/* Physical: not ended without --physical-deadline, ended with one; unproven never. */
static void test_physical_unproven(void **state)
{
    json_t *res = evaluate(status_of(true, false, true, "null"), PHYSICAL, CHECK_HELD,
                           "pid 4400 (physical (no --physical-deadline))");

    (void)state;
    json_decref(res);
    res = evaluate(status_of(true, false, true, "30000"), PHYSICAL, CHECK_ENDED, "within 30s");
    assert_string_equal(action_of(res, 0), "physical: ended at --physical-deadline (30s)");
    json_decref(res);
    res =
        evaluate(status_of(true, false, true, "null"), UNPROVEN, CHECK_HELD, "pid 4500 (unproven");
    json_decref(res);
}

/* A dry run and the SQL-only path at a fast shutdown: exit 4, with why. */
static void test_dry_run_sql_only(void **state)
{
    json_t *res = evaluate(status_of(true, true, true, "null"), LAGGING, CHECK_HELD, "dry run");

    (void)state;
    json_decref(res);
    res = evaluate(status_of(false, false, true, "null"), STALLED, CHECK_HELD,
                   "slot orders (SQL-only path at a fast shutdown)");
    assert_non_null(strstr(action_of(res, 0), "unless the stop is armed before (before_stop"));
    json_decref(res);
    res = evaluate(status_of(false, false, true, "null"), LAGGING, CHECK_HELD,
                   "slot billing (SQL-only path at a fast shutdown)");
    assert_non_null(strstr(action_of(res, 0), "can only report"));
    assert_null(strstr(action_of(res, 0), "unless the stop is armed"));
    json_decref(res);
}

/* Neither path: exit 4, "no path to end it". */
static void test_no_path(void **state)
{
    json_t *st = status_of(false, false, true, "null");
    json_t *sql = json_object_get(json_object_get(st, "paths"), "sql"), *res;

    (void)state;
    json_object_set_new(sql, "available", json_false());
    res = evaluate(st, STALLED, CHECK_HELD, "slot orders (no path to end it)");
    json_decref(res);
}

/* The text: one line per holder, then the verdict. */
static void test_render(void **state)
{
    json_t *res = evaluate(status_of(true, false, true, "null"), STALLED "," LAGGING "," EXCLUDED,
                           CHECK_HELD, "will not end");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void)state;
    check_render(out, res);
    fclose(out);
    assert_string_equal(
        text, "slot orders (logical, pid 4300): behind, lag 162.6 KiB for 45s, risk stalled: "
              "ended at shutdown start (stalled)\n"
              "slot billing (logical, pid 4303): ahead, lag -1 B for 2s, risk lagging: ended "
              "at the deadline (10s)\n"
              "slot debezium_inv (logical, pid 4301): unknown, lag -, risk unknown: excluded slot\n"
              "a stop now would be held up by 3 walsenders; 1 walsender the guard will not end: "
              "slot debezium_inv (excluded slot)\n");
    free(text);
    json_decref(res);
}

/* Options: defaults, DEMOTION_GUARD_URL, flags win, --json, --help; errors name the option. */
static void test_parse(void **state)
{
    char *env[] = {"DEMOTION_GUARD_URL=unix:/run/dg.sock", NULL};
    char *a1[] = {"check"}, *a2[] = {"check", "--json", "--url", "http://h:1", "--timeout=2s"};
    char *a3[] = {"check", "--help", "--bogus"}, *bad1[] = {"check", "--bogus"};
    char *bad2[] = {"check", "--timeout", "10"}, *bad3[] = {"check", "--url"};
    char *bad4[] = {"check", "--url", "ftp://x"}, *bad5[] = {"check", "--json=yes"};
    struct check_args a;
    char err[CLIENT_ERR_LEN];

    (void)state;
    assert_true(check_parse_args(NARGS(a1), a1, env, &a, err, sizeof(err)));
    assert_string_equal(a.url, "unix:/run/dg.sock");
    assert_int_equal(a.timeout_ms, 10000);
    assert_false(a.json);
    assert_true(check_parse_args(NARGS(a2), a2, env, &a, err, sizeof(err)));
    assert_string_equal(a.url, "http://h:1");
    assert_int_equal(a.timeout_ms, 2000);
    assert_true(a.json);
    assert_true(check_parse_args(NARGS(a3), a3, no_env, &a, err, sizeof(err)));
    assert_true(a.help);
    assert_false(check_parse_args(NARGS(bad1), bad1, no_env, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "\"--bogus\""));
    assert_false(check_parse_args(NARGS(bad2), bad2, no_env, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "\"10\" for option \"--timeout\""));
    assert_false(check_parse_args(NARGS(bad3), bad3, no_env, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "\"--url\" needs a value"));
    assert_false(check_parse_args(NARGS(bad4), bad4, no_env, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "ftp://x"));
    assert_false(check_parse_args(NARGS(bad5), bad5, no_env, &a, err, sizeof(err)));
    assert_non_null(strstr(err, "takes no value"));
}

/* check_main: 2 on a usage error, 1 when nothing listens, 0 for --help. */
static void test_main_exit_codes(void **state)
{
    char *usage[] = {"check", "--bogus"}, *help[] = {"check", "--help"};
    char *gone[] = {"check", "--url", "unix:/nonexistent/dg.sock", "--timeout", "1s"};

    (void)state;
    assert_int_equal(check_main(NARGS(usage), usage), CHECK_USAGE);
    assert_int_equal(check_main(NARGS(gone), gone), CHECK_ERROR);
    assert_int_equal(check_main(NARGS(help), help), CHECK_CLEAR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_ended),
        cmocka_unit_test(test_excluded),
        cmocka_unit_test(test_physical_unproven),
        cmocka_unit_test(test_dry_run_sql_only),
        cmocka_unit_test(test_no_path),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_main_exit_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
