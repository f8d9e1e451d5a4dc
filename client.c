/*
 * client.c - "demotion-guard status | arm | disarm | kill": the command
 * line of the clients of a running daemon's HTTP API (API.md), and their run
 *
 * Exit codes: 0 ok; 1 the daemon could not be reached or answered with an
 * error status (one line on stderr); 2 a usage error.  The parsing of the
 * command line and the request bodies are pure functions (see client.h);
 * the requests go through transport.c, the answers are printed by
 * client_render.c, the token is read by token.c and never printed.
 */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_render.h"
#include "clock.h"
#include "config.h"
#include "token.h"
#include "transport.h"
#include "watch.h"

static const char *const command_names[] = {"status", "arm", "disarm", "kill"};

/* Bits of struct client_opt.cmds: which commands take an option. */
#define ALL_CMDS   0xfu
#define CMD_BIT(c) (1u << (c))

enum opt_id {
    OPT_URL,
    OPT_TOKEN_FILE,
    OPT_TIMEOUT,
    OPT_HELP,
    OPT_JSON,
    OPT_DEADLINE,
    OPT_REASON,
    OPT_SLOT,
    OPT_PID,
    OPT_STALLED,
    OPT_ALL_LOGICAL,
    OPT_FORCE,
    OPT_WATCH,
    OPT_CACERT,
    OPT_CERT,
    OPT_KEY
};

/* One option of the clients: its name, whether it takes a value, who takes it. */
struct client_opt {
    const char *name;
    bool has_value;
    unsigned cmds;
    enum opt_id id;
};

static const struct client_opt client_options[] = {
    {"url", true, ALL_CMDS, OPT_URL},
    {"token-file", true, ALL_CMDS, OPT_TOKEN_FILE},
    {"timeout", true, ALL_CMDS, OPT_TIMEOUT},
    {"cacert", true, ALL_CMDS, OPT_CACERT},
    {"cert", true, ALL_CMDS, OPT_CERT},
    {"key", true, ALL_CMDS, OPT_KEY},
    {"help", false, ALL_CMDS, OPT_HELP},
    {"json", false, CMD_BIT(CLIENT_STATUS), OPT_JSON},
    {"deadline", true, CMD_BIT(CLIENT_ARM), OPT_DEADLINE},
    {"reason", true, CMD_BIT(CLIENT_ARM) | CMD_BIT(CLIENT_DISARM) | CMD_BIT(CLIENT_KILL),
     OPT_REASON},
    {"slot", true, CMD_BIT(CLIENT_KILL), OPT_SLOT},
    {"pid", true, CMD_BIT(CLIENT_KILL), OPT_PID},
    {"stalled", false, CMD_BIT(CLIENT_KILL), OPT_STALLED},
    {"all-logical", false, CMD_BIT(CLIENT_KILL), OPT_ALL_LOGICAL},
    {"force", false, CMD_BIT(CLIENT_KILL), OPT_FORCE},
    {"watch", false, CMD_BIT(CLIENT_STATUS), OPT_WATCH}, /* an optional value: see set_watch */
};

#define N_OPTIONS ((int)(sizeof(client_options) / sizeof(client_options[0])))

/* The command named cmd; false when it is none of the clients. */
static bool command_of(const char *cmd, enum client_command *out)
{
    for (int i = 0; i <= CLIENT_KILL; i++)
        if (strcmp(cmd, command_names[i]) == 0) {
            *out = (enum client_command)i;
            return true;
        }
    return false;
}

/* Is cmd one of the clients (status, arm, disarm, kill)? */
bool client_is_command(const char *cmd)
{
    enum client_command c;

    return cmd != NULL && command_of(cmd, &c);
}

/* The value of NAME in a NULL-terminated environment; NULL when unset or empty. */
const char *client_env_get(char **environ_, const char *name)
{
    size_t n = strlen(name);

    for (char **e = environ_; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return (*e)[n + 1] ? *e + n + 1 : NULL;
    return NULL;
}

/* Find the option "--name" or "--name=value" of cmd; NULL (err filled) when unknown. */
static const struct client_opt *lookup_option(enum client_command cmd, const char *arg,
                                              const char **inline_value, char *err, size_t errlen)
{
    const char *eq;
    size_t n;

    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        snprintf(err, errlen, "unexpected argument \"%.200s%s\"", arg,
                 strlen(arg) > 200 ? "..." : "");
        return NULL;
    }
    eq = strchr(arg, '=');
    n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    *inline_value = eq ? eq + 1 : NULL;
    for (int i = 0; i < N_OPTIONS; i++)
        if (strlen(client_options[i].name) == n &&
            strncmp(arg + 2, client_options[i].name, n) == 0 &&
            (client_options[i].cmds & CMD_BIT(cmd)))
            return &client_options[i];
    snprintf(err, errlen, "unknown option \"%.*s%s\" for \"%s\"", (int)(n + 2 > 200 ? 200 : n + 2),
             arg, n + 2 > 200 ? "..." : "", command_names[cmd]);
    return NULL;
}

