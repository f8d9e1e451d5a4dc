/*
 * client_args.c - the command lines of the clients (status, arm, disarm,
 * kill) and of check: fields split at '\n', those before the first empty
 * one are the environment, the rest argv (argv[0] the command).  What is
 * accepted is consistent; a refusal says why.
 */
#include "check.h"
#include "client.h"
#include "fuzz.h"
#include "transport.h"

#define MAX_FIELDS 24

/* Does a refusal say, whole, what was wrong: an option, an argument or the command? */
static bool named(const char *err)
{
    return strlen(err) < CLIENT_ERR_LEN - 1 &&
           (strstr(err, "--") || strstr(err, "argument") || strstr(err, "command"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[MAX_FIELDS], *env[MAX_FIELDS + 1], *argv[MAX_FIELDS + 1];
    int n = fuzz_fields(data, size, '\n', f, MAX_FIELDS), ne = 0, na = 0, i = 0;
    struct client_args a;
    struct check_args ca;
    char err[CLIENT_ERR_LEN];

    for (; i < n && f[i][0] != '\0'; i++)
        env[ne++] = f[i];
    for (i++; i < n; i++)
        argv[na++] = f[i];
    env[ne] = argv[na] = NULL;
    err[0] = '\0';
    if (na > 0 && strcmp(argv[0], "check") == 0) {
        if (check_parse_args(na, argv, env, &ca, err, sizeof(err))) {
            if (!ca.help && (ca.url == NULL || ca.timeout_ms <= 0))
                abort();
        } else if (!named(err))
            abort();
    } else if (client_parse_args(na, argv, env, &a, err, sizeof(err))) {
        if (!a.help) {
            struct transport_endpoint ep;
            json_t *b;

            if (a.url == NULL || a.timeout_ms <= 0 ||
                (a.cmd == CLIENT_KILL && a.n_selectors != 1) || a.pid < 0 ||
                !transport_endpoint(a.url, client_request_path(a.cmd), &ep, err, sizeof(err)))
                abort();
            /* the body the command would send is one the server takes */
            b = client_request_body(&a);
            if (a.cmd != CLIENT_STATUS && b == NULL)
                abort();
            /* ... and carries every field given: none dropped on the way */
            if (b && ((a.reason && !json_object_get(b, "reason")) ||
                      (a.cmd == CLIENT_KILL && a.slot && !json_object_get(b, "slot")) ||
                      (a.cmd == CLIENT_ARM && a.deadline && !json_object_get(b, "deadline"))))
                abort();
            json_decref(b);
        }
    } else if (!named(err))
        abort();
    fuzz_free_fields(f, n);
    return 0;
}
