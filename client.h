/*
 * client.h - the command-line clients of a running daemon (status, arm,
 * disarm, kill), over HTTP with libcurl
 *
 * The pure parts (argument parsing, request bodies, URL handling, token
 * reading and the rendering of answers) are declared here for the unit
 * tests; client_main does the I/O.
 */
#ifndef DG_CLIENT_H
#define DG_CLIENT_H

#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLIENT_DEFAULT_URL      "http://127.0.0.1:8009"
#define CLIENT_MAX_BODY         (1024 * 1024) /* a longer answer is an error */
#define CLIENT_MAX_TOKEN        4096
#define CLIENT_ERR_LEN          512
#define CLIENT_URL_LEN          2048
#define CLIENT_SOCKET_LEN       108 /* sun_path */
#define CLIENT_WATCH_DEFAULT_MS 2000

enum client_command { CLIENT_STATUS, CLIENT_ARM, CLIENT_DISARM, CLIENT_KILL };

/* What the command line asks for.  Strings point into argv or the environment. */
struct client_args {
    enum client_command cmd;
    const char *url;        /* --url, DEMOTION_GUARD_URL or CLIENT_DEFAULT_URL */
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

/* Where one request goes: a URL, and a unix socket when the URL said unix:. */
struct client_endpoint {
    char url[CLIENT_URL_LEN];
    char socket[CLIENT_SOCKET_LEN]; /* "" for TCP */
};

/* Run "demotion-guard CMD ...": argv[0] is CMD.  Returns the exit code. */
int client_main(int argc, char **argv);
bool client_is_command(const char *cmd);

/* Pure parts, unit-tested. */
bool client_parse_args(int argc, char **argv, char **environ_, struct client_args *a, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
void client_usage(enum client_command cmd, FILE *out);
json_t *client_request_body(const struct client_args *a);
const char *client_request_path(enum client_command cmd);
bool client_endpoint(const char *url, const char *path, struct client_endpoint *ep, char *err,
                     size_t errlen) __attribute__((warn_unused_result));
bool client_read_token(const char *path, char *token, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void client_format_bytes(int64_t bytes, char *buf, size_t len);
void client_format_duration(int64_t ms, char *buf, size_t len);
int client_sanitize(const char *in, char *out, size_t outlen);
void client_http_error(const char *method, const char *path, const char *url, long status,
                       const char *body, size_t len, char *msg, size_t msglen);
void client_render_status(FILE *out, const char *url, const json_t *status,
                          const json_t *walsenders, int64_t now_wall_ms);
void client_render_arm(FILE *out, const json_t *body);
void client_render_disarm(FILE *out, const json_t *body);
void client_render_kill(FILE *out, const json_t *body);

/* For the hooks (hook.c): libcurl stays inside client.c. */
bool client_global_init(void);
void client_global_cleanup(void);
bool client_call(const char *url, const char *token, int64_t timeout_ms, const char *path,
                 const char *body, long *status, json_t **out, char *msg, size_t msglen);

const char *client_curl_version(void);

/* TLS for every later request (https:// URLs): CA file, client certificate
   and key; a NULL one falls back to DEMOTION_GUARD_CACERT, _CERT, _KEY. */
void client_set_tls(const char *cacert, const char *cert, const char *key);
bool client_tls_configured(void); /* a CA file or a client certificate is set */

/* Shared with the other clients (check.c, watch.c). */
void client_set_interrupt(volatile sig_atomic_t *flag);
bool client_get_json(const char *url, int64_t timeout_ms, const char *path, json_t **out, char *msg,
                     size_t msglen) __attribute__((warn_unused_result));
const char *client_env_get(char **environ_, const char *name);
const char *client_jstr(const json_t *o, const char *key);      /* NULL: absent, not a string */
bool client_jnum(const json_t *o, const char *key, int64_t *v); /* false: absent, null */

#endif
