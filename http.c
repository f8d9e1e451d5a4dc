/*
 * http.c - the HTTP API (API.md): libmicrohttpd, one thread per
 * connection, behind connection, per-IP and time limits
 *
 * Handlers read the latest view the main loop published and render it;
 * commands go to the main loop through a queue and an eventfd, and the
 * handler waits for the answer with a timeout.  Nothing here calls libpq or
 * touches the guard's state.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "render.h"
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
#define PEM_MAX            (1024 * 1024)

static const struct route {
    const char *path;
    const char *method;
    enum route_id id;
} routes[] = {
    {"/health", "GET", R_HEALTH},
    {"/ready", "GET", R_READY},
    {"/metrics", "GET", R_METRICS},
    {"/v1/status", "GET", R_STATUS},
    {"/v1/walsenders", "GET", R_WALSENDERS},
    {"/v1/arm", "POST", R_ARM},
    {"/v1/disarm", "POST", R_DISARM},
    {"/v1/callback", "POST", R_CALLBACK},
    {"/v1/kill", "POST", R_KILL},
};

#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

/* One open connection, in the server's list (guarded by its mutex). */
struct slot {
    int fd;
    struct sockaddr_storage addr; /* port cleared: connections are grouped by address */
    int64_t since_ms;             /* monotonic: accepted, or its last answer was sent */
    bool busy;                    /* a whole request arrived and is being answered */
    bool pushed_out;              /* shut down by us; its thread is ending */
    struct slot *prev, *next;
};

/* A queued command and its hand-over state, guarded by the server's mutex. */
struct pending {
    struct command c;
    bool done, abandoned;
    struct pending *next;
};

struct http_server {
    struct MHD_Daemon *mhd;
    struct MHD_Daemon *retired; /* the listener before a TLS reload, until its connections end */
    struct http_tls tls, retired_tls; /* their material: libmicrohttpd keeps pointers to it */
    bool require_cert; /* --tls-client-ca: every request needs a client certificate */
    int listen_fd;
    char bound[PATH_MAX + 8];
    char unix_path[PATH_MAX];
    dev_t unix_dev; /* the socket we created, to remove only that one */
    ino_t unix_ino;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct view *view;
    char *token;
    struct pending *head, *tail;
    int evfd;
    bool stopping;
    bool loopback; /* a loopback TCP address: requests must name a loopback Host */

    struct slot *slots; /* every open connection, newest first */
    int live;           /* of them, not pushed out */
    unsigned long pushed_out, timed_out;
    pthread_t reaper;
    bool reaper_started;
    pthread_cond_t reaper_cv;
};

/* Per-request state across libmicrohttpd's calls of the handler. */
struct request {
    int route;
    char body[HTTP_MAX_BODY];
    size_t len;
    bool too_large;
};

/* --------------------------------------------------------- listen, token */

/* Is this IPv4 or IPv6 address a loopback one? */
static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/*
 * Parse "IP:PORT" or "[IPv6]:PORT" (numeric only: a name would need a
 * resolver at start-up) into ss.  False with a reason in err.
 */
static bool parse_inet(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                       size_t errlen)
{
    char host[64];
    const char *colon, *h = listen;
    size_t hlen;
    char *end;
    long port;

    colon = strrchr(listen, ':');
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');

        if (rb == NULL || rb[1] != ':') {
            snprintf(err, errlen, "an IPv6 address must be written [ADDRESS]:PORT");
            return false;
        }
        h = listen + 1;
        colon = rb + 1;
        hlen = (size_t)(rb - h);
    } else
        hlen = colon ? (size_t)(colon - listen) : 0;
    if (colon == NULL || hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "expected IP:PORT, [IPv6]:PORT, unix:/path or off");
        return false;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end != '\0' || errno || port < 0 || port > 65535) {
        snprintf(err, errlen, "the port must be a number from 0 to 65535");
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (listen[0] != '[' && inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        *sslen = sizeof(struct sockaddr_in);
        return true;
    }
    if (listen[0] == '[' &&
        inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(struct sockaddr_in6);
        return true;
    }
    snprintf(err, errlen, "\"%s\" is not a numeric IP address (host names are not resolved)", host);
    return false;
}

/*
 * Is --listen well formed, and allowed without a token?  A TCP address that
 * is not loopback needs --token-file or --tls-client-ca (have_token).
 */
bool http_listen_check(const char *listen, bool have_token, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[160];

    if (strcmp(listen, "off") == 0)
        return true;
    if (strncmp(listen, "unix:", 5) == 0) {
        if (listen[5] != '/' || strlen(listen + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen,
                     "invalid value \"%.200s%s\" for option \"--listen\": unix: needs an absolute "
                     "path shorter than 108 bytes",
                     listen, strlen(listen) > 200 ? "..." : "");
            return false;
        }
        return true;
    }
    if (!parse_inet(listen, &ss, &len, why, sizeof(why))) {
        snprintf(err, errlen, "invalid value \"%.200s%s\" for option \"--listen\": %s", listen,
                 strlen(listen) > 200 ? "..." : "", why);
        return false;
    }
    if (!is_loopback(&ss) && !have_token) {
        snprintf(err, errlen,
                 "option \"--listen\" is \"%s\", not a loopback address: it needs \"--token-file\" "
                 "or \"--tls-client-ca\"",
                 listen);
        return false;
    }
    return true;
}

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

