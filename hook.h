/*
 * hook.h - the commands Patroni runs (before-stop, pre-promote, callback)
 */
#ifndef DG_HOOK_H
#define DG_HOOK_H

#include <stddef.h>

#include <jansson.h>

/* Run "demotion-guard hook NAME ...": argv[0] is NAME.  Returns the exit code. */
int hook_main(int argc, char **argv);

/* The guards to arm from Patroni's /cluster answer (unit-tested). */
int hook_peers(const json_t *cluster, const char *self, const char *patroni_url, const char *port,
               char urls[][256], int max, char *err, size_t errlen);

#endif
