/*
 * http.h - the HTTP server of the API: libmicrohttpd in its own threads,
 * the bearer token, and the main loop's side of the hand-over; routes and
 * answers are api.h's, the socket listen.h's, TLS tls.h's, the connection
 * limits conns.h's, the view and command queue handover.h's
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
#include <stdbool.h>
#include <stddef.h>

struct command;
struct http_server;
struct tls_material;
struct view;

/* Plain HTTP on --listen: http_start_tls without TLS. */
struct http_server *http_start(const char *listen, const char *token, char *err, size_t errlen);
/* Bind --listen and serve, over TLS when tls has a certificate; POSTs need token (NULL:
   none).  NULL with err when the address cannot be bound or libmicrohttpd refuses. */
struct http_server *http_start_tls(const char *listen, const char *token,
                                   const struct tls_material *tls, char *err, size_t errlen);
/* Stop serving: waiting handlers are answered 503, threads end, our unix socket goes. */
void http_stop(struct http_server *s);
/* Serve new TLS material: the listener restarts on the same socket, connections
   already open finish on the old one; false with err keeps the old material. */
bool http_set_tls(struct http_server *s, const struct tls_material *tls, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Replace the token (after a reload); NULL: POSTs need none. */
void http_set_token(struct http_server *s, const char *token);
/* The address as bound: "127.0.0.1:8009" (port 0 resolved), "unix:/path". */
const char *http_bound(const struct http_server *s);

/* Main-loop side. */
/* Publish a new view for the handlers; the server takes ownership of v. */
void http_publish(struct http_server *s, struct view *v);
/* The eventfd that becomes readable when a command is queued. */
int http_command_fd(const struct http_server *s);
/* The next command to run, skipping those whose requester gave up; NULL: none pending. */
struct command *http_next_command(struct http_server *s);
/* Answer a command taken with http_next_command; takes the reference to body. */
void http_answer(struct http_server *s, struct command *c, int status, json_t *body);

/* Read the bearer token: the file's content without trailing blanks; the file must be
   owner-only (0640 when root owns it), the token printable ASCII with no blanks. */
bool http_token_read(const char *path, char **token, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Compare a given token to the expected one in time that depends only on the expected
   length. */
bool http_token_equal(const char *expected, const char *given);
/* Does an Authorization header carry the expected bearer token ("" matches nothing)? */
bool http_bearer_ok(const char *expected, const char *header);
/* Read and check the TLS files as tls_read does, the key under the token file's rule. */
bool http_tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
                   struct tls_material *tls, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The version of the libmicrohttpd loaded at run time, for --version. */
const char *http_mhd_version(void);

#endif
