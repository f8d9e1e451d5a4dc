/*
 * pgsql.c - PostgreSQL as SQL: the guard's session, the only user of libpq
 *
 * The guard's one session: connected without blocking, every query sent
 * asynchronously and waited for with a deadline, cancelled and dropped when
 * the deadline passes.  A dropped session is reconnected by the caller.
 */
#include "pgsql.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

struct pgsql_session {
    PGconn *conn;
    char sqlstate[6];
    int version_num; /* of the connected server */
};

/*
 * The poll query, by version.  Every column it reads exists from
 * PostgreSQL 10 (sent/write/flush_lsn, pg_stat_activity.wait_event,
 * pg_replication_slots.active_pid); pg_replication_slots.failover comes
 * with 17, and so does a logical walsender waiting at shutdown for the
 * standbys of synchronized_standby_slots (wait event
 * WaitForStandbyConfirmation).  reply_time (12+) is never read: pgjdbc 42.5
 * sends one from 1999.
 */
#define POLL_QUERY(failover)                                                                       \
    "SELECT r.pid,"                                                                                \
    " CASE WHEN s.slot_type = 'logical' THEN 'logical' ELSE 'physical' END,"                       \
    " coalesce(s.slot_name::text, ''), coalesce(a.datname::text, ''),"                             \
    " coalesce(r.usename::text, ''), coalesce(r.application_name, ''),"                            \
    " coalesce(host(r.client_addr), CASE WHEN r.client_port = -1 THEN 'local' END, ''),"           \
    " coalesce(r.state, ''), r.sent_lsn, r.write_lsn, r.flush_lsn, " failover ","                  \
    " coalesce(a.wait_event = 'WaitForStandbyConfirmation', false)"                                \
    " FROM pg_stat_replication r"                                                                  \
    " LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid"                                    \
    " LEFT JOIN pg_stat_activity a ON a.pid = r.pid"                                               \
    " ORDER BY r.pid"

static const char poll_query_10[] = POLL_QUERY("false");
static const char poll_query_17[] = POLL_QUERY("coalesce(s.failover, false)");

static const char info_query[] =
    "SELECT set_config('statement_timeout', '5s', false) IS NOT NULL, current_user,"
    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
    " pg_has_role('pg_read_all_stats', 'MEMBER'), pg_has_role('pg_signal_backend', 'MEMBER'),"
    " pg_is_in_recovery(), current_setting('server_version_num')::int, pg_backend_pid(),"
    " CASE WHEN pg_has_role('pg_read_all_settings', 'MEMBER')"
    "  THEN current_setting('data_directory') ELSE '' END,"
    " (SELECT setting::int FROM pg_settings WHERE name = 'wal_sender_timeout')";

/* The poll query that fits a server of this version. */
const char *pgsql_poll_query(int version_num)
{
    return version_num >= 170000 ? poll_query_17 : poll_query_10;
}

/* Allocate an unconnected session. */
struct pgsql_session *pgsql_session_new(void)
{
    return calloc(1, sizeof(struct pgsql_session));
}

/* Close and free a session. */
void pgsql_session_free(struct pgsql_session *s)
{
    if (s == NULL)
        return;
    pgsql_disconnect(s);
    free(s);
}

/* Remember the SQLSTATE of errors that arrive while idle (57P01 at shutdown). */
static void notice_receiver(void *arg, const PGresult *res)
{
    struct pgsql_session *s = arg;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (state && strncmp(state, "01", 2) != 0 && strncmp(state, "00", 2) != 0)
        snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state);
}

/*
 * Can libpq parse this conninfo or URI?  False with libpq's reason in err:
 * a DSN it cannot parse will never connect, so it is a configuration error.
 */
bool pgsql_check_dsn(const char *dsn, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &msg);

    if (opts == NULL) {
        snprintf(err, errlen, "%s", msg ? msg : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        PQfreemem(msg);
        return false;
    }
    PQconninfoFree(opts);
    return true;
}

/*
 * Copy a conninfo without its passwords (password, sslpassword), for logs: key=value pairs are
 * rebuilt from libpq's parse of it; a string libpq cannot parse is hidden.
 */
