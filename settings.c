/*
 * settings.c - the configuration in effect: checked beyond what the loader
 * can check, logged, reloaded on SIGHUP (the old one kept when the new one
 * is wrong), its token and TLS material handed to the HTTP API
 */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "http.h"
#include "listen.h"
#include "log.h"
#include "observe.h"
#include "pgsql.h"
#include "version.h"

extern char **environ;

/* Log the effective configuration (at start-up and after a reload). */
void settings_log(struct guard *g, const char *what)
{
    char dsn[1024];

    pgsql_scrub_dsn(g->cfg.dsn, dsn, sizeof(dsn));
    log_info("demotion-guard %s %s: dsn \"%s\", pgdata \"%s\", deadline %lldms, "
             "stall-after %lldms, kill-stalled-at-shutdown %s, poll-interval %lldms, "
             "physical-deadline %s, %d excluded slot pattern(s)%s",
             version_string(), what, dsn, g->pgdata, (long long)g->cfg.deadline_ms,
             (long long)g->cfg.stall_after_ms, g->cfg.kill_stalled ? "yes" : "no",
             (long long)g->cfg.poll_interval_ms, g->cfg.physical_deadline_ms < 0 ? "off" : "on",
             g->cfg.n_exclude_slot, g->cfg.dry_run ? ", dry run: nothing will be terminated" : "");
}

/* Check what the config loader cannot: libpq can parse the DSN, the data directory exists. */
bool settings_check(const struct config *cfg, char *err, size_t errlen)
{
    struct tls_material tls;
    struct stat st;
    char why[512];

    if (!pgsql_check_dsn(cfg->dsn, why, sizeof(why))) {
        /* the value is not repeated: it may hold a password */
        snprintf(err, errlen, "invalid value for option \"--dsn\" (%s): %s",
                 config_origin(cfg, "dsn"), why);
        return false;
    }
    if (!listen_check(cfg->listen,
                      cfg->token_file != NULL || (cfg->tls_client_ca && cfg->tls_client_ca[0]), why,
                      sizeof(why))) {
        snprintf(err, errlen, "%s (source of --listen: %s)", why, config_origin(cfg, "listen"));
        return false;
    }
    if (!http_tls_read(cfg->listen, cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &tls, err,
                       errlen))
        return false;
    tls_free(&tls);
    if (cfg->token_file) {
        char *token;

        if (!http_token_read(cfg->token_file, &token, why, sizeof(why))) {
            snprintf(err, errlen, "invalid value for option \"--token-file\" (%s): %s",
                     config_origin(cfg, "token-file"), why);
            return false;
        }
        free(token);
    }
    if (cfg->pgdata == NULL || cfg->pgdata[0] == '\0')
        return true;
    if (stat(cfg->pgdata, &st) != 0) {
        snprintf(err, errlen, "invalid value \"%s\" for option \"--pgdata\": %s", cfg->pgdata,
                 strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "invalid value \"%s\" for option \"--pgdata\": not a directory",
                 cfg->pgdata);
        return false;
    }
    return true;
}

/* Keep the --listen in effect (a change takes a restart). */
static void set_listen(struct config *cfg, const char *listen)
{
    char *l = strdup(listen);

    if (l == NULL)
        return;
    free(cfg->listen);
    cfg->listen = l;
}

/* Read --token-file (validated already) and hand the token to the server. */
void settings_load_token(struct guard *g, const struct config *cfg)
{
    char err[512], *token = NULL;

    if (cfg->token_file && !http_token_read(cfg->token_file, &token, err, sizeof(err)))
        log_error("%s; POST requests are refused until it is fixed", err);
    if (cfg->token_file && token == NULL)
        token = strdup(""); /* matches no bearer: http_bearer_ok needs the exact token */
    free(g->token);
    g->token = token;
    if (g->http)
        http_set_token(g->http, g->token);
}

/*
 * Read the TLS files (validated already) and, when the API is up, restart
 * its listener with them; on failure the previous material stays in use.
 */
void settings_load_tls(struct guard *g, const struct config *cfg)
{
    struct tls_material tls;
    char err[512];

    if (!http_tls_read(cfg->listen, cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &tls, err,
                       sizeof(err))) {
        log_error("%s; keeping the previous TLS certificate", err);
        return;
    }
    if (tls_equal(&tls, &g->tls)) {
        tls_free(&tls);
        return;
    }
    if (g->http && !http_set_tls(g->http, &tls, err, sizeof(err))) {
        log_error("TLS not reloaded, keeping the previous certificate: %s", err);
        tls_free(&tls);
        return;
    }
    if (g->http)
        log_info("HTTP API on %s: TLS material reloaded%s", http_bound(g->http),
                 tls.cert ? "" : ", now plain HTTP");
    tls_free(&g->tls);
    g->tls = tls;
}

/* Re-read the configuration; keep the old one if the new one is invalid. */
void settings_reload(struct guard *g)
{
    struct config nc;
    char err[CONFIG_ERR_LEN];

    if (!config_load(&nc, g->argc, g->argv, environ, err, sizeof(err)) ||
        !settings_check(&nc, err, sizeof(err))) {
        log_error("configuration not reloaded, keeping the previous one: %s", err);
        config_free(&nc);
        return;
    }
    if (strcmp(nc.listen, g->cfg.listen) != 0)
        log_warn("option \"--listen\" changed to \"%s\": that takes a restart; still serving "
                 "\"%s\"",
                 nc.listen, g->cfg.listen);
    set_listen(&nc, g->cfg.listen);
    /* the address still served must keep its token or mTLS */
    if (!listen_check(nc.listen, nc.token_file != NULL || (nc.tls_client_ca && nc.tls_client_ca[0]),
                      err, sizeof(err))) {
        log_error("configuration not reloaded, keeping the previous one: %s", err);
        config_free(&nc);
        return;
    }
    if (strcmp(nc.dsn, g->cfg.dsn) != 0)
        pgsql_disconnect(g->sql);
    settings_load_token(g, &nc);
    settings_load_tls(g, &nc);
    config_free(&g->cfg);
    g->cfg = nc;
    g->policy.cfg = &g->cfg;
    log_setup(g->cfg.log_format, g->cfg.log_level);
    if (g->cfg.pgdata && strcmp(g->cfg.pgdata, g->pgdata) != 0) {
        snprintf(g->pgdata, sizeof(g->pgdata), "%s", g->cfg.pgdata);
        g->seen_pm = (struct pm_ident){0}; /* another directory's postmaster is no replacement */
    }
    observe_watch_pgdata(g);
    audit_set_path(g->audit, g->cfg.audit_log);
    settings_log(g, "configuration reloaded");
}
