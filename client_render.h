/*
 * client_render.h - the daemon's JSON answers for a person: the status
 * table and the walsender table, the answers of arm, disarm and kill, and
 * the human units and terminal-safe text they are made of
 */
#ifndef DG_CLIENT_RENDER_H
#define DG_CLIENT_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Human bytes: "176 B", "162.6 KiB", "3.0 GiB"; "-" when negative (unknown). */
void client_render_bytes(int64_t bytes, char *buf, size_t len);
/* Human duration: "250ms", "3.5s", "45s", "2m05s", "1h", "2d03h"; "-" when negative. */
void client_render_duration(int64_t ms, char *buf, size_t len);
/* Copy UTF-8 text for a terminal: control characters and broken sequences become '?', cut
   on a character boundary to fit outlen; returns the width in columns. */
int client_render_sanitize(const char *in, char *out, size_t outlen);
/* The string member key of o; NULL when absent or not a string. */
const char *client_render_str(const json_t *o, const char *key);
/* The number member key of o into *v; false when absent, null or not a number. */
bool client_render_num(const json_t *o, const char *key, int64_t *v);

/* Print GET /v1/status and GET /v1/walsenders of the daemon at url: the header, the
   walsender table, the counters; now_wall_ms (0: unknown) gives the phase's age. */
void client_render_status(FILE *out, const char *url, const json_t *status,
                          const json_t *walsenders, int64_t now_wall_ms);
/* Print the answer of POST /v1/arm: "armed: deadline 5s (at 22:10:03Z), trigger api". */
void client_render_arm(FILE *out, const json_t *body);
/* Print the answer of POST /v1/disarm: "disarmed (phase observing)" or "was not armed". */
void client_render_disarm(FILE *out, const json_t *body);
/* Print the answer of POST /v1/kill: one line per target, or that none was selected. */
void client_render_kill(FILE *out, const json_t *body);

#endif
