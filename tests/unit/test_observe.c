/*
 * test_observe.c - observe.c's assembly of one struct observation from
 * fake inputs: a data directory with a postmaster.pid and a fake /proc
 * tree in a temporary directory, no SQL session (none is ever attempted).
 * The postmaster's PID is this test's own, so that the signal path's
 * kill(PID, 0) finds a process we may signal; nothing is ever sent.
 */
#include "unit_util.h"

#include "clock.h"
#include "guard.h"
#include "observe.h"
#include "pgsql.h"
#include "pidfile.h"

#define BTIME       1700000000LL
#define PM_START    100 /* seconds after boot */
#define LOGICAL     900001
#define PHYSICAL    900002
#define CHECKPOINT  900003
#define LOGICAL_TXT "postgres: walsender postgres [local] START_REPLICATION"
#define PHYSICAL_TX "postgres: 15/main: walsender rep 127.0.0.1(5000) streaming 0/3000148"

struct fixture {
    char dir[PATH_MAX], root[PATH_MAX], data[PATH_MAX];
    int pm;
    struct guard *g;
};

/* Clock ticks a process started at, given its start in seconds after boot. */
static unsigned long long ticks_at(long long secs)
{
    return (unsigned long long)(secs * sysconf(_SC_CLK_TCK));
}

/* Make ROOT/PID: stat (parent ppid, started at ticks) and, if title, a cmdline. */
static void fake_process(struct fixture *fx, int pid, int ppid, unsigned long long ticks,
                         const char *title)
{
    char name[32], dir[PATH_MAX], line[512], cmd[256];

    snprintf(name, sizeof(name), "%d", pid);
    ut_path(dir, fx->root, name);
    if (mkdir(dir, 0700) != 0)
        assert_int_equal(errno, EEXIST); /* made again: a new parent */
    snprintf(line, sizeof(line),
             "%d (postgres) S %d %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %llu 123456 789 "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
             pid, ppid, ppid, ppid, ticks);
    ut_write_file(dir, "stat", line);
    if (title) {
        size_t n = strlen(title);

        memcpy(cmd, title, n);
        memset(cmd + n, '\0', 8);
        ut_write_bytes(dir, "cmdline", cmd, n + 8);
    }
}

/* ROOT/PID/NAME: a symbolic link to target (cwd, fd/N). */
static void fake_link(struct fixture *fx, int pid, const char *name, const char *target)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%d/%s", fx->root, pid, name);
    (void)unlink(path);
    assert_int_equal(symlink(target, path), 0);
}

/* DATA/postmaster.pid for the fake postmaster, its line 8 saying status. */
static void write_pidfile(struct fixture *fx, long long start, const char *status)
{
    char text[PATH_MAX + 128];

    snprintf(text, sizeof(text), "%d\n%s\n%lld\n5432\n/tmp\n*\n  1 2\n%s\n", fx->pm, fx->data,
             start, status);
    ut_write_file(fx->data, "postmaster.pid", text);
}

/*
 * The tree: a postmaster (this process's PID) working in DATA, started
 * PM_START s after boot; its logical walsender (START_REPLICATION, a file of
 * DATA/base open), its physical one (streaming) and a checkpointer.  The
 * guard: no SQL session and none due, the policy waiting.
 */
static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char base[PATH_MAX + 16];

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/dg-unit-observe-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    ut_mkdir(fx->dir, "proc");
    ut_mkdir(fx->dir, "data");
    ut_path(fx->root, fx->dir, "proc");
    ut_path(fx->data, fx->dir, "data");
    ut_mkdir(fx->data, "base");
    ut_write_file(fx->data, "PG_VERSION", "15\n");
    ut_write_file(fx->root, "stat", "cpu  1 2 3 4\nbtime 1700000000\nprocesses 9\n");
    fx->pm = (int)getpid();
    fake_process(fx, fx->pm, 1, ticks_at(PM_START) + 7, "/usr/lib/postgresql/15/bin/postgres");
    fake_link(fx, fx->pm, "cwd", fx->data);
    fake_process(fx, LOGICAL, fx->pm, ticks_at(200), LOGICAL_TXT);
    snprintf(base, sizeof(base), "%s/base/5/1259", fx->data);
    {
        char fd[PATH_MAX];

        snprintf(fd, sizeof(fd), "%s/%d/fd", fx->root, LOGICAL);
        assert_int_equal(mkdir(fd, 0700), 0);
    }
    fake_link(fx, LOGICAL, "fd/3", base);
    fake_process(fx, PHYSICAL, fx->pm, ticks_at(201), PHYSICAL_TX);
    fake_process(fx, CHECKPOINT, fx->pm, ticks_at(101), "postgres: checkpointer");
    write_pidfile(fx, BTIME + PM_START, "ready");

    fx->g = calloc(1, sizeof(*fx->g));
    assert_non_null(fx->g);
    fx->g->proc_root = fx->root;
    snprintf(fx->g->pgdata, sizeof(fx->g->pgdata), "%s", fx->data);
    fx->g->sql = pgsql_session_new();
    assert_non_null(fx->g->sql);
    fx->g->next_connect_ms = INT64_MAX; /* no connection attempt */
    fx->g->sigfd = fx->g->inofd = fx->g->inowd = -1;
    fx->g->last_poll_us = -1;
    policy_init(&fx->g->policy, &fx->g->cfg, mono_ms());
    observe_read_pidfile(fx->g);
    observe_check_signal_path(fx->g);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    pgsql_session_free(fx->g->sql);
    policy_free(&fx->g->policy);
    free(fx->g->ws);
    free(fx->g);
    ut_rm_tree(fx->dir);
    free(fx);
    return 0;
}

