/*
 * settings.h - the daemon's configuration in effect: checked, logged,
 * reloaded on SIGHUP, its token and TLS material handed to the HTTP API
 */
#ifndef DG_SETTINGS_H
#define DG_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "guard.h"

/* Check what the config loader cannot (the DSN, --listen's rules, TLS and token files, --pgdata).
 */
bool settings_check(const struct config *cfg, char *err, size_t errlen);
/* Log the configuration in effect (what: "starting", "configuration reloaded"). */
void settings_log(struct guard *g, const char *what);
/* Read --token-file (checked already) and hand the token to the HTTP API. */
void settings_load_token(struct guard *g, const struct config *cfg);
/* Read the TLS files and restart the API's listener with them; kept as they were on failure. */
void settings_load_tls(struct guard *g, const struct config *cfg);
/* SIGHUP: load the configuration again, keeping the one in effect when the new one is wrong. */
void settings_reload(struct guard *g);

#endif
