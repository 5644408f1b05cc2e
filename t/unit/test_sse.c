/* test_sse.c: unit tests for the server-sent events parser */
#include "config.h"

#include <string.h>

#include "sse.h"
#include "str.h"
#include "unit.h"

struct seen {
	struct str	all;	/* "event|data;" for every event */
	int		n;
	int		stop_at;
};

static int
collect(const char *data, size_t len, const char *event, void *arg)
{
	struct seen	*s = arg;

	ck_assert_uint_eq(strlen(data), len);
	str_printf(&s->all, "%s|%s;", event, data);
	s->n++;
	return s->n == s->stop_at ? -1 : 0;
}

/* Feed text in pieces of step bytes and return what was seen. */
static char *
parse(const char *text, size_t step, int *rc)
{
	struct sse	p;
	struct seen	s = { STR_INIT, 0, 0 };
	size_t		i, n = strlen(text);

	sse_init(&p, 1024, collect, &s);
	*rc = 0;
	for (i = 0; i < n && *rc == 0; i += step)
		*rc = sse_feed(&p, text + i, i + step > n ? n - i : step);
	sse_free(&p);
	return str_steal(&s.all);
}

START_TEST(test_events_any_split)
{
	static const char text[] =
	    ": keep-alive\n\n"
	    "data: {\"a\":1}\n\n"
	    "event: error\ndata: x\ndata: y\n\n"
	    "data:nospace\r\n\r\n"
	    "id: 7\nretry: 10\ndata: [DONE]\n\n";
	static const char want[] =
	    "|{\"a\":1};error|x\ny;|nospace;|[DONE];";
	size_t	step;
	char	*got;
	int	rc;

	for (step = 1; step <= sizeof(text); step++) {
		got = parse(text, step, &rc);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(strcmp(got, want) == 0, "step %zu: %s", step, got);
		free(got);
	}
}
END_TEST

START_TEST(test_incomplete_event_waits)
{
	char	*got;
	int	 rc;

	got = parse("data: partial\n", 3, &rc);
	ck_assert_str_eq(got, "");
	free(got);
	got = parse("data: a\r\rdata: b\r\r", 2, &rc);
	ck_assert_str_eq(got, "|a;|b;");
	free(got);
}
END_TEST

START_TEST(test_limits_and_stop)
{
	struct sse	 p;
	struct seen	 s = { STR_INIT, 0, 0 };
	char		 big[2048];
	char		*got;
	int		 rc;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sse_init(&p, 1024, collect, &s);
	ck_assert_int_eq(sse_feed(&p, "data: ", 6), 0);
	ck_assert_int_eq(sse_feed(&p, big, strlen(big)), -1);
	sse_free(&p);
	str_free(&s.all);
	got = parse("data: 1\n\ndata: 2\n\ndata: 3\n\n", 100, &rc);
	ck_assert_int_eq(rc, 0);
	free(got);
	s.n = 0;
	s.stop_at = 2;
	str_init(&s.all);
	sse_init(&p, 1024, collect, &s);
	ck_assert_int_eq(sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27), -1);
	ck_assert_int_eq(s.n, 2);
	sse_free(&p);
	str_free(&s.all);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sse");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_events_any_split);
	tcase_add_test(tc, test_incomplete_event_waits);
	tcase_add_test(tc, test_limits_and_stop);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
