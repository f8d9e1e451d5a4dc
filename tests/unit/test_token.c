/*
 * test_token.c - the one rule of the bearer token file, for the daemon and
 * the clients alike: trailing whitespace cut, printable ASCII without
 * blanks, not empty, not too long; a missing file, a FIFO or a directory
 * refused, naming the file; for the daemon, a file others may read refused
 */
#include "unit_util.h"

#include "token.h"

/* Assert that a haystack contains a needle, printing the haystack when not. */
static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* Assert that a haystack does not contain a needle. */
static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("\"%s\" unexpectedly found in:\n%s", needle, hay);
}

/* Write DIR/NAME with text and mode; its path into path. */
static void token_file(const char *dir, const char *name, const char *text, mode_t mode, char *path)
{
    ut_write_file(dir, name, text);
    ut_path(path, dir, name);
    assert_int_equal(chmod(path, mode), 0);
}

/* The file at path is refused by both readers, with err naming it and holding needle. */
static void refused_by_both(const char *path, const char *needle)
{
    char tok[TOKEN_MAX_BYTES + 1], err[512];

    for (int who = TOKEN_FOR_CLIENT; who <= TOKEN_FOR_DAEMON; who++) {
        snprintf(tok, sizeof(tok), "stale");
        err[0] = '\0';
        if (token_read(path, (enum token_reader)who, tok, sizeof(tok), err, sizeof(err)))
            fail_msg("token file \"%s\" accepted (reader %d)", path, who);
        assert_contains(err, path);
        assert_contains(err, needle);
        assert_string_equal(tok, "");
    }
}

/* The file at path gives want to both readers. */
static void accepted_by_both(const char *path, const char *want)
{
    char tok[TOKEN_MAX_BYTES + 1], err[512] = "";

    for (int who = TOKEN_FOR_CLIENT; who <= TOKEN_FOR_DAEMON; who++) {
        if (!token_read(path, (enum token_reader)who, tok, sizeof(tok), err, sizeof(err)))
            fail_msg("token file \"%s\" refused (reader %d): %s", path, who, err);
        assert_string_equal(tok, want);
    }
}

/* Trailing whitespace (a newline, CRLF, blanks) is not part of the token. */
static void test_trailing_whitespace(void **state)
{
    char path[PATH_MAX], one[1], err[256] = "";

    token_file(*state, "t1", "s3cret-token\n", 0600, path);
    accepted_by_both(path, "s3cret-token");
    token_file(*state, "t2", "s3cret-token \r\n\n\t", 0600, path);
    accepted_by_both(path, "s3cret-token");
    token_file(*state, "t3", "~!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}", 0400, path);
    accepted_by_both(path, "~!#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}");
    /* a buffer without room for one byte and its NUL takes nothing */
    assert_false(token_read(path, TOKEN_FOR_CLIENT, one, sizeof(one), err, sizeof(err)));
    assert_non_null(strstr(err, "no room for a token"));
}

