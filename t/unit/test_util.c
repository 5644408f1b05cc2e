/* test_util.c: unit tests for the small shared helpers of util.c */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "str.h"
#include "unit.h"
#include "util.h"

/* Is Nagle's algorithm off on fd? */
static int
nodelay(int fd)
{
	int		v = -1;
	socklen_t	len = sizeof(v);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	return v != 0;
}

START_TEST(test_tcp_nodelay_sets_the_option)
{
	int	fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert(!nodelay(fd));	/* the kernel's default: Nagle on */
	ck_assert_int_eq(util_tcp_nodelay(fd), 0);
	ck_assert(nodelay(fd));
	close(fd);
}
END_TEST

START_TEST(test_tcp_nodelay_fails_on_a_non_socket)
{
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	errno = 0;
	ck_assert_int_eq(util_tcp_nodelay(p[0]), -1);
	ck_assert_int_eq(errno, ENOTSOCK);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_trim_strips_both_ends)
{
	char		 a[] = " \t key = v \r\n", b[] = "   ", c[] = "x";
	const char	*p = "  ab c\t";
	size_t		 n = strlen(p);

	ck_assert_str_eq(util_trim(a), "key = v");
	ck_assert_str_eq(util_trim(b), "");
	ck_assert_str_eq(util_trim(c), "x");
	util_trim_span(&p, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(strncmp(p, "ab c", n), 0);
}
END_TEST

START_TEST(test_seterr_writes_only_when_given_room)
{
	char	err[8] = "unset";

	util_seterr(NULL, 10, "%d", 1);		/* no crash */
	util_seterr(err, 0, "%d", 2);
	ck_assert_str_eq(err, "unset");
	util_seterr(err, sizeof(err), "line %d too long", 12);
	ck_assert_str_eq(err, "line 12");	/* cut to the room given */
}
END_TEST

START_TEST(test_http_status_texts_and_codes)
{
	ck_assert_str_eq(http_status_text(404), "Not Found");
	ck_assert_str_eq(http_status_text(429), "Too Many Requests");
	ck_assert_str_eq(http_status_text(299), "Error");
	ck_assert_str_eq(http_status_code(402), "insufficient_quota");
	ck_assert_str_eq(http_status_code(200), "internal_error");
	ck_assert_str_eq(http_status_code(299), "internal_error");
}
END_TEST

START_TEST(test_openai_error_shape)
{
	json_t		*e = http_openai_error("invalid_request_error",
			    "model_not_found", NULL, "No such model.");
	struct str	 s = STR_INIT;

	json_to_str(e, &s);
	ck_assert_str_eq(str_cstr(&s), "{\"error\":{\"message\":"
	    "\"No such model.\",\"type\":\"invalid_request_error\","
	    "\"param\":null,\"code\":\"model_not_found\"}}");
	json_decref(e);
	str_free(&s);
	e = http_openai_error("server_error", NULL, "model", "m");
	ck_assert(json_is_null(json_object_get(json_object_get(e, "error"),
	    "code")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e,
	    "error"), "param")), "model");
	json_decref(e);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_tcp_nodelay_sets_the_option);
	tcase_add_test(tc, test_tcp_nodelay_fails_on_a_non_socket);
	tcase_add_test(tc, test_trim_strips_both_ends);
	tcase_add_test(tc, test_seterr_writes_only_when_given_room);
	tcase_add_test(tc, test_http_status_texts_and_codes);
	tcase_add_test(tc, test_openai_error_shape);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
