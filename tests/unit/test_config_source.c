/*
 * test_config_source.c - the three sources of options: every option from
 * "--name value", "--name=value" and DEMOTION_GUARD_*, the --config file's
 * syntax and every way it is refused, the environment's names, bad arguments
 */
#include "config_util.h"

/* Check a configuration in which every option was set to a non-default value. */
static void check_all_set(const struct config *cfg)
{
    assert_string_equal(cfg->dsn, "host=db port=5433");
    assert_string_equal(cfg->pgdata, "/srv/pg");
    assert_int_equal(cfg->deadline_ms, 5000);
    assert_int_equal(cfg->stall_after_ms, 120000);
    assert_false(cfg->kill_stalled);
    assert_int_equal(cfg->poll_interval_ms, 250);
    assert_int_equal(cfg->n_exclude_slot, 2);
    assert_string_equal(cfg->exclude_slot[0], "debezium_*");
    assert_string_equal(cfg->exclude_slot[1], "keep");
    assert_int_equal(cfg->physical_deadline_ms, 60000);
    assert_true(cfg->dry_run);
    assert_string_equal(cfg->audit_log, "/tmp/dg-audit.json");
    assert_string_equal(cfg->listen, "unix:/run/dg.sock");
    assert_string_equal(cfg->token_file, "/etc/dg/token");
    assert_int_equal(cfg->log_format, LOG_FORMAT_JSON);
    assert_int_equal(cfg->log_level, LOG_DEBUG);
}

/* Every option is read from "--name value" flags. */
static void test_flags_separate_value(void **state)
{
    char *argv[] = {"--dsn",
                    "host=db port=5433",
                    "--pgdata",
                    "/srv/pg",
                    "--deadline",
                    "5s",
                    "--stall-after",
                    "2m",
                    "--kill-stalled-at-shutdown",
                    "no",
                    "--poll-interval",
                    "250ms",
                    "--exclude-slot",
                    "debezium_*",
                    "--exclude-slot",
                    "keep",
                    "--physical-deadline",
                    "1m",
                    "--dry-run",
                    "--audit-log",
                    "/tmp/dg-audit.json",
                    "--listen",
                    "unix:/run/dg.sock",
                    "--token-file",
                    "/etc/dg/token",
                    "--log-format",
                    "json",
                    "--log-level",
                    "debug"};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    if (!load(&cfg, err, NARGS(argv), argv, no_env))
        fail_msg("%s", err);
    check_all_set(&cfg);
    config_free(&cfg);
}

/* Every option is read from "--name=value" flags. */
static void test_flags_equals_value(void **state)
{
    char *argv[] = {"--dsn=host=db port=5433",
                    "--pgdata=/srv/pg",
                    "--deadline=5s",
                    "--stall-after=2m",
                    "--kill-stalled-at-shutdown=no",
                    "--poll-interval=250ms",
                    "--exclude-slot=debezium_*",
                    "--exclude-slot=keep",
                    "--physical-deadline=1m",
                    "--dry-run=yes",
                    "--audit-log=/tmp/dg-audit.json",
                    "--listen=unix:/run/dg.sock",
                    "--token-file=/etc/dg/token",
                    "--log-format=json",
                    "--log-level=debug"};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    if (!load(&cfg, err, NARGS(argv), argv, no_env))
        fail_msg("%s", err);
    check_all_set(&cfg);
    config_free(&cfg);
}

