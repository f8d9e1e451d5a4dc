/*
 * main.c - main(): the command line dispatched to its subcommand (the
 * daemon, the clients of a running one, check, the Patroni hooks), which
 * parses its own options
 *
 * No header: nothing calls into main.c.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "client.h"
#include "config.h"
#include "guard.h"
#include "hook.h"
#include "version.h"

/* Print the top-level usage. */
static void usage(FILE *out)
{
    fprintf(
        out,
        "demotion-guard ends logical walsenders that hold up a PostgreSQL shutdown\n\n"
        "usage:\n"
        "  demotion-guard run [options]   the daemon\n"
        "  demotion-guard status [--json | --watch [I]] | arm [--deadline D] [--reason R] |\n"
        "                 disarm | kill --slot S | --pid P | --stalled | --all-logical [--force]\n"
        "                                  clients of a running daemon (--url, --token-file;\n"
        "                                  \"demotion-guard status --help\")\n"
        "  demotion-guard check [--json]  would a stop now hang? (exit 0 no, 3 the guard\n"
        "                                  ends it, 4 it will not; \"check --help\")\n"
        "  demotion-guard hook before-stop | pre-promote | callback ACTION ROLE SCOPE\n"
        "                                  for Patroni (\"demotion-guard hook --help\")\n"
        "  demotion-guard --version | --help\n\n");
    config_usage(out);
    fprintf(out, "\ndurations: 250ms, 10s, 2m, 1h; exit codes: 0 ok, 1 runtime failure, 2 usage\n");
}

/* Dispatch the command line. */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        version_print(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0) {
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0) {
                usage(stdout);
                return 0;
            }
        return guard_run(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "check") == 0)
        return check_main(argc - 1, argv + 1);
    if (client_is_command(argv[1]))
        return client_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "hook") == 0)
        return hook_main(argc - 2, argv + 2);
    fprintf(stderr, "demotion-guard: unknown command \"%s\" (try --help)\n", argv[1]);
    return 2;
}
