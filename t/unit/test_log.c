/* test_log.c: unit tests for logging */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

/* Read the whole log file into buf. */
static void
slurp(const char *path, char *buf, size_t len)
{
	FILE	*f = fopen(path, "r");
	size_t	 n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

START_TEST(test_one_line_with_level_pid_request)
{
	char	path[] = "/tmp/ip-log-XXXXXX", buf[4096], want[64];
	int	fd = mkstemp(path);

	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_int_eq(log_init("tester", LV_INFO, path), 0);
	log_set_request("r123");
	log_info("node=%d status=%s", 7, "ok");
	log_debug("not written");
	log_set_request(NULL);
	log_warn("two\nlines\r");
	slurp(path, buf, sizeof(buf));
	unlink(path);
	snprintf(want, sizeof(want), " info tester[%ld] req=r123 node=7 status=ok\n",
	    (long)getpid());
	ck_assert_ptr_nonnull(strstr(buf, want));
	ck_assert_ptr_null(strstr(buf, "not written"));
	ck_assert_ptr_nonnull(strstr(buf, "req=- two?lines?\n"));
	/* Exactly two lines. */
	ck_assert_ptr_null(strchr(strchr(strchr(buf, '\n') + 1, '\n') + 1, '\n'));
}
END_TEST

START_TEST(test_long_message_is_cut_to_one_line)
{
	char	 path[] = "/tmp/ip-log-XXXXXX", *big, buf[8192];
	int	 fd = mkstemp(path);

	ck_assert_int_ne(fd, -1);
	close(fd);
	big = malloc(5000);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	ck_assert_int_eq(log_init("tester", LV_DEBUG, path), 0);
	log_error("%s", big);
	free(big);
	slurp(path, buf, sizeof(buf));
	unlink(path);
	ck_assert_uint_lt(strlen(buf), 1200);
	ck_assert_int_eq(buf[strlen(buf) - 1], '\n');
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

START_TEST(test_level_parse)
{
	enum log_level	l;

	ck_assert_int_eq(log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, LV_WARN);
	ck_assert_int_eq(log_level_parse("loud", &l), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_one_line_with_level_pid_request);
	tcase_add_test(tc, test_long_message_is_cut_to_one_line);
	tcase_add_test(tc, test_level_parse);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