void pgsql_scrub_dsn(const char *dsn, char *out, size_t len)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    size_t used = 0;

    out[0] = '\0';
    if (opts == NULL) {
        snprintf(out, len, "(unparsable conninfo)");
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        int n = snprintf(out + used, len - used, "%s%s=%s", used ? " " : "", o->keyword,
                         strstr(o->keyword, "password") ? "********" : o->val);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    PQconninfoFree(opts);
}

/*
 * Wait until the socket is ready for events or the deadline passes.
 * Returns false on timeout or poll failure.
 */
static bool wait_socket(int sock, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = sock, .events = events};
        int64_t left = deadline - mono_ms();
        int rc;

        if (left <= 0)
            return false;
        rc = poll(&pfd, 1, (int)left);
        if (rc > 0)
            return true;
        if (rc == 0 || errno != EINTR)
            return false;
    }
}

/*
 * Collect the result of the query in flight, waiting at most until the
 * deadline.  On timeout the session is dropped (no PQcancel: in libpq 15 it
 * blocks, and the server's statement_timeout, set at connect, ends the
 * orphaned query).  Returns the last result (caller clears it) or NULL with
 * err filled.
 */
static PGresult *wait_result(struct pgsql_session *s, int64_t deadline, char *err, size_t errlen)
{
    PGresult *res, *last = NULL;

    for (;;) {
        while (PQisBusy(s->conn)) {
            if (!wait_socket(PQsocket(s->conn), POLLIN, deadline)) {
                PQclear(last);
                snprintf(err, errlen, "query timed out; session dropped");
                pgsql_disconnect(s);
                return NULL;
            }
            if (!PQconsumeInput(s->conn))
                break;
        }
        res = PQgetResult(s->conn);
        if (res == NULL)
            break;
        PQclear(last);
        last = res;
    }
    if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK) {
        const char *state = last ? PQresultErrorField(last, PG_DIAG_SQLSTATE) : NULL;

        if (state)
            snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state);
        snprintf(err, errlen, "%s", last ? PQresultErrorMessage(last) : PQerrorMessage(s->conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(last);
        if (PQstatus(s->conn) == CONNECTION_BAD)
            pgsql_disconnect(s);
        return NULL;
    }
    return last;
}

/* Send a query and wait for its tuples; NULL with err on any failure. */
static PGresult *run_query(struct pgsql_session *s, const char *sql, int nparams,
                           const char *const *params, int timeout_ms, char *err, size_t errlen)
{
    if (s->conn == NULL) {
        snprintf(err, errlen, "not connected");
        return NULL;
    }
    if (!PQsendQueryParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        snprintf(err, errlen, "%s", PQerrorMessage(s->conn));
        err[strcspn(err, "\n")] = '\0';
        pgsql_disconnect(s);
        return NULL;
    }
    return wait_result(s, mono_ms() + timeout_ms, err, errlen);
}

