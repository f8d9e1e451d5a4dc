/*
 * config.c - the options table and its three sources
 *
 * Precedence: flags over DEMOTION_GUARD_* environment variables over the
 * --config file over the defaults.  Every bad value is reported with the
 * option's name, the value and where it came from; nothing is half-applied:
 * config_load() fills a fresh struct and the caller swaps it in.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum opt_type {
    OPT_STRING,
    OPT_DURATION,
    OPT_DURATION_OFF,
    OPT_YESNO,
    OPT_FLAG,
    OPT_GLOBS,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL
};

struct option_def {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *dflt; /* NULL: empty / unset */
    const char *arg;
    const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct option_def options[] = {
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

/* The longest line of a --config file, newline included. */
#define CONFIG_MAX_LINE 4095

#define N_OPTIONS ((int)(sizeof(options) / sizeof(options[0])))
_Static_assert(N_OPTIONS <= CONFIG_MAX_OPTIONS, "CONFIG_MAX_OPTIONS is too small");

/* Where a value came from, for error messages and list replacement. */
struct source {
    int id; /* 0 default, 1 file, 2 environment, 3 flags */
    char what[256];
};

/* Find an option by its long name; NULL when unknown. */
static const struct option_def *find_option(const char *name, size_t len)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
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
static bool set_value(struct config *cfg, const struct option_def *o, const char *value,
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
        snprintf(cfg->origin[o - options], sizeof(cfg->origin[0]), "%s", src->what);
    return ok;
}

/* Strip leading and trailing blanks in place; returns the new start. */
static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/*
 * Parse one line of a config file: blank, "# comment" or "name = value"
 * (value optionally in double quotes).  Fails naming file and line.
 */
static bool parse_file_line(struct config *cfg, char *line, struct source *src, int *list_source,
                            char *err, size_t errlen)
{
    char *eq, *name, *value;
    const struct option_def *o;

    line = trim(line);
    if (line[0] == '\0' || line[0] == '#')
        return true;
    eq = strchr(line, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "%s: expected \"name = value\"", src->what);
        return false;
    }
    *eq = '\0';
    name = trim(line);
    value = trim(eq + 1);
    if (value[0] == '"' && strlen(value) >= 2 && value[strlen(value) - 1] == '"') {
        value[strlen(value) - 1] = '\0';
        value++;
    }
    o = find_option(name, strlen(name));
    if (o == NULL || strcmp(o->name, "config") == 0) {
        snprintf(err, errlen, "%s: unknown option \"%.200s%s\"", src->what, name,
                 strlen(name) > 200 ? "..." : "");
        return false;
    }
    return set_value(cfg, o, value, src, list_source, err, errlen);
}

/*
 * Open the --config file for reading: a regular file only.  O_NONBLOCK so
 * that a FIFO (or a device) is refused at once instead of blocking the
 * start or a reload.  NULL with err naming the option and the file.
 */
static FILE *open_config_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f;

    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "could not open configuration file \"%s\": %s", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen,
                 "invalid value \"%s\" for option \"--config\": not a regular file (mode %06o)",
                 path, (unsigned)st.st_mode);
        close(fd);
        return NULL;
    }
    f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(err, errlen, "could not open configuration file \"%s\": %s", path,
                 strerror(errno));
        close(fd);
    }
    return f;
}

/* Read the --config file; a missing, unreadable or non-regular file is an error. */
static bool load_file(struct config *cfg, const char *path, int *list_source, char *err,
                      size_t errlen)
{
    FILE *f = open_config_file(path, err, errlen);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    struct source src = {.id = 1};
    int lineno = 0;
    bool ok = true;

    if (f == NULL)
        return false;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len) != NULL) {
            snprintf(err, errlen, "configuration file \"%s\" line %d: contains a NUL byte", path,
                     lineno);
            ok = false;
            break;
        }
        if (len > CONFIG_MAX_LINE) {
            snprintf(err, errlen,
                     "configuration file \"%s\" line %d: line too long (over %d bytes)", path,
                     lineno, CONFIG_MAX_LINE);
            ok = false;
            break;
        }
        snprintf(src.what, sizeof(src.what), "configuration file \"%s\" line %d", path, lineno);
        ok = parse_file_line(cfg, line, &src, list_source, err, errlen);
    }
    if (ok && ferror(f)) {
        snprintf(err, errlen, "could not read configuration file \"%s\": %s", path,
                 strerror(errno));
        ok = false;
    }
    free(line);
    fclose(f);
    return ok;
}

/* The environment variable name of an option: DEMOTION_GUARD_STALL_AFTER. */
static void env_name(const struct option_def *o, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "DEMOTION_GUARD_%s", o->name);

    for (size_t i = 0; i < n && i < len; i++)
        buf[i] = buf[i] == '-' ? '_' : (char)toupper((unsigned char)buf[i]);
}

/* DEMOTION_GUARD_ variables that are not options of "run". */
static const char *const env_not_options[] = {"DEMOTION_GUARD_CONFIG", "DEMOTION_GUARD_URL",
                                              "DEMOTION_GUARD_CACERT", "DEMOTION_GUARD_CERT",
                                              "DEMOTION_GUARD_KEY",    NULL};

/*
 * Refuse a DEMOTION_GUARD_ variable that names no option: a typo would
 * otherwise silently keep a default.
 */
