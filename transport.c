/*
 * transport.c - HTTP requests with libcurl (the only user of curl.h), for
 * the clients (client.c, check.c, watch.c) and the Patroni hooks (hook.c)
 *
 * A request goes to a URL or over a unix socket, with TLS files from the
 * options or the environment, one timeout for connecting and answering,
 * no redirects and no proxy, an answer of at most TRANSPORT_MAX_BODY
 * bytes, and the bearer token on POSTs only.  Every failure becomes one
 * line that names the method, the path and the URL; the token never does.
 */
#include "transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_render.h"
#include "token.h"
#include "version.h"

/* "unix:/path": fill ep for a request over that socket; false when the path is bad. */
static bool unix_endpoint(const char *sock, const char *path, struct transport_endpoint *ep,
                          char *err, size_t errlen)
{
    if (sock[0] == '\0' || strlen(sock) >= sizeof(ep->socket)) {
        snprintf(err, errlen,
                 "invalid --url \"unix:%.200s%s\": expected unix:/path, under %zu bytes", sock,
                 strlen(sock) > 200 ? "..." : "", sizeof(ep->socket));
        return false;
    }
    snprintf(ep->socket, sizeof(ep->socket), "%s", sock);
    snprintf(ep->url, sizeof(ep->url), "http://localhost%s", path);
    return true;
}

/*
 * Where a request for path (starting with '/') goes: "unix:/sock" is
 * http://localhost over that socket; "http://" and "https://" URLs are
 * taken as they are, "HOST:PORT" as http://HOST:PORT; trailing '/' of the
 * URL are dropped.  False with err on another scheme, no host, or a URL
 * too long.
 */
bool transport_endpoint(const char *url, const char *path, struct transport_endpoint *ep, char *err,
                        size_t errlen)
{
    const char *scheme = "";
    size_t n = strlen(url), skip = 0;
    int w;

    memset(ep, 0, sizeof(*ep));
    if (strncmp(url, "unix:", 5) == 0)
        return unix_endpoint(url + 5, path, ep, err, errlen);
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        skip = strchr(url, ':') - url + 3;
    else if (strstr(url, "://") == NULL)
        scheme = "http://";
    else {
        snprintf(err, errlen, "invalid --url \"%.200s%s\": expected http://HOST:PORT or unix:/path",
                 url, strlen(url) > 200 ? "..." : "");
        return false;
    }
    while (n > skip && url[n - 1] == '/')
        n--;
    if (n == skip || url[skip] == '/') {
        snprintf(err, errlen, "invalid --url \"%.200s%s\": no host", url,
                 strlen(url) > 200 ? "..." : "");
        return false;
    }
    w = snprintf(ep->url, sizeof(ep->url), "%s%.*s%s", scheme, (int)n, url, path);
    if (w < 0 || (size_t)w >= sizeof(ep->url)) {
        snprintf(err, errlen, "invalid --url: longer than %zu bytes", sizeof(ep->url) - 1);
        return false;
    }
    return true;
}

/*
 * The one-line message of an HTTP error status: "POST /v1/kill at URL: 409
 * conflict: DETAIL", from the API's {"error","detail"} body, or the start
 * of whatever else the body holds.
 */
void transport_http_error(const char *method, const char *path, const char *url, long status,
                          const char *body, size_t len, char *msg, size_t msglen)
{
    char code[64] = "error", detail[300] = "", raw[200];
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;

    if (client_render_str(j, "error"))
        client_render_sanitize(client_render_str(j, "error"), code, sizeof(code));
    if (client_render_str(j, "detail"))
        client_render_sanitize(client_render_str(j, "detail"), detail, sizeof(detail));
    else if (j == NULL && body && len > 0) {
        snprintf(raw, sizeof(raw), "%.*s", (int)(len < sizeof(raw) ? len : sizeof(raw) - 1), body);
        client_render_sanitize(raw, detail, sizeof(detail));
    }
    json_decref(j);
    snprintf(msg, msglen, "%s %s at %s: %ld %s%s%s", method, path, url, status, code,
             detail[0] ? ": " : "", detail);
}

/* A connection: a curl handle reused for every request to one URL. */
struct transport {
    CURL *curl;
    const char *url; /* as given: messages name it */
    int64_t timeout_ms;
    char token[TOKEN_MAX_BYTES + 1]; /* "" when none */
    char errbuf[CURL_ERROR_SIZE];
};

/* An answer: status and body (NUL-terminated), or why there is none. */
struct response {
    long status;
    char *body;
    size_t len, cap;
    bool too_large;
};

