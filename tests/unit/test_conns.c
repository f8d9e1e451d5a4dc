/*
 * test_conns.c - the connection limits on socket pairs: one too many
 * pushes out the oldest waiting connection of the address with the most
 * waiting ones (ports aside), or the new one when all others are
 * answering; the reaper's request and answer times; closing frees a place.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conns.h"

#define MAXC 8

/* The connections of a test: our end (tracked) and the peer's (to see a shutdown). */
struct rig {
    struct conns c;
    int ours[MAXC], peer[MAXC];
    struct conns_slot *x[MAXC];
    int n;
};

/* A fresh rig for limit connections, 1000 ms to arrive, 5000 ms to answer. */
static void rig_init(struct rig *r, int limit)
{
    memset(r, 0, sizeof(*r));
    conns_init(&r->c, limit, 1000, 5000);
}

/* Close every socket, free the set. */
static void rig_free(struct rig *r)
{
    for (int i = 0; i < r->n; i++) {
        close(r->ours[i]);
        close(r->peer[i]);
    }
    conns_destroy(&r->c);
}

/* Open connection number r->n from ip:port (NULL ip: a unix peer) at now_ms; returns it. */
static int rig_open(struct rig *r, const char *ip, int port, int64_t now_ms)
{
    struct sockaddr_storage ss = {0};
    int sv[2], i = r->n++;

    assert_true(i < MAXC);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    r->ours[i] = sv[0];
    r->peer[i] = sv[1];
    if (ip && strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    } else if (ip) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    }
    r->x[i] = conns_open(&r->c, sv[0], ip ? (struct sockaddr *)&ss : NULL, now_ms);
    assert_non_null(r->x[i]);
    return i;
}

/* Was connection i shut down (its peer reads end of file)? */
static bool shut(const struct rig *r, int i)
{
    char b;

    return recv(r->peer[i], &b, 1, 0) == 0;
}

/* Expect exactly the connections in want (a string of 0/1 per connection) shut down. */
static void expect_shut(const struct rig *r, const char *want)
{
    for (int i = 0; i < r->n; i++)
        if (shut(r, i) != (want[i] == '1'))
            fail_msg("connection %d: %s, want %s", i, shut(r, i) ? "shut" : "open",
                     want[i] == '1' ? "shut" : "open");
}

/* One too many pushes out the oldest waiting one of the address holding the most. */
static void test_push_out_busiest_address(void **state)
{
    struct rig r;

    (void)state;
    rig_init(&r, 4);
    rig_open(&r, "10.0.0.2", 4000, 10); /* 0: the probe's address, oldest of all */
    rig_open(&r, "10.0.0.9", 5001, 20); /* 1: the attacker's, oldest of its */
    rig_open(&r, "10.0.0.9", 5002, 30); /* 2: same address, another port */
    rig_open(&r, "10.0.0.9", 5003, 40); /* 3 */
    expect_shut(&r, "0000");
    assert_int_equal(r.c.live, 4);
    rig_open(&r, "10.0.0.2", 4001, 50); /* 4: one too many */
    expect_shut(&r, "01000");
    assert_int_equal(r.c.live, 4);
    assert_int_equal(r.c.pushed_out, 1);
    rig_open(&r, "10.0.0.2", 4002, 60); /* 5: 10.0.0.2 holds 3 waiting now, 10.0.0.9 two */
    expect_shut(&r, "110000");
    rig_free(&r);
}

/* A busy connection is never pushed out: when all others answer, the new one goes. */
static void test_busy_kept(void **state)
{
    struct rig r;

    (void)state;
    rig_init(&r, 2);
    rig_open(&r, "::1", 1, 10);
    rig_open(&r, "::1", 2, 20);
    conns_busy(&r.c, r.x[0], true, 30);
    conns_busy(&r.c, r.x[1], true, 30);
    rig_open(&r, "::1", 3, 40);
    expect_shut(&r, "001");
    conns_busy(&r.c, r.x[1], false, 50); /* answered: waiting for its next request */
    conns_close(&r.c, r.x[2]);           /* the pushed-out one ends: no place freed twice */
    r.x[2] = NULL;
    assert_int_equal(r.c.live, 2);
    rig_open(&r, "::2", 4, 60);
    expect_shut(&r, "0110");
    rig_free(&r);
}

/* Closing frees a place; unix peers are one address; untracked (NULL) is ignored. */
static void test_close_frees(void **state)
{
    struct rig r;

    (void)state;
    rig_init(&r, 2);
    rig_open(&r, NULL, 0, 10);
    rig_open(&r, NULL, 0, 20);
    conns_close(&r.c, r.x[0]);
    assert_int_equal(r.c.live, 1);
    rig_open(&r, NULL, 0, 30);
    expect_shut(&r, "000");
    rig_open(&r, NULL, 0, 40); /* one too many: the oldest waiting unix one */
    expect_shut(&r, "0100");
    conns_close(&r.c, NULL);
    conns_busy(&r.c, NULL, true, 50);
    rig_free(&r);
}

/* The reaper: a request must arrive whole within 1000 ms, an answer go within 5000 ms. */
static void test_reap(void **state)
{
    struct rig r;

    (void)state;
    rig_init(&r, 8);
    rig_open(&r, "127.0.0.1", 1, 0);   /* 0: waiting since 0 */
    rig_open(&r, "127.0.0.1", 2, 0);   /* 1: busy since 500 */
    rig_open(&r, "127.0.0.1", 3, 900); /* 2: waiting since 900 */
    conns_busy(&r.c, r.x[1], true, 500);
    conns_reap(&r.c, 1000);
    expect_shut(&r, "000");
    conns_reap(&r.c, 1001);
    expect_shut(&r, "100");
    conns_reap(&r.c, 5500);
    expect_shut(&r, "101");
    assert_int_equal(r.c.timed_out, 2);
    conns_reap(&r.c, 5501);
    expect_shut(&r, "111");
    conns_reap(&r.c, 99999); /* each is pushed out once */
    assert_int_equal(r.c.timed_out, 3);
    assert_int_equal(r.c.live, 0);
    rig_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_out_busiest_address),
        cmocka_unit_test(test_busy_kept),
        cmocka_unit_test(test_close_frees),
        cmocka_unit_test(test_reap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