/* Parse a kill --pid: a positive decimal int. */
static bool parse_pid(const char *s, int *pid)
{
    char *end;
    long v;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
        return false;
    *pid = (int)v;
    return true;
}

/* Can v be sent as a JSON string?  (json_string refuses invalid UTF-8.) */
static bool utf8_ok(const char *v)
{
    json_t *j = json_string(v);

    json_decref(j);
    return j != NULL;
}

/* Store the value of a valued option; false (err naming it) when the value is bad. */
static bool take_value(struct client_args *a, const struct client_opt *o, const char *v, char *err,
                       size_t errlen)
{
    int64_t ms;
    bool ok = v[0] != '\0';

    if (o->id == OPT_URL)
        a->url = v;
    else if (o->id == OPT_TOKEN_FILE)
        a->token_file = v;
    else if (o->id == OPT_CACERT)
        a->cacert = v;
    else if (o->id == OPT_CERT)
        a->cert = v;
    else if (o->id == OPT_KEY)
        a->key = v;
    else if (o->id == OPT_TIMEOUT && (ok = config_parse_duration(v, &ms) && ms > 0))
        a->timeout_ms = ms;
    else if (o->id == OPT_DEADLINE && (ok = config_parse_duration(v, &ms)))
        a->deadline = v;
    else if ((o->id == OPT_REASON || o->id == OPT_SLOT) && (ok = ok && utf8_ok(v))) {
        if (o->id == OPT_REASON)
            a->reason = v;
        else
            a->slot = v;
    } else if (o->id == OPT_PID)
        ok = parse_pid(v, &a->pid);
    if (!ok)
        snprintf(err, errlen, "invalid value \"%.200s%s\" for option \"--%s\": expected %s", v,
                 strlen(v) > 200 ? "..." : "", o->name,
                 o->id == OPT_TIMEOUT    ? "a duration above zero (250ms, 10s, 2m)"
                 : o->id == OPT_DEADLINE ? "a duration (250ms, 10s, 2m)"
                 : o->id == OPT_PID      ? "a process id"
                 : o->id == OPT_REASON || o->id == OPT_SLOT ? "non-empty UTF-8 text"
                                                            : "a value");
    return ok;
}

/* status --watch [INTERVAL]: 2 s without a value; false (err naming it) when the value is bad. */
static bool set_watch(struct client_args *a, const char *v, char *err, size_t errlen)
{
    int64_t ms = CLIENT_WATCH_DEFAULT_MS;

    if (v != NULL && (!config_parse_duration(v, &ms) || ms <= 0)) {
        snprintf(err, errlen,
                 "invalid value \"%.200s%s\" for option \"--watch\": expected a duration above "
                 "zero (250ms, 2s)",
                 v, strlen(v) > 200 ? "..." : "");
        return false;
    }
    a->watch_ms = ms;
    return true;
}

/* Apply one option (value NULL for flags); false with err filled when it is wrong. */
static bool apply_option(struct client_args *a, const struct client_opt *o, const char *value,
                         char *err, size_t errlen)
{
    if (o->id == OPT_WATCH)
        return set_watch(a, value, err, errlen);
    if (o->has_value)
        return take_value(a, o, value, err, errlen);
    if (value != NULL) {
        snprintf(err, errlen, "option \"--%s\" takes no value", o->name);
        return false;
    }
    if (o->id == OPT_HELP)
        a->help = true;
    else if (o->id == OPT_JSON)
        a->json = true;
    else if (o->id == OPT_STALLED)
        a->stalled = true;
    else if (o->id == OPT_ALL_LOGICAL)
        a->all_logical = true;
    else if (o->id == OPT_FORCE)
        a->force = true;
    return true;
}

/* Checks after all options were read: kill selectors, the URL. */
static bool check_args(const struct client_args *a, char *err, size_t errlen)
{
    struct transport_endpoint ep;

    if (a->cmd == CLIENT_KILL && a->n_selectors != 1) {
        snprintf(err, errlen, "kill needs exactly one of --slot, --pid, --stalled, --all-logical%s",
                 a->n_selectors ? " (several given)" : "");
        return false;
    }
    if (a->watch_ms > 0 && a->json) {
        snprintf(err, errlen, "options \"--watch\" and \"--json\" do not go together");
        return false;
    }
    return transport_endpoint(a->url, "/", &ep, err, errlen);
}

