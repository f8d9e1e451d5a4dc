/*
 * client_render.c - the daemon's answers for a person: the status header,
 * the walsender table and the counters (status, status --watch), the
 * answers of arm, disarm and kill, and the human units and terminal-safe
 * text they are made of
 *
 * Pure functions of the JSON bodies of API.md: missing or null fields
 * print as "-" or "?", text from the daemon is sanitized before it
 * reaches a terminal.
 */
#include "client_render.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELL  256 /* one cell of the walsender table, sanitized */
#define NCOLS 9

/* Human bytes: "176 B", "162.6 KiB", "3.0 GiB"; "-" when negative (unknown). */
void client_render_bytes(int64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = -1;

    if (bytes < 0) {
        snprintf(buf, len, "-");
        return;
    }
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRId64 " B", bytes);
        return;
    }
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* Two units of a duration, "2m05s", or one when the second is zero, "2m". */
static void two_units(int64_t big, const char *u1, int64_t small, const char *u2, char *buf,
                      size_t len)
{
    if (small == 0)
        snprintf(buf, len, "%" PRId64 "%s", big, u1);
    else
        snprintf(buf, len, "%" PRId64 "%s%02" PRId64 "%s", big, u1, small, u2);
}

/* Human duration: "250ms", "3.5s", "5s", "45s", "2m05s", "1h", "2d03h"; "-" when negative. */
void client_render_duration(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;

    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%" PRId64 "ms", ms);
    else if (ms < 10000 && ms % 1000 >= 100)
        snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", s, ms % 1000 / 100);
    else if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        two_units(s / 60, "m", s % 60, "s", buf, len);
    else if (s < 86400)
        two_units(s / 3600, "h", s % 3600 / 60, "m", buf, len);
    else
        two_units(s / 86400, "d", s % 86400 / 3600, "h", buf, len);
}

