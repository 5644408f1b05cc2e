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

/* The clock of the daily-file test. */
static time_t	fake_now;

static void
fake_clock(struct timespec *ts)
{
	ts->tv_sec = fake_now;
	ts->tv_nsec = 0;
}

START_TEST(test_daily_file_switches_at_utc_midnight)
{
	char	dir[] = "/tmp/ip-logd-XXXXXX", pat[128], a[160], b[160];
	char	buf[4096];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(pat, sizeof(pat), "%s/x-%%p-%%Y-%%m-%%d.log", dir);
	snprintf(a, sizeof(a), "%s/x-tester-2027-03-01.log", dir);
	snprintf(b, sizeof(b), "%s/x-tester-2027-03-02.log", dir);
	fake_now = 1803945599;		/* 2027-03-01T23:59:59Z */
	log_set_clock(fake_clock);
	ck_assert_int_eq(log_init("tester", LV_INFO, pat), 0);
	log_info("before midnight");
	fake_now += 2;
	log_info("after midnight");
	log_set_clock(NULL);
	slurp(a, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "2027-03-01T23:59:59.000Z info "));
	ck_assert_ptr_nonnull(strstr(buf, "before midnight"));
	ck_assert_ptr_null(strstr(buf, "after midnight"));
	slurp(b, buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "after midnight"));
	ck_assert_ptr_null(strstr(buf, "before midnight"));
	ck_assert_int_eq(log_init("tester", LV_INFO, NULL), 0);
	unlink(a);
	unlink(b);
	rmdir(dir);
}
END_TEST

START_TEST(test_daily_patterns)
{
	time_t	day;
	char	out[64];

	ck_assert_int_eq(log_pattern_ok("/var/log/infrpool.log"), 1);
	ck_assert_int_eq(log_pattern_ok("/var/log/%p-%Y-%m-%d.log"), 1);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y%m%d-100%%.log"), 1);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y/%m-%d.log"), 0);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y-%m.log"), 0);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y-%m-%d-%H.log"), 0);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y-%m-%d-%d.log"), 0);
	ck_assert_int_eq(log_pattern_ok("/var/log/%Y-%m-%d%"), 0);
	ck_assert_int_eq(log_init("tester", LV_INFO, "/tmp/%Y/%m-%d.log"), -1);
	ck_assert_int_eq(log_path_for("/l/%p.%Y-%m-%d.log", "infrpool-app",
	    1803945599, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/l/infrpool-app.2027-03-01.log");
	ck_assert_int_eq(log_path_for("/l/%p.%Y-%m-%d.log", "infrpool-app",
	    1803945599, out, 12), -1);
	ck_assert_int_eq(log_name_day("/l/%p-%Y-%m-%d.log",
	    "infrpool-app-2027-03-01.log", &day), 1);
	ck_assert_int_eq(day, 1803859200);	/* 2027-03-01T00:00:00Z */
	ck_assert_int_eq(log_name_day("/l/%p-%Y-%m-%d.log",
	    "infrpoolctl-2027-03-01.log", &day), 1);
	ck_assert_int_eq(log_name_day("/l/%p-%Y-%m-%d.log",
	    "infrpool-app-2027-02-30.log", &day), 0);
	ck_assert_int_eq(log_name_day("/l/%p-%Y-%m-%d.log",
	    "infrpool-app-2027-03-01.log.gz", &day), 0);
	ck_assert_int_eq(log_name_day("/l/%p-%Y-%m-%d.log",
	    "Notes-2027-03-01.log", &day), 0);
	ck_assert_int_eq(log_name_day("/l/app-%Y%m%d.log", "app-20270301.log",
	    &day), 1);
	ck_assert_int_eq(log_name_day("/l/app-%Y%m%d.log", "app-2027031.log",
	    &day), 0);
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
	tcase_add_test(tc, test_daily_file_switches_at_utc_midnight);
	tcase_add_test(tc, test_daily_patterns);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
