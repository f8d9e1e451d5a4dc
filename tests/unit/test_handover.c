/*
 * test_handover.c - the hand-over between handler threads and the main
 * loop: views published and read while newer ones come, commands queued
 * from a thread and answered, the eventfd that wakes the loop, a handler
 * that gives up (before or after the loop took its command), and stopping.
 */
#include "unit_util.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "handover.h"
#include "log.h"

/* A "handler" thread: one command submitted, how it ended. */
struct handler {
    struct handover *h;
    struct command c;
    int64_t timeout_ms;
    enum handover_end end;
    int status;
    json_t *body;
    pthread_t th;
};

/* The thread: submit and keep what came back. */
static void *handler_main(void *arg)
{
    struct handler *x = arg;

    x->end = handover_submit(x->h, &x->c, x->timeout_ms, &x->status, &x->body);
    return NULL;
}

/* Start a handler submitting a command of type from requester who, waiting up to timeout_ms. */
static void handler_start(struct handler *x, struct handover *h, enum command_type type,
                          const char *who, int64_t timeout_ms)
{
    memset(x, 0, sizeof(*x));
    x->h = h;
    x->c.type = type;
    snprintf(x->c.requester, sizeof(x->c.requester), "%s", who);
    x->timeout_ms = timeout_ms;
    x->end = -1;
    assert_int_equal(pthread_create(&x->th, NULL, handler_main, x), 0);
}

/* The next command, waiting for the eventfd up to 5 s; NULL when none came. */
static struct command *next_command(struct handover *h)
{
    struct pollfd p = {.fd = handover_fd(h), .events = POLLIN};

    if (poll(&p, 1, 5000) != 1)
        return NULL;
    return handover_next(h);
}

/* Quiet the log; a fresh hand-over in *state. */
static int setup(void **state)
{
    struct handover *h = calloc(1, sizeof(*h));
    char err[256];

    log_setup(LOG_FORMAT_TEXT, LOG_ERROR);
    assert_non_null(h);
    assert_true(handover_init(h, err, sizeof(err)));
    *state = h;
    return 0;
}

/* Free the hand-over (and what it still holds: ASan would see a leak). */
static int teardown(void **state)
{
    handover_destroy(*state);
    free(*state);
    return 0;
}

/* A view read by a handler outlives the next publication; the last reader frees it. */
static void test_views(void **state)
{
    struct handover *h = *state;
    struct view *v1 = calloc(1, sizeof(*v1)), *v2 = calloc(1, sizeof(*v2)), *r1, *r2;

    assert_null(handover_get(h));
    handover_put(h, NULL);
    v1->phase = PHASE_OBSERVING;
    handover_publish(h, v1);
    r1 = handover_get(h);
    assert_ptr_equal(r1, v1);
    assert_int_equal(r1->refs, 2);
    v2->phase = PHASE_ARMED;
    handover_publish(h, v2);
    assert_int_equal(r1->refs, 1); /* still ours */
    assert_int_equal(r1->phase, PHASE_OBSERVING);
    r2 = handover_get(h);
    assert_ptr_equal(r2, v2);
    handover_put(h, r1); /* the last reference: freed (ASan: no leak, no use after) */
    handover_put(h, r2);
    assert_int_equal(v2->refs, 1); /* the hand-over's own, freed by destroy */
}

/* A command goes to the loop, the eventfd wakes it, the answer goes back to the handler. */
static void test_answered(void **state)
{
    struct handover *h = *state;
    struct handler a, b;
    struct command *c;

    handler_start(&a, h, CMD_KILL, "127.0.0.1:1", 10000);
    c = next_command(h);
    assert_non_null(c);
    assert_int_equal(c->type, CMD_KILL);
    assert_string_equal(c->requester, "127.0.0.1:1");
    handover_answer(h, c, 202, json_pack("{s:s}", "who", c->requester));
    pthread_join(a.th, NULL);
    assert_int_equal(a.end, HANDOVER_ANSWERED);
    assert_int_equal(a.status, 202);
    assert_string_equal(json_string_value(json_object_get(a.body, "who")), "127.0.0.1:1");
    json_decref(a.body);
    /* two in a row are taken in order */
    handler_start(&a, h, CMD_ARM, "first", 10000);
    c = next_command(h);
    assert_non_null(c);
    handler_start(&b, h, CMD_DISARM, "second", 10000);
    assert_string_equal(c->requester, "first");
    handover_answer(h, c, 200, json_object());
    c = next_command(h);
    assert_non_null(c);
    assert_string_equal(c->requester, "second");
    handover_answer(h, c, 409, json_object());
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 409);
    json_decref(a.body);
    json_decref(b.body);
    assert_null(handover_next(h));
}

/* A handler that gives up first: its command is dropped untaken, or freed when answered. */
static void test_gave_up(void **state)
{
    struct handover *h = *state;
    struct handler a;
    struct command *c;

    handler_start(&a, h, CMD_ARM, "slow", 50);
    pthread_join(a.th, NULL);
    assert_int_equal(a.end, HANDOVER_TIMEOUT);
    assert_null(handover_next(h)); /* dropped, with a warning */
    handler_start(&a, h, CMD_KILL, "slower", 100);
    c = next_command(h);
    assert_non_null(c);
    pthread_join(a.th, NULL); /* it gives up while the loop works on it */
    assert_int_equal(a.end, HANDOVER_TIMEOUT);
    handover_answer(h, c, 200, json_object()); /* freed here (ASan: no leak) */
}

/*
 * Stopping releases every waiting handler at once: one whose command the
 * loop is working on (answered later, then freed) and one still queued
 * (freed by destroy).
 */
static void test_stop(void **state)
{
    struct handover *h = *state;
    struct timespec t0, t1;
    struct handler a, b;
    struct command *c;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    handler_start(&a, h, CMD_DISARM, "taken", 20000);
    c = next_command(h);
    assert_non_null(c);
    handler_start(&b, h, CMD_ARM, "queued", 20000);
    /* b is queued when the eventfd becomes readable again (a took its count) */
    struct pollfd q = {.fd = handover_fd(h), .events = POLLIN};
    assert_int_equal(poll(&q, 1, 5000), 1);
    handover_stop(h);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(a.end, HANDOVER_STOPPING);
    assert_int_equal(b.end, HANDOVER_STOPPING);
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    handover_answer(h, c, 200, json_object());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gave_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
