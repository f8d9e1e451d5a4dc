/*
 * test_pidfile.c - postmaster.pid parsing and reading (a regular file of the
 * data directory whose line 2 names it), PG_VERSION, and the proof that its
 * PID is this directory's postmaster, against a fake /proc tree in a
 * temporary directory (fake_proc.h).
 */
#include "fake_proc.h"

static const char pg15_pidfile[] = "4242\n"
                                   "/var/lib/postgresql/15/main\n"
                                   "1700000100\n"
                                   "5432\n"
                                   "/var/run/postgresql\n"
                                   "*\n"
                                   "  5432001    131072\n"
                                   "ready   \n";

/* Parse a pidfile text that must be accepted. */
static struct pidfile parse_ok(const char *text)
{
    struct pidfile pf;
    char err[256] = "";

    if (!pidfile_parse(text, &pf, err, sizeof(err)))
        fail_msg("refused: %s", err);
    return pf;
}

/* Assert that a pidfile text is refused with an error containing needle. */
static void parse_bad(const char *text, const char *needle)
{
    struct pidfile pf;
    char err[256] = "";

    assert_false(pidfile_parse(text, &pf, err, sizeof(err)));
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

/* A complete PostgreSQL 15 postmaster.pid fills every field. */
static void test_pidfile_full(void **state)
{
    struct pidfile pf = parse_ok(pg15_pidfile);

    (void)state;
    assert_int_equal(pf.pid, 4242);
    assert_string_equal(pf.datadir, "/var/lib/postgresql/15/main");
    assert_int_equal(pf.start_time, 1700000100);
    assert_int_equal(pf.port, 5432);
    assert_string_equal(pf.socket_dir, "/var/run/postgresql");
    assert_int_equal(pf.nlines, 8);
    assert_int_equal(pf.status, PIDFILE_STATUS_READY);
}

/*
 * A line longer than the parser's buffer is refused, not cut: cut to 1023
 * bytes, "/data/a////...////b" (another directory, whose file a copy would
 * be) read as "/data/a////", and "0000...0004242xyz" as PID 4242.  Found
 * by fuzz/pidfile.
 */
static void test_pidfile_long_line(void **state)
{
    char text[4096], pad[1100];

    (void)state;
    memset(pad, '/', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(text, sizeof(text), "4242\n/data/a%sb\n1700000100\n5432\n/tmp\n", pad);
    parse_bad(text, "line 2: longer than 1023 bytes");
    memset(pad, '0', sizeof(pad) - 1);
    memcpy(pad + 1019, "4242xyz", 8);
    snprintf(text, sizeof(text), "%s\n/data/a\n1700000100\n", pad);
    parse_bad(text, "line 1: longer than 1023 bytes");
    /* 1023 bytes still fit */
    memset(pad, '/', 1022);
    pad[1022] = '\0';
    snprintf(text, sizeof(text), "4242\n/%s\n1700000100\n", pad);
    assert_int_equal(strlen(parse_ok(text).datadir), 1023);
}

/* Line 8 as PostgreSQL pads it maps to each status; other text is UNKNOWN. */
static void test_pidfile_status_line(void **state)
{
    static const struct {
        const char *line;
        enum pidfile_status st;
    } cases[] = {{"ready   ", PIDFILE_STATUS_READY},   {"stopping", PIDFILE_STATUS_STOPPING},
                 {"standby ", PIDFILE_STATUS_STANDBY}, {"starting", PIDFILE_STATUS_STARTING},
                 {"ready", PIDFILE_STATUS_READY},      {"", PIDFILE_STATUS_UNKNOWN},
                 {"Ready   ", PIDFILE_STATUS_UNKNOWN}, {"stopped ", PIDFILE_STATUS_UNKNOWN},
                 {"  ready ", PIDFILE_STATUS_UNKNOWN}};
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "1\n/d\n1700000100\n5432\n/tmp\n*\n  1 2\n%s\n",
                 cases[i].line);
        assert_int_equal(parse_ok(text).status, cases[i].st);
    }
    assert_string_equal(pidfile_status_name(PIDFILE_STATUS_UNKNOWN), "unknown");
    assert_string_equal(pidfile_status_name(PIDFILE_STATUS_STARTING), "starting");
    assert_string_equal(pidfile_status_name(PIDFILE_STATUS_STOPPING), "stopping");
    assert_string_equal(pidfile_status_name(PIDFILE_STATUS_READY), "ready");
    assert_string_equal(pidfile_status_name(PIDFILE_STATUS_STANDBY), "standby");
}

/*
 * Lines 4 to 8 may be absent (not written yet): their fields stay empty, the
 * status UNKNOWN.  Lines 1 to 3 prove whose file it is and must be there.
 */
