/*
 * policy.c - the decision, and nothing else
 *
 * The phases (enum phase), each entered when:
 *   waiting        PostgreSQL neither reachable nor shutting down
 *   observing      connected: each poll folds in the walsender list
 *   armed          a stop is announced (before_stop hook, API arm, a peer's
 *                  pre_promote): the deadline clock runs (a peer's arm
 *                  starts it only once the shutdown is seen here)
 *   shutting_down  postmaster.pid says "stopping", or the session ended
 *                  with 57P01 and a reconnect gets 57P03
 *   enforcing      the deadline passed with logical walsenders still there:
 *                  each is listed for termination (never a physical one
 *                  unless --physical-deadline, never an excluded slot)
 *   done           the postmaster exited: the summary, then waiting again
 *
 * One function, policy_step(), moves the phase and
 * lists the walsenders to end.  It never learns where a fact came from and
 * never performs an action: the guard reports each outcome back with
 * policy_record().  Every rule of "what may be terminated" lives here (what
 * lags, what is stalled: policy_risk.c) so the unit tests can walk it
 * exhaustively.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[] = {"waiting",       "observing", "armed",
                                          "shutting_down", "enforcing", "done"};

/* The name of a phase, as logs, audit and metrics spell it. */
const char *phase_name(enum phase ph)
{
    return phase_names[ph];
}

/* The name of a termination reason, as the audit log spells it. */
const char *reason_name(enum reason r)
{
    static const char *const names[] = {"deadline", "stalled", "api", "orphaned"};

    return names[r];
}

/* Start in "waiting" with nothing tracked. */
void policy_init(struct policy *p, const struct config *cfg, int64_t now_ms)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->phase = PHASE_WAITING;
    p->phase_since_ms = now_ms;
}

/* Release the tracked list. */
void policy_free(struct policy *p)
{
    free(p->t);
    p->t = NULL;
    p->n = 0;
}

/* Empty an output for the next step, keeping its buffer. */
void policy_output_reset(struct policy_output *out)
{
    struct action *act = out->act;
    int cap = out->cap_act;

    memset(out, 0, sizeof(*out));
    out->act = act;
    out->cap_act = cap;
}

/* Free an output's buffer. */
void policy_output_free(struct policy_output *out)
{
    free(out->act);
    memset(out, 0, sizeof(*out));
}

/* Move to a phase and note the transition once. */
static void enter(struct policy *p, enum phase to, int64_t now_ms, struct policy_output *out,
                  const char *why)
{
    if (p->phase == to)
        return;
    if (out->n_trans < (int)(sizeof(out->trans) / sizeof(out->trans[0]))) {
        struct transition *t = &out->trans[out->n_trans++];

        t->from = p->phase;
        t->to = to;
        snprintf(t->why, sizeof(t->why), "%s", why);
    }
    p->phase = to;
    p->phase_since_ms = now_ms;
}

/* Append an action; false when memory ran out. */
static bool add_action(struct policy_output *out, enum action_type type, enum reason r, int index)
{
    if (out->n_act == out->cap_act) {
        int cap = out->cap_act ? out->cap_act * 2 : 16;
        struct action *a = realloc(out->act, (size_t)cap * sizeof(*a));

        if (a == NULL)
            return false;
        out->act = a;
        out->cap_act = cap;
    }
    out->act[out->n_act++] = (struct action){.type = type, .reason = r, .index = index};
    return true;
}

/* Find the tracked entry of a PID; -1 when new. */
static int find_tracked(const struct policy *p, int pid)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].w.pid == pid)
            return i;
    return -1;
}

/*
 * Fold one observed walsender into its entry.  A PID whose start time
 * changed is a new process (PID reuse): its entry starts over.  Rows without
 * LSNs (seen only in /proc) keep what SQL said before.
 */
