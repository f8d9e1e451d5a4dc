/*
 * test_notify.c - READY=1 and STOPPING=1 reach $NOTIFY_SOCKET when built with
 * libsystemd, and nothing is sent (or fails) otherwise
 */
#include "unit_util.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "notify.h"

/* A datagram socket bound at DIR/notify, set as $NOTIFY_SOCKET. */
static int listen_notify(const char *dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);

    assert_true(fd >= 0);
    assert_true(n > 0 && (size_t)n < sizeof(sa.sun_path));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(setenv("NOTIFY_SOCKET", sa.sun_path, 1), 0);
    return fd;
}

/* The next datagram, or "" when none is waiting. */
static void next_message(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

    buf[n > 0 ? n : 0] = '\0';
}

/* Each state arrives as sent, in order, when the build has libsystemd. */
static void test_states_sent(void **state)
{
    int fd = listen_notify(*state);
    char msg[256];
    bool ready = notify_ready(), stopping = notify_stopping();

    assert_int_equal(ready, notify_supported());
    assert_int_equal(stopping, notify_supported());
    next_message(fd, msg, sizeof(msg));
    assert_string_equal(msg, notify_supported() ? "READY=1\nSTATUS=guarding" : "");
    next_message(fd, msg, sizeof(msg));
    assert_string_equal(msg, notify_supported() ? "STOPPING=1" : "");
    next_message(fd, msg, sizeof(msg));
    assert_string_equal(msg, "");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

/* Not started by systemd: nothing to tell, and no failure. */
static void test_no_socket(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_false(notify_ready());
    assert_false(notify_stopping());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_states_sent, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_no_socket),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
