/*
 * command.c - what the HTTP API asks of the main loop, and what it shows
 *
 * Commands run inside a turn of the loop: arm and disarm before the
 * observation (so that the fresh snapshot and the policy step of the same
 * turn act on them: an arm ends stalled walsenders at once), kill after the
 * policy step, on the list that snapshot just refreshed.  At the end of the
 * turn the loop publishes a view for the handlers to render.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "command.h"
#include "http.h"
#include "log.h"
#include "pgsql.h"
#include "pidfile.h"
#include "terminate.h"
#include "version.h"

/* Take every pending command (at most max) for this turn. */
void command_take(struct guard *g, struct command **cmds, int max, int *n)
{
    struct command *c;

    *n = 0;
    while (*n < max && (c = http_next_command(g->http)) != NULL)
        cmds[(*n)++] = c;
}

/* Set a command's answer, to be sent at the end of the turn. */
static void answer(struct command *c, int status, json_t *body)
{
    json_decref(c->body);
    c->status = status;
    c->body = body;
}

/* Log the transitions of an output the policy returned outside a step. */
static void log_transitions(const struct policy_output *out)
{
    for (int i = 0; i < out->n_trans; i++)
        log_info("state \"%s\" -> \"%s\": %s", phase_name(out->trans[i].from),
                 phase_name(out->trans[i].to), out->trans[i].why);
}

/* POST /v1/arm: start (or bring closer) the deadline clock. */
static void arm(struct guard *g, struct command *c)
{
    struct policy_output out = {0};
    enum trigger tr = c->trigger;
    char why[160], at[40];
    int64_t now = mono_ms();

    snprintf(why, sizeof(why), "armed by %s (%s)", c->requester,
             c->reason[0] ? c->reason : trigger_name(tr));
    if (tr == TRIGGER_PRE_PROMOTE)
        policy_arm_peer(&g->policy, now, c->deadline_ms, why, &out);
    else
        policy_arm(&g->policy, now, c->deadline_ms, why, &out);
    log_transitions(&out);
    policy_output_free(&out);
    g->c.arms[tr]++;
    audit_emit(g->audit, "armed",
               json_pack("{s:s,s:s,s:I,s:s}", "trigger", trigger_name(tr), "reason",
                         c->reason[0] ? c->reason : trigger_name(tr), "deadline_left_ms",
                         (json_int_t)(g->policy.deadline_at_ms - now), "requester", c->requester));
    g->next_poll_ms = now; /* a fresh snapshot in this very turn */
    render_time(wall_ms() + (g->policy.deadline_at_ms - now), at, sizeof(at));
    answer(c, 200,
           json_pack("{s:s,s:s,s:I,s:s}", "trigger", trigger_name(tr), "reason",
                     c->reason[0] ? c->reason : trigger_name(tr), "deadline_left_ms",
                     (json_int_t)(g->policy.deadline_at_ms - now), "deadline_at", at));
}

/* POST /v1/disarm: stop the clock, unless the server itself is shutting down. */
static void disarm(struct guard *g, struct command *c)
{
    struct policy_output out = {0};
    enum disarm_result r = policy_disarm(&g->policy, mono_ms(), "disarmed through the API", &out);

    if (r == DISARM_REFUSED) {
        answer(c, 409, render_error("conflict", "PostgreSQL is shutting down: the deadline stays"));
        return;
    }
    if (r == DISARM_DONE) {
        log_transitions(&out);
        audit_emit(g->audit, "disarmed",
                   json_pack("{s:s,s:s*,s:s}", "reason", "api", "note",
                             c->reason[0] ? c->reason : NULL, "requester", c->requester));
    }
    policy_output_free(&out);
    answer(c, 200, json_pack("{s:b}", "was_armed", r == DISARM_DONE));
}

/*
 * POST /v1/callback: Patroni's on_* callback.  Recorded; on_stop and
 * on_role_change end an arm (a role change or a finished stop makes it
 * stale); a shutdown under way is left to finish.
 */
static void patroni_callback(struct guard *g, struct command *c)
{
    struct policy_output out = {0};
    bool reset = false;

    if (strcmp(c->action, "on_stop") == 0 || strcmp(c->action, "on_role_change") == 0) {
        char why[200];

        snprintf(why, sizeof(why), "Patroni %s (%s)", c->action, c->role);
        reset = policy_disarm(&g->policy, mono_ms(), why, &out) == DISARM_DONE;
        log_transitions(&out);
    }
    policy_output_free(&out);
    audit_emit(g->audit, "patroni_callback",
               json_pack("{s:s,s:s,s:s,s:b,s:s}", "action", c->action, "role", c->role, "scope",
                         c->scope, "reset", reset, "requester", c->requester));
    answer(c, 200, json_pack("{s:b}", "reset", reset));
}

