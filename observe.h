/*
 * observe.h - the observation of PostgreSQL: each turn's facts from
 * postmaster.pid, the SQL snapshot and /proc, gathered into one struct
 * observation that the policy consumes
 */
#ifndef DG_OBSERVE_H
#define DG_OBSERVE_H

#include <stdbool.h>

#include "guard.h"
#include "pidfile.h"
#include "policy.h"

/* Gather this turn's facts into obs; its walsender list is g->ws until the next turn. */
void observe_turn(struct guard *g, struct observation *obs);
/* Read postmaster.pid (logged once per reason) and decide the signal path again on a change. */
void observe_read_pidfile(struct guard *g);
/* Work out, and log when it changes, whether the SIGTERM path is open. */
void observe_check_signal_path(struct guard *g);
/* Watch the data directory for postmaster.pid changes (best effort). */
void observe_watch_pgdata(struct guard *g);
/* Is pf's postmaster (PID and start time, line 3) the one remembered in id? */
bool observe_same_postmaster(const struct pidfile *pf, const struct pm_ident *id);
/* Does the last read of postmaster.pid say "stopping" (not left by a postmaster seen ending)? */
bool observe_pidfile_stopping(const struct guard *g);

#endif
