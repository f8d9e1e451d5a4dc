/*
 * hook.c - the commands Patroni runs: "demotion-guard hook before-stop |
 * pre-promote | callback ACTION ROLE SCOPE"
 *
 * Each is bounded in time and says in one line on stderr what it did.
 * before-stop and callback never fail Patroni's stop (Patroni ignores their
 * exit code anyway); pre-promote exits 0 unless --strict, since a non-zero
 * exit cancels the promotion.
 */
#include "hook.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "token.h"
#include "transport.h"

#define HOOK_TIMEOUT_MS    900  /* before-stop, callback: back within a second */
#define HOOK_HARD_MS       1000 /* ... whatever libcurl or the scheduler do */
#define PROMOTE_BUDGET_MS  3000 /* pre-promote: all peers together */
#define PROMOTE_PEER_MS    1000
#define MAX_PEERS          16
#define DEFAULT_PATRONI    "http://127.0.0.1:8008"
#define DEFAULT_GUARD_PORT "8009"

extern char **environ;

struct hook_args {
    const char *url, *token_file, *deadline, *patroni_url, *guard_port, *self;
    const char *cacert, *cert, *key; /* TLS (client.h); NULL: DEMOTION_GUARD_CACERT, ... */
    const char *peers[MAX_PEERS];
    int n_peers;
    bool strict, help;
    const char *pos[3]; /* callback: ACTION ROLE SCOPE */
    int n_pos;
};

static int out_of_time_rc; /* exit code when the hard bound strikes */

/* SIGALRM past the hard bound: say so and leave at once (async-signal-safe). */
static void out_of_time(int sig)
{
    static const char msg[] = "demotion-guard: hook: out of time, gave up\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

    (void)sig;
    (void)n;
    _exit(out_of_time_rc);
}

/* Leave with rc, whatever is under way, once ms have passed. */
static void hard_bound(int64_t ms, int rc)
{
    struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
    sigset_t alrm;

    out_of_time_rc = rc;
    signal(SIGALRM, out_of_time);
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alrm, NULL); /* Patroni's mask is not ours to trust */
    setitimer(ITIMER_REAL, &it, NULL);
}

/* The value of "--name value" or "--name=value" at argv[*i]; NULL if arg is not --name. */
static const char *opt_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Take one argument; false with err when it is unknown or lacks its value. */
static bool take_arg(struct hook_args *h, int argc, char **argv, int *i, char *err, size_t errlen)
{
    static const char *const names[] = {
        "--url",  "--token-file", "--deadline", "--patroni-url", "--guard-port",
        "--self", "--cacert",     "--cert",     "--key",         "--peer"};
    const char **fields[] = {
        &h->url,  &h->token_file, &h->deadline, &h->patroni_url, &h->guard_port,
        &h->self, &h->cacert,     &h->cert,     &h->key,         NULL};
    bool missing = false;

    for (int k = 0; k < 10; k++) {
        const char *v = opt_value(names[k], argc, argv, i, &missing);

        if (missing) {
            snprintf(err, errlen, "option \"%s\" needs a value", names[k]);
            return false;
        }
        if (v && fields[k])
            *fields[k] = v;
        else if (v && h->n_peers >= MAX_PEERS) {
            snprintf(err, errlen, "too many \"--peer\" options: at most %d", MAX_PEERS);
            return false;
        } else if (v)
            h->peers[h->n_peers++] = v;
        if (v)
            return true;
    }
    if (strcmp(argv[*i], "--strict") == 0 || strcmp(argv[*i], "--help") == 0) {
        *(argv[*i][2] == 's' ? &h->strict : &h->help) = true;
        return true;
    }
    if (argv[*i][0] == '-' || h->n_pos >= 3) {
        snprintf(err, errlen, "unexpected argument \"%s\"", argv[*i]);
        return false;
    }
    h->pos[h->n_pos++] = argv[*i];
    return true;
}

/* Parse a hook's arguments (after its name); environment for --url and --token-file. */
static bool parse(struct hook_args *h, int argc, char **argv, char *err, size_t errlen)
{
    int64_t ms;

    memset(h, 0, sizeof(*h));
    h->url = getenv("DEMOTION_GUARD_URL");
    h->token_file = getenv("DEMOTION_GUARD_TOKEN_FILE");
    h->self = getenv("PATRONI_NAME"); /* set when Patroni is configured by environment */
    for (int i = 0; i < argc; i++)
        if (!take_arg(h, argc, argv, &i, err, errlen))
            return false;
    if (h->url == NULL || h->url[0] == '\0')
        h->url = TRANSPORT_DEFAULT_URL;
    if (h->deadline && !config_parse_duration(h->deadline, &ms)) {
        snprintf(err, errlen,
                 "invalid value \"%s\" for option \"--deadline\": expected a "
                 "duration such as 250ms, 10s or 2m",
                 h->deadline);
        return false;
    }
    return true;
}

