/* reply.c: what every relay answer shares: headers, JSON bodies, errors */
#include "config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "http.h"
#include "json.h"
#include "relay.h"
#include "str.h"
#include "util.h"

void
reply_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Cache-Control", "no-store");
}

void
reply_text(struct evhttp_request *req, int status, const char *reason,
    const char *p, size_t n)
{
	struct evbuffer	*b = evbuffer_new();

	if (b == NULL)
		abort();
	evbuffer_add(b, p, n);
	evhttp_send_reply(req, status, reason, b);
	evbuffer_free(b);
}

void
reply_json(struct evhttp_request *req, int status, const char *reason,
    json_t *v)
{
	struct str	s = STR_INIT;

	json_to_str(v, &s);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	reply_text(req, status, reason, s.buf, s.len);
	str_free(&s);
}

void
reply_error(struct evhttp_request *req, int status, const char *type,
    const char *code, const char *param, const char *message)
{
	json_t		*e = http_openai_error(type, code, param, message);
	struct str	 s = STR_INIT;

	json_to_str(e, &s);
	str_putc(&s, '\n');
	json_decref(e);
	reply_headers(req, "application/json");
	reply_text(req, status, http_status_text(status), s.buf, s.len);
	str_free(&s);
}

void
reply_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection	*c = evhttp_request_get_connection(req);
	struct bufferevent		*bev;

	if (c != NULL && (bev = evhttp_connection_get_bufferevent(c)) != NULL)
		(void)util_tcp_nodelay(bufferevent_getfd(bev));
}
