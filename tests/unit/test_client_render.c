/*
 * test_client_render.c - the daemon's answers for a person: human bytes
 * and durations, terminal-safe text, JSON members, the status header, the
 * walsender table and the counters, and the answers of arm, disarm and kill
 */
#include "unit_util.h"

#include "client_render.h"
#include "client_samples.h"

/* Parse a JSON text that must be valid. */
static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    if (j == NULL)
        fail_msg("bad test JSON: %s at %d", jerr.text, jerr.position);
    return j;
}

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

/* Format bytes into a static buffer for assertions. */
static const char *bytes(int64_t n)
{
    static char buf[64];

    client_render_bytes(n, buf, sizeof(buf));
    return buf;
}

/* Format a duration into a static buffer for assertions. */
static const char *dur(int64_t ms)
{
    static char buf[64];

    client_render_duration(ms, buf, sizeof(buf));
    return buf;
}

/* Human bytes and durations. */
static void test_format(void **state)
{
    (void)state;
    assert_string_equal(bytes(-1), "-");
    assert_string_equal(bytes(0), "0 B");
    assert_string_equal(bytes(176), "176 B");
    assert_string_equal(bytes(1023), "1023 B");
    assert_string_equal(bytes(1024), "1.0 KiB");
    assert_string_equal(bytes(166456), "162.6 KiB");
    assert_string_equal(bytes(16 * 1024 * 1024), "16.0 MiB");
    assert_string_equal(bytes(3221225472LL), "3.0 GiB");
    assert_string_equal(bytes(INT64_MAX), "8.0 EiB");
    assert_string_equal(dur(-1), "-");
    assert_string_equal(dur(0), "0ms");
    assert_string_equal(dur(250), "250ms");
    assert_string_equal(dur(3500), "3.5s");
    assert_string_equal(dur(45000), "45s");
    assert_string_equal(dur(125000), "2m05s");
    assert_string_equal(dur(3720000), "1h02m");
    assert_string_equal(dur(5000), "5s");
    assert_string_equal(dur(5099), "5s");
    assert_string_equal(dur(60000), "1m");
    assert_string_equal(dur(3600000), "1h");
    assert_string_equal(dur(86400000), "1d");
    assert_string_equal(dur(183600000), "2d03h");
}

/* Control characters become '?', UTF-8 is kept, cuts fall between characters. */
static void test_sanitize(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(client_render_sanitize("plain", out, sizeof(out)), 5);
    assert_string_equal(out, "plain");
    assert_int_equal(client_render_sanitize("r\xc3\xa9plica", out, sizeof(out)), 7);
    assert_string_equal(out, "r\xc3\xa9plica");
    assert_int_equal(client_render_sanitize("a\x1b[31m\n\x7f", out, sizeof(out)), 8);
    assert_string_equal(out, "a?[31m??");
    assert_int_equal(client_render_sanitize("c1\xc2\x9b", out, sizeof(out)), 4);
    assert_string_equal(out, "c1??");
    assert_int_equal(client_render_sanitize("bad\xc3", out, sizeof(out)), 4);
    assert_string_equal(out, "bad?");
    assert_int_equal(client_render_sanitize("\xe2\x82\xac\xe2\x82\xac", out, 5), 1);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(client_render_sanitize("xyz", out, 1), 0);
    assert_string_equal(out, "");
}

/* Members of a JSON answer: strings and numbers, absent, null or of another type. */
static void test_members(void **state)
{
    json_t *o = parse("{\"s\": \"x\", \"i\": 42, \"r\": 1.9, \"n\": null, \"b\": true}");
    int64_t v = -7;

    (void)state;
    assert_string_equal(client_render_str(o, "s"), "x");
    assert_null(client_render_str(o, "i"));
    assert_null(client_render_str(o, "missing"));
    assert_null(client_render_str(NULL, "s"));
    assert_true(client_render_num(o, "i", &v));
    assert_int_equal(v, 42);
    assert_true(client_render_num(o, "r", &v));
    assert_int_equal(v, 1);
    v = -7;
    assert_false(client_render_num(o, "n", &v));
    assert_false(client_render_num(o, "b", &v));
    assert_false(client_render_num(o, "s", &v));
    assert_false(client_render_num(o, "missing", &v));
    assert_int_equal(v, -7);
    json_decref(o);
}

/* Render something into a malloc'd string with the given renderer. */
static char *render_status(const char *status, const char *walsenders, int64_t now)
{
    json_t *st = parse(status), *ws = parse(walsenders);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    client_render_status(f, "http://127.0.0.1:8009", st, ws, now);
    fclose(f);
    json_decref(st);
    json_decref(ws);
    return buf;
}

