/*
 * policy_fx.h - the fixture of test_policy.c and test_policy_risk.c: one
 * policy with its configuration and output, walsenders to show it, a step
 * with a fake clock, and the tracked entry of a PID
 */
#ifndef DG_POLICY_FX_H
#define DG_POLICY_FX_H

#include "unit_util.h"

#include "policy.h"

#define T0       1000000 /* the fake clock's start, in ms */
#define DEADLINE 10000
#define STALL    30000

/* Observation flags for step(). */
enum { UP = 1, STOP = 2, GONE = 4, STALE = 8 };

/* One policy with its configuration, output and the walsenders it is shown. */
struct fx {
    struct config cfg;
    struct policy p;
    struct policy_output out;
    struct walsender ws[8];
    int n;
};

/* A policy in "waiting" with the default settings that matter to it. */
static inline int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->cfg.deadline_ms = DEADLINE;
    f->cfg.stall_after_ms = STALL;
    f->cfg.kill_stalled = true;
    f->cfg.poll_interval_ms = 1000;
    f->cfg.physical_deadline_ms = -1;
    policy_init(&f->p, &f->cfg, T0);
    *state = f;
    return 0;
}

/* Free the policy, its output and the fixture. */
static inline int fx_teardown(void **state)
{
    struct fx *f = *state;

    policy_free(&f->p);
    policy_output_free(&f->out);
    free(f);
    return 0;
}

/* Add a walsender with known LSNs (write = flush); returns its slot in f->ws. */
static inline int add_ws(struct fx *f, int pid, enum ws_kind kind, const char *slot, uint64_t sent,
                  uint64_t flush)
{
    struct walsender *w = &f->ws[f->n];

    assert_true(f->n < 8);
    memset(w, 0, sizeof(*w));
    w->pid = pid;
    w->start_ticks = (unsigned long long)pid * 100;
    w->kind = kind;
    w->lsn_known = true;
    w->sent_lsn = sent;
    w->write_lsn = flush;
    w->flush_lsn = flush;
    snprintf(w->slot, sizeof(w->slot), "%s", slot);
    return f->n++;
}

/* A logical walsender that is caught up (not lagging). */
static inline int add_logical(struct fx *f, int pid, const char *slot)
{
    return add_ws(f, pid, WS_LOGICAL, slot, 0x3000000, 0x3000000);
}

/* Feed one observation at time now; the output is reset first. */
static inline void step(struct fx *f, int64_t now, int flags)
{
    struct observation obs = {.now_ms = now,
                              .sql_up = (flags & UP) != 0,
                              .stopping = (flags & STOP) != 0,
                              .stopping_why = "postmaster.pid says \"stopping\"",
                              .postmaster_gone = (flags & GONE) != 0,
                              .fresh = (flags & STALE) == 0,
                              .ws = f->ws,
                              .n_ws = f->n};

    policy_output_reset(&f->out);
    assert_true(policy_step(&f->p, &obs, &f->out));
}

/* The tracked entry of a PID, or NULL. */
static inline struct tracked *tracked(struct fx *f, int pid)
{
    for (int i = 0; i < f->p.n; i++)
        if (f->p.t[i].w.pid == pid)
            return &f->p.t[i];
    return NULL;
}

#endif
