/* feed.c: the app's change feed, polled, so changes reach the relay within a second */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "loop.h"
#include "relay.h"

static struct event	*timer;
static long long	 since;		/* the last change seen */
static int		 asking;

/* Forget what one change makes stale. */
static void
apply(json_t *c)
{
	const char	*kind = json_string_value(json_object_get(c, "kind"));
	json_t		*m;
	size_t		 i;

	if (kind == NULL)
		return;
	if (strcmp(kind, "key") == 0)
		leases_forget_key(json_integer_value(json_object_get(c,
		    "key_id")));
	else if (strcmp(kind, "user") == 0)
		leases_forget_user(json_integer_value(json_object_get(c,
		    "user_id")));
	else if (strcmp(kind, "node") == 0) {
		models_forget_node(json_integer_value(json_object_get(c,
		    "node_id")));
		workers_forget_node(json_integer_value(json_object_get(c,
		    "node_id")));
		json_array_foreach(json_object_get(c, "models"), i, m)
			models_forget(json_string_value(m));
	} else if (strcmp(kind, "model") == 0)
		models_forget(json_string_value(json_object_get(c, "model")));
}

/* The app's answer: apply the changes, then poll again. */
static void
answered(long status, json_t *body, const char *retry_after, void *arg)
{
	json_t	*c;
	size_t	 i;

	asking = 0;
	if (status == 200 && json_is_integer(json_object_get(body, "seq"))) {
		if (json_is_true(json_object_get(body, "reset"))) {
			log_info("change feed: starting afresh");
			leases_forget_all();
			models_forget_all();
			workers_forget_node(-1);
		} else
			json_array_foreach(json_object_get(body, "changes"), i,
			    c)
				apply(c);
		since = json_integer_value(json_object_get(body, "seq"));
	} else if (status != 0)
		log_warn("change feed: the app answered %ld", status);
	leases_sweep();		/* idle keys, windows that ended */
	models_sweep();		/* models no longer asked for */
	loop_timer_in(timer, status == 200 ? relay->rc.change_poll_ms :
	    relay->rc.change_poll_ms * 4);
}

/* Ask for what changed since the last answer. */
static void
poll_changes(evutil_socket_t fd, short what, void *arg)
{
	json_t	*q;

	if (asking)
		return;
	asking = 1;
	q = json_pack("{s:I}", "since", (json_int_t)since);
	if (app_call("/internal/changes", q, answered, NULL) == -1)
		answered(0, NULL, NULL, NULL);
	json_decref(q);
}

int
feed_init(struct relay *rl)
{
	if ((timer = evtimer_new(rl->base, poll_changes, NULL)) == NULL)
		return -1;
	loop_timer_in(timer, 0);
	return 0;
}

void
feed_free(void)
{
	if (timer != NULL)
		event_free(timer);
}
