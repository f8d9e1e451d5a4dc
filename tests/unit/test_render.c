/*
 * test_render.c - a view as /v1/status, /v1/walsenders, /health, /ready
 * JSON and as Prometheus text: label escaping (quotes, backslashes,
 * newlines, non-ASCII, invalid UTF-8), unknown values left out, twins of a
 * label set printed once.
 */
#include "unit_util.h"

#include <jansson.h>

#include "render.h"

/* A view with three walsenders: stalled logical, ok physical, logical without LSNs. */
static struct view *sample_view(void)
{
    struct view *v = calloc(1, sizeof(*v) + 3 * sizeof(v->ws[0]));
    struct view_walsender *w = v->ws;

    assert_non_null(v);
    v->mono_ms = 100000;
    v->wall_ms = 1764108000000; /* 2025-11-25T22:00:00.000Z */
    v->version = "v1.2-3-gabc";
    snprintf(v->listen, sizeof(v->listen), "127.0.0.1:8009");
    v->phase = PHASE_ARMED;
    v->phase_since_wall_ms = v->wall_ms - 1500;
    v->clock_running = true;
    snprintf(v->trigger, sizeof(v->trigger), "armed by 127.0.0.1:5 (before_stop)");
    v->deadline_wall_ms = v->wall_ms + 4000;
    v->arm_expires_wall_ms = v->wall_ms + 64000;
    v->sql_up = v->attempted = v->sql_path = true;
    v->info.version_num = 150018;
    snprintf(v->info.role, sizeof(v->info.role), "guard");
    v->pidfile = "ok";
    v->pm_pid = 4100;
    v->pm_status = "ready";
    snprintf(v->signal_why, sizeof(v->signal_why), "postmaster 4100 is not visible");
    v->deadline_ms = 10000;
    v->physical_deadline_ms = -1;
    v->n_exclude = 1;
    snprintf(v->exclude[0], sizeof(v->exclude[0]), "keep_*");
    v->c.terminations[METHOD_SIGNAL][REASON_DEADLINE] = 2;
    v->c.arms[TRIGGER_BEFORE_STOP] = 1;
    v->c.last_shutdown_ms = 3012;
    v->poll_duration_us = 1340;
    v->last_poll_wall_ms = v->wall_ms - 250;
    v->n_ws = 3;
    w[0].w = (struct walsender){.pid = 4300,
                                .kind = WS_LOGICAL,
                                .lsn_known = true,
                                .sent_lsn = 0x3028A98,
                                .write_lsn = 0x3028A98,
                                .flush_lsn = 0x3000060};
    snprintf(w[0].w.slot, sizeof(w[0].w.slot), "orders");
    snprintf(w[0].w.application_name, sizeof(w[0].w.application_name),
             "app \"q\" \\ back\nnew \xc3\xa9t\xc3\xa9 bad\xff");
    snprintf(w[0].w.client_addr, sizeof(w[0].w.client_addr), "10.0.0.7");
    w[0].lag_known = true;
    w[0].lag_bytes = 0x3028A98 - 0x3000060;
    w[0].stalled_for_ms = 45000;
    w[0].risk = RISK_STALLED;
    w[0].cause = CAUSE_BEHIND;
    w[1].w = (struct walsender){.pid = 4301,
                                .kind = WS_PHYSICAL,
                                .lsn_known = true,
                                .sent_lsn = 0x3028A98,
                                .flush_lsn = 0x3028A98};
    snprintf(w[1].w.application_name, sizeof(w[1].w.application_name), "standby1");
    w[1].lag_known = true;
    w[1].risk = RISK_OK;
    w[2].w = (struct walsender){.pid = 4302, .kind = WS_LOGICAL};
    snprintf(w[2].w.slot, sizeof(w[2].w.slot), "keep_me");
    w[2].risk = RISK_UNKNOWN;
    w[2].cause = CAUSE_UNKNOWN;
    w[2].excluded = true;
    return v;
}

/* The value at a dotted path of objects ("a.b.c"). */
static json_t *at(json_t *o, const char *path)
{
    char buf[128], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_object_get(o, k);
    if (o == NULL)
        fail_msg("no \"%s\"", path);
    return o;
}

