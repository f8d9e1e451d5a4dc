/*
 * terminate.h - ending one walsender and recording it: the method (SQL or
 * a verified signal) and the outcome as types, turned into the audit
 * log's words only when written
 */
#ifndef DG_TERMINATE_H
#define DG_TERMINATE_H

#include <stdbool.h>
#include <stddef.h>

#include "guard.h"
#include "policy.h"
#include "render.h"

struct command; /* api.h: a request of the HTTP API */

/* What became of a walsender the guard was to end (a dry run only says it would). */
enum terminate_outcome {
    TERMINATE_ENDED,    /* audit event "terminated" */
    TERMINATE_FAILED,   /* "terminate_failed" */
    TERMINATE_WOULD_END /* "would_terminate" (a dry run) */
};

/* The audit event of an outcome: "terminated", "terminate_failed", "would_terminate". */
const char *terminate_outcome_event(enum terminate_outcome o);
/* Try SQL first?  While the session works, unless a shutdown runs and the signal path is open. */
bool terminate_use_sql(const struct guard *g);
/* The method a termination would use now (what a dry run's would_terminate reports). */
enum method terminate_method(const struct guard *g);
/* End t: SQL, else (or when SQL refuses) a verified SIGTERM; true with *used, false with err. */
bool terminate_walsender(struct guard *g, const struct tracked *t, enum method *used, char *sqlerr,
                         size_t sqlerrlen, char *err, size_t errlen);
/* Audit an outcome and count it (m is not written for TERMINATE_FAILED); c: the API's, or NULL. */
void terminate_audit(struct guard *g, const struct tracked *t, enum terminate_outcome o,
                     enum method m, enum reason r, const char *sqlerr, const char *error,
                     const struct command *c);
/* Audit once that a physical walsender outlives the deadline and is not ended, and its bound. */
void terminate_report_holding(struct guard *g, const struct tracked *t);

#endif
