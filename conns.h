/*
 * conns.h - the HTTP API's connection limits (API.md, "Limits"): the open
 * connections, the one to push out for one too many, and the ones past
 * their time; the server calls in from its threads and its reaper
 */
#ifndef DG_CONNS_H
#define DG_CONNS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* One open connection (guarded by its conns' mutex). */
struct conns_slot {
    int fd;
    struct sockaddr_storage addr; /* family and address only: grouped by address, not port */
    int64_t since_ms;             /* monotonic: accepted, or its last answer was sent */
    bool busy;                    /* a whole request arrived and is being answered */
    bool pushed_out;              /* shut down by us; its thread is ending */
    struct conns_slot *prev, *next;
};

/* The open connections and their limits. */
struct conns {
    int limit;                  /* at most this many not pushed out */
    int64_t request_timeout_ms; /* a request must arrive whole within this */
    int64_t busy_timeout_ms;    /* an answer must be sent within this */
    pthread_mutex_t mu;
    struct conns_slot *list; /* newest first */
    int live;                /* of them, not pushed out */
    unsigned long pushed_out, timed_out;
};

/* Set up an empty set of connections with its limit and times. */
void conns_init(struct conns *c, int limit, int64_t request_timeout_ms, int64_t busy_timeout_ms);
/* Free what conns_init set up and any connection still tracked. */
void conns_destroy(struct conns *c);
/* Track a connection on fd from addr (NULL: unix) at now_ms; one too many pushes out the
   oldest waiting one of the address with the most waiting (or this one).  NULL: no memory. */
struct conns_slot *conns_open(struct conns *c, int fd, const struct sockaddr *addr, int64_t now_ms);
/* Forget a connection (NULL: untracked), before its socket is closed. */
void conns_close(struct conns *c, struct conns_slot *x);
/* Mark a connection (NULL: untracked) busy (its request is whole) or waiting, from now_ms. */
void conns_busy(struct conns *c, struct conns_slot *x, bool busy, int64_t now_ms);
/* Push out every connection past its time at now_ms (waiting or busy timeout). */
void conns_reap(struct conns *c, int64_t now_ms);

#endif
