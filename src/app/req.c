/* req.c: parse a FastCGI request: method, path, query, cookies, headers, body */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "text.h"

#define REQ_MAX_PAIRS	64	/* query parameters or cookies kept */

const char *
req_param(struct req *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgi->envp);
}

/* The value of hex digit c, or -1. */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Percent-decode n bytes of s into the arena ('+' is a space when plus).
 * Returns NULL for a bad escape or an encoded NUL.
 */
char *
url_decode(struct arena *a, const char *s, size_t n, int plus)
{
	char	*out = arena_alloc(a, n + 1), *p = out;
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n)
				return NULL;
			if ((hi = hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				return NULL;
			*p++ = (char)(hi << 4 | lo);
			i += 2;
		} else
			*p++ = plus && s[i] == '+' ? ' ' : s[i];
	}
	*p = '\0';
	return out;
}

/*
 * Split "k=v<sep>k=v" into pairs; decode when asked, and then every key
 * and value must be UTF-8 text. Returns -1 on a bad escape or bad UTF-8.
 */
static int
split_pairs(struct req *r, const char *s, int sep, int decode, struct kv **out,
    size_t *np)
{
	struct kv	*v = arena_calloc(r->arena, REQ_MAX_PAIRS, sizeof(*v));
	const char	*end, *eq;
	size_t		 n = 0, len;

	while (*s != '\0' && n < REQ_MAX_PAIRS) {
		while (*s == ' ')
			s++;
		end = strchr(s, sep);
		len = end ? (size_t)(end - s) : strlen(s);
		if (len > 0) {
			eq = memchr(s, '=', len);
			if (eq == NULL)
				eq = s + len;
			if (decode) {
				v[n].key = url_decode(r->arena, s,
				    (size_t)(eq - s), 1);
				v[n].value = url_decode(r->arena, eq + (eq < s + len),
				    (size_t)(s + len - eq) - (eq < s + len), 1);
				if (v[n].key == NULL || v[n].value == NULL ||
				    !text_utf8_ok(v[n].key, strlen(v[n].key)) ||
				    !text_utf8_ok(v[n].value,
				    strlen(v[n].value)))
					return -1;
			} else {
				v[n].key = arena_strndup(r->arena, s,
				    (size_t)(eq - s));
				v[n].value = arena_strndup(r->arena,
				    eq + (eq < s + len),
				    (size_t)(s + len - eq) - (eq < s + len));
			}
			n++;
		}
		if (end == NULL)
			break;
		s = end + 1;
	}
	*out = v;
	*np = n;
	return 0;
}

/*
 * Fill method, path, query and cookies. Returns 0, or an HTTP status
 * (400) for a request line that cannot be understood.
 */
int
req_parse(struct req *r)
{
	const char	*uri, *q, *cookie;

	r->method = req_param(r, "REQUEST_METHOD");
	if (r->method == NULL)
		r->method = "GET";
	if ((uri = req_param(r, "REQUEST_URI")) == NULL)
		uri = "/";
	q = strchr(uri, '?');
	r->raw_path = arena_strndup(r->arena, uri, q ? (size_t)(q - uri) :
	    strlen(uri));
	r->path = url_decode(r->arena, uri, q ? (size_t)(q - uri) : strlen(uri), 0);
	r->query_string = q ? q + 1 : "";
	r->api = r->path != NULL && strncmp(r->path, "/v1/", 4) == 0;
	if (r->path == NULL || r->path[0] != '/') {
		r->path = "/";
		return 400;
	}
	if (split_pairs(r, r->query_string, '&', 1, &r->query, &r->nquery) == -1)
		return 400;
	if ((cookie = req_param(r, "HTTP_COOKIE")) != NULL)
		(void)split_pairs(r, cookie, ';', 0, &r->cookies, &r->ncookies);
	return 0;
}

/* Find key in n pairs; NULL when absent. */
static const char *
find_pair(const struct kv *v, size_t n, const char *key)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	return NULL;
}

const char *
req_query(struct req *r, const char *key)
{
	return find_pair(r->query, r->nquery, key);
}

const char *
req_cookie(struct req *r, const char *name)
{
	return find_pair(r->cookies, r->ncookies, name);
}

/* A request header by its HTTP name ("Content-Type", "X-Request-Id"). */
const char *
req_header(struct req *r, const char *name)
{
	char	*cgi, *p;

	if (strcasecmp(name, "Content-Type") == 0)
		return req_param(r, "CONTENT_TYPE");
	if (strcasecmp(name, "Content-Length") == 0)
		return req_param(r, "CONTENT_LENGTH");
	cgi = arena_printf(r->arena, "HTTP_%s", name);
	for (p = cgi; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	return req_param(r, cgi);
}

/*
 * Read the body, at most max bytes, into r->body (NUL-terminated).
 * Returns 0, 413 when it is larger, or 400 when it is shorter than its
 * Content-Length says.
 */
int
req_read_body(struct req *r, size_t max)
{
	const char	*cl = req_param(r, "CONTENT_LENGTH");
	char		*end, *buf;
	unsigned long long n;
	size_t		 want, got = 0, cap;
	int		 k, known = cl != NULL && *cl != '\0';

	if (known) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (!isdigit((unsigned char)*cl) || *end != '\0' || errno != 0)
			return 400;
		if (n > max)
			return 413;
		want = cap = (size_t)n;
	} else {
		want = max + 1;		/* unknown: read to the end */
		cap = 8192;
	}
	buf = arena_alloc(r->arena, cap + 1);
	while (got < want) {
		if (got == cap) {	/* unknown length: grow */
			cap = cap * 2 > want ? want : cap * 2;
			end = arena_alloc(r->arena, cap + 1);
			memcpy(end, buf, got);
			buf = end;
		}
		k = FCGX_GetStr(buf + got, (int)(cap - got > 65536 ? 65536 :
		    cap - got), r->fcgi->in);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (got > max)
		return 413;
	if (known && got < want)
		return 400;
	buf[got] = '\0';
	r->body = buf;
	r->body_len = got;
	return 0;
}

/* Parse an application/x-www-form-urlencoded body into r->form; 0 or 400. */
int
req_parse_form(struct req *r)
{
	const char	*ct = req_param(r, "CONTENT_TYPE");

	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    33) != 0 || r->body == NULL)
		return 0;
	return split_pairs(r, r->body, '&', 1, &r->form, &r->nform) == -1 ?
	    400 : 0;
}

const char *
req_form(struct req *r, const char *key)
{
	return find_pair(r->form, r->nform, key);
}

/* The caller's address as the web server saw it ("" when unknown). */
const char *
req_client_ip(struct req *r)
{
	const char	*ip = req_param(r, "REMOTE_ADDR");

	return ip != NULL ? ip : "";
}

/* The body as a JSON object the arena owns, or NULL with err; see app.h. */
json_t *
req_json(struct req *r, char *err, size_t errlen)
{
	return json_arena(r->arena, json_parse_limited(r->body ? r->body : "",
	    r->body_len, err, errlen));
}

/* A positive integer query parameter; def when absent, -1 when malformed. */
long long
req_query_int(struct req *r, const char *key, long long def, long long max)
{
	const char	*v = req_query(r, key);
	char		*end;
	long long	 n;

	if (v == NULL)
		return def;
	n = strtoll(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || n < 1 || n > max)
		return -1;
	return n;
}
