/* upstream.c: HTTP calls through libcurl's multi interface, driven by libevent */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "relay.h"

struct xfer {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;
	const struct xfer_cb	*cb;
	void			*arg;
	long			 status;
	int			 status_sent;
	int			 cancelled;
	struct event		*reaper;	/* removes a cancelled transfer */
};

/* The libevent watch of one curl socket. */
struct sockwatch {
	struct event	*ev;
};

/* Hand finished transfers to their owners. */
static void
check_done(void)
{
	CURLMsg		*m;
	struct xfer	*x;
	int		 left;
	long		 status = 0;

	while ((m = curl_multi_info_read(relay->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURLcode	rc = m->data.result;	/* m dies with the handle */

		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(relay->multi, x->easy);
		if (!x->cancelled && x->cb->on_done != NULL)
			x->cb->on_done(x, rc, status, x->arg);
		if (x->reaper != NULL)
			event_free(x->reaper);
		curl_easy_cleanup(x->easy);
		curl_slist_free_all(x->headers);
		free(x->body);
		free(x);
	}
}

/* A watched socket is ready: tell curl. */
static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	int	running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(relay->multi, fd, action, &running);
	check_done();
}

/* curl's timer expired. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	int	running;

	curl_multi_socket_action(relay->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

/* curl wants a socket watched (or not). */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct sockwatch	*w = sockp;
	short			 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
		}
		curl_multi_assign(relay->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			abort();
		curl_multi_assign(relay->multi, s, w);
	} else
		event_free(w->ev);
	w->ev = event_new(relay->base, s, ev, on_socket, NULL);
	event_add(w->ev, NULL);
	return 0;
}

/* curl wants its timer set to ms (-1: none). */
static int
timer_cb(CURLM *multi, long ms, void *userp)
{
	struct timeval	tv;

	if (ms < 0) {
		evtimer_del(relay->curl_timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(relay->curl_timer, &tv);
	return 0;
}

int
upstream_init(struct relay *rl)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (rl->multi = curl_multi_init()) == NULL)
		return -1;
	rl->curl_timer = evtimer_new(rl->base, on_timer, NULL);
	curl_multi_setopt(rl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(rl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	return 0;
}

void
upstream_free(struct relay *rl)
{
	if (rl->multi != NULL)
		curl_multi_cleanup(rl->multi);
	if (rl->curl_timer != NULL)
		event_free(rl->curl_timer);
	curl_global_cleanup();
}

/* Body bytes from curl: the status first, then the owner's callback. */
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
	if (x->cb->on_data != NULL && x->cb->on_data(x, p, size * n, x->arg) == -1)
		return 0;
	return size * n;
}

/* A response header line: split it for the owner. */
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
	    e[-1] == ' '); e--)
		*(e - 1) = '\0';
	x->cb->on_header(x, line, v, x->arg);
	return len;
}

static curl_socket_t	open_public(void *, curlsocktype, struct curl_sockaddr *);

/* Start a POST; public_only refuses private addresses (endpoints). */
static struct xfer *
start(const char *url, struct curl_slist *headers, const char *body,
    size_t len, long timeout_ms, const struct xfer_cb *cb, void *arg,
    int public_only)
{
	struct xfer	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL || (x->body = malloc(len + 1)) == NULL)
		abort();
	memcpy(x->body, body, len);
	x->body[len] = '\0';
	x->headers = headers;
	x->cb = cb;
	x->arg = arg;
	if ((x->easy = curl_easy_init()) == NULL)
		abort();
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Never let a body or a header reach our log through curl. */
	curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 0L);
	if (public_only && !relay->rc.allow_private)
		curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, open_public);
	if (curl_multi_add_handle(relay->multi, x->easy) != CURLM_OK) {
		curl_easy_cleanup(x->easy);
		curl_slist_free_all(headers);
		free(x->body);
		free(x);
		return NULL;
	}
	return x;
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

/* The same for a socket address of either family. */
static int
private_addr(const struct sockaddr *sa)
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

/*
 * Open the socket for a supplier's endpoint only when the address it
 * resolved to is public: a node URL must not reach the operator's own
 * network (a metadata service, the internal listener, the relay itself).
 * Checked at connect time, so a name that re-resolves cannot slip by.
 */
static curl_socket_t
open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	if (purpose == CURLSOCKTYPE_IPCXN && private_addr(&a->addr)) {
		log_warn("refused an endpoint on a private address");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* POST to the app (any address). */
struct xfer *
xfer_post(const char *url, struct curl_slist *headers, const char *body,
    size_t len, long timeout_ms, const struct xfer_cb *cb, void *arg)
{
	return start(url, headers, body, len, timeout_ms, cb, arg, 0);
}

/* POST to a supplier's endpoint: public addresses only, unless allowed. */
struct xfer *
xfer_post_endpoint(const char *url, struct curl_slist *headers,
    const char *body, size_t len, long timeout_ms, const struct xfer_cb *cb,
    void *arg)
{
	return start(url, headers, body, len, timeout_ms, cb, arg, 1);
}

/* Deferred removal of a cancelled transfer, outside any curl callback. */
static void
reap_cancelled(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;

	curl_multi_remove_handle(relay->multi, x->easy);
	event_free(x->reaper);
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	free(x);
}

/*
 * Stop a transfer: no callback follows. It may be inside a curl callback
 * right now, so the handle is removed from the loop a moment later.
 */
void
xfer_cancel(struct xfer *x)
{
	struct timeval	now = { 0, 0 };

	if (x == NULL || x->cancelled)
		return;
	x->cancelled = 1;
	x->reaper = evtimer_new(relay->base, reap_cancelled, x);
	evtimer_add(x->reaper, &now);
}

void
xfer_pause(struct xfer *x, int paused)
{
	if (x != NULL && !x->cancelled)
		curl_easy_pause(x->easy, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}