/* Read the token, if a file is named; false with msg when it cannot be. */
static bool token_of(const struct hook_args *h, char *token, size_t len, char *msg, size_t msglen)
{
    token[0] = '\0';
    return h->token_file == NULL || h->token_file[0] == '\0' ||
           token_read(h->token_file, TOKEN_FOR_CLIENT, token, len, msg, msglen);
}

/*
 * POST body to one guard within timeout_ms; one line on stderr either way:
 * "HOOK: DONE URL (phase P)" or "HOOK: could not DO URL: why".
 */
static bool post(const char *url, const char *token, int64_t timeout_ms, const char *path,
                 json_t *body, const char *hook, const char *done, const char *verb)
{
    char *text = json_dumps(body, JSON_COMPACT), msg[1024];
    json_t *ans = NULL;
    const char *phase;
    long status = 0;
    bool ok;

    json_decref(body);
    ok = text &&
         transport_call(url, token[0] ? token : NULL, timeout_ms, path, text, &status, &ans, msg,
                        sizeof(msg)) &&
         status >= 200 && status <= 299;
    phase = json_string_value(json_object_get(ans, "phase"));

    if (ok)
        fprintf(stderr, "demotion-guard: %s: %s %s (phase %s)\n", hook, done, url,
                phase ? phase : "?");
    else
        fprintf(stderr, "demotion-guard: %s: could not %s %s: %s\n", hook, verb, url,
                text ? msg : "out of memory");
    free(text);
    json_decref(ans);
    return ok;
}

/* The arm request of a hook: reason, and --deadline when given. */
static json_t *arm_body(const struct hook_args *h, const char *reason)
{
    json_t *b = json_pack("{s:s}", "reason", reason);

    if (h->deadline)
        json_object_set_new(b, "deadline", json_string(h->deadline));
    return b;
}

/* hook before-stop: arm the local guard now, while SQL still works. */
static int before_stop(const struct hook_args *h)
{
    char token[TOKEN_MAX_BYTES + 1], msg[TRANSPORT_MSG_LEN];

    if (!token_of(h, token, sizeof(token), msg, sizeof(msg))) {
        fprintf(stderr, "demotion-guard: before-stop: %s; the stop goes on unguarded\n", msg);
        return 1;
    }
    return post(h->url, token, HOOK_TIMEOUT_MS, "/v1/arm", arm_body(h, "before_stop"),
                "before-stop", "armed", "arm")
               ? 0
               : 1;
}

/* hook callback ACTION ROLE SCOPE: record it; on_stop and on_role_change reset an arm. */
static int callback(const struct hook_args *h)
{
    char token[TOKEN_MAX_BYTES + 1], msg[TRANSPORT_MSG_LEN], what[200];

    if (h->n_pos != 3) {
        fprintf(stderr, "demotion-guard: hook callback needs ACTION ROLE SCOPE (Patroni passes "
                        "them)\n");
        return 2;
    }
    if (!token_of(h, token, sizeof(token), msg, sizeof(msg))) {
        fprintf(stderr, "demotion-guard: callback: %s\n", msg);
        return 1;
    }
    snprintf(what, sizeof(what), "callback %s %s %s", h->pos[0], h->pos[1], h->pos[2]);
    return post(h->url, token, HOOK_TIMEOUT_MS, "/v1/callback",
                json_pack("{s:s,s:s,s:s}", "action", h->pos[0], "role", h->pos[1], "scope",
                          h->pos[2]),
                what, "recorded at", "reach")
               ? 0
               : 1;
}

/* The "host:port" part of an http:// URL, into out ("" when there is none). */
static void authority(const char *url, char *out, size_t len)
{
    const char *p = strstr(url, "://");
    size_t n;

    p = p ? p + 3 : url;
    n = strcspn(p, "/");
    snprintf(out, len, "%.*s", (int)n, p);
}

/* Is this /cluster member the one running the hook: named --self, or reached at --patroni-url? */
static bool is_self(const json_t *m, const char *self, const char *patroni_url)
{
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *api = json_string_value(json_object_get(m, "api_url"));
    char a[256], b[256];

    if (self && self[0])
        return name && strcmp(name, self) == 0;
    if (api == NULL)
        return false;
    authority(api, a, sizeof(a));
    authority(patroni_url, b, sizeof(b));
    return strcmp(a, b) == 0;
}

