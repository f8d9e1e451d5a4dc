/*
 * pgsql.h - PostgreSQL as SQL: the guard's session, the poll query over
 * pg_stat_replication, LSN arithmetic, pg_terminate_backend()
 *
 * The only module that sees libpq; nothing here exposes PGconn or PGresult.
 */
#ifndef DG_PGSQL_H
#define DG_PGSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Logical and physical come from SQL (the active slot's type), or from /proc
 * when proven there; unproven: a postmaster child that looks like a logical
 * walsender but cannot be proven one without SQL (PostgreSQL 10-13 titles).
 */
enum ws_kind { WS_LOGICAL, WS_PHYSICAL, WS_UNPROVEN };

/* One walsender as the guard knows it, from SQL and/or from /proc. */
struct walsender {
    int pid;
    unsigned long long start_ticks; /* /proc/PID/stat field 22; 0: not visible */
    enum ws_kind kind;
    bool lsn_known; /* false: NULL columns (no pg_read_all_stats) or /proc only */
    uint64_t sent_lsn, write_lsn, flush_lsn;
    bool failover;     /* PostgreSQL 17+: the slot is a failover slot */
    bool standby_wait; /* waits for synchronized_standby_slots (WaitForStandbyConfirmation) */
    bool orphaned;     /* still alive after its postmaster is gone (SIGKILLed) */
    char title[128];   /* the process title, when only /proc saw it */
    char slot[64];
    char database[64];
    char usename[64];
    char application_name[64];
    char client_addr[64];
    char state[16];
};

/* What a connection attempt found. */
enum pgsql_connect_result {
    PGSQL_CONNECTED,
    PGSQL_REJECTED,    /* the server answered but refuses sessions: 57P03 */
    PGSQL_UNREACHABLE, /* nobody answered */
    PGSQL_FAILED       /* anything else: authentication, bad conninfo, ... */
};

/* What the connected role may do, read once per connection. */
struct ws_server_info {
    char role[64];
    bool superuser;
    bool read_all_stats;
    bool signal_backend;
    bool in_recovery;
    int version_num;
    int backend_pid;
    int wal_sender_timeout_ms; /* 0: disabled */
    char data_directory[1024]; /* "" when the role may not read it */
};

struct pgsql_session;

struct pgsql_session *pgsql_session_new(void);
void pgsql_session_free(struct pgsql_session *s);
enum pgsql_connect_result pgsql_connect(struct pgsql_session *s, const char *dsn, int timeout_ms,
                                        struct ws_server_info *info, char *err, size_t errlen);
enum pgsql_connect_result pgsql_probe(const char *dsn);
bool pgsql_connected(const struct pgsql_session *s);
void pgsql_disconnect(struct pgsql_session *s);
int pgsql_socket(const struct pgsql_session *s);
bool pgsql_check_session(struct pgsql_session *s, char *sqlstate, size_t len)
    __attribute__((warn_unused_result));
bool pgsql_snapshot(struct pgsql_session *s, int timeout_ms, struct walsender **rows, int *n,
                    char *err, size_t errlen) __attribute__((warn_unused_result));
bool pgsql_terminate(struct pgsql_session *s, const struct walsender *w, int timeout_ms,
                     bool *signalled, char *err, size_t errlen) __attribute__((warn_unused_result));
const char *pgsql_last_sqlstate(const struct pgsql_session *s);
void pgsql_scrub_dsn(const char *dsn, char *out, size_t len);
bool pgsql_check_dsn(const char *dsn, char *err, size_t errlen) __attribute__((warn_unused_result));

bool lsn_parse(const char *s, uint64_t *out) __attribute__((warn_unused_result));
void lsn_format(uint64_t lsn, char *buf, size_t len);
uint64_t lsn_diff(uint64_t a, uint64_t b);
/* What the server waits for the client to confirm: flush, or write when flush is 0 (0: none yet).
 */
uint64_t ws_confirmed(const struct walsender *w);
/* sent - confirmed in bytes (negative: confirmed ahead of sent); false before any confirmation. */
bool ws_lag_bytes(const struct walsender *w, int64_t *lag);
/* "logical", "physical" or "unproven". */
const char *ws_kind_name(enum ws_kind k);
/* The poll query for a server of this server_version_num (exposed for unit tests). */
const char *pgsql_poll_query(int version_num);

int pgsql_libpq_version(void);

#endif
