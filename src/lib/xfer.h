/* xfer.h: an evented HTTP client: libcurl's multi interface on a libevent loop */
#ifndef IP_XFER_H
#define IP_XFER_H

#include <stddef.h>

#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/event.h>

/*
 * A pool is one libcurl multi handle on one loop, and so one cache of
 * connections: transfers of different pools never share a connection.
 * The relay keeps its calls to the app and its calls to suppliers'
 * endpoints in two pools for that reason.
 */
struct xfer_pool;
struct xfer;

/* Pool flags. */
#define XFER_PUBLIC_ONLY	0x01	/* refuse loopback, private, link-local */

/*
 * What a transfer tells its owner, filled with designated initializers.
 * Every member may be NULL. No callback follows xfer_cancel().
 */
struct xfer_cb {
	/* The status line arrived, before any body byte. */
	void	(*on_status)(struct xfer *, long status, void *arg);
	/* One response header line, name and value trimmed. */
	void	(*on_header)(struct xfer *, const char *name,
		    const char *value, void *arg);
	/*
	 * Body bytes; return 0 to go on or -1 to abort the transfer. When
	 * NULL, the body is collected (see max_body and xfer_body()).
	 */
	int	(*on_data)(struct xfer *, const char *, size_t, void *arg);
	/*
	 * The end: CURLE_OK or why not (CURLE_FILESIZE_EXCEEDED when a
	 * collected body passed max_body, CURLE_ABORTED_BY_CALLBACK when a
	 * public-only pool refused the address). The transfer is freed
	 * right after this returns.
	 */
	void	(*on_done)(struct xfer *, CURLcode, long status, void *arg);
};

/* One request. Strings are copied; headers are taken over. */
struct xfer_req {
	const char		*url;
	struct curl_slist	*headers;	/* owned by the transfer */
	const char		*body;		/* NULL: a GET */
	size_t			 len;
	long			 timeout_ms;	/* the whole transfer */
	long			 connect_ms;	/* 0: 10 s */
	size_t			 max_body;	/* collected body; 0: 4 MiB */
	int			 keepalive;	/* TCP keep-alive probes */
};

/*
 * A pool on base. user_agent (copied; may be NULL for none) goes with
 * every request. Returns NULL when libcurl cannot start. Heap-owned:
 * xfer_pool_free(). curl_global_init() is the caller's.
 */
struct xfer_pool	*xfer_pool_new(struct event_base *, int flags,
			    const char *user_agent);

/* Free the pool and every transfer still on it, calling nobody. */
void			 xfer_pool_free(struct xfer_pool *);

/*
 * Start req on the pool. Returns the transfer, which is freed after its
 * on_done or a moment after xfer_cancel(); or NULL when it cannot start,
 * with req->headers freed.
 */
struct xfer		*xfer_start(struct xfer_pool *, const struct xfer_req *,
			    const struct xfer_cb *, void *arg);

/*
 * Stop x: no callback follows. Safe inside x's own callbacks and with
 * NULL; the handle leaves the loop a moment later.
 */
void			 xfer_cancel(struct xfer *);

/* Pause (1) or resume (0) reading x's answer. */
void			 xfer_pause(struct xfer *, int paused);

/* The curl handle of x, for its timings; owned by x. */
CURL			*xfer_easy(struct xfer *);

/*
 * The body collected so far (when on_data is NULL): NUL-terminated, owned
 * by x, valid until x is freed; its length in *len when len is not NULL.
 */
const char		*xfer_body(struct xfer *, size_t *len);

/*
 * Headers for a JSON call: Content-Type, no 100-continue wait, Accept when
 * accept is not NULL, and line (such as "Authorization: Bearer …") when not
 * NULL. Heap-owned: give it to xfer_start. Aborts when out of memory.
 */
struct curl_slist	*xfer_json_headers(const char *accept,
			    const char *line);

/*
 * Is the socket address loopback, private, link-local, multicast or
 * otherwise not on the public internet? (Any family but IPv4 and IPv6
 * counts as private.)
 */
int			 xfer_private_addr(const struct sockaddr *);

#endif
