/*
 * config.c - the options table, its values (parsed, checked, stored) and the
 * order of its sources (which live in config_source.c)
 *
 * Precedence: flags over DEMOTION_GUARD_* environment variables over the
 * --config file over the defaults.  Every bad value is reported with the
 * option's name, the value and where it came from; nothing is half-applied:
 * config_load() fills a fresh struct and the caller swaps it in.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_def.h"
#include "config_source.h"

#define OFF(f) offsetof(struct config, f)

const struct option_def config_options[] = {
    {"dsn", OPT_STRING, OFF(dsn), "", "CONNINFO",
     "libpq conninfo or URI (libpq environment variables and .pgpass apply)"},
    {"pgdata", OPT_STRING, OFF(pgdata), NULL, "DIR",
     "data directory, for postmaster.pid (default $PGDATA)"},
    {"deadline", OPT_DURATION, OFF(deadline_ms), "10s", "DUR",
     "how long a logical walsender may hold up a shutdown"},
    {"stall-after", OPT_DURATION, OFF(stall_after_ms), "30s", "DUR",
     "confirmed position unmoved this long while behind: stalled"},
    {"kill-stalled-at-shutdown", OPT_YESNO, OFF(kill_stalled), "yes", "yes|no",
     "end stalled logical walsenders as soon as the shutdown starts"},
    {"poll-interval", OPT_DURATION, OFF(poll_interval_ms), "1s", "DUR",
     "how often pg_stat_replication is read"},
    {"exclude-slot", OPT_GLOBS, OFF(exclude_slot), NULL, "GLOB",
     "never terminate walsenders of matching slots (repeatable)"},
    {"physical-deadline", OPT_DURATION_OFF, OFF(physical_deadline_ms), "off", "DUR|off",
     "also terminate physical walsenders after this long (default off)"},
    {"dry-run", OPT_FLAG, OFF(dry_run), "no", NULL,
     "report and audit what would be terminated, terminate nothing"},
    {"audit-log", OPT_STRING, OFF(audit_log), NULL, "FILE", "audit events, one JSON object a line"},
    {"listen", OPT_STRING, OFF(listen), "127.0.0.1:8009", "ADDR",
     "HTTP API: IP:PORT, [IPv6]:PORT, unix:/path or off"},
    {"token-file", OPT_STRING, OFF(token_file), NULL, "FILE",
     "bearer token the POST endpoints require (mode 0600 or stricter)"},
    {"tls-cert", OPT_STRING, OFF(tls_cert), NULL, "FILE",
     "serve HTTPS with this PEM certificate (chain); needs --tls-key"},
    {"tls-key", OPT_STRING, OFF(tls_key), NULL, "FILE",
     "the certificate's PEM private key (mode 0600 or stricter)"},
    {"tls-client-ca", OPT_STRING, OFF(tls_client_ca), NULL, "FILE",
     "require client certificates signed by these PEM CAs (mTLS)"},
    {"log-format", OPT_LOG_FORMAT, OFF(log_format), "text", "text|json",
     "format of the log on stderr"},
    {"log-level", OPT_LOG_LEVEL, OFF(log_level), "info", "debug|info|warn|error",
     "lowest level logged"},
    {"config", OPT_STRING, OFF(config_file), NULL, "FILE",
     "`name = value` lines, names as the long options"},
};

#define N_OPTIONS ((int)(sizeof(config_options) / sizeof(config_options[0])))
_Static_assert(N_OPTIONS <= CONFIG_MAX_OPTIONS, "CONFIG_MAX_OPTIONS is too small");
const int config_n_options = N_OPTIONS;

/* Find an option by its long name; NULL when unknown. */
const struct option_def *config_find_option(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(config_options[i].name) == len &&
            strncmp(config_options[i].name, name, len) == 0)
            return &config_options[i];
    return NULL;
}

/*
 * Parse a duration: a whole number followed by ms, s, m or h.  "0s" is
 * allowed; a bare number is refused since its unit would be a guess.
 */
bool config_parse_duration(const char *s, int64_t *ms)
{
    char *end;
    long long v;
    int64_t mult;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0)
        return false;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mult = 3600 * 1000;
    else
        return false;
    if (v > INT64_MAX / mult || v * mult > 7LL * 24 * 3600 * 1000)
        return false;
    *ms = v * mult;
    return true;
}

