/*
 * fake_daemon.h - a fake daemon for the unit tests of the clients and the
 * transport: a thread on a unix socket that answers up to FAKE_MAX
 * connections with canned HTTP replies and keeps each request it read
 */
#ifndef DG_FAKE_DAEMON_H
#define DG_FAKE_DAEMON_H

#include "unit_util.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#define FAKE_MAX 4

/* A fake daemon: answers up to n connections with canned replies, one each. */
struct fake {
    int lfd;
    char sock[PATH_MAX];
    const char *reply[FAKE_MAX];
    int n;
    char request[FAKE_MAX][8192];
    pthread_t thread;
};

/* Read one HTTP request (headers and Content-Length bytes) into buf. */
static inline void fake_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    const char *eoh, *cl;
    size_t want = SIZE_MAX;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (len < cap - 1 && len < want && poll(&p, 1, 5000) == 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);

        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
            cl = strcasestr(buf, "Content-Length:");
            want = (size_t)(eoh + 4 - buf) + (cl && cl < eoh ? strtoul(cl + 15, NULL, 10) : 0);
        }
    }
    buf[len] = '\0';
}

/* Write a whole reply; stop quietly when the client has gone (no SIGPIPE). */
static inline void fake_write(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* The fake daemon's thread: accept, read, reply, close; n times (5 s each at most). */
static inline void *fake_run(void *arg)
{
    struct fake *f = arg;
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};

    for (int i = 0; i < f->n && poll(&p, 1, 5000) == 1; i++) {
        int fd = accept(f->lfd, NULL, NULL);

        if (fd < 0)
            break;
        fake_read_request(fd, f->request[i], sizeof(f->request[i]));
        fake_write(fd, f->reply[i]);
        close(fd);
    }
    return NULL;
}

/* Start a fake daemon listening on DIR/api.sock. */
static inline void fake_start(struct fake *f, const char *dir)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    ut_path(f->sock, dir, "api.sock");
    assert_true(strlen(f->sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

/* Wait for the fake daemon's thread and close its socket. */
static inline void fake_stop(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

/* An HTTP/1.1 reply with a JSON body, as a static string (one per slot). */
static inline const char *reply(int slot, int status, const char *body)
{
    static char buf[FAKE_MAX][8192];

    snprintf(buf[slot], sizeof(buf[slot]),
             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             status, strlen(body), body);
    return buf[slot];
}

#endif
