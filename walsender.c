/*
 * walsender.c - walsenders as plain data: LSN parsing, formatting and
 * arithmetic, what a client has confirmed, the names of the kinds
 *
 * No libpq here: the policy, the renderers and the audit log use these.
 */
#include "walsender.h"

#include <inttypes.h>
#include <stdio.h>

/*
 * Parse 1 to 8 hex digits at *p into *out, stopping at stop; advances *p.
 * False on anything else.
 */
static bool parse_hex32(const char **p, char stop, uint64_t *out)
{
    int n = 0;

    *out = 0;
    for (; **p && **p != stop; (*p)++, n++) {
        char c = **p;
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                         : -1;
        if (d < 0 || n >= 8)
            return false;
        *out = *out * 16 + (uint64_t)d;
    }
    return n > 0 && **p == stop;
}

/* Parse "X/Y" (hex halves) into a 64-bit LSN; false on anything else. */
bool lsn_parse(const char *s, uint64_t *out)
{
    uint64_t hi, lo;
    const char *p = s;

    if (!parse_hex32(&p, '/', &hi))
        return false;
    p++;
    if (!parse_hex32(&p, '\0', &lo))
        return false;
    *out = hi << 32 | lo;
    return true;
}

/* Format an LSN the way PostgreSQL does: %X/%X. */
void lsn_format(uint64_t lsn, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

/* a - b in bytes, 0 when b is ahead (a confirmed position past the sent one). */
uint64_t lsn_diff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* The position the server waits for: flush, or write when the client reports no flush. */
uint64_t ws_confirmed(const struct walsender *w)
{
    return w->flush_lsn ? w->flush_lsn : w->write_lsn;
}

/*
 * sent - confirmed, signed: a client that confirms past what was sent (some
 * libraries confirm LSN + 1) shows a negative lag.  False while unknown: no
 * LSNs visible, or no confirmation yet.
 */
bool ws_lag_bytes(const struct walsender *w, int64_t *lag)
{
    uint64_t c = ws_confirmed(w);

    if (!w->lsn_known || c == 0)
        return false;
    *lag = w->sent_lsn >= c ? (int64_t)(w->sent_lsn - c) : -(int64_t)(c - w->sent_lsn);
    return true;
}

/* The kind as logs, audit, API and metrics spell it. */
const char *ws_kind_name(enum ws_kind k)
{
    static const char *const names[] = {"logical", "physical", "unproven"};

    return names[k];
}
