/*
 * http.c - the HTTP server of the API: libmicrohttpd (its only user), one
 * thread per connection, held to the connection limits, and the handlers'
 * side of the hand-over to the main loop; and the bearer token
 *
 * A request's head and body go to api.c, which says what to answer (GET
 * routes from the latest view the main loop published) or which command to
 * hand to the main loop (handover.c); the handler waits for the loop's
 * answer with a timeout.  conns.c picks the connections to push out, the
 * reaper thread here ends those past their time.  The listening socket is
 * listen.c's, the TLS material tls.c's.  Nothing here calls libpq or
 * touches the guard's state.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "clock.h"
#include "conns.h"
#include "handover.h"
#include "listen.h"
#include "log.h"
#include "render.h"
#include "tls.h"
#include "token.h"

/*
 * Connections (API.md, "Limits"): at most CONN_LIMIT at a time.  One more
 * pushes out a connection whose request has not arrived whole, from the
 * address that holds the most of those, the oldest first; a request must
 * arrive whole within REQUEST_TIMEOUT_MS (not just keep sending), and an
 * answer take at most BUSY_TIMEOUT_MS.  So slow clients cannot hold the
 * slots a hook or a probe needs.  libmicrohttpd's own limit is higher: the
 * ones pushed out still count there until their threads end.
 */
#define CONN_LIMIT         64
#define MHD_CONN_LIMIT     256
#define CONN_TIMEOUT_S     10
#define REQUEST_TIMEOUT_MS 10000
#define BUSY_TIMEOUT_MS    (COMMAND_TIMEOUT_MS + 10000)
#define REAPER_TICK_MS     250
#define STACK_SIZE         (256 * 1024)
#define COMMAND_TIMEOUT_MS 10000

struct http_server {
    struct MHD_Daemon *mhd;
    struct MHD_Daemon *retired; /* the listener before a TLS reload, until its connections end */
    struct tls_material tls, retired_tls; /* libmicrohttpd keeps pointers to it */
    bool require_cert; /* --tls-client-ca: every request needs a client certificate */
    struct listen_socket ls;

    struct handover ho; /* the view and the commands, to and from the main loop */

    pthread_mutex_t mu; /* guards what follows, and require_cert and mhd */
    char *token;
    bool stopping;

    struct conns conns; /* every open connection, and its limits */
    pthread_t reaper;
    bool reaper_started;
    pthread_cond_t reaper_cv;
};

/* Per-request state across libmicrohttpd's calls of the handler. */
struct request {
    int route;
    char body[API_MAX_BODY];
    size_t len;
    bool too_large;
};

/* --------------------------------------------------------- listen, token */

/* The token file's mode rule (token.c), also for --tls-key. */
static bool token_mode_ok(const struct stat *st)
{
    return token_mode_private(st);
}

/* Read the bearer token as token.c's rule says, for the daemon (see http.h). */
bool http_token_read(const char *path, char **token, char *err, size_t errlen)
{
    char buf[TOKEN_MAX_BYTES + 1];

    *token = NULL;
    if (!token_read(path, TOKEN_FOR_DAEMON, buf, sizeof(buf), err, errlen))
        return false;
    *token = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return *token != NULL;
}

