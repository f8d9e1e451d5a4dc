/*
 * render.c - a view of the guard as JSON (jansson) and as Prometheus text
 *
 * Pure functions of a published view: no locks, no I/O, unit-tested.
 */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define HEALTH_MAX_AGE_MS 10000

const char *trigger_name(enum trigger t)
{
    static const char *const names[] = {"api", "before_stop", "pre_promote", "shutdown"};

    return names[t];
}

const char *method_name(enum method m)
{
    return m == METHOD_SQL ? "sql" : "signal";
}

/* The trigger an arm's reason counts as: the hooks' reasons, else "api". */
enum trigger trigger_of(const char *reason)
{
    if (strcmp(reason, "before_stop") == 0)
        return TRIGGER_BEFORE_STOP;
    if (strcmp(reason, "pre_promote") == 0)
        return TRIGGER_PRE_PROMOTE;
    return TRIGGER_API;
}

/* A JSON error body. */
json_t *render_error(const char *code, const char *detail)
{
    return json_pack("{s:s,s:s}", "error", code, "detail", detail);
}

/* RFC 3339 UTC with milliseconds. */
void render_time(int64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    char s[32];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", s, (int)(wall_ms % 1000));
}

/* A JSON string from text that may not be valid UTF-8 (bad bytes become '?'). */
static json_t *view_str(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j)
        return j;
    copy = strdup(s);
    if (copy == NULL)
        return json_null();
    log_sanitize_utf8(copy);
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

/* A string or null when empty. */
static json_t *view_str_or_null(const char *s)
{
    return s && s[0] ? view_str(s) : json_null();
}

/* A time, or null when 0. */
static json_t *jtime(int64_t wall_ms)
{
    char buf[40];

    if (wall_ms <= 0)
        return json_null();
    render_time(wall_ms, buf, sizeof(buf));
    return json_string(buf);
}

/* An LSN as PostgreSQL prints it, or null. */
static json_t *jlsn(bool known, uint64_t lsn)
{
    char buf[32];

    if (!known)
        return json_null();
    lsn_format(lsn, buf, sizeof(buf));
    return json_string(buf);
}

/* The "postgresql" object of /v1/status. */
static json_t *render_postgresql(const struct view *v)
{
    const struct ws_server_info *in = &v->info;
    bool known = in->version_num > 0;

    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:b}", "sql",
                     v->sql_up ? "connected" : "disconnected", "error",
                     v->sql_up ? json_null() : view_str_or_null(v->sql_error), "version_num",
                     known ? json_integer(in->version_num) : json_null(), "role",
                     known ? view_str(in->role) : json_null(), "superuser",
                     known ? json_boolean(in->superuser) : json_null(), "in_recovery",
                     known ? json_boolean(in->in_recovery) : json_null(), "backend_pid",
                     v->sql_up ? json_integer(in->backend_pid) : json_null(), "data_directory",
                     view_str_or_null(v->pgdata), "pidfile", v->pidfile, "postmaster_pid",
                     v->pm_pid ? json_integer(v->pm_pid) : json_null(), "postmaster_status",
                     v->pm_status ? json_string(v->pm_status) : json_null(), "shutting_down",
                     v->stopping);
}

/* The "config" object of /v1/status. */
static json_t *render_config(const struct view *v)
{
    json_t *ex = json_array();

    for (int i = 0; i < v->n_exclude; i++)
        json_array_append_new(ex, view_str(v->exclude[i]));
    return json_pack("{s:I,s:I,s:I,s:b,s:o,s:b,s:o,s:b}", "deadline_ms", (json_int_t)v->deadline_ms,
                     "stall_after_ms", (json_int_t)v->stall_after_ms, "poll_interval_ms",
                     (json_int_t)v->poll_interval_ms, "kill_stalled_at_shutdown", v->kill_stalled,
                     "physical_deadline_ms",
                     v->physical_deadline_ms < 0 ? json_null()
                                                 : json_integer(v->physical_deadline_ms),
                     "dry_run", v->dry_run, "exclude_slot", ex, "token", v->token);
}

