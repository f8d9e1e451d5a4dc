/*
 * config_def.h - what config.c and config_source.c share: the options
 * table's row, where a value came from, and storing one value (internal:
 * nothing outside the configuration includes it)
 */
#ifndef DG_CONFIG_DEF_H
#define DG_CONFIG_DEF_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

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

/* One row of the options table. */
struct option_def {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *dflt; /* NULL: empty / unset */
    const char *arg;
    const char *help;
};

/* Where a value came from, for error messages and list replacement. */
struct source {
    int id; /* 0 default, 1 file, 2 environment, 3 flags */
    char what[256];
};

/* The options table, and how many rows it has. */
extern const struct option_def config_options[];
extern const int config_n_options;

/* Find an option by its long name (len bytes of name); NULL when unknown. */
const struct option_def *config_find_option(const char *name, size_t len);
/*
 * Store one value into cfg, noting src as its origin; a list option given by
 * a new source replaces what an earlier one said.  On failure err names the
 * option, the value, the source and what was expected.
 */
bool config_set_value(struct config *cfg, const struct option_def *o, const char *value,
                      struct source *src, int *list_source, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
