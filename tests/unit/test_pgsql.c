/*
 * test_pgsql.c - the parts of pgsql.c that need no server: scrubbing
 * passwords from conninfo, checking a DSN, the poll query by version
 */
#include "unit_util.h"

#include "pgsql.h"

/* Scrub a conninfo into a buffer of the given size. */
static void scrub(const char *dsn, char *out, size_t len)
{
    memset(out, 'Z', len);
    pgsql_scrub_dsn(dsn, out, len);
    assert_true(memchr(out, '\0', len) != NULL);
}

/* key=value form: the password is masked, the other settings are kept. */
static void test_scrub_key_value(void **state)
{
    char out[512];

    (void)state;
    scrub("host=db.example port=5433 user=guard password=s3cret dbname=postgres", out, sizeof(out));
    assert_null(strstr(out, "s3cret"));
    assert_non_null(strstr(out, "password=********"));
    assert_non_null(strstr(out, "host=db.example"));
    assert_non_null(strstr(out, "port=5433"));
    assert_non_null(strstr(out, "user=guard"));
    assert_non_null(strstr(out, "dbname=postgres"));
    scrub("password = 'quoted secret' host=h", out, sizeof(out));
    assert_null(strstr(out, "secret"));
    assert_non_null(strstr(out, "host=h"));
}

/* URI form: a password in the authority or in the query string is masked. */
static void test_scrub_uri(void **state)
{
    char out[512];

    (void)state;
    scrub("postgresql://alice:s3cret@db.example:5433/app?sslmode=require", out, sizeof(out));
    assert_null(strstr(out, "s3cret"));
    assert_non_null(strstr(out, "password=********"));
    assert_non_null(strstr(out, "user=alice"));
    assert_non_null(strstr(out, "host=db.example"));
    assert_non_null(strstr(out, "dbname=app"));
    assert_non_null(strstr(out, "sslmode=require"));
    scrub("postgres://db/app?password=s3cret&application_name=x", out, sizeof(out));
    assert_null(strstr(out, "s3cret"));
    assert_non_null(strstr(out, "application_name=x"));
}

/* A conninfo without a password, or an empty one, is shown as parsed. */
static void test_scrub_no_password(void **state)
{
    char out[256];

    (void)state;
    scrub("host=/var/run/postgresql dbname=postgres", out, sizeof(out));
    /* libpq's keyword order, not the input's */
    assert_int_equal(strlen(out), strlen("host=/var/run/postgresql dbname=postgres"));
    assert_non_null(strstr(out, "host=/var/run/postgresql"));
    assert_non_null(strstr(out, "dbname=postgres"));
    assert_null(strstr(out, "password"));
    scrub("", out, sizeof(out));
    assert_string_equal(out, "");
}

/* A string libpq cannot parse is hidden entirely (it may hold a password). */
static void test_scrub_unparsable(void **state)
{
    char out[256];

    (void)state;
    scrub("host='unterminated password=s3cret", out, sizeof(out));
    assert_string_equal(out, "(unparsable conninfo)");
    scrub("nosuchkey=1 password=s3cret", out, sizeof(out));
    assert_string_equal(out, "(unparsable conninfo)");
    scrub("postgresql://[::1", out, sizeof(out));
    assert_null(strstr(out, "s3cret"));
}

/* A small output buffer is cut, stays terminated and never leaks the password. */
static void test_scrub_small_buffer(void **state)
{
    char out[24];

    (void)state;
    scrub("host=a-rather-long-host-name.example password=s3cret", out, sizeof(out));
    assert_true(strlen(out) < sizeof(out));
    assert_null(strstr(out, "s3c"));
    scrub("password=s3cret host=h", out, sizeof(out));
    assert_null(strstr(out, "s3c"));
}

/* BUG: sslpassword= (the client key's passphrase) is a secret too, but is shown in clear. */
static void test_scrub_sslpassword(void **state)
{
    char out[256];

    (void)state;
    scrub("host=h sslpassword=k3ypass", out, sizeof(out));
    assert_non_null(strstr(out, "host=h"));
    assert_null(strstr(out, "k3ypass"));
}

/* A DSN libpq cannot parse is refused with libpq's reason; a good one passes. */
static void test_check_dsn(void **state)
{
    char err[256] = "";

    (void)state;
    assert_true(pgsql_check_dsn("", err, sizeof(err)));
    assert_true(pgsql_check_dsn("host=/tmp port=5432 dbname=postgres", err, sizeof(err)));
    assert_true(pgsql_check_dsn("postgresql://u@localhost/db", err, sizeof(err)));
    assert_false(pgsql_check_dsn("foo", err, sizeof(err)));
    assert_non_null(strstr(err, "missing \"=\""));
    assert_false(pgsql_check_dsn("host=/tmp bogus=1", err, sizeof(err)));
    assert_non_null(strstr(err, "bogus"));
    assert_null(strchr(err, '\n'));
}

/* The poll query reads failover only from 17; every version reads the wait event. */
static void test_poll_query_by_version(void **state)
{
    (void)state;
    for (int v = 100000; v <= 180000; v += 10000) {
        const char *q = pgsql_poll_query(v);

        assert_non_null(strstr(q, "pg_stat_replication"));
        assert_non_null(strstr(q, "WaitForStandbyConfirmation"));
        assert_null(strstr(q, "reply_time"));
        if (v >= 170000)
            assert_non_null(strstr(q, "s.failover"));
        else
            assert_null(strstr(q, "failover"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_query_by_version),
        cmocka_unit_test(test_scrub_key_value),
        cmocka_unit_test(test_scrub_uri),
        cmocka_unit_test(test_scrub_no_password),
        cmocka_unit_test(test_scrub_unparsable),
        cmocka_unit_test(test_check_dsn),
        cmocka_unit_test(test_scrub_small_buffer),
        cmocka_unit_test(test_scrub_sslpassword),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
