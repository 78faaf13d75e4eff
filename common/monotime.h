/* The one clock corral measures intervals and deadlines with. */
#ifndef CORRAL_MONOTIME_H
#define CORRAL_MONOTIME_H

/* Milliseconds of CLOCK_MONOTONIC, which wall-clock changes do not move;
 * -1 (logged) if it cannot be read, which Linux never does with a valid
 * clock id. */
long long monotime_ms(void);

#endif