/* Every option is read from its DEMOTION_GUARD_* variable ('-' becomes '_'). */
static void test_env_every_option(void **state)
{
    char *env[] = {"DEMOTION_GUARD_DSN=host=db port=5433",
                   "DEMOTION_GUARD_PGDATA=/srv/pg",
                   "DEMOTION_GUARD_DEADLINE=5s",
                   "DEMOTION_GUARD_STALL_AFTER=2m",
                   "DEMOTION_GUARD_KILL_STALLED_AT_SHUTDOWN=no",
                   "DEMOTION_GUARD_POLL_INTERVAL=250ms",
                   "DEMOTION_GUARD_EXCLUDE_SLOT=debezium_*,keep",
                   "DEMOTION_GUARD_PHYSICAL_DEADLINE=1m",
                   "DEMOTION_GUARD_DRY_RUN=yes",
                   "DEMOTION_GUARD_AUDIT_LOG=/tmp/dg-audit.json",
                   "DEMOTION_GUARD_LISTEN=unix:/run/dg.sock",
                   "DEMOTION_GUARD_TOKEN_FILE=/etc/dg/token",
                   "DEMOTION_GUARD_LOG_FORMAT=json",
                   "DEMOTION_GUARD_LOG_LEVEL=debug",
                   NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    if (!load(&cfg, err, 0, NULL, env))
        fail_msg("%s", err);
    check_all_set(&cfg);
    config_free(&cfg);
}

/* --dry-run alone means yes and does not swallow the next argument. */
static void test_dry_run_bare_flag(void **state)
{
    char *argv[] = {"--dry-run", "--deadline", "3s"};
    char *argv_no[] = {"--dry-run=no"};
    char *argv_pos[] = {"--dry-run", "no"};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_true(load(&cfg, err, NARGS(argv), argv, no_env));
    assert_true(cfg.dry_run);
    assert_int_equal(cfg.deadline_ms, 3000);
    config_free(&cfg);
    assert_true(load(&cfg, err, NARGS(argv_no), argv_no, no_env));
    assert_false(cfg.dry_run);
    config_free(&cfg);
    expect_error(NARGS(argv_pos), argv_pos, no_env, "\"no\"", NULL);
}

/* The file may hold comments, blank lines, blanks around '=' and quoted values. */
static void test_file_syntax(void **state)
{
    static const char text[] = "# a comment\n"
                               "\n"
                               "   \t\n"
                               "  # indented comment\n"
                               "dsn = \"host=db password=x\"\n"
                               "deadline=4s\n"
                               "\tlog-level   =   warn   \n"
                               "audit-log = \"\"\n"
                               "pgdata = \"/srv/pg\"\n"
                               "exclude-slot = a\n"
                               "exclude-slot = \"b*\"\n"
                               "dry-run = yes"; /* last line without a newline */
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    config_file_arg(*state, "dg.conf", text, arg, sizeof(arg));
    if (!load(&cfg, err, 1, argv, no_env))
        fail_msg("%s", err);
    assert_string_equal(cfg.dsn, "host=db password=x");
    assert_int_equal(cfg.deadline_ms, 4000);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_string_equal(cfg.audit_log, "");
    assert_string_equal(cfg.pgdata, "/srv/pg");
    assert_int_equal(cfg.n_exclude_slot, 2);
    assert_string_equal(cfg.exclude_slot[1], "b*");
    assert_true(cfg.dry_run);
    assert_non_null(cfg.config_file);
    config_free(&cfg);
}

/* "--config FILE" (two words) and DEMOTION_GUARD_CONFIG find the file too; the flag wins. */
static void test_file_other_spellings(void **state)
{
    char path[PATH_MAX], envvar[PATH_MAX + 32], other[PATH_MAX + 32];
    char *argv[] = {"--config", path};
    char *env[] = {envvar, NULL};
    char *env_both[] = {other, NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    ut_write_file(*state, "a.conf", "deadline = 6s\n");
    ut_write_file(*state, "b.conf", "deadline = 8s\n");
    ut_path(path, *state, "a.conf");
    snprintf(envvar, sizeof(envvar), "DEMOTION_GUARD_CONFIG=%s", path);
    snprintf(other, sizeof(other), "DEMOTION_GUARD_CONFIG=%s/b.conf", (char *)*state);
    assert_true(load(&cfg, err, 2, argv, no_env));
    assert_int_equal(cfg.deadline_ms, 6000);
    assert_string_equal(cfg.config_file, path);
    config_free(&cfg);
    assert_true(load(&cfg, err, 0, NULL, env));
    assert_int_equal(cfg.deadline_ms, 6000);
    config_free(&cfg);
    assert_true(load(&cfg, err, 0, NULL, env_both));
    assert_int_equal(cfg.deadline_ms, 8000);
    config_free(&cfg);
    assert_true(load(&cfg, err, 2, argv, env_both));
    assert_int_equal(cfg.deadline_ms, 6000);
    config_free(&cfg);
}

/*
 * --config given twice: the last file is read and cfg.config_file names it,
 * as the last of every other flag wins (once the first file was read).
 */
static void test_file_flag_twice_last_wins(void **state)
{
    char a[PATH_MAX + 16], b[PATH_MAX + 16];
    char *argv[] = {a, b};
    struct config cfg;
    char err[CONFIG_ERR_LEN];
    bool ok, names_b;
    int64_t deadline;

    config_file_arg(*state, "a.conf", "deadline = 6s\n", a, sizeof(a));
    config_file_arg(*state, "b.conf", "deadline = 8s\n", b, sizeof(b));
    ok = load(&cfg, err, 2, argv, no_env);
    names_b = ok && strstr(cfg.config_file, "b.conf") != NULL;
    deadline = cfg.deadline_ms;
    config_free(&cfg); /* before asserting: a failure leaks nothing */
    assert_true(ok);
    assert_true(names_b);
    assert_int_equal(deadline, 8000);
}

/* An unknown name in the file is an error naming the file, the line and the name. */
static void test_file_unknown_name(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};

    config_file_arg(*state, "dg.conf", "# x\ndeadline = 1s\ndeadlin = 2s\n", arg, sizeof(arg));
    expect_error(1, argv, no_env, "dg.conf\" line 3", "\"deadlin\"");
    config_file_arg(*state, "c.conf", "config = /etc/other\n", arg, sizeof(arg));
    expect_error(1, argv, no_env, "c.conf\" line 1", "\"config\"");
}

/* A line without '=' is an error naming the file and the line. */
static void test_file_line_without_equals(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};

    config_file_arg(*state, "dg.conf", "\n\ndeadline 1s\n", arg, sizeof(arg));
    expect_error(1, argv, no_env, "dg.conf\" line 3", "name = value");
}

