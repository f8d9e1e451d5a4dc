/*
 * render.h - what the HTTP API shows: the view the main loop publishes
 * after each turn, and its rendering as JSON and Prometheus text
 */
#ifndef DG_RENDER_H
#define DG_RENDER_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "policy.h"
#include "walsender.h"

enum trigger { TRIGGER_API, TRIGGER_BEFORE_STOP, TRIGGER_PRE_PROMOTE, TRIGGER_SHUTDOWN };
enum method { METHOD_SQL, METHOD_SIGNAL };

#define N_REASONS  4
#define N_TRIGGERS 4
#define N_METHODS  2

/* One walsender as the API shows it. */
struct view_walsender {
    struct walsender w;
    bool lag_known;    /* false before the client's first confirmation, or without LSNs */
    int64_t lag_bytes; /* sent - confirmed; negative when confirmed ahead */
    int64_t stalled_for_ms;
    enum risk risk;
    enum cause cause;
    bool excluded;
};

/* Counters since start-up. */
struct counters {
    uint64_t terminations[N_METHODS][N_REASONS];
    uint64_t terminate_failures[N_REASONS];
    uint64_t arms[N_TRIGGERS];
    uint64_t shutdowns;
    int64_t last_shutdown_ms; /* -1: none yet */
};

/* Everything the API shows, as of one turn of the main loop.  Immutable once published. */
struct view {
    int refs; /* guarded by the publication mutex */
    int64_t mono_ms, wall_ms;
    const char *version;
    char listen[PATH_MAX + 8];

    enum phase phase;
    int64_t phase_since_wall_ms;
    char trigger[160]; /* "" when no clock runs */
    bool clock_running, stopping;
    int64_t deadline_wall_ms, arm_expires_wall_ms; /* when clock_running */

    bool sql_up;
    bool attempted; /* a connection attempt has finished */
    char sql_error[256];
    struct ws_server_info info; /* of the last session */
    const char *pidfile;        /* "ok", "missing", "invalid", "none" */
    int pm_pid;                 /* 0: unknown */
    const char *pm_status;      /* line 8, or NULL */
    char pgdata[PATH_MAX];
    bool sql_path, signal_path;
    char sql_why[256], signal_why[256];

    int64_t deadline_ms, stall_after_ms, poll_interval_ms, physical_deadline_ms;
    bool kill_stalled, dry_run, token;
    int n_exclude;
    char exclude[CONFIG_MAX_EXCLUDE][128];

    struct counters c;
    int audit_pending;         /* audit events not yet written to the file (a write failed) */
    int64_t poll_duration_us;  /* last poll query, -1 none */
    int64_t last_poll_wall_ms; /* 0: never */

    int n_ws;
    struct view_walsender ws[]; /* n_ws of them */
};

/* The name of a trigger: "api", "before_stop", "pre_promote" or "shutdown". */
const char *trigger_name(enum trigger t);
/* The name of a termination method: "sql" or "signal". */
const char *method_name(enum method m);
/* The trigger an arm's reason counts as: the hooks' reasons, else TRIGGER_API. */
enum trigger trigger_of(const char *reason);
/* Write wall_ms as RFC 3339 UTC with milliseconds into buf. */
void render_time(int64_t wall_ms, char *buf, size_t len);
/* A JSON error body {"error": code, "detail": detail}. */
json_t *render_error(const char *code, const char *detail);
/* The body of GET /v1/status. */
json_t *render_status(const struct view *v);
/* The body of GET /v1/walsenders. */
json_t *render_walsenders(const struct view *v);
/* The body of GET /health, *status 200 when the loop turned recently, else 503. */
json_t *render_health(const struct view *v, int64_t now_mono_ms, int *status);
/* The body of GET /ready, *status 200 with a working SQL session, else 503 and why. */
json_t *render_ready(const struct view *v, int *status);
/* GET /metrics in the Prometheus text format, malloc'd, its length in *len. */
char *render_metrics(const struct view *v, int64_t now_wall_ms, size_t *len);
/* Escape a Prometheus label value into out (backslash, quote, newline); bad UTF-8 becomes '?'. */
void render_prom_escape(const char *in, char *out, size_t outlen);

#endif