/* /v1/status carries phase, deadline, PostgreSQL, paths, config and counters. */
static void test_status(void **state)
{
    struct view *v = sample_view();
    json_t *o = render_status(v);

    (void)state;
    assert_string_equal(json_string_value(at(o, "phase")), "armed");
    assert_string_equal(json_string_value(at(o, "phase_since")), "2025-11-25T21:59:58.500Z");
    assert_string_equal(json_string_value(at(o, "deadline_at")), "2025-11-25T22:00:04.000Z");
    assert_int_equal(json_integer_value(at(o, "deadline_remaining_ms")), 4000);
    assert_string_equal(json_string_value(at(o, "trigger")), "armed by 127.0.0.1:5 (before_stop)");
    assert_string_equal(json_string_value(at(o, "postgresql.sql")), "connected");
    assert_true(json_is_null(at(o, "postgresql.error")));
    assert_int_equal(json_integer_value(at(o, "postgresql.postmaster_pid")), 4100);
    assert_true(json_is_true(at(o, "paths.sql.available")));
    assert_true(json_is_false(at(o, "paths.signal.available")));
    assert_string_equal(json_string_value(at(o, "paths.signal.why")),
                        "postmaster 4100 is not visible");
    assert_true(json_is_null(at(o, "config.physical_deadline_ms")));
    assert_string_equal(json_string_value(json_array_get(at(o, "config.exclude_slot"), 0)),
                        "keep_*");
    assert_int_equal(json_integer_value(at(o, "walsenders.logical")), 2);
    assert_int_equal(json_integer_value(at(o, "walsenders.physical")), 1);
    assert_int_equal(json_integer_value(at(o, "walsenders.stalled")), 1);
    assert_int_equal(json_integer_value(at(o, "counters.terminations.signal.deadline")), 2);
    assert_int_equal(json_integer_value(at(o, "counters.arms.before_stop")), 1);
    assert_int_equal(json_integer_value(at(o, "counters.last_shutdown_duration_ms")), 3012);
    assert_int_equal(json_integer_value(at(o, "counters.last_poll_age_ms")), 250);
    json_decref(o);
    free(v);
}

/* A view before any connection: nulls, not zeros. */
static void test_status_disconnected(void **state)
{
    struct view *v = calloc(1, sizeof(*v));
    json_t *o;

    (void)state;
    v->version = "x";
    v->pidfile = "none";
    v->poll_duration_us = -1;
    v->c.last_shutdown_ms = -1;
    v->physical_deadline_ms = 60000;
    snprintf(v->sql_error, sizeof(v->sql_error), "connection refused");
    snprintf(v->sql_why, sizeof(v->sql_why), "no SQL session");
    o = render_status(v);
    assert_string_equal(json_string_value(at(o, "postgresql.sql")), "disconnected");
    assert_string_equal(json_string_value(at(o, "postgresql.error")), "connection refused");
    assert_true(json_is_null(at(o, "postgresql.version_num")));
    assert_true(json_is_null(at(o, "postgresql.postmaster_pid")));
    assert_true(json_is_null(at(o, "deadline_at")));
    assert_true(json_is_null(at(o, "counters.poll_duration_ms")));
    assert_true(json_is_null(at(o, "counters.last_poll_age_ms")));
    assert_true(json_is_null(at(o, "counters.last_shutdown_duration_ms")));
    assert_int_equal(json_integer_value(at(o, "config.physical_deadline_ms")), 60000);
    json_decref(o);
    free(v);
}

