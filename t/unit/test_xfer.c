/* test_xfer.c: unit tests for the evented HTTP client against a loopback server */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "str.h"
#include "unit.h"
#include "xfer.h"

/* One test's world: a loop, an HTTP server on loopback, what it saw. */
static struct event_base	*base;
static struct evhttp		*http;
static char			 url[64];
static int			 served;	/* requests the server answered */
static struct str		 seen;		/* the last request's body */

/* The outcome of one transfer, as its callbacks saw it. */
struct outcome {
	int		 statuses, headers, done;
	long		 status;
	CURLcode	 rc;
	char		 type[64];
	struct str	 body;
	long		 connects;	/* CURLINFO_NUM_CONNECTS at the end */
	struct xfer	*self;
	int		 cancel_at_data;
};

/* The server: echo the body's length; "/big" answers 64 KiB. */
static void
serve(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct evbuffer	*b = evbuffer_new();
	const char	*path = evhttp_request_get_uri(req);
	static char	 big[65536];

	served++;
	str_reset(&seen);
	str_append(&seen, evbuffer_pullup(in, -1), evbuffer_get_length(in));
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain;  charset=utf-8 ");
	if (strcmp(path, "/big") == 0) {
		memset(big, 'x', sizeof(big));
		evbuffer_add(b, big, sizeof(big));
	} else
		evbuffer_add_printf(b, "got %zu", seen.len);
	evhttp_send_reply(req, 201, "Created", b);
	evbuffer_free(b);
}

static void
setup(void)
{
	struct evhttp_bound_socket	*s;
	struct sockaddr_storage		 ss;
	socklen_t			 len = sizeof(ss);

	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, serve, NULL);
	s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(s);
	getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss,
	    &len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	served = 0;
	str_init(&seen);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
teardown(void)
{
	evhttp_free(http);
	event_base_free(base);
	str_free(&seen);
	curl_global_cleanup();
}

static void
on_status(struct xfer *x, long status, void *arg)
{
	struct outcome	*o = arg;

	o->statuses++;
	o->status = status;
	ck_assert_int_eq(o->body.len, 0);	/* before any body byte */
}

static void
on_header(struct xfer *x, const char *name, const char *value, void *arg)
{
	struct outcome	*o = arg;

	o->headers++;
	if (strcasecmp(name, "Content-Type") == 0)
		snprintf(o->type, sizeof(o->type), "%s", value);
}

static int
on_data(struct xfer *x, const char *p, size_t n, void *arg)
{
	struct outcome	*o = arg;

	str_append(&o->body, p, n);
	if (o->cancel_at_data) {
		xfer_cancel(x);
		event_base_loopexit(base, &(struct timeval){ 0, 200000 });
	}
	return 0;
}

static void
on_done(struct xfer *x, CURLcode rc, long status, void *arg)
{
	struct outcome	*o = arg;
	const char	*p;
	size_t		 n;

	o->done++;
	o->rc = rc;
	o->status = status;
	curl_easy_getinfo(xfer_easy(x), CURLINFO_NUM_CONNECTS, &o->connects);
	if ((p = xfer_body(x, &n)) != NULL && n > 0)
		str_append(&o->body, p, n);
	event_base_loopbreak(base);
}

static const struct xfer_cb	streamed = {
	.on_status = on_status, .on_header = on_header, .on_data = on_data,
	.on_done = on_done,
};
static const struct xfer_cb	collected = {
	.on_status = on_status, .on_header = on_header, .on_done = on_done,
};

/* Run one transfer on pool p to path to its end. */
static void
run(struct xfer_pool *p, const char *path, const char *body, size_t max,
    const struct xfer_cb *cb, struct outcome *o)
{
	char	u[128];

	snprintf(u, sizeof(u), "%s%s", url, path);
	o->self = xfer_start(p, &(struct xfer_req){ .url = u,
	    .headers = xfer_json_headers("application/json", "X-Test: 1"),
	    .body = body, .len = body ? strlen(body) : 0, .timeout_ms = 5000,
	    .max_body = max }, cb, o);
	ck_assert_ptr_nonnull(o->self);
	event_base_dispatch(base);
}

START_TEST(test_post_streams_status_headers_and_body)
{
	struct xfer_pool	*p = xfer_pool_new(base, 0, "t/1");
	struct outcome		 o = { 0 };

	run(p, "/echo", "{\"a\":1}", 0, &streamed, &o);
	ck_assert_int_eq(o.done, 1);
	ck_assert_int_eq(o.rc, CURLE_OK);
	ck_assert_int_eq(o.status, 201);
	ck_assert_int_eq(o.statuses, 1);
	ck_assert_int_ge(o.headers, 2);
	ck_assert_str_eq(o.type, "text/plain;  charset=utf-8");	/* trimmed */
	ck_assert_str_eq(str_cstr(&o.body), "got 7");
	ck_assert_str_eq(str_cstr(&seen), "{\"a\":1}");
	xfer_pool_free(p);
	str_free(&o.body);
}
END_TEST