/* curl write callback: append to the response; refuse beyond TRANSPORT_MAX_BODY. */
static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    struct response *r = userp;
    size_t n = size * nmemb;

    if (r->len + n > TRANSPORT_MAX_BODY) {
        r->too_large = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        char *b;

        while (cap < r->len + n + 1)
            cap *= 2;
        if ((b = realloc(r->body, cap)) == NULL)
            return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* Set by transport_set_interrupt: a request in flight ends once *interrupt_flag is non-zero. */
static volatile sig_atomic_t *interrupt_flag;

/* Make every later request end early (CURLE_ABORTED_BY_CALLBACK) once *flag is set. */
void transport_set_interrupt(volatile sig_atomic_t *flag)
{
    interrupt_flag = flag;
}

/* curl progress callback: non-zero (abort) once the interrupt flag is set. */
static int on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)p, (void)dt, (void)dn, (void)ut, (void)un;
    return interrupt_flag != NULL && *interrupt_flag;
}

/* The request headers: JSON, no "Expect", and the bearer token for a POST. */
static struct curl_slist *request_headers(const struct transport *c, bool post)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char auth[TOKEN_MAX_BYTES + 32];

    if (h && post)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h)
        h = curl_slist_append(h, "Expect:");
    if (h && post && c->token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    return h;
}

/* TLS files for every request; NULL: the environment's (transport_set_tls). */
static const char *tls_files[3];
static const char *const tls_env[3] = {"DEMOTION_GUARD_CACERT", "DEMOTION_GUARD_CERT",
                                       "DEMOTION_GUARD_KEY"};

/* Use these TLS files from now on (see transport.h). */
void transport_set_tls(const char *cacert, const char *cert, const char *key)
{
    tls_files[0] = cacert;
    tls_files[1] = cert;
    tls_files[2] = key;
}

/* TLS file i (0 CA, 1 certificate, 2 key): as set, else from the environment; NULL: none. */
static const char *tls_file(int i)
{
    const char *v = tls_files[i] ? tls_files[i] : getenv(tls_env[i]);

    return v && v[0] ? v : NULL;
}

/* Is a CA file or a client certificate set? */
bool transport_tls_configured(void)
{
    return tls_file(0) != NULL || tls_file(1) != NULL;
}

