/*
 * test_listen.c - the --listen address: every form accepted, every bad one
 * refused with the option, the value and the reason named, the loopback
 * rule; and the sockets listen_open makes (TCP on port 0, a unix socket
 * mode 0660 that replaces only a stale socket) and listen_remove removes.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "listen.h"
#include "log.h"

/* Quiet the log; a temporary directory. */
static int quiet_setup(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    return ut_tmpdir_setup(state);
}

/* Expect --listen to be refused with exactly the message want. */
static void refused(const char *listen, bool token, const char *want)
{
    char err[512] = "";

    if (listen_check(listen, token, err, sizeof(err)))
        fail_msg("--listen \"%s\" was accepted", listen);
    if (strcmp(err, want) != 0)
        fail_msg("error for \"%s\":\n  got  %s\n  want %s", listen, err, want);
}

/* Every documented form; loopback needs no token, any other address does. */
static void test_good(void **state)
{
    static const char *const good[] = {
        "off",     "127.0.0.1:8009",    "127.255.0.1:65535", "[::1]:8009",
        "[::1]:0", "unix:/run/dg.sock", "127.0.0.1:0",       "[::ffff:127.0.0.1]:80"};
    static const char *const remote[] = {"0.0.0.0:8009", "[::]:8009", "10.1.2.3:1",
                                         "[2001:db8::1]:443", "[::ffff:10.0.0.1]:80"};
    char err[512];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!listen_check(good[i], false, err, sizeof(err)))
            fail_msg("\"%s\" refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
        if (!listen_check(remote[i], true, err, sizeof(err)))
            fail_msg("\"%s\" with a token refused: %s", remote[i], err);
}

/* Each malformed value gets the option, the value and its own reason. */
static void test_bad(void **state)
{
    (void)state;
    refused("localhost:8009", false,
            "invalid value \"localhost:8009\" for option \"--listen\": \"localhost\" is not a "
            "numeric IP address (host names are not resolved)");
    refused("127.0.0.1", false,
            "invalid value \"127.0.0.1\" for option \"--listen\": expected IP:PORT, "
            "[IPv6]:PORT, unix:/path or off");
    refused("", true,
            "invalid value \"\" for option \"--listen\": expected IP:PORT, [IPv6]:PORT, "
            "unix:/path or off");
    refused(":80", true,
            "invalid value \":80\" for option \"--listen\": expected IP:PORT, [IPv6]:PORT, "
            "unix:/path or off");
    refused("127.0.0.1:65536", false,
            "invalid value \"127.0.0.1:65536\" for option \"--listen\": the port must be a "
            "number from 0 to 65535");
    refused("127.0.0.1:", false,
            "invalid value \"127.0.0.1:\" for option \"--listen\": the port must be a number "
            "from 0 to 65535");
    refused("127.0.0.1:+80", false,
            "invalid value \"127.0.0.1:+80\" for option \"--listen\": the port must be a number "
            "from 0 to 65535");
    refused("[::1]8009", false,
            "invalid value \"[::1]8009\" for option \"--listen\": an IPv6 address must be "
            "written [ADDRESS]:PORT");
    refused("[::1", false,
            "invalid value \"[::1\" for option \"--listen\": an IPv6 address must be written "
            "[ADDRESS]:PORT");
    refused("::1:8009", false,
            "invalid value \"::1:8009\" for option \"--listen\": \"::1\" is not a numeric IP "
            "address (host names are not resolved)");
    refused("[127.0.0.1]:80", false,
            "invalid value \"[127.0.0.1]:80\" for option \"--listen\": \"127.0.0.1\" is not a "
            "numeric IP address (host names are not resolved)");
    refused("unix:run/dg.sock", false,
            "invalid value \"unix:run/dg.sock\" for option \"--listen\": unix: needs an "
            "absolute path shorter than 108 bytes");
    refused("0.0.0.0:8009", false,
            "option \"--listen\" is \"0.0.0.0:8009\", not a loopback address: it needs "
            "\"--token-file\" or \"--tls-client-ca\"");
    refused("[::ffff:10.0.0.1]:80", false,
            "option \"--listen\" is \"[::ffff:10.0.0.1]:80\", not a loopback address: it needs "
            "\"--token-file\" or \"--tls-client-ca\"");
    refused("128.0.0.1:80", false,
            "option \"--listen\" is \"128.0.0.1:80\", not a loopback address: it needs "
            "\"--token-file\" or \"--tls-client-ca\"");
}