/* The "counters" object of /v1/status. */
static json_t *render_counters(const struct view *v)
{
    const struct counters *c = &v->c;
    json_t *term = json_object(), *arms = json_object();
    int64_t age = v->last_poll_wall_ms ? v->wall_ms - v->last_poll_wall_ms : -1;

    for (int m = 0; m < N_METHODS; m++) {
        json_t *byr = json_object();

        for (int r = 0; r < N_REASONS; r++)
            json_object_set_new(byr, reason_name((enum reason)r),
                                json_integer((json_int_t)c->terminations[m][r]));
        json_object_set_new(term, method_name((enum method)m), byr);
    }
    for (int t = 0; t < N_TRIGGERS; t++)
        json_object_set_new(arms, trigger_name((enum trigger)t),
                            json_integer((json_int_t)c->arms[t]));
    return json_pack(
        "{s:o,s:I,s:o,s:I,s:o,s:o,s:o}", "terminations", term, "terminate_failures",
        (json_int_t)(c->terminate_failures[0] + c->terminate_failures[1] +
                     c->terminate_failures[2] + c->terminate_failures[3]),
        "arms", arms, "shutdowns", (json_int_t)c->shutdowns, "last_shutdown_duration_ms",
        c->last_shutdown_ms < 0 ? json_null() : json_integer(c->last_shutdown_ms),
        "poll_duration_ms",
        v->poll_duration_us < 0 ? json_null() : json_real((double)v->poll_duration_us / 1000.0),
        "last_poll_age_ms", age < 0 ? json_null() : json_integer(age));
}

/* GET /v1/status. */
json_t *render_status(const struct view *v)
{
    int logical = 0, physical = 0, stalled = 0;

    for (int i = 0; i < v->n_ws; i++) {
        logical += v->ws[i].w.kind == WS_LOGICAL;
        physical += v->ws[i].w.kind == WS_PHYSICAL;
        stalled += v->ws[i].risk == RISK_STALLED;
    }
    return json_pack(
        "{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:{s:b,s:o},s:{s:b,s:o}},s:o,s:{s:i,s:i,s:i},s:o}",
        "version", v->version, "listen", v->listen, "phase", phase_name(v->phase), "phase_since",
        jtime(v->phase_since_wall_ms), "trigger",
        view_str_or_null(v->clock_running ? v->trigger : ""), "deadline_at",
        v->clock_running ? jtime(v->deadline_wall_ms) : json_null(), "deadline_remaining_ms",
        v->clock_running
            ? json_integer(v->deadline_wall_ms > v->wall_ms ? v->deadline_wall_ms - v->wall_ms : 0)
            : json_null(),
        "arm_expires_at",
        v->clock_running && !v->stopping ? jtime(v->arm_expires_wall_ms) : json_null(),
        "postgresql", render_postgresql(v), "paths", "sql", "available", v->sql_path, "why",
        view_str_or_null(v->sql_path ? "" : v->sql_why), "signal", "available", v->signal_path,
        "why", view_str_or_null(v->signal_path ? "" : v->signal_why), "config", render_config(v),
        "walsenders", "logical", logical, "physical", physical, "stalled", stalled, "counters",
        render_counters(v));
}

/* One entry of GET /v1/walsenders. */
static json_t *render_walsender(const struct view_walsender *vw)
{
    const struct walsender *w = &vw->w;
    bool k = w->lsn_known;

    return json_pack(
        "{s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:b,s:b}", "pid", w->pid,
        "kind", ws_kind_name(w->kind), "slot", view_str_or_null(w->slot), "database",
        view_str_or_null(w->database), "user", view_str_or_null(w->usename), "application_name",
        view_str(w->application_name), "client_addr", view_str_or_null(w->client_addr), "state",
        view_str_or_null(w->state), "sent_lsn", jlsn(k, w->sent_lsn), "write_lsn",
        jlsn(k && w->write_lsn, w->write_lsn), "flush_lsn", jlsn(k && w->flush_lsn, w->flush_lsn),
        "lag_bytes", vw->lag_known ? json_integer(vw->lag_bytes) : json_null(), "stalled_for_ms",
        vw->risk == RISK_UNKNOWN ? json_null() : json_integer(vw->stalled_for_ms), "risk",
        risk_name(vw->risk), "cause", view_str_or_null(cause_name(vw->cause)), "failover",
        w->failover, "excluded", vw->excluded);
}

/* GET /v1/walsenders. */
json_t *render_walsenders(const struct view *v)
{
    json_t *a = json_array();

    for (int i = 0; i < v->n_ws; i++)
        json_array_append_new(a, render_walsender(&v->ws[i]));
    return json_pack("{s:o,s:o}", "as_of", jtime(v->wall_ms), "walsenders", a);
}

/* GET /health: has the main loop turned recently? */
json_t *render_health(const struct view *v, int64_t now_mono_ms, int *status)
{
    int64_t age = now_mono_ms - v->mono_ms;
    int64_t poll_age = v->last_poll_wall_ms ? v->wall_ms - v->last_poll_wall_ms + age : -1;
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:o}", "status", age <= HEALTH_MAX_AGE_MS ? "ok" : "unhealthy",
                  "phase", phase_name(v->phase), "loop_age_ms", (json_int_t)age, "last_poll_age_ms",
                  poll_age < 0 ? json_null() : json_integer(poll_age));

    *status = age <= HEALTH_MAX_AGE_MS ? 200 : 503;
    if (*status != 200) {
        char d[128];

        snprintf(d, sizeof(d), "the main loop has not turned for %lld ms", (long long)age);
        json_object_set_new(o, "error", json_string("unavailable"));
        json_object_set_new(o, "detail", json_string(d));
    }
    return o;
}

