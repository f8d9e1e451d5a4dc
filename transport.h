/*
 * transport.h - HTTP requests to a daemon (or to Patroni) with libcurl, the
 * only user of curl.h: URLs and unix sockets, TLS files, timeouts, the
 * bearer token, JSON answers and one-line errors; for the clients and hooks
 */
#ifndef DG_TRANSPORT_H
#define DG_TRANSPORT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRANSPORT_DEFAULT_URL "http://127.0.0.1:8009" /* the daemon when no URL is given */
#define TRANSPORT_MAX_BODY    (1024 * 1024)           /* a longer answer is an error */
#define TRANSPORT_MSG_LEN     512                     /* enough for any message here */
#define TRANSPORT_URL_LEN     2048
#define TRANSPORT_SOCKET_LEN  108 /* sun_path */

/* Where one request goes: a URL, and a unix socket when the URL said unix:. */
struct transport_endpoint {
    char url[TRANSPORT_URL_LEN];
    char socket[TRANSPORT_SOCKET_LEN]; /* "" for TCP */
};

/* A connection to one URL: a curl handle reused for each request (opaque). */
struct transport;

/* Where url + path (path starts with '/') goes: "unix:/sock" is http://localhost over that
   socket, "HOST:PORT" is http://HOST:PORT; false with err (naming --url) when bad. */
bool transport_endpoint(const char *url, const char *path, struct transport_endpoint *ep, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* The one-line message of an HTTP error status: "POST /v1/kill at URL: 409 conflict:
   DETAIL", from the API's {"error","detail"} body or the start of another body. */
void transport_http_error(const char *method, const char *path, const char *url, long status,
                          const char *body, size_t len, char *msg, size_t msglen);

/* Set libcurl up once per process before any request; false when it cannot be. */
bool transport_global_init(void);
/* Release what transport_global_init set up. */
void transport_global_cleanup(void);

/* A connection to url (kept, not copied) with a timeout per request and a bearer token for
   POSTs (NULL: none; copied); NULL with msg when libcurl cannot make a handle. */
struct transport *transport_open(const char *url, const char *token, int64_t timeout_ms, char *msg,
                                 size_t msglen);
/* End a connection and wipe its token; NULL is fine. */
void transport_close(struct transport *t);

/* GET (body NULL) or POST path: true on an HTTP answer, with its status and its JSON in *out
   (NULL when not JSON; the caller frees it), msg filled for a non-2xx status; false with msg
   when no answer came (unreachable, timeout, too long, interrupted). */
bool transport_request(struct transport *t, const char *path, const char *body, long *status,
                       json_t **out, char *msg, size_t msglen) __attribute__((warn_unused_result));
/* As transport_request, but true only on a 2xx with a JSON body (*out is the JSON even then,
   a failed kill's targets); false with msg otherwise. */
bool transport_json(struct transport *t, const char *path, const char *body, json_t **out,
                    char *msg, size_t msglen) __attribute__((warn_unused_result));

/* transport_request on a connection of its own, closed after. */
bool transport_call(const char *url, const char *token, int64_t timeout_ms, const char *path,
                    const char *body, long *status, json_t **out, char *msg, size_t msglen)
    __attribute__((warn_unused_result));
/* GET url + path into *out (the caller frees it): false with msg on no answer, an error
   status or no JSON. */
bool transport_get_json(const char *url, int64_t timeout_ms, const char *path, json_t **out,
                        char *msg, size_t msglen) __attribute__((warn_unused_result));

/* TLS for every later request (https:// URLs): CA file, client certificate and key (PEM);
   a NULL one falls back to DEMOTION_GUARD_CACERT, _CERT, _KEY. */
void transport_set_tls(const char *cacert, const char *cert, const char *key);
/* Is a CA file or a client certificate set (or in the environment)? */
bool transport_tls_configured(void);

/* Make every later request end early once *flag is non-zero (NULL: never). */
void transport_set_interrupt(volatile sig_atomic_t *flag);

/* The version of the libcurl loaded at run time, for --version. */
const char *transport_curl_version(void);

#endif
