/*
 * client.h - the command-line clients of a running daemon (status, arm,
 * disarm, kill): their arguments, request bodies and run
 *
 * The pure parts (argument parsing, request paths and bodies) are declared
 * here for the unit tests; client_main does the I/O, through transport.h,
 * and prints with client_render.h.
 */
#ifndef DG_CLIENT_H
#define DG_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLIENT_ERR_LEN          512
#define CLIENT_WATCH_DEFAULT_MS 2000

enum client_command { CLIENT_STATUS, CLIENT_ARM, CLIENT_DISARM, CLIENT_KILL };

/* What the command line asks for.  Strings point into argv or the environment. */
struct client_args {
    enum client_command cmd;
    const char *url;        /* --url, DEMOTION_GUARD_URL or TRANSPORT_DEFAULT_URL */
    const char *token_file; /* --token-file, DEMOTION_GUARD_TOKEN_FILE; NULL: none */
    const char *cacert;     /* --cacert, DEMOTION_GUARD_CACERT; NULL: the system's CAs */
    const char *cert, *key; /* --cert, --key (DEMOTION_GUARD_CERT, _KEY): a client certificate */
    int64_t timeout_ms;     /* --timeout, default 10 s */
    bool help;              /* --help: print the usage, nothing else is checked */
    bool json;              /* status --json */
    int64_t watch_ms;       /* status --watch [INTERVAL]; 0: once */
    const char *deadline;   /* arm --deadline, as given (checked) */
    const char *reason;     /* arm, disarm, kill --reason */
    int n_selectors;        /* kill: how many of the four were given */
    const char *slot;       /* kill --slot */
    int pid;                /* kill --pid, 0: not given */
    bool stalled;           /* kill --stalled */
    bool all_logical;       /* kill --all-logical */
    bool force;             /* kill --force */
};

/* Run "demotion-guard CMD ...": argv[0] is CMD.  Returns the exit code (0, 1, 2). */
int client_main(int argc, char **argv);
/* Is cmd one of the clients (status, arm, disarm, kill)? */
bool client_is_command(const char *cmd);

/* Parse "CMD [options]" (argv[0] is CMD; flags win over environ_): false with err naming
   the option or value on a usage error; stops early, with a->help set, at --help. */
bool client_parse_args(int argc, char **argv, char **environ_, struct client_args *a, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* Print the usage of one client command. */
void client_usage(enum client_command cmd, FILE *out);
/* The JSON body of a POST (only the fields given); NULL for status. */
json_t *client_request_body(const struct client_args *a);
/* The API path a command posts to or, for status, the first one it gets. */
const char *client_request_path(enum client_command cmd);

/* The value of name in a NULL-terminated environment; NULL when unset or empty. */
const char *client_env_get(char **environ_, const char *name);

#endif