static void merge(struct tracked *t, const struct walsender *w, bool is_new, int64_t now_ms)
{
    unsigned long long ticks = w->start_ticks ? w->start_ticks : t->w.start_ticks;
    uint64_t confirmed = ws_confirmed(w);

    if (!is_new && t->w.start_ticks && w->start_ticks && t->w.start_ticks != w->start_ticks)
        is_new = true;
    if (is_new) {
        memset(t, 0, sizeof(*t));
        t->w = *w;
        t->confirmed = confirmed;
        t->confirmed_since_ms = now_ms;
        return;
    }
    t->w.start_ticks = ticks;
    /* a walsender that becomes an orphan gets its own attempt: one that
       failed before (its postmaster dying, no longer proven) said nothing
       about ending it as an orphan */
    if (w->orphaned && !t->w.orphaned && t->attempts > 0 && !t->terminated) {
        t->reported = false;
        t->attempts = 0;
    }
    t->w.orphaned = w->orphaned;
    if (!w->lsn_known)
        return;
    /* an ahead client's clock runs only while sending stands still too: one
       catching up after a reconnect (decoding from restart_lsn) is not stuck */
    if (confirmed != t->confirmed || !t->w.lsn_known || w->sent_lsn == confirmed ||
        (confirmed > w->sent_lsn && w->sent_lsn != t->w.sent_lsn))
        t->confirmed_since_ms = now_ms;
    t->confirmed = confirmed;
    t->w = *w;
    t->w.start_ticks = ticks;
}

/*
 * Replace the tracked set with a complete observation: entries that were
 * not seen are gone.  False when memory ran out (the old set is kept).
 */
static bool track(struct policy *p, const struct observation *obs)
{
    struct tracked *nt = calloc((size_t)(obs->n_ws ? obs->n_ws : 1), sizeof(*nt));

    if (nt == NULL)
        return false;
    for (int i = 0; i < obs->n_ws; i++) {
        int j = find_tracked(p, obs->ws[i].pid);

        if (j >= 0)
            nt[i] = p->t[j];
        merge(&nt[i], &obs->ws[i], j < 0, obs->now_ms);
    }
    free(p->t);
    p->t = nt;
    p->n = obs->n_ws;
    return true;
}

/* Start the deadline clock (an arm, or a shutdown with no arm before it). */
static void start_clock(struct policy *p, int64_t now_ms, int64_t deadline_ms, const char *why)
{
    int64_t at = now_ms + deadline_ms;

    if (p->clock_running && p->deadline_at_ms <= at)
        return;
    p->clock_running = true;
    p->deadline_at_ms = at;
    snprintf(p->trigger, sizeof(p->trigger), "%s", why);
}

/*
 * An explicit arm (before_stop hook or API): a stop is coming.  deadline_ms
 * < 0 means --deadline.  Re-arming only ever brings the deadline closer.
 */
void policy_arm(struct policy *p, int64_t now_ms, int64_t deadline_ms, const char *why,
                struct policy_output *out)
{
    if (deadline_ms < 0)
        deadline_ms = p->cfg->deadline_ms;
    start_clock(p, now_ms, deadline_ms, why);
    p->needs_stop = false;
    p->arm_expires_ms = p->deadline_at_ms + POLICY_ARM_GRACE_MS;
    if (p->phase == PHASE_WAITING || p->phase == PHASE_OBSERVING)
        enter(p, PHASE_ARMED, now_ms, out, why);
}

/*
 * An arm from another member (pre_promote): a stop of this server may be
 * coming, but this server may also stay primary (the promotion may be of
 * the other side of a partition).  Stalled walsenders are ended at once as
 * for any arm; the deadline applies only once the shutdown is seen here.
 * An arm that needs no stop (before_stop, API) is not weakened by it.
 */
void policy_arm_peer(struct policy *p, int64_t now_ms, int64_t deadline_ms, const char *why,
                     struct policy_output *out)
{
    bool strong = p->clock_running && !p->needs_stop;

    policy_arm(p, now_ms, deadline_ms, why, out);
    p->needs_stop = !strong;
}

/*
 * Stop the clock.  What was reported or attempted belonged to that stop:
 * the next one reports and tries afresh.
 */
static void reset_clock(struct policy *p)
{
    p->clock_running = false;
    p->needs_stop = false;
    p->stopping_seen = false;
    p->trigger[0] = '\0';
    p->n_ended_stalled = 0;
    for (int i = 0; i < p->n; i++) {
        p->t[i].reported = false;
        p->t[i].attempts = 0;
        p->t[i].terminated = false;
    }
}

/*
 * Cancel an arm.  Refused (false) once the server itself is shutting down:
 * the shutdown will not wait for anybody's change of mind.
 */
enum disarm_result policy_disarm(struct policy *p, int64_t now_ms, const char *why,
                                 struct policy_output *out)
{
    if (p->stopping_seen)
        return DISARM_REFUSED;
    if (!p->clock_running)
        return DISARM_NOT_ARMED;
    reset_clock(p);
    enter(p, p->sql_up ? PHASE_OBSERVING : PHASE_WAITING, now_ms, out, why);
    return DISARM_DONE;
}