/* ------------------------------------------------------------------ TLS */

/* Say why a file of option opt cannot be used, as config errors do. */
static bool file_error(const char *opt, const char *path, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "invalid value \"%s\" for option \"--%s\": %s", path, opt, why);
    return false;
}

/*
 * Read a whole PEM file of at most PEM_MAX bytes into *out (NUL-terminated).
 * A regular file only, opened without blocking (a FIFO is refused); a
 * private one (a key) passes the token file's mode rule.
 */
static bool read_pem(const char *opt, const char *path, bool private, char **out, char *err,
                     size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char why[200];
    ssize_t n = 0;

    *out = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        file_error(opt, path, err, errlen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PEM_MAX || (private && !token_mode_ok(&st))) {
        snprintf(why, sizeof(why),
                 !S_ISREG(st.st_mode) ? "not a regular file"
                 : st.st_size > PEM_MAX
                     ? "larger than 1 MiB"
                     : "may be read by others (mode %04o, owner uid %u): make "
                       "it 0600 or stricter, or 0640 or stricter if owned by root",
                 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
        close(fd);
        return file_error(opt, path, err, errlen, why);
    }
    *out = malloc((size_t)st.st_size + 1);
    if (*out != NULL)
        n = read(fd, *out, (size_t)st.st_size);
    close(fd);
    if (*out == NULL || n < 0) {
        free(*out);
        *out = NULL;
        return file_error(opt, path, err, errlen, n < 0 ? strerror(errno) : "out of memory");
    }
    (*out)[n] = '\0';
    return true;
}

/* GnuTLS's text for rc without its trailing period, as our messages are. */
static const char *tls_strerror(int rc, char *buf, size_t len)
{
    size_t n;

    snprintf(buf, len, "%s", gnutls_strerror(rc));
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    return buf;
}

/* Is the first certificate of cert expired?  Fills why when it is. */
static bool cert_expired(const gnutls_datum_t *cert, char *why, size_t len)
{
    gnutls_x509_crt_t crt;
    time_t until = (time_t)-1;
    struct tm tm;

    if (gnutls_x509_crt_init(&crt) < 0)
        return false;
    if (gnutls_x509_crt_import(crt, cert, GNUTLS_X509_FMT_PEM) >= 0)
        until = gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    if (until == (time_t)-1 || until > time(NULL))
        return false;
    gmtime_r(&until, &tm);
    strftime(why, len, "the certificate expired on %Y-%m-%d %H:%M:%S UTC", &tm);
    return true;
}

/* Let GnuTLS load the material as libmicrohttpd will: a key that fits the certificate, CAs. */
static bool tls_check(const struct http_tls *t, const char *cert, const char *ca, char *err,
                      size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    gnutls_datum_t c = {(unsigned char *)t->cert, (unsigned)strlen(t->cert)};
    gnutls_datum_t k = {(unsigned char *)t->key, (unsigned)strlen(t->key)};
    char why[200];
    int rc;
    bool ok = false;

    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "GnuTLS could not allocate credentials");
        return false;
    }
    rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        snprintf(err, errlen, "options \"--tls-cert\" \"%s\" and \"--tls-key\": %s", cert,
                 tls_strerror(rc, why, sizeof(why)));
    else if (cert_expired(&c, why, sizeof(why)))
        file_error("tls-cert", cert, err, errlen, why);
    else if (t->client_ca) {
        gnutls_datum_t a = {(unsigned char *)t->client_ca, (unsigned)strlen(t->client_ca)};

        rc = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (rc <= 0)
            file_error("tls-client-ca", ca, err, errlen,
                       rc < 0 ? tls_strerror(rc, why, sizeof(why)) : "no PEM certificate in it");
        ok = rc > 0;
    } else
        ok = true;
    gnutls_certificate_free_credentials(cred);
    return ok;
}

/* Free what http_tls_read read. */
void http_tls_free(struct http_tls *tls)
{
    if (tls->key)
        explicit_bzero(tls->key, strlen(tls->key));
    free(tls->cert);
    free(tls->key);
    free(tls->client_ca);
    memset(tls, 0, sizeof(*tls));
}

/* Do two strings, either NULL, hold the same text? */
static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Is the material the same (NULL stands for none)? */
bool http_tls_equal(const struct http_tls *a, const struct http_tls *b)
{
    static const struct http_tls none;

    a = a ? a : &none;
    b = b ? b : &none;
    return same_text(a->cert, b->cert) && same_text(a->key, b->key) &&
           same_text(a->client_ca, b->client_ca);
}