/* A bad value in the file names option, value, file and line. */
static void test_file_bad_value(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};

    config_file_arg(*state, "dg.conf", "deadline = 1s\nstall-after = soon\n", arg, sizeof(arg));
    expect_error(1, argv, no_env, "--stall-after", "\"soon\"");
    expect_error(1, argv, no_env, "dg.conf\" line 2", NULL);
}

/* A line longer than the reader's buffer is refused, naming the line. */
static void test_file_line_too_long(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};
    char *text = malloc(6000);

    assert_non_null(text);
    memset(text, 'x', 5998);
    memcpy(text, "dsn = ", 6);
    text[5998] = '\n';
    text[5999] = '\0';
    config_file_arg(*state, "dg.conf", text, arg, sizeof(arg));
    free(text);
    expect_error(1, argv, no_env, "line 1", "too long");
}

/* A file that does not exist is an error naming it. */
static void test_file_missing(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};

    snprintf(arg, sizeof(arg), "--config=%s/nope.conf", (char *)*state);
    expect_error(1, argv, no_env, "nope.conf", NULL);
}

/*
 * BUG: a --config path that opens but cannot be read (a directory: fgets
 * fails with EISDIR) is treated as an empty file instead of an error.
 */
static void test_file_unreadable(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg};

    ut_mkdir(*state, "conf.d");
    snprintf(arg, sizeof(arg), "--config=%s/conf.d", (char *)*state);
    expect_error(1, argv, no_env, "conf.d", NULL);
}

/*
 * A FIFO as --config is refused at once, naming the option and the file;
 * opening it used to block until a writer came (alarm: a hang fails the
 * test instead of wedging it).
 */
