/* svg.c: bar charts drawn on the server as inline SVG, for the dashboards */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "str.h"
#include "svg.h"
#include "tmpl.h"

/* The drawing's box, in its own units; CSS scales it to the page. */
#define W	600
#define H	180
#define LEFT	84	/* the axis labels' column */
#define TOP	8
#define BOTTOM	24	/* the bar labels' row */
#define PLOT_W	(W - LEFT - 4)
#define PLOT_H	(H - TOP - BOTTOM)

int64_t
svg_nice_top(int64_t v)
{
	int64_t	p = 1;

	if (v <= 1)
		return 1;
	while (p <= INT64_MAX / 10 && p * 10 < v)
		p *= 10;
	if (p >= v)
		return p;
	if (p <= INT64_MAX / 2 && 2 * p >= v)
		return 2 * p;
	if (p <= INT64_MAX / 5 && 5 * p >= v)
		return 5 * p;
	return p <= INT64_MAX / 10 ? 10 * p : INT64_MAX;
}

/* Append s HTML-escaped. */
static void
esc(struct str *out, const char *s)
{
	tmpl_escape_html(out, s, strlen(s));
}

/* One text element at x, y with an anchor and a class. */
static void
text(struct str *out, int x, int y, const char *anchor, const char *cls,
    const char *s)
{
	str_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" "
	    "class=\"%s\">", x, y, anchor, cls);
	esc(out, s);
	str_puts(out, "</text>");
}

void
svg_bars(struct str *out, const struct svg_chart *c)
{
	char		 buf[64], top_s[64], mid_s[64];
	int64_t		 top, max = 0, total = 0, v;
	size_t		 i, peak = 0;
	double		 slot = (double)PLOT_W / (double)c->n, h;

	for (i = 0; i < c->n; i++) {
		v = c->values[i] > 0 ? c->values[i] : 0;
		if (v > max) {
			max = v;
			peak = i;
		}
		total = total > INT64_MAX - v ? INT64_MAX : total + v;
	}
	top = svg_nice_top(max);
	c->fmt(top, top_s, sizeof(top_s));
	c->fmt(top / 2, mid_s, sizeof(mid_s));

	str_printf(out, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" "
	    "role=\"img\" aria-labelledby=\"%s-t %s-d\" "
	    "xmlns=\"http://www.w3.org/2000/svg\">", W, H, c->id, c->id);
	str_printf(out, "<title id=\"%s-t\">", c->id);
	esc(out, c->title);
	str_printf(out, "</title><desc id=\"%s-d\">", c->id);
	c->fmt(total, buf, sizeof(buf));
	str_puts(out, "Total ");
	esc(out, buf);
	if (max > 0) {
		c->fmt(max, buf, sizeof(buf));
		str_puts(out, "; highest ");
		esc(out, buf);
		str_puts(out, " on ");
		esc(out, c->labels[peak]);
	}
	str_puts(out, ".</desc>");

	/* Gridlines at the top, the middle and zero, labelled at the left. */
	str_printf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
	    "y2=\"%d\"/>", LEFT, TOP, W - 4, TOP);
	str_printf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
	    "y2=\"%d\"/>", LEFT, TOP + PLOT_H / 2, W - 4, TOP + PLOT_H / 2);
	str_printf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
	    "y2=\"%d\"/>", LEFT, TOP + PLOT_H, W - 4, TOP + PLOT_H);
	text(out, LEFT - 6, TOP + 10, "end", "tick", top_s);
	text(out, LEFT - 6, TOP + PLOT_H / 2 + 4, "end", "tick", mid_s);
	text(out, LEFT - 6, TOP + PLOT_H, "end", "tick", "0");

	for (i = 0; i < c->n; i++) {
		v = c->values[i] > 0 ? c->values[i] : 0;
		h = (double)v / (double)top * PLOT_H;
		if (v > 0 && h < 1)
			h = 1;		/* a day with traffic never vanishes */
		str_printf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
		    "width=\"%.1f\" height=\"%.1f\"><title>", LEFT + slot *
		    (double)i + slot * 0.15, TOP + PLOT_H - h, slot * 0.7, h);
		c->fmt(v, buf, sizeof(buf));
		esc(out, c->labels[i]);
		str_puts(out, ": ");
		esc(out, buf);
		str_puts(out, "</title></rect>");
	}
	text(out, LEFT, H - 6, "start", "tick", c->labels[0]);
	if (c->n > 2)
		text(out, LEFT + (int)(slot * (double)(c->n / 2) + slot / 2),
		    H - 6, "middle", "tick", c->labels[c->n / 2]);
	if (c->n > 1)
		text(out, W - 4, H - 6, "end", "tick", c->labels[c->n - 1]);
	str_puts(out, "</svg>");
}
