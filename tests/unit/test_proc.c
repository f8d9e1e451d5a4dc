/*
 * test_proc.c - /proc/PID/stat parsing, process titles, the postmaster's
 * children, and the identity checks and pins of walsenders, run against
 * fake /proc trees in a temporary directory (fake_proc.h; postmaster.pid
 * and the postmaster's proof are test_pidfile.c's).  The only signals sent
 * from here go to children this test forked (the pin tests: a pidfd
 * reaches its process or nothing).
 */
#include "fake_proc.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* A normal stat line gives pid, comm, state, parent and start ticks. */
static void test_parse_stat_normal(void **state)
{
    struct proc_stat st;
    char line[512];

    (void)state;
    stat_line(line, sizeof(line), 1234, "postgres", 1000, 987654321ULL);
    assert_true(proc_parse_stat(line, &st));
    assert_int_equal(st.pid, 1234);
    assert_string_equal(st.comm, "postgres");
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.ppid, 1000);
    assert_int_equal(st.start_ticks, 987654321ULL);
}

/* A comm holding spaces and parentheses is read up to the last ')'. */
static void test_parse_stat_tricky_comm(void **state)
{
    struct proc_stat st;
    char line[512];

    (void)state;
    stat_line(line, sizeof(line), 1234, "postgres: (x) y", 1000, 5555);
    assert_true(proc_parse_stat(line, &st));
    assert_string_equal(st.comm, "postgres: (x) y");
    assert_int_equal(st.ppid, 1000);
    assert_int_equal(st.start_ticks, 5555);
    stat_line(line, sizeof(line), 1234, "a) S 1 1 1 0 -1", 1000, 5556);
    assert_true(proc_parse_stat(line, &st));
    assert_string_equal(st.comm, "a) S 1 1 1 0 -1");
    assert_int_equal(st.ppid, 1000);
    assert_int_equal(st.start_ticks, 5556);
}

/* Exactly 22 fields, with or without a newline, are enough. */
static void test_parse_stat_exactly_22_fields(void **state)
{
    struct proc_stat st;

    (void)state;
    assert_true(proc_parse_stat("7 (p) R 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 77", &st));
    assert_int_equal(st.start_ticks, 77);
    assert_true(proc_parse_stat("7 (p) R 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 78\n", &st));
    assert_int_equal(st.start_ticks, 78);
    assert_int_equal(st.state, 'R');
}

/* Truncated lines and garbage are refused. */
static void test_parse_stat_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "1234",
        "1234 (postgres",
        "1234 (postgres) S",
        "1234 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0",
        "1234 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 ",
        "1234 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 x 1",
        "1234 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 0 1",
        "1234 (postgres) S x 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1",
        "(postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1",
        "0 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1",
        "-3 (postgres) S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1",
        "1234 )postgres( S 1000 0 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1",
        "hello world",
    };
    struct proc_stat st;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (proc_parse_stat(bad[i], &st))
            fail_msg("accepted \"%s\"", bad[i]);
}

/* This test's own /proc/self/stat parses to its own PID and parent. */
static void test_parse_stat_real_proc(void **state)
{
    struct proc_stat st;

    (void)state;
    assert_true(proc_read_stat("/proc", getpid(), &st));
    assert_int_equal(st.pid, getpid());
    assert_int_equal(st.ppid, getppid());
    assert_true(st.start_ticks > 0);
}

/* proc_read_stat and proc_read_title read the fake tree; absent entries fail. */
static void test_read_stat_and_title(void **state)
{
    char root[PATH_MAX], title[256], small[12];
    struct proc_stat st;

    fake_tree(*state, root);
    assert_true(proc_read_stat(root, LOGICAL_PID, &st));
    assert_int_equal(st.ppid, PM_PID);
    assert_int_equal(st.start_ticks, ticks_at(200));
    assert_false(proc_read_stat(root, 4242, &st));
    assert_false(proc_read_stat(root, 1006, &st));
    assert_true(proc_read_title(root, PHYSICAL_PID, title, sizeof(title)));
    assert_string_equal(title, TITLE_PHYSICAL);
    assert_true(proc_read_title(root, LOGICAL_PID, small, sizeof(small)));
    assert_string_equal(small, "postgres: w");
    assert_false(proc_read_title(root, 1005, title, sizeof(title)));
    assert_false(proc_read_title(root, 4242, title, sizeof(title)));
}