static void test_pidfile_partial(void **state)
{
    struct pidfile pf;

    (void)state;
    pf = parse_ok("4242\n/data\n1700000100\n");
    assert_int_equal(pf.nlines, 3);
    assert_int_equal(pf.start_time, 1700000100);
    assert_int_equal(pf.port, 0);
    assert_string_equal(pf.socket_dir, "");
    assert_int_equal(pf.status, PIDFILE_STATUS_UNKNOWN);
    pf = parse_ok("4242\n/data\n1700000100\n5432\n/tmp\n*\n  5432001 131072\n");
    assert_int_equal(pf.nlines, 7);
    assert_int_equal(pf.port, 5432);
    assert_int_equal(pf.status, PIDFILE_STATUS_UNKNOWN);
    pf = parse_ok("4242\n/data\n1700000100\n99999\n");
    assert_int_equal(pf.port, 0);
}

/* Without a data directory (line 2) and a start time (line 3) nothing is proven. */
static void test_pidfile_needs_lines_2_3(void **state)
{
    (void)state;
    parse_bad("4242", "line 2");
    parse_bad("1\n", "line 2");
    parse_bad("4242\n\n1700000100\n", "line 2");
    parse_bad("4242\ndata\n1700000100\n", "found \"data\"");
    parse_bad("4242\n/data\n", "line 3");
    parse_bad("4242\n/data\n\n5432\n", "line 3");
    parse_bad("4242\n/data\nnot-a-time\n99999\n", "found \"not-a-time\"");
    parse_bad("4242\n/data\n0\n", "line 3");
    parse_bad("4242\n/data\n-5\n", "line 3");
}

/* Line 1 must be a plain positive PID; each refusal says what was found. */
static void test_pidfile_bad_pid(void **state)
{
    (void)state;
    parse_bad("", "line 1");
    parse_bad("\n/data\n", "line 1");
    parse_bad("-4242\n/data\n1700000100\n", "single-user backend");
    parse_bad("0\n/data\n", "PID 0");
    parse_bad("postgres\n/data\n", "\"postgres\"");
    parse_bad("4242abc\n/data\n", "\"4242abc\"");
    parse_bad("4242 \n/data\n", "line 1");
    parse_bad(" 4242\n/data\n", "line 1");
    parse_bad("99999999999\n/data\n", "99999999999");
    parse_bad("99999999999999999999999\n", "line 1");
}

/* CRLF line ends (never written by PostgreSQL) are refused: line 1 is "4242\r". */
static void test_pidfile_crlf(void **state)
{
    (void)state;
    parse_bad("4242\r\n/data\r\n1700000100\r\n", "line 1");
}

/* Write DIR/postmaster.pid: PID, then line 2 = datadir, then rest (may be ""). */
static void write_pidfile(const char *dir, int pid, const char *datadir, const char *rest)
{
    char text[PATH_MAX + 256];

    assert_true(snprintf(text, sizeof(text), "%d\n%s\n%s", pid, datadir, rest) < (int)sizeof(text));
    ut_write_file(dir, "postmaster.pid", text);
}