START_TEST(test_collector_is_bounded)
{
	struct xfer_pool	*p = xfer_pool_new(base, 0, NULL);
	struct outcome		 o = { 0 }, o2 = { 0 };

	run(p, "/big", NULL, 65536, &collected, &o);
	ck_assert_int_eq(o.rc, CURLE_OK);
	ck_assert_uint_eq(o.body.len, 65536);
	run(p, "/big", NULL, 1000, &collected, &o2);
	ck_assert_int_eq(o2.rc, CURLE_FILESIZE_EXCEEDED);
	xfer_pool_free(p);
	str_free(&o.body);
	str_free(&o2.body);
}
END_TEST

START_TEST(test_public_only_pool_refuses_loopback)
{
	struct xfer_pool	*p = xfer_pool_new(base, XFER_PUBLIC_ONLY, NULL);
	struct outcome		 o = { 0 };

	run(p, "/echo", "{}", 0, &collected, &o);
	ck_assert_int_eq(o.done, 1);
	ck_assert_int_eq(o.rc, CURLE_ABORTED_BY_CALLBACK);
	ck_assert_int_eq(o.statuses, 0);
	ck_assert_int_eq(served, 0);
	xfer_pool_free(p);
}
END_TEST

START_TEST(test_pools_share_no_connection)
{
	struct xfer_pool	*a = xfer_pool_new(base, 0, NULL);
	struct xfer_pool	*b = xfer_pool_new(base, 0, NULL);
	struct outcome		 o1 = { 0 }, o2 = { 0 }, o3 = { 0 };

	run(a, "/echo", "{}", 0, &collected, &o1);
	ck_assert_int_eq(o1.connects, 1);
	run(a, "/echo", "{}", 0, &collected, &o2);
	ck_assert_int_eq(o2.connects, 0);	/* the same pool reuses it */
	run(b, "/echo", "{}", 0, &collected, &o3);
	ck_assert_int_eq(o3.rc, CURLE_OK);
	ck_assert_int_eq(o3.connects, 1);	/* another pool does not */
	xfer_pool_free(a);
	xfer_pool_free(b);
	str_free(&o1.body);
	str_free(&o2.body);
	str_free(&o3.body);
}
END_TEST

START_TEST(test_cancel_in_a_callback_ends_quietly)
{
	struct xfer_pool	*p = xfer_pool_new(base, 0, NULL);
	struct outcome		 o = { .cancel_at_data = 1 };

	run(p, "/big", NULL, 0, &streamed, &o);
	ck_assert_int_eq(o.done, 0);		/* no callback after cancel */
	ck_assert_uint_gt(o.body.len, 0);
	xfer_pool_free(p);
	str_free(&o.body);
}
END_TEST

START_TEST(test_private_addresses)
{
	static const struct {
		const char	*ip;
		int		 v6, private;
	} cases[] = {
		{ "127.0.0.1", 0, 1 }, { "10.1.2.3", 0, 1 },
		{ "172.16.0.1", 0, 1 }, { "172.32.0.1", 0, 0 },
		{ "192.168.1.1", 0, 1 }, { "169.254.169.254", 0, 1 },
		{ "100.64.0.1", 0, 1 }, { "0.0.0.0", 0, 1 },
		{ "8.8.8.8", 0, 0 }, { "::1", 1, 1 }, { "fe80::1", 1, 1 },
		{ "fd00::1", 1, 1 }, { "::ffff:10.0.0.1", 1, 1 },
		{ "2001:db8::1", 1, 0 }, { "::", 1, 1 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_in	s4 = { .sin_family = AF_INET };
		struct sockaddr_in6	s6 = { .sin6_family = AF_INET6 };
		struct sockaddr		*sa = cases[i].v6 ?
					    (struct sockaddr *)&s6 :
					    (struct sockaddr *)&s4;

		if (cases[i].v6)
			ck_assert_int_eq(inet_pton(AF_INET6, cases[i].ip,
			    &s6.sin6_addr), 1);
		else
			ck_assert_int_eq(inet_pton(AF_INET, cases[i].ip,
			    &s4.sin_addr), 1);
		ck_assert_msg(xfer_private_addr(sa) == cases[i].private,
		    "%s", cases[i].ip);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("xfer");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_post_streams_status_headers_and_body);
	tcase_add_test(tc, test_collector_is_bounded);
	tcase_add_test(tc, test_public_only_pool_refuses_loopback);
	tcase_add_test(tc, test_pools_share_no_connection);
	tcase_add_test(tc, test_cancel_in_a_callback_ends_quietly);
	tcase_add_test(tc, test_private_addresses);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
