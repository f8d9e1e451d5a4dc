/*
 * notify.h - tell systemd (Type=notify) that the daemon is ready or stopping
 */
#ifndef DG_NOTIFY_H
#define DG_NOTIFY_H

#include <stdbool.h>

bool notify_ready(void);
bool notify_stopping(void);
bool notify_supported(void);

#endif
