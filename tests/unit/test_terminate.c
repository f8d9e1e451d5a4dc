/*
 * test_terminate.c - terminate.c without a server: each
 * outcome's audit line and counter (the method written only when one was
 * used, the API's requester and note), the method a dry run reports, the
 * refusal when neither SQL nor the signal path is open, the signal path
 * and an orphan's (a child of this test in a fake /proc), and what a
 * physical walsender that outlives the deadline is said to be bounded by
 */
#include "unit_util.h"

#include "fake_proc.h"

#include "api.h"
#include "audit.h"
#include "guard.h"
#include "pgsql.h"
#include "terminate.h"

/* A guard with no session, its audit log in DIR/audit.json, a shutdown summary open. */
static struct guard *new_guard(const char *dir, char *path)
{
    struct guard *g = calloc(1, sizeof(*g));

    assert_non_null(g);
    ut_path(path, dir, "audit.json");
    g->audit = audit_open(path);
    g->sql = pgsql_session_new();
    g->summary = json_array();
    assert_non_null(g->audit);
    assert_non_null(g->sql);
    return g;
}

static void free_guard(struct guard *g)
{
    audit_close(g->audit);
    pgsql_session_free(g->sql);
    json_decref(g->summary);
    free(g);
}

/* The logical walsender every test ends. */
static struct tracked orders(void)
{
    struct tracked t = {.w = {.pid = 4711, .start_ticks = 99, .kind = WS_LOGICAL}};

    snprintf(t.w.slot, sizeof(t.w.slot), "orders");
    return t;
}

/* The audit log's one line, parsed. */
static json_t *only_line(struct guard *g, const char *path)
{
    char *text;
    json_t *o;

    audit_flush(g->audit);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 1);
    o = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(o);
    return o;
}

/* The events' names, spelled where they are written. */
static void test_terminate_outcome_event(void **state)
{
    (void)state;
    assert_string_equal(terminate_outcome_event(TERMINATE_ENDED), "terminated");
    assert_string_equal(terminate_outcome_event(TERMINATE_FAILED), "terminate_failed");
    assert_string_equal(terminate_outcome_event(TERMINATE_WOULD_END), "would_terminate");
}

/* terminated: the method, counted by method and reason, added to the shutdown's summary. */
static void test_terminated_counts(void **state)
{
    char path[PATH_MAX];
    struct guard *g = new_guard(*state, path);
    struct tracked t = orders();
    json_t *o;

    terminate_audit(g, &t, TERMINATE_ENDED, METHOD_SQL, REASON_DEADLINE, "", NULL, NULL);
    o = only_line(g, path);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "terminated");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "sql");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "deadline");
    assert_string_equal(json_string_value(json_object_get(o, "slot")), "orders");
    assert_null(json_object_get(o, "sql_error"));
    json_decref(o);
    assert_int_equal(g->c.terminations[METHOD_SQL][REASON_DEADLINE], 1);
    assert_int_equal(g->c.terminations[METHOD_SIGNAL][REASON_DEADLINE], 0);
    assert_int_equal(json_array_size(g->summary), 1);
    free_guard(g);
}

/* terminate_failed: no method, the errors kept, counted by reason only, not in the summary. */
static void test_failed_counts(void **state)
{
    char path[PATH_MAX];
    struct guard *g = new_guard(*state, path);
    struct tracked t = orders();
    json_t *o;

    terminate_audit(g, &t, TERMINATE_FAILED, METHOD_SQL, REASON_STALLED, "42501: denied", "no path",
                    NULL);
    o = only_line(g, path);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "terminate_failed");
    assert_null(json_object_get(o, "method"));
    assert_string_equal(json_string_value(json_object_get(o, "sql_error")), "42501: denied");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "no path");
    json_decref(o);
    assert_int_equal(g->c.terminate_failures[REASON_STALLED], 1);
    assert_int_equal(g->c.terminations[METHOD_SQL][REASON_STALLED], 0);
    assert_int_equal(json_array_size(g->summary), 0);
    free_guard(g);
}

