/*
 * policy_risk.h - the classification the decision rests on: why a walsender
 * would hold up a shutdown (its cause) and its risk (ok, lagging, stalled,
 * unknown).  Pure, as policy.h is; policy.h includes it for its users.
 */
#ifndef DG_POLICY_RISK_H
#define DG_POLICY_RISK_H

#include <stdbool.h>
#include <stdint.h>

#include "walsender.h"

struct policy;
struct tracked;

/* The risk that a walsender holds up a shutdown. */
enum risk { RISK_OK, RISK_LAGGING, RISK_STALLED, RISK_UNKNOWN };

/*
 * Why a walsender would hold up a shutdown (none: it would not).  The
 * server waits until the client confirms exactly what was sent.
 */
enum cause {
    CAUSE_NONE,
    CAUSE_BEHIND,       /* confirmed < sent */
    CAUSE_AHEAD,        /* confirmed > sent: never equal either (clients confirming LSN + 1) */
    CAUSE_STANDBY_WAIT, /* 17+: waits for a standby of synchronized_standby_slots */
    CAUSE_SILENT,       /* no confirmation seen at all */
    CAUSE_UNKNOWN       /* LSNs not visible, or a process not proven */
};

/* "ok", "lagging", "stalled", "unknown". */
const char *risk_name(enum risk r);
/* "behind", "ahead", "standby_wait", "silent", "unknown"; NULL for none. */
const char *cause_name(enum cause c);
/* Why this walsender would hold up a shutdown, from what was seen of it. */
enum cause policy_cause(const struct walsender *w);
/* Is what was confirmed not what was sent (behind, ahead, or nothing confirmed)? */
bool policy_lagging(const struct tracked *t);
/* How long the confirmed position has stood still while lagging (0: not lagging). */
int64_t policy_stalled_for_ms(const struct tracked *t, int64_t now_ms);
/* Stalled: a logical walsender lagging with no confirmation for --stall-after. */
bool policy_is_stalled(const struct policy *p, const struct tracked *t, int64_t now_ms);
/* The risk of a tracked walsender: stalled only for a logical one unmoved for --stall-after. */
enum risk policy_risk(const struct policy *p, const struct tracked *t, int64_t now_ms);

#endif
