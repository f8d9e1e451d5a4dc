/*
 * handover.h - between the HTTP threads and the main loop: the view the
 * loop publishes after each turn (reference-counted, read by handlers), and
 * the queue of commands the handlers hand it, woken by an eventfd and
 * answered in the loop's turn while the handler waits with a timeout
 */
#ifndef DG_HANDOVER_H
#define DG_HANDOVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "render.h"

struct pending; /* a queued command */

/* The hand-over state (all guarded by mu). */
struct handover {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* an answer came, or stopping */
    struct view *view; /* the latest published; NULL before the first */
    struct pending *head, *tail;
    int evfd; /* readable when a command is queued */
    bool stopping;
};

/* How a handed-over command ended for the handler. */
enum handover_end { HANDOVER_ANSWERED, HANDOVER_TIMEOUT, HANDOVER_STOPPING, HANDOVER_NO_MEMORY };

/* Set up an empty hand-over and its eventfd; false with err. */
bool handover_init(struct handover *h, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Release every waiting handler (they end HANDOVER_STOPPING); nothing waits again. */
void handover_stop(struct handover *h);
/* Free the queue (commands and answers never taken), the view and the eventfd. */
void handover_destroy(struct handover *h);
/* Publish a new view; takes ownership of v (freed when its last reader is done). */
void handover_publish(struct handover *h, struct view *v);
/* A reference to the latest view (NULL before the first); give it back with handover_put. */
struct view *handover_get(struct handover *h);
/* Give back a reference taken with handover_get (NULL: none). */
void handover_put(struct handover *h, struct view *v);
/* Queue a copy of c for the main loop, wait up to timeout_ms for its status and body (the
   caller's reference); on timeout or stop it is abandoned, dropped if not yet started. */
enum handover_end handover_submit(struct handover *h, const struct command *c, int64_t timeout_ms,
                                  int *status, json_t **body);
/* The eventfd that becomes readable when a command is queued. */
int handover_fd(const struct handover *h);
/* The next command to run, skipping (and logging) those whose requester gave up;
   NULL: none pending. */
struct command *handover_next(struct handover *h);
/* Answer a command taken with handover_next; takes the reference to body. */
void handover_answer(struct handover *h, struct command *c, int status, json_t *body);

#endif