/* would_terminate from the API: the method it would use, its requester and note; no counter. */
static void test_would_terminate_api(void **state)
{
    char path[PATH_MAX];
    struct guard *g = new_guard(*state, path);
    struct tracked t = orders();
    struct command c = {0};
    json_t *o;

    snprintf(c.requester, sizeof(c.requester), "unix");
    snprintf(c.reason, sizeof(c.reason), "maintenance");
    assert_int_equal(terminate_method(g), METHOD_SIGNAL); /* no session: the signal */
    terminate_audit(g, &t, TERMINATE_WOULD_END, terminate_method(g), REASON_API, NULL, NULL, &c);
    o = only_line(g, path);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "would_terminate");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "signal");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "api");
    assert_string_equal(json_string_value(json_object_get(o, "requester")), "unix");
    assert_string_equal(json_string_value(json_object_get(o, "note")), "maintenance");
    json_decref(o);
    for (int m = 0; m < N_METHODS; m++)
        assert_int_equal(g->c.terminations[m][REASON_API], 0);
    assert_int_equal(g->c.terminate_failures[REASON_API], 0);
    free_guard(g);
}

/* Neither SQL (no session) nor the signal path: false, and err says why the path is shut. */
static void test_no_way_to_end(void **state)
{
    char path[PATH_MAX], sqlerr[256] = "x", err[512] = "";
    struct guard *g = new_guard(*state, path);
    struct tracked t = orders();
    enum method m = METHOD_SQL;

    assert_false(terminate_use_sql(g));
    g->signal_ok = false;
    snprintf(g->signal_why, sizeof(g->signal_why), "postmaster 12 is not visible");
    assert_false(terminate_walsender(g, &t, &m, sqlerr, sizeof(sqlerr), err, sizeof(err)));
    assert_string_equal(sqlerr, ""); /* SQL was not tried */
    assert_string_equal(err, "signal path unavailable: postmaster 12 is not visible");
    free_guard(g);
}

/* Child pid of this test as the walsender, child of ppid in the fake tree under DIR (root). */
static struct tracked child_walsender(const char *dir, char *root, int ppid, pid_t pid)
{
    struct tracked t = orders();

    t.w.pid = pid;
    t.w.start_ticks = ticks_at(300);
    fake_tree(dir, root);
    fake_process(root, t.w.pid, ppid, t.w.start_ticks, TITLE_LOGICAL);
    return t;
}

/* Open g's signal path on the fake tree at root: PM_PID's postmaster.pid, PostgreSQL 15. */
static void open_signal_path(struct guard *g, const char *root)
{
    g->proc_root = root;
    g->pf = fake_pidfile(BTIME + 100);
    g->pg_major = 15;
    g->signal_ok = true;
}

/*
 * Fork a child that blocks SIGTERM, so that a SIGTERM sent to it stays
 * pending for good (what /proc shows at once, no race with an exit or a
 * handler); SIGUSR1 ends it (30 s at most: its alarm).  Returns once it
 * blocks.
 */
static pid_t spawn_holding_sigterm(void)
{
    sigset_t term;
    int fds[2];
    char c;
    pid_t pid;

    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_BLOCK, &term, NULL);
        alarm(30);
        if (write(fds[1], "b", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    assert_true(pid > 0);
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return pid;
}

/* Is a SIGTERM pending in process pid (/proc/PID/status, SigPnd or ShdPnd)? */
static bool sigterm_pending(pid_t pid)
{
    char path[64], line[256];
    unsigned long long mask = 0, m;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "SigPnd: %llx", &m) == 1 || sscanf(line, "ShdPnd: %llx", &m) == 1)
            mask |= m;
    fclose(f);
    return (mask & (1ULL << (SIGTERM - 1))) != 0;
}