/* /v1/walsenders: LSNs as PostgreSQL prints them, nulls when unknown, bad UTF-8 mended. */
static void test_walsenders(void **state)
{
    struct view *v = sample_view();
    json_t *o = render_walsenders(v), *a = at(o, "walsenders"), *w;

    (void)state;
    assert_int_equal(json_array_size(a), 3);
    w = json_array_get(a, 0);
    assert_string_equal(json_string_value(at(w, "sent_lsn")), "0/3028A98");
    assert_string_equal(json_string_value(at(w, "flush_lsn")), "0/3000060");
    assert_int_equal(json_integer_value(at(w, "lag_bytes")), 166456);
    assert_string_equal(json_string_value(at(w, "risk")), "stalled");
    assert_string_equal(json_string_value(at(w, "cause")), "behind");
    assert_false(json_is_true(at(w, "failover")));
    assert_string_equal(json_string_value(at(w, "application_name")),
                        "app \"q\" \\ back\nnew \xc3\xa9t\xc3\xa9 bad?");
    w = json_array_get(a, 1);
    assert_string_equal(json_string_value(at(w, "kind")), "physical");
    assert_true(json_is_null(at(w, "slot")));
    assert_true(json_is_null(at(w, "write_lsn")));
    assert_int_equal(json_integer_value(at(w, "lag_bytes")), 0);
    assert_true(json_is_null(at(w, "cause")));
    w = json_array_get(a, 2);
    assert_true(json_is_null(at(w, "sent_lsn")));
    assert_true(json_is_null(at(w, "lag_bytes")));
    assert_true(json_is_null(at(w, "stalled_for_ms")));
    assert_string_equal(json_string_value(at(w, "risk")), "unknown");
    assert_string_equal(json_string_value(at(w, "cause")), "unknown");
    assert_true(json_is_true(at(w, "excluded")));
    assert_string_equal(json_string_value(at(o, "as_of")), "2025-11-25T22:00:00.000Z");
    json_decref(o);
    /* a client that confirmed past what was sent: a negative lag, never a 0 */
    v->ws[0].lag_bytes = -1;
    v->ws[0].cause = CAUSE_AHEAD;
    o = render_walsenders(v);
    w = json_array_get(at(o, "walsenders"), 0);
    assert_int_equal(json_integer_value(at(w, "lag_bytes")), -1);
    assert_string_equal(json_string_value(at(w, "cause")), "ahead");
    json_decref(o);
    /* before the first confirmation the lag is unknown, not sent - 0 */
    v->ws[0].lag_known = false;
    v->ws[0].cause = CAUSE_SILENT;
    o = render_walsenders(v);
    w = json_array_get(at(o, "walsenders"), 0);
    assert_true(json_is_null(at(w, "lag_bytes")));
    assert_string_equal(json_string_value(at(w, "cause")), "silent");
    json_decref(o);
    free(v);
}

/* /health fails once the loop has not turned for 10 s; /ready says why it is not. */
static void test_probes(void **state)
{
    struct view *v = sample_view();
    int status;
    json_t *o;

    (void)state;
    o = render_health(v, v->mono_ms + 9999, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(at(o, "last_poll_age_ms")), 250 + 9999);
    json_decref(o);
    o = render_health(v, v->mono_ms + 10001, &status);
    assert_int_equal(status, 503);
    assert_string_equal(json_string_value(at(o, "error")), "unavailable");
    json_decref(o);
    o = render_ready(v, &status);
    assert_int_equal(status, 200);
    json_decref(o);
    v->sql_up = false;
    snprintf(v->sql_error, sizeof(v->sql_error), "could not connect: refused");
    o = render_ready(v, &status);
    assert_int_equal(status, 503);
    assert_string_equal(json_string_value(at(o, "reason")), "postgresql_unreachable");
    assert_string_equal(json_string_value(at(o, "detail")), "could not connect: refused");
    json_decref(o);
    v->pidfile = "missing";
    o = render_ready(v, &status);
    assert_string_equal(json_string_value(at(o, "reason")), "postgresql_stopped");
    json_decref(o);
    v->stopping = true;
    o = render_ready(v, &status);
    assert_string_equal(json_string_value(at(o, "reason")), "postgresql_shutting_down");
    json_decref(o);
    v->stopping = false;
    v->pidfile = "ok";
    v->attempted = false;
    o = render_ready(v, &status);
    assert_string_equal(json_string_value(at(o, "reason")), "starting");
    json_decref(o);
    free(v);
}

/* Label values escape backslash, quote and newline; bad bytes become '?'. */
static void test_prom_escape(void **state)
{
    char out[64];

    (void)state;
    render_prom_escape("a\"b\\c\nd", out, sizeof(out));
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    render_prom_escape("\xc3\xa9t\xc3\xa9", out, sizeof(out));
    assert_string_equal(out, "\xc3\xa9t\xc3\xa9");
    render_prom_escape("x\xff\xfey", out, sizeof(out));
    assert_string_equal(out, "x??y");
    render_prom_escape("\"\"\"\"\"\"\"\"\"\"", out, 8); /* never a half escape */
    assert_string_equal(out, "\\\"\\\"\\\"");
    render_prom_escape("", out, sizeof(out));
    assert_string_equal(out, "");
}

