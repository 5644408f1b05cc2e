/* api_usage.c: /v1/me/usage and /v1/supplier/usage: request metadata, paged */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "gateway.h"
#include "json.h"
#include "node.h"

#define PAGE_DEFAULT	50
#define PAGE_MAX	200

/* The n digits at s as a number, or -1 when one is not a digit. */
static int
digits(const char *s, int n)
{
	int	v = 0;

	for (; n > 0; n--, s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* Days in month m (1..12) of year y. */
static int
month_days(int y, int m)
{
	static const int	days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
				    31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/*
 * 1 when s is an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS, optional
 * fraction, then Z or ±HH:MM (T and Z in either case), with real dates.
 */
static int
rfc3339_ok(const char *s)
{
	int	y, mo, d;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return 0;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
	    digits(s + 11, 2) < 0 || digits(s + 11, 2) > 23 ||
	    digits(s + 14, 2) < 0 || digits(s + 14, 2) > 59 ||
	    digits(s + 17, 2) < 0 || digits(s + 17, 2) > 59)
		return 0;
	s += 19;
	if (*s == '.') {
		if (!isdigit((unsigned char)s[1]))
			return 0;
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
		return 1;
	return (*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':' &&
	    digits(s + 1, 2) >= 0 && digits(s + 1, 2) <= 23 &&
	    digits(s + 4, 2) >= 0 && digits(s + 4, 2) <= 59;
}

/*
 * The query parameter key as an RFC 3339 timestamp with T and Z in upper
 * case (in the arena), NULL when absent; *ok is 0 when it is malformed.
 */
static const char *
query_time(struct req *r, const char *key, int *ok)
{
	const char	*v = req_query(r, key);
	char		*c, *z;

	*ok = v == NULL || rfc3339_ok(v);
	if (v == NULL || !*ok)
		return NULL;
	c = arena_strdup(r->arena, v);
	c[10] = 'T';
	if ((z = strchr(c, 'z')) != NULL)
		*z = 'Z';
	return c;
}

/*
 * Read limit, before, model, since and until into q; 0, or the status of
 * the 400 already written.
 */
static int
parse_query(struct req *r, struct gw_usage *q)
{
	long long	limit = req_query_int(r, "limit", PAGE_DEFAULT, PAGE_MAX);
	long long	before = req_query_int(r, "before", 0, INT64_MAX);
	int		since_ok, until_ok;

	if (limit < 0)
		return resp_bad(r, "limit", "'limit' must be an integer between 1"
		    " and 200");
	if (before < 0)
		return resp_bad(r, "before", "'before' must be a request id");
	q->limit = (int)limit;
	q->before = before;
	q->model = req_query(r, "model");
	q->since = query_time(r, "since", &since_ok);
	q->until = query_time(r, "until", &until_ok);
	if (q->model != NULL && !node_model_id_ok(q->model))
		return resp_bad(r, "model", "'model' must be a model id");
	if (!since_ok)
		return resp_bad(r, "since", "'since' must be an RFC 3339 timestamp,"
		    " like 2026-05-01T00:00:00Z");
	if (!until_ok)
		return resp_bad(r, "until", "'until' must be an RFC 3339 timestamp,"
		    " like 2026-05-01T00:00:00Z");
	return 0;
}

/* One page of the caller's requests (supplier: those its nodes served). */
static int
usage(struct req *r, int supplier)
{
	struct gw_usage	 q;
	int64_t		 next;
	json_t		*data;
	int		 status;

	memset(&q, 0, sizeof(q));
	q.supplier = supplier;
	q.user_id = r->auth.user_id;
	if ((status = parse_query(r, &q)) != 0)
		return status;
	if ((data = json_arena(r->arena, gateway_usage(r->app->db, r->arena,
	    &q, &next))) == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O,"
	    " s:b, s:o}", "object", "list", "data", data, "has_more",
	    next != 0, "next_before", next != 0 ? json_integer(next) :
	    json_null())));
}

/* GET /v1/me/usage: the caller's requests as a consumer, newest first. */
int
api_me_usage(struct req *r)
{
	return usage(r, 0);
}

/* GET /v1/supplier/usage: the requests the caller's nodes served. */
int
api_supplier_usage(struct req *r)
{
	return usage(r, 1);
}

/* Every request of the caller as a consumer or supplier; see app.h. */
json_t *
usage_export(struct req *r, int supplier)
{
	struct gw_usage	 q;
	json_t		*all = json_arena(r->arena, json_array()), *page;
	int64_t		 next;

	memset(&q, 0, sizeof(q));
	q.supplier = supplier;
	q.user_id = r->auth.user_id;
	q.limit = PAGE_MAX;
	do {
		if ((page = json_arena(r->arena, gateway_usage(r->app->db,
		    r->arena, &q, &next))) == NULL)
			return NULL;
		json_array_extend(all, page);
		q.before = next;
	} while (next != 0);
	return all;
}
