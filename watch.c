/*
 * watch.c - "demotion-guard status --watch [INTERVAL]": GET /v1/status and
 * /v1/walsenders every INTERVAL, the status redrawn in place on a terminal
 * (ANSI clear and home) or repeated with a blank line between otherwise
 *
 * A daemon that goes away gives its error line and is tried again at the
 * next turn (each request is bounded by --timeout).  SIGINT ends it, also
 * in the middle of a request or a sleep, with exit 0.
 */
#include "watch.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_render.h"
#include "clock.h"
#include "transport.h"

static volatile sig_atomic_t interrupted;

/* SIGINT: ask the loop to end. */
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Start frame n: clear and home (terminal) or a blank line; then when and how often. */
void watch_frame(FILE *out, bool tty, int n, int64_t interval_ms, int64_t now_wall_ms)
{
    char every[32];
    time_t t = (time_t)(now_wall_ms / 1000);
    struct tm tm;

    if (tty)
        fputs("\033[H\033[2J", out);
    else if (n > 0)
        fputc('\n', out);
    client_render_duration(interval_ms, every, sizeof(every));
    gmtime_r(&t, &tm);
    fprintf(out, "every %s, Ctrl-C ends (at %02d:%02d:%02dZ)\n", every, tm.tm_hour, tm.tm_min,
            tm.tm_sec);
}

/* One frame: both answers and the table, or the error line. */
static void watch_once(const struct client_args *a, bool tty, int n)
{
    json_t *st = NULL, *ws = NULL;
    char msg[1024];
    bool ok = transport_get_json(a->url, a->timeout_ms, "/v1/status", &st, msg, sizeof(msg)) &&
              transport_get_json(a->url, a->timeout_ms, "/v1/walsenders", &ws, msg, sizeof(msg));

    if (interrupted) {
        json_decref(st);
        json_decref(ws);
        return;
    }
    watch_frame(stdout, tty, n, a->watch_ms, wall_ms());
    if (ok)
        client_render_status(stdout, a->url, st, ws, wall_ms());
    else
        printf("demotion-guard: %s (trying again)\n", msg);
    fflush(stdout);
    json_decref(st);
    json_decref(ws);
}

/* Sleep ms, or less when SIGINT comes. */
static void watch_sleep(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Redraw the status every a->watch_ms until SIGINT; returns 0 (1 when curl cannot start). */
int watch_run(const struct client_args *a)
{
    struct sigaction sa;
    bool tty = isatty(STDOUT_FILENO);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint; /* no SA_RESTART: a sleep ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    transport_set_interrupt(&interrupted);
    if (!transport_global_init()) {
        fprintf(stderr, "demotion-guard: cannot initialise libcurl\n");
        return 1;
    }
    for (int n = 0; !interrupted; n++) {
        watch_once(a, tty, n);
        watch_sleep(a->watch_ms);
    }
    transport_global_cleanup();
    transport_set_interrupt(NULL);
    return 0;
}