/*
 * The guards to arm from Patroni's /cluster answer: every member but this
 * one, at http://HOST:port.  Returns how many there are (urls holds the
 * first max of them: the caller says when that is not all), or -1 with err
 * when this member is not exactly one of them: arming ourselves would end
 * our own consumers, so nothing is guessed.
 */
int hook_peers(const json_t *cluster, const char *self, const char *patroni_url, const char *port,
               char urls[][256], int max, char *err, size_t errlen)
{
    const json_t *members = json_object_get(cluster, "members"), *m;
    int n = 0, selves = 0;
    size_t i;

    if (!json_is_array(members)) {
        snprintf(err, errlen, "no \"members\" in the /cluster answer");
        return -1;
    }
    json_array_foreach(members, i, m) selves += is_self(m, self, patroni_url);
    if (selves != 1) {
        snprintf(err, errlen,
                 "%s member of /cluster is this one: pass --self NAME (this member's Patroni name) "
                 "or --patroni-url with its REST address as /cluster's api_url shows it",
                 selves ? "more than one" : "no");
        return -1;
    }
    json_array_foreach(members, i, m)
    {
        const char *host = json_string_value(json_object_get(m, "host"));

        if (is_self(m, self, patroni_url) || host == NULL)
            continue;
        if (n < max)
            snprintf(urls[n], 256, strchr(host, ':') ? "http://[%s]:%s" : "http://%s:%s", host,
                     port);
        n++;
    }
    return n;
}

/* Ask the local Patroni for the other members; their guards' URLs into urls. */
static int discover(const struct hook_args *h, char urls[][256], int max)
{
    const char *api = h->patroni_url ? h->patroni_url : DEFAULT_PATRONI;
    json_t *ans = NULL;
    char msg[1024];
    long status;
    int n = -1;

    if (!transport_call(api, NULL, PROMOTE_PEER_MS, "/cluster", NULL, &status, &ans, msg,
                        sizeof(msg)) ||
        status != 200)
        fprintf(stderr, "demotion-guard: pre-promote: no members from Patroni at %s: %s\n", api,
                msg);
    else if ((n = hook_peers(ans, h->self, api, h->guard_port ? h->guard_port : DEFAULT_GUARD_PORT,
                             urls, max, msg, sizeof(msg))) < 0)
        fprintf(stderr, "demotion-guard: pre-promote: nobody armed: %s\n", msg);
    json_decref(ans);
    return n;
}

/* hook pre-promote: arm the other members' guards (reason pre_promote). */
static int pre_promote(const struct hook_args *h)
{
    char urls[MAX_PEERS][256], token[TOKEN_MAX_BYTES + 1], msg[TRANSPORT_MSG_LEN];
    int64_t end = mono_ms() + PROMOTE_BUDGET_MS;
    int n = h->n_peers, armed = 0, left_out = 0;

    for (int i = 0; i < n; i++)
        snprintf(urls[i], sizeof(urls[i]), "%s", h->peers[i]);
    if (n == 0)
        n = discover(h, urls, MAX_PEERS);
    if (n > MAX_PEERS) {
        left_out = n - MAX_PEERS;
        fprintf(stderr,
                "demotion-guard: pre-promote: /cluster has %d other members, more than the %d this "
                "hook arms: %d not armed\n",
                n, MAX_PEERS, left_out);
        n = MAX_PEERS;
    }
    for (int i = 0; i < n && h->n_peers == 0 && transport_tls_configured(); i++)
        if (strncmp(urls[i], "http://", 7) == 0) { /* TLS options given: the guards speak https */
            char rest[sizeof(urls[i])];

            snprintf(rest, sizeof(rest), "%s", urls[i] + 7);
            snprintf(urls[i], sizeof(urls[i]), "https://%.*s", 240, rest);
        }
    if (n >= 0 && !token_of(h, token, sizeof(token), msg, sizeof(msg))) {
        fprintf(stderr, "demotion-guard: pre-promote: %s\n", msg);
        n = -1;
    }
    for (int i = 0; i < n; i++) {
        int64_t left = end - mono_ms();

        if (left <= 0) {
            fprintf(stderr, "demotion-guard: pre-promote: out of time, %s not armed\n", urls[i]);
            continue;
        }
        armed += post(urls[i], token, left < PROMOTE_PEER_MS ? left : PROMOTE_PEER_MS, "/v1/arm",
                      arm_body(h, "pre_promote"), "pre-promote", "armed", "arm");
    }
    if (n == 0)
        fprintf(stderr, "demotion-guard: pre-promote: no other member to arm\n");
    return h->strict && (n < 0 || armed < n || left_out > 0) ? 1 : 0;
}

