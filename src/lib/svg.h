/* svg.h: bar charts drawn on the server as inline SVG, for the dashboards */
#ifndef IP_SVG_H
#define IP_SVG_H

#include <stddef.h>
#include <stdint.h>

struct str;

/* Write v as people read it ("$1.20", "12,400") into buf. */
typedef void (*svg_fmt)(int64_t v, char *buf, size_t len);

struct svg_chart {
	const char		*id;		/* unique on the page: [a-z0-9-] */
	const char		*title;		/* the chart's accessible name */
	size_t			 n;		/* bars, at least 1 */
	const char *const	*labels;	/* per bar, e.g. "2026-11-01" */
	const int64_t		*values;	/* per bar; negatives draw as 0 */
	svg_fmt			 fmt;
};

/*
 * Append an <svg> with one bar per value, scaled to a round top value,
 * the top and middle gridlines labelled, the first, middle and last bar
 * labelled below, each bar titled "label: value", and a description that
 * states the total and the highest bar. Text is HTML-escaped.
 */
void	 svg_bars(struct str *, const struct svg_chart *);

/* The smallest 1, 2 or 5 times a power of ten that is >= v (>= 1). */
int64_t	 svg_nice_top(int64_t v);

#endif
