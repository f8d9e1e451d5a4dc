/*
 * config_source.c - the three sources of options: the --config file (its
 * lines, opened without blocking, a regular file only), the DEMOTION_GUARD_*
 * environment (an unknown name refused) and the command-line flags
 *
 * Each source stores its values through config_set_value(), naming itself
 * in struct source; config_load() in config.c applies them in order.
 */
#include "config_source.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_def.h"

/* The longest line of a --config file, newline included. */
#define CONFIG_MAX_LINE 4095

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
    o = config_find_option(name, strlen(name));
    if (o == NULL || strcmp(o->name, "config") == 0) {
        snprintf(err, errlen, "%s: unknown option \"%.200s%s\"", src->what, name,
                 strlen(name) > 200 ? "..." : "");
        return false;
    }
    return config_set_value(cfg, o, value, src, list_source, err, errlen);
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
bool config_load_file(struct config *cfg, const char *path, int *list_source, char *err,
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
        for (int i = 0; !known && i < config_n_options; i++) {
            env_name(&config_options[i], name, sizeof(name));
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
const char *config_env_get(char **envp, const char *name)
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
bool config_load_env(struct config *cfg, char **envp, int *list_source, char *err, size_t errlen)
{
    if (!check_env_names(envp, err, errlen))
        return false;
    for (int i = 0; i < config_n_options; i++) {
        const struct option_def *o = &config_options[i];
        struct source src = {.id = 2};
        char name[80];
        const char *v;

        env_name(o, name, sizeof(name));
        v = config_env_get(envp, name);
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
                ok = config_set_value(cfg, o, trim(item), &src, list_source, err, errlen);
                if (comma == NULL)
                    break;
                item = comma + 1;
            }
            free(copy);
            if (!ok)
                return false;
        } else if (!config_set_value(cfg, o, v, &src, list_source, err, errlen))
            return false;
    }
    return true;
}

/*
 * Apply command-line flags: "--name value", "--name=value", and for flag
 * options "--name" alone.  Positional arguments are refused.
 */
bool config_load_flags(struct config *cfg, int argc, char **argv, int *list_source, char *err,
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
        o = config_find_option(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
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
        if (!config_set_value(cfg, o, value, &src, list_source, err, errlen))
            return false;
    }
    return true;
}

/*
 * The --config file: from the flags if given (the last one, as for every
 * flag), else the environment.
 */
const char *config_find_file(int argc, char **argv, char **envp)
{
    const char *file = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    return file ? file : config_env_get(envp, "DEMOTION_GUARD_CONFIG");
}