/* Remember, for the rest of this arm, that the walsender on slot was ended as stalled. */
static void remember_ended_stalled(struct policy *p, const char *slot)
{
    for (int i = 0; i < p->n_ended_stalled; i++)
        if (strcmp(p->ended_stalled[i], slot) == 0)
            return;
    if (slot[0] == '\0' || p->n_ended_stalled == POLICY_MAX_ENDED_STALLED)
        return;
    snprintf(p->ended_stalled[p->n_ended_stalled++], sizeof(p->ended_stalled[0]), "%s", slot);
}

/* Note the outcome of an ACT_TERMINATE (or a failure worth one report). */
void policy_record(struct policy *p, int index, bool ok, int64_t now_ms)
{
    struct tracked *t;

    if (index < 0 || index >= p->n)
        return;
    t = &p->t[index];
    t->attempts++;
    t->last_attempt_ms = now_ms;
    if (ok)
        t->terminated = true;
    else
        t->reported = true;
    if (ok && t->last_reason == REASON_STALLED && p->clock_running)
        remember_ended_stalled(p, t->w.slot);
}

/*
 * Does this logical walsender hold a slot this arm already ended as
 * stalled?  Its client reconnected between the arm and the stop; its new
 * walsender is not stalled yet, but would hold the shutdown as the old one
 * did.  A walsender seen only in /proc has no known slot: once any slot
 * was ended as stalled, it counts as a match (it connected after the last
 * snapshot, most likely that client coming back).
 */
static bool on_ended_stalled_slot(const struct policy *p, const struct tracked *t)
{
    if (p->n_ended_stalled == 0)
        return false;
    if (t->w.slot[0] == '\0')
        return true;
    for (int i = 0; i < p->n_ended_stalled; i++)
        if (strcmp(p->ended_stalled[i], t->w.slot) == 0)
            return true;
    return false;
}

/*
 * Is a logical walsender left alive by a postmaster that is gone, and not
 * yet given up on?  Its shared memory keeps PostgreSQL from starting again.
 */
static bool orphans_pending(const struct policy *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].w.orphaned && p->t[i].w.kind == WS_LOGICAL && !p->t[i].reported &&
            !p->t[i].terminated)
            return true;
    return false;
}

/*
 * Has the deadline passed, with the shutdown it waits for seen (an arm from
 * a peer applies only once this server is stopping)?
 */
static bool deadline_passed(const struct policy *p, int64_t now_ms)
{
    return p->clock_running && now_ms >= p->deadline_at_ms && (p->stopping_seen || !p->needs_stop);
}

/* Why this walsender should end now, if it should. */
static bool due(const struct policy *p, const struct tracked *t, int64_t now_ms, enum reason *r)
{
    if (t->w.orphaned) {
        *r = REASON_ORPHANED;
        return t->w.kind == WS_LOGICAL;
    }
    if (t->w.kind == WS_PHYSICAL) {
        *r = REASON_DEADLINE;
        return p->stopping_seen && p->cfg->physical_deadline_ms >= 0 &&
               now_ms >= p->shutdown_at_ms + p->cfg->physical_deadline_ms;
    }
    if (p->cfg->kill_stalled && policy_is_stalled(p, t, now_ms)) {
        *r = REASON_STALLED;
        return true;
    }
    if (p->stopping_seen && on_ended_stalled_slot(p, t)) {
        *r = REASON_STALLED;
        return true;
    }
    *r = REASON_DEADLINE;
    return deadline_passed(p, now_ms);
}

/* Is any walsender but a physical one still there (logical, excluded or not, or unproven)? */
static bool nonphysical_left(const struct policy *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].w.kind != WS_PHYSICAL)
            return true;
    return false;
}

/*
 * A physical walsender still there POLICY_HOLD_GRACE_MS after the deadline
 * of a shutdown, when no other walsender is left and --physical-deadline is
 * off: the stop waits for it (a frozen standby; a failover slot's standby)
 * and the guard will not end it.  While logical walsenders are left, it
 * is waiting for the shutdown checkpoint like the rest, not holding it.
 */
static bool holds_unbounded(const struct policy *p, const struct tracked *t, int64_t now_ms)
{
    return t->w.kind == WS_PHYSICAL && p->stopping_seen && p->cfg->physical_deadline_ms < 0 &&
           now_ms >= p->deadline_at_ms + POLICY_HOLD_GRACE_MS && !nonphysical_left(p);
}

