/*
 * test_config.c - durations and every value's rules, the defaults, the order
 * of the sources (precedence, lists replaced), the audit-log check, origins,
 * slot exclusion globs, the option names and --help (the sources themselves:
 * test_config_source.c)
 */
#include "config_util.h"

/*
 * A long bad value is quoted cut to 200 bytes: quoted whole it filled the
 * error, and the option, its source and what was expected were lost.
 * Found by fuzz/config_args.
 */
static void test_long_value_error(void **state)
{
    char value[700], flag[720], env[760];
    char *argv[1] = {flag}, *envp[] = {env, NULL};

    (void)state;
    memset(value, '9', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(flag, sizeof(flag), "--deadline=%sx", value);
    expect_error(1, argv, no_env, "for option \"--deadline\" (command line): expected a duration",
                 "999...\"");
    snprintf(env, sizeof(env), "DEMOTION_GUARD_POLL_INTERVAL=%s", value);
    expect_error(0, NULL, envp, "--poll-interval\" (from environment variable", "expected");
    /* a long positional argument or unknown option: the error still ends with its quote */
    snprintf(flag, sizeof(flag), "%s", value);
    expect_error(1, argv, no_env, "unexpected argument \"999", "999...\"");
    snprintf(flag, sizeof(flag), "--%s", value);
    expect_error(1, argv, no_env, "unknown option \"--999", "999...\"");
}

/* Parse one duration that must be accepted. */
static int64_t dur(const char *s)
{
    int64_t ms = -42;

    if (!config_parse_duration(s, &ms))
        fail_msg("duration \"%s\" refused", s);
    return ms;
}

/* Assert that a duration is refused and leaves the output untouched. */
static void bad_dur(const char *s)
{
    int64_t ms = -42;

    if (config_parse_duration(s, &ms))
        fail_msg("duration \"%s\" accepted as %lld ms", s, (long long)ms);
    assert_int_equal(ms, -42);
}

/* Durations in each unit, zero and exactly seven days are accepted. */
static void test_duration_valid(void **state)
{
    (void)state;
    assert_int_equal(dur("250ms"), 250);
    assert_int_equal(dur("10s"), 10000);
    assert_int_equal(dur("2m"), 120000);
    assert_int_equal(dur("1h"), 3600000);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("0ms"), 0);
    assert_int_equal(dur("168h"), 7LL * 24 * 3600 * 1000);
    assert_int_equal(dur("604800000ms"), 604800000);
}

/* Malformed durations are refused: no unit, no number, sign, fraction, blanks, case. */
static void test_duration_malformed(void **state)
{
    (void)state;
    bad_dur("");
    bad_dur("10");
    bad_dur("s");
    bad_dur("ms");
    bad_dur("-1s");
    bad_dur("+1s");
    bad_dur("1.5s");
    bad_dur("10 s");
    bad_dur(" 10s");
    bad_dur("10s ");
    bad_dur("10S"); /* units are lower case only */
    bad_dur("10MS");
    bad_dur("10sec");
    bad_dur("1d");
    bad_dur("1s1");
}

/* Overflowing numbers and anything past seven days are refused. */
static void test_duration_range(void **state)
{
    (void)state;
    bad_dur("99999999999999999999ms");
    bad_dur("9223372036854775807ms");
    bad_dur("9223372036854775807h");
    bad_dur("3074457345618258s");
    bad_dur("604800001ms");
    bad_dur("169h");
    bad_dur("10081m");
    bad_dur("604801s");
}

/* No flags, no environment: every option has its documented default. */
static void test_defaults(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_true(load(&cfg, err, 0, NULL, no_env));
    assert_string_equal(cfg.dsn, "");
    assert_null(cfg.pgdata);
    assert_int_equal(cfg.deadline_ms, 10000);
    assert_int_equal(cfg.stall_after_ms, 30000);
    assert_true(cfg.kill_stalled);
    assert_int_equal(cfg.poll_interval_ms, 1000);
    assert_int_equal(cfg.n_exclude_slot, 0);
    assert_int_equal(cfg.physical_deadline_ms, -1);
    assert_false(cfg.dry_run);
    assert_null(cfg.audit_log);
    assert_string_equal(cfg.listen, "127.0.0.1:8009");
    assert_null(cfg.token_file);
    assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
    assert_int_equal(cfg.log_level, LOG_INFO);
    assert_null(cfg.config_file);
    config_free(&cfg);
}

