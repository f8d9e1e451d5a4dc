/*
 * test_clock.c - the guard's clocks: monotonic and never going back, the
 * millisecond and microsecond readings of one clock agreeing, the wall
 * clock on the epoch
 */
#include "unit_util.h"

#include <time.h>

#include "clock.h"

/* Successive readings never go back, and a sleep moves both units alike. */
static void test_monotonic(void **state)
{
    int64_t ms0 = mono_ms(), us0 = mono_us(), ms1, us1;
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 20 * 1000000};

    (void)state;
    assert_true(ms0 > 0);
    assert_true(us0 / 1000 >= ms0);
    nanosleep(&nap, NULL);
    us1 = mono_us();
    ms1 = mono_ms();
    assert_true(us1 - us0 >= 20000);
    assert_true(ms1 - ms0 >= 20);
    assert_true(ms1 >= us1 / 1000);
    /* both read one clock: a few ms apart at most, however loaded the machine */
    assert_true(ms1 - us1 / 1000 < 1000);
}

/* The wall clock counts milliseconds since the epoch, as time(2) does seconds. */
static void test_wall(void **state)
{
    time_t before = time(NULL);
    int64_t w = wall_ms();
    time_t after = time(NULL);

    (void)state;
    /* time(2) reads the coarse clock, up to a tick behind: one second of slack */
    assert_true(w / 1000 >= (int64_t)before);
    assert_true(w / 1000 <= (int64_t)after + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_wall),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
