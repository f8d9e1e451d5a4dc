/*
 * watch.h - "demotion-guard status --watch [INTERVAL]": the status table
 * redrawn until Ctrl-C
 */
#ifndef DG_WATCH_H
#define DG_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

/* Redraw the status every a->watch_ms until SIGINT; returns the exit code (0). */
int watch_run(const struct client_args *a);

/*
 * Start frame n (0 first): on a terminal clear the screen and go home, else
 * a blank line between frames; then the line "every 2s, Ctrl-C ends (at
 * 22:10:03Z)" for now_wall_ms.
 */
void watch_frame(FILE *out, bool tty, int n, int64_t interval_ms, int64_t now_wall_ms);

#endif