/* Assert that DIR's postmaster.pid is INVALID with an error containing needle. */
static void read_bad(const char *dir, const char *needle)
{
    struct pidfile pf;
    char err[512] = "";

    if (pidfile_read(dir, &pf, err, sizeof(err)) != PIDFILE_INVALID)
        fail_msg("postmaster.pid in \"%s\" not refused, expected \"%s\"", dir, needle);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

/* pidfile_read: MISSING without the file, OK with it, INVALID when it is bad. */
static void test_read_pidfile(void **state)
{
    struct pidfile pf;
    char err[512], path[PATH_MAX];

    assert_int_equal(pidfile_read(*state, &pf, err, sizeof(err)), PIDFILE_MISSING);
    assert_non_null(strstr(err, "postmaster.pid"));
    write_pidfile(*state, 4242, *state, "1700000100\n5432\n/tmp\n*\n  1 2\nready   \n");
    assert_int_equal(pidfile_read(*state, &pf, err, sizeof(err)), PIDFILE_OK);
    assert_int_equal(pf.pid, 4242);
    assert_int_equal(pf.status, PIDFILE_STATUS_READY);
    ut_write_file(*state, "postmaster.pid", "-4242\n");
    assert_int_equal(pidfile_read(*state, &pf, err, sizeof(err)), PIDFILE_INVALID);
    assert_non_null(strstr(err, "single-user"));
    ut_path(path, *state, "postmaster.pid");
    assert_int_equal(pidfile_read(path, &pf, err, sizeof(err)), PIDFILE_INVALID);
    ut_write_file(*state, "postmaster.pid", "");
    assert_int_equal(pidfile_read(*state, &pf, err, sizeof(err)), PIDFILE_MISSING);
}

/*
 * Line 2 must name the directory the file was read from (same device and
 * inode; another path to it is fine): another cluster's postmaster.pid
 * copied here, or a file naming no directory, is refused, and so are files
 * without the lines the proof needs ("1\n" once made PID 1 the postmaster).
 */
static void test_read_pidfile_foreign(void **state)
{
    char a[PATH_MAX], b[PATH_MAX], alias[PATH_MAX], gone[PATH_MAX];
    struct pidfile pf;
    char err[512] = "";

    ut_mkdir(*state, "a");
    ut_mkdir(*state, "b");
    ut_path(a, *state, "a");
    ut_path(b, *state, "b");
    ut_path(alias, *state, "alias-of-a");
    ut_path(gone, *state, "gone");
    assert_int_equal(symlink(a, alias), 0);
    write_pidfile(a, 4242, b, "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    read_bad(a, "line 2");
    read_bad(a, b);
    write_pidfile(a, 4242, gone, "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    read_bad(a, gone);
    write_pidfile(a, 4242, "", "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    read_bad(a, "line 2");
    ut_write_file(a, "postmaster.pid", "1\n");
    read_bad(a, "line 2");
    write_pidfile(a, 4242, a, "");
    read_bad(a, "line 3");
    write_pidfile(a, 4242, a, "yesterday\n5432\n");
    read_bad(a, "line 3");
    write_pidfile(a, 4242, alias, "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    assert_int_equal(pidfile_read(a, &pf, err, sizeof(err)), PIDFILE_OK);
    assert_int_equal(pf.start_time, 1700000100);
    assert_int_equal(pf.status, PIDFILE_STATUS_STOPPING);
}

/* A postmaster.pid that is a symbolic link (to another cluster's) is refused. */
static void test_read_pidfile_symlink(void **state)
{
    char a[PATH_MAX], b[PATH_MAX], target[PATH_MAX], link[PATH_MAX];

    ut_mkdir(*state, "a");
    ut_mkdir(*state, "b");
    ut_path(a, *state, "a");
    ut_path(b, *state, "b");
    write_pidfile(b, 4242, b, "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    ut_path(target, b, "postmaster.pid");
    ut_path(link, a, "postmaster.pid");
    assert_int_equal(symlink(target, link), 0);
    read_bad(a, "symbolic link");
    /* even one whose line 2 would name this directory */
    write_pidfile(b, 4242, a, "1700000100\n5432\n/tmp\n*\n  1 2\nstopping\n");
    read_bad(a, "symbolic link");
}

/* A FIFO or a directory as postmaster.pid is refused, without blocking. */
static void test_read_pidfile_not_regular(void **state)
{
    char a[PATH_MAX], fifo[PATH_MAX];

    ut_mkdir(*state, "a");
    ut_path(a, *state, "a");
    ut_path(fifo, a, "postmaster.pid");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    read_bad(a, "not a regular file");
    assert_int_equal(unlink(fifo), 0);
    ut_mkdir(a, "postmaster.pid");
    read_bad(a, "not a regular file");
}

/* PG_VERSION gives the major: "13", "9.6" (9); anything else 0. */
static void test_read_major(void **state)
{
    char dir[PATH_MAX];

    ut_path(dir, *state, "pgdata-major");
    mkdir(dir, 0700);
    assert_int_equal(pidfile_read_major(dir), 0);
    ut_write_file(dir, "PG_VERSION", "13\n");
    assert_int_equal(pidfile_read_major(dir), 13);
    ut_write_file(dir, "PG_VERSION", "18");
    assert_int_equal(pidfile_read_major(dir), 18);
    ut_write_file(dir, "PG_VERSION", "9.6\n");
    assert_int_equal(pidfile_read_major(dir), 9);
    ut_write_file(dir, "PG_VERSION", "x13\n");
    assert_int_equal(pidfile_read_major(dir), 0);
    ut_write_file(dir, "PG_VERSION", "");
    assert_int_equal(pidfile_read_major(dir), 0);
    ut_write_file(dir, "PG_VERSION", "-1\n");
    assert_int_equal(pidfile_read_major(dir), 0);
}

/* The postmaster matches when btime + start ticks agrees with line 3 within the slack. */
static void test_check_postmaster(void **state)
{
    char root[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MATCH);
    pf.start_time = BTIME + 103;
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MATCH);
    pf.start_time = BTIME + 100 + 3600;
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    pf.start_time = BTIME + 90;
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    pf = fake_pidfile(BTIME + 100);
    pf.pid = 4242;
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_ABSENT);
}

/* Assert that pidfile_can_signal refuses pf with a reason containing needle. */
static void cannot_signal(const char *root, const struct pidfile *pf, const char *needle)
{
    char why[512] = "";

    if (pidfile_can_signal(root, pf, why, sizeof(why)))
        fail_msg("signal path open, expected \"%s\"", needle);
    if (strstr(why, needle) == NULL)
        fail_msg("reason \"%s\" does not contain \"%s\"", why, needle);
}

/*
 * The postmaster's working directory must be the data directory the file
 * was read from: a postmaster working elsewhere is not this directory's.
 */
static void test_check_postmaster_cwd(void **state)
{
    char root[PATH_MAX], other[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    fake_cwd(root, PM_PID, *state, "other");
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    ut_path(other, *state, "other");
    cannot_signal(root, &pf, other);
    fake_cwd(root, PM_PID, *state, "data");
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MATCH);
}

/*
 * A working directory that cannot be seen proves nothing: refused, where
 * the old check skipped the comparison and let the PID through.
 */
static void test_check_postmaster_no_cwd(void **state)
{
    char root[PATH_MAX], link[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    assert_true(snprintf(link, sizeof(link), "%s/%d/cwd", root, PM_PID) < (int)sizeof(link));
    assert_int_equal(unlink(link), 0);
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    cannot_signal(root, &pf, "working directory");
}

/*
 * A postmaster.pid in the data directory that names this directory on
 * line 2 but another postmaster's PID (one working in another directory)
 * is not this directory's postmaster.
 */
static void test_check_postmaster_foreign_pid(void **state)
{
    char root[PATH_MAX], other[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 50);
    pf.pid = OTHER_PM_PID;
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    ut_path(other, *state, "other");
    cannot_signal(root, &pf, other);
}

/* Without a boot time the start time cannot be compared: refused, not assumed. */
static void test_check_postmaster_no_btime(void **state)
{
    char root[PATH_MAX];
    struct pidfile pf;

    fake_tree(*state, root);
    pf = fake_pidfile(BTIME + 100);
    ut_write_file(root, "stat", "cpu  1 2 3 4\n");
    assert_int_equal(pidfile_check_postmaster(root, &pf), PIDFILE_PROOF_MISMATCH);
    cannot_signal(root, &pf, "boot time");
}

/*
 * pidfile_postmaster_alive: the postmaster of line 1 and line 3 runs; another
 * start time, no process, or a zombie is gone; without a boot time it
 * cannot be told, and counts as running (an orphan is then left alone).
 */
static void test_postmaster_alive(void **state)
{
    char root[PATH_MAX], dir[PATH_MAX], pid[16], line[512];

    fake_tree(*state, root);
    assert_true(pidfile_postmaster_alive(root, PM_PID, BTIME + 100));
    assert_true(pidfile_postmaster_alive(root, PM_PID, BTIME + 105));
    assert_false(pidfile_postmaster_alive(root, PM_PID, BTIME + 106));
    assert_false(pidfile_postmaster_alive(root, PM_PID, BTIME + 100 + 3600));
    assert_false(pidfile_postmaster_alive(root, 4242, BTIME + 100));
    snprintf(pid, sizeof(pid), "%d", PM_PID);
    ut_path(dir, root, pid);
    stat_line(line, sizeof(line), PM_PID, "postgres", 1, ticks_at(100) + 7);
    line[strlen(pid) + strlen(" (postgres) ")] = 'Z';
    ut_write_file(dir, "stat", line);
    assert_false(pidfile_postmaster_alive(root, PM_PID, BTIME + 100));
    stat_line(line, sizeof(line), PM_PID, "postgres", 1, ticks_at(100) + 7);
    ut_write_file(dir, "stat", line);
    /* a fresh tree (the boot time is cached per root) without one */
    ut_path(dir, *state, "no-btime");
    assert_int_equal(mkdir(dir, 0700), 0);
    fake_tree(dir, root);
    ut_write_file(root, "stat", "cpu  1 2 3 4\n");
    assert_true(pidfile_postmaster_alive(root, PM_PID, BTIME + 100 + 3600));
    assert_false(pidfile_postmaster_alive(root, 4242, BTIME + 100));
}

#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, ut_tmpdir_setup, ut_tmpdir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pidfile_full),
        cmocka_unit_test(test_pidfile_long_line),
        cmocka_unit_test(test_pidfile_status_line),
        cmocka_unit_test(test_pidfile_partial),
        cmocka_unit_test(test_pidfile_needs_lines_2_3),
        cmocka_unit_test(test_pidfile_bad_pid),
        cmocka_unit_test(test_pidfile_crlf),
        TREE_TEST(test_read_pidfile),
        TREE_TEST(test_read_pidfile_foreign),
        TREE_TEST(test_read_pidfile_symlink),
        TREE_TEST(test_read_pidfile_not_regular),
        TREE_TEST(test_read_major),
        TREE_TEST(test_check_postmaster),
        TREE_TEST(test_check_postmaster_cwd),
        TREE_TEST(test_check_postmaster_no_cwd),
        TREE_TEST(test_check_postmaster_foreign_pid),
        TREE_TEST(test_check_postmaster_no_btime),
        TREE_TEST(test_postmaster_alive),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