/* Run the commands that change the policy: before this turn's observation. */
void command_run_early(struct guard *g, struct command *c)
{
    if (c->type == CMD_ARM)
        arm(g, c);
    else if (c->type == CMD_DISARM)
        disarm(g, c);
    else if (c->type == CMD_CALLBACK)
        patroni_callback(g, c);
    else
        g->next_poll_ms = mono_ms(); /* kill: act on a fresh list */
}

/* Carry out one action of an API kill and describe its outcome as a JSON target. */
static json_t *kill_one(struct guard *g, struct command *c, const struct action *a, bool *failed)
{
    struct tracked *t = &g->policy.t[a->index];
    char err[512] = "", sqlerr[256] = "";
    const char *result = "excluded";
    enum method m = METHOD_SIGNAL;
    bool has_method = false;

    if (a->type == ACT_WOULD_TERMINATE) {
        result = "would_terminate";
        m = terminate_method(g);
        has_method = true;
        terminate_audit(g, t, TERMINATE_WOULD_END, m, REASON_API, NULL, NULL, c);
    } else if (a->type == ACT_TERMINATE) {
        has_method = terminate_walsender(g, t, &m, sqlerr, sizeof(sqlerr), err, sizeof(err));
        result = has_method ? "terminated" : "failed";
        terminate_audit(g, t, has_method ? TERMINATE_ENDED : TERMINATE_FAILED, m, REASON_API,
                        sqlerr, err, c);
        policy_record(&g->policy, a->index, has_method, mono_ms());
        *failed |= !has_method;
    }
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:s?}", "pid", t->w.pid, "slot", t->w.slot, "kind",
                     ws_kind_name(t->w.kind), "application_name", t->w.application_name, "result",
                     result, "method", has_method ? method_name(m) : NULL, "error",
                     err[0] ? err : NULL);
}

/* POST /v1/kill, on the list this turn's snapshot refreshed: the policy selects, this carries out.
 */
static void kill_walsenders(struct guard *g, struct command *c)
{
    struct kill_request rq = {.sel = c->sel, .slot = c->slot, .pid = c->pid, .force = c->force};
    struct policy_output out = {0};
    json_t *targets;
    bool failed = false;
    char why[300];

    if (!pgsql_connected(g->sql) && !g->signal_ok) {
        snprintf(why, sizeof(why),
                 "PostgreSQL is unreachable (%s) and the signal path is "
                 "unavailable (%s)",
                 g->sql_error[0] ? g->sql_error : "no session", g->signal_why);
        answer(c, 503, render_error("unavailable", why));
        return;
    }
    switch (policy_kill(&g->policy, &rq, mono_ms(), &out, why, sizeof(why))) {
    case KILL_REFUSED:
        answer(c, 409, render_error("conflict", why));
        policy_output_free(&out);
        return;
    case KILL_NO_MEMORY:
        answer(c, 500, render_error("internal", why));
        policy_output_free(&out);
        return;
    case KILL_OK:
        break;
    }
    targets = json_array();
    for (int i = 0; i < out.n_act; i++)
        json_array_append_new(targets, kill_one(g, c, &out.act[i], &failed));
    policy_output_free(&out);
    if (failed)
        answer(c, 500,
               json_pack("{s:s,s:s,s:o}", "error", "terminate_failed", "detail",
                         "a target could not be terminated", "targets", targets));
    else
        answer(c, 200, json_pack("{s:o}", "targets", targets));
}

/* Run kills, and note in each answer the phase the turn left. */
void command_run_late(struct guard *g, struct command *c)
{
    if (c->type == CMD_KILL)
        kill_walsenders(g, c);
    if (c->status == 200 && c->type != CMD_KILL)
        json_object_set_new(c->body, "phase", json_string(phase_name(g->policy.phase)));
}

/* Send a command's answer (after the view that shows its effect is published). */
void command_answer(struct guard *g, struct command *c)
{
    http_answer(g->http, c, c->status, c->body);
}

