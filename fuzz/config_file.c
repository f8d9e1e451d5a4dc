/*
 * config_file.c - the --config file: config_load reads the input as the
 * file of "name = value" lines.  Accepted or refused, the result is
 * consistent and freed without leaks; a refusal names the file.
 */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, 0600);
    char *argv[] = {"--config", (char *)path, NULL};
    char *env[] = {NULL};
    struct config cfg;
    char err[CONFIG_ERR_LEN];

    err[0] = '\0';
    if (config_load(&cfg, 2, argv, env, err, sizeof(err))) {
        if (cfg.dsn == NULL || cfg.listen == NULL || cfg.deadline_ms < 0 ||
            cfg.poll_interval_ms < 10 || cfg.n_exclude_slot < 0 ||
            cfg.n_exclude_slot > CONFIG_MAX_EXCLUDE || cfg.physical_deadline_ms < -1 ||
            cfg.config_file == NULL || strcmp(cfg.config_file, path) != 0)
            abort();
        for (int i = 0; i < cfg.n_exclude_slot; i++)
            if (cfg.exclude_slot[i] == NULL || cfg.exclude_slot[i][0] == '\0')
                abort();
    } else if (strstr(err, path) == NULL || strlen(err) >= sizeof(err) - 1)
        abort(); /* the error names the file, and is not cut */
    config_free(&cfg);
    return 0;
}