/* Booleans accept yes/no, true/false, on/off, 1/0 in any case. */
static void test_yes_no_spellings(void **state)
{
    static const char *const yes[] = {"yes", "YES", "true", "On", "1"};
    static const char *const no[] = {"no", "False", "OFF", "0"};
    char *argv[2] = {"--kill-stalled-at-shutdown", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        argv[1] = (char *)yes[i];
        assert_true(load(&cfg, err, 2, argv, no_env));
        assert_true(cfg.kill_stalled);
        config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        argv[1] = (char *)no[i];
        assert_true(load(&cfg, err, 2, argv, no_env));
        assert_false(cfg.kill_stalled);
        config_free(&cfg);
    }
}

/* "off" disables the physical deadline from a flag and from the environment. */
static void test_physical_deadline_off(void **state)
{
    char *argv[] = {"--physical-deadline", "off"};
    char *env[] = {"DEMOTION_GUARD_PHYSICAL_DEADLINE=30s", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_true(load(&cfg, err, 0, NULL, env));
    assert_int_equal(cfg.physical_deadline_ms, 30000);
    config_free(&cfg);
    assert_true(load(&cfg, err, NARGS(argv), argv, env));
    assert_int_equal(cfg.physical_deadline_ms, -1);
    config_free(&cfg);
}

/* The file sets, the environment overrides it, flags override both. */
static void test_precedence(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv_file[] = {arg};
    char *argv_flag[] = {arg, "--deadline", "3s"};
    char *env[] = {"DEMOTION_GUARD_DEADLINE=2s", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    config_file_arg(*state, "dg.conf", "deadline = 1s\nstall-after = 7s\n", arg, sizeof(arg));
    assert_true(load(&cfg, err, 1, argv_file, no_env));
    assert_int_equal(cfg.deadline_ms, 1000);
    config_free(&cfg);
    assert_true(load(&cfg, err, 1, argv_file, env));
    assert_int_equal(cfg.deadline_ms, 2000);
    config_free(&cfg);
    assert_true(load(&cfg, err, 3, argv_flag, env));
    assert_int_equal(cfg.deadline_ms, 3000);
    assert_int_equal(cfg.stall_after_ms, 7000); /* untouched by the others */
    config_free(&cfg);
}

/* --exclude-slot is repeatable; each later source replaces the earlier list. */
static void test_exclude_slot_sources(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv_file[] = {arg};
    char *argv_flags[] = {arg, "--exclude-slot", "f1", "--exclude-slot", "f2"};
    char *env[] = {"DEMOTION_GUARD_EXCLUDE_SLOT=e1, e2 ,e3", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    config_file_arg(*state, "dg.conf", "exclude-slot = c1\nexclude-slot = c2\n", arg, sizeof(arg));
    assert_true(load(&cfg, err, 1, argv_file, no_env));
    assert_int_equal(cfg.n_exclude_slot, 2);
    assert_string_equal(cfg.exclude_slot[1], "c2");
    config_free(&cfg);
    assert_true(load(&cfg, err, 1, argv_file, env));
    assert_int_equal(cfg.n_exclude_slot, 3);
    assert_string_equal(cfg.exclude_slot[0], "e1");
    assert_string_equal(cfg.exclude_slot[1], "e2");
    assert_string_equal(cfg.exclude_slot[2], "e3");
    config_free(&cfg);
    assert_true(load(&cfg, err, NARGS(argv_flags), argv_flags, env));
    assert_int_equal(cfg.n_exclude_slot, 2);
    assert_string_equal(cfg.exclude_slot[0], "f1");
    assert_string_equal(cfg.exclude_slot[1], "f2");
    config_free(&cfg);
}

/* More than CONFIG_MAX_EXCLUDE patterns, or an empty one, is an error naming the option. */
static void test_exclude_slot_limits(void **state)
{
    char *argv[2 * (CONFIG_MAX_EXCLUDE + 1)];
    char *argv_empty[] = {"--exclude-slot", ""};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    for (int i = 0; i < CONFIG_MAX_EXCLUDE + 1; i++) {
        argv[2 * i] = "--exclude-slot";
        argv[2 * i + 1] = "s";
    }
    assert_true(load(&cfg, err, 2 * CONFIG_MAX_EXCLUDE, argv, no_env));
    assert_int_equal(cfg.n_exclude_slot, CONFIG_MAX_EXCLUDE);
    config_free(&cfg);
    expect_error(NARGS(argv), argv, no_env, "--exclude-slot", "\"s\"");
    expect_error(NARGS(argv_empty), argv_empty, no_env, "--exclude-slot", "\"\"");
}

/* Each invalid flag value is refused with the option and the value in the message. */
static void test_bad_values_named(void **state)
{
    (void)state;
    expect_bad_flag("deadline", "10");
    expect_bad_flag("deadline", "ten");
    expect_bad_flag("stall-after", "-5s");
    expect_bad_flag("kill-stalled-at-shutdown", "maybe");
    expect_bad_flag("poll-interval", "1.5s");
    expect_bad_flag("physical-deadline", "never");
    expect_bad_flag("log-format", "xml");
    expect_bad_flag("log-level", "verbose");
    expect_bad_flag("log-level", "INFOS");
    expect_error(1, (char *[]){"--dry-run=maybe"}, no_env, "--dry-run", "\"maybe\"");
}

/* --poll-interval must lie in [10ms, 1h]. */
static void test_poll_interval_range(void **state)
{
    static const char *const ok[] = {"10ms", "1s", "1h", "3600000ms"};
    char *argv[2] = {"--poll-interval", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        argv[1] = (char *)ok[i];
        if (!load(&cfg, err, 2, argv, no_env))
            fail_msg("poll interval %s refused: %s", ok[i], err);
        config_free(&cfg);
    }
    expect_bad_flag("poll-interval", "9ms");
    expect_bad_flag("poll-interval", "0s");
    expect_bad_flag("poll-interval", "3600001ms");
    expect_bad_flag("poll-interval", "61m");
}

/* pgdata falls back to $PGDATA; DEMOTION_GUARD_PGDATA and --pgdata win over it. */
static void test_pgdata_fallback(void **state)
{
    char *env[] = {"PGDATA=/from/pgdata", NULL};
    char *env_dg[] = {"PGDATA=/from/pgdata", "DEMOTION_GUARD_PGDATA=/from/dg", NULL};
    char *argv[] = {"--pgdata", "/from/flag"};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    assert_true(load(&cfg, err, 0, NULL, env));
    assert_string_equal(cfg.pgdata, "/from/pgdata");
    config_free(&cfg);
    assert_true(load(&cfg, err, 0, NULL, env_dg));
    assert_string_equal(cfg.pgdata, "/from/dg");
    config_free(&cfg);
    assert_true(load(&cfg, err, 2, argv, env_dg));
    assert_string_equal(cfg.pgdata, "/from/flag");
    config_free(&cfg);
}

/* Exclusion patterns are shell globs matched against the whole slot name. */
static void test_slot_excluded_globs(void **state)
{
    struct config cfg = {0};
    char p0[] = "debezium_*", p1[] = "exact", p2[] = "tmp?", p3[] = "[ab]_slot";

    (void)state;
    assert_false(config_slot_excluded(&cfg, "anything"));
    cfg.exclude_slot[0] = p0;
    cfg.exclude_slot[1] = p1;
    cfg.exclude_slot[2] = p2;
    cfg.exclude_slot[3] = p3;
    cfg.n_exclude_slot = 4;
    assert_true(config_slot_excluded(&cfg, "debezium_orders"));
    assert_true(config_slot_excluded(&cfg, "debezium_"));
    assert_true(config_slot_excluded(&cfg, "exact"));
    assert_true(config_slot_excluded(&cfg, "tmp1"));
    assert_true(config_slot_excluded(&cfg, "b_slot"));
    assert_false(config_slot_excluded(&cfg, "my_debezium_orders"));
    assert_false(config_slot_excluded(&cfg, "exactly"));
    assert_false(config_slot_excluded(&cfg, "tmp12"));
    assert_false(config_slot_excluded(&cfg, "c_slot"));
    assert_false(config_slot_excluded(&cfg, ""));
}

/* The option table lists every option once, and --help shows each of them. */
static void test_option_names_and_usage(void **state)
{
    static const char *const want[] = {"dsn",
                                       "pgdata",
                                       "deadline",
                                       "stall-after",
                                       "kill-stalled-at-shutdown",
                                       "poll-interval",
                                       "exclude-slot",
                                       "physical-deadline",
                                       "dry-run",
                                       "audit-log",
                                       "listen",
                                       "token-file",
                                       "tls-cert",
                                       "tls-key",
                                       "tls-client-ca",
                                       "log-format",
                                       "log-level",
                                       "config"};
    const char *names[32];
    int n = config_option_names(names, 32);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    assert_non_null(f);
    config_usage(f);
    fclose(f);
    for (int i = 0; i < n; i++) {
        char flag[64];

        assert_string_equal(names[i], want[i]);
        snprintf(flag, sizeof(flag), "--%s", names[i]);
        if (strstr(buf, flag) == NULL)
            fail_msg("usage does not show %s", flag);
    }
    free(buf);
}

/* --stall-after 0s would make every lagging walsender "stalled" at once: refused. */
static void test_stall_after_zero_refused(void **state)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    expect_bad_flag("stall-after", "0s");
    expect_bad_flag("stall-after", "0ms");
    expect_error(0, NULL, (char *[]){"DEMOTION_GUARD_STALL_AFTER=0s", NULL},
                 "DEMOTION_GUARD_STALL_AFTER", "more than 0");
    assert_true(load(&cfg, err, 2, (char *[]){"--stall-after", "1ms"}, no_env));
    assert_int_equal(cfg.stall_after_ms, 1);
    config_free(&cfg);
}

/* Keywords in any case, as yes/no: off, log levels and formats, units. */
static void test_keywords_any_case(void **state)
{
    char *argv[] = {"--physical-deadline", "OFF",  "--log-level", "WARN",
                    "--log-format",        "Json", "--listen",    "Off",
                    "--deadline",          "10S"};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    (void)state;
    if (!load(&cfg, err, NARGS(argv), argv, no_env))
        fail_msg("refused: %s", err);
    assert_int_equal(cfg.physical_deadline_ms, -1);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
    assert_string_equal(cfg.listen, "off");
    assert_int_equal(cfg.deadline_ms, 10000);
    config_free(&cfg);
    assert_true(load(&cfg, err, 0, NULL, (char *[]){"DEMOTION_GUARD_LOG_LEVEL=Debug", NULL}));
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    config_free(&cfg);
}

/* --audit-log in a missing directory, or naming a directory, is refused at load. */
static void test_audit_log_checked(void **state)
{
    const char *dir = *state;
    char missing[PATH_MAX], good[PATH_MAX], slash[PATH_MAX], env[PATH_MAX + 40];
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    snprintf(missing, sizeof(missing), "%s/no/such/dir/audit.json", dir);
    snprintf(good, sizeof(good), "%s/audit.json", dir);
    snprintf(slash, sizeof(slash), "%s/new/", dir);
    snprintf(env, sizeof(env), "DEMOTION_GUARD_AUDIT_LOG=%s", missing);
    expect_error(2, (char *[]){"--audit-log", missing}, no_env, "\"--audit-log\" (command line)",
                 "No such file or directory");
    expect_error(0, NULL, (char *[]){env, NULL},
                 "from environment variable DEMOTION_GUARD_AUDIT_LOG", missing);
    expect_error(2, (char *[]){"--audit-log", (char *)dir}, no_env, "\"--audit-log\"",
                 "a directory");
    expect_error(2, (char *[]){"--audit-log", slash}, no_env, "\"--audit-log\"", "not a file name");
    assert_true(load(&cfg, err, 2, (char *[]){"--audit-log", good}, no_env));
    assert_string_equal(cfg.audit_log, good); /* need not exist yet */
    config_free(&cfg);
    assert_true(load(&cfg, err, 2, (char *[]){"--audit-log", ""}, no_env));
    config_free(&cfg);
}

/* config_origin names where each value came from, for errors found later. */
static void test_origin(void **state)
{
    char arg[PATH_MAX + 16];
    char *argv[] = {arg, "--listen", "127.0.0.1:1"};
    char *env[] = {"DEMOTION_GUARD_TOKEN_FILE=/nope", NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    config_file_arg(*state, "dg.conf", "# x\ndsn = \"host=/tmp\"\n", arg, sizeof(arg));
    assert_true(load(&cfg, err, NARGS(argv), argv, env));
    assert_string_equal(config_origin(&cfg, "listen"), "command line");
    assert_string_equal(config_origin(&cfg, "token-file"),
                        "from environment variable DEMOTION_GUARD_TOKEN_FILE");
    assert_non_null(strstr(config_origin(&cfg, "dsn"), "dg.conf\" line 2"));
    assert_string_equal(config_origin(&cfg, "deadline"), "default");
    assert_string_equal(config_origin(&cfg, "no-such-option"), "default");
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_long_value_error),
        cmocka_unit_test(test_duration_malformed),
        cmocka_unit_test(test_duration_range),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_yes_no_spellings),
        cmocka_unit_test(test_physical_deadline_off),
        cmocka_unit_test_setup_teardown(test_precedence, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_exclude_slot_sources, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test(test_exclude_slot_limits),
        cmocka_unit_test(test_bad_values_named),
        cmocka_unit_test(test_poll_interval_range),
        cmocka_unit_test(test_pgdata_fallback),
        cmocka_unit_test(test_slot_excluded_globs),
        cmocka_unit_test(test_option_names_and_usage),
        cmocka_unit_test(test_stall_after_zero_refused),
        cmocka_unit_test(test_keywords_any_case),
        cmocka_unit_test_setup_teardown(test_audit_log_checked, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_origin, ut_tmpdir_setup, ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
