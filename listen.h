/*
 * listen.h - the --listen address: its forms (IP:PORT, [IPv6]:PORT,
 * unix:/path, off), the loopback rule, and the socket it names
 */
#ifndef DG_LISTEN_H
#define DG_LISTEN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* A listening socket as listen_open made it. */
struct listen_socket {
    int fd;                   /* listening; -1: none */
    char bound[PATH_MAX + 8]; /* "127.0.0.1:8009" as bound (port 0 resolved), "unix:/path" */
    char unix_path[PATH_MAX]; /* "" for TCP */
    dev_t unix_dev;           /* the socket file created, to remove only that one */
    ino_t unix_ino;
    bool loopback; /* a loopback TCP address: requests must name a loopback Host */
};

/* Is --listen well formed, and allowed without a token (have_token: --token-file or
   --tls-client-ca)?  False with err naming the option, the value and what is wrong. */
bool listen_check(const char *listen, bool have_token, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Create, bind and listen on the socket --listen names (a stale unix socket is replaced,
   a live one or another file refused; the socket is mode 0660); false with err. */
bool listen_open(const char *addr, struct listen_socket *ls, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Remove the unix socket listen_open created, unless something else has taken its path. */
void listen_remove(const struct listen_socket *ls);
/* Describe a peer or bound address: "127.0.0.1:53422", "[::1]:53422", else "unix". */
void listen_describe(const struct sockaddr *sa, char *out, size_t len);

#endif