/* GET /ready: a working SQL session, or why not. */
json_t *render_ready(const struct view *v, int *status)
{
    const char *reason, *detail;

    if (v->sql_up) {
        *status = 200;
        return json_pack("{s:s,s:s}", "status", "ready", "phase", phase_name(v->phase));
    }
    *status = 503;
    if (v->stopping) {
        reason = "postgresql_shutting_down";
        detail = "PostgreSQL is shutting down";
    } else if (strcmp(v->pidfile, "missing") == 0) {
        reason = "postgresql_stopped";
        detail = "no postmaster.pid: PostgreSQL is not running";
    } else if (!v->attempted) {
        reason = "starting";
        detail = "no connection attempt has finished yet";
    } else {
        reason = "postgresql_unreachable";
        detail = v->sql_error[0] ? v->sql_error : "not connected";
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "status", "not_ready", "error", "unavailable",
                     "reason", reason, "detail", view_str(detail), "phase", phase_name(v->phase));
}

/* Escape a Prometheus label value: backslash, double quote, newline; bad UTF-8 becomes '?'. */
void render_prom_escape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    char *copy = strdup(in);
    const char *p = copy ? copy : "";

    if (copy)
        log_sanitize_utf8(copy);
    for (; *p && o + 3 < outlen; p++) {
        if (*p == '\\' || *p == '"') {
            out[o++] = '\\';
            out[o++] = *p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else
            out[o++] = *p;
    }
    out[o] = '\0';
    free(copy);
}

/* Print a metric's HELP and TYPE lines. */
static void prom_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP demotion_guard_%s %s\n# TYPE demotion_guard_%s %s\n", name, help, name,
            type);
}

/* The label set of a walsender: slot, kind, application_name, client_addr. */
static void walsender_labels(const struct walsender *w, char *buf, size_t len)
{
    char slot[160], app[160], addr[160];

    render_prom_escape(w->slot, slot, sizeof(slot));
    render_prom_escape(w->application_name, app, sizeof(app));
    render_prom_escape(w->client_addr, addr, sizeof(addr));
    snprintf(buf, len, "slot=\"%s\",kind=\"%s\",application_name=\"%s\",client_addr=\"%s\"", slot,
             ws_kind_name(w->kind), app, addr);
}

/* One series of one walsender: metric m of prom_walsenders' names. */
static void prom_walsender(FILE *f, const char *name, int m, const char *labels,
                           const struct view_walsender *vw)
{
    if (m == 0 && vw->lag_known)
        fprintf(f, "demotion_guard_%s{%s} %lld\n", name, labels, (long long)vw->lag_bytes);
    else if (m == 1 && vw->risk != RISK_UNKNOWN)
        fprintf(f, "demotion_guard_%s{%s} %.3f\n", name, labels,
                (double)vw->stalled_for_ms / 1000.0);
    else if (m == 2)
        for (int r = 0; r <= RISK_UNKNOWN; r++)
            fprintf(f, "demotion_guard_%s{%s,risk=\"%s\"} %d\n", name, labels,
                    risk_name((enum risk)r), vw->risk == (enum risk)r);
    else if (m == 3)
        for (int c = CAUSE_BEHIND; c <= CAUSE_UNKNOWN; c++)
            fprintf(f, "demotion_guard_%s{%s,cause=\"%s\"} %d\n", name, labels,
                    cause_name((enum cause)c), vw->cause == (enum cause)c);
}

/* The per-walsender series; a label set already printed (slot-less twins) is skipped. */
static void prom_walsenders(FILE *f, const struct view *v)
{
    static const char *const names[] = {"walsender_lag_bytes", "walsender_stalled_seconds",
                                        "walsender_risk", "walsender_cause"};
    static const char *const helps[] = {
        "Bytes sent but not confirmed by the client, negative when it confirmed more than was "
        "sent (absent before its first confirmation).",
        "Seconds the confirmed position has not moved while behind or ahead.",
        "Risk of holding up a shutdown: ok, lagging, stalled or unknown (1 for the current one).",
        "Why it would hold up a shutdown: behind, ahead, standby_wait, silent or unknown (1 for "
        "the current one, all 0 when it would not)."};
    char(*labels)[700] = calloc((size_t)(v->n_ws ? v->n_ws : 1), sizeof(*labels));

    if (labels == NULL)
        return;
    for (int i = 0; i < v->n_ws; i++)
        walsender_labels(&v->ws[i].w, labels[i], sizeof(labels[i]));
    for (int m = 0; m < 4; m++) {
        prom_head(f, names[m], "gauge", helps[m]);
        for (int i = 0; i < v->n_ws; i++) {
            bool dup = false;

            for (int j = 0; j < i && !dup; j++)
                dup = strcmp(labels[i], labels[j]) == 0;
            if (!dup)
                prom_walsender(f, names[m], m, labels[i], &v->ws[i]);
        }
    }
    free(labels);
}

