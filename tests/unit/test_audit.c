/*
 * test_audit.c - rendering of audit lines, the walsender fields, and the
 * file: appended one line per event, queued while it cannot be written,
 * never torn by a short write (injected with RLIMIT_FSIZE, as a full disk
 * cuts a write short), kept across an exit that cannot write it
 */
#include "unit_util.h"

#include <jansson.h>
#include <signal.h>
#include <sys/resource.h>

#include "audit.h"
#include "log.h"

/* Quiet the daemon's log (each event is copied there at info level). */
static int quiet_setup(void **state)
{
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    return ut_tmpdir_setup(state);
}

/* Parse one line as a JSON object; fails the test otherwise. */
static json_t *parse_line(const char *line, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);

    if (o == NULL || !json_is_object(o))
        fail_msg("not a JSON object (%s): %.*s", jerr.text, (int)len, line);
    return o;
}

/* Assert the keys of an object, in order. */
static void check_keys(json_t *o, const char *const *keys, int n)
{
    void *it = json_object_iter(o);

    for (int i = 0; i < n; i++) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), keys[i]);
        it = json_object_iter_next(o, it);
    }
    assert_null(it);
}

/* A walsender with known LSNs: sent 0/3000148, write 0/3000100, flush 0/3000000. */
static struct walsender sample_walsender(void)
{
    struct walsender w = {.pid = 4242,
                          .start_ticks = 99,
                          .kind = WS_LOGICAL,
                          .lsn_known = true,
                          .sent_lsn = 0x3000148,
                          .write_lsn = 0x3000100,
                          .flush_lsn = 0x3000000};

    snprintf(w.slot, sizeof(w.slot), "debezium");
    snprintf(w.application_name, sizeof(w.application_name), "pgjdbc");
    snprintf(w.client_addr, sizeof(w.client_addr), "10.0.0.5");
    snprintf(w.database, sizeof(w.database), "app");
    return w;
}

/* "ts" and "event" come first, then the fields in their order. */
static void test_render_order(void **state)
{
    static const char *const keys[] = {"ts", "event", "pid", "method", "reason"};
    json_t *f = json_pack("{s:i,s:s,s:s}", "pid", 7, "method", "sql", "reason", "deadline");
    char *line;
    json_t *o;

    (void)state;
    line = audit_render("2024-01-02T03:04:05.678Z", "terminated", f);
    json_decref(f); /* render takes no ownership */
    assert_non_null(line);
    assert_true(
        strncmp(line, "{\"ts\":\"2024-01-02T03:04:05.678Z\",\"event\":\"terminated\",", 52) == 0);
    o = parse_line(line, strlen(line));
    check_keys(o, keys, 5);
    json_decref(o);
    free(line);
}

/* Without fields the line is just ts and event, compact. */
static void test_render_no_fields(void **state)
{
    char *line = audit_render("T", "armed", NULL);

    (void)state;
    assert_string_equal(line, "{\"ts\":\"T\",\"event\":\"armed\"}");
    free(line);
}

/* Quotes, backslashes, newlines and non-ASCII are escaped: one ASCII line. */
static void test_render_escaping(void **state)
{
    json_t *f = json_pack("{s:s}", "application_name", "a\"b\\c\nd\te \xc3\xa9\xe2\x82\xac");
    char *line = audit_render("T", "would_terminate", f);
    json_t *o;

    (void)state;
    json_decref(f);
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    for (const char *p = line; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80);
    assert_non_null(strstr(line, "a\\\"b\\\\c\\nd\\te \\u00E9\\u20AC"));
    o = parse_line(line, strlen(line));
    assert_string_equal(json_string_value(json_object_get(o, "application_name")),
                        "a\"b\\c\nd\te \xc3\xa9\xe2\x82\xac");
    json_decref(o);
    free(line);
}

