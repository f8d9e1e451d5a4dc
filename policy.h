/*
 * policy.h - the pure decision: observations + configuration + clock ->
 * phase transitions and termination actions.  No I/O, no libpq, no /proc:
 * the guard feeds it facts and carries out what it returns.
 */
#ifndef DG_POLICY_H
#define DG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "policy_risk.h"
#include "walsender.h"

enum phase {
    PHASE_WAITING,
    PHASE_OBSERVING,
    PHASE_ARMED,
    PHASE_SHUTTING_DOWN,
    PHASE_ENFORCING,
    PHASE_DONE
};

enum reason { REASON_DEADLINE, REASON_STALLED, REASON_API, REASON_ORPHANED };

/* What the guard saw this tick. */
struct observation {
    int64_t now_ms;           /* monotonic */
    bool sql_up;              /* a working session to PostgreSQL */
    bool stopping;            /* the server is shutting down */
    const char *stopping_why; /* how that was seen */
    int64_t began_ms;         /* monotonic time the shutdown began, when known (else 0) */
    bool postmaster_gone;     /* the postmaster that was stopping has exited */
    bool fresh;               /* ws is the complete current list */
    const struct walsender *ws;
    int n_ws;
};

/* One walsender as the policy follows it across ticks. */
struct tracked {
    struct walsender w;
    uint64_t confirmed;         /* flush LSN, or write LSN when flush is 0 */
    int64_t confirmed_since_ms; /* when it last moved, or when lagging began */
    bool terminated;            /* a termination of this process succeeded */
    bool reported;              /* its one would_terminate / excluded / failure notice */
    int attempts;
    int64_t last_attempt_ms;
    enum reason last_reason; /* of its last ACT_TERMINATE */
};

enum action_type {
    ACT_TERMINATE,       /* end it: SQL if the session works, else verified SIGTERM */
    ACT_WOULD_TERMINATE, /* --dry-run: report only */
    ACT_SKIP_EXCLUDED,   /* due, but its slot is excluded: report once */
    ACT_REPORT_UNPROVEN, /* due, but not proven a logical walsender: report once */
    ACT_REPORT_HOLDING /* a physical walsender alive past the deadline, never ended: report once */
};

struct action {
    enum action_type type;
    enum reason reason;
    int index; /* into policy.t */
};

struct transition {
    enum phase from, to;
    char why[160];
};

/* What one step decided. */
struct policy_output {
    struct transition trans[4];
    int n_trans;
    bool shutdown_started; /* first sight of this shutdown: audit it */
    bool completed;        /* the shutdown ended: write the summary */
    bool expired;          /* an arm ran out without a shutdown */
    struct action *act;
    int n_act, cap_act;
};

#define POLICY_MAX_ENDED_STALLED 16

struct policy {
    const struct config *cfg;
    enum phase phase;
    int64_t phase_since_ms;
    bool stopping_seen;
    bool sql_up;            /* as last observed */
    int64_t shutdown_at_ms; /* when the shutdown was first seen */
    bool clock_running;     /* a deadline is set (arm or shutdown) */
    bool needs_stop;        /* the deadline applies only once a shutdown is seen */
    int64_t deadline_at_ms;
    int64_t arm_expires_ms;
    char trigger[160]; /* what started the clock */
    /* slots whose walsender this arm ended as stalled: at shutdown start,
       whatever walsender holds one of them again is ended too */
    char ended_stalled[POLICY_MAX_ENDED_STALLED][64];
    int n_ended_stalled;
    struct tracked *t;
    int n;
};

#define POLICY_RETRY_MS      500
#define POLICY_ARM_GRACE_MS  60000
#define POLICY_HOLD_GRACE_MS 1000

/* The name of a phase, as logs, audit and metrics spell it. */
const char *phase_name(enum phase ph);
/* The name of a termination reason, as the audit log spells it. */
const char *reason_name(enum reason r);
/* Start in "waiting" with nothing tracked. */
void policy_init(struct policy *p, const struct config *cfg, int64_t now_ms);
/* Release the tracked list. */
void policy_free(struct policy *p);
/* Empty an output for the next step, keeping its buffer. */
void policy_output_reset(struct policy_output *out);
/* Free an output's buffer. */
void policy_output_free(struct policy_output *out);
/* One decision: fold in the observation, move the phase, list actions (false: no memory). */
bool policy_step(struct policy *p, const struct observation *obs, struct policy_output *out)
    __attribute__((warn_unused_result));
/* An explicit arm (before_stop hook, API); deadline_ms < 0: --deadline; only ever closer. */
void policy_arm(struct policy *p, int64_t now_ms, int64_t deadline_ms, const char *why,
                struct policy_output *out);
/* An arm from another member (pre_promote): the deadline applies once the shutdown is seen here. */
void policy_arm_peer(struct policy *p, int64_t now_ms, int64_t deadline_ms, const char *why,
                     struct policy_output *out);
/* What a disarm did: ended an arm, found none, or was refused (the server is shutting down). */
enum disarm_result { DISARM_DONE, DISARM_NOT_ARMED, DISARM_REFUSED };
/* End an arm; refused once the server is shutting down. */
enum disarm_result policy_disarm(struct policy *p, int64_t now_ms, const char *why,
                                 struct policy_output *out);

/* What an API kill asks for: a named target (slot, pid) or a selection. */
enum kill_selector { KILL_SLOT, KILL_PID, KILL_STALLED, KILL_ALL_LOGICAL };
struct kill_request {
    enum kill_selector sel;
    const char *slot; /* KILL_SLOT */
    int pid;          /* KILL_PID */
    bool force;       /* an excluded slot too */
};
enum kill_verdict { KILL_OK, KILL_REFUSED, KILL_NO_MEMORY };
/*
 * An API kill: one action (reason api) per walsender selected, appended to
 * out: ACT_TERMINATE, ACT_WOULD_TERMINATE under --dry-run, ACT_SKIP_EXCLUDED
 * for an excluded slot without force.  A named target that is gone,
 * physical, unproven or excluded without force is refused (why says so).
 */
enum kill_verdict policy_kill(const struct policy *p, const struct kill_request *rq, int64_t now_ms,
                              struct policy_output *out, char *why, size_t len);
/* Would the deadline end this walsender (logical, not orphaned or ended, not excluded, no dry run)?
 */
bool policy_deadline_target(const struct policy *p, const struct tracked *t);
/* Note the outcome of an ACT_TERMINATE (or a failure worth one report). */
void policy_record(struct policy *p, int index, bool ok, int64_t now_ms);
/* When the policy next has something to decide without a new observation; INT64_MAX: nothing. */
int64_t policy_next_wakeup(const struct policy *p, int64_t now_ms);

#endif
