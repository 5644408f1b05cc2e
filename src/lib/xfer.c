/* xfer.c: an evented HTTP client: libcurl's multi interface on a libevent loop */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "loop.h"
#include "str.h"
#include "xfer.h"

#define DEFAULT_CONNECT_MS	10000L
#define DEFAULT_MAX_BODY	(4 * 1024 * 1024)

struct xfer {
	TAILQ_ENTRY(xfer)	 entry;
	struct xfer_pool	*pool;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;		/* the request's */
	struct str		 in;		/* the collected answer */
	size_t			 max_in;
	const struct xfer_cb	*cb;
	void			*arg;
	long			 status;
	int			 status_sent;
	int			 overflow;	/* in passed max_in */
	int			 refused;	/* a private address */
	int			 cancelled;
	struct event		*reaper;	/* removes a cancelled transfer */
};

TAILQ_HEAD(xfers, xfer);

struct xfer_pool {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct xfers		 xfers;		/* every transfer not yet freed */
	char			*user_agent;
	int			 flags;
};

/* The libevent watch of one curl socket. */
struct sockwatch {
	struct xfer_pool	*pool;
	struct event		*ev;
};

/* Take x off its pool and free it with everything it owns. */
static void
xfer_free(struct xfer *x)
{
	TAILQ_REMOVE(&x->pool->xfers, x, entry);
	curl_multi_remove_handle(x->pool->multi, x->easy);
	if (x->reaper != NULL)
		event_free(x->reaper);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	str_free(&x->in);
	free(x);
}

/* Hand finished transfers to their owners, then free them. */
static void
check_done(struct xfer_pool *p)
{
	CURLMsg		*m;
	struct xfer	*x;
	CURLcode	 rc;
	int		 left;
	long		 status;

	while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;	/* m dies with the handle */
		status = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
		    &status);
		if (x->overflow)
			rc = CURLE_FILESIZE_EXCEEDED;
		else if (x->refused && rc != CURLE_OK)
			rc = CURLE_ABORTED_BY_CALLBACK;
		if (!x->cancelled && x->cb->on_done != NULL)
			x->cb->on_done(x, rc, status, x->arg);
		xfer_free(x);
	}
}

/* A watched socket is ready: tell curl. */
static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct sockwatch	*w = arg;
	struct xfer_pool	*p = w->pool;
	int			 running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(p->multi, fd, action, &running);
	check_done(p);
}

/* curl's timer expired. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct xfer_pool	*p = arg;
	int			 running;

	curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(p);
}

/* curl wants a socket watched (or not). */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct xfer_pool	*p = userp;
	struct sockwatch	*w = sockp;
	short			 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
		}
		curl_multi_assign(p->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			abort();
		w->pool = p;
		curl_multi_assign(p->multi, s, w);
	} else
		event_free(w->ev);
	if ((w->ev = event_new(p->base, s, ev, on_socket, w)) == NULL)
		abort();
	event_add(w->ev, NULL);
	return 0;
}

/* curl wants its timer set to ms (-1: none). */
static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	struct xfer_pool	*p = userp;

	if (ms < 0)
		evtimer_del(p->timer);
	else
		loop_timer_in(p->timer, ms);
	return 0;
}

struct xfer_pool *
xfer_pool_new(struct event_base *base, int flags, const char *user_agent)
{
	struct xfer_pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	p->base = base;
	p->flags = flags;
	TAILQ_INIT(&p->xfers);
	if (user_agent != NULL && (p->user_agent = strdup(user_agent)) == NULL)
		abort();
	if ((p->multi = curl_multi_init()) == NULL ||
	    (p->timer = evtimer_new(base, on_timer, p)) == NULL) {
		xfer_pool_free(p);
		return NULL;
	}
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
	return p;
}

void
xfer_pool_free(struct xfer_pool *p)
{
	if (p == NULL)
		return;
	while (!TAILQ_EMPTY(&p->xfers))
		xfer_free(TAILQ_FIRST(&p->xfers));
	if (p->multi != NULL)
		curl_multi_cleanup(p->multi);
	if (p->timer != NULL)
		event_free(p->timer);
	free(p->user_agent);
	free(p);
}

/* Body bytes from curl: the status first, then the owner's; 0 aborts. */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;

	if (x->cancelled)
		return 0;	/* abort: the owner is gone */
	if (!x->status_sent) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		x->status_sent = 1;
		if (x->cb->on_status != NULL)
			x->cb->on_status(x, x->status, x->arg);
		if (x->cancelled)
			return 0;
	}
	if (x->cb->on_data == NULL) {
		if (x->in.len + size * n > x->max_in) {
			x->overflow = 1;
			return 0;
		}
		str_append(&x->in, p, size * n);
	} else if (x->cb->on_data(x, p, size * n, x->arg) == -1)
		return 0;
	return size * n;
}

/* A response header line: split and trim it for the owner. */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	char		 line[512], *colon, *v, *e;
	size_t		 len = size * n;

	if (x->cancelled || x->cb->on_header == NULL || len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	if ((colon = strchr(line, ':')) == NULL)
		return len;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == '\r' || e[-1] == '\n' ||
	    e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = '\0';
	x->cb->on_header(x, line, v, x->arg);
	return len;
}

/* Is this IPv4 address (host order) loopback, private, link-local or such? */
static int
private_v4(uint32_t a)
{
	return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
	    (a >> 20) == (172 << 4 | 1) || (a >> 16) == (192 << 8 | 168) ||
	    (a >> 16) == (169 << 8 | 254) || (a >> 22) == (100 << 2 | 1) ||
	    (a >> 28) == 14 || (a >> 28) == 15;
}

