/*
 * notify.h - tell systemd (Type=notify) that the daemon is ready or stopping
 */
#ifndef DG_NOTIFY_H
#define DG_NOTIFY_H

#include <stdbool.h>

/* Tell systemd READY=1 (the loop runs, the API is up or retried); false when nobody heard. */
bool notify_ready(void);
/* Tell systemd STOPPING=1 (the loop has ended); false when nobody heard. */
bool notify_stopping(void);
/* Was the binary built with libsystemd (the unit then has Type=notify)? */
bool notify_supported(void);

#endif
