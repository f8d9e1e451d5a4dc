/*
 * config.h - options of "demotion-guard run": one table drives flags,
 * DEMOTION_GUARD_* environment variables, the --config file and --help
 */
#ifndef DG_CONFIG_H
#define DG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_EXCLUDE 64
#define CONFIG_ERR_LEN     512
#define CONFIG_MAX_OPTIONS 40 /* room for the table to grow */
#define CONFIG_ORIGIN_LEN  300

struct config {
    char *dsn;
    char *pgdata;
    int64_t deadline_ms;
    int64_t stall_after_ms;
    bool kill_stalled;
    int64_t poll_interval_ms;
    char *exclude_slot[CONFIG_MAX_EXCLUDE];
    int n_exclude_slot;
    int64_t physical_deadline_ms; /* -1: off */
    bool dry_run;
    char *audit_log;
    char *listen;             /* "off", "unix:/path", "IP:PORT" or "[IPv6]:PORT" */
    char *token_file;         /* NULL: POSTs need no token */
    char *tls_cert, *tls_key; /* NULL: plain HTTP */
    char *tls_client_ca;      /* NULL: no client certificate asked for */
    enum log_format log_format;
    enum log_level log_level;
    char *config_file;
    /* where each option's value came from ("command line", "from environment
       variable DEMOTION_GUARD_DSN", "configuration file "F" line 3", "default") */
    char origin[CONFIG_MAX_OPTIONS][CONFIG_ORIGIN_LEN];
};

/* Defaults, then file, environment, flags; false with err (cfg must still be freed). */
bool config_load(struct config *cfg, int argc, char **argv, char **environ_, char *err,
                 size_t errlen) __attribute__((warn_unused_result));
/* Release what config_load allocated and clear cfg. */
void config_free(struct config *cfg);
/* Print the options of "run", generated from the table. */
void config_usage(FILE *out);
/* Parse a whole number with ms, s, m or h into *ms; false when malformed or unitless. */
bool config_parse_duration(const char *s, int64_t *ms) __attribute__((warn_unused_result));
/* Does the slot name match one of the --exclude-slot patterns? */
bool config_slot_excluded(const struct config *cfg, const char *slot);
/* Fill names (at most max) with the long option names; returns how many there are. */
int config_option_names(const char **names, int max);
/* Where option name's value came from: "command line", "from environment ...", "default"... */
const char *config_origin(const struct config *cfg, const char *name);

#endif
