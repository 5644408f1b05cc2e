/* loop.h: timers on a libevent loop in milliseconds, and jitter */
#ifndef IP_LOOP_H
#define IP_LOOP_H

#include <event2/event.h>
#include <event2/http.h>

/* (Re)arm the timer ev to fire once, ms milliseconds from now (0: at once). */
void		 loop_timer_in(struct event *ev, long long ms);

/* The same in microseconds, for a load generator's schedule. */
void		 loop_timer_in_us(struct event *ev, long long us);

/*
 * Notice a client who leaves before anything is written to it: evhttp
 * stops reading once a request is in, so read for the end of the
 * connection (any bytes that come wait in the buffer for evhttp's next
 * request). EOF and errors then reach evhttp, which closes the connection
 * and calls its close callback.
 */
void		 loop_watch_close(struct evhttp_connection *);

/* ms give or take 25%, uniformly, from random(). */
long long	 loop_jitter(long long ms);

#endif