/* Length of the UTF-8 sequence that starts with byte c (1 for a stray byte). */
static int utf8_seq_len(unsigned char c)
{
    return c >= 0xf0 && c < 0xf8 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/*
 * Copy a UTF-8 string for a terminal: control characters (C0, DEL, C1)
 * and bytes of broken sequences become '?'; cut on a character boundary
 * to fit outlen.  Returns the width in characters (one column each).
 */
int client_render_sanitize(const char *in, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    int width = 0;

    while (*p) {
        int n = utf8_seq_len(*p), k = 1;

        while (k < n && (p[k] & 0xc0) == 0x80)
            k++;
        if (k < n || *p >= 0xf8 || (*p >= 0x80 && *p < 0xc0) || *p < 0x20 || *p == 0x7f ||
            (*p == 0xc2 && p[1] < 0xa0))
            n = 1, k = 0; /* replace one byte (a C1 control: both bytes in turn) */
        if (o + (size_t)(k ? n : 1) >= outlen)
            break;
        if (k)
            memcpy(out + o, p, (size_t)n);
        else
            out[o] = '?';
        o += k ? (size_t)n : 1;
        p += n;
        width++;
    }
    if (outlen > 0)
        out[o] = '\0';
    return width;
}

/* A string member, or NULL when absent or not a string. */
const char *client_render_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A number member into *v; false when absent, null or not a number. */
bool client_render_num(const json_t *o, const char *key, int64_t *v)
{
    json_t *j = json_object_get(o, key);

    if (json_is_integer(j))
        *v = (int64_t)json_integer_value(j);
    else if (json_is_real(j))
        *v = (int64_t)json_real_value(j);
    else
        return false;
    return true;
}

/* A number member formatted as a duration, or "-" when unknown. */
static void duration_member(const json_t *o, const char *key, char *buf, size_t len)
{
    int64_t v;

    client_render_duration(client_render_num(o, key, &v) ? v : -1, buf, len);
}

/* Milliseconds since the epoch of "2026-11-25T22:00:00.123Z"; -1 when unparsable. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    if (s[n] == '.' && sscanf(s + n, ".%3d", &ms) != 1)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The time of day of an RFC 3339 time, "22:10:03Z"; the whole text when not one. */
static void time_of_day(const char *s, char *buf, size_t len)
{
    const char *t = s ? strchr(s, 'T') : NULL;

    if (t == NULL || strlen(t) < 9)
        snprintf(buf, len, "%s", s ? s : "-");
    else
        snprintf(buf, len, "%.8sZ", t + 1);
}

/* " since 22:00:00Z (10m05s ago)" for a phase_since (no age when now is 0). */
static void since_text(const char *since, int64_t now_ms, char *buf, size_t len)
{
    char tod[64], age[32];
    int64_t t = parse_time(since);

    time_of_day(since, tod, sizeof(tod));
    if (since == NULL)
        buf[0] = '\0';
    else if (now_ms <= 0 || t < 0 || now_ms < t)
        snprintf(buf, len, " since %s", tod);
    else {
        client_render_duration(now_ms - t, age, sizeof(age));
        snprintf(buf, len, " since %s (%s ago)", tod, age);
    }
}

/* The header line of the phase: since when, trigger, deadline remaining. */
static void show_phase(FILE *out, const json_t *st, int64_t now_ms)
{
    char since[128], rem[32], at[64];
    const char *phase = client_render_str(st, "phase"), *trigger = client_render_str(st, "trigger");
    int64_t v;

    since_text(client_render_str(st, "phase_since"), now_ms, since, sizeof(since));
    fprintf(out, "phase       %s%s", phase ? phase : "?", since);
    if (trigger)
        fprintf(out, ", trigger %s", trigger);
    if (client_render_num(st, "deadline_remaining_ms", &v)) {
        client_render_duration(v, rem, sizeof(rem));
        time_of_day(client_render_str(st, "deadline_at"), at, sizeof(at));
        if (v > 0)
            fprintf(out, ", deadline in %s (at %s)", rem, at);
        else
            fprintf(out, ", deadline passed (at %s)", at);
    }
    if (client_render_str(st, "arm_expires_at")) {
        time_of_day(client_render_str(st, "arm_expires_at"), at, sizeof(at));
        fprintf(out, ", arm expires at %s", at);
    }
    fputc('\n', out);
}

/* "PostgreSQL 15.18" from a server_version_num (10 and later; older: 9.6.x). */
static void pg_version(int64_t num, char *buf, size_t len)
{
    if (num >= 100000)
        snprintf(buf, len, "PostgreSQL %" PRId64 ".%" PRId64, num / 10000, num % 100);
    else
        snprintf(buf, len, "PostgreSQL %" PRId64 ".%" PRId64 ".%" PRId64, num / 10000,
                 num / 100 % 100, num % 100);
}

/* The PostgreSQL line: connected or the error, version, role, primary or standby. */
static void show_postgresql(FILE *out, const json_t *pg)
{
    char text[512], ver[64];
    const char *sql = client_render_str(pg, "sql"), *role = client_render_str(pg, "role");
    int64_t v;

    fprintf(out, "postgresql  %s", sql ? sql : "?");
    if (client_render_str(pg, "error")) {
        client_render_sanitize(client_render_str(pg, "error"), text, sizeof(text));
        fprintf(out, ": %s", text);
    }
    if (client_render_num(pg, "version_num", &v)) {
        pg_version(v, ver, sizeof(ver));
        fprintf(out, "%s %s", client_render_str(pg, "error") ? ";" : ":", ver);
    }
    if (role) {
        client_render_sanitize(role, text, sizeof(text));
        fprintf(out, ", role %s%s", text,
                json_is_true(json_object_get(pg, "superuser")) ? " (superuser)" : "");
    }
    if (json_is_boolean(json_object_get(pg, "in_recovery")))
        fprintf(out, ", %s",
                json_is_true(json_object_get(pg, "in_recovery")) ? "standby" : "primary");
    if (client_render_num(pg, "backend_pid", &v))
        fprintf(out, ", backend pid %" PRId64, v);
    fputc('\n', out);
}

/* The postmaster line: pid and status (line 8), postmaster.pid, data directory. */
static void show_postmaster(FILE *out, const json_t *pg)
{
    char dir[1024];
    const char *status = client_render_str(pg, "postmaster_status"),
               *pidfile = client_render_str(pg, "pidfile");
    int64_t pid;

    fputs("postmaster  ", out);
    if (client_render_num(pg, "postmaster_pid", &pid))
        fprintf(out, "pid %" PRId64 " %s", pid, status ? status : "(no status)");
    else
        fputs("unknown", out);
    if (json_is_true(json_object_get(pg, "shutting_down")))
        fputs(", shutting down", out);
    fprintf(out, "; postmaster.pid %s", pidfile ? pidfile : "?");
    if (client_render_str(pg, "data_directory")) {
        client_render_sanitize(client_render_str(pg, "data_directory"), dir, sizeof(dir));
        fprintf(out, " in %s", dir);
    }
    fputc('\n', out);
}

/* One enforcement path: "sql available" or "signal unavailable (why)". */
static void show_path(FILE *out, const json_t *paths, const char *name)
{
    char why[512];
    const json_t *p = json_object_get(paths, name);
    const char *w = client_render_str(p, "why");

    if (json_is_true(json_object_get(p, "available")))
        fprintf(out, "%s available", name);
    else if (w) {
        client_render_sanitize(w, why, sizeof(why));
        fprintf(out, "%s unavailable (%s)", name, why);
    } else
        fprintf(out, "%s unavailable", name);
}

/* The configuration line: deadline, stall-after, exclusions, token, dry-run. */
static void show_config(FILE *out, const json_t *cfg)
{
    char d1[32], d2[32], d3[32], glob[256];
    const json_t *ex = json_object_get(cfg, "exclude_slot");
    size_t i;
    json_t *g;

    duration_member(cfg, "deadline_ms", d1, sizeof(d1));
    duration_member(cfg, "stall_after_ms", d2, sizeof(d2));
    duration_member(cfg, "physical_deadline_ms", d3, sizeof(d3));
    fprintf(out,
            "config      deadline %s, stall after %s, kill stalled at shutdown %s, "
            "physical deadline %s",
            d1, d2, json_is_true(json_object_get(cfg, "kill_stalled_at_shutdown")) ? "yes" : "no",
            strcmp(d3, "-") == 0 ? "off" : d3);
    json_array_foreach(ex, i, g)
    {
        client_render_sanitize(json_string_value(g) ? json_string_value(g) : "?", glob,
                               sizeof(glob));
        fprintf(out, "%s%s", i == 0 ? ", excluded " : " ", glob);
    }
    fprintf(out, ", token %s\n", json_is_true(json_object_get(cfg, "token")) ? "set" : "none");
    fprintf(out, "dry-run     %s\n",
            json_is_true(json_object_get(cfg, "dry_run")) ? "YES: nothing is terminated" : "no");
}

/* The header of the status: URL, version, phase, PostgreSQL, paths, config. */
static void show_header(FILE *out, const char *url, const json_t *st, int64_t now_ms)
{
    const json_t *paths = json_object_get(st, "paths");
    const char *version = client_render_str(st, "version"),
               *listen = client_render_str(st, "listen");

    fprintf(out, "demotion-guard %s at %s", version ? version : "?", url);
    if (listen)
        fprintf(out, " (listening on %s)", listen);
    fputc('\n', out);
    show_phase(out, st, now_ms);
    show_postgresql(out, json_object_get(st, "postgresql"));
    show_postmaster(out, json_object_get(st, "postgresql"));
    fputs("paths       ", out);
    show_path(out, paths, "sql");
    fputs(", ", out);
    show_path(out, paths, "signal");
    fputc('\n', out);
    show_config(out, json_object_get(st, "config"));
}

/* One cell of the walsender table: sanitized text and its width. */
struct cell {
    char text[CELL];
    int width;
};

/* A table of the walsenders: the cells and the width of each column. */
struct table {
    struct cell (*cell)[NCOLS]; /* rows; row 0 is the header */
    int width[NCOLS];
    int rows;
};

static const char *const column_names[NCOLS] = {"PID", "KIND",    "SLOT", "APPLICATION", "CLIENT",
                                                "LAG", "STALLED", "RISK", "CAUSE"};
static const bool right_aligned[NCOLS] = {true, false, false, false, false,
                                          true, true,  false, false};

/* Put a text in a cell (sanitized; "-" when NULL) and widen its column. */
static void table_put(struct table *t, int row, int col, const char *text)
{
    struct cell *c = &t->cell[row][col];

    c->width = client_render_sanitize(text ? text : "-", c->text, sizeof(c->text));
    if (c->width > t->width[col])
        t->width[col] = c->width;
}

/* Fill one row of the table from one walsender of GET /v1/walsenders. */
static void table_row(struct table *t, int row, const json_t *w)
{
    char buf[CELL];
    int64_t v;

    if (client_render_num(w, "pid", &v))
        snprintf(buf, sizeof(buf), "%" PRId64, v);
    table_put(t, row, 0, client_render_num(w, "pid", &v) ? buf : NULL);
    table_put(t, row, 1, client_render_str(w, "kind"));
    table_put(t, row, 2, client_render_str(w, "slot"));
    table_put(t, row, 3, client_render_str(w, "application_name"));
    table_put(t, row, 4, client_render_str(w, "client_addr"));
    client_render_bytes(client_render_num(w, "lag_bytes", &v) ? v : -1, buf, sizeof(buf));
    table_put(t, row, 5, buf);
    client_render_duration(client_render_num(w, "stalled_for_ms", &v) && v > 0 ? v : -1, buf,
                           sizeof(buf));
    table_put(t, row, 6, buf);
    snprintf(buf, sizeof(buf), "%s%s",
             client_render_str(w, "risk") ? client_render_str(w, "risk") : "-",
             json_is_true(json_object_get(w, "excluded")) ? " (excluded)" : "");
    table_put(t, row, 7, buf);
    table_put(t, row, 8, client_render_str(w, "cause"));
}

/* Print one row, columns padded to their widths, two spaces apart. */
static void table_print_row(FILE *out, const struct table *t, int row)
{
    for (int c = 0; c < NCOLS; c++) {
        const char *s = t->cell[row][c].text;
        int pad = t->width[c] - t->cell[row][c].width;

        if (right_aligned[c])
            fprintf(out, "%*s%s", pad, "", s);
        else if (c < NCOLS - 1)
            fprintf(out, "%s%*s", s, pad, "");
        else
            fputs(s, out);
        fputs(c < NCOLS - 1 ? "  " : "\n", out);
    }
}

/* The walsender table, or "no walsenders" when the list is empty. */
static void show_walsenders(FILE *out, const json_t *list)
{
    struct table t = {0};
    size_t n = json_array_size(list), i;
    json_t *w;

    if (n == 0) {
        fputs("no walsenders\n", out);
        return;
    }
    t.rows = (int)n + 1;
    t.cell = calloc((size_t)t.rows, sizeof(*t.cell));
    if (t.cell == NULL) {
        fputs("(out of memory for the walsender table)\n", out);
        return;
    }
    for (int c = 0; c < NCOLS; c++)
        table_put(&t, 0, c, column_names[c]);
    json_array_foreach(list, i, w) table_row(&t, (int)i + 1, w);
    for (int r = 0; r < t.rows; r++)
        table_print_row(out, &t, r);
    free(t.cell);
}

/* The sum of the numbers in an object of numbers (or of objects of numbers). */
static int64_t sum_counts(const json_t *o)
{
    const char *k;
    json_t *v;
    int64_t sum = 0;

    json_object_foreach((json_t *)o, k, v)
    {
        (void)k;
        sum += json_is_object(v) ? sum_counts(v) : json_is_integer(v) ? json_integer_value(v) : 0;
    }
    return sum;
}

/* The tail of the counters line: the last shutdown's duration, the last poll. */
static void show_poll(FILE *out, const json_t *c)
{
    char buf[32];
    int64_t v;

    if (client_render_num(c, "last_shutdown_duration_ms", &v)) {
        client_render_duration(v, buf, sizeof(buf));
        fprintf(out, " (last took %s)", buf);
    }
    if (!client_render_num(c, "last_poll_age_ms", &v)) {
        fputs(", no poll yet\n", out);
        return;
    }
    client_render_duration(v, buf, sizeof(buf));
    fprintf(out, ", last poll %s ago", buf);
    if (json_is_number(json_object_get(c, "poll_duration_ms")))
        fprintf(out, " (took %.2fms)", json_number_value(json_object_get(c, "poll_duration_ms")));
    fputc('\n', out);
}

/* The walsender counts and the counters: terminations by method, failures, arms, shutdowns. */
static void show_counters(FILE *out, const json_t *st)
{
    const json_t *c = json_object_get(st, "counters"), *ws = json_object_get(st, "walsenders");
    const json_t *term = json_object_get(c, "terminations");
    int64_t v;

    fprintf(out, "walsenders  %" PRId64 " logical, %" PRId64 " physical, %" PRId64 " stalled\n",
            client_render_num(ws, "logical", &v) ? v : 0,
            client_render_num(ws, "physical", &v) ? v : 0,
            client_render_num(ws, "stalled", &v) ? v : 0);
    fprintf(out,
            "counters    terminations %" PRId64 " (sql %" PRId64 ", signal %" PRId64
            "), failures %" PRId64 ", arms %" PRId64 ", shutdowns %" PRId64,
            sum_counts(term), sum_counts(json_object_get(term, "sql")),
            sum_counts(json_object_get(term, "signal")),
            client_render_num(c, "terminate_failures", &v) ? v : 0,
            sum_counts(json_object_get(c, "arms")), client_render_num(c, "shutdowns", &v) ? v : 0);
    show_poll(out, c);
}

/*
 * Print GET /v1/status and GET /v1/walsenders for a person: the header,
 * the walsender table, the counters.  now_wall_ms (0: unknown) gives the
 * age of the phase.  Missing or null fields print as "-" or "?".
 */
void client_render_status(FILE *out, const char *url, const json_t *status,
                          const json_t *walsenders, int64_t now_wall_ms)
{
    show_header(out, url, status, now_wall_ms);
    fputc('\n', out);
    show_walsenders(out, json_object_get(walsenders, "walsenders"));
    fputc('\n', out);
    show_counters(out, status);
}

/* Print the answer of POST /v1/arm: "armed: deadline 5s (at 22:10:03Z), trigger api". */
void client_render_arm(FILE *out, const json_t *body)
{
    const char *phase = client_render_str(body, "phase"),
               *trigger = client_render_str(body, "trigger");
    const char *reason = client_render_str(body, "reason");
    char d[32], at[64], text[300];

    duration_member(body, "deadline_left_ms", d, sizeof(d));
    fprintf(out, "%s: deadline %s", phase ? phase : "?", d);
    if (client_render_str(body, "deadline_at")) {
        time_of_day(client_render_str(body, "deadline_at"), at, sizeof(at));
        fprintf(out, " (at %s)", at);
    }
    fprintf(out, ", trigger %s", trigger ? trigger : "?");
    if (reason && reason[0] && (trigger == NULL || strcmp(reason, trigger) != 0)) {
        client_render_sanitize(reason, text, sizeof(text));
        fprintf(out, ", reason \"%s\"", text);
    }
    fputc('\n', out);
}

/* Print the answer of POST /v1/disarm: "disarmed (phase observing)" or "was not armed". */
void client_render_disarm(FILE *out, const json_t *body)
{
    const char *phase = client_render_str(body, "phase");

    fprintf(out, "%s (phase %s)\n",
            json_is_true(json_object_get(body, "was_armed")) ? "disarmed" : "was not armed",
            phase ? phase : "?");
}

/* Print one kill target: "pid 4300 slot orders (logical): terminated by sql". */
static void show_target(FILE *out, const json_t *t)
{
    char slot[CELL], app[CELL], errtext[512];
    const char *result = client_render_str(t, "result"), *method = client_render_str(t, "method");
    int64_t pid;

    client_render_sanitize(client_render_str(t, "slot") ? client_render_str(t, "slot") : "-", slot,
                           sizeof(slot));
    client_render_sanitize(
        client_render_str(t, "application_name") ? client_render_str(t, "application_name") : "",
        app, sizeof(app));
    fprintf(out, "pid %" PRId64 " slot %s (%s%s%s%s): %s",
            client_render_num(t, "pid", &pid) ? pid : 0, slot,
            client_render_str(t, "kind") ? client_render_str(t, "kind") : "?", app[0] ? ", \"" : "",
            app, app[0] ? "\"" : "", result ? result : "?");
    if (method)
        fprintf(out, " by %s", method);
    if (client_render_str(t, "error")) {
        client_render_sanitize(client_render_str(t, "error"), errtext, sizeof(errtext));
        fprintf(out, ": %s", errtext);
    }
    fputc('\n', out);
}

/* Print the answer of POST /v1/kill: one line per target, or that none was selected. */
void client_render_kill(FILE *out, const json_t *body)
{
    const json_t *targets = json_object_get(body, "targets");
    size_t i;
    json_t *t;

    if (json_array_size(targets) == 0) {
        fputs("no walsender selected\n", out);
        return;
    }
    json_array_foreach(targets, i, t) show_target(out, t);
}
