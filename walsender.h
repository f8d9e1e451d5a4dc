/*
 * walsender.h - a walsender as the guard knows it, as plain data: its
 * kind, its LSNs and their arithmetic, what the server says of itself
 *
 * No libpq: the policy, the renderers, the audit log and the HTTP layer
 * include this; only the SQL session (pgsql.h) fills it from PostgreSQL.
 */
#ifndef DG_WALSENDER_H
#define DG_WALSENDER_H

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

/* What the connected role may do and the server reports, read once per connection (pgsql.c). */
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

/* Parse "X/Y" (hex halves, as PostgreSQL prints an LSN) into *out; false on anything else. */
bool lsn_parse(const char *s, uint64_t *out) __attribute__((warn_unused_result));
/* Format an LSN the way PostgreSQL does: %X/%X. */
void lsn_format(uint64_t lsn, char *buf, size_t len);
/* a - b in bytes, 0 when b is ahead. */
uint64_t lsn_diff(uint64_t a, uint64_t b);
/* What the server waits for the client to confirm: flush, or write when flush is 0 (0: none yet).
 */
uint64_t ws_confirmed(const struct walsender *w);
/* sent - confirmed in bytes (negative: confirmed ahead of sent); false before any confirmation. */
bool ws_lag_bytes(const struct walsender *w, int64_t *lag);
/* "logical", "physical" or "unproven". */
const char *ws_kind_name(enum ws_kind k);

#endif
