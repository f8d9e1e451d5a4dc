/*
 * clock.c - the guard's clocks: monotonic milliseconds and microseconds, the wall clock
 *
 * Due times and durations are taken on the monotonic clock, which no
 * change of the system time moves; only what is shown (audit, API) is
 * converted to the wall clock.
 */
#include "clock.h"

#include <time.h>

int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
