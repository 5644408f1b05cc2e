/* test_svg.c: unit tests for the dashboards' SVG bar charts */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "str.h"
#include "svg.h"
#include "unit.h"

static void
plain(int64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)v);
}

/* How many times needle occurs in hay. */
static int
count(const char *hay, const char *needle)
{
	int	n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

START_TEST(test_nice_top)
{
	ck_assert_int_eq(svg_nice_top(0), 1);
	ck_assert_int_eq(svg_nice_top(1), 1);
	ck_assert_int_eq(svg_nice_top(3), 5);
	ck_assert_int_eq(svg_nice_top(10), 10);
	ck_assert_int_eq(svg_nice_top(11), 20);
	ck_assert_int_eq(svg_nice_top(20), 20);
	ck_assert_int_eq(svg_nice_top(21), 50);
	ck_assert_int_eq(svg_nice_top(51), 100);
	ck_assert_int_eq(svg_nice_top(1234567), 2000000);
	ck_assert(svg_nice_top(INT64_MAX) == INT64_MAX);
	ck_assert(svg_nice_top(INT64_MAX / 3) >= INT64_MAX / 3);
}
END_TEST

START_TEST(test_bars_scale_and_label)
{
	const char	*labels[] = { "mon", "tue", "wed", "thu" };
	int64_t		 values[] = { 0, 40, 100, -5 };
	struct svg_chart c = { "c1", "Tokens per day", 4, labels, values,
			    plain };
	struct str	 s = STR_INIT;
	const char	*o;

	svg_bars(&s, &c);
	o = str_cstr(&s);
	ck_assert(strncmp(o, "<svg ", 5) == 0);
	ck_assert(strcmp(o + strlen(o) - 6, "</svg>") == 0);
	ck_assert_int_eq(count(o, "<rect "), 4);
	ck_assert(strstr(o, "aria-labelledby=\"c1-t c1-d\"") != NULL);
	ck_assert(strstr(o, "<title id=\"c1-t\">Tokens per day</title>"));
	/* The total counts no negative; the peak names its day. */
	ck_assert(strstr(o, "<desc id=\"c1-d\">Total 140; highest 100 on "
	    "wed.</desc>") != NULL);
	/* 100 is its own round top: the highest bar fills the plot. */
	ck_assert(strstr(o, "height=\"148.0\"><title>wed: 100</title>"));
	ck_assert(strstr(o, "height=\"59.2\"><title>tue: 40</title>"));
	ck_assert(strstr(o, "height=\"0.0\"><title>thu: 0</title>"));
	ck_assert(strstr(o, ">50</text>") != NULL);	/* the middle line */
	str_free(&s);
}
END_TEST

START_TEST(test_bars_escape_and_small_values)
{
	const char	*labels[] = { "<a&b>" };
	int64_t		 values[] = { 1 };
	struct svg_chart c = { "c2", "\"quoted\" & <b>", 1, labels, values,
			    plain };
	int64_t		 big[] = { 1000000, 1 };
	const char	*two[] = { "x", "y" };
	struct svg_chart d = { "c3", "t", 2, two, big, plain };
	struct str	 s = STR_INIT;

	svg_bars(&s, &c);
	ck_assert(strstr(str_cstr(&s), "<a&") == NULL);
	ck_assert(strstr(str_cstr(&s), "&lt;a&amp;b&gt;: 1") != NULL);
	ck_assert(strstr(str_cstr(&s), "&quot;quoted&quot; &amp; &lt;b&gt;"));
	str_reset(&s);
	/* A day with one token next to a million still shows a bar. */
	svg_bars(&s, &d);
	ck_assert(strstr(str_cstr(&s), "height=\"1.0\"><title>y: 1</title>"));
	str_free(&s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("svg");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_nice_top);
	tcase_add_test(tc, test_bars_scale_and_label);
	tcase_add_test(tc, test_bars_escape_and_small_values);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