/* The walsender of this turn's list with this PID, or NULL. */
static const struct walsender *listed(const struct observation *obs, int pid)
{
    for (int i = 0; i < obs->n_ws; i++)
        if (obs->ws[i].pid == pid)
            return &obs->ws[i];
    return NULL;
}

/* A running server: the signal path opens, nothing stops, no list without SQL. */
static void test_running(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;

    assert_true(fx->g->signal_ok);
    assert_int_equal(fx->g->pg_major, 15);
    observe_turn(fx->g, &obs);
    assert_false(obs.sql_up);
    assert_false(obs.stopping);
    assert_false(obs.postmaster_gone);
    assert_false(obs.fresh);
    assert_int_equal(obs.n_ws, 0);
    assert_int_equal(fx->g->seen_pm.pid, fx->pm);
    assert_int_equal(fx->g->seen_pm.start_time, BTIME + PM_START);
    assert_false(observe_pidfile_stopping(fx->g));
}

/*
 * "stopping" in postmaster.pid, SQL gone: the list comes from /proc, the
 * logical walsender proven by its open database file, the physical one by
 * its title, the checkpointer left out; the stop is this postmaster's.
 */
static void test_stopping_lists_from_proc(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;
    const struct walsender *w;

    observe_turn(fx->g, &obs);
    write_pidfile(fx, BTIME + PM_START, "stopping");
    observe_turn(fx->g, &obs);
    assert_true(obs.stopping);
    assert_string_equal(obs.stopping_why, "postmaster.pid says \"stopping\"");
    assert_int_equal(obs.began_ms, 0); /* seen running, then stopping: the guard saw it begin */
    assert_false(obs.postmaster_gone);
    assert_true(obs.fresh);
    assert_int_equal(obs.n_ws, 2);
    assert_non_null(w = listed(&obs, LOGICAL));
    assert_int_equal(w->kind, WS_LOGICAL);
    assert_int_equal(w->start_ticks, ticks_at(200));
    assert_string_equal(w->title, LOGICAL_TXT);
    assert_non_null(w = listed(&obs, PHYSICAL));
    assert_int_equal(w->kind, WS_PHYSICAL);
    assert_null(listed(&obs, CHECKPOINT));
    assert_int_equal(fx->g->stop_pm.pid, fx->pm);
    assert_int_equal(fx->g->stop_pm.start_time, BTIME + PM_START);
    assert_true(observe_pidfile_stopping(fx->g));
}

/* A whole shutdown between two turns: postmaster.pid gone with its postmaster. */
static void test_missed_shutdown(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;
    char path[PATH_MAX];

    observe_turn(fx->g, &obs);
    ut_path(path, fx->data, "postmaster.pid");
    assert_int_equal(unlink(path), 0);
    observe_turn(fx->g, &obs);
    assert_true(obs.stopping);
    assert_true(obs.postmaster_gone);
    assert_non_null(strstr(obs.stopping_why, "and its postmaster.pid are gone"));
    assert_int_equal(fx->g->stop_pm.pid, fx->pm);
    assert_true(obs.fresh); /* the orphans' list: the policy tracked none */
    assert_int_equal(obs.n_ws, 0);
    assert_int_equal(fx->g->seen_pm.pid, 0);
}