/* Copy a text column into a fixed buffer, truncating. */
static void copy_col(char *dst, size_t len, const PGresult *res, int row, int col)
{
    snprintf(dst, len, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* Read the role's powers and the server's facts right after connecting. */
static bool read_info(struct pgsql_session *s, int timeout_ms, struct ws_server_info *info,
                      char *err, size_t errlen)
{
    PGresult *res = run_query(s, info_query, 0, NULL, timeout_ms, err, errlen);

    if (res == NULL)
        return false;
    memset(info, 0, sizeof(*info));
    copy_col(info->role, sizeof(info->role), res, 0, 1);
    info->superuser = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    info->read_all_stats = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
    info->signal_backend = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
    info->in_recovery = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    info->version_num = (int)strtol(PQgetvalue(res, 0, 6), NULL, 10);
    info->backend_pid = (int)strtol(PQgetvalue(res, 0, 7), NULL, 10);
    copy_col(info->data_directory, sizeof(info->data_directory), res, 0, 8);
    info->wal_sender_timeout_ms = (int)strtol(PQgetvalue(res, 0, 9), NULL, 10);
    s->version_num = info->version_num;
    PQclear(res);
    return true;
}

/*
 * Does a server answer new sessions, and how?  PGSQL_CONNECTED when it would
 * accept one, PGSQL_REJECTED when it refuses with 57P03 (shutting down, or
 * starting up), PGSQL_UNREACHABLE when nobody answers.  Blocks for at most
 * libpq's smallest connect_timeout (2 s); on a local socket it takes a few
 * milliseconds.
 */
enum pgsql_connect_result pgsql_probe(const char *dsn)
{
    const char *const keys[] = {"dbname", "connect_timeout", NULL};
    const char *const vals[] = {dsn, "1", NULL};

    switch (PQpingParams(keys, vals, 1)) {
    case PQPING_OK:
        return PGSQL_CONNECTED;
    case PQPING_REJECT:
        return PGSQL_REJECTED;
    case PQPING_NO_RESPONSE:
        return PGSQL_UNREACHABLE;
    default:
        return PGSQL_FAILED;
    }
}

/*
 * Connect without blocking past timeout_ms, then read the server info.
 * On failure err holds libpq's message and the result says whether the
 * server is there but refusing sessions (shutting down or starting).
 */
enum pgsql_connect_result pgsql_connect(struct pgsql_session *s, const char *dsn, int timeout_ms,
                                        struct ws_server_info *info, char *err, size_t errlen)
{
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const vals[] = {dsn, "demotion-guard", NULL};
    int64_t deadline = mono_ms() + timeout_ms;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    enum pgsql_connect_result r;

    pgsql_disconnect(s);
    s->sqlstate[0] = '\0';
    s->conn = PQconnectStartParams(keys, vals, 1);
    if (s->conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return PGSQL_FAILED;
    }
    while (PQstatus(s->conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (!wait_socket(PQsocket(s->conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                         deadline)) {
            snprintf(err, errlen, "connection timed out after %d ms", timeout_ms);
            pgsql_disconnect(s);
            return PGSQL_UNREACHABLE;
        }
        st = PQconnectPoll(s->conn);
    }
    if (st != PGRES_POLLING_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(s->conn));
        err[strcspn(err, "\n")] = '\0';
        pgsql_disconnect(s);
        r = pgsql_probe(dsn);
        return r == PGSQL_CONNECTED ? PGSQL_FAILED : r; /* it answers, but not to us */
    }
    PQsetNoticeReceiver(s->conn, notice_receiver, s);
    if (!read_info(s, timeout_ms, info, err, errlen)) {
        pgsql_disconnect(s);
        return PGSQL_FAILED;
    }
    return PGSQL_CONNECTED;
}

/* Is there a session? */
bool pgsql_connected(const struct pgsql_session *s)
{
    return s->conn != NULL;
}

/* Close the session, if any. */
void pgsql_disconnect(struct pgsql_session *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
}

/* The session's socket for poll(), -1 when there is none. */
int pgsql_socket(const struct pgsql_session *s)
{
    return s->conn ? PQsocket(s->conn) : -1;
}

/* The SQLSTATE of the last error seen on this session ("" if none). */
const char *pgsql_last_sqlstate(const struct pgsql_session *s)
{
    return s->sqlstate;
}

/*
 * Read what the server sent while we were idle.  Returns false when the
 * session has ended (it is then dropped), with the SQLSTATE the server gave,
 * e.g. 57P01 when it was terminated by a shutdown.
 */
bool pgsql_check_session(struct pgsql_session *s, char *sqlstate, size_t len)
{
    if (s->conn == NULL)
        return false;
    bool read_ok = PQconsumeInput(s->conn);

    (void)PQisBusy(s->conn); /* parses what was read: an error reaches the notice receiver */
    if (read_ok && PQstatus(s->conn) == CONNECTION_OK)
        return true;
    snprintf(sqlstate, len, "%s", s->sqlstate);
    pgsql_disconnect(s);
    return false;
}

/* Fill one walsender from row i of the poll query; false on a bad LSN. */
static bool parse_row(const PGresult *res, int i, struct walsender *w)
{
    memset(w, 0, sizeof(*w));
    w->pid = (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
    w->kind = strcmp(PQgetvalue(res, i, 1), "logical") == 0 ? WS_LOGICAL : WS_PHYSICAL;
    copy_col(w->slot, sizeof(w->slot), res, i, 2);
    copy_col(w->database, sizeof(w->database), res, i, 3);
    copy_col(w->usename, sizeof(w->usename), res, i, 4);
    copy_col(w->application_name, sizeof(w->application_name), res, i, 5);
    copy_col(w->client_addr, sizeof(w->client_addr), res, i, 6);
    copy_col(w->state, sizeof(w->state), res, i, 7);
    w->lsn_known = !PQgetisnull(res, i, 8);
    if (w->lsn_known && !lsn_parse(PQgetvalue(res, i, 8), &w->sent_lsn))
        return false;
    if (!PQgetisnull(res, i, 9) && !lsn_parse(PQgetvalue(res, i, 9), &w->write_lsn))
        return false;
    if (!PQgetisnull(res, i, 10) && !lsn_parse(PQgetvalue(res, i, 10), &w->flush_lsn))
        return false;
    w->failover = strcmp(PQgetvalue(res, i, 11), "t") == 0;
    w->standby_wait = strcmp(PQgetvalue(res, i, 12), "t") == 0;
    return w->pid > 0;
}

/*
 * Run the poll query.  On success *rows is a malloc'd array of *n
 * walsenders (caller frees).  On failure err says why; the session may have
 * been dropped (check pgsql_connected()).
 */
bool pgsql_snapshot(struct pgsql_session *s, int timeout_ms, struct walsender **rows, int *n,
                    char *err, size_t errlen)
{
    PGresult *res =
        run_query(s, pgsql_poll_query(s->version_num), 0, NULL, timeout_ms, err, errlen);
    int nt;

    *rows = NULL;
    *n = 0;
    if (res == NULL)
        return false;
    nt = PQntuples(res);
    *rows = calloc((size_t)(nt ? nt : 1), sizeof(struct walsender));
    for (int i = 0; *rows && i < nt; i++) {
        if (!parse_row(res, i, &(*rows)[i])) {
            snprintf(err, errlen, "unexpected value in pg_stat_replication row %d", i + 1);
            free(*rows);
            *rows = NULL;
            PQclear(res);
            return false;
        }
    }
    *n = nt;
    PQclear(res);
    return *rows != NULL;
}

/*
 * pg_terminate_backend() of the walsender with this PID, if it still is
 * one: logical and on the same slot (or, for a physical one, any
 * walsender), checked in the same statement, so a PID taken over since the
 * last poll is not touched.  Returns true when the query ran; *signalled
 * says whether PostgreSQL signalled it (false: gone or changed).  False
 * with err (and the SQLSTATE kept) when SQL refused, e.g. 42501.
 */
bool pgsql_terminate(struct pgsql_session *s, const struct walsender *w, int timeout_ms,
                     bool *signalled, char *err, size_t errlen)
{
    static const char logical_sql[] =
        "SELECT pg_terminate_backend(r.pid) FROM pg_stat_replication r"
        " JOIN pg_replication_slots s ON s.active_pid = r.pid"
        " WHERE r.pid = $1::int AND s.slot_type = 'logical' AND s.slot_name = $2";
    static const char physical_sql[] =
        "SELECT pg_terminate_backend(r.pid) FROM pg_stat_replication r WHERE r.pid = $1::int";
    char pidtext[16];
    const char *params[2] = {pidtext, w->slot};
    PGresult *res;

    *signalled = false;
    snprintf(pidtext, sizeof(pidtext), "%d", w->pid);
    res = run_query(s, w->kind == WS_LOGICAL ? logical_sql : physical_sql,
                    w->kind == WS_LOGICAL ? 2 : 1, params, timeout_ms, err, errlen);
    if (res == NULL)
        return false;
    *signalled = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return true;
}

/* The version of the libpq loaded at run time (150018 for 15.18), for --version. */
int pgsql_libpq_version(void)
{
    return PQlibVersion();
}
