/*
 * terminate.c - ending one walsender and recording it
 *
 * pg_terminate_backend() while the session works, else a SIGTERM proven
 * to reach that very process (proc.c); an orphan of a vanished postmaster
 * by its own proof.  Each outcome goes to the audit log, the counters and
 * the shutdown's summary; the method and the outcome are enums up to the
 * audit line, where they become its words.
 */
#include "terminate.h"

#include <stdio.h>

#include "api.h"
#include "audit.h"
#include "log.h"
#include "pgsql.h"
#include "proc.h"

#define TERMINATE_TIMEOUT_MS 1000

/* The audit log's word for an outcome. */
const char *terminate_outcome_event(enum terminate_outcome o)
{
    switch (o) {
    case TERMINATE_ENDED:
        return "terminated";
    case TERMINATE_FAILED:
        return "terminate_failed";
    case TERMINATE_WOULD_END:
        return "would_terminate";
    }
    return "terminate_failed";
}

/*
 * Record a termination (or its failure, or a dry run's would-be) in the
 * audit log, the counters and the shutdown summary.  c: the API command
 * that asked for it, or NULL.
 */
void terminate_audit(struct guard *g, const struct tracked *t, enum terminate_outcome o,
                     enum method m, enum reason r, const char *sqlerr, const char *error,
                     const struct command *c)
{
    json_t *f = audit_walsender_fields(&t->w);

    if (o != TERMINATE_FAILED)
        json_object_set_new(f, "method", json_string(method_name(m)));
    json_object_set_new(f, "reason", json_string(reason_name(r)));
    if (sqlerr && sqlerr[0])
        audit_set_string(f, "sql_error", sqlerr);
    if (error && error[0])
        audit_set_string(f, "error", error);
    if (c) {
        audit_set_string(f, "requester", c->requester);
        if (c->reason[0])
            audit_set_string(f, "note", c->reason);
    }
    if (o == TERMINATE_ENDED)
        g->c.terminations[m][r]++;
    else if (o == TERMINATE_FAILED)
        g->c.terminate_failures[r]++;
    if (o == TERMINATE_ENDED && g->summary)
        json_array_append(g->summary, f);
    audit_emit(g->audit, terminate_outcome_event(o), f);
}

/*
 * Try SQL first?  While the session works, yes; once the server is shutting
 * down the signal is preferred when available: the server is ending the
 * session and a query on it could wait.
 */
bool terminate_use_sql(const struct guard *g)
{
    return pgsql_connected(g->sql) && !(g->policy.stopping_seen && g->signal_ok);
}

enum method terminate_method(const struct guard *g)
{
    return terminate_use_sql(g) ? METHOD_SQL : METHOD_SIGNAL;
}

/*
 * End one walsender: pg_terminate_backend() while the session works, else
 * (or when SQL refuses, e.g. a superuser's walsender) a verified SIGTERM.
 * True with the method used; false with err when neither worked.  sqlerr
 * keeps why SQL was not enough, if it was tried.
 */
bool terminate_walsender(struct guard *g, const struct tracked *t, enum method *used, char *sqlerr,
                         size_t sqlerrlen, char *err, size_t errlen)
{
    struct proc_ident id = {.pid = t->w.pid, .start_ticks = t->w.start_ticks};
    bool signalled;

    sqlerr[0] = '\0';
    *used = METHOD_SIGNAL;
    if (t->w.orphaned)
        return proc_terminate_orphan(g->proc_root, g->stop_pm.pid, g->stop_pm.start_time, &id,
                                     g->pg_major, err, errlen);
    if (terminate_use_sql(g)) {
        if (pgsql_terminate(g->sql, &t->w, TERMINATE_TIMEOUT_MS, &signalled, sqlerr, sqlerrlen) &&
            signalled) {
            *used = METHOD_SQL;
            return true;
        }
        if (sqlerr[0] == '\0')
            snprintf(sqlerr, sqlerrlen, "pg_terminate_backend(%d): no such walsender any more",
                     t->w.pid);
    }
    if (!g->signal_ok) {
        snprintf(err, errlen, "signal path unavailable: %s", g->signal_why);
        return false;
    }
    return proc_terminate(g->proc_root, &g->pf, &id, g->pg_major, t->w.kind == WS_LOGICAL, err,
                          errlen);
}

/*
 * Say once that a physical walsender outlives the deadline and will not be
 * ended (no --physical-deadline), and what bounds it: PostgreSQL's
 * wal_sender_timeout, which ends it only if its standby falls silent.
 */
void terminate_report_holding(struct guard *g, const struct tracked *t)
{
    json_t *f = audit_walsender_fields(&t->w);
    int ms = g->info.wal_sender_timeout_ms;
    char bound[160];

    if (ms > 0)
        snprintf(bound, sizeof(bound), "wal_sender_timeout (%d ms) if its standby is silent", ms);
    else
        snprintf(bound, sizeof(bound), "%s",
                 g->info.version_num ? "nothing: wal_sender_timeout is 0"
                                     : "wal_sender_timeout (unknown)");
    audit_set_string(f, "bound", bound);
    audit_emit(g->audit, "holding", f);
    log_warn("physical walsender %d (\"%s\") is still there after the deadline and may hold the "
             "shutdown up; it is not ended without --physical-deadline; bound: %s",
             t->w.pid, t->w.application_name, bound);
}
