/* view.c: what several pages show the same way: money, counts, charts, the site's URL */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "arena.h"
#include "cfg.h"
#include "money.h"
#include "stats.h"
#include "svg.h"

/*
 * Dollars from micro-USD: at least two decimals, no trailing zeros
 * beyond them ("0.10", "1.50", "0.000001"), into buf (32 bytes).
 */
static void
trimmed(int64_t micro, char *buf, size_t len)
{
	size_t	n;

	money_format(micro, buf, len);
	n = strlen(buf);
	while (n >= 4 && buf[n - 1] == '0' && buf[n - 3] != '.')
		n--;
	buf[n] = '\0';
}

const char *
view_dollars(struct arena *a, int64_t micro)
{
	char	buf[32];

	trimmed(micro, buf, sizeof(buf));
	return arena_strdup(a, buf);
}

json_t *
view_usd(struct arena *a, int64_t micro)
{
	return json_string(arena_printf(a, "$%s", view_dollars(a, micro)));
}

/* An svg_fmt: "$0.12". */
static void
fmt_usd(int64_t micro, char *buf, size_t len)
{
	char	d[32];

	trimmed(micro, d, sizeof(d));
	snprintf(buf, len, "$%s", d);
}

/* An svg_fmt: 1234567 as "1,234,567". */
static void
fmt_count(int64_t v, char *buf, size_t len)
{
	char	digits[24];
	size_t	n, i, o = 0;

	n = (size_t)snprintf(digits, sizeof(digits), "%lld", (long long)v);
	for (i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

json_t *
view_rate(int64_t success, int64_t failure)
{
	if (success < 0 || failure < 0 || success + failure == 0)
		return json_string("—");
	return json_sprintf("%lld%%", (long long)(success * 100 /
	    (success + failure)));
}

json_t *
view_count(int64_t v)
{
	char	buf[32];

	fmt_count(v, buf, sizeof(buf));
	return json_string(buf);
}

/* Which number of a day a chart draws. */
static int64_t
day_value(const struct stats_day *d, enum view_measure m)
{
	switch (m) {
	case VIEW_TOKENS:
		return d->tokens_in + d->tokens_out;
	case VIEW_REQUESTS:
		return d->requests;
	case VIEW_COST:
		return d->cost;
	case VIEW_EARNING:
		return d->earning;
	case VIEW_FEE:
		return d->cost - d->earning;
	}
	return 0;
}

json_t *
view_chart(const char *id, const char *title, const struct stats_day *days,
    enum view_measure m)
{
	const char	*labels[STATS_DAYS];
	int64_t		 values[STATS_DAYS];
	struct svg_chart c;
	struct str	 s = STR_INIT;
	json_t		*v;
	size_t		 i;

	for (i = 0; i < STATS_DAYS; i++) {
		labels[i] = days[i].day;
		values[i] = day_value(&days[i], m);
	}
	c.id = id;
	c.title = title;
	c.n = STATS_DAYS;
	c.labels = labels;
	c.values = values;
	c.fmt = m == VIEW_TOKENS || m == VIEW_REQUESTS ? fmt_count : fmt_usd;
	svg_bars(&s, &c);
	v = json_string(str_cstr(&s));
	str_free(&s);
	return v;
}

const char *
view_site_url(struct req *r)
{
	const char	*cfg = cfg_str(r->app->cfg, "app", "base_url", "");
	const char	*host = req_param(r, "HTTP_HOST");
	const char	*https = req_param(r, "HTTPS");
	size_t		 n = strlen(cfg);

	if (n > 0) {
		while (n > 1 && cfg[n - 1] == '/')
			n--;
		return arena_strndup(r->arena, cfg, n);
	}
	if (host == NULL || *host == '\0' || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]") != strlen(host))
		host = "your-site.example";
	return arena_printf(r->arena, "%s://%s", https != NULL &&
	    (strcasecmp(https, "on") == 0 || strcmp(https, "1") == 0) ?
	    "https" : "http", host);
}