/* No session: the proven SIGTERM ends the walsender, and says so (method signal). */
static void test_signal_path(void **state)
{
    char path[PATH_MAX], root[PATH_MAX], sqlerr[256] = "x", err[512] = "";
    struct guard *g = new_guard(*state, path);
    struct tracked t = child_walsender(*state, root, PM_PID, spawn_sleeper());
    enum method m = METHOD_SQL;

    open_signal_path(g, root);
    assert_int_equal(terminate_method(g), METHOD_SIGNAL);
    if (!terminate_walsender(g, &t, &m, sqlerr, sizeof(sqlerr), err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_int_equal(m, METHOD_SIGNAL);
    assert_string_equal(sqlerr, "");
    assert_true(reaped_by_sigterm(t.w.pid));
    free_guard(g);
}

/* A walsender whose proof fails (another start time: PID reused) is sent nothing. */
static void test_signal_path_refused(void **state)
{
    char path[PATH_MAX], root[PATH_MAX], sqlerr[256] = "", err[512] = "";
    struct guard *g = new_guard(*state, path);
    struct tracked t = child_walsender(*state, root, PM_PID, spawn_holding_sigterm());
    enum method m = METHOD_SQL;
    int st;

    open_signal_path(g, root);
    t.w.start_ticks++;
    assert_false(terminate_walsender(g, &t, &m, sqlerr, sizeof(sqlerr), err, sizeof(err)));
    assert_non_null(strstr(err, "PID reused"));
    assert_false(sigterm_pending(t.w.pid)); /* a SIGTERM sent would be pending in it now */
    assert_int_equal(kill(t.w.pid, SIGTERM), 0);
    assert_true(sigterm_pending(t.w.pid)); /* the check sees one that was sent */
    assert_int_equal(kill(t.w.pid, SIGUSR1), 0);
    assert_int_equal(waitpid(t.w.pid, &st, 0), t.w.pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1);
    free_guard(g);
}

/*
 * An orphan (its postmaster gone) is ended by its own proof, from the
 * postmaster whose stop was followed, even with the signal path shut.
 */
static void test_orphan_path(void **state)
{
    char path[PATH_MAX], root[PATH_MAX], sqlerr[256] = "", err[512] = "";
    struct guard *g = new_guard(*state, path);
    struct tracked t = child_walsender(*state, root, 1, spawn_sleeper());
    enum method m = METHOD_SQL;

    g->proc_root = root;
    g->pg_major = 15;
    g->signal_ok = false;
    /* the followed postmaster started at BTIME + 3700: PM_PID now is another (BTIME + 100) */
    g->stop_pm = (struct pm_ident){.pid = PM_PID, .start_time = BTIME + 3700};
    t.w.orphaned = true;
    if (!terminate_walsender(g, &t, &m, sqlerr, sizeof(sqlerr), err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_int_equal(m, METHOD_SIGNAL);
    assert_true(reaped_by_sigterm(t.w.pid));
    free_guard(g);
}

/* The "holding" line's bound for a wal_sender_timeout (ms; version 0: not read). */
static void check_holding(void **state, int timeout_ms, int version_num, const char *bound)
{
    char path[PATH_MAX];
    struct guard *g = new_guard(*state, path);
    struct tracked t = orders();
    json_t *o;

    t.w.kind = WS_PHYSICAL;
    g->info.wal_sender_timeout_ms = timeout_ms;
    g->info.version_num = version_num;
    terminate_report_holding(g, &t);
    o = only_line(g, path);
    assert_string_equal(json_string_value(json_object_get(o, "event")), "holding");
    assert_string_equal(json_string_value(json_object_get(o, "bound")), bound);
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), 4711);
    json_decref(o);
    free_guard(g);
    unlink(path);
}

/* A physical walsender past the deadline: what bounds it, by wal_sender_timeout. */
static void test_report_holding(void **state)
{
    check_holding(state, 60000, 150000, "wal_sender_timeout (60000 ms) if its standby is silent");
    check_holding(state, 0, 150000, "nothing: wal_sender_timeout is 0");
    check_holding(state, 0, 0, "wal_sender_timeout (unknown)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terminate_outcome_event),
        cmocka_unit_test_setup_teardown(test_terminated_counts, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_failed_counts, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_would_terminate_api, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_no_way_to_end, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_signal_path, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_signal_path_refused, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_orphan_path, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_report_holding, ut_tmpdir_setup, ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