static bool check_env_names(char **envp, char *err, size_t errlen)
{
    for (; envp && *envp; envp++) {
        const char *e = *envp, *eq = strchr(e, '=');
        bool known = false;
        char name[80];

        if (strncmp(e, "DEMOTION_GUARD_", 15) != 0 || eq == NULL)
            continue;
        for (int i = 0; !known && env_not_options[i]; i++)
            known = strlen(env_not_options[i]) == (size_t)(eq - e) &&
                    strncmp(e, env_not_options[i], (size_t)(eq - e)) == 0;
        for (int i = 0; !known && i < N_OPTIONS; i++) {
            env_name(&options[i], name, sizeof(name));
            known = strlen(name) == (size_t)(eq - e) && strncmp(e, name, (size_t)(eq - e)) == 0;
        }
        if (!known) {
            snprintf(err, errlen, "unknown environment variable %.*s%s (no such option)",
                     (int)(eq - e > 200 ? 200 : eq - e), e, eq - e > 200 ? "..." : "");
            return false;
        }
    }
    return true;
}

/* Look NAME up in an environment array; NULL when absent. */
static const char *env_get(char **envp, const char *name)
{
    size_t len = strlen(name);

    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
            return *envp + len + 1;
    return NULL;
}

/*
 * Apply every DEMOTION_GUARD_* variable.  The exclude list there is
 * comma-separated.  An unknown DEMOTION_GUARD_ name is an error too.
 */
static bool load_env(struct config *cfg, char **envp, int *list_source, char *err, size_t errlen)
{
    if (!check_env_names(envp, err, errlen))
        return false;
    for (int i = 0; i < N_OPTIONS; i++) {
        const struct option_def *o = &options[i];
        struct source src = {.id = 2};
        char name[80];
        const char *v;

        env_name(o, name, sizeof(name));
        v = env_get(envp, name);
        if (v == NULL || strcmp(o->name, "config") == 0)
            continue;
        snprintf(src.what, sizeof(src.what), "from environment variable %s", name);
        if (o->type == OPT_GLOBS) {
            /* every comma-separated item is a pattern: an empty one is refused
               as --exclude-slot '' is, not skipped */
            char *copy = strdup(v), *item = copy;
            bool ok = copy != NULL;

            while (ok) {
                char *comma = strchr(item, ',');

                if (comma)
                    *comma = '\0';
                if (trim(item)[0] == '\0') {
                    snprintf(err, errlen,
                             "invalid value \"%.200s%s\" for option \"--exclude-slot\" (%s): "
                             "an empty slot name pattern",
                             v, strlen(v) > 200 ? "..." : "", src.what);
                    ok = false;
                    break;
                }
                ok = set_value(cfg, o, trim(item), &src, list_source, err, errlen);
                if (comma == NULL)
                    break;
                item = comma + 1;
            }
            free(copy);
            if (!ok)
                return false;
        } else if (!set_value(cfg, o, v, &src, list_source, err, errlen))
            return false;
    }
    return true;
}

/*
 * Apply command-line flags: "--name value", "--name=value", and for flag
 * options "--name" alone.  Positional arguments are refused.
 */
static bool load_flags(struct config *cfg, int argc, char **argv, int *list_source, char *err,
                       size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *eq, *value;
        const struct option_def *o;
        struct source src = {.id = 3, .what = "command line"};

        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%.200s%s\"", arg,
                     strlen(arg) > 200 ? "..." : "");
            return false;
        }
        eq = strchr(arg + 2, '=');
        o = find_option(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
        if (o == NULL) {
            snprintf(err, errlen, "unknown option \"%.200s%s\"", arg,
                     strlen(arg) > 200 ? "..." : "");
            return false;
        }
        if (eq)
            value = eq + 1;
        else if (o->type == OPT_FLAG)
            value = "yes";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "option \"--%s\" needs a value (%s)", o->name, o->arg);
            return false;
        }
        if (!set_value(cfg, o, value, &src, list_source, err, errlen))
            return false;
    }
    return true;
}

/*
 * The --config file: from the flags if given (the last one, as for every
 * flag), else the environment.
 */
static const char *find_config_file(int argc, char **argv, char **envp)
{
    const char *file = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    return file ? file : env_get(envp, "DEMOTION_GUARD_CONFIG");
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
    for (int i = 0; i < N_OPTIONS; i++)
        if (options[i].dflt &&
            !set_value(cfg, &options[i], options[i].dflt, &dflt, &list_source, err, errlen))
            return false;
    file = find_config_file(argc, argv, envp);
    if (file && !load_file(cfg, file, &list_source, err, errlen))
        return false;
    if (!load_env(cfg, envp, &list_source, err, errlen) ||
        !load_flags(cfg, argc, argv, &list_source, err, errlen))
        return false;
    if (cfg->pgdata == NULL && env_get(envp, "PGDATA"))
        cfg->pgdata = strdup(env_get(envp, "PGDATA"));
    return check_audit_log(cfg, err, errlen);
}

/* Release what config_load() allocated. */
void config_free(struct config *cfg)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STRING)
            free(*(char **)((char *)cfg + options[i].offset));
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
    const struct option_def *o = find_option(name, strlen(name));

    if (o == NULL || cfg->origin[o - options][0] == '\0')
        return "default";
    return cfg->origin[o - options];
}

/* Fill names with the long option names; returns how many there are. */
int config_option_names(const char **names, int max)
{
    for (int i = 0; i < N_OPTIONS && i < max; i++)
        names[i] = options[i].name;
    return N_OPTIONS;
}

/* Print the options of "run", generated from the table. */
void config_usage(FILE *out)
{
    fprintf(out, "options of \"run\" (each also read from DEMOTION_GUARD_<NAME>):\n");
    for (int i = 0; i < N_OPTIONS; i++) {
        char left[64];

        snprintf(left, sizeof(left), "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        fprintf(out, "  %-34s %s%s%s%s\n", left, options[i].help,
                options[i].dflt && options[i].type != OPT_FLAG ? " (default " : "",
                options[i].dflt && options[i].type != OPT_FLAG ? options[i].dflt : "",
                options[i].dflt && options[i].type != OPT_FLAG ? ")" : "");
    }
}
