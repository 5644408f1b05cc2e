/* loop.c: timers on a libevent loop in milliseconds, and jitter */
#include "config.h"

#include <stdlib.h>

#include "loop.h"

void
loop_timer_in(struct event *ev, long long ms)
{
	struct timeval	tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

long long
loop_jitter(long long ms)
{
	return ms * 3 / 4 + (ms > 1 ? random() % (ms / 2 + 1) : 0);
}
