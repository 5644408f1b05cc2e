/* sse.h: an incremental parser for server-sent events (text/event-stream) */
#ifndef IP_SSE_H
#define IP_SSE_H

#include <stddef.h>

#include "str.h"

/*
 * Called once per complete event with its data (the "data:" lines joined
 * by '\n', NUL-terminated) and its "event:" name ("" when none). Return 0
 * to go on, or -1 to stop: sse_feed() then returns -1 at once.
 */
typedef int (*sse_event_fn)(const char *data, size_t len, const char *event,
    void *arg);

struct sse {
	struct str	 line;		/* the line being read */
	struct str	 data;		/* the event being built */
	char		 event[64];
	int		 has_data;
	int		 cr;		/* the last byte was '\r' */
	size_t		 max;		/* longest line or event accepted */
	sse_event_fn	 fn;
	void		*arg;
};

/*
 * Start a parser that calls fn with arg for every event; max bounds a line
 * and an event (bytes). Allocates only as bytes are fed; sse_free() frees.
 */
void	sse_init(struct sse *, size_t max, sse_event_fn, void *arg);

/* Release the parser's buffers (not the struct, which the caller owns). */
void	sse_free(struct sse *);

/*
 * Feed n bytes in any split. Comments (": …") and unknown fields are
 * ignored. Returns 0, or -1 when the callback stopped or a line or event
 * was longer than max.
 */
int	sse_feed(struct sse *, const char *buf, size_t n);

#endif