/* Blanks inside or before the token, control characters and non-ASCII are refused. */
static void test_blanks_and_controls(void **state)
{
    char path[PATH_MAX];

    token_file(*state, "space", "two words\n", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    token_file(*state, "lead", " leading\n", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    token_file(*state, "tab", "a\tb", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    token_file(*state, "crlf", "ab\r\nInjected: yes\n", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    token_file(*state, "del", "ab\x7f", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    token_file(*state, "utf8", "r\xc3\xa9plica", 0600, path);
    refused_by_both(path, "printable ASCII without blanks");
    ut_write_bytes(*state, "nul", "ab\0cd", 5);
    ut_path(path, *state, "nul");
    assert_int_equal(chmod(path, 0600), 0);
    refused_by_both(path, "printable ASCII without blanks");
}

/* An empty file, or one of whitespace only, is refused as empty. */
static void test_empty(void **state)
{
    char path[PATH_MAX];

    token_file(*state, "empty", "", 0600, path);
    refused_by_both(path, "is empty");
    token_file(*state, "blank", " \n\n", 0600, path);
    refused_by_both(path, "is empty");
}

/*
 * A file longer than the buffer (or than TOKEN_MAX_BYTES) is refused, and
 * the message never holds the token; exactly the limit is taken.
 */
static void test_too_long(void **state)
{
    char path[PATH_MAX], tok[TOKEN_MAX_BYTES + 1], small[8], err[512];
    static char text[TOKEN_MAX_BYTES + 3];

    memset(text, 'x', TOKEN_MAX_BYTES);
    text[TOKEN_MAX_BYTES] = '\0';
    token_file(*state, "max", text, 0600, path);
    accepted_by_both(path, text);
    text[TOKEN_MAX_BYTES] = 'x';
    token_file(*state, "over", text, 0600, path);
    refused_by_both(path, "longer than 4096 bytes");
    assert_false(token_read(path, TOKEN_FOR_CLIENT, tok, sizeof(tok), err, sizeof(err)));
    assert_lacks(err, "xxxxxxxx");

    token_file(*state, "small", "1234567", 0600, path);
    assert_true(token_read(path, TOKEN_FOR_CLIENT, small, sizeof(small), err, sizeof(err)));
    assert_string_equal(small, "1234567");
    token_file(*state, "small", "1234567\n", 0600, path); /* the limit is on the file */
    assert_false(token_read(path, TOKEN_FOR_CLIENT, small, sizeof(small), err, sizeof(err)));
    assert_contains(err, "longer than 7 bytes");
    assert_lacks(err, "1234567");
}

/* A missing file is named, with the reason. */
static void test_missing(void **state)
{
    char path[PATH_MAX];

    ut_path(path, *state, "no-such-token");
    refused_by_both(path, "could not open token file");
    refused_by_both(path, "No such file or directory");
}

/*
 * A FIFO is refused at once, naming it: opening it used to block until a
 * writer came, the before-stop hook and Patroni with it (alarm: a hang
 * fails the test).  A directory is no token file either.
 */
static void test_not_regular(void **state)
{
    char path[PATH_MAX];

    ut_path(path, *state, "tok.fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    refused_by_both(path, "is not a regular file");
    alarm(0);
    ut_mkdir(*state, "dir");
    ut_path(path, *state, "dir");
    refused_by_both(path, "is not a regular file");
}

/*
 * The daemon, which guards the secret, refuses a file others may read or
 * write (root-owned: the group may read); a client sends the token of any
 * file it can read.
 */
static void test_daemon_mode(void **state)
{
    char path[PATH_MAX], tok[64], err[512];

    token_file(*state, "open", "s3cret", 0644, path);
    assert_true(token_read(path, TOKEN_FOR_CLIENT, tok, sizeof(tok), err, sizeof(err)));
    assert_string_equal(tok, "s3cret");
    assert_false(token_read(path, TOKEN_FOR_DAEMON, tok, sizeof(tok), err, sizeof(err)));
    assert_contains(err, path);
    assert_contains(err, "may be read by others (mode 0644");
    assert_lacks(err, "s3cret");
    token_file(*state, "open", "s3cret", 0602, path);
    assert_false(token_read(path, TOKEN_FOR_DAEMON, tok, sizeof(tok), err, sizeof(err)));
    token_file(*state, "group", "s3cret", 0640, path);
    assert_int_equal(token_read(path, TOKEN_FOR_DAEMON, tok, sizeof(tok), err, sizeof(err)),
                     getuid() == 0);
    token_file(*state, "group", "s3cret", 0660, path);
    assert_false(token_read(path, TOKEN_FOR_DAEMON, tok, sizeof(tok), err, sizeof(err)));
}

/* token_mode_private: regular files only, PostgreSQL's key-file rule. */
static void test_mode_private(void **state)
{
    struct stat st = {.st_mode = S_IFREG | 0600, .st_uid = 1000};

    (void)state;
    assert_true(token_mode_private(&st));
    st.st_mode = S_IFREG | 0400;
    assert_true(token_mode_private(&st));
    st.st_mode = S_IFREG | 0640;
    assert_false(token_mode_private(&st));
    st.st_uid = 0;
    assert_true(token_mode_private(&st));
    st.st_mode = S_IFREG | 0660;
    assert_false(token_mode_private(&st));
    st.st_mode = S_IFREG | 0604;
    assert_false(token_mode_private(&st));
    st.st_mode = S_IFIFO | 0600;
    assert_false(token_mode_private(&st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trailing_whitespace, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_blanks_and_controls, ut_tmpdir_setup,
                                        ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_empty, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_too_long, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_missing, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_daemon_mode, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_mode_private),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
