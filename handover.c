/*
 * handover.c - between the HTTP threads and the main loop: the published
 * view, and the command queue with its eventfd and answers
 *
 * A handler queues a command, writes the eventfd and waits on the condition
 * variable; the loop reads the eventfd, takes the commands and answers each
 * one, waking the handler.  A handler that gives up marks its command
 * abandoned: whichever side sees it last frees it.
 */
#include "handover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A queued command and its hand-over state, guarded by the hand-over's mutex. */
struct pending {
    struct command c;
    bool done, abandoned;
    struct pending *next;
};

/* Set up the hand-over (see handover.h). */
bool handover_init(struct handover *h, char *err, size_t errlen)
{
    pthread_condattr_t ca;

    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    h->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->evfd < 0) {
        snprintf(err, errlen, "could not create an eventfd: %s", strerror(errno));
        return false;
    }
    return true;
}

/* Release the waiting handlers (see handover.h). */
void handover_stop(struct handover *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Free what is left (see handover.h). */
void handover_destroy(struct handover *h)
{
    struct pending *p, *next;

    for (p = h->head; p; p = next) {
        next = p->next;
        json_decref(p->c.body);
        free(p);
    }
    if (h->evfd >= 0)
        close(h->evfd);
    if (h->view && --h->view->refs == 0)
        free(h->view);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* Publish a new view; the hand-over owns it from now on. */
void handover_publish(struct handover *h, struct view *v)
{
    struct view *old;

    v->refs = 1;
    pthread_mutex_lock(&h->mu);
    old = h->view;
    h->view = v;
    if (old && --old->refs > 0)
        old = NULL;
    pthread_mutex_unlock(&h->mu);
    free(old);
}

/* Take a reference to the latest view (NULL before the first one). */
struct view *handover_get(struct handover *h)
{
    struct view *v;

    pthread_mutex_lock(&h->mu);
    v = h->view;
    if (v)
        v->refs++;
    pthread_mutex_unlock(&h->mu);
    return v;
}

/* Drop a reference to a view. */
void handover_put(struct handover *h, struct view *v)
{
    bool last;

    if (v == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    last = --v->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        free(v);
}

/* The monotonic time timeout_ms from now. */
static struct timespec deadline_in(int64_t timeout_ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (timeout_ms % 1000) * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

/* Hand a command to the main loop and wait for its answer (see handover.h). */
enum handover_end handover_submit(struct handover *h, const struct command *c, int64_t timeout_ms,
                                  int *status, json_t **body)
{
    struct pending *p = calloc(1, sizeof(*p));
    struct timespec until = deadline_in(timeout_ms);
    uint64_t one = 1;

    if (p == NULL)
        return HANDOVER_NO_MEMORY;
    p->c = *c;
    pthread_mutex_lock(&h->mu);
    if (h->tail)
        h->tail->next = p;
    else
        h->head = p;
    h->tail = p;
    pthread_mutex_unlock(&h->mu);
    if (write(h->evfd, &one, sizeof(one)) < 0)
        log_debug("eventfd write: %m");
    pthread_mutex_lock(&h->mu);
    while (!p->done && !h->stopping)
        if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
            break;
    if (!p->done) {
        bool stopping = h->stopping;

        p->abandoned = true;
        pthread_mutex_unlock(&h->mu);
        return stopping ? HANDOVER_STOPPING : HANDOVER_TIMEOUT;
    }
    *status = p->c.status;
    *body = p->c.body;
    pthread_mutex_unlock(&h->mu);
    free(p);
    return HANDOVER_ANSWERED;
}

/* The eventfd that becomes readable when a command is queued. */
int handover_fd(const struct handover *h)
{
    return h->evfd;
}

/* The next command to run, skipping those whose requester gave up. */
struct command *handover_next(struct handover *h)
{
    struct pending *p;
    uint64_t n;

    if (read(h->evfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_debug("eventfd read: %m");
    pthread_mutex_lock(&h->mu);
    while ((p = h->head) != NULL) {
        h->head = p->next;
        if (h->head == NULL)
            h->tail = NULL;
        p->next = NULL;
        if (!p->abandoned)
            break;
        log_warn("dropped a %s command from %s: the requester gave up waiting",
                 p->c.type == CMD_ARM        ? "arm"
                 : p->c.type == CMD_DISARM   ? "disarm"
                 : p->c.type == CMD_CALLBACK ? "callback"
                                             : "kill",
                 p->c.requester);
        free(p);
    }
    pthread_mutex_unlock(&h->mu);
    return p ? &p->c : NULL;
}

/* Answer a command taken with handover_next; takes the reference to body. */
void handover_answer(struct handover *h, struct command *c, int status, json_t *body)
{
    struct pending *p = (struct pending *)((char *)c - offsetof(struct pending, c));
    bool drop;

    pthread_mutex_lock(&h->mu);
    p->c.status = status;
    p->c.body = body;
    p->done = true;
    drop = p->abandoned;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (drop) {
        json_decref(body);
        free(p);
    }
}
