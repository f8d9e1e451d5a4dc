/*
 * test_walsender.c - walsender.c, the libpq-free helpers: LSN parsing,
 * formatting and arithmetic, the confirmed position and the lag, kind names
 */
#include "unit_util.h"

#include "walsender.h"

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
        cmocka_unit_test(test_lag_bytes),         cmocka_unit_test(test_lsn_parse_valid),
        cmocka_unit_test(test_lsn_parse_invalid), cmocka_unit_test(test_lsn_format_round_trip),
        cmocka_unit_test(test_lsn_diff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
