/*
 * session.h - the guard's SQL session kept up: connected when due with
 * back-off, its end noticed, closed once a shutdown's last snapshot is taken
 */
#ifndef DG_SESSION_H
#define DG_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "guard.h"

/* Connect when due (refusals tell a shutdown); true when this call connected. */
bool session_connect(struct guard *g, int64_t now, bool *gone_hint);
/* The next connection attempt at once, with the back-off from its minimum. */
void session_connect_now(struct guard *g, int64_t now);
/* Notice at once when the server ends the session (57P01 at a shutdown). */
void session_check(struct guard *g, int64_t now);
/* In a shutdown, close the session once its last snapshot is taken. */
void session_release(struct guard *g, bool snapshot_taken);

#endif
