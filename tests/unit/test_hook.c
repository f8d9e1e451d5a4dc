/*
 * test_hook.c - which guards "hook pre-promote" arms from Patroni's
 * /cluster answer: every member but this one, and nobody when this one
 * cannot be told apart (arming itself would end its own consumers).
 */
#include "unit_util.h"

#include <jansson.h>

#include "hook.h"

/* A /cluster answer with node1 (leader, 10.0.0.1), node2 (10.0.0.2), node3 (fd00::3). */
static json_t *cluster(void)
{
    json_t *c = json_loads("{\"members\":["
                           "{\"name\":\"node1\",\"role\":\"leader\",\"host\":\"10.0.0.1\","
                           "\"api_url\":\"http://10.0.0.1:8008/patroni\"},"
                           "{\"name\":\"node2\",\"role\":\"replica\",\"host\":\"10.0.0.2\","
                           "\"api_url\":\"http://10.0.0.2:8008/patroni\"},"
                           "{\"name\":\"node3\",\"role\":\"replica\",\"host\":\"fd00::3\","
                           "\"api_url\":\"http://[fd00::3]:8008/patroni\"}]}",
                           0, NULL);

    assert_non_null(c);
    return c;
}

/* --self names this member: the others are armed at HOST:port. */
static void test_peers_by_name(void **state)
{
    char urls[8][256], err[512];
    json_t *c = cluster();

    (void)state;
    assert_int_equal(
        hook_peers(c, "node2", "http://127.0.0.1:8008", "8009", urls, 8, err, sizeof(err)), 2);
    assert_string_equal(urls[0], "http://10.0.0.1:8009");
    assert_string_equal(urls[1], "http://[fd00::3]:8009");
    json_decref(c);
}

/* Without --self, the member whose api_url is --patroni-url is this one. */
static void test_peers_by_api_url(void **state)
{
    char urls[8][256], err[512];
    json_t *c = cluster();

    (void)state;
    assert_int_equal(
        hook_peers(c, NULL, "http://10.0.0.1:8008/", "9000", urls, 8, err, sizeof(err)), 2);
    assert_string_equal(urls[0], "http://10.0.0.2:9000");
    json_decref(c);
}

/* Not found (127.0.0.1 is no member's api_url), or an unknown name: nobody is armed. */
static void test_peers_self_unknown(void **state)
{
    char urls[8][256], err[512];
    json_t *c = cluster();

    (void)state;
    assert_int_equal(
        hook_peers(c, NULL, "http://127.0.0.1:8008", "8009", urls, 8, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--self"));
    assert_int_equal(
        hook_peers(c, "node9", "http://10.0.0.1:8008", "8009", urls, 8, err, sizeof(err)), -1);
    json_decref(c);
}

/* No members array, or more peers than room: bounded, never overflowing. */
static void test_peers_odd_answers(void **state)
{
    char urls[1][256], err[512];
    json_t *c = cluster(), *bad = json_loads("{\"members\":{}}", 0, NULL);

    (void)state;
    assert_int_equal(hook_peers(bad, "node1", "x", "8009", urls, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "members"));
    /* two others, room for one: counted, so that the hook can say one is left out */
    assert_int_equal(hook_peers(c, "node1", "x", "8009", urls, 1, err, sizeof(err)), 2);
    assert_string_equal(urls[0], "http://10.0.0.2:8009");
    json_decref(c);
    json_decref(bad);
}

/* More --peer options than the hook arms are refused, not dropped (--strict: exit 2). */
static void test_too_many_peers(void **state)
{
    char *argv[2 + 2 * 17];
    char urls[17][32];
    int argc = 1;

    (void)state;
    argv[0] = "pre-promote";
    argv[argc++] = "--strict"; /* without it a hook never vetoes: exit 0 */
    for (int i = 0; i < 17; i++) {
        snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d", 1 + i);
        argv[argc++] = "--peer";
        argv[argc++] = urls[i];
    }
    /* 16 would be tried (ports 1..16 refuse at once); 17 is a usage error */
    assert_int_equal(hook_main(argc, argv), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peers_by_name),     cmocka_unit_test(test_too_many_peers),
        cmocka_unit_test(test_peers_by_api_url),  cmocka_unit_test(test_peers_self_unknown),
        cmocka_unit_test(test_peers_odd_answers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
