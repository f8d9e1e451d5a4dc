/*
 * config_args.c - flags and environment: the input is split at '\n' into
 * fields; fields before the first empty one are DEMOTION_GUARD_* style
 * environment entries ("NAME=value"), the rest are argv.  config_load
 * accepts a consistent configuration or refuses with a reason, and frees
 * everything either way.
 */
#include "config.h"
#include "fuzz.h"

#define MAX_FIELDS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[MAX_FIELDS], *env[MAX_FIELDS + 1], *argv[MAX_FIELDS + 1];
    int n = fuzz_fields(data, size, '\n', f, MAX_FIELDS), ne = 0, na = 0, i = 0;
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    for (; i < n && f[i][0] != '\0'; i++) {
        /* never a --config file from the environment: that is config_file's target */
        if (strncmp(f[i], "DEMOTION_GUARD_CONFIG=", 22) != 0)
            env[ne++] = f[i];
    }
    for (i++; i < n; i++)
        if (strncmp(f[i], "--config", 8) != 0)
            argv[na++] = f[i];
    env[ne] = NULL;
    argv[na] = NULL;
    err[0] = '\0';
    if (config_load(&cfg, na, argv, env, err, sizeof(err))) {
        if (cfg.dsn == NULL || cfg.listen == NULL || cfg.deadline_ms < 0 ||
            cfg.poll_interval_ms < 10 || cfg.n_exclude_slot < 0 ||
            cfg.n_exclude_slot > CONFIG_MAX_EXCLUDE || cfg.physical_deadline_ms < -1)
            abort();
        for (int k = 0; k < cfg.n_exclude_slot; k++)
            if (cfg.exclude_slot[k] == NULL || cfg.exclude_slot[k][0] == '\0')
                abort();
    } else if (err[0] == '\0' || strlen(err) >= sizeof(err) - 1 ||
               (!strstr(err, "option") && !strstr(err, "argument") &&
                !strstr(err, "environment variable")))
        abort(); /* a refusal says why, whole, naming what was wrong */
    config_free(&cfg);
    fuzz_free_fields(f, n);
    return 0;
}
