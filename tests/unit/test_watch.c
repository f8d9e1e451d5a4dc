/*
 * test_watch.c - status --watch: how each frame starts (ANSI clear and
 * home on a terminal, a blank line between frames otherwise, the interval
 * and the time)
 */
#include "unit_util.h"

#include "watch.h"

/* The text watch_frame writes for frame n. */
static char *frame(bool tty, int n, int64_t interval_ms)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    watch_frame(out, tty, n, interval_ms, 1764626400123LL); /* 2025-12-01T22:00:00.123Z */
    fclose(out);
    return text;
}

/* A terminal: every frame clears the screen and goes home first. */
static void test_frame_tty(void **state)
{
    char *t0 = frame(true, 0, 2000), *t1 = frame(true, 1, 250);

    (void)state;
    assert_string_equal(t0, "\033[H\033[2Jevery 2s, Ctrl-C ends (at 22:00:00Z)\n");
    assert_string_equal(t1, "\033[H\033[2Jevery 250ms, Ctrl-C ends (at 22:00:00Z)\n");
    free(t0);
    free(t1);
}

/* Not a terminal: no escape sequence; a blank line before every frame but the first. */
static void test_frame_plain(void **state)
{
    char *t0 = frame(false, 0, 2000), *t1 = frame(false, 3, 2000);

    (void)state;
    assert_string_equal(t0, "every 2s, Ctrl-C ends (at 22:00:00Z)\n");
    assert_string_equal(t1, "\nevery 2s, Ctrl-C ends (at 22:00:00Z)\n");
    free(t0);
    free(t1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_tty),
        cmocka_unit_test(test_frame_plain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