/* List the actions for every tracked walsender that is due. */
static bool decide(struct policy *p, int64_t now_ms, struct policy_output *out)
{
    for (int i = 0; i < p->n; i++) {
        struct tracked *t = &p->t[i];
        enum reason r;
        bool ok = true;

        if (!t->reported && holds_unbounded(p, t, now_ms)) {
            if (!add_action(out, ACT_REPORT_HOLDING, REASON_DEADLINE, i))
                return false;
            t->reported = true;
        }
        if (t->terminated || !due(p, t, now_ms, &r))
            continue;
        if (t->w.kind == WS_UNPROVEN) {
            if (!t->reported && (ok = add_action(out, ACT_REPORT_UNPROVEN, r, i)))
                t->reported = true;
        } else if (config_slot_excluded(p->cfg, t->w.slot)) {
            if (!t->reported && (ok = add_action(out, ACT_SKIP_EXCLUDED, r, i)))
                t->reported = true;
        } else if (p->cfg->dry_run) {
            if (!t->reported && (ok = add_action(out, ACT_WOULD_TERMINATE, r, i)))
                t->reported = true;
        } else if (t->attempts == 0 || now_ms - t->last_attempt_ms >= POLICY_RETRY_MS) {
            ok = add_action(out, ACT_TERMINATE, r, i);
            t->last_attempt_ms = now_ms;
            t->last_reason = r;
        }
        if (!ok)
            return false;
    }
    return true;
}

/*
 * Would the deadline end this walsender: logical, not an orphan (ended as
 * such), not ended yet, not on an excluded slot, and not under --dry-run?
 * decide() lists ACT_TERMINATE for reason deadline for exactly these; the
 * guard pins exactly these before the deadline.
 */
bool policy_deadline_target(const struct policy *p, const struct tracked *t)
{
    return t->w.kind == WS_LOGICAL && !t->w.orphaned && !t->terminated && !p->cfg->dry_run &&
           !config_slot_excluded(p->cfg, t->w.slot);
}

/* Is a logical walsender that is not excluded still alive? */
static bool logical_alive(const struct policy *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].w.kind == WS_LOGICAL && !config_slot_excluded(p->cfg, p->t[i].w.slot))
            return true;
    return false;
}

/* Phase changes that come from the server's state. */
static void transitions(struct policy *p, const struct observation *obs, struct policy_output *out)
{
    int64_t now = obs->now_ms;

    if (p->phase == PHASE_DONE)
        enter(p, PHASE_WAITING, now, out, "shutdown summary written");
    if (obs->stopping && !p->stopping_seen) {
        /* the deadline counts from when the shutdown began, if that is known
           (a guard started or restarted during it), never from later than now */
        int64_t began = obs->began_ms > 0 && obs->began_ms < now ? obs->began_ms : now;

        p->stopping_seen = true;
        p->shutdown_at_ms = began;
        out->shutdown_started = true;
        start_clock(p, began, p->cfg->deadline_ms, obs->stopping_why);
        if (p->phase != PHASE_ENFORCING)
            enter(p, PHASE_SHUTTING_DOWN, now, out, obs->stopping_why);
    }
    if (p->stopping_seen && obs->postmaster_gone && !orphans_pending(p)) {
        out->completed = true;
        reset_clock(p);
        enter(p, PHASE_DONE, now, out, "postmaster exited");
        return;
    }
    if (p->clock_running && !p->stopping_seen && now >= p->arm_expires_ms) {
        out->expired = true;
        reset_clock(p);
        enter(p, obs->sql_up ? PHASE_OBSERVING : PHASE_WAITING, now, out,
              "arm expired without a shutdown");
    }
    if (p->phase == PHASE_WAITING && obs->sql_up)
        enter(p, PHASE_OBSERVING, now, out, "connected");
    else if (p->phase == PHASE_OBSERVING && !obs->sql_up)
        enter(p, PHASE_WAITING, now, out, "session lost");
    if ((p->phase == PHASE_ARMED || p->phase == PHASE_SHUTTING_DOWN) && deadline_passed(p, now) &&
        logical_alive(p))
        enter(p, PHASE_ENFORCING, now, out, "deadline passed with logical walsenders alive");
}

/*
 * One decision: fold in the observation, move the phase, list actions.
 * Actions are listed only while a stop is armed or under way.  False only
 * when memory ran out; the policy is then unchanged but for the phase.
 */