/* Which TLS options need which, and TLS a TCP listener. */
static bool tls_options_ok(const char *listen, const char *cert, const char *key, const char *ca,
                           char *err, size_t errlen)
{
    if ((cert == NULL) != (key == NULL))
        snprintf(err, errlen, "option \"--%s\" needs \"--%s\"", cert ? "tls-cert" : "tls-key",
                 cert ? "tls-key" : "tls-cert");
    else if (ca && cert == NULL)
        snprintf(err, errlen,
                 "option \"--tls-client-ca\" needs \"--tls-cert\" and \"--tls-key\": client "
                 "certificates are asked for in TLS");
    else if (cert && strncmp(listen, "unix:", 5) == 0)
        snprintf(err, errlen,
                 "option \"--tls-cert\" needs a TCP \"--listen\", not \"%s\": a unix socket is "
                 "guarded by its file mode",
                 listen);
    else
        return true;
    return false;
}

/* Read and check the TLS files (see http.h). */
bool http_tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
                   struct http_tls *tls, char *err, size_t errlen)
{
    memset(tls, 0, sizeof(*tls));
    cert = cert && cert[0] ? cert : NULL; /* "" (an emptied config line): none */
    key = key && key[0] ? key : NULL;
    client_ca = client_ca && client_ca[0] ? client_ca : NULL;
    if (!tls_options_ok(listen, cert, key, client_ca, err, errlen))
        return false;
    if (cert == NULL)
        return true;
    if (!read_pem("tls-cert", cert, false, &tls->cert, err, errlen) ||
        !read_pem("tls-key", key, true, &tls->key, err, errlen) ||
        (client_ca && !read_pem("tls-client-ca", client_ca, false, &tls->client_ca, err, errlen)) ||
        !tls_check(tls, cert, client_ca, err, errlen)) {
        http_tls_free(tls);
        return false;
    }
    return true;
}

/* A copy of tls (NULL: none); false when out of memory. */
static bool tls_copy(const struct http_tls *tls, struct http_tls *out)
{
    memset(out, 0, sizeof(*out));
    if (tls == NULL || tls->cert == NULL)
        return true;
    out->cert = strdup(tls->cert);
    out->key = strdup(tls->key);
    out->client_ca = tls->client_ca ? strdup(tls->client_ca) : NULL;
    if (out->cert && out->key && (out->client_ca || !tls->client_ca))
        return true;
    http_tls_free(out);
    return false;
}

/* -------------------------------------------------------------- routing */

/*
 * Find the route of a request.  Returns its id, R_NOT_FOUND, or
 * R_BAD_METHOD with *allow set to the method the path takes.  HEAD is
 * served as GET.  Paths match exactly: no trailing slash, no dot segments.
 */
int http_route(const char *method, const char *url, const char **allow)
{
    for (int i = 0; i < N_ROUTES; i++) {
        if (strcmp(routes[i].path, url) != 0)
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return routes[i].id;
        *allow = strcmp(routes[i].method, "GET") == 0 ? "GET, HEAD" : routes[i].method;
        return R_BAD_METHOD;
    }
    return R_NOT_FOUND;
}

/* Take an optional string field of at most max-1 bytes into out. */
static bool take_string(json_t *o, const char *key, char *out, size_t max, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return true;
    if (!json_is_string(v) || json_string_length(v) >= max) {
        snprintf(err, errlen, "\"%s\" must be a string of at most %zu bytes", key, max - 1);
        return false;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* Take an optional boolean field; a selector flag must be true when present. */
static bool take_bool(json_t *o, const char *key, bool *out, bool must_be_true, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return true;
    if (!json_is_boolean(v) || (must_be_true && !json_is_true(v))) {
        snprintf(err, errlen, "\"%s\" must be %s", key, must_be_true ? "true" : "a boolean");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* Refuse fields other than the allowed ones. */
static bool only_fields(json_t *o, const char *const *allowed, char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    json_object_foreach(o, key, v)
    {
        bool ok = false;

        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "unknown field \"%.64s\"", key);
            return false;
        }
    }
    return true;
}

/* The fields of POST /v1/kill: exactly one selector. */
static bool parse_kill(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"slot",  "pid",    "stalled", "all_logical",
                                          "force", "reason", NULL};
    json_t *pid = json_object_get(o, "pid");
    bool stalled = false, all = false;
    int n;

    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "slot", c->slot, sizeof(c->slot), err, errlen) ||
        !take_bool(o, "stalled", &stalled, true, err, errlen) ||
        !take_bool(o, "all_logical", &all, true, err, errlen) ||
        !take_bool(o, "force", &c->force, false, err, errlen) ||
        !take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen))
        return false;
    if (pid && (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
                json_integer_value(pid) > INT_MAX)) {
        snprintf(err, errlen, "\"pid\" must be a positive integer");
        return false;
    }
    n = (json_object_get(o, "slot") != NULL) + (pid != NULL) + stalled + all;
    if (n != 1) {
        snprintf(err, errlen,
                 "give exactly one of \"slot\", \"pid\", \"stalled\": true, "
                 "\"all_logical\": true");
        return false;
    }
    if (json_object_get(o, "slot") && c->slot[0] == '\0') {
        snprintf(err, errlen, "\"slot\" must not be empty");
        return false;
    }
    c->pid = pid ? (int)json_integer_value(pid) : 0;
    c->sel = json_object_get(o, "slot") ? KILL_SLOT
             : pid                      ? KILL_PID
             : stalled                  ? KILL_STALLED
                                        : KILL_ALL_LOGICAL;
    return true;
}