/* The walsenders as the policy tracks them. */
static void view_walsenders(const struct guard *g, struct view *v, int64_t now)
{
    v->n_ws = g->policy.n;
    for (int i = 0; i < g->policy.n; i++) {
        const struct tracked *t = &g->policy.t[i];
        struct view_walsender *vw = &v->ws[i];

        vw->w = t->w;
        vw->risk = policy_risk(&g->policy, t, now);
        vw->cause = policy_cause(&t->w);
        vw->lag_known = ws_lag_bytes(&t->w, &vw->lag_bytes);
        vw->stalled_for_ms = policy_stalled_for_ms(t, now);
        vw->excluded = config_slot_excluded(&g->cfg, t->w.slot);
    }
}

/* PostgreSQL's side: session, postmaster.pid, the two enforcement paths. */
static void view_postgresql(const struct guard *g, struct view *v)
{
    static const char *const pf[] = {"ok", "missing", "invalid"};
    const struct ws_server_info *in = &g->info;

    v->sql_up = pgsql_connected(g->sql);
    v->attempted = g->attempted;
    snprintf(v->sql_error, sizeof(v->sql_error), "%s", g->sql_error);
    v->info = g->info;
    v->pidfile = g->pgdata[0] == '\0' ? "none" : pf[g->pf_state];
    v->pm_pid = g->pf_state == PIDFILE_OK ? g->pf.pid : 0;
    v->pm_status = g->pf_state == PIDFILE_OK ? pidfile_status_name(g->pf.status) : NULL;
    snprintf(v->pgdata, sizeof(v->pgdata), "%s", g->pgdata);
    v->sql_path = v->sql_up && (in->superuser || in->signal_backend);
    if (!v->sql_up)
        snprintf(v->sql_why, sizeof(v->sql_why), "no SQL session%s%s", g->sql_error[0] ? ": " : "",
                 g->sql_error);
    else if (!v->sql_path)
        snprintf(v->sql_why, sizeof(v->sql_why), "role \"%s\" is not a member of pg_signal_backend",
                 in->role);
    v->signal_path = g->signal_ok;
    snprintf(v->signal_why, sizeof(v->signal_why), "%s", g->signal_why);
}

/* The configuration the API shows. */
static void view_config(const struct guard *g, struct view *v)
{
    const struct config *cfg = &g->cfg;

    v->deadline_ms = cfg->deadline_ms;
    v->stall_after_ms = cfg->stall_after_ms;
    v->poll_interval_ms = cfg->poll_interval_ms;
    v->physical_deadline_ms = cfg->physical_deadline_ms;
    v->kill_stalled = cfg->kill_stalled;
    v->dry_run = cfg->dry_run;
    v->token = g->token != NULL;
    v->n_exclude = cfg->n_exclude_slot;
    for (int i = 0; i < cfg->n_exclude_slot; i++)
        snprintf(v->exclude[i], sizeof(v->exclude[i]), "%s", cfg->exclude_slot[i]);
    v->audit_pending = audit_pending(g->audit);
}

/* Publish this turn's state for the HTTP handlers. */
void command_publish(struct guard *g)
{
    struct view *v;
    int64_t now = mono_ms(), wall = wall_ms();

    if (g->http == NULL)
        return;
    v = calloc(1, sizeof(*v) + (size_t)g->policy.n * sizeof(v->ws[0]));
    if (v == NULL) {
        log_warn("out of memory publishing the state for HTTP; the last one stays");
        return;
    }
    v->mono_ms = now;
    v->wall_ms = wall;
    v->version = version_string();
    snprintf(v->listen, sizeof(v->listen), "%s", http_bound(g->http));
    v->phase = g->policy.phase;
    v->phase_since_wall_ms = wall - (now - g->policy.phase_since_ms);
    v->clock_running = g->policy.clock_running;
    v->stopping = g->policy.stopping_seen;
    snprintf(v->trigger, sizeof(v->trigger), "%s", g->policy.trigger);
    v->deadline_wall_ms = wall + (g->policy.deadline_at_ms - now);
    v->arm_expires_wall_ms = wall + (g->policy.arm_expires_ms - now);
    view_postgresql(g, v);
    view_config(g, v);
    v->c = g->c;
    v->poll_duration_us = g->last_poll_us;
    v->last_poll_wall_ms = g->last_poll_wall_ms;
    view_walsenders(g, v, now);
    http_publish(g->http, v);
}