/* Compare a given token to the expected one in time that depends only on the expected length. */
bool http_token_equal(const char *expected, const char *given)
{
    size_t elen = strlen(expected), glen = strlen(given);
    unsigned char diff = elen != glen;

    for (size_t i = 0; i < elen; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

/* Does an Authorization header carry the expected bearer token? */
bool http_bearer_ok(const char *expected, const char *header)
{
    if (expected[0] == '\0' || header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return false; /* "" stands for an unreadable token file: nothing matches */
    header += 7;
    while (*header == ' ')
        header++;
    return http_token_equal(expected, header);
}

/* ---------------------------------------------------- connection limits */

/* A connection was accepted: track it (conns_open pushes one out beyond CONN_LIMIT). */
static void slot_open(struct http_server *s, struct MHD_Connection *conn, void **ctx)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ca =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    /* NULL: untracked, libmicrohttpd's own limits still apply */
    *ctx =
        fd ? conns_open(&s->conns, fd->connect_fd, ca ? ca->client_addr : NULL, mono_ms()) : NULL;
}

/* libmicrohttpd's connection callback: a connection opened or closed (before its socket is). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        slot_open(s, conn, ctx);
    else {
        conns_close(&s->conns, *ctx);
        *ctx = NULL;
    }
}

/* Mark the connection of a request busy (its request is whole) or waiting again. */
static void slot_busy(struct http_server *s, struct MHD_Connection *conn, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    conns_busy(&s->conns, ci ? ci->socket_context : NULL, busy, mono_ms());
}

/* The reaper thread: every REAPER_TICK_MS, end the connections past their time. */
static void *reaper_main(void *arg)
{
    struct http_server *s = arg;
    struct timespec until;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += REAPER_TICK_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->reaper_cv, &s->mu, &until);
        conns_reap(&s->conns, mono_ms());
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ------------------------------------------------------------- handlers */

/* Queue api.c's answer; takes r's text. */
static enum MHD_Result respond(struct MHD_Connection *conn, struct api_response *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->text == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(r->len, r->text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(r->text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Queue an error answer (api_error). */
static enum MHD_Result respond_error(struct MHD_Connection *conn, int status, const char *code,
                                     const char *detail)
{
    struct api_response r;

    api_error(&r, status, code, detail, NULL);
    return respond(conn, &r);
}

/* Who sent this request: "127.0.0.1:53422", "[::1]:53422" or "unix". */
static void requester_of(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    listen_describe(ci ? ci->client_addr : NULL, out, len);
}

/*
 * Hand a command to the main loop and answer what it answers; 504 when it
 * does not within COMMAND_TIMEOUT_MS, 503 when the server stops meanwhile.
 */
static enum MHD_Result run_command(struct http_server *s, struct MHD_Connection *conn,
                                   const struct command *c)
{
    struct api_response r;
    json_t *body = NULL;
    int status = 500;

    switch (handover_submit(&s->ho, c, COMMAND_TIMEOUT_MS, &status, &body)) {
    case HANDOVER_ANSWERED:
        api_json(&r, status, body);
        return respond(conn, &r);
    case HANDOVER_STOPPING:
        return respond_error(conn, 503, "unavailable", "the guard is stopping");
    case HANDOVER_TIMEOUT:
        return respond_error(conn, 504, "timeout", "the guard's loop did not answer within 10 s");
    default:
        return respond_error(conn, 500, "internal", "out of memory");
    }
}

/* A request header's value, NULL when it was not sent. */
static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/*
 * The first call for a request: the client certificate (under
 * --tls-client-ca), then api_begin's checks of the head.  Errors are
 * answered at once (libmicrohttpd then closes the connection); a good
 * request is answered on a later call, which keeps it alive.
 */
static enum MHD_Result begin_request(struct http_server *s, struct MHD_Connection *conn,
                                     const char *url, const char *method, void **con_cls)
{
    struct api_head h = {method,
                         url,
                         header(conn, MHD_HTTP_HEADER_HOST),
                         header(conn, MHD_HTTP_HEADER_AUTHORIZATION),
                         header(conn, MHD_HTTP_HEADER_CONTENT_TYPE),
                         header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH),
                         s->ls.loopback,
                         false};
    const union MHD_ConnectionInfo *ci;
    struct api_response r;
    struct request *rq;
    bool need_cert;
    char why[300];
    int route;

    pthread_mutex_lock(&s->mu);
    need_cert = s->require_cert;
    h.authorized = s->token == NULL || http_bearer_ok(s->token, h.authorization);
    pthread_mutex_unlock(&s->mu);
    ci = need_cert ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
    if (need_cert && !tls_client_cert_ok(ci ? ci->tls_session : NULL, why, sizeof(why)))
        return respond_error(conn, 403, "forbidden", why);
    if (!api_begin(&h, &route, &r))
        return respond(conn, &r);
    rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        return MHD_NO;
    rq->route = route;
    *con_cls = rq;
    return MHD_YES;
}

/* Answer a request whose body has arrived whole: api_answer, or a command run by the loop. */
static enum MHD_Result whole_request(struct http_server *s, struct MHD_Connection *conn,
                                     struct request *rq)
{
    struct view *v = handover_get(&s->ho);
    struct api_request ar = {rq->route, rq->body, rq->len, rq->too_large, v, mono_ms(), wall_ms()};
    struct api_response r;
    struct command c;
    bool command = api_answer(&ar, &c, &r);

    handover_put(&s->ho, v);
    if (!command)
        return respond(conn, &r);
    requester_of(conn, c.requester, sizeof(c.requester));
    return run_command(s, conn, &c);
}

/* libmicrohttpd's access handler. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct request *rq = *con_cls;

    (void)version;
    if (rq == NULL)
        return begin_request(s, conn, url, method, con_cls);
    if (*upload_size) {
        if (rq->len + *upload_size > sizeof(rq->body))
            rq->too_large = true;
        else {
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    slot_busy(s, conn, true); /* the request is whole: no longer one to push out */
    return whole_request(s, conn, rq);
}

/* Free a request's state when libmicrohttpd is done with it. */
static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)code;
    slot_busy(cls, conn, false); /* kept alive: waiting for its next request */
    free(*con_cls);
    *con_cls = NULL;
}

/*
 * Leave the URL as sent: routes are matched literally, so "/health%00x" is
 * not "/health".  Returns the length, as libmicrohttpd expects.
 */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

/* Route libmicrohttpd's own messages to the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("libmicrohttpd: %s", msg);
}

/* --------------------------------------------------------------- server */

/*
 * A libmicrohttpd daemon on the listening socket fd, with TLS when tls has
 * a certificate.  NULL when libmicrohttpd refuses (its reason is logged).
 */
static struct MHD_Daemon *start_mhd(struct http_server *s, const struct tls_material *tls, int fd)
{
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_OptionItem t[4];
    int n = 0;

    if (tls && tls->cert) {
        flags |= MHD_USE_TLS;
        t[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert};
        t[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key};
        if (tls->client_ca)
            t[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, tls->client_ca};
    }
    t[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(
        flags, 0, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHD_CONN_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)STACK_SIZE, MHD_OPTION_NOTIFY_COMPLETED, request_done, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape,
        NULL, MHD_OPTION_ARRAY, t, MHD_OPTION_END);
}

/* Plain HTTP on --listen: http_start_tls without TLS. */
struct http_server *http_start(const char *addr, const char *token, char *err, size_t errlen)
{
    return http_start_tls(addr, token, NULL, err, errlen);
}

/*
 * Bind --listen and start serving, over TLS when tls has a certificate.
 * NULL with err when the address cannot be bound or libmicrohttpd refuses
 * to start.
 */
struct http_server *http_start_tls(const char *addr, const char *token,
                                   const struct tls_material *tls, char *err, size_t errlen)
{
    struct http_server *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    conns_init(&s->conns, CONN_LIMIT, REQUEST_TIMEOUT_MS, BUSY_TIMEOUT_MS);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    s->token = token ? strdup(token) : NULL;
    s->ls.fd = -1;
    if (!handover_init(&s->ho, err, errlen) || !listen_open(addr, &s->ls, err, errlen) ||
        !tls_copy(tls, &s->tls)) {
        if (s->ls.fd >= 0)
            snprintf(err, errlen, "out of memory");
        http_stop(s);
        return NULL;
    }
    s->require_cert = s->tls.client_ca != NULL;
    s->reaper_started = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
    s->mhd = start_mhd(s, &s->tls, s->ls.fd);
    if (s->mhd == NULL || !s->reaper_started) {
        snprintf(err, errlen, "libmicrohttpd could not start on %s%s", s->ls.bound,
                 s->reaper_started ? "" : " (no thread for the connection time limits)");
        http_stop(s);
        return NULL;
    }
    return s;
}

/* Stop the listener a TLS reload replaced once its last connection has ended (or now). */
static void stop_retired(struct http_server *s, bool now)
{
    const union MHD_DaemonInfo *di;

    if (s->retired == NULL)
        return;
    di = MHD_get_daemon_info(s->retired, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (!now && (di == NULL || di->num_connections > 0))
        return;
    MHD_stop_daemon(s->retired); /* quiesced: it leaves the listening socket open */
    s->retired = NULL;
    tls_free(&s->retired_tls);
}

/*
 * Serve new TLS material (see http.h).  The running daemon stops
 * accepting (MHD_quiesce_daemon) and a new one takes its socket, so no
 * connection attempt is refused in between; the old one ends when its
 * connections have.
 */
bool http_set_tls(struct http_server *s, const struct tls_material *tls, char *err, size_t errlen)
{
    struct tls_material fresh;
    struct MHD_Daemon *d;
    MHD_socket fd;

    if (tls_equal(&s->tls, tls))
        return true;
    if (!tls_copy(tls, &fresh)) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    stop_retired(s, true);
    fd = MHD_quiesce_daemon(s->mhd);
    if (fd == MHD_INVALID_SOCKET) {
        snprintf(err, errlen, "libmicrohttpd could not hand over its listening socket");
        tls_free(&fresh);
        return false;
    }
    d = start_mhd(s, &fresh, fd);
    if (d == NULL) {
        /* the old material on a new daemon: the quiesced one accepts no more */
        snprintf(err, errlen, "libmicrohttpd refused the new TLS material");
        tls_free(&fresh);
        tls_copy(&s->tls, &fresh);
        d = start_mhd(s, &fresh, fd);
        if (d == NULL) {
            log_error("libmicrohttpd could not restart on %s: the HTTP API is down", s->ls.bound);
            tls_free(&fresh);
            return false;
        }
        tls = NULL; /* failed, but still serving */
    }
    s->retired = s->mhd;
    s->retired_tls = s->tls;
    s->tls = fresh;
    pthread_mutex_lock(&s->mu);
    s->mhd = d;
    s->require_cert = s->tls.client_ca != NULL;
    pthread_mutex_unlock(&s->mu);
    return tls != NULL;
}

/* Stop serving: waiting handlers are answered 503, then threads end. */
void http_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    handover_stop(&s->ho);
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->reaper_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->reaper_started)
        pthread_join(s->reaper, NULL);
    stop_retired(s, true);
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* closes the listening socket */
    else if (s->ls.fd >= 0)
        close(s->ls.fd);
    if (s->ls.fd >= 0)
        listen_remove(&s->ls);
    handover_destroy(&s->ho);
    free(s->token);
    tls_free(&s->tls);
    pthread_cond_destroy(&s->reaper_cv);
    conns_destroy(&s->conns);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Replace the token (after a reload); NULL: POSTs need none. */
void http_set_token(struct http_server *s, const char *token)
{
    char *t = token ? strdup(token) : NULL;

    pthread_mutex_lock(&s->mu);
    free(s->token);
    s->token = t;
    pthread_mutex_unlock(&s->mu);
}

/* The address as bound ("127.0.0.1:43121" for port 0). */
const char *http_bound(const struct http_server *s)
{
    return s->ls.bound;
}

/* Publish a new view (see http.h); the main loop's turn also ends a replaced listener. */
void http_publish(struct http_server *s, struct view *v)
{
    stop_retired(s, false);
    handover_publish(&s->ho, v);
}

/* The eventfd that becomes readable when a command is queued. */
int http_command_fd(const struct http_server *s)
{
    return handover_fd(&s->ho);
}

/* The next command to run (handover_next). */
struct command *http_next_command(struct http_server *s)
{
    return handover_next(&s->ho);
}

/* Answer a command taken with http_next_command (handover_answer). */
void http_answer(struct http_server *s, struct command *c, int status, json_t *body)
{
    handover_answer(&s->ho, c, status, body);
}

/* The version of the libmicrohttpd loaded at run time, for --version. */
const char *http_mhd_version(void)
{
    return MHD_get_version();
}

/* Read and check the TLS files, the key under the token file's mode rule (see http.h). */
bool http_tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
                   struct tls_material *tls, char *err, size_t errlen)
{
    return tls_read(listen, cert, key, client_ca, token_mode_ok, tls, err, errlen);
}