/* The line of out that contains needle, copied into line (fails when none). */
static void line_with(const char *out, const char *needle, char *line, size_t len)
{
    const char *p = strstr(out, needle), *start, *end;

    if (p == NULL)
        fail_msg("no line with \"%s\" in:\n%s", needle, out);
    for (start = p; start > out && start[-1] != '\n'; start--)
        ;
    end = strchr(p, '\n');
    snprintf(line, len, "%.*s", end ? (int)(end - start) : (int)strlen(start), start);
}

/* Column (in characters, UTF-8 aware) where needle starts in line. */
static int column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    int col = 0;

    assert_non_null(p);
    for (const char *q = line; q < p; q++)
        col += ((unsigned char)*q & 0xc0) != 0x80;
    return col;
}

/* The header of the API.md sample: URL, phase with deadline, PostgreSQL, paths. */
static void test_render_status_header(void **state)
{
    int64_t now = (int64_t)1795644001123LL; /* 2026-11-25T22:00:01.123Z */
    char *out = render_status(sample_status, sample_walsenders, now);

    (void)state;
    assert_contains(out, "demotion-guard v0.3-12-gabc at http://127.0.0.1:8009");
    assert_contains(out, "phase       armed since 22:00:00Z (1s ago), trigger before_stop, "
                         "deadline in 3.5s (at 22:00:05Z), arm expires at 22:01:05Z\n");
    assert_contains(out, "postgresql  connected: PostgreSQL 15.18, role demotion_guard, "
                         "primary, backend pid 4242\n");
    assert_contains(out, "postmaster  pid 4100 ready; postmaster.pid ok in "
                         "/var/lib/postgresql/15/main\n");
    assert_contains(out, "paths       sql available, signal unavailable (postmaster 4100 is not "
                         "visible: EPERM)\n");
    assert_contains(out, "deadline 10s, stall after 30s, kill stalled at shutdown yes, "
                         "physical deadline off, excluded debezium_*, token set\n");
    assert_contains(out, "dry-run     no\n");
    assert_contains(out, "walsenders  2 logical, 1 physical, 1 stalled\n");
    assert_contains(out, "counters    terminations 3 (sql 1, signal 2), failures 0, arms 4, "
                         "shutdowns 3 (last took 3s), last poll 250ms ago (took 1.34ms)\n");
    free(out);
}

/* The table: every walsender, human lag, null lag as "-", aligned with UTF-8, no escapes. */
static void test_render_status_table(void **state)
{
    char *out = render_status(sample_status, sample_walsenders, 0);
    char head[512], row1[512], row2[512], row3[512], row4[512];

    (void)state;
    line_with(out, "APPLICATION", head, sizeof(head));
    line_with(out, "orders", row1, sizeof(row1));
    line_with(out, "debezium_inv", row2, sizeof(row2));
    line_with(out, "evil", row3, sizeof(row3));
    line_with(out, "standby1", row4, sizeof(row4));
    assert_contains(head, "PID");
    assert_contains(head, "RISK");
    assert_contains(row1, "4300  logical   orders  ");
    assert_contains(row1, "PostgreSQL JDBC Driver");
    assert_contains(row1, "10.0.0.7");
    assert_contains(row1, "162.6 KiB");
    assert_contains(row1, "45s");
    assert_contains(row1, "stalled");
    assert_contains(row2, "r\xc3\xa9plica-\xc3\xbc");
    assert_contains(row2, "unknown (excluded)");
    assert_contains(row3, "a?[31mb?");
    assert_lacks(out, "\x1b");
    assert_contains(row4, "3.0 GiB");
    assert_contains(row4, "lagging");
    /* columns line up, counting characters, not bytes */
    assert_int_equal(column_of(head, "CLIENT"), column_of(row1, "10.0.0.7"));
    assert_int_equal(column_of(head, "CLIENT"), column_of(row2, "-  "));
    assert_int_equal(column_of(head, "RISK"), column_of(row1, "stalled"));
    assert_int_equal(column_of(head, "RISK"), column_of(row2, "unknown"));
    assert_int_equal(column_of(head, "RISK"), column_of(row4, "lagging"));
    assert_int_equal(column_of(head, "CAUSE"), column_of(row1, "ahead"));
    assert_int_equal(column_of(row1, "162.6 KiB") + 9, column_of(row4, "3.0 GiB") + 7);
    free(out);
}

