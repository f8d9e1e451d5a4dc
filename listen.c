/*
 * listen.c - the --listen address: parsing and the loopback rule, and the
 * socket it names (TCP, or a unix socket that replaces only a stale one)
 */
#include "listen.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define BACKLOG 64

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

/* Is --listen well formed, and allowed without a token (see listen.h)? */
bool listen_check(const char *listen, bool have_token, char *err, size_t errlen)
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

/* Bind a unix socket, mode 0660; -1 with err. */
static int bind_unix(struct listen_socket *ls, const char *path, char *err, size_t errlen)
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
    snprintf(ls->unix_path, sizeof(ls->unix_path), "%s", path);
    ls->unix_dev = st.st_dev;
    ls->unix_ino = st.st_ino;
    snprintf(ls->bound, sizeof(ls->bound), "unix:%s", path);
    return fd;
}

/* Describe an address (see listen.h). */
void listen_describe(const struct sockaddr *sa, char *out, size_t len)
{
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

/* Create and bind a TCP socket for IP:PORT or [IPv6]:PORT; -1 with err. */
static int bind_inet(struct listen_socket *ls, const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd, one = 1;

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
    ls->loopback = is_loopback(&ss);
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        listen_describe((struct sockaddr *)&ss, ls->bound, sizeof(ls->bound));
    return fd;
}

/* Create, bind and listen on the socket of --listen (see listen.h). */
bool listen_open(const char *addr, struct listen_socket *ls, char *err, size_t errlen)
{
    memset(ls, 0, sizeof(*ls));
    ls->fd = strncmp(addr, "unix:", 5) == 0 ? bind_unix(ls, addr + 5, err, errlen)
                                            : bind_inet(ls, addr, err, errlen);
    if (ls->fd >= 0 && listen(ls->fd, BACKLOG) != 0) {
        snprintf(err, errlen, "could not listen on %s: %s", ls->bound, strerror(errno));
        close(ls->fd);
        ls->fd = -1;
    }
    return ls->fd >= 0;
}

/* Remove our unix socket, unless something else has taken its path since. */
void listen_remove(const struct listen_socket *ls)
{
    struct stat st;

    if (ls->unix_path[0] && lstat(ls->unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == ls->unix_dev && st.st_ino == ls->unix_ino)
        unlink(ls->unix_path);
}