/* Set the defaults: the URL and token file from the environment, a 10 s timeout. */
static void set_defaults(struct client_args *a, enum client_command cmd, char **environ_)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->url = client_env_get(environ_, "DEMOTION_GUARD_URL");
    if (a->url == NULL)
        a->url = TRANSPORT_DEFAULT_URL;
    a->token_file = client_env_get(environ_, "DEMOTION_GUARD_TOKEN_FILE");
    a->cacert = client_env_get(environ_, "DEMOTION_GUARD_CACERT");
    a->cert = client_env_get(environ_, "DEMOTION_GUARD_CERT");
    a->key = client_env_get(environ_, "DEMOTION_GUARD_KEY");
    a->timeout_ms = 10000;
}

/*
 * Parse "CMD [options]" (argv[0] is the command).  Flags win over the
 * environment.  Returns false with err naming the option or value on a
 * usage error; stops early, with a->help set, at --help.
 */
bool client_parse_args(int argc, char **argv, char **environ_, struct client_args *a, char *err,
                       size_t errlen)
{
    enum client_command cmd;

    if (argc < 1 || !command_of(argv[0], &cmd)) {
        snprintf(err, errlen, "unknown command \"%.200s%s\"", argc < 1 ? "" : argv[0],
                 argc >= 1 && strlen(argv[0]) > 200 ? "..." : "");
        return false;
    }
    set_defaults(a, cmd, environ_);
    for (int i = 1; i < argc; i++) {
        const char *value;
        const struct client_opt *o = lookup_option(cmd, argv[i], &value, err, errlen);

        if (o == NULL)
            return false;
        if (o->id == OPT_WATCH && value == NULL && i + 1 < argc && argv[i + 1][0] != '-')
            value = argv[++i]; /* --watch INTERVAL: the interval is optional */
        if (o->has_value && value == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option \"--%s\" needs a value", o->name);
                return false;
            }
            value = argv[++i];
        }
        if (!apply_option(a, o, value, err, errlen))
            return false;
        if (a->help)
            return true;
        a->n_selectors += o->id == OPT_SLOT || o->id == OPT_PID || o->id == OPT_STALLED ||
                          o->id == OPT_ALL_LOGICAL;
    }
    return check_args(a, err, errlen);
}

/* Print the usage of one client command. */
void client_usage(enum client_command cmd, FILE *out)
{
    static const char *const lines[] = {
        ("status [--json | --watch [INTERVAL]]   the daemon's state and its walsenders\n"
         "                                (--watch: redrawn every INTERVAL, default 2s, until "
         "Ctrl-C)"),
        "arm [--deadline DUR] [--reason TEXT]   a stop is coming: start the deadline clock",
        "disarm [--reason TEXT]          cancel an arm (not during a shutdown)",
        ("kill --slot S | --pid P | --stalled | --all-logical [--force] [--reason TEXT]\n"
         "                                end logical walsenders now"),
    };

    fprintf(out, "usage: demotion-guard %s\n\n", lines[cmd]);
    fprintf(out, "options:\n"
                 "  --url URL          the daemon: http[s]://HOST:PORT or unix:/path "
                 "(DEMOTION_GUARD_URL, default " TRANSPORT_DEFAULT_URL ")\n"
                 "  --token-file FILE  bearer token for arm, disarm, kill "
                 "(DEMOTION_GUARD_TOKEN_FILE)\n"
                 "  --timeout DUR      give up after DUR (default 10s)\n"
                 "  --cacert FILE      https:// URLs: the CA (PEM) that signed the daemon's "
                 "certificate (DEMOTION_GUARD_CACERT)\n"
                 "  --cert FILE        a client certificate (PEM) for --tls-client-ca "
                 "(DEMOTION_GUARD_CERT)\n"
                 "  --key FILE         its private key (DEMOTION_GUARD_KEY)\n"
                 "  --help             this text\n\n"
                 "exit codes: 0 ok, 1 the daemon is unreachable or refused, 2 usage\n");
}

/* The API path a command posts to or, for status, the first one it gets. */
const char *client_request_path(enum client_command cmd)
{
    static const char *const paths[] = {"/v1/status", "/v1/arm", "/v1/disarm", "/v1/kill"};

    return paths[cmd];
}

