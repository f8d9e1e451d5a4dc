/*
 * clock.h - the guard's clocks: monotonic milliseconds and microseconds,
 * and the wall clock in milliseconds since the epoch
 */
#ifndef DG_CLOCK_H
#define DG_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock: due times, ages, timeouts. */
int64_t mono_ms(void);
/* Microseconds on the monotonic clock: the guard's own figures at the deadline, query times. */
int64_t mono_us(void);
/* Milliseconds since the epoch (CLOCK_REALTIME): what the audit log and the API show. */
int64_t wall_ms(void);

#endif
