/* loop.h: timers on a libevent loop in milliseconds, and jitter */
#ifndef IP_LOOP_H
#define IP_LOOP_H

#include <event2/event.h>

/* (Re)arm the timer ev to fire once, ms milliseconds from now (0: at once). */
void		 loop_timer_in(struct event *ev, long long ms);

/* The same in microseconds, for a load generator's schedule. */
void		 loop_timer_in_us(struct event *ev, long long us);

/* ms give or take 25%, uniformly, from random(). */
long long	 loop_jitter(long long ms);

#endif
