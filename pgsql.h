/*
 * pgsql.h - PostgreSQL as SQL: the guard's session, the poll query over
 * pg_stat_replication, pg_terminate_backend(), conninfo checks
 *
 * The only module that sees libpq; nothing here exposes PGconn or PGresult.
 * What it reads is plain data (walsender.h).
 */
#ifndef DG_PGSQL_H
#define DG_PGSQL_H

#include <stdbool.h>
#include <stddef.h>

#include "walsender.h"

/* What a connection attempt found. */
enum pgsql_connect_result {
    PGSQL_CONNECTED,
    PGSQL_REJECTED,    /* the server answered but refuses sessions: 57P03 */
    PGSQL_UNREACHABLE, /* nobody answered */
    PGSQL_FAILED       /* anything else: authentication, bad conninfo, ... */
};

/* The guard's one session to PostgreSQL (opaque). */
struct pgsql_session;

/* Allocate an unconnected session (NULL when out of memory). */
struct pgsql_session *pgsql_session_new(void);
/* Close and free a session. */
void pgsql_session_free(struct pgsql_session *s);
/* Connect within timeout_ms and read info; on failure err says why. */
enum pgsql_connect_result pgsql_connect(struct pgsql_session *s, const char *dsn, int timeout_ms,
                                        struct ws_server_info *info, char *err, size_t errlen);
/* Would the server accept a session now?  (PQping: a 57P03 refusal is PGSQL_REJECTED.) */
enum pgsql_connect_result pgsql_probe(const char *dsn);
/* Is there a session? */
bool pgsql_connected(const struct pgsql_session *s);
/* Close the session, if any. */
void pgsql_disconnect(struct pgsql_session *s);
/* The session's socket for poll(), -1 when there is none. */
int pgsql_socket(const struct pgsql_session *s);
/* Read what arrived while idle; false (sqlstate set) when the server ended the session. */
bool pgsql_check_session(struct pgsql_session *s, char *sqlstate, size_t len)
    __attribute__((warn_unused_result));
/* Run the poll query: *rows becomes the complete list of walsenders (caller frees). */
bool pgsql_snapshot(struct pgsql_session *s, int timeout_ms, struct walsender **rows, int *n,
                    char *err, size_t errlen) __attribute__((warn_unused_result));
/* pg_terminate_backend() of w, if it is still that walsender; *signalled: it was. */
bool pgsql_terminate(struct pgsql_session *s, const struct walsender *w, int timeout_ms,
                     bool *signalled, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The SQLSTATE of the last error seen on this session ("" if none). */
const char *pgsql_last_sqlstate(const struct pgsql_session *s);
/* The DSN with every password replaced, for logs. */
void pgsql_scrub_dsn(const char *dsn, char *out, size_t len);
/* Can libpq parse this DSN?  False with err when not. */
bool pgsql_check_dsn(const char *dsn, char *err, size_t errlen) __attribute__((warn_unused_result));

/* The poll query for a server of this server_version_num (exposed for unit tests). */
const char *pgsql_poll_query(int version_num);

/* The version of the libpq loaded at run time (150018 for 15.18), for --version. */
int pgsql_libpq_version(void);

#endif