/* The JSON body of a POST (only the fields given); NULL for status. */
json_t *client_request_body(const struct client_args *a)
{
    json_t *b;

    if (a->cmd == CLIENT_STATUS)
        return NULL;
    b = json_object();
    if (a->cmd == CLIENT_ARM && a->deadline)
        json_object_set_new(b, "deadline", json_string(a->deadline));
    if (a->cmd == CLIENT_KILL) {
        if (a->slot)
            json_object_set_new(b, "slot", json_string(a->slot));
        if (a->pid > 0)
            json_object_set_new(b, "pid", json_integer(a->pid));
        if (a->stalled)
            json_object_set_new(b, "stalled", json_true());
        if (a->all_logical)
            json_object_set_new(b, "all_logical", json_true());
        if (a->force)
            json_object_set_new(b, "force", json_true());
    }
    if (a->reason)
        json_object_set_new(b, "reason", json_string(a->reason));
    return b;
}

/* Print a failure's one line on stderr; returns exit code 1. */
static int fail(const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "demotion-guard: %s\n", msg);
    return 1;
}

/* Print both bodies as one JSON object {"status":…, "walsenders":[…]}. */
static void print_json(const json_t *st, const json_t *ws)
{
    json_t *list = json_object_get(ws, "walsenders");
    json_t *both = json_pack("{sOsO}", "status", st, "walsenders", list ? list : json_null());

    json_dumpf(both, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(both);
}

/* status: get both bodies, print them for a person or as one JSON object. */
static int run_status(struct transport *t, const struct client_args *a)
{
    json_t *st = NULL, *ws = NULL;
    char msg[1024];
    int rc = 0;

    if (!transport_json(t, "/v1/status", NULL, &st, msg, sizeof(msg)) ||
        !transport_json(t, "/v1/walsenders", NULL, &ws, msg, sizeof(msg)))
        rc = fail(msg);
    else if (a->json)
        print_json(st, ws);
    else
        client_render_status(stdout, a->url, st, ws, wall_ms());
    json_decref(st);
    json_decref(ws);
    return rc;
}

/* arm, disarm, kill: post the body, print the answer (a failed kill's targets too). */
static int run_post(struct transport *t, const struct client_args *a)
{
    json_t *req = client_request_body(a), *ans = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    char msg[1024];
    bool ok;

    json_decref(req);
    if (body == NULL)
        return fail("out of memory");
    ok = transport_json(t, client_request_path(a->cmd), body, &ans, msg, sizeof(msg));
    free(body);
    if (ok && a->cmd == CLIENT_ARM)
        client_render_arm(stdout, ans);
    else if (ok && a->cmd == CLIENT_DISARM)
        client_render_disarm(stdout, ans);
    else if (a->cmd == CLIENT_KILL && json_object_get(ans, "targets"))
        client_render_kill(stdout, ans);
    json_decref(ans);
    return ok ? 0 : fail(msg);
}

/* Run one command against the daemon; the token is read for POSTs only. */
static int run(const struct client_args *a)
{
    struct transport *t;
    char token[TOKEN_MAX_BYTES + 1] = "", err[CLIENT_ERR_LEN];
    int rc;

    if (a->cmd != CLIENT_STATUS && a->token_file &&
        !token_read(a->token_file, TOKEN_FOR_CLIENT, token, sizeof(token), err, sizeof(err)))
        return fail(err);
    if (!transport_global_init() || (t = transport_open(a->url, token[0] ? token : NULL,
                                                        a->timeout_ms, err, sizeof(err))) == NULL) {
        explicit_bzero(token, sizeof(token));
        return fail("cannot initialise libcurl");
    }
    explicit_bzero(token, sizeof(token));
    rc = a->cmd == CLIENT_STATUS ? run_status(t, a) : run_post(t, a);
    transport_close(t);
    transport_global_cleanup();
    return rc;
}

/* Run "demotion-guard CMD ...": argv[0] is CMD.  Returns the exit code (0, 1, 2). */
int client_main(int argc, char **argv)
{
    struct client_args a;
    char err[CLIENT_ERR_LEN];

    if (!client_parse_args(argc, argv, environ, &a, err, sizeof(err))) {
        fprintf(stderr, "demotion-guard: %s (try \"demotion-guard %s --help\")\n", err,
                argc > 0 && client_is_command(argv[0]) ? argv[0] : "");
        return 2;
    }
    if (a.help) {
        client_usage(a.cmd, stdout);
        return 0;
    }
    transport_set_tls(a.cacert, a.cert, a.key);
    if (a.watch_ms > 0)
        return watch_run(&a);
    return run(&a);
}
