/*
 * test_version.c - the libpq version number as PostgreSQL prints it, and the
 * shape of the --version line
 */
#include "unit_util.h"

#include <regex.h>

#include "notify.h"
#include "version.h"

/* 15.18, 9.6.24, 10.0, and nonsense. */
static void test_format_libpq(void **state)
{
    char buf[32];

    (void)state;
    version_format_libpq(150018, buf, sizeof(buf));
    assert_string_equal(buf, "15.18");
    version_format_libpq(180000, buf, sizeof(buf));
    assert_string_equal(buf, "18.0");
    version_format_libpq(100000, buf, sizeof(buf));
    assert_string_equal(buf, "10.0");
    version_format_libpq(90624, buf, sizeof(buf));
    assert_string_equal(buf, "9.6.24");
    version_format_libpq(0, buf, sizeof(buf));
    assert_string_equal(buf, "unknown");
    version_format_libpq(-1, buf, sizeof(buf));
    assert_string_equal(buf, "unknown");
}

/* One line naming the guard's version and each library's, from the loaded libraries. */
static void test_print_shape(void **state)
{
    char path[PATH_MAX], *text;
    FILE *f;
    regex_t re;
    const char *shape =
        "^demotion-guard [^ ]+ \\(libpq [0-9]+\\.[0-9]+(\\.[0-9]+)?, "
        "libmicrohttpd [0-9]+\\.[0-9]+\\.[0-9]+, jansson [0-9]+\\.[0-9]+(\\.[0-9]+)?, "
        "libcurl [0-9]+\\.[0-9]+\\.[0-9]+(, systemd notify)?\\)\n$";

    ut_path(path, *state, "version.txt");
    f = fopen(path, "w");
    assert_non_null(f);
    version_print(f);
    assert_int_equal(fclose(f), 0);
    text = ut_read_file(path);
    assert_int_equal(regcomp(&re, shape, REG_EXTENDED), 0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("unexpected --version line: %s", text);
    regfree(&re);
    assert_int_equal(strstr(text, ", systemd notify)") != NULL, notify_supported());
    free(text);
}

/* version_string() is the build's DG_VERSION (the Makefile always passes one), never empty. */
static void test_version_string(void **state)
{
    (void)state;
    assert_non_null(version_string());
    assert_true(version_string()[0] != '\0');
    assert_true(strchr(version_string(), ' ') == NULL);
#ifdef DG_VERSION
    assert_string_equal(version_string(), DG_VERSION);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_libpq),
        cmocka_unit_test(test_version_string),
        cmocka_unit_test_setup_teardown(test_print_shape, ut_tmpdir_setup, ut_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