/* Set the TLS files of a request: CA, client certificate and key, all PEM. */
static void tls_options(CURL *k)
{
    if (tls_file(0))
        curl_easy_setopt(k, CURLOPT_CAINFO, tls_file(0));
    if (tls_file(1)) {
        curl_easy_setopt(k, CURLOPT_SSLCERT, tls_file(1));
        curl_easy_setopt(k, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (tls_file(2)) {
        curl_easy_setopt(k, CURLOPT_SSLKEY, tls_file(2));
        curl_easy_setopt(k, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

/* Set the options of one request: URL, socket, timeouts, no redirects, no proxy. */
static void request_options(struct transport *c, const struct transport_endpoint *ep,
                            const char *body, struct curl_slist *h, struct response *r)
{
    CURL *k = c->curl;
    char agent[96];

    snprintf(agent, sizeof(agent), "demotion-guard/%s", version_string());
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, ep->url);
    if (ep->socket[0])
        curl_easy_setopt(k, CURLOPT_UNIX_SOCKET_PATH, ep->socket);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(k, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(k, CURLOPT_PROXY, "");
    curl_easy_setopt(k, CURLOPT_MAXFILESIZE, (long)TRANSPORT_MAX_BODY);
    curl_easy_setopt(k, CURLOPT_USERAGENT, agent); /* libcurl keeps its own copy */
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, r);
    tls_options(k);
    if (interrupt_flag) {
        curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
    }
    if (body) {
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
}

/* Did this request fail before it reached the daemon? */
static bool unreachable(CURL *k, CURLcode rc)
{
    curl_off_t connect_us = 0;

    if (rc == CURLE_OPERATION_TIMEDOUT)
        return curl_easy_getinfo(k, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK ||
               connect_us == 0;
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_PEER_FAILED_VERIFICATION;
}

/* Why a request got no answer, into msg (one line). */
static void request_error(const struct transport *c, const char *method, const char *path,
                          CURLcode rc, const struct response *r, char *msg, size_t msglen)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    long os_errno = 0;

    /* over a unix socket curl's text names "localhost port 80": say why connect() failed */
    if (strncmp(c->url, "unix:", 5) == 0 && rc == CURLE_COULDNT_CONNECT &&
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0)
        why = strerror((int)os_errno);

    if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(msg, msglen, "%s %s at %s: the answer is longer than %d bytes", method, path,
                 c->url, TRANSPORT_MAX_BODY);
    else if (unreachable(c->curl, rc))
        snprintf(msg, msglen, "cannot reach the daemon at %s: %s", c->url, why);
    else
        snprintf(msg, msglen, "%s %s at %s: %s", method, path, c->url, why);
}

/*
 * Send one request (a POST when body is not NULL) and collect the answer
 * in r (the caller frees r->body).  False, with msg, when there is no
 * HTTP answer.
 */
static bool send_request(struct transport *c, const char *path, const char *body,
                         struct response *r, char *msg, size_t msglen)
{
    struct transport_endpoint ep;
    struct curl_slist *h;
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (!transport_endpoint(c->url, path, &ep, msg, msglen))
        return false; /* already said why; the clients check their URL when parsing */
    if ((h = request_headers(c, body != NULL)) == NULL) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    c->errbuf[0] = '\0';
    request_options(c, &ep, body, h, r);
    rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        request_error(c, body ? "POST" : "GET", path, rc, r, msg, msglen);
    return rc == CURLE_OK;
}

/* Set libcurl up once per process (see transport.h). */
bool transport_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* Release what transport_global_init set up. */
void transport_global_cleanup(void)
{
    curl_global_cleanup();
}

/* A connection to url with its own curl handle and a copy of the token. */
struct transport *transport_open(const char *url, const char *token, int64_t timeout_ms, char *msg,
                                 size_t msglen)
{
    struct transport *c = calloc(1, sizeof(*c));

    if (c == NULL || (c->curl = curl_easy_init()) == NULL) {
        free(c);
        snprintf(msg, msglen, "cannot initialise libcurl");
        return NULL;
    }
    c->url = url;
    c->timeout_ms = timeout_ms;
    if (token)
        snprintf(c->token, sizeof(c->token), "%s", token);
    return c;
}

/* Free the handle and wipe the token. */
void transport_close(struct transport *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    explicit_bzero(c->token, sizeof(c->token));
    free(c);
}

/* One request; the answer's JSON whatever the status (see transport.h). */
bool transport_request(struct transport *c, const char *path, const char *body, long *status,
                       json_t **out, char *msg, size_t msglen)
{
    struct response r;
    bool ok = send_request(c, path, body, &r, msg, msglen);

    *out = NULL;
    *status = 0;
    if (ok) {
        *status = r.status;
        *out = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
        if (r.status < 200 || r.status > 299)
            transport_http_error(body ? "POST" : "GET", path, c->url, r.status, r.body, r.len, msg,
                                 msglen);
    }
    free(r.body);
    return ok;
}

/*
 * Request path and parse the JSON answer into *out (NULL when it is not
 * JSON).  True on a 2xx with a JSON body; false with msg otherwise.
 */
bool transport_json(struct transport *c, const char *path, const char *body, json_t **out,
                    char *msg, size_t msglen)
{
    const char *method = body ? "POST" : "GET";
    struct response r;
    json_error_t jerr;
    bool ok;

    *out = NULL;
    if (!send_request(c, path, body, &r, msg, msglen)) {
        free(r.body);
        return false;
    }
    *out = r.body ? json_loadb(r.body, r.len, 0, &jerr) : NULL;
    ok = r.status >= 200 && r.status <= 299 && *out != NULL;
    if (r.status < 200 || r.status > 299)
        transport_http_error(method, path, c->url, r.status, r.body, r.len, msg, msglen);
    else if (*out == NULL)
        snprintf(msg, msglen, "%s %s at %s: %ld but the answer is not JSON: %s", method, path,
                 c->url, r.status, r.body ? jerr.text : "no body");
    free(r.body);
    return ok;
}

/* One request on a connection of its own (the hooks); libcurl set up by the caller. */
bool transport_call(const char *url, const char *token, int64_t timeout_ms, const char *path,
                    const char *body, long *status, json_t **out, char *msg, size_t msglen)
{
    struct transport *c = transport_open(url, token, timeout_ms, msg, msglen);
    bool ok;

    *out = NULL;
    *status = 0;
    if (c == NULL)
        return false;
    ok = transport_request(c, path, body, status, out, msg, msglen);
    transport_close(c);
    return ok;
}

/* GET url + path: true only on a 2xx with JSON (see transport.h). */
bool transport_get_json(const char *url, int64_t timeout_ms, const char *path, json_t **out,
                        char *msg, size_t msglen)
{
    long status = 0;

    if (!transport_call(url, NULL, timeout_ms, path, NULL, &status, out, msg, msglen))
        return false;
    if (status >= 200 && status <= 299 && *out != NULL)
        return true;
    if (status >= 200 && status <= 299)
        snprintf(msg, msglen, "GET %s at %s: %ld but the answer is not JSON", path, url, status);
    json_decref(*out);
    *out = NULL;
    return false;
}

/* The version of the libcurl loaded at run time, for --version. */
const char *transport_curl_version(void)
{
    return curl_version_info(CURLVERSION_NOW)->version;
}