/* A stat file naming another PID than its directory, or unparsable, is refused. */
static void test_read_stat_mismatch(void **state)
{
    char root[PATH_MAX], dir[PATH_MAX], line[512];
    struct proc_stat st;

    fake_tree(*state, root);
    ut_mkdir(root, "1100");
    ut_path(dir, root, "1100");
    stat_line(line, sizeof(line), 1101, "postgres", PM_PID, 5);
    ut_write_file(dir, "stat", line);
    assert_false(proc_read_stat(root, 1100, &st));
    ut_write_file(dir, "stat", "garbage");
    assert_false(proc_read_stat(root, 1100, &st));
    ut_write_file(dir, "stat", "");
    assert_false(proc_read_stat(root, 1100, &st));
}

/* Assert what proc_parse_title says of a title under major's rules. */
static void check_title(const char *title, int major, enum proc_title want)
{
    enum proc_title got = proc_parse_title(title, major);

    if (got != want)
        fail_msg("\"%s\" on %d: kind %d, expected %d", title, major, got, want);
}

/*
 * Real titles of streaming walsenders, by major (FACTS.md 23): a logical
 * one shows "idle" on 10-13 and its command from 14, physical ones
 * "streaming X/Y" everywhere.
 */
static void test_title_by_major(void **state)
{
    (void)state;
    for (int major = 0; major <= 18; major += major ? 1 : 10) {
        bool m10 = major == 0 || major == 10, m11 = major == 0 || major >= 11;
        bool m14 = major == 0 || major >= 14;

        check_title("postgres: wal sender process postgres 127.0.0.1(48768) idle", major,
                    m10 ? TITLE_WALSENDER : TITLE_OTHER);
        check_title("postgres: wal sender process rep 127.0.0.1(5000) streaming 0/3000148", major,
                    m10 ? TITLE_STREAMING : TITLE_OTHER);
        check_title("postgres: walsender postgres 127.0.0.1(39886) idle", major,
                    m11 ? TITLE_WALSENDER : TITLE_OTHER);
        check_title("postgres: walsender postgres 127.0.0.1(39898) START_REPLICATION", major,
                    m14   ? TITLE_START_REPLICATION
                    : m11 ? TITLE_WALSENDER
                          : TITLE_OTHER);
        check_title("postgres: walsender postgres postgres 127.0.0.1(39898) START_REPLICATION",
                    major,
                    m14   ? TITLE_START_REPLICATION
                    : m11 ? TITLE_WALSENDER
                          : TITLE_OTHER);
        check_title("postgres: walsender rep 10.0.0.2(41234) streaming 0/3000148", major,
                    m11 ? TITLE_STREAMING : TITLE_OTHER);
        check_title("postgres: 13/main: walsender postgres [local] idle", major,
                    m11 ? TITLE_WALSENDER : TITLE_OTHER);
        check_title("postgres: 10/main: wal sender process postgres [local] idle", major,
                    m10 ? TITLE_WALSENDER : TITLE_OTHER);
    }
}

/* Walsender titles with and without cluster name; physical ones show "streaming". */
static void test_title_is_walsender(void **state)
{
    (void)state;
    check_title(TITLE_LOGICAL, 15, TITLE_START_REPLICATION);
    check_title(TITLE_PHYSICAL, 15, TITLE_STREAMING);
    check_title("postgres: main: walsender app 10.0.0.3(5000) START_REPLICATION", 16,
                TITLE_START_REPLICATION);
    check_title("postgres: walsender app [local] START_REPLICATION   ", 18,
                TITLE_START_REPLICATION);
}

