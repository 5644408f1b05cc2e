/* sse.c: an incremental parser for server-sent events (text/event-stream) */
#include "config.h"

#include <string.h>

#include "sse.h"

void
sse_init(struct sse *p, size_t max, sse_event_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	str_init(&p->line);
	str_init(&p->data);
	p->max = max;
	p->fn = fn;
	p->arg = arg;
}

void
sse_free(struct sse *p)
{
	str_free(&p->line);
	str_free(&p->data);
}

/* An empty line: deliver the event, if it had data, and start the next. */
static int
dispatch(struct sse *p)
{
	int	rc = 0;

	if (p->has_data)
		rc = p->fn(str_cstr(&p->data), p->data.len, p->event, p->arg);
	str_reset(&p->data);
	p->event[0] = '\0';
	p->has_data = 0;
	return rc;
}

/* One complete line (without its end). */
static int
take_line(struct sse *p)
{
	const char	*l = str_cstr(&p->line), *v;
	size_t		 n = p->line.len, flen;

	if (n == 0)
		return dispatch(p);
	if (l[0] == ':')
		return 0;	/* a comment, e.g. ": keep-alive" */
	v = memchr(l, ':', n);
	flen = v ? (size_t)(v - l) : n;
	if (v != NULL) {
		v++;
		if (v < l + n && *v == ' ')
			v++;
	} else
		v = l + n;
	if (flen == 4 && memcmp(l, "data", 4) == 0) {
		if (p->has_data)
			str_putc(&p->data, '\n');
		str_append(&p->data, v, (size_t)(l + n - v));
		p->has_data = 1;
		if (p->data.len > p->max)
			return -1;
	} else if (flen == 5 && memcmp(l, "event", 5) == 0) {
		n = (size_t)(l + n - v);
		if (n >= sizeof(p->event))
			n = sizeof(p->event) - 1;
		memcpy(p->event, v, n);
		p->event[n] = '\0';
	}
	return 0;
}

int
sse_feed(struct sse *p, const char *buf, size_t n)
{
	size_t	i, start = 0;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\n' && buf[i] != '\r') {
			p->cr = 0;
			continue;
		}
		if (buf[i] == '\n' && p->cr) {	/* the \n of a \r\n */
			p->cr = 0;
			start = i + 1;
			continue;
		}
		p->cr = buf[i] == '\r';
		str_append(&p->line, buf + start, i - start);
		start = i + 1;
		if (p->line.len > p->max || take_line(p) == -1)
			return -1;
		str_reset(&p->line);
	}
	str_append(&p->line, buf + start, n - start);
	return p->line.len > p->max ? -1 : 0;
}