/* Parse yes/no (also true/false, on/off, 1/0). */
static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return (*out = true);
        if (strcasecmp(s, no[i]) == 0)
            return !(*out = false);
    }
    return false;
}

/* Append one glob to the exclusion list; false when the list is full. */
static bool add_glob(struct config *cfg, const char *glob)
{
    if (cfg->n_exclude_slot >= CONFIG_MAX_EXCLUDE)
        return false;
    cfg->exclude_slot[cfg->n_exclude_slot++] = strdup(glob);
    return true;
}

/* Replace a string option's value. */
static void set_string(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
}

/* What a valid value of this type looks like, for error messages. */
static const char *expected(enum opt_type type)
{
    switch (type) {
    case OPT_DURATION:
        return "a duration such as 250ms, 10s or 2m (poll-interval 10ms to 1h, stall-after more "
               "than 0)";
    case OPT_DURATION_OFF:
        return "a duration such as 250ms, 10s or 2m, or \"off\"";
    case OPT_YESNO:
    case OPT_FLAG:
        return "yes or no";
    case OPT_GLOBS:
        return "slot name patterns, at most 64";
    case OPT_LOG_FORMAT:
        return "text or json";
    case OPT_LOG_LEVEL:
        return "debug, info, warn or error";
    default:
        return "a value";
    }
}

/* Check the range rules of the duration options. */
static bool duration_in_range(const struct option_def *o, int64_t ms)
{
    if (strcmp(o->name, "poll-interval") == 0)
        return ms >= 10 && ms <= 3600 * 1000;
    if (strcmp(o->name, "stall-after") == 0)
        return ms > 0; /* 0: every lagging walsender would be "stalled" at once */
    return true;
}

/*
 * Store one value into cfg.  A list option given by a new source replaces
 * what an earlier source said.  On failure err names option, value, source.
 */
bool config_set_value(struct config *cfg, const struct option_def *o, const char *value,
                      struct source *src, int *list_source, char *err, size_t errlen)
{
    char *base = (char *)cfg;
    char lower[32];
    const char *keyword = value;
    bool ok = true;

    if (o->type != OPT_STRING && o->type != OPT_GLOBS) {
        /* keywords and units in any case, as yes/no already were */
        size_t i;

        for (i = 0; value[i] && i < sizeof(lower) - 1; i++)
            lower[i] = (char)tolower((unsigned char)value[i]);
        lower[i] = '\0';
        if (value[i] == '\0')
            keyword = lower;
    }
    switch (o->type) {
    case OPT_STRING:
        /* "--listen off" in any case is the keyword, not an address */
        set_string((char **)(base + o->offset),
                   strcmp(o->name, "listen") == 0 && strcasecmp(value, "off") == 0 ? "off" : value);
        break;
    case OPT_DURATION_OFF:
        if (strcmp(keyword, "off") == 0) {
            *(int64_t *)(base + o->offset) = -1;
            break;
        }
        /* fall through */
    case OPT_DURATION:
        ok = config_parse_duration(keyword, (int64_t *)(base + o->offset)) &&
             duration_in_range(o, *(int64_t *)(base + o->offset));
        break;
    case OPT_YESNO:
    case OPT_FLAG:
        ok = parse_bool(value, (bool *)(base + o->offset));
        break;
    case OPT_GLOBS:
        if (*list_source != src->id) {
            for (int i = 0; i < cfg->n_exclude_slot; i++)
                free(cfg->exclude_slot[i]);
            cfg->n_exclude_slot = 0;
            *list_source = src->id;
        }
        ok = value[0] != '\0' && add_glob(cfg, value);
        break;
    case OPT_LOG_FORMAT:
        ok = log_format_parse(keyword, (enum log_format *)(base + o->offset));
        break;
    case OPT_LOG_LEVEL:
        ok = log_level_parse(keyword, (enum log_level *)(base + o->offset));
        break;
    }
    if (!ok)
        snprintf(err, errlen, "invalid value \"%.200s%s\" for option \"--%s\" (%s): expected %s",
                 value, strlen(value) > 200 ? "..." : "", o->name, src->what, expected(o->type));
    else
        snprintf(cfg->origin[o - config_options], sizeof(cfg->origin[0]), "%s", src->what);
    return ok;
}