/* The fields of POST /v1/arm. */
static bool parse_arm(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"deadline", "reason", NULL};
    char dl[32] = "";

    c->deadline_ms = -1;
    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "deadline", dl, sizeof(dl), err, errlen) ||
        !take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen))
        return false;
    c->trigger = trigger_of(c->reason);
    if (json_object_get(o, "deadline") && !config_parse_duration(dl, &c->deadline_ms)) {
        snprintf(err, errlen,
                 "\"deadline\" must be a duration such as 250ms, 10s or 2m, not "
                 "\"%s\"",
                 dl);
        return false;
    }
    return true;
}

/* The fields of POST /v1/callback: Patroni's ACTION ROLE SCOPE, all required. */
static bool parse_callback(json_t *o, struct command *c, char *err, size_t errlen)
{
    static const char *const allowed[] = {"action", "role", "scope", NULL};
    static const char *const actions[] = {"on_start",  "on_stop",        "on_restart",
                                          "on_reload", "on_role_change", NULL};
    bool known = false;

    if (!only_fields(o, allowed, err, errlen) ||
        !take_string(o, "action", c->action, sizeof(c->action), err, errlen) ||
        !take_string(o, "role", c->role, sizeof(c->role), err, errlen) ||
        !take_string(o, "scope", c->scope, sizeof(c->scope), err, errlen))
        return false;
    for (int i = 0; actions[i] && !known; i++)
        known = strcmp(c->action, actions[i]) == 0;
    if (!known || c->role[0] == '\0' || c->scope[0] == '\0') {
        snprintf(err, errlen,
                 "\"action\" (on_start, on_stop, on_restart, on_reload, "
                 "on_role_change), \"role\" and \"scope\" are required");
        return false;
    }
    return true;
}

/*
 * Parse the body of a command route into c.  An empty body is {}.  False
 * with err for malformed JSON, a non-object, a wrong type or an unknown field.
 */
bool http_parse_command(int route, const char *body, size_t len, struct command *c, char *err,
                        size_t errlen)
{
    static const char *const disarm_fields[] = {"reason", NULL};
    json_error_t je;
    json_t *o;
    bool ok;

    memset(c, 0, sizeof(*c));
    c->type = route == R_ARM      ? CMD_ARM
              : route == R_DISARM ? CMD_DISARM
              : route == R_KILL   ? CMD_KILL
                                  : CMD_CALLBACK;
    c->deadline_ms = -1;
    o = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (o == NULL) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return false;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the body must be a JSON object");
        json_decref(o);
        return false;
    }
    if (c->type == CMD_ARM)
        ok = parse_arm(o, c, err, errlen);
    else if (c->type == CMD_CALLBACK)
        ok = parse_callback(o, c, err, errlen);
    else if (c->type == CMD_DISARM)
        ok = only_fields(o, disarm_fields, err, errlen) &&
             take_string(o, "reason", c->reason, sizeof(c->reason), err, errlen);
    else
        ok = parse_kill(o, c, err, errlen);
    json_decref(o);
    return ok;
}

/* --------------------------------------------------------- listen socket */

/*
 * Make room for a unix socket at path: a socket nobody answers on is stale
 * and removed; a live one, or anything that is not a socket, is refused.
 */
static bool clear_unix_path(const char *path, const struct sockaddr_un *sa, char *err,
                            size_t errlen)
{
    struct stat st;
    int fd, why;
    bool stale;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ||
               (snprintf(err, errlen, "could not check \"%s\": %s", path, strerror(errno)), false);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "\"%s\" exists and is not a socket; not replacing it", path);
        return false;
    }
    /* non-blocking: a listener with a full backlog must not hang us; only a
       refusal proves nobody listens (EACCES and the like prove nothing) */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    errno = 0;
    stale = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0 &&
            errno == ECONNREFUSED;
    why = errno;
    if (fd >= 0)
        close(fd);
    if (!stale) {
        snprintf(err, errlen, "\"%s\" is in use or cannot be checked (%s); not replacing it", path,
                 why == 0 ? "a process is listening" : strerror(why));
        return false;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "could not remove stale socket \"%s\": %s", path, strerror(errno));
        return false;
    }
    log_info("removed stale socket \"%s\"", path);
    return true;
}

/* Bind a unix socket, mode 0660. */
static int bind_unix(struct http_server *s, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    mode_t old;
    int fd, rc;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (!clear_unix_path(path, &sa, err, errlen))
        return -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "could not create a socket: %s", strerror(errno));
        return -1;
    }
    old = umask(0117); /* the socket is created 0660, never wider */
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || lstat(path, &st) != 0) {
        snprintf(err, errlen, "could not bind \"%s\": %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    snprintf(s->unix_path, sizeof(s->unix_path), "%s", path);
    s->unix_dev = st.st_dev;
    s->unix_ino = st.st_ino;
    snprintf(s->bound, sizeof(s->bound), "unix:%s", path);
    return fd;
}

/* Describe a bound TCP address as "127.0.0.1:8009" or "[::1]:8009". */
static void describe_inet(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    }
}