/* Does the text hold this exact line? */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The metrics: walsender series with escaped labels, state sets, counters, gauges. */
static void test_metrics(void **state)
{
    struct view *v = sample_view();
    size_t len;
    char *m = render_metrics(v, v->wall_ms + 1000, &len);
    const char *lbl = "slot=\"orders\",kind=\"logical\",application_name=\"app \\\"q\\\" \\\\ "
                      "back\\nnew \xc3\xa9t\xc3\xa9 bad?\",client_addr=\"10.0.0.7\"";
    char want[1024];

    (void)state;
    assert_non_null(m);
    assert_int_equal(strlen(m), len);
    snprintf(want, sizeof(want), "demotion_guard_walsender_lag_bytes{%s} 166456", lbl);
    assert_true(has_line(m, want));
    snprintf(want, sizeof(want), "demotion_guard_walsender_stalled_seconds{%s} 45.000", lbl);
    assert_true(has_line(m, want));
    snprintf(want, sizeof(want), "demotion_guard_walsender_risk{%s,risk=\"stalled\"} 1", lbl);
    assert_true(has_line(m, want));
    snprintf(want, sizeof(want), "demotion_guard_walsender_risk{%s,risk=\"ok\"} 0", lbl);
    assert_true(has_line(m, want));
    snprintf(want, sizeof(want), "demotion_guard_walsender_cause{%s,cause=\"behind\"} 1", lbl);
    assert_true(has_line(m, want));
    snprintf(want, sizeof(want), "demotion_guard_walsender_cause{%s,cause=\"ahead\"} 0", lbl);
    assert_true(has_line(m, want));
    assert_true(has_line(m, "demotion_guard_walsender_cause{slot=\"\",kind=\"physical\","
                            "application_name=\"standby1\",client_addr=\"\",cause=\"behind\"} 0"));
    assert_null(strstr(m, "walsender_lag_bytes{slot=\"keep_me\"")); /* unknown: absent */
    assert_non_null(strstr(m, "walsender_risk{slot=\"keep_me\",kind=\"logical\",application_"
                              "name=\"\",client_addr=\"\",risk=\"unknown\"} 1"));
    assert_true(has_line(m, "demotion_guard_phase{phase=\"armed\"} 1"));
    assert_true(has_line(m, "demotion_guard_phase{phase=\"observing\"} 0"));
    assert_true(has_line(m, "demotion_guard_enforcement_path_available{path=\"signal\"} 0"));
    assert_true(has_line(m, "demotion_guard_terminations_total{method=\"signal\",reason="
                            "\"deadline\"} 2"));
    assert_true(has_line(m, "demotion_guard_arms_total{trigger=\"before_stop\"} 1"));
    assert_true(has_line(m, "demotion_guard_last_shutdown_duration_seconds 3.012"));
    assert_true(has_line(m, "demotion_guard_poll_duration_seconds 0.001340"));
    assert_true(has_line(m, "demotion_guard_last_poll_age_seconds 1.250"));
    assert_true(has_line(m, "demotion_guard_build_info{version=\"v1.2-3-gabc\"} 1"));
    assert_non_null(strstr(m, "# TYPE demotion_guard_terminations_total counter\n"));
    assert_int_equal(m[len - 1], '\n');
    free(m);
    free(v);
}

/* Audit events a failed write left queued are a gauge (0 when all were written). */
static void test_metrics_audit_pending(void **state)
{
    struct view *v = sample_view();
    size_t len;
    char *m = render_metrics(v, v->wall_ms, &len);

    (void)state;
    assert_true(has_line(m, "demotion_guard_audit_pending_events 0"));
    assert_non_null(strstr(m, "# TYPE demotion_guard_audit_pending_events gauge\n"));
    free(m);
    v->audit_pending = 3;
    m = render_metrics(v, v->wall_ms, &len);
    assert_true(has_line(m, "demotion_guard_audit_pending_events 3"));
    free(m);
    free(v);
}

/* Two slot-less physical walsenders of one client give one series, not a duplicate. */
static void test_metrics_twins(void **state)
{
    struct view *v = sample_view();
    size_t len;
    char *m;
    int n = 0;

    (void)state;
    v->ws[0] = v->ws[1];
    v->ws[0].w.pid = 4299;
    v->c.last_shutdown_ms = -1;
    v->poll_duration_us = -1;
    v->last_poll_wall_ms = 0;
    m = render_metrics(v, v->wall_ms, &len);
    for (const char *p = m; (p = strstr(p, "walsender_lag_bytes{slot=\"\",kind=\"physical\"")); p++)
        n++;
    assert_int_equal(n, 1);
    assert_null(strstr(m, "last_shutdown_duration_seconds"));
    assert_null(strstr(m, "poll_duration_seconds"));
    assert_null(strstr(m, "last_poll_age_seconds"));
    free(m);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),        cmocka_unit_test(test_status_disconnected),
        cmocka_unit_test(test_walsenders),    cmocka_unit_test(test_probes),
        cmocka_unit_test(test_prom_escape),   cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metrics_twins), cmocka_unit_test(test_metrics_audit_pending),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
