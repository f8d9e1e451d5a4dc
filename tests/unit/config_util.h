/*
 * config_util.h - helpers shared by test_config.c and test_config_source.c:
 * load a configuration, expect a refusal naming what was wrong, write a
 * --config file
 */
#ifndef DG_CONFIG_UTIL_H
#define DG_CONFIG_UTIL_H

#include "unit_util.h"

#include "config.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *no_env[] = {NULL};

/* Load a configuration from argv/env; returns config_load's verdict. */
static inline bool load(struct config *cfg, char *err, int argc, char **argv, char **env)
{
    err[0] = '\0';
    return config_load(cfg, argc, argv, env, err, CONFIG_ERR_LEN);
}

/* Expect config_load to fail with an error that mentions both needles. */
static inline void expect_error(int argc, char **argv, char **env, const char *n1, const char *n2)
{
    struct config cfg;
    char err[CONFIG_ERR_LEN];
    bool ok = load(&cfg, err, argc, argv, env);

    config_free(&cfg); /* before any assertion, so a failure leaks nothing */
    assert_false(ok);
    if (n1 && strstr(err, n1) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", err, n1);
    if (n2 && strstr(err, n2) == NULL)
        fail_msg("error \"%s\" does not name \"%s\"", err, n2);
    config_free(&cfg);
}

/* Expect one flag's value to be refused, the error naming option and value. */
static inline void expect_bad_flag(const char *opt, const char *value)
{
    char flag[128];
    char *argv[2];

    snprintf(flag, sizeof(flag), "--%s", opt);
    argv[0] = flag;
    argv[1] = (char *)value;
    expect_error(2, argv, no_env, flag, value);
}

/* Write DIR/name and fill arg with "--config=DIR/name". */
static inline void config_file_arg(const char *dir, const char *name, const char *text, char *arg,
                            size_t len)
{
    ut_write_file(dir, name, text);
    assert_true((size_t)snprintf(arg, len, "--config=%s/%s", dir, name) < len);
}

#endif
