/* test_util.c: unit tests for the small shared helpers of util.c */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

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

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_tcp_nodelay_sets_the_option);
	tcase_add_test(tc, test_tcp_nodelay_fails_on_a_non_socket);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
