/*
 * config_source.h - the three sources of options besides the defaults: the
 * --config file, the DEMOTION_GUARD_* environment variables and the flags
 */
#ifndef DG_CONFIG_SOURCE_H
#define DG_CONFIG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Apply a --config file's "name = value" lines; a missing or non-regular file is an error. */
bool config_load_file(struct config *cfg, const char *path, int *list_source, char *err,
                      size_t errlen) __attribute__((warn_unused_result));
/* Apply every DEMOTION_GUARD_* variable of envp; an unknown DEMOTION_GUARD_ name is an error. */
bool config_load_env(struct config *cfg, char **envp, int *list_source, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Apply the flags "--name value", "--name=value", "--flag"; a positional argument is an error. */
bool config_load_flags(struct config *cfg, int argc, char **argv, int *list_source, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* The --config file: the last --config flag, else DEMOTION_GUARD_CONFIG; NULL when neither. */
const char *config_find_file(int argc, char **argv, char **envp);
/* Look NAME up in an environment array; NULL when absent. */
const char *config_env_get(char **envp, const char *name);

#endif
