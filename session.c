/*
 * session.c - the guard's SQL session kept up: connected when due with
 * back-off, its end noticed at once (57P01 at a shutdown), closed once a
 * shutdown's last snapshot is taken
 */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pgsql.h"
#include "pidfile.h"

#define CONNECT_TIMEOUT_MS 3000
#define BACKOFF_MIN_MS     250
#define BACKOFF_MAX_MS     5000

/* Drop the session and schedule the next attempt with back-off. */
static void schedule_reconnect(struct guard *g, int64_t now)
{
    g->next_connect_ms = now + g->backoff_ms;
    g->backoff_ms = g->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : g->backoff_ms * 2;
}

/*
 * Try to connect when due.  A refusal (57P03) after our session was ended
 * with 57P01, or at the very first attempt with no postmaster.pid to read,
 * means the server is shutting down.  True when this call connected.
 */
bool session_connect(struct guard *g, int64_t now, bool *gone_hint)
{
    char err[512];
    enum pgsql_connect_result r;

    if (pgsql_connected(g->sql) || now < g->next_connect_ms)
        return false;
    r = pgsql_connect(g->sql, g->cfg.dsn, CONNECT_TIMEOUT_MS, &g->info, err, sizeof(err));
    g->attempted = true;
    snprintf(g->sql_error, sizeof(g->sql_error), "%s", r == PGSQL_CONNECTED ? "" : err);
    if (r == PGSQL_CONNECTED) {
        g->ever_connected = true;
        g->backoff_ms = BACKOFF_MIN_MS;
        g->next_poll_ms = now;
        g->saw_57p01 = g->sql_stopping = false;
        *gone_hint = true; /* a server that accepts sessions is not the one shutting down */
        return true;
    }
    if (r == PGSQL_REJECTED && (g->saw_57p01 || (!g->ever_connected && g->pf_state != PIDFILE_OK)))
        g->sql_stopping = true;
    if (r == PGSQL_UNREACHABLE)
        *gone_hint = true;
    log_msg(g->policy.phase == PHASE_WAITING && g->backoff_ms > BACKOFF_MIN_MS ? LOG_DEBUG
                                                                               : LOG_INFO,
            "could not connect to PostgreSQL: %s", err);
    schedule_reconnect(g, now);
    return false;
}

/* The next attempt at once, its back-off from the minimum again. */
void session_connect_now(struct guard *g, int64_t now)
{
    g->next_connect_ms = now;
    g->backoff_ms = BACKOFF_MIN_MS;
}

/* Notice at once when the server ends our session (57P01 at a shutdown). */
void session_check(struct guard *g, int64_t now)
{
    char state[6] = "";

    if (!pgsql_connected(g->sql) || pgsql_check_session(g->sql, state, sizeof(state)))
        return;
    log_info("session to PostgreSQL ended%s%s", state[0] ? " with SQLSTATE " : "", state);
    snprintf(g->sql_error, sizeof(g->sql_error), "session ended%s%s",
             state[0] ? " with SQLSTATE " : "", state);
    if (strcmp(state, "57P01") == 0)
        g->saw_57p01 = true;
    session_connect_now(g, now);
}

/*
 * Under a shutdown, close our own session once the last snapshot is taken
 * (the turn after the one that noticed it), so that a smart shutdown does not
 * wait for us.
 */
void session_release(struct guard *g, bool snapshot_taken)
{
    if (!pgsql_connected(g->sql) || !g->policy.stopping_seen || !snapshot_taken)
        return;
    pgsql_disconnect(g->sql);
    log_info("closed own session: the server is shutting down");
}