static void test_file_fifo(void **state)
{
    char arg[PATH_MAX + 16], path[PATH_MAX];
    char *argv[] = {arg};

    ut_path(path, *state, "conf.fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(arg, sizeof(arg), "--config=%s", path);
    alarm(10);
    expect_error(1, argv, no_env, "\"--config\": not a regular file", "conf.fifo");
    alarm(0);
}

/* A bad environment value names the variable, the option and the value. */
static void test_bad_env_value_named(void **state)
{
    char *env[] = {"DEMOTION_GUARD_STALL_AFTER=forever", NULL};

    (void)state;
    expect_error(0, NULL, env, "DEMOTION_GUARD_STALL_AFTER", "\"forever\"");
    expect_error(0, NULL, env, "--stall-after", NULL);
}

/* Unknown options, a missing value and positional arguments are refused, named. */
static void test_bad_arguments(void **state)
{
    char *unknown[] = {"--nope", "1"};
    char *unknown_eq[] = {"--deadlines=1s"};
    char *missing[] = {"--deadline", "5s", "--stall-after"};
    char *positional[] = {"--deadline", "5s", "extra"};
    char *single_dash[] = {"-d"};

    (void)state;
    expect_error(NARGS(unknown), unknown, no_env, "--nope", NULL);
    expect_error(NARGS(unknown_eq), unknown_eq, no_env, "--deadlines", NULL);
    expect_error(NARGS(missing), missing, no_env, "--stall-after", "needs a value");
    expect_error(NARGS(positional), positional, no_env, "\"extra\"", NULL);
    expect_error(NARGS(single_dash), single_dash, no_env, "\"-d\"", NULL);
}

/* Environment entries that only share a prefix with an option name are not read. */
static void test_env_exact_names(void **state)
{
    char *env[] = {"DEMOTION_GUARD_DEADLINEX=1s", "XDEMOTION_GUARD_DEADLINE=2s",
                   "DEMOTION_GUARD_DEADLINE", "PGDATAX=/x", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    /* succeeds today; would fail once unknown names are refused (see below) */
    bool loaded = config_load(&cfg, 0, NULL, env, err, sizeof(err));

    (void)loaded;
    assert_int_equal(cfg.deadline_ms, 10000);
    assert_null(cfg.pgdata);
    config_free(&cfg);
}

/*
 * BUG: load_env()'s comment promises that an unknown DEMOTION_GUARD_ name is
 * an error ("a typo would otherwise silently keep a default"); it is ignored.
 */
static void test_env_unknown_name_refused(void **state)
{
    char *env[] = {"DEMOTION_GUARD_DEADLIN=1s", NULL};

    (void)state;
    expect_error(0, NULL, env, "DEMOTION_GUARD_DEADLIN", NULL);
}

/* An empty item of DEMOTION_GUARD_EXCLUDE_SLOT is refused, as --exclude-slot '' is. */
static void test_exclude_slot_env_empty_items(void **state)
{
    static const char *const bad[] = {
        "DEMOTION_GUARD_EXCLUDE_SLOT=,,,",
        "DEMOTION_GUARD_EXCLUDE_SLOT=", "DEMOTION_GUARD_EXCLUDE_SLOT=a,,b",
        "DEMOTION_GUARD_EXCLUDE_SLOT=a,", "DEMOTION_GUARD_EXCLUDE_SLOT= , a"};

    (void)state;
    expect_bad_flag("exclude-slot", "");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(0, NULL, (char *[]){(char *)bad[i], NULL}, "DEMOTION_GUARD_EXCLUDE_SLOT",
                     "empty slot name pattern");
}

/* A NUL byte in the --config file is named as such, not as "line too long". */
static void test_file_nul_byte(void **state)
{
    static const char text[] = "deadline = 5s\nstall-after = 1\0s\n";
    char path[PATH_MAX], arg[PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof(path), "%s/nul.conf", (const char *)*state);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
    fclose(f);
    snprintf(arg, sizeof(arg), "--config=%s", path);
    expect_error(1, (char *[]){arg}, no_env, "line 2: contains a NUL byte", "nul.conf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_separate_value),
        cmocka_unit_test(test_flags_equals_value),
        cmocka_unit_test(test_env_every_option),
        cmocka_unit_test(test_dry_run_bare_flag),
        cmocka_unit_test_setup_teardown(test_file_syntax, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_other_spellings, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_flag_twice_last_wins, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_unknown_name, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_line_without_equals, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_bad_value, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_line_too_long, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_missing, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_unreadable, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_file_fifo, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_bad_env_value_named),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_env_exact_names),
        cmocka_unit_test(test_env_unknown_name_refused),
        cmocka_unit_test(test_exclude_slot_env_empty_items),
        cmocka_unit_test_setup_teardown(test_file_nul_byte, ut_tmpdir_setup, ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
