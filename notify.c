/*
 * notify.c - systemd readiness notification (sd_notify)
 *
 * Built with WITH_SYSTEMD=1 (libsystemd found by pkg-config) the daemon
 * sends READY=1 once it is set up and STOPPING=1 when it leaves its loop, so
 * a unit with Type=notify knows when it runs.  Built without, or started
 * without $NOTIFY_SOCKET, both calls do nothing.  A failure is logged once
 * and never stops the daemon.
 */
#include "notify.h"

#include "log.h"

#ifdef DG_WITH_SYSTEMD
#include <string.h>
#include <systemd/sd-daemon.h>

/* Send one state line; true when systemd got it. */
static bool notify(const char *state)
{
    int r = sd_notify(0, state);

    if (r < 0)
        log_warn("could not tell systemd \"%s\": %s", state, strerror(-r));
    else if (r > 0)
        log_debug("told systemd \"%s\"", state);
    return r > 0;
}
#else
/* Without libsystemd there is nobody to tell. */
static bool notify(const char *state)
{
    (void)state;
    return false;
}
#endif

/* Was the binary built with libsystemd (the unit then has Type=notify)? */
bool notify_supported(void)
{
#ifdef DG_WITH_SYSTEMD
    return true;
#else
    return false;
#endif
}

/* Set-up is done: the loop runs and the HTTP API is up (or being retried). */
bool notify_ready(void)
{
    return notify("READY=1\nSTATUS=guarding");
}

/* The loop has ended; what follows is the orderly exit. */
bool notify_stopping(void)
{
    return notify("STOPPING=1");
}
