/*
 * test_pgsql.c - the parts of pgsql.c that need no server: LSN
 * parsing, formatting and arithmetic, and scrubbing passwords from conninfo
 */
#include "unit_util.h"

#include "pgsql.h"

/* Parse an LSN that must be accepted. */
static uint64_t lsn(const char *s)
{
    uint64_t v = 0;

    if (!lsn_parse(s, &v))
        fail_msg("LSN \"%s\" refused", s);
    return v;
}

/* Assert that an LSN is refused and leaves the output untouched. */
static void bad_lsn(const char *s)
{
    uint64_t v = 12345;

    if (lsn_parse(s, &v))
        fail_msg("LSN \"%s\" accepted as %llu", s, (unsigned long long)v);
    assert_int_equal(v, 12345);
}

/* Valid LSNs: zero, a typical one, lower case, the largest. */
static void test_lsn_parse_valid(void **state)
{
    (void)state;
    assert_int_equal(lsn("0/0"), 0);
    assert_int_equal(lsn("16/B374D848"), 0x16B374D848ULL);
    assert_int_equal(lsn("16/b374d848"), 0x16B374D848ULL);
    assert_int_equal(lsn("0/3000148"), 0x3000148ULL);
    assert_int_equal(lsn("1/0"), 1ULL << 32);
    assert_true(lsn("FFFFFFFF/FFFFFFFF") == UINT64_MAX);
    assert_int_equal(lsn("00000001/00000002"), 0x100000002ULL);
}

/* Malformed LSNs are refused: empty halves, extra parts, bad digits, too long, blanks. */
static void test_lsn_parse_invalid(void **state)
{
    (void)state;
    bad_lsn("");
    bad_lsn("/");
    bad_lsn("0/");
    bad_lsn("/0");
    bad_lsn("1/2/3");
    bad_lsn("G/0");
    bad_lsn("0/G");
    bad_lsn("123456789/0");
    bad_lsn("0/123456789");
    bad_lsn(" 0/0");
    bad_lsn("0/0 ");
    bad_lsn("0 /0");
    bad_lsn("0/ 0");
    bad_lsn("-1/0");
    bad_lsn("0x1/0");
    bad_lsn("16");
}

/* Formatting matches PostgreSQL's %X/%X and parsing gives the value back. */
static void test_lsn_format_round_trip(void **state)
{
    static const uint64_t values[] = {
        0, 1, 0x3000148ULL, 0x16B374D848ULL, 1ULL << 32, 0xFFFFFFFFULL, UINT64_MAX};
    char buf[32];

    (void)state;
    lsn_format(0x16B374D848ULL, buf, sizeof(buf));
    assert_string_equal(buf, "16/B374D848");
    lsn_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "0/0");
    lsn_format(UINT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "FFFFFFFF/FFFFFFFF");
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        lsn_format(values[i], buf, sizeof(buf));
        assert_true(lsn(buf) == values[i]);
    }
}

/* lsn_diff is a - b, and 0 (never a wrapped huge number) when b is ahead. */
static void test_lsn_diff(void **state)
{
    (void)state;
    assert_int_equal(lsn_diff(lsn("0/3000148"), lsn("0/3000000")), 0x148);
    assert_int_equal(lsn_diff(lsn("1/0"), lsn("0/FFFFFFFF")), 1);
    assert_int_equal(lsn_diff(lsn("0/3000000"), lsn("0/3000148")), 0);
    assert_int_equal(lsn_diff(5, 5), 0);
    assert_true(lsn_diff(UINT64_MAX, 0) == UINT64_MAX);
    assert_int_equal(lsn_diff(0, UINT64_MAX), 0);
}

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

/* Lag is signed (ahead is negative) and unknown before any confirmation. */
static void test_lag_bytes(void **state)
{
    struct walsender w = {.lsn_known = true, .sent_lsn = 0x3000200, .flush_lsn = 0x3000100};
    int64_t lag = 12345;

    (void)state;
    assert_true(ws_lag_bytes(&w, &lag));
    assert_int_equal(lag, 0x100);
    w.flush_lsn = 0x3000201;
    assert_true(ws_lag_bytes(&w, &lag));
    assert_int_equal(lag, -1);
    w.flush_lsn = 0;
    w.write_lsn = 0x3000180;
    assert_int_equal(ws_confirmed(&w), 0x3000180);
    assert_true(ws_lag_bytes(&w, &lag));
    assert_int_equal(lag, 0x80);
    w.write_lsn = 0;
    assert_false(ws_lag_bytes(&w, &lag));
    w.flush_lsn = 0x3000100;
    w.lsn_known = false;
    assert_false(ws_lag_bytes(&w, &lag));
    assert_string_equal(ws_kind_name(WS_LOGICAL), "logical");
    assert_string_equal(ws_kind_name(WS_PHYSICAL), "physical");
    assert_string_equal(ws_kind_name(WS_UNPROVEN), "unproven");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_query_by_version),
        cmocka_unit_test(test_lag_bytes),
        cmocka_unit_test(test_lsn_parse_valid),
        cmocka_unit_test(test_lsn_parse_invalid),
        cmocka_unit_test(test_lsn_format_round_trip),
        cmocka_unit_test(test_lsn_diff),
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