/*
 * --audit-log must name a file that is not a directory, in a directory that
 * exists: found at start-up (exit 2) and at a reload (kept), not at the first
 * event of a shutdown.  The file itself may not exist yet.
 */
static bool check_audit_log(struct config *cfg, char *err, size_t errlen)
{
    const char *path = cfg->audit_log, *slash, *why = NULL;
    char dir[PATH_MAX];
    struct stat st;

    if (path == NULL || path[0] == '\0')
        return true;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "invalid value \"%.200s%s\" for option \"--audit-log\" (%s): a directory", path,
                 strlen(path) > 200 ? "..." : "", config_origin(cfg, "audit-log"));
        return false;
    }
    slash = strrchr(path, '/');
    if (slash != NULL && slash[1] == '\0') {
        snprintf(err, errlen,
                 "invalid value \"%.200s%s\" for option \"--audit-log\" (%s): ends in \"/\", not "
                 "a file name",
                 path, strlen(path) > 200 ? "..." : "", config_origin(cfg, "audit-log"));
        return false;
    }
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    if (why) {
        snprintf(err, errlen,
                 "invalid value \"%.200s%s\" for option \"--audit-log\" (%s): directory "
                 "\"%.200s%s\": %s",
                 path, strlen(path) > 200 ? "..." : "", config_origin(cfg, "audit-log"), dir,
                 strlen(dir) > 200 ? "..." : "", why);
        return false;
    }
    return true;
}

/*
 * Build a configuration from defaults, file, environment and flags, in that
 * order.  On failure err says what was wrong and cfg must still be freed.
 */
bool config_load(struct config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen)
{
    struct source dflt = {.id = 0, .what = "default"};
    int list_source = -1;
    const char *file;

    memset(cfg, 0, sizeof(*cfg));
    for (const struct option_def *o = config_options; o < config_options + N_OPTIONS; o++)
        if (o->dflt && !config_set_value(cfg, o, o->dflt, &dflt, &list_source, err, errlen))
            return false;
    file = config_find_file(argc, argv, envp);
    if (file && !config_load_file(cfg, file, &list_source, err, errlen))
        return false;
    if (!config_load_env(cfg, envp, &list_source, err, errlen) ||
        !config_load_flags(cfg, argc, argv, &list_source, err, errlen))
        return false;
    if (cfg->pgdata == NULL && config_env_get(envp, "PGDATA"))
        cfg->pgdata = strdup(config_env_get(envp, "PGDATA"));
    return check_audit_log(cfg, err, errlen);
}

/* Release what config_load() allocated. */
void config_free(struct config *cfg)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (config_options[i].type == OPT_STRING)
            free(*(char **)((char *)cfg + config_options[i].offset));
    for (int i = 0; i < cfg->n_exclude_slot; i++)
        free(cfg->exclude_slot[i]);
    memset(cfg, 0, sizeof(*cfg));
}

/* Does the slot name match one of the --exclude-slot patterns? */
bool config_slot_excluded(const struct config *cfg, const char *slot)
{
    for (int i = 0; i < cfg->n_exclude_slot; i++)
        if (fnmatch(cfg->exclude_slot[i], slot, 0) == 0)
            return true;
    return false;
}

/*
 * Where the value of option NAME came from, for errors found after loading
 * (the DSN, the listen address, the token file): "command line", "from
 * environment variable ...", "configuration file ... line N" or "default".
 */
const char *config_origin(const struct config *cfg, const char *name)
{
    const struct option_def *o = config_find_option(name, strlen(name));

    if (o == NULL || cfg->origin[o - config_options][0] == '\0')
        return "default";
    return cfg->origin[o - config_options];
}

/* Fill names with the long option names; returns how many there are. */
int config_option_names(const char **names, int max)
{
    for (int i = 0; i < N_OPTIONS && i < max; i++)
        names[i] = config_options[i].name;
    return N_OPTIONS;
}

/* Print the options of "run", generated from the table. */
void config_usage(FILE *out)
{
    fprintf(out, "options of \"run\" (each also read from DEMOTION_GUARD_<NAME>):\n");
    for (int i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &config_options[i];
        bool dflt = o->dflt && o->type != OPT_FLAG;
        char left[64];

        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(out, "  %-34s %s%s%s%s\n", left, o->help, dflt ? " (default " : "",
                dflt ? o->dflt : "", dflt ? ")" : "");
    }
}
