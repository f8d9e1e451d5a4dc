/*
 * test_settings.c - settings.c: what the daemon refuses to start with beyond
 * the config loader (a DSN libpq cannot parse, --pgdata missing or not a
 * directory, an unreadable --token-file, --listen's rules), each error
 * naming the option and where its value came from; a reload whose token
 * file became a FIFO, refused at once with the token in use kept
 */
#include "unit_util.h"

#include <sys/stat.h>

#include "config.h"
#include "guard.h"
#include "settings.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *no_env[] = {NULL};

/* Load argv (options only) and run settings_check; err gets its verdict's text. */
static bool check(int argc, char **argv, char *err, size_t len)
{
    struct config cfg;
    char lerr[CONFIG_ERR_LEN];
    bool ok;

    err[0] = '\0';
    if (!config_load(&cfg, argc, argv, no_env, lerr, sizeof(lerr)))
        fail_msg("config_load refused the test's options: %s", lerr);
    ok = settings_check(&cfg, err, len);
    config_free(&cfg);
    return ok;
}

/* Expect a refusal whose text holds both needles. */
static void refused(int argc, char **argv, const char *n1, const char *n2)
{
    char err[1024];

    if (check(argc, argv, err, sizeof(err)))
        fail_msg("accepted, expected a refusal naming \"%s\"", n1);
    if (strstr(err, n1) == NULL || (n2 && strstr(err, n2) == NULL))
        fail_msg("refusal \"%s\" does not name \"%s\" and \"%s\"", err, n1, n2 ? n2 : "");
}

/* A DSN and a data directory that exist, no API: accepted. */
static void test_accepts(void **state)
{
    char pgdata[PATH_MAX + 16], err[1024];
    char *argv[] = {"--dsn=host=/tmp dbname=postgres", "--listen=off", pgdata};

    snprintf(pgdata, sizeof(pgdata), "--pgdata=%s", (char *)*state);
    assert_true(check(NARGS(argv), argv, err, sizeof(err)));
    assert_string_equal(err, "");
}

/* A DSN libpq cannot parse is refused without repeating it (it may hold a password). */
static void test_bad_dsn(void **state)
{
    char *argv[] = {"--dsn=host=x password=secret nosuchkey=1", "--listen=off"};

    (void)state;
    refused(NARGS(argv), argv, "invalid value for option \"--dsn\" (command line)", NULL);
    {
        char err[1024];

        (void)check(NARGS(argv), argv, err, sizeof(err));
        assert_null(strstr(err, "secret"));
    }
}

/* --pgdata must exist and be a directory. */
static void test_bad_pgdata(void **state)
{
    char missing[PATH_MAX + 16], file[PATH_MAX + 16], path[PATH_MAX];
    char *argv1[] = {"--listen=off", missing}, *argv2[] = {"--listen=off", file};

    ut_write_file(*state, "afile", "x");
    ut_path(path, *state, "nosuchdir");
    snprintf(missing, sizeof(missing), "--pgdata=%s", path);
    refused(NARGS(argv1), argv1, "for option \"--pgdata\"", "No such file or directory");
    ut_path(path, *state, "afile");
    snprintf(file, sizeof(file), "--pgdata=%s", path);
    refused(NARGS(argv2), argv2, "for option \"--pgdata\"", "not a directory");
}

/* A --token-file that cannot be read is refused, naming the option. */
static void test_bad_token_file(void **state)
{
    char tok[PATH_MAX + 32], path[PATH_MAX];
    char *argv[] = {"--listen=off", tok};

    ut_path(path, *state, "no-token");
    snprintf(tok, sizeof(tok), "--token-file=%s", path);
    refused(NARGS(argv), argv, "invalid value for option \"--token-file\" (command line)", NULL);
}

/* An address beyond loopback without a token or client certificates is refused. */
static void test_listen_needs_auth(void **state)
{
    char *argv[] = {"--listen=0.0.0.0:8009"};

    (void)state;
    refused(NARGS(argv), argv, "source of --listen: command line", NULL);
}

/*
 * SIGHUP with the --token-file replaced by a FIFO: the reload is refused
 * at once (opening it does not wait for a writer; an alarm fails the test
 * if it does) and the token in use stays.
 */
static void test_reload_fifo_token(void **state)
{
    char tok[PATH_MAX + 32], path[PATH_MAX], err[CONFIG_ERR_LEN];
    char *argv[] = {"--listen=off", tok};
    struct guard g = {.argc = NARGS(argv), .argv = argv};

    ut_path(path, *state, "token");
    ut_write_file(*state, "token", "s3cret\n");
    assert_int_equal(chmod(path, 0600), 0);
    snprintf(tok, sizeof(tok), "--token-file=%s", path);
    if (!config_load(&g.cfg, g.argc, g.argv, no_env, err, sizeof(err)))
        fail_msg("config_load refused the test's options: %s", err);
    g.token = strdup("s3cret");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    settings_reload(&g);
    alarm(0);
    assert_string_equal(g.token, "s3cret");
    free(g.token);
    config_free(&g.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accepts, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_bad_dsn),
        cmocka_unit_test_setup_teardown(test_bad_pgdata, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_token_file, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_listen_needs_auth),
        cmocka_unit_test_setup_teardown(test_reload_fifo_token, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