/*
 * A walsender's prefix with another state proves only the prefix: an idle
 * walsender, a command, or a normal backend of a role named "walsender".
 */
static void test_title_not_streaming(void **state)
{
    (void)state;
    check_title("postgres: 15/main: walsender postgres [local] idle", 15, TITLE_WALSENDER);
    check_title("postgres: walsender rep 10.0.0.2(41234) BASE_BACKUP", 15, TITLE_WALSENDER);
    check_title("postgres: walsender postgres [local] SELECT", 15, TITLE_WALSENDER);
    check_title("postgres: walsender postgres [local] idle in transaction", 12, TITLE_WALSENDER);
    /* on 10-13 no walsender shows its command: the tail proves nothing there */
    check_title("postgres: walsender postgres [local] START_REPLICATION", 13, TITLE_WALSENDER);
}

/* Other PostgreSQL processes, of every major, and other programs are not walsenders. */
static void test_title_not_walsender(void **state)
{
    static const char *const others[] = {
        "postgres: checkpointer",
        "postgres: 15/main: checkpointer ",
        "postgres: checkpointer process   ",
        "postgres: wal writer process   ",
        "postgres: stats collector process   ",
        "postgres: bgworker: logical replication launcher   ",
        "postgres: walwriter",
        "postgres: walreceiver streaming 0/3000148",
        "postgres: wal receiver process   streaming 0/3000148",
        "postgres: 15/main: walreceiver streaming 0/3000148",
        "postgres: logical replication launcher",
        "postgres: 15/main: logical replication worker for subscription 16400",
        "postgres: io worker 0",
        "postgres: io worker 2",
        "postgres: slotsync worker",
        "postgres: walsummarizer",
        "postgres: autovacuum launcher",
        "postgres: app appdb 10.0.0.9(5000) idle",
        "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main",
        "postgres:walsender rep",
        "postgres: walsenders x",
        "postgres: walsender",
        "postgres: walsender ",
        "postgres: walsender  x",
        "postgres: wal sender process",
        "bash",
        "",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        for (int major = 0; major <= 18; major += major ? 1 : 10)
            check_title(others[i], major, TITLE_OTHER);
}

/* Find pid in a list of children; NULL when absent. */
static const struct proc_child *child_of(const struct proc_child *c, int n, int pid)
{
    for (int i = 0; i < n; i++)
        if (c[i].ident.pid == pid)
            return &c[i];
    return NULL;
}

/* Every child of this postmaster is listed, with its title's kind and start time. */
static void test_list_children(void **state)
{
    char root[PATH_MAX];
    struct proc_child ws[16];
    const struct proc_child *c;
    int n;

    fake_tree(*state, root);
    n = proc_list_children(root, PM_PID, 15, ws, 16);
    assert_int_equal(n, 4);
    assert_non_null(c = child_of(ws, n, LOGICAL_PID));
    assert_int_equal(c->kind, TITLE_START_REPLICATION);
    assert_int_equal(c->ident.start_ticks, ticks_at(200));
    assert_string_equal(c->title, TITLE_LOGICAL);
    assert_non_null(c = child_of(ws, n, PHYSICAL_PID));
    assert_int_equal(c->kind, TITLE_STREAMING);
    assert_int_equal(c->ident.start_ticks, ticks_at(201));
    assert_non_null(c = child_of(ws, n, CHECKPOINTER_PID));
    assert_int_equal(c->kind, TITLE_OTHER);
    assert_non_null(c = child_of(ws, n, 1005)); /* no cmdline (exiting): listed, no title */
    assert_int_equal(c->kind, TITLE_OTHER);
    assert_string_equal(c->title, "");
    assert_null(child_of(ws, n, FOREIGN_WS_PID));
    /* the same logical walsender title read by 13's rules proves only the prefix */
    n = proc_list_children(root, PM_PID, 13, ws, 16);
    assert_non_null(c = child_of(ws, n, LOGICAL_PID));
    assert_int_equal(c->kind, TITLE_WALSENDER);
    n = proc_list_children(root, OTHER_PM_PID, 15, ws, 16);
    assert_int_equal(n, 1);
    assert_int_equal(ws[0].ident.pid, FOREIGN_WS_PID);
}

/*
 * With the postmaster's task/PID/children file only the children it lists
 * are read; each one's parent is still checked in its own stat.
 */
static void test_list_children_file(void **state)
{
    char root[PATH_MAX], task[PATH_MAX], line[64];
    struct proc_child ws[16];
    int n;

    fake_tree(*state, root);
    snprintf(line, sizeof(line), "%d", PM_PID);
    ut_path(task, root, line);
    ut_mkdir(task, "task");
    snprintf(line, sizeof(line), "%d/task", PM_PID);
    ut_path(task, root, line);
    snprintf(line, sizeof(line), "%d", PM_PID);
    ut_mkdir(task, line);
    snprintf(line, sizeof(line), "%d/task/%d", PM_PID, PM_PID);
    ut_path(task, root, line);
    /* the logical walsender, the checkpointer, and a foreign walsender listed by mistake */
    snprintf(line, sizeof(line), "%d %d %d ", LOGICAL_PID, CHECKPOINTER_PID, FOREIGN_WS_PID);
    ut_write_file(task, "children", line);
    n = proc_list_children(root, PM_PID, 15, ws, 16);
    assert_int_equal(n, 2);
    assert_non_null(child_of(ws, n, LOGICAL_PID));
    assert_non_null(child_of(ws, n, CHECKPOINTER_PID));
    assert_null(child_of(ws, n, FOREIGN_WS_PID));
    ut_write_file(task, "children", "");
    assert_int_equal(proc_list_children(root, PM_PID, 15, ws, 16), 0);
}

/* The list stops at max; a root that cannot be read gives -1. */
static void test_list_children_limits(void **state)
{
    char root[PATH_MAX], gone[PATH_MAX];
    struct proc_child ws[1];

    fake_tree(*state, root);
    assert_int_equal(proc_list_children(root, PM_PID, 15, ws, 1), 1);
    assert_int_equal(proc_list_children(root, 4242, 15, ws, 1), 0);
    ut_path(gone, *state, "no-such-proc");
    assert_int_equal(proc_list_children(gone, PM_PID, 15, ws, 1), -1);
}

/* Run proc_verify_walsender; on refusal check that err contains needle. */
static void verify(const char *root, const struct pidfile *pf, int pid, unsigned long long ticks,
                   const char *needle)
{
    struct proc_ident id = {.pid = pid, .start_ticks = ticks};
    char err[256] = "";
    bool ok = proc_verify_walsender(root, pf, &id, 15, false, err, sizeof(err));

    if (needle == NULL && !ok)
        fail_msg("pid %d refused: %s", pid, err);
    if (needle != NULL && ok)
        fail_msg("pid %d accepted, expected \"%s\"", pid, needle);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

/* A walsender child with its recorded start time is proven, logical or physical. */
static void test_verify_ok(void **state)
{
    char root[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    verify(root, &pf, LOGICAL_PID, ticks_at(200), NULL);
    verify(root, &pf, PHYSICAL_PID, ticks_at(201), NULL);
}

/* Wrong parent, changed start time (PID reuse), other title, gone: all refused. */
static void test_verify_refusals(void **state)
{
    char root[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    verify(root, &pf, FOREIGN_WS_PID, ticks_at(202), "parent 2000");
    verify(root, &pf, LOGICAL_PID, ticks_at(200) + 1, "PID reused");
    verify(root, &pf, LOGICAL_PID, 0, "PID reused");
    verify(root, &pf, CHECKPOINTER_PID, ticks_at(101), "no walsender's title");
    verify(root, &pf, 1005, ticks_at(203), "no walsender's title");
    verify(root, &pf, 4242, ticks_at(200), "gone");
}

/* A process expected to be a logical walsender but showing "streaming X/Y" is refused. */
static void test_verify_expect_logical(void **state)
{
    char root[PATH_MAX], err[256] = "";
    struct pidfile pf;
    struct proc_ident phys = {.pid = PHYSICAL_PID, .start_ticks = ticks_at(201)};
    struct proc_ident logi = {.pid = LOGICAL_PID, .start_ticks = ticks_at(200)};

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    assert_false(proc_verify_walsender(root, &pf, &phys, 15, true, err, sizeof(err)));
    assert_non_null(strstr(err, "physical walsender"));
    assert_true(proc_verify_walsender(root, &pf, &logi, 15, true, err, sizeof(err)));
}

/*
 * On 10-13 a streaming logical walsender's title ends in "idle": the
 * identity SQL recorded (PID, start time, parent) proves it, the title
 * only has to carry that major's walsender prefix.
 */
static void test_verify_idle_title_by_major(void **state)
{
    static const struct {
        int major;
        const char *title;
    } cases[] = {
        {10, "postgres: wal sender process postgres 127.0.0.1(48768) idle"},
        {11, "postgres: walsender postgres 127.0.0.1(39886) idle"},
        {13, "postgres: walsender postgres 127.0.0.1(39886) idle"},
    };
    char root[PATH_MAX], dir[PATH_MAX], pid[16], err[256] = "";
    struct pidfile pf;
    struct proc_ident logi = {.pid = LOGICAL_PID, .start_ticks = ticks_at(200)};

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    snprintf(pid, sizeof(pid), "%d", LOGICAL_PID);
    ut_path(dir, root, pid);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ut_write_bytes(dir, "cmdline", cases[i].title, strlen(cases[i].title) + 1);
        if (!proc_verify_walsender(root, &pf, &logi, cases[i].major, true, err, sizeof(err)))
            fail_msg("%d: \"%s\" refused: %s", cases[i].major, cases[i].title, err);
        /* the other era's prefix is not a walsender's there */
        assert_false(proc_verify_walsender(root, &pf, &logi, cases[i].major == 10 ? 11 : 10, true,
                                           err, sizeof(err)));
        assert_non_null(strstr(err, "no walsender's title"));
    }
    /* a reused PID with the same title is still refused */
    logi.start_ticks++;
    assert_false(proc_verify_walsender(root, &pf, &logi, 13, true, err, sizeof(err)));
    assert_non_null(strstr(err, "PID reused"));
}

/*
 * Files of this data directory's databases open (fd links into
 * PGDATA/base/) prove a logical walsender; "/base/" elsewhere does not.
 */
static void test_opens_database_files(void **state)
{
    char root[PATH_MAX], dir[PATH_MAX], fd[PATH_MAX], name[PATH_MAX], pid[16];
    char target[PATH_MAX + 32], real[PATH_MAX];

    fake_tree(*state, root);
    assert_non_null(realpath(fixture_datadir, real));
    snprintf(pid, sizeof(pid), "%d", LOGICAL_PID);
    ut_path(dir, root, pid);
    ut_mkdir(dir, "fd");
    ut_path(fd, dir, "fd");
    assert_false(proc_opens_database_files(root, LOGICAL_PID, fixture_datadir));
    ut_path(name, fd, "3");
    snprintf(target, sizeof(target), "%s/global/1262", real);
    assert_int_equal(symlink(target, name), 0);
    ut_path(name, fd, "4"); /* another directory's base/: proves nothing */
    assert_int_equal(symlink("/srv/base/15/main/base/5/2601", name), 0);
    assert_false(proc_opens_database_files(root, LOGICAL_PID, fixture_datadir));
    ut_path(name, fd, "12");
    snprintf(target, sizeof(target), "%s/base/5/2601", real);
    assert_int_equal(symlink(target, name), 0);
    assert_true(proc_opens_database_files(root, LOGICAL_PID, fixture_datadir));
    assert_false(proc_opens_database_files(root, 4242, fixture_datadir));
    assert_false(proc_opens_database_files(root, LOGICAL_PID, "/no/such/pgdata"));
}

/* A postmaster that is not the one of postmaster.pid (mismatch or absent) proves nothing. */
static void test_verify_postmaster_not_ours(void **state)
{
    char root[PATH_MAX], why[256];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100 + 3600);
    verify(root, &pf, LOGICAL_PID, ticks_at(200), "not running here");
    assert_false(pidfile_can_signal(root, &pf, why, sizeof(why)));
    assert_non_null(strstr(why, "another time"));
    pf = fake_pidfile(BTIME + 100);
    pf.pid = 4242;
    verify(root, &pf, LOGICAL_PID, ticks_at(200), "not running here");
    assert_false(pidfile_can_signal(root, &pf, why, sizeof(why)));
    assert_non_null(strstr(why, "not visible"));
}

/* A pin of this very process, standing in for the postmaster the fake tree names as parent. */
static struct proc_pin pin_self(void)
{
    struct proc_pin pm = {.ident = {.pid = getpid(), .start_ticks = 1}, .pidfd = -1};

    pm.pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pm.pidfd < 0)
        skip(); /* no pidfds on this kernel: nothing to test */
    return pm;
}

/*
 * A walsender proven after its pidfd was opened is pinned; the pin's SIGTERM
 * reaches it; once it is gone (reaped: its PID free for reuse) the same pin
 * reaches nothing (ESRCH) and says it exited.
 */
static void test_pin_walsender(void **state)
{
    char root[PATH_MAX], err[256] = "";
    struct proc_pin pm = pin_self(), pin;
    pid_t child = spawn_sleeper();
    struct proc_ident id = {.pid = child, .start_ticks = ticks_at(300)};

    fake_tree(*state, root);
    fake_process(root, child, getpid(), ticks_at(300), TITLE_LOGICAL);
    assert_true(proc_pin_walsender(root, &pm, &id, 15, true, &pin, err, sizeof(err)));
    assert_int_equal(pin.ident.pid, child);
    assert_true(pin.pidfd >= 0);
    assert_false(proc_pin_exited(&pin));
    assert_true(proc_pin_signal(&pin));
    assert_true(reaped_by_sigterm(child));
    assert_true(proc_pin_exited(&pin));
    errno = 0;
    assert_false(proc_pin_signal(&pin));
    assert_int_equal(errno, ESRCH);
    proc_pin_release(&pin);
    assert_int_equal(pin.pidfd, -1);
    proc_pin_release(&pm);
}

/* Pin one fake walsender; assert it is refused with needle in the error and no pidfd kept. */
static void pin_refused(const char *root, const struct proc_pin *pm, pid_t pid,
                        unsigned long long ticks, const char *needle)
{
    struct proc_ident id = {.pid = pid, .start_ticks = ticks};
    struct proc_pin pin;
    char err[256] = "";

    if (proc_pin_walsender(root, pm, &id, 15, true, &pin, err, sizeof(err)))
        fail_msg("pid %d pinned, expected \"%s\"", pid, needle);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    assert_int_equal(pin.pidfd, -1);
}

/*
 * Every proof of proc_verify_walsender applies to a pin: another start time
 * (PID reuse), another parent, a physical or no walsender's title; and no
 * pin without a pinned postmaster, or once that postmaster has exited.
 */
static void test_pin_refusals(void **state)
{
    char root[PATH_MAX];
    struct proc_pin pm = pin_self(), none = {.pidfd = -1}, dead;
    pid_t child = spawn_sleeper(), pmchild = spawn_sleeper();

    fake_tree(*state, root);
    fake_process(root, child, getpid(), ticks_at(300), TITLE_LOGICAL);
    pin_refused(root, &pm, child, ticks_at(300) + 1, "PID reused");
    fake_process(root, child, 4242, ticks_at(300), TITLE_LOGICAL);
    pin_refused(root, &pm, child, ticks_at(300), "not postmaster");
    fake_process(root, child, getpid(), ticks_at(300), TITLE_PHYSICAL);
    pin_refused(root, &pm, child, ticks_at(300), "physical walsender");
    fake_process(root, child, getpid(), ticks_at(300), "postgres: checkpointer");
    pin_refused(root, &pm, child, ticks_at(300), "no walsender's title");
    pin_refused(root, &none, child, ticks_at(300), "not pinned");
    /* a postmaster pinned, then gone: its children are orphans, not pinned */
    dead.ident.pid = pmchild;
    dead.pidfd = (int)syscall(SYS_pidfd_open, pmchild, 0);
    assert_true(dead.pidfd >= 0);
    fake_process(root, child, pmchild, ticks_at(300), TITLE_LOGICAL);
    assert_int_equal(kill(pmchild, SIGTERM), 0);
    assert_true(reaped_by_sigterm(pmchild));
    pin_refused(root, &dead, child, ticks_at(300), "exited");
    kill(child, SIGTERM);
    assert_true(reaped_by_sigterm(child));
    proc_pin_release(&dead);
    proc_pin_release(&pm);
}

/*
 * proc_terminate: the postmaster of postmaster.pid proven, then the
 * walsender (its pidfd opened first): SIGTERM reaches it.  A walsender of
 * a postmaster that is not running here, or one that fails its own proof,
 * is sent nothing.
 */
static void test_terminate(void **state)
{
    char root[PATH_MAX], err[256] = "";
    pid_t child = spawn_sleeper();
    struct proc_ident id = {.pid = child, .start_ticks = ticks_at(300)};
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    fake_process(root, child, PM_PID, ticks_at(300), TITLE_LOGICAL);
    pf.start_time = BTIME + 3700;
    assert_false(proc_terminate(root, &pf, &id, 15, true, err, sizeof(err)));
    assert_non_null(strstr(err, "another time"));
    pf.start_time = BTIME + 100;
    fake_process(root, child, PM_PID, ticks_at(300), TITLE_PHYSICAL);
    assert_false(proc_terminate(root, &pf, &id, 15, true, err, sizeof(err)));
    assert_non_null(strstr(err, "physical walsender"));
    fake_process(root, child, PM_PID, ticks_at(300), TITLE_LOGICAL);
    id.start_ticks++;
    assert_false(proc_terminate(root, &pf, &id, 15, true, err, sizeof(err)));
    assert_non_null(strstr(err, "PID reused"));
    id.start_ticks--;
    if (!proc_terminate(root, &pf, &id, 15, true, err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_true(reaped_by_sigterm(child));
}

/* Assert that proc_terminate_orphan refuses id with needle in the error. */
static void orphan_refused(const char *root, long long pm_start, const struct proc_ident *id,
                           const char *needle)
{
    char err[256] = "";

    if (proc_terminate_orphan(root, PM_PID, pm_start, id, 15, err, sizeof(err)))
        fail_msg("orphan %d signalled, expected \"%s\"", id->pid, needle);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

/*
 * An orphaned walsender (its postmaster gone: not running with the start
 * time recorded) is sent SIGTERM once it is proven the same process,
 * reparented, with a logical walsender's title; anything else is refused.
 */
static void test_terminate_orphan(void **state)
{
    char root[PATH_MAX], err[256] = "";
    pid_t child = spawn_sleeper();
    struct proc_ident id = {.pid = child, .start_ticks = ticks_at(300)};
    struct proc_ident gone = {.pid = 4242, .start_ticks = ticks_at(300)};

    fake_tree(*state, root);
    fake_process(root, child, 1, ticks_at(300), TITLE_LOGICAL);
    orphan_refused(root, BTIME + 100, &id, "not known to be gone"); /* PM_PID still runs */
    orphan_refused(root, 0, &id, "not known to be gone");
    orphan_refused(root, BTIME + 3700, &gone, "process 4242"); /* no pidfd, or gone from the tree */
    id.start_ticks++;
    orphan_refused(root, BTIME + 3700, &id, "PID reused");
    id.start_ticks--;
    fake_process(root, child, PM_PID, ticks_at(300), TITLE_LOGICAL);
    orphan_refused(root, BTIME + 3700, &id, "still a child");
    fake_process(root, child, 1, ticks_at(300), TITLE_PHYSICAL);
    orphan_refused(root, BTIME + 3700, &id, "no logical walsender's title");
    fake_process(root, child, 1, ticks_at(300), TITLE_LOGICAL);
    if (!proc_terminate_orphan(root, PM_PID, BTIME + 3700, &id, 15, err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_true(reaped_by_sigterm(child));
}

/* A pin set finds pins by PID and start time, from any hint; a sweep keeps only the seen ones. */
static void test_pinset(void **state)
{
    struct proc_pinset s;
    struct proc_pin pm = pin_self();
    pid_t kids[3];

    (void)state;
    proc_pinset_init(&s);
    s.pm = pm;
    for (int i = 0; i < 3; i++) {
        struct proc_pin p = {.ident = {.pid = 0, .start_ticks = 0}, .pidfd = -1};

        kids[i] = spawn_sleeper();
        p.ident.pid = kids[i];
        p.ident.start_ticks = 100 + (unsigned long long)i;
        p.pidfd = (int)syscall(SYS_pidfd_open, kids[i], 0);
        assert_true(p.pidfd >= 0);
        assert_true(proc_pinset_add(&s, &p));
    }
    for (int hint = -1; hint <= 4; hint++) {
        struct proc_ident id = {.pid = kids[1], .start_ticks = 101};
        struct proc_ident reused = {.pid = kids[1], .start_ticks = 999};

        assert_ptr_equal(proc_pinset_find(&s, &id, hint), &s.p[1]);
        assert_null(proc_pinset_find(&s, &reused, hint));
    }
    s.p[0].seen = s.p[2].seen = true;
    proc_pinset_sweep(&s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.p[0].ident.pid, kids[0]);
    assert_int_equal(s.p[1].ident.pid, kids[2]);
    assert_false(s.p[0].seen);
    proc_pinset_clear(&s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.pm.pidfd, -1);
    for (int i = 0; i < 3; i++) {
        kill(kids[i], SIGTERM);
        assert_true(reaped_by_sigterm(kids[i]));
    }
}

#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, ut_tmpdir_setup, ut_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat_normal),
        cmocka_unit_test(test_parse_stat_tricky_comm),
        cmocka_unit_test(test_parse_stat_exactly_22_fields),
        cmocka_unit_test(test_parse_stat_bad),
        cmocka_unit_test(test_parse_stat_real_proc),
        TREE_TEST(test_read_stat_and_title),
        TREE_TEST(test_read_stat_mismatch),
        cmocka_unit_test(test_title_by_major),
        cmocka_unit_test(test_title_is_walsender),
        cmocka_unit_test(test_title_not_walsender),
        cmocka_unit_test(test_title_not_streaming),
        TREE_TEST(test_list_children),
        TREE_TEST(test_list_children_file),
        TREE_TEST(test_list_children_limits),
        TREE_TEST(test_verify_ok),
        TREE_TEST(test_verify_refusals),
        TREE_TEST(test_verify_expect_logical),
        TREE_TEST(test_verify_idle_title_by_major),
        TREE_TEST(test_opens_database_files),
        TREE_TEST(test_verify_postmaster_not_ours),
        TREE_TEST(test_pin_walsender),
        TREE_TEST(test_pin_refusals),
        TREE_TEST(test_terminate),
        TREE_TEST(test_terminate_orphan),
        cmocka_unit_test(test_pinset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