/* A walsender's fields: the documented keys, LSNs as PostgreSQL writes them, lag in bytes. */
static void test_walsender_fields(void **state)
{
    static const char *const keys[] = {"pid",         "slot",     "kind",      "application_name",
                                       "client_addr", "sent_lsn", "flush_lsn", "lag_bytes",
                                       "cause"};
    struct walsender w = sample_walsender();
    json_t *o = audit_walsender_fields(&w);

    (void)state;
    check_keys(o, keys, 9);
    assert_string_equal(json_string_value(json_object_get(o, "cause")), "behind");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), 4242);
    assert_string_equal(json_string_value(json_object_get(o, "slot")), "debezium");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "logical");
    assert_string_equal(json_string_value(json_object_get(o, "application_name")), "pgjdbc");
    assert_string_equal(json_string_value(json_object_get(o, "client_addr")), "10.0.0.5");
    assert_string_equal(json_string_value(json_object_get(o, "sent_lsn")), "0/3000148");
    assert_string_equal(json_string_value(json_object_get(o, "flush_lsn")), "0/3000000");
    assert_int_equal(json_integer_value(json_object_get(o, "lag_bytes")), 0x148);
    json_decref(o);
}

/* Flush 0 (a client that reports only write) falls back to the write position. */
static void test_walsender_fields_flush_zero(void **state)
{
    struct walsender w = sample_walsender();
    json_t *o;

    (void)state;
    w.flush_lsn = 0;
    w.kind = WS_PHYSICAL;
    o = audit_walsender_fields(&w);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "physical");
    assert_string_equal(json_string_value(json_object_get(o, "flush_lsn")), "0/3000100");
    assert_int_equal(json_integer_value(json_object_get(o, "lag_bytes")), 0x48);
    json_decref(o);
    w.flush_lsn = 0x3000149; /* confirmed past sent (LSN + 1): a negative lag, cause ahead */
    o = audit_walsender_fields(&w);
    assert_int_equal(json_integer_value(json_object_get(o, "lag_bytes")), -1);
    assert_string_equal(json_string_value(json_object_get(o, "cause")), "ahead");
    json_decref(o);
    w.flush_lsn = w.sent_lsn; /* caught up: would not hold a stop */
    o = audit_walsender_fields(&w);
    assert_int_equal(json_integer_value(json_object_get(o, "lag_bytes")), 0);
    assert_true(json_is_null(json_object_get(o, "cause")));
    json_decref(o);
}

/* A client that never confirmed anything gives a null flush_lsn and lag, not a lag from 0/0. */
static void test_walsender_fields_never_confirmed(void **state)
{
    struct walsender w = sample_walsender();
    json_t *o;

    (void)state;
    w.flush_lsn = w.write_lsn = 0;
    o = audit_walsender_fields(&w);
    assert_string_equal(json_string_value(json_object_get(o, "sent_lsn")), "0/3000148");
    assert_true(json_is_null(json_object_get(o, "flush_lsn")));
    assert_true(json_is_null(json_object_get(o, "lag_bytes")));
    assert_string_equal(json_string_value(json_object_get(o, "cause")), "silent");
    json_decref(o);
}

/* Unknown LSNs (no pg_read_all_stats, or seen in /proc only) are nulls, not zeros. */
static void test_walsender_fields_lsn_unknown(void **state)
{
    struct walsender w = sample_walsender();
    json_t *o;

    (void)state;
    w.lsn_known = false;
    o = audit_walsender_fields(&w);
    assert_true(json_is_null(json_object_get(o, "sent_lsn")));
    assert_true(json_is_null(json_object_get(o, "flush_lsn")));
    assert_true(json_is_null(json_object_get(o, "lag_bytes")));
    assert_string_equal(json_string_value(json_object_get(o, "cause")), "unknown");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), 4242);
    json_decref(o);
}

/* Check that line i of text is an event with this name and a well-formed ts. */
static void check_event_line(const char *text, int i, const char *event)
{
    const char *p = text, *e;
    json_t *o;
    const char *ts;

    for (int k = 0; k < i; k++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    e = strchr(p, '\n');
    assert_non_null(e);
    o = parse_line(p, (size_t)(e - p));
    assert_string_equal(json_string_value(json_object_get(o, "event")), event);
    ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[23], 'Z');
    json_decref(o);
}