/* No walsenders, PostgreSQL down, dry-run, an observing phase. */
static void test_render_status_degraded(void **state)
{
    const char *st =
        "{\"version\": \"v1\", \"phase\": \"waiting\", \"phase_since\": "
        "\"2026-11-25T22:00:00.000Z\","
        " \"trigger\": null, \"deadline_remaining_ms\": null,"
        " \"postgresql\": {\"sql\": \"disconnected\", \"error\": \"could not connect: refused\","
        "  \"version_num\": null, \"pidfile\": \"missing\", \"postmaster_pid\": null,"
        "  \"postmaster_status\": null},"
        " \"paths\": {\"sql\": {\"available\": false, \"why\": \"no session\"},"
        "  \"signal\": {\"available\": true, \"why\": null}},"
        " \"config\": {\"deadline_ms\": 2000, \"physical_deadline_ms\": 60000, \"dry_run\": true,"
        "  \"exclude_slot\": [], \"token\": false}, \"counters\": {}}";
    char *out = render_status(st, "{\"walsenders\": []}", 0);

    (void)state;
    assert_contains(out, "phase       waiting since 22:00:00Z\n");
    assert_contains(out, "postgresql  disconnected: could not connect: refused\n");
    assert_contains(out, "postmaster  unknown; postmaster.pid missing\n");
    assert_contains(out, "sql unavailable (no session), signal available");
    assert_contains(out, "deadline 2s, stall after -, kill stalled at shutdown no, "
                         "physical deadline 1m, token none\n");
    assert_contains(out, "dry-run     YES");
    assert_contains(out, "\nno walsenders\n");
    assert_contains(out, "terminations 0 (sql 0, signal 0), failures 0, arms 0, shutdowns 0, "
                         "no poll yet\n");
    free(out);
    out = render_status("{}", "{}", 0);
    assert_contains(out, "no walsenders");
    free(out);
}

/* Render an answer with one of the small renderers into a malloc'd string. */
static char *render_with(void (*fn)(FILE *, const json_t *), const char *text)
{
    json_t *j = parse(text);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    fn(f, j);
    fclose(f);
    json_decref(j);
    return buf;
}

/* The arm and disarm answers, one line each. */
static void test_render_arm_disarm(void **state)
{
    char *out;

    (void)state;
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"api\",\"reason\":"
                                         "\"maintenance\",\"deadline_left_ms\":5000,"
                                         "\"deadline_at\":\"2026-11-25T22:10:03.000Z\"}");
    assert_string_equal(out,
                        "armed: deadline 5s (at 22:10:03Z), trigger api, reason \"maintenance\"\n");
    free(out);
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"before_stop\","
                                         "\"reason\":\"before_stop\",\"deadline_left_ms\":10000,"
                                         "\"deadline_at\":\"2026-11-25T22:10:03.000Z\"}");
    assert_string_equal(out, "armed: deadline 10s (at 22:10:03Z), trigger before_stop\n");
    free(out);
    out = render_with(client_render_arm, "{\"phase\":\"armed\",\"trigger\":\"api\","
                                         "\"reason\":\"api\",\"deadline_left_ms\":4993}");
    assert_string_equal(out, "armed: deadline 4.9s, trigger api\n");
    free(out);
    out = render_with(client_render_disarm, "{\"phase\":\"observing\",\"was_armed\":true}");
    assert_string_equal(out, "disarmed (phase observing)\n");
    free(out);
    out = render_with(client_render_disarm, "{\"phase\":\"observing\",\"was_armed\":false}");
    assert_string_equal(out, "was not armed (phase observing)\n");
    free(out);
}

/* The kill answer: one line per target with result, method and error. */
static void test_render_kill(void **state)
{
    char *out;

    (void)state;
    out =
        render_with(client_render_kill,
                    "{\"targets\": [{\"pid\": 4300, \"slot\": \"orders\", \"kind\": \"logical\","
                    " \"application_name\": \"PostgreSQL JDBC Driver\", \"result\": \"terminated\","
                    " \"method\": \"sql\", \"error\": null},"
                    " {\"pid\": 4301, \"slot\": \"debezium_inv\", \"kind\": \"logical\","
                    " \"application_name\": \"\", \"result\": \"excluded\", \"method\": null,"
                    " \"error\": null},"
                    " {\"pid\": 4302, \"slot\": null, \"kind\": \"logical\","
                    " \"application_name\": \"x\\u001b\", \"result\": \"failed\","
                    " \"method\": \"signal\", \"error\": \"not a child of 4100\\n\"}]}");
    assert_string_equal(out, "pid 4300 slot orders (logical, \"PostgreSQL JDBC Driver\"): "
                             "terminated by sql\n"
                             "pid 4301 slot debezium_inv (logical): excluded\n"
                             "pid 4302 slot - (logical, \"x?\"): failed by signal: "
                             "not a child of 4100?\n");
    free(out);
    out = render_with(client_render_kill, "{\"targets\": []}");
    assert_string_equal(out, "no walsender selected\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_render_status_header),
        cmocka_unit_test(test_render_status_table),
        cmocka_unit_test(test_render_status_degraded),
        cmocka_unit_test(test_render_arm_disarm),
        cmocka_unit_test(test_render_kill),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