/* Another postmaster (a new start time on line 3) at the next turn: a missed shutdown. */
static void test_replaced_postmaster(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;

    observe_turn(fx->g, &obs);
    write_pidfile(fx, BTIME + PM_START + 60, "ready");
    observe_turn(fx->g, &obs);
    assert_true(obs.stopping);
    assert_true(obs.postmaster_gone);
    assert_non_null(strstr(obs.stopping_why, "was replaced by"));
    assert_int_equal(fx->g->stop_pm.start_time, BTIME + PM_START);
    assert_int_equal(fx->g->seen_pm.start_time, BTIME + PM_START + 60);
    assert_false(fx->g->signal_ok); /* line 3 no longer matches the process: not proven */
}

/* Track the logical walsender as the policy does after a stopping turn. */
static void track_logical(struct guard *g)
{
    g->policy.t = calloc(1, sizeof(*g->policy.t));
    assert_non_null(g->policy.t);
    g->policy.n = 1;
    g->policy.t[0].w.pid = LOGICAL;
    g->policy.t[0].w.start_ticks = ticks_at(200);
    g->policy.t[0].w.kind = WS_LOGICAL;
    snprintf(g->policy.t[0].w.slot, sizeof(g->policy.t[0].w.slot), "orders");
    g->policy.stopping_seen = true;
}

/*
 * The stopping postmaster gone while its logical walsender lives on: while
 * that one is still its child the postmaster is dying, not gone (nothing
 * observed); once reparented, it is listed as an orphan.
 */
static void test_orphan_after_postmaster(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;
    char path[PATH_MAX];

    write_pidfile(fx, BTIME + PM_START, "stopping");
    observe_turn(fx->g, &obs);
    assert_true(obs.stopping);
    track_logical(fx->g);
    ut_path(path, fx->data, "postmaster.pid");
    assert_int_equal(unlink(path), 0);
    observe_turn(fx->g, &obs);
    assert_false(obs.postmaster_gone);
    assert_false(obs.fresh);
    fake_process(fx, LOGICAL, 1, ticks_at(200), LOGICAL_TXT);
    observe_turn(fx->g, &obs);
    assert_true(obs.postmaster_gone);
    assert_true(obs.fresh);
    assert_int_equal(obs.n_ws, 1);
    assert_int_equal(obs.ws[0].pid, LOGICAL);
    assert_true(obs.ws[0].orphaned);
    assert_string_equal(obs.ws[0].slot, "orders");
    /* a process with that PID but another start time is a stranger, not the orphan */
    fake_process(fx, LOGICAL, 1, ticks_at(300), LOGICAL_TXT);
    observe_turn(fx->g, &obs);
    assert_true(obs.postmaster_gone);
    assert_int_equal(obs.n_ws, 0);
}

/* A postmaster.pid that proves nothing closes the signal path and says why. */
static void test_invalid_pidfile(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;

    ut_write_file(fx->data, "postmaster.pid", "not a pid\n");
    observe_turn(fx->g, &obs);
    assert_int_equal(fx->g->pf_state, PIDFILE_INVALID);
    assert_false(fx->g->signal_ok);
    assert_true(fx->g->signal_why[0] != '\0');
    assert_false(obs.stopping);
    assert_false(obs.fresh);
}

/* Without a data directory nothing is read and the signal path stays closed. */
static void test_no_data_directory(void **state)
{
    struct fixture *fx = *state;
    struct observation obs;

    fx->g->pgdata[0] = '\0';
    observe_check_signal_path(fx->g);
    observe_turn(fx->g, &obs);
    assert_int_equal(fx->g->pf_state, PIDFILE_MISSING);
    assert_false(fx->g->signal_ok);
    assert_non_null(strstr(fx->g->signal_why, "no data directory"));
    assert_false(obs.stopping);
}

/* A postmaster remembered is the same one only with the same PID and start time. */
static void test_same_postmaster(void **state)
{
    struct pidfile pf = {.pid = 42, .start_time = 1000};
    struct pm_ident same = {.pid = 42, .start_time = 1000}, later = {.pid = 42, .start_time = 1001};
    struct pm_ident none = {0};

    (void)state;
    assert_true(observe_same_postmaster(&pf, &same));
    assert_false(observe_same_postmaster(&pf, &later));
    assert_false(observe_same_postmaster(&pf, &none));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopping_lists_from_proc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missed_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_postmaster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_after_postmaster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_pidfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_data_directory, setup, teardown),
        cmocka_unit_test(test_same_postmaster),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
