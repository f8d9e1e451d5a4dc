/*
 * conns.c - the HTTP API's connection limits: which connection to push out
 * when one too many arrives, and which are past their time, so that slow
 * clients cannot hold the slots a hook or a probe needs
 *
 * A connection is pushed out with shutdown(): its reads fail and its own
 * thread closes it; it is forgotten when the server reports it closed.
 */
#include "conns.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Set up an empty set (see conns.h). */
void conns_init(struct conns *c, int limit, int64_t request_timeout_ms, int64_t busy_timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->limit = limit;
    c->request_timeout_ms = request_timeout_ms;
    c->busy_timeout_ms = busy_timeout_ms;
    pthread_mutex_init(&c->mu, NULL);
}

/* Free the set and what it still tracks. */
void conns_destroy(struct conns *c)
{
    struct conns_slot *next;

    for (struct conns_slot *x = c->list; x; x = next) {
        next = x->next;
        free(x);
    }
    c->list = NULL;
    pthread_mutex_destroy(&c->mu);
}

/* Do two connections come from the same address (the port aside)? */
static bool same_address(const struct conns_slot *a, const struct conns_slot *b)
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

/* May this connection be pushed out: its request has not arrived whole? */
static bool waiting(const struct conns_slot *x)
{
    return !x->busy && !x->pushed_out;
}

/* How many waiting connections share x's address.  Caller holds c->mu. */
static int waiting_from(const struct conns *c, const struct conns_slot *x)
{
    int n = 0;

    for (const struct conns_slot *y = c->list; y; y = y->next)
        n += waiting(y) && same_address(x, y);
    return n;
}

/*
 * The connection to push out for a new one: a waiting one (not new) of the
 * address with the most waiting connections, the oldest of those.  NULL
 * when every other one is answering.  Caller holds c->mu.
 */
static struct conns_slot *victim(const struct conns *c, const struct conns_slot *new)
{
    struct conns_slot *best = NULL;
    int best_n = 0;

    for (struct conns_slot *x = c->list; x; x = x->next) {
        int n;

        if (x == new || !waiting(x))
            continue;
        n = waiting_from(c, x);
        if (n > best_n || (n == best_n && x->since_ms <= best->since_ms)) {
            best = x;
            best_n = n;
        }
    }
    return best;
}

/* End a connection from outside its thread: its reads fail, it closes.  Caller holds c->mu. */
static void push_out(struct conns *c, struct conns_slot *x)
{
    x->pushed_out = true;
    c->live--;
    shutdown(x->fd, SHUT_RDWR);
}

/* Track a new connection, pushing one out beyond the limit (see conns.h). */
struct conns_slot *conns_open(struct conns *c, int fd, const struct sockaddr *addr, int64_t now_ms)
{
    struct conns_slot *x = calloc(1, sizeof(*x)), *v;

    if (x == NULL)
        return NULL;
    x->fd = fd;
    if (addr && addr->sa_family == AF_INET)
        memcpy(&x->addr, addr, sizeof(struct sockaddr_in));
    else if (addr && addr->sa_family == AF_INET6)
        memcpy(&x->addr, addr, sizeof(struct sockaddr_in6));
    x->since_ms = now_ms;
    pthread_mutex_lock(&c->mu);
    x->next = c->list;
    if (c->list)
        c->list->prev = x;
    c->list = x;
    if (++c->live > c->limit) {
        v = victim(c, x);
        push_out(c, v ? v : x);
        c->pushed_out++;
    }
    pthread_mutex_unlock(&c->mu);
    return x;
}

/* Forget a connection (see conns.h). */
void conns_close(struct conns *c, struct conns_slot *x)
{
    if (x == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (x->prev)
        x->prev->next = x->next;
    else
        c->list = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (!x->pushed_out)
        c->live--;
    pthread_mutex_unlock(&c->mu);
    free(x);
}

/* Mark a connection busy or waiting (see conns.h). */
void conns_busy(struct conns *c, struct conns_slot *x, bool busy, int64_t now_ms)
{
    if (x == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    x->busy = busy;
    x->since_ms = now_ms;
    pthread_mutex_unlock(&c->mu);
}

/* Push out every connection past its time (see conns.h). */
void conns_reap(struct conns *c, int64_t now_ms)
{
    pthread_mutex_lock(&c->mu);
    for (struct conns_slot *x = c->list; x; x = x->next)
        if (!x->pushed_out &&
            now_ms - x->since_ms > (x->busy ? c->busy_timeout_ms : c->request_timeout_ms)) {
            push_out(c, x);
            c->timed_out++;
        }
    pthread_mutex_unlock(&c->mu);
}