/* Create and bind the listening socket for --listen. */
static int bind_listen(struct http_server *s, const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    if (strncmp(listen, "unix:", 5) == 0)
        return bind_unix(s, listen + 5, err, errlen);
    if (!parse_inet(listen, &ss, &sl, err, errlen))
        return -1;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "could not create a socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        snprintf(err, errlen, "could not bind %s: %s", listen, strerror(errno));
        close(fd);
        return -1;
    }
    describe_inet(fd, s->bound, sizeof(s->bound));
    s->loopback = is_loopback(&ss);
    return fd;
}

/* ------------------------------------------------------------- handlers */

/* Monotonic and wall-clock milliseconds. */
static int64_t now_ms(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take a reference to the latest view (NULL before the first one). */
static struct view *view_get(struct http_server *s)
{
    struct view *v;

    pthread_mutex_lock(&s->mu);
    v = s->view;
    if (v)
        v->refs++;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Drop a reference to a view. */
static void view_put(struct http_server *s, struct view *v)
{
    bool last;

    if (v == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    last = --v->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        free(v);
}

/* ---------------------------------------------------- connection limits */

/* Do two slots come from the same address (the port aside)? */
static bool same_address(const struct slot *a, const struct slot *b)
{
    if (a->addr.ss_family != b->addr.ss_family)
        return false;
    if (a->addr.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->addr)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->addr)->sin_addr.s_addr;
    if (a->addr.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->addr)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return true; /* unix: one address */
}

/* May this slot be pushed out: its request has not arrived whole? */
static bool waiting(const struct slot *x)
{
    return !x->busy && !x->pushed_out;
}

/* How many waiting slots share x's address.  Caller holds s->mu. */
static int waiting_from(const struct http_server *s, const struct slot *x)
{
    int n = 0;

    for (const struct slot *y = s->slots; y; y = y->next)
        n += waiting(y) && same_address(x, y);
    return n;
}

/*
 * The slot to push out for a new one: a waiting one (not new) of the
 * address with the most waiting slots, the oldest of those.  NULL when
 * every other slot is answering.  Caller holds s->mu.
 */
static struct slot *victim(const struct http_server *s, const struct slot *new)
{
    struct slot *best = NULL;
    int best_n = 0;

    for (struct slot *x = s->slots; x; x = x->next) {
        int n;

        if (x == new || !waiting(x))
            continue;
        n = waiting_from(s, x);
        if (n > best_n || (n == best_n && x->since_ms <= best->since_ms)) {
            best = x;
            best_n = n;
        }
    }
    return best;
}

/* End a connection from outside its thread: its reads fail, it closes.  Caller holds s->mu. */
static void push_out(struct http_server *s, struct slot *x)
{
    x->pushed_out = true;
    s->live--;
    shutdown(x->fd, SHUT_RDWR);
}

/*
 * A connection was accepted: track it and, beyond CONN_LIMIT, push out a
 * waiting one (or this one, when all others are answering).
 */
static void slot_open(struct http_server *s, struct MHD_Connection *conn, void **ctx)
{
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ca =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    struct slot *x = calloc(1, sizeof(*x)), *v;

    *ctx = x;
    if (x == NULL || fd == NULL)
        return; /* untracked: libmicrohttpd's own limits still apply */
    x->fd = fd->connect_fd;
    if (ca && ca->client_addr && ca->client_addr->sa_family == AF_INET)
        memcpy(&x->addr, ca->client_addr, sizeof(struct sockaddr_in));
    else if (ca && ca->client_addr && ca->client_addr->sa_family == AF_INET6)
        memcpy(&x->addr, ca->client_addr, sizeof(struct sockaddr_in6));
    x->since_ms = now_ms(CLOCK_MONOTONIC);
    pthread_mutex_lock(&s->mu);
    x->next = s->slots;
    if (s->slots)
        s->slots->prev = x;
    s->slots = x;
    if (++s->live > CONN_LIMIT) {
        v = victim(s, x);
        push_out(s, v ? v : x);
        s->pushed_out++;
    }
    pthread_mutex_unlock(&s->mu);
}

/* A connection closed: forget it (before libmicrohttpd closes its socket). */
static void slot_close(struct http_server *s, struct slot *x)
{
    if (x == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    if (x->prev)
        x->prev->next = x->next;
    else
        s->slots = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (!x->pushed_out)
        s->live--;
    pthread_mutex_unlock(&s->mu);
    free(x);
}

/* libmicrohttpd's connection callback: a connection opened or closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        slot_open(cls, conn, ctx);
    else {
        slot_close(cls, *ctx);
        *ctx = NULL;
    }
}

/* Mark the connection of a request busy (its request is whole) or waiting again. */
static void slot_busy(struct http_server *s, struct MHD_Connection *conn, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct slot *x = ci ? ci->socket_context : NULL;

    if (x == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    x->busy = busy;
    x->since_ms = now_ms(CLOCK_MONOTONIC);
    pthread_mutex_unlock(&s->mu);
}

/* Push out every connection past its time: REQUEST_TIMEOUT_MS waiting, BUSY_TIMEOUT_MS busy. */
static void reap(struct http_server *s, int64_t now)
{
    for (struct slot *x = s->slots; x; x = x->next)
        if (!x->pushed_out &&
            now - x->since_ms > (x->busy ? BUSY_TIMEOUT_MS : REQUEST_TIMEOUT_MS)) {
            push_out(s, x);
            s->timed_out++;
        }
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
        reap(s, now_ms(CLOCK_MONOTONIC));
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queue a response from a malloc'd buffer. */
static enum MHD_Result respond_buf(struct MHD_Connection *conn, int status, char *buf, size_t len,
                                   const char *type, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (r == NULL) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/*
 * Queue a JSON response, one line with a newline; takes the reference to
 * body.  A body that could not be built (NULL: json_pack refused a string)
 * or rendered still gets an answer: a fixed JSON error with the status (500
 * when the status was not an error), never a dropped connection.
 */
static enum MHD_Result respond_json(struct MHD_Connection *conn, int status, json_t *body,
                                    const char *allow)
{
    static const char fallback[] =
        "{\"error\":\"internal\",\"detail\":\"the response could not be rendered\"}\n";
    char *text =
        body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    char *line = NULL;
    int len = text ? asprintf(&line, "%s\n", text) : -1;

    json_decref(body);
    free(text);
    if (len < 0) {
        log_error("HTTP %d response could not be rendered; answering with a fixed error", status);
        line = strdup(fallback);
        if (line == NULL)
            return MHD_NO;
        len = (int)strlen(line);
        status = status >= 400 ? status : 500;
    }
    return respond_buf(conn, status, line, (size_t)len, "application/json", allow);
}

/*
 * Queue an error response.  The detail may quote the request (a key cut to
 * 64 bytes, jansson's error text): invalid UTF-8 in it is replaced, so that
 * it can be a JSON string.
 */
static enum MHD_Result respond_error(struct MHD_Connection *conn, int status, const char *code,
                                     const char *detail, const char *allow)
{
    char clean[1024];

    snprintf(clean, sizeof(clean), "%s", detail);
    log_sanitize_utf8(clean);
    return respond_json(conn, status, render_error(code, clean), allow);
}

/* Serve a GET route from the latest view. */
static enum MHD_Result serve_get(struct http_server *s, struct MHD_Connection *conn, int route)
{
    struct view *v = view_get(s);
    int status = 200;
    json_t *body;

    if (v == NULL)
        return respond_error(conn, 503, "unavailable", "the guard is starting", NULL);
    if (route == R_METRICS) {
        size_t len = 0;
        char *text = render_metrics(v, now_ms(CLOCK_REALTIME), &len);

        view_put(s, v);
        if (text == NULL)
            return respond_error(conn, 500, "internal", "out of memory", NULL);
        return respond_buf(conn, 200, text, len, "text/plain; version=0.0.4; charset=utf-8", NULL);
    }
    if (route == R_HEALTH)
        body = render_health(v, now_ms(CLOCK_MONOTONIC), &status);
    else if (route == R_READY)
        body = render_ready(v, &status);
    else if (route == R_STATUS)
        body = render_status(v);
    else
        body = render_walsenders(v);
    view_put(s, v);
    return respond_json(conn, status, body, NULL);
}

/* Who sent this request: "127.0.0.1:53422", "[::1]:53422" or "unix". */
static void requester_of(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char host[INET6_ADDRSTRLEN] = "?";

    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else
        snprintf(out, len, "unix");
}

/*
 * Hand a command to the main loop and wait for its answer.  On timeout the
 * command is abandoned: the main loop drops it if it has not started it.
 */
static enum MHD_Result run_command(struct http_server *s, struct MHD_Connection *conn,
                                   struct command *c)
{
    struct pending *p = calloc(1, sizeof(*p));
    struct timespec until;
    uint64_t one = 1;
    int status;
    json_t *body;

    if (p == NULL)
        return respond_error(conn, 500, "internal", "out of memory", NULL);
    p->c = *c;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += COMMAND_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    if (s->tail)
        s->tail->next = p;
    else
        s->head = p;
    s->tail = p;
    pthread_mutex_unlock(&s->mu);
    if (write(s->evfd, &one, sizeof(one)) < 0)
        log_debug("eventfd write: %m");
    pthread_mutex_lock(&s->mu);
    while (!p->done && !s->stopping)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
    if (!p->done) {
        bool stopping = s->stopping;

        p->abandoned = true;
        pthread_mutex_unlock(&s->mu);
        return respond_error(conn, stopping ? 503 : 504, stopping ? "unavailable" : "timeout",
                             stopping ? "the guard is stopping"
                                      : "the guard's loop did not answer within 10 s",
                             NULL);
    }
    status = p->c.status;
    body = p->c.body;
    pthread_mutex_unlock(&s->mu);
    free(p);
    return respond_json(conn, status, body, NULL);
}

/* Check the token of a POST; false when it was refused (response queued in *ret). */
static bool authorized(struct http_server *s, struct MHD_Connection *conn, enum MHD_Result *ret)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool ok;

    pthread_mutex_lock(&s->mu);
    ok = s->token == NULL || http_bearer_ok(s->token, h);
    pthread_mutex_unlock(&s->mu);
    if (!ok)
        *ret = respond_error(conn, 401, "unauthorized",
                             h ? "wrong bearer token" : "this guard needs Authorization: Bearer",
                             NULL);
    return ok;
}

/*
 * On a loopback address, refuse a Host that is not loopback: a web page
 * whose name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its
 * own name.  No Host (HTTP/1.0) is no browser.
 */
static bool host_ok(const struct http_server *s, struct MHD_Connection *conn)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char name[256];
    size_t n;

    if (!s->loopback || host == NULL)
        return true;
    n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    snprintf(name, sizeof(name), "%.*s", (int)n, host);
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "[::1]") == 0 ||
           (strncmp(name, "127.", 4) == 0 && strspn(name, "0123456789.") == strlen(name));
}

/*
 * Under --tls-client-ca: did the client present a certificate that a CA of
 * --tls-client-ca signed?  False with why.
 */
static bool client_cert_ok(struct MHD_Connection *conn, char *why, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t ts = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned int n = 0, status = 0;
    gnutls_datum_t text;
    char buf[160];
    int rc;

    if (ts == NULL || gnutls_certificate_get_peers(ts, &n) == NULL || n == 0) {
        snprintf(why, len, "this guard requires a client certificate (mTLS)");
        return false;
    }
    rc = gnutls_certificate_verify_peers2(ts, &status);
    if (rc == 0 && status == 0)
        return true;
    if (rc == 0 &&
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        snprintf(why, len, "client certificate refused: %s", (const char *)text.data);
        gnutls_free(text.data);
    } else
        snprintf(why, len, "client certificate refused: %s",
                 rc < 0 ? tls_strerror(rc, buf, sizeof(buf)) : "not trusted");
    return false;
}

/*
 * A POST must say its body is JSON: a web page can send a "simple"
 * cross-site POST (text/plain) without asking, but not this.
 */
static bool json_content(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/*
 * The first call for a request: route, method, auth, announced body size.
 * Errors are answered at once (libmicrohttpd then closes the connection);
 * a good request is answered on a later call, which keeps it alive.
 */
static enum MHD_Result begin_request(struct http_server *s, struct MHD_Connection *conn,
                                     const char *url, const char *method, void **con_cls)
{
    const char *allow = NULL, *cl;
    int route = http_route(method, url, &allow);
    struct request *rq;
    enum MHD_Result ret;
    bool need_cert;
    char why[300];

    pthread_mutex_lock(&s->mu);
    need_cert = s->require_cert;
    pthread_mutex_unlock(&s->mu);
    if (need_cert && !client_cert_ok(conn, why, sizeof(why)))
        return respond_error(conn, 403, "forbidden", why, NULL);
    if (route == R_NOT_FOUND)
        return respond_error(conn, 404, "not_found", "no such route; see API.md", NULL);
    if (route == R_BAD_METHOD)
        return respond_error(conn, 405, "method_not_allowed", "method not allowed here", allow);
    if (!host_ok(s, conn))
        return respond_error(conn, 403, "forbidden",
                             "this guard listens on loopback: the Host header must name localhost "
                             "or a loopback address",
                             NULL);
    if (route >= R_ARM && !authorized(s, conn, &ret))
        return ret;
    if (route >= R_ARM && !json_content(conn))
        return respond_error(conn, 415, "unsupported_media_type",
                             "POST bodies are JSON: send Content-Type: application/json", NULL);
    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY)
        return respond_error(conn, 413, "too_large", "the body is limited to 8 KiB", NULL);
    rq = calloc(1, sizeof(*rq));
    if (rq == NULL)
        return MHD_NO;
    rq->route = route;
    *con_cls = rq;
    return MHD_YES;
}

/* libmicrohttpd's access handler. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct request *rq = *con_cls;
    struct command c;
    char err[300];

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
    if (rq->too_large)
        return respond_error(conn, 413, "too_large", "the body is limited to 8 KiB", NULL);
    if (rq->route < R_ARM)
        return serve_get(s, conn, rq->route);
    if (!http_parse_command(rq->route, rq->body, rq->len, &c, err, sizeof(err)))
        return respond_error(conn, 400, "bad_request", err, NULL);
    requester_of(conn, c.requester, sizeof(c.requester));
    return run_command(s, conn, &c);
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
static struct MHD_Daemon *start_mhd(struct http_server *s, const struct http_tls *tls, int fd)
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
struct http_server *http_start_tls(const char *addr, const char *token, const struct http_tls *tls,
                                   char *err, size_t errlen)
{
    struct http_server *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_cond_init(&s->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    s->token = token ? strdup(token) : NULL;
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->listen_fd = bind_listen(s, addr, err, errlen);
    if (s->listen_fd >= 0 && listen(s->listen_fd, 64) != 0) {
        snprintf(err, errlen, "could not listen on %s: %s", s->bound, strerror(errno));
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    if (s->evfd < 0 || s->listen_fd < 0 || !tls_copy(tls, &s->tls)) {
        if (s->evfd < 0)
            snprintf(err, errlen, "could not create an eventfd: %s", strerror(errno));
        else if (s->listen_fd >= 0)
            snprintf(err, errlen, "out of memory");
        http_stop(s);
        return NULL;
    }
    s->require_cert = s->tls.client_ca != NULL;
    s->reaper_started = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
    s->mhd = start_mhd(s, &s->tls, s->listen_fd);
    if (s->mhd == NULL || !s->reaper_started) {
        snprintf(err, errlen, "libmicrohttpd could not start on %s%s", s->bound,
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
    http_tls_free(&s->retired_tls);
}

/*
 * Serve new TLS material (see http.h).  The running daemon stops
 * accepting (MHD_quiesce_daemon) and a new one takes its socket, so no
 * connection attempt is refused in between; the old one ends when its
 * connections have.
 */
bool http_set_tls(struct http_server *s, const struct http_tls *tls, char *err, size_t errlen)
{
    struct http_tls fresh;
    struct MHD_Daemon *d;
    MHD_socket fd;

    if (http_tls_equal(&s->tls, tls))
        return true;
    if (!tls_copy(tls, &fresh)) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    stop_retired(s, true);
    fd = MHD_quiesce_daemon(s->mhd);
    if (fd == MHD_INVALID_SOCKET) {
        snprintf(err, errlen, "libmicrohttpd could not hand over its listening socket");
        http_tls_free(&fresh);
        return false;
    }
    d = start_mhd(s, &fresh, fd);
    if (d == NULL) {
        /* the old material on a new daemon: the quiesced one accepts no more */
        snprintf(err, errlen, "libmicrohttpd refused the new TLS material");
        http_tls_free(&fresh);
        tls_copy(&s->tls, &fresh);
        d = start_mhd(s, &fresh, fd);
        if (d == NULL) {
            log_error("libmicrohttpd could not restart on %s: the HTTP API is down", s->bound);
            http_tls_free(&fresh);
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

/* Remove our unix socket, unless something else has taken its path since. */
static void remove_own_socket(const struct http_server *s)
{
    struct stat st;

    if (lstat(s->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->unix_dev &&
        st.st_ino == s->unix_ino)
        unlink(s->unix_path);
}

/* Stop serving: waiting handlers are answered 503, then threads end. */
void http_stop(struct http_server *s)
{
    struct pending *p, *next;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_broadcast(&s->reaper_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->reaper_started)
        pthread_join(s->reaper, NULL);
    stop_retired(s, true);
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* closes listen_fd */
    else if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->unix_path[0] && s->listen_fd >= 0)
        remove_own_socket(s);
    for (p = s->head; p; p = next) {
        next = p->next;
        json_decref(p->c.body);
        free(p);
    }
    if (s->evfd >= 0)
        close(s->evfd);
    if (s->view && --s->view->refs == 0)
        free(s->view);
    free(s->token);
    http_tls_free(&s->tls);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->reaper_cv);
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
    return s->bound;
}

/* Publish a new view; the server owns it from now on. */
void http_publish(struct http_server *s, struct view *v)
{
    struct view *old;

    stop_retired(s, false); /* the main loop's turn: a replaced listener may be done */
    v->refs = 1;
    pthread_mutex_lock(&s->mu);
    old = s->view;
    s->view = v;
    if (old && --old->refs > 0)
        old = NULL;
    pthread_mutex_unlock(&s->mu);
    free(old);
}

/* The eventfd that becomes readable when a command is queued. */
int http_command_fd(const struct http_server *s)
{
    return s->evfd;
}

/* The next command to run, skipping those whose requester gave up. */
struct command *http_next_command(struct http_server *s)
{
    struct pending *p;
    uint64_t n;

    if (read(s->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_debug("eventfd read: %m");
    pthread_mutex_lock(&s->mu);
    while ((p = s->head) != NULL) {
        s->head = p->next;
        if (s->head == NULL)
            s->tail = NULL;
        p->next = NULL;
        if (!p->abandoned)
            break;
        log_warn("dropped a %s command from %s: the requester gave up waiting",
                 p->c.type == CMD_ARM      ? "arm"
                 : p->c.type == CMD_DISARM ? "disarm"
                                           : "kill",
                 p->c.requester);
        free(p);
    }
    pthread_mutex_unlock(&s->mu);
    return p ? &p->c : NULL;
}

/* Answer a command taken with http_next_command; takes the reference to body. */
void http_answer(struct http_server *s, struct command *c, int status, json_t *body)
{
    struct pending *p = (struct pending *)((char *)c - offsetof(struct pending, c));
    bool drop;

    pthread_mutex_lock(&s->mu);
    p->c.status = status;
    p->c.body = body;
    p->done = true;
    drop = p->abandoned;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (drop) {
        json_decref(body);
        free(p);
    }
}

/* The version of the libmicrohttpd loaded at run time, for --version. */
const char *http_mhd_version(void)
{
    return MHD_get_version();
}