/* A unix path of 107 bytes fits sun_path, 108 does not; a long value is quoted cut. */
static void test_unix_length(void **state)
{
    char listen[900], err[512];

    (void)state;
    snprintf(listen, sizeof(listen), "unix:/%0106d", 0);
    assert_true(listen_check(listen, false, err, sizeof(err)));
    snprintf(listen, sizeof(listen), "unix:/%0107d", 0);
    assert_false(listen_check(listen, false, err, sizeof(err)));
    assert_non_null(strstr(err, "shorter than 108 bytes"));
    snprintf(listen, sizeof(listen), "%0800d:80", 0);
    assert_false(listen_check(listen, true, err, sizeof(err)));
    assert_non_null(strstr(err, "...\" for option \"--listen\": expected IP:PORT"));
    assert_true(strlen(err) < 300);
}

/* TCP on port 0: the bound address names the port the kernel chose; loopback noted. */
static void test_open_tcp(void **state)
{
    struct listen_socket ls, again;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    char err[512], want[64];

    (void)state;
    assert_true(listen_open("127.0.0.1:0", &ls, err, sizeof(err)));
    assert_true(ls.fd >= 0);
    assert_true(ls.loopback);
    assert_string_equal(ls.unix_path, "");
    assert_int_equal(getsockname(ls.fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(sa.sin_port));
    assert_string_equal(ls.bound, want);
    /* the same port again: refused, naming the address */
    snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(sa.sin_port));
    assert_false(listen_open(want, &again, err, sizeof(err)));
    assert_int_equal(again.fd, -1);
    assert_non_null(strstr(err, "could not bind 127.0.0.1:"));
    close(ls.fd);
    assert_false(listen_open("nonsense", &again, err, sizeof(err)));
    assert_non_null(strstr(err, "expected IP:PORT"));
}

/* Bind a socket at path that nobody listens on (a stale one). */
static void stale_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

/* A stale socket is replaced by one of mode 0660; a live one and a regular file are kept. */
static void test_open_unix(void **state)
{
    char path[PATH_MAX], listen[PATH_MAX + 8], err[512];
    struct listen_socket ls, live;
    struct stat st;

    ut_path(path, *state, "dg.sock");
    snprintf(listen, sizeof(listen), "unix:%s", path);
    stale_socket(path);
    assert_true(listen_open(listen, &ls, err, sizeof(err)));
    assert_string_equal(ls.bound, listen);
    assert_string_equal(ls.unix_path, path);
    assert_false(ls.loopback);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_false(listen_open(listen, &live, err, sizeof(err)));
    assert_non_null(strstr(err, "is in use or cannot be checked (a process is listening)"));
    close(ls.fd);
    listen_remove(&ls);
    assert_int_not_equal(lstat(path, &st), 0);
    ut_write_file(*state, "dg.sock", "not a socket");
    assert_false(listen_open(listen, &ls, err, sizeof(err)));
    assert_non_null(strstr(err, "exists and is not a socket; not replacing it"));
    assert_int_equal(lstat(path, &st), 0);
}

/* listen_remove leaves a socket that another process put at the path since. */
static void test_remove_only_own(void **state)
{
    char path[PATH_MAX], moved[PATH_MAX], listen[PATH_MAX + 8], err[512];
    struct listen_socket ls;
    struct stat st;

    ut_path(path, *state, "dg.sock");
    ut_path(moved, *state, "moved.sock");
    snprintf(listen, sizeof(listen), "unix:%s", path);
    assert_true(listen_open(listen, &ls, err, sizeof(err)));
    close(ls.fd);
    assert_int_equal(rename(path, moved), 0); /* ours lives on elsewhere (its inode kept) */
    stale_socket(path);                       /* someone else's, at our path */
    listen_remove(&ls);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(rename(moved, path), 0); /* ours back: now it is removed */
    listen_remove(&ls);
    assert_int_not_equal(lstat(path, &st), 0);
}

/* Peers are described as the audit log names requesters. */
static void test_describe(void **state)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(53422)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8009)};
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char out[80];

    (void)state;
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    listen_describe((struct sockaddr *)&in, out, sizeof(out));
    assert_string_equal(out, "127.0.0.1:53422");
    listen_describe((struct sockaddr *)&in6, out, sizeof(out));
    assert_string_equal(out, "[::1]:8009");
    listen_describe((struct sockaddr *)&un, out, sizeof(out));
    assert_string_equal(out, "unix");
    listen_describe(NULL, out, sizeof(out));
    assert_string_equal(out, "unix");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_unix_length),
        cmocka_unit_test(test_open_tcp),
        cmocka_unit_test_setup_teardown(test_open_unix, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_remove_only_own, quiet_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_describe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