/* Each event is appended as one line, after what the file already held. */
static void test_emit_appends_lines(void **state)
{
    char path[PATH_MAX], *text;
    struct walsender w = sample_walsender();
    struct audit *a;

    ut_write_file(*state, "audit.json", "{\"old\":true}\n");
    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    assert_non_null(a);
    audit_emit(a, "shutdown_started", NULL);
    audit_emit(a, "terminated", audit_walsender_fields(&w));
    audit_emit(a, "shutdown_completed", json_pack("{s:i}", "duration_ms", 40));
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 4);
    assert_true(strncmp(text, "{\"old\":true}\n", 13) == 0);
    check_event_line(text, 1, "shutdown_started");
    check_event_line(text, 2, "terminated");
    check_event_line(text, 3, "shutdown_completed");
    assert_non_null(strstr(text, "\"slot\":\"debezium\""));
    free(text);
}

/* An unwritable path queues events; once writable, a flush writes them in order. */
static void test_emit_queues_until_writable(void **state)
{
    char path[PATH_MAX], *text;
    struct audit *a;

    ut_path(path, *state, "later/audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", NULL);
    assert_int_equal(audit_pending(a), 1);
    audit_emit(a, "shutdown_started", json_pack("{s:s}", "why", "stopping"));
    assert_int_equal(audit_pending(a), 2);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 2);
    ut_mkdir(*state, "later");
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_emit(a, "shutdown_completed", NULL);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 3);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "shutdown_started");
    check_event_line(text, 2, "shutdown_completed");
    free(text);
}

/* Events queued while unwritable go to the file before later ones. */
static void test_emit_flushes_queue_first(void **state)
{
    char path[PATH_MAX], *text;
    struct audit *a;

    ut_path(path, *state, "later/audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", NULL);
    assert_int_equal(audit_pending(a), 1);
    ut_mkdir(*state, "later");
    audit_emit(a, "disarmed", NULL);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 2);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "disarmed");
    free(text);
}

/* Closing writes what is still queued. */
static void test_close_flushes(void **state)
{
    char path[PATH_MAX], *text;
    struct audit *a;

    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", NULL);
    audit_emit(a, "disarmed", NULL);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 2);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "disarmed");
    free(text);
}

/* A long queue (past its first allocation) is written whole and in order. */
static void test_long_queue_in_order(void **state)
{
    char path[PATH_MAX], name[32], *text;
    struct audit *a;

    ut_path(path, *state, "later/audit.json");
    a = audit_open(path);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "event_%02d", i);
        audit_emit(a, name, json_pack("{s:i}", "n", i));
    }
    audit_flush(a);
    assert_int_equal(audit_pending(a), 40);
    ut_mkdir(*state, "later");
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 40);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "event_%02d", i);
        check_event_line(text, i, name);
    }
    free(text);
}

/* Closing with events still queued reports them lost and frees everything. */
static void test_close_with_queue(void **state)
{
    char path[PATH_MAX];
    struct audit *a;

    ut_path(path, *state, "never/audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", NULL);
    audit_emit(a, "disarmed", NULL);
    assert_int_equal(audit_pending(a), 2);
    audit_close(a); /* ASan: no leak */
}

/* Without a path events go to the log only; NULL handles are harmless. */
static void test_log_only(void **state)
{
    struct audit *a = audit_open(NULL);
    struct audit *b = audit_open("");

    (void)state;
    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    assert_non_null(a);
    audit_emit(a, "armed", json_pack("{s:s}", "why", "api"));
    audit_emit(b, "armed", NULL);
    audit_emit(NULL, "armed", NULL);
    assert_int_equal(audit_pending(a), 0);
    assert_int_equal(audit_pending(b), 0);
    assert_int_equal(audit_pending(NULL), 0);
    audit_flush(a);
    audit_flush(NULL);
    audit_close(a);
    audit_close(b);
    audit_close(NULL);
}

/* Opening and closing an audit file with no events leaves no file and no error. */
static void test_open_close_empty(void **state)
{
    char path[PATH_MAX];
    struct audit *a;

    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    assert_int_equal(access(path, F_OK), -1);
}

/* Let this process write files up to bytes only (RLIMIT_FSIZE): a write past it is cut short. */
static void limit_file_size(rlim_t bytes)
{
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Lift the limit of limit_file_size() again: the disk has room again. */
static void unlimit_file_size(void)
{
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Teardown that lifts the file size limit even when the test failed. */
static int fsize_teardown(void **state)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_FSIZE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_FSIZE, &rl);
    }
    return ut_tmpdir_teardown(state);
}