/* The counters as Prometheus counters. */
static void prom_counters(FILE *f, const struct view *v)
{
    const struct counters *c = &v->c;

    prom_head(f, "terminations_total", "counter", "Walsenders terminated, by method and reason.");
    for (int m = 0; m < N_METHODS; m++)
        for (int r = 0; r < N_REASONS; r++)
            fprintf(f, "demotion_guard_terminations_total{method=\"%s\",reason=\"%s\"} %llu\n",
                    method_name((enum method)m), reason_name((enum reason)r),
                    (unsigned long long)c->terminations[m][r]);
    prom_head(f, "terminate_failures_total", "counter", "Terminations that failed, by reason.");
    for (int r = 0; r < N_REASONS; r++)
        fprintf(f, "demotion_guard_terminate_failures_total{reason=\"%s\"} %llu\n",
                reason_name((enum reason)r), (unsigned long long)c->terminate_failures[r]);
    prom_head(f, "arms_total", "counter",
              "Deadline clocks started, by trigger (shutdown: noticed without an arm).");
    for (int t = 0; t < N_TRIGGERS; t++)
        fprintf(f, "demotion_guard_arms_total{trigger=\"%s\"} %llu\n",
                trigger_name((enum trigger)t), (unsigned long long)c->arms[t]);
    prom_head(f, "shutdowns_total", "counter", "PostgreSQL shutdowns seen.");
    fprintf(f, "demotion_guard_shutdowns_total %llu\n", (unsigned long long)c->shutdowns);
    if (c->last_shutdown_ms >= 0) {
        prom_head(f, "last_shutdown_duration_seconds", "gauge",
                  "How long the last shutdown took, from the guard noticing it.");
        fprintf(f, "demotion_guard_last_shutdown_duration_seconds %.3f\n",
                (double)c->last_shutdown_ms / 1000.0);
    }
}

/* The guard's own state as gauges. */
static void prom_state(FILE *f, const struct view *v, int64_t now_wall_ms)
{
    char ver[128];

    render_prom_escape(v->version, ver, sizeof(ver));
    prom_head(f, "build_info", "gauge", "The guard's version.");
    fprintf(f, "demotion_guard_build_info{version=\"%s\"} 1\n", ver);
    prom_head(f, "phase", "gauge", "The guard's phase (1 for the current one).");
    for (int p = PHASE_WAITING; p <= PHASE_DONE; p++)
        fprintf(f, "demotion_guard_phase{phase=\"%s\"} %d\n", phase_name((enum phase)p),
                v->phase == (enum phase)p);
    prom_head(f, "postgresql_up", "gauge", "1 when the guard has a working SQL session.");
    fprintf(f, "demotion_guard_postgresql_up %d\n", v->sql_up);
    prom_head(f, "enforcement_path_available", "gauge",
              "Whether walsenders can be ended through SQL or by a verified SIGTERM.");
    fprintf(f, "demotion_guard_enforcement_path_available{path=\"sql\"} %d\n", v->sql_path);
    fprintf(f, "demotion_guard_enforcement_path_available{path=\"signal\"} %d\n", v->signal_path);
    prom_head(f, "audit_pending_events", "gauge",
              "Audit events not yet written to --audit-log (above 0: a write failed, retried).");
    fprintf(f, "demotion_guard_audit_pending_events %d\n", v->audit_pending);
    prom_head(f, "deadline_seconds", "gauge", "The configured --deadline.");
    fprintf(f, "demotion_guard_deadline_seconds %.3f\n", (double)v->deadline_ms / 1000.0);
    if (v->poll_duration_us >= 0) {
        prom_head(f, "poll_duration_seconds", "gauge", "Duration of the last poll query.");
        fprintf(f, "demotion_guard_poll_duration_seconds %.6f\n",
                (double)v->poll_duration_us / 1e6);
    }
    if (v->last_poll_wall_ms > 0) {
        prom_head(f, "last_poll_age_seconds", "gauge", "Seconds since the last successful poll.");
        fprintf(f, "demotion_guard_last_poll_age_seconds %.3f\n",
                (double)(now_wall_ms - v->last_poll_wall_ms) / 1000.0);
    }
}

/* GET /metrics: the Prometheus text format.  Returns a malloc'd buffer. */
char *render_metrics(const struct view *v, int64_t now_wall_ms, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (f == NULL)
        return NULL;
    prom_state(f, v, now_wall_ms);
    prom_walsenders(f, v);
    prom_counters(f, v);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
