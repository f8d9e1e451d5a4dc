/*
 * http.h - the HTTP API: libmicrohttpd in its own threads, route table,
 * bearer token, JSON (jansson) and Prometheus rendering
 *
 * The main loop publishes an immutable view of its state after each turn
 * (http_publish); handlers render from the latest view and never touch the
 * guard's own state or libpq.  Commands (arm, disarm, kill) are queued to
 * the main loop, which wakes on http_command_fd(), runs them in its turn and
 * answers; the handler waits for the answer with a timeout.
 */
#ifndef DG_HTTP_H
#define DG_HTTP_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "policy.h"
#include "render.h"
#include "walsender.h"

#define HTTP_MAX_BODY 8192

enum route_id {
    R_HEALTH,
    R_READY,
    R_METRICS,
    R_STATUS,
    R_WALSENDERS,
    R_ARM,
    R_DISARM,
    R_KILL,
    R_CALLBACK,
    R_NOT_FOUND = -1,
    R_BAD_METHOD = -2
};

/* What a command asks for. */
enum command_type { CMD_ARM, CMD_DISARM, CMD_KILL, CMD_CALLBACK };

struct command {
    enum command_type type;
    char requester[80];   /* "127.0.0.1:53422", "[::1]:53422", "unix" */
    char reason[256];     /* free text from the request, may be "" */
    int64_t deadline_ms;  /* arm: -1 = --deadline */
    enum trigger trigger; /* arm: what its reason counts as (trigger_of) */
    enum kill_selector sel;
    char slot[64];
    int pid;
    bool force;
    char action[32], role[32], scope[128]; /* callback */

    /* the answer, filled by the main loop */
    int status;
    json_t *body;
};

struct http_server;

/* TLS material as PEM text, read by http_tls_read; cert NULL: plain HTTP. */
struct http_tls {
    char *cert, *key, *client_ca; /* client_ca NULL: no client certificate asked for */
};

/* Server life: start returns NULL with err on failure (bind, libmicrohttpd). */
struct http_server *http_start(const char *listen, const char *token, char *err, size_t errlen);
struct http_server *http_start_tls(const char *listen, const char *token,
                                   const struct http_tls *tls, char *err, size_t errlen);
void http_stop(struct http_server *s);
/* Serve new TLS material: the listener restarts on the same socket, connections
   already open finish on the old one; false with err keeps the old material. */
bool http_set_tls(struct http_server *s, const struct http_tls *tls, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void http_set_token(struct http_server *s, const char *token);
const char *http_bound(const struct http_server *s); /* "127.0.0.1:8009" as bound */

/* Main-loop side. */
void http_publish(struct http_server *s, struct view *v); /* takes ownership */
int http_command_fd(const struct http_server *s);
struct command *http_next_command(struct http_server *s); /* NULL: none pending */
void http_answer(struct http_server *s, struct command *c, int status, json_t *body);

/* Pure parts, unit-tested. */
bool http_listen_check(const char *listen, bool have_token, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool http_token_read(const char *path, char **token, char *err, size_t errlen)
    __attribute__((warn_unused_result));
bool http_token_equal(const char *expected, const char *given);
/* Read and check --tls-cert, --tls-key (owner-only, as the token file), --tls-client-ca
   (each may be NULL; a cert needs a key, a CA needs a cert, TLS needs TCP); false with
   err naming the option, the file and what is wrong with it. */
bool http_tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
                   struct http_tls *tls, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void http_tls_free(struct http_tls *tls);
bool http_tls_equal(const struct http_tls *a, const struct http_tls *b);
bool http_bearer_ok(const char *expected, const char *header);
int http_route(const char *method, const char *url, const char **allow);
bool http_parse_command(int route, const char *body, size_t len, struct command *c, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

const char *http_mhd_version(void);

#endif