bool policy_step(struct policy *p, const struct observation *obs, struct policy_output *out)
{
    if (obs->fresh && !track(p, obs))
        return false;
    p->sql_up = obs->sql_up;
    transitions(p, obs, out);
    if (p->phase != PHASE_ARMED && p->phase != PHASE_SHUTTING_DOWN && p->phase != PHASE_ENFORCING)
        return true;
    return decide(p, obs->now_ms, out);
}

/* Does the kill request select this walsender? */
static bool kill_selects(const struct policy *p, const struct kill_request *rq,
                         const struct tracked *t, int64_t now_ms)
{
    switch (rq->sel) {
    case KILL_SLOT:
        return strcmp(t->w.slot, rq->slot) == 0;
    case KILL_PID:
        return t->w.pid == rq->pid;
    case KILL_STALLED:
        return policy_is_stalled(p, t, now_ms);
    case KILL_ALL_LOGICAL:
        return t->w.kind == WS_LOGICAL;
    }
    return false;
}

/* Why a named target may not be ended (t NULL: none matched); false when it may. */
static bool kill_refused(const struct policy *p, const struct kill_request *rq,
                         const struct tracked *t, char *why, size_t len)
{
    if (t == NULL && rq->sel == KILL_SLOT)
        snprintf(why, len, "no walsender on slot \"%s\" (any more)", rq->slot);
    else if (t == NULL)
        snprintf(why, len, "no walsender with pid %d (any more)", rq->pid);
    else if (t->w.kind == WS_PHYSICAL)
        snprintf(why, len,
                 "walsender %d is physical: physical walsenders are never ended "
                 "through the API",
                 t->w.pid);
    else if (t->w.kind != WS_LOGICAL)
        snprintf(why, len, "process %d is not proven a logical walsender: it is never signalled",
                 t->w.pid);
    else if (config_slot_excluded(p->cfg, t->w.slot) && !rq->force)
        snprintf(why, len, "slot \"%s\" is excluded by --exclude-slot; add \"force\": true",
                 t->w.slot);
    else
        return false;
    return true;
}

enum kill_verdict policy_kill(const struct policy *p, const struct kill_request *rq, int64_t now_ms,
                              struct policy_output *out, char *why, size_t len)
{
    bool named = rq->sel == KILL_SLOT || rq->sel == KILL_PID;
    int match = -1;

    for (int i = 0; named && i < p->n && match < 0; i++)
        if (kill_selects(p, rq, &p->t[i], now_ms))
            match = i;
    if (named && kill_refused(p, rq, match < 0 ? NULL : &p->t[match], why, len))
        return KILL_REFUSED;
    for (int i = 0; i < p->n; i++) {
        const struct tracked *t = &p->t[i];
        enum action_type type = p->cfg->dry_run ? ACT_WOULD_TERMINATE : ACT_TERMINATE;

        if (named ? i != match : t->w.kind != WS_LOGICAL || !kill_selects(p, rq, t, now_ms))
            continue;
        if (config_slot_excluded(p->cfg, t->w.slot) && !rq->force)
            type = ACT_SKIP_EXCLUDED;
        if (!add_action(out, type, REASON_API, i)) {
            snprintf(why, len, "out of memory");
            return KILL_NO_MEMORY;
        }
    }
    return KILL_OK;
}

/* Keep the earlier of a and b, ignoring times not after now. */
static int64_t earliest(int64_t a, int64_t b, int64_t now)
{
    if (b <= now)
        return a;
    return a < b ? a : b;
}

/*
 * When the policy next has something to decide without a new observation:
 * a deadline, a stall threshold, a retry or an arm's expiry.  INT64_MAX when
 * nothing is pending.
 */
int64_t policy_next_wakeup(const struct policy *p, int64_t now_ms)
{
    int64_t at = INT64_MAX;

    if (!p->clock_running)
        return at;
    at = earliest(at, p->deadline_at_ms, now_ms);
    if (!p->stopping_seen)
        at = earliest(at, p->arm_expires_ms, now_ms);
    else if (p->cfg->physical_deadline_ms >= 0)
        at = earliest(at, p->shutdown_at_ms + p->cfg->physical_deadline_ms, now_ms);
    for (int i = 0; i < p->n; i++) {
        const struct tracked *t = &p->t[i];

        if (policy_lagging(t))
            at = earliest(at, t->confirmed_since_ms + p->cfg->stall_after_ms, now_ms);
        if (t->attempts)
            at = earliest(at, t->last_attempt_ms + POLICY_RETRY_MS, now_ms);
    }
    return at;
}
