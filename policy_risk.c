/*
 * policy_risk.c - the classification the decision rests on: why a
 * walsender would hold up a shutdown (its cause), whether it lags, whether
 * it is stalled, and its risk.  Pure, as policy.c is: facts in, a verdict
 * out; no I/O, no clock of its own.
 */
#include "policy_risk.h"

#include "policy.h"

/* The name of a risk, as the API and metrics spell it. */
const char *risk_name(enum risk r)
{
    static const char *const names[] = {"ok", "lagging", "stalled", "unknown"};

    return names[r];
}

/* The name of a cause, as the API spells it; NULL for none. */
const char *cause_name(enum cause c)
{
    static const char *const names[] = {NULL,           "behind", "ahead",
                                        "standby_wait", "silent", "unknown"};

    return names[c];
}

/*
 * The cause, from one observation: unknown without LSNs or proof; a
 * logical walsender in WaitForStandbyConfirmation waits for a standby (its
 * client may be healthy); otherwise what was confirmed against what was sent.
 */
enum cause policy_cause(const struct walsender *w)
{
    uint64_t c = ws_confirmed(w);

    if (w->kind == WS_UNPROVEN || !w->lsn_known)
        return CAUSE_UNKNOWN;
    if (w->kind == WS_LOGICAL && w->standby_wait)
        return CAUSE_STANDBY_WAIT;
    if (c == 0)
        return w->sent_lsn ? CAUSE_SILENT : CAUSE_NONE;
    if (c < w->sent_lsn)
        return CAUSE_BEHIND;
    return c > w->sent_lsn ? CAUSE_AHEAD : CAUSE_NONE;
}

/* Behind, ahead or silent: the server would wait for this client at a shutdown. */
bool policy_lagging(const struct tracked *t)
{
    enum cause c = policy_cause(&t->w);

    return c == CAUSE_BEHIND || c == CAUSE_AHEAD || c == CAUSE_SILENT;
}

/* How long the confirmed position has stood still while lagging. */
int64_t policy_stalled_for_ms(const struct tracked *t, int64_t now_ms)
{
    return policy_lagging(t) ? now_ms - t->confirmed_since_ms : 0;
}

/* Stalled: a logical walsender lagging with no confirmation for --stall-after. */
bool policy_is_stalled(const struct policy *p, const struct tracked *t, int64_t now_ms)
{
    return t->w.kind == WS_LOGICAL && policy_lagging(t) &&
           policy_stalled_for_ms(t, now_ms) >= p->cfg->stall_after_ms;
}

/* Unknown without a cause to tell; stalled as the policy means it; lagging when it would hold. */
enum risk policy_risk(const struct policy *p, const struct tracked *t, int64_t now_ms)
{
    enum cause c = policy_cause(&t->w);

    if (c == CAUSE_UNKNOWN)
        return RISK_UNKNOWN;
    if (c == CAUSE_NONE)
        return RISK_OK;
    return policy_is_stalled(p, t, now_ms) ? RISK_STALLED : RISK_LAGGING;
}