/* Print the usage of the hooks. */
static void hook_usage(FILE *out)
{
    fprintf(
        out,
        "usage: demotion-guard hook before-stop [--url URL] [--token-file FILE] [--deadline D]\n"
        "       demotion-guard hook pre-promote [--peer URL]... [--patroni-url URL]\n"
        "                      [--guard-port PORT] [--token-file FILE] [--deadline D] "
        "[--strict]\n"
        "       demotion-guard hook callback ACTION ROLE SCOPE [--url URL] [--token-file "
        "FILE]\n\n"
        "before-stop (postgresql.before_stop, Patroni >= 3.0.3): arm the local guard; back "
        "within 1 s.\n"
        "pre-promote (postgresql.pre_promote): arm the other members' guards (--peer, or every\n"
        "  member of the local Patroni's /cluster but itself, at http://HOST:--guard-port, "
        "default\n"
        "  " DEFAULT_GUARD_PORT "); within 3 s; exits 0 unless --strict.\n"
        "callback (callbacks.on_*): record the event; on_stop and on_role_change reset an "
        "arm.\n"
        "--url defaults to $DEMOTION_GUARD_URL or " TRANSPORT_DEFAULT_URL
        ", --token-file to $DEMOTION_GUARD_TOKEN_FILE.\n"
        "TLS (https:// URLs): --cacert FILE, --cert FILE, --key FILE, or $DEMOTION_GUARD_CACERT,\n"
        "  _CERT, _KEY; with them, pre-promote reaches discovered guards at https://.\n");
}

/* The hook a name means; Patroni's own spellings (pre_promote) are taken too. */
static const char *hook_name(const char *name)
{
    static const char *const names[][2] = {
        {"before-stop", "before_stop"}, {"pre-promote", "pre_promote"}, {"callback", "callback"}};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i][0]) == 0 || strcmp(name, names[i][1]) == 0)
            return names[i][0];
    return NULL;
}

/* Was --strict given?  Looked for before parsing: a usage error must not veto a promotion. */
static bool strict_given(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--strict") == 0)
            return true;
    return false;
}

/* Leave after a usage error: 2, but pre-promote without --strict says 0. */
static int usage_error(const char *name, bool promote, bool strict, const char *err)
{
    fprintf(stderr, "demotion-guard: hook %s: %s (try \"demotion-guard hook --help\")%s\n", name,
            err, promote && !strict ? "; not vetoing the promotion" : "");
    return promote && !strict ? 0 : 2;
}

/* Run the hook named name with parsed arguments, within its bound. */
static int run_hook(const char *name, const struct hook_args *h)
{
    int rc;

    hard_bound(strcmp(name, "pre-promote") == 0 ? PROMOTE_BUDGET_MS + 500 : HOOK_HARD_MS,
               strcmp(name, "pre-promote") == 0 && !h->strict ? 0 : 1);
    transport_global_init();
    transport_set_tls(h->cacert, h->cert, h->key);
    if (strcmp(name, "before-stop") == 0)
        rc = before_stop(h);
    else if (strcmp(name, "pre-promote") == 0)
        rc = pre_promote(h);
    else
        rc = callback(h);
    transport_global_cleanup();
    return rc;
}

/* "demotion-guard hook NAME ...": argv[0] is NAME. */
int hook_main(int argc, char **argv)
{
    const char *name = argc > 0 ? hook_name(argv[0]) : NULL;
    bool promote = name && strcmp(name, "pre-promote") == 0;
    bool strict = strict_given(argc, argv);
    struct hook_args h;
    char err[TRANSPORT_MSG_LEN];

    if (argc < 1 || strcmp(argv[0], "--help") == 0) {
        hook_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (name == NULL) {
        fprintf(stderr,
                "demotion-guard: unknown hook \"%s\" (before-stop, pre-promote, "
                "callback)\n",
                argv[0]);
        return 2;
    }
    if (!parse(&h, argc - 1, argv + 1, err, sizeof(err)))
        return usage_error(name, promote, strict, err);
    if (h.help) {
        hook_usage(stdout);
        return 0;
    }
    if (strcmp(name, "callback") != 0 && h.n_pos > 0) {
        snprintf(err, sizeof(err), "unexpected argument \"%s\"", h.pos[0]);
        return usage_error(name, promote, strict, err);
    }
    return run_hook(name, &h);
}