int
xfer_private_addr(const struct sockaddr *sa)
{
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)sa;
	const unsigned char		*b = s6->sin6_addr.s6_addr;
	uint32_t			 v4;

	if (sa->sa_family == AF_INET)
		return private_v4(ntohl(((const struct sockaddr_in *)sa)->
		    sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return 1;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(&v4, b + 12, 4);
		return private_v4(ntohl(v4));
	}
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ||
	    IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) ||
	    IN6_IS_ADDR_MULTICAST(&s6->sin6_addr) || (b[0] & 0xfe) == 0xfc;
}

/* The same for an address as text ("10.0.0.1", "::1"); unparsable: 1. */
static int
private_text(const char *ip)
{
	struct sockaddr_in	 s4 = { .sin_family = AF_INET };
	struct sockaddr_in6	 s6 = { .sin6_family = AF_INET6 };
	char			 buf[64], *pct;
	size_t			 n;

	if (ip == NULL || (n = strlen(ip)) >= sizeof(buf))
		return 1;
	memcpy(buf, ip, n + 1);
	if ((pct = strchr(buf, '%')) != NULL)	/* an IPv6 zone */
		*pct = '\0';
	if (inet_pton(AF_INET, buf, &s4.sin_addr) == 1)
		return xfer_private_addr((struct sockaddr *)&s4);
	if (inet_pton(AF_INET6, buf, &s6.sin6_addr) == 1)
		return xfer_private_addr((struct sockaddr *)&s6);
	return 1;
}

/*
 * Open a socket for a public-only pool only when the address it resolved
 * to is public: a supplier's URL must not reach the operator's own network
 * (a metadata service, the internal listener, the relay itself). Checked
 * at connect time, so a name that re-resolves cannot slip by.
 */
static curl_socket_t
open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer	*x = arg;

	if (purpose == CURLSOCKTYPE_IPCXN && xfer_private_addr(&a->addr)) {
		x->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/*
 * And once more before every request, on a new connection or one taken
 * from the pool's cache: the address the request will really go to.
 */
static int
prereq_public(void *arg, char *primary_ip, char *local_ip, int primary_port,
    int local_port)
{
	struct xfer	*x = arg;

	if (private_text(primary_ip)) {
		x->refused = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* Set x's curl options from req and its pool. */
static void
set_options(struct xfer *x, const struct xfer_req *req)
{
	CURL	*e = x->easy;

	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	if (x->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)req->len);
	}
	if (x->pool->user_agent != NULL)
		curl_easy_setopt(e, CURLOPT_USERAGENT, x->pool->user_agent);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_ms > 0 ?
	    req->connect_ms : DEFAULT_CONNECT_MS);
	if (req->keepalive) {
		curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 15L);
		curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 5L);
	}
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* Never let a body or a header (a token) reach a log through curl. */
	curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);
	if (x->pool->flags & XFER_PUBLIC_ONLY) {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_public);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
		curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_public);
		curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
	}
}

struct xfer *
xfer_start(struct xfer_pool *p, const struct xfer_req *req,
    const struct xfer_cb *cb, void *arg)
{
	struct xfer	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->easy = curl_easy_init()) == NULL)
		abort();
	if (req->body != NULL) {
		if ((x->body = malloc(req->len + 1)) == NULL)
			abort();
		memcpy(x->body, req->body, req->len);
		x->body[req->len] = '\0';
	}
	x->pool = p;
	x->headers = req->headers;
	x->max_in = req->max_body > 0 ? req->max_body : DEFAULT_MAX_BODY;
	x->cb = cb;
	x->arg = arg;
	str_init(&x->in);
	set_options(x, req);
	TAILQ_INSERT_TAIL(&p->xfers, x, entry);
	if (curl_multi_add_handle(p->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		return NULL;
	}
	return x;
}

/* Deferred removal of a cancelled transfer, outside any curl callback. */
static void
reap_cancelled(evutil_socket_t fd, short what, void *arg)
{
	xfer_free(arg);
}

void
xfer_cancel(struct xfer *x)
{
	if (x == NULL || x->cancelled)
		return;
	x->cancelled = 1;
	if ((x->reaper = evtimer_new(x->pool->base, reap_cancelled, x)) == NULL)
		abort();
	loop_timer_in(x->reaper, 0);
}

void
xfer_pause(struct xfer *x, int paused)
{
	if (x != NULL && !x->cancelled)
		curl_easy_pause(x->easy, paused ? CURLPAUSE_RECV :
		    CURLPAUSE_CONT);
}

CURL *
xfer_easy(struct xfer *x)
{
	return x->easy;
}

const char *
xfer_body(struct xfer *x, size_t *len)
{
	if (len != NULL)
		*len = x->in.len;
	return str_cstr(&x->in);
}

struct curl_slist *
xfer_json_headers(const char *accept, const char *line)
{
	struct curl_slist	*h = NULL;
	struct str		 s = STR_INIT;

	if (accept != NULL) {
		str_printf(&s, "Accept: %s", accept);
		h = curl_slist_append(h, str_cstr(&s));
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");	/* no 100-continue wait */
	if (line != NULL)
		h = curl_slist_append(h, line);
	str_free(&s);
	if (h == NULL)
		abort();
	return h;
}
