/* test_cfg.c: unit tests for the configuration loader */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "unit.h"

static char	path[64];

/* Write text to a fresh temporary file named in path. */
static void
write_conf(const char *text)
{
	int	 fd;
	FILE	*f;

	snprintf(path, sizeof(path), "/tmp/ip-cfg-XXXXXX");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fputs(text, f);
	fclose(f);
}

static struct cfg *
load(const char *text)
{
	char		 err[256] = "";
	struct cfg	*c;

	write_conf(text);
	c = cfg_load(path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(c != NULL, "load failed: %s", err);
	return c;
}

START_TEST(test_values_and_defaults)
{
	struct cfg	*c = load("# comment\n; also\n[app]\nworkers = 4\n"
	    "name = \"hello world\"\nsecure = off\n[db]\nconninfo=host=/x dbname=y\n");
	long long	 n;
	int		 b;

	ck_assert_int_eq(cfg_int(c, "app", "workers", 2, 1, 64, &n), 0);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(cfg_str(c, "app", "name", "x"), "hello world");
	ck_assert_str_eq(cfg_str(c, "db", "conninfo", ""), "host=/x dbname=y");
	ck_assert_str_eq(cfg_str(c, "db", "missing", "dflt"), "dflt");
	ck_assert_int_eq(cfg_bool(c, "app", "secure", 1, &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(cfg_int(c, "app", "absent", 7, 1, 64, &n), 0);
	ck_assert_int_eq(n, 7);
	ck_assert_ptr_null(cfg_error(c));
	cfg_free(c);
}
END_TEST

START_TEST(test_bad_value_names_file_line_key)
{
	struct cfg	*c = load("[app]\n\nworkers = many\n");
	long long	 n;
	char		 want[128];

	ck_assert_int_eq(cfg_int(c, "app", "workers", 2, 1, 64, &n), -1);
	ck_assert_int_eq(n, 2);
	snprintf(want, sizeof(want), "%s:3: [app] workers: expected an integer"
	    " (got 'many')", path);
	ck_assert_str_eq(cfg_error(c), want);
	cfg_free(c);
}
END_TEST

START_TEST(test_range_and_bool_errors)
{
	struct cfg	*c = load("[app]\nworkers = 100\nsecure = maybe\n");
	long long	 n;
	int		 b;

	ck_assert_int_eq(cfg_int(c, "app", "workers", 2, 1, 64, &n), -1);
	ck_assert_ptr_nonnull(strstr(cfg_error(c), "between 1 and 64"));
	ck_assert_int_eq(cfg_bool(c, "app", "secure", 1, &b), -1);
	ck_assert_int_eq(b, 1);
	cfg_free(c);
}
END_TEST

START_TEST(test_environment_overrides_file)
{
	struct cfg	*c = load("[app]\nworkers = 4\n");
	long long	 n;

	setenv("INFRPOOL_APP_WORKERS", "9", 1);
	ck_assert_int_eq(cfg_int(c, "app", "workers", 2, 1, 64, &n), 0);
	ck_assert_int_eq(n, 9);
	ck_assert_str_eq(cfg_where(c, "app", "workers"),
	    "environment INFRPOOL_APP_WORKERS");
	setenv("INFRPOOL_APP_WORKERS", "zero", 1);
	ck_assert_int_eq(cfg_int(c, "app", "workers", 2, 1, 64, &n), -1);
	ck_assert_ptr_nonnull(strstr(cfg_error(c),
	    "environment INFRPOOL_APP_WORKERS: [app] workers"));
	unsetenv("INFRPOOL_APP_WORKERS");
	cfg_free(c);
}
END_TEST

START_TEST(test_sizes_and_durations)
{
	struct cfg	*c = load("[app]\nbody = 64k\nbig = 2m\nidle = 15m\n"
	    "bad = 3x\n");
	size_t		 sz;
	long long	 sec;

	ck_assert_int_eq(cfg_size(c, "app", "body", 0, 0, 1 << 30, &sz), 0);
	ck_assert_uint_eq(sz, 65536);
	ck_assert_int_eq(cfg_size(c, "app", "big", 0, 0, 1 << 30, &sz), 0);
	ck_assert_uint_eq(sz, 2097152);
	ck_assert_int_eq(cfg_seconds(c, "app", "idle", 0, 0, 86400, &sec), 0);
	ck_assert_int_eq(sec, 900);
	ck_assert_int_eq(cfg_ms(c, "app", "idle", 0, 0, 86400, &sec), 0);
	ck_assert_int_eq(sec, 900000);
	ck_assert_int_eq(cfg_ms(c, "app", "absent", 30, 0, 86400, &sec), 0);
	ck_assert_int_eq(sec, 30000);
	ck_assert_int_eq(cfg_ms(c, "app", "bad", 7, 0, 86400, &sec), -1);
	ck_assert_int_eq(sec, 7000);
	ck_assert_int_eq(cfg_size(c, "app", "bad", 5, 0, 1 << 30, &sz), -1);
	ck_assert_uint_eq(sz, 5);
	cfg_free(c);
}
END_TEST

START_TEST(test_syntax_errors)
{
	static const char *const bad[] = {
		"[app\nx = 1\n", "x = 1\n", "[app]\njunk\n",
		"[app]\nx = 1\nx = 2\n", "[app]\nBad Key = 1\n",
	};
	static const int lines[] = { 1, 1, 2, 3, 2 };
	char		 err[256], want[128];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_conf(bad[i]);
		ck_assert_ptr_null(cfg_load(path, err, sizeof(err)));
		snprintf(want, sizeof(want), "%s:%d: ", path, lines[i]);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
		    "case %zu: %s", i, err);
		unlink(path);
	}
	ck_assert_ptr_null(cfg_load("/nonexistent/x.conf", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.conf"));
}
END_TEST

START_TEST(test_octal_modes)
{
	struct cfg	*c = load("[app]\nmode = 0660\nsix = 600\nbad = 0680\n"
	    "big = 1777\n");
	long long	 m;

	ck_assert_int_eq(cfg_octal(c, "app", "mode", 0, 0777, &m), 0);
	ck_assert_int_eq(m, 0660);
	ck_assert_int_eq(cfg_octal(c, "app", "six", 0, 0777, &m), 0);
	ck_assert_int_eq(m, 0600);
	ck_assert_int_eq(cfg_octal(c, "app", "bad", 0644, 0777, &m), -1);
	ck_assert_int_eq(m, 0644);
	ck_assert_ptr_nonnull(strstr(cfg_error(c), "octal"));
	ck_assert_int_eq(cfg_octal(c, "app", "big", 0, 0777, &m), -1);
	cfg_free(c);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("cfg");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_values_and_defaults);
	tcase_add_test(tc, test_bad_value_names_file_line_key);
	tcase_add_test(tc, test_range_and_bool_errors);
	tcase_add_test(tc, test_environment_overrides_file);
	tcase_add_test(tc, test_sizes_and_durations);
	tcase_add_test(tc, test_syntax_errors);
	tcase_add_test(tc, test_octal_modes);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