/* The size of a file. */
static off_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/*
 * A write cut short (a full disk) leaves no fragment: the file is cut back,
 * the event stays queued, and once there is room every line is whole JSON.
 */
static void test_short_write_no_torn_line(void **state)
{
    char path[PATH_MAX], *text;
    struct audit *a;
    off_t size;

    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", NULL);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    size = file_size(path);
    limit_file_size((rlim_t)size + 10);
    audit_emit(a, "shutdown_started", json_pack("{s:s}", "trigger", "postmaster.pid stopping"));
    audit_flush(a);
    assert_int_equal(audit_pending(a), 1);
    assert_int_equal(file_size(path), size);
    unlimit_file_size();
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 2);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "shutdown_started");
    free(text);
}

/* A torn last line (a crash in the middle of a write) is removed before the next append. */
static void test_torn_tail_removed(void **state)
{
    char path[PATH_MAX], *text;
    struct audit *a;

    ut_write_file(*state, "audit.json",
                  "{\"ts\":\"2026-12-01T00:00:00.000Z\",\"event\":\"armed\"}\n{\"ts\":\"2026-12");
    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    audit_emit(a, "disarmed", NULL);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 2);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "disarmed");
    free(text);
}

/*
 * Events that cannot be written at exit (the disk is full) are not only
 * logged: the next start queues them first, and they reach the file once
 * it is writable, once.
 */
static void test_exit_keeps_queue_for_next_start(void **state)
{
    char path[PATH_MAX], note[1001], *text;
    struct audit *a;

    memset(note, 'x', sizeof(note) - 1);
    note[sizeof(note) - 1] = '\0';
    ut_path(path, *state, "audit.json");
    a = audit_open(path);
    audit_emit(a, "armed", json_pack("{s:s}", "note", note));
    audit_flush(a);
    limit_file_size((rlim_t)file_size(path)); /* not one more byte */
    audit_emit(a, "terminated", json_pack("{s:i}", "pid", 4242));
    audit_emit(a, "shutdown_completed", NULL);
    audit_close(a);
    unlimit_file_size();
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 1);
    free(text);
    a = audit_open(path);
    assert_int_equal(audit_pending(a), 2);
    audit_emit(a, "armed", NULL);
    audit_flush(a);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    a = audit_open(path);
    assert_int_equal(audit_pending(a), 0);
    audit_close(a);
    text = ut_read_file(path);
    assert_int_equal(ut_count_lines(text), 4);
    check_event_line(text, 0, "armed");
    check_event_line(text, 1, "terminated");
    check_event_line(text, 2, "shutdown_completed");
    check_event_line(text, 3, "armed");
    free(text);
}

#define FILE_TEST(f)  cmocka_unit_test_setup_teardown(f, quiet_setup, ut_tmpdir_teardown)
#define FSIZE_TEST(f) cmocka_unit_test_setup_teardown(f, quiet_setup, fsize_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_order),
        cmocka_unit_test(test_render_no_fields),
        cmocka_unit_test(test_render_escaping),
        cmocka_unit_test(test_walsender_fields),
        cmocka_unit_test(test_walsender_fields_flush_zero),
        cmocka_unit_test(test_walsender_fields_never_confirmed),
        cmocka_unit_test(test_walsender_fields_lsn_unknown),
        FILE_TEST(test_emit_appends_lines),
        FILE_TEST(test_emit_queues_until_writable),
        FILE_TEST(test_emit_flushes_queue_first),
        FILE_TEST(test_close_flushes),
        FILE_TEST(test_long_queue_in_order),
        FILE_TEST(test_close_with_queue),
        cmocka_unit_test(test_log_only),
        FILE_TEST(test_open_close_empty),
        FSIZE_TEST(test_short_write_no_torn_line),
        FILE_TEST(test_torn_tail_removed),
        FSIZE_TEST(test_exit_keeps_queue_for_next_start),
    };

    signal(SIGXFSZ, SIG_IGN); /* a write past RLIMIT_FSIZE fails with EFBIG instead */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
