/* loop.c: timers on a libevent loop in milliseconds, and jitter */
#include "config.h"

#include <stdlib.h>

#include <event2/bufferevent.h>

#include "loop.h"

void
loop_timer_in(struct event *ev, long long ms)
{
	loop_timer_in_us(ev, ms < 0 ? 0 : ms * 1000);
}

void
loop_timer_in_us(struct event *ev, long long us)
{
	struct timeval	tv;

	if (us < 0)
		us = 0;
	tv.tv_sec = us / 1000000;
	tv.tv_usec = us % 1000000;
	evtimer_add(ev, &tv);
}

long long
loop_jitter(long long ms)
{
	return ms * 3 / 4 + (ms > 1 ? random() % (ms / 2 + 1) : 0);
}

void
loop_watch_close(struct evhttp_connection *c)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(c);
	bufferevent_data_cb	 rd, wr;
	bufferevent_event_cb	 ev;
	void			*arg;

	bufferevent_getcb(bev, &rd, &wr, &ev, &arg);
	bufferevent_setcb(bev, NULL, wr, ev, arg);
	bufferevent_enable(bev, EV_READ);
}
