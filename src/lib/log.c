/* log.c: one line per event, with level, pid and request id; never a body */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	1024

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static struct {
	char		prog[32];
	enum log_level	min;
	int		fd;
	char		req[40];
	char		pattern[LOG_PATH_MAX];	/* a dated [log] file, or "" */
	long long	day;		/* the UTC day (since the epoch) of fd */
	time_t		retry;		/* after a failed reopen, not before this */
	void		(*clock)(struct timespec *);
} lg = { "infrpool", LV_INFO, STDERR_FILENO, "", "", -1, 0, NULL };

/* The time now, by the clock a test set or the real one. */
static void
now_is(struct timespec *ts)
{
	if (lg.clock != NULL)
		lg.clock(ts);
	else
		clock_gettime(CLOCK_REALTIME, ts);
}

/* The conversion at p ('%' and the next byte) is one we know? */
static int
known_conv(const char *p)
{
	return p[1] != '\0' && strchr("Ymdp%", p[1]) != NULL;
}

/* See log.h. */
int
log_pattern_ok(const char *path)
{
	const char	*base = strrchr(path, '/'), *p;
	int		 y = 0, m = 0, d = 0;

	base = base != NULL ? base + 1 : path;
	if (strchr(path, '%') == NULL)
		return 1;
	if (strlen(path) >= LOG_PATH_MAX || memchr(path, '%', (size_t)(base -
	    path)) != NULL)
		return 0;
	for (p = base; (p = strchr(p, '%')) != NULL; p += 2) {
		if (!known_conv(p))
			return 0;
		y += p[1] == 'Y';
		m += p[1] == 'm';
		d += p[1] == 'd';
	}
	return y == 1 && m == 1 && d == 1;
}

/* See log.h. */
int
log_path_for(const char *pattern, const char *prog, time_t t, char *out,
    size_t len)
{
	struct tm	 tm;
	char		 part[16];
	const char	*p, *add;
	size_t		 n = 0, k;

	gmtime_r(&t, &tm);
	for (p = pattern; *p != '\0'; p++) {
		add = part;
		if (*p != '%' || !known_conv(p)) {
			part[0] = *p;
			part[1] = '\0';
		} else if (*++p == 'p')
			add = prog;
		else if (*p == '%')
			add = "%";
		else
			strftime(part, sizeof(part), *p == 'Y' ? "%Y" : *p == 'm' ?
			    "%m" : "%d", &tm);
		if ((k = strlen(add)) >= len - n)
			return -1;
		memcpy(out + n, add, k);
		n += k;
	}
	out[n] = '\0';
	return 0;
}

/* The date fields a file name gave. */
struct ymd {
	int	y, m, d;
};

/* A byte a program's name (%p) may hold. */
static int
prog_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Does name match pattern (date fields into *v)? %p backtracks. */
static int
match_name(const char *pat, const char *s, struct ymd *v)
{
	char	num[5];
	size_t	n;

	for (; *pat != '\0'; pat++) {
		if (*pat != '%' || !known_conv(pat)) {
			if (*s++ != *pat)
				return 0;
			continue;
		}
		if (*++pat == '%') {
			if (*s++ != '%')
				return 0;
		} else if (*pat == 'p') {
			for (n = 1; prog_char(s[n - 1]); n++)
				if (match_name(pat + 1, s + n, v))
					return 1;
			return 0;
		} else {
			n = *pat == 'Y' ? 4 : 2;
			if (strspn(s, "0123456789") < n)
				return 0;
			memcpy(num, s, n);
			num[n] = '\0';
			*(*pat == 'Y' ? &v->y : *pat == 'm' ? &v->m : &v->d) =
			    atoi(num);
			s += n;
		}
	}
	return *s == '\0';
}

/* See log.h. */
int
log_name_day(const char *pattern, const char *name, time_t *day)
{
	struct ymd	 v = { 0, 0, 0 };
	struct tm	 tm;
	const char	*base = strrchr(pattern, '/');

	base = base != NULL ? base + 1 : pattern;
	if (!match_name(base, name, &v) || v.m < 1 || v.m > 12 || v.d < 1 ||
	    v.d > 31 || v.y < 1970)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v.y - 1900;
	tm.tm_mon = v.m - 1;
	tm.tm_mday = v.d;
	*day = timegm(&tm);
	gmtime_r(day, &tm);
	return tm.tm_mday == v.d;	/* not 02-30 */
}

/* Open path for appending in place of the current file; 0 or -1. */
static int
open_file(const char *path)
{
	int	fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (lg.fd != STDERR_FILENO)
		close(lg.fd);
	lg.fd = fd;
	return 0;
}

/* Open the dated file of the day t falls in; 0 or -1 (errno). */
static int
open_day(time_t t)
{
	char	path[LOG_PATH_MAX];

	if (log_path_for(lg.pattern, lg.prog, t, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (open_file(path) == -1) {
		lg.retry = t + 60;	/* keep the old file; try again later */
		return -1;
	}
	lg.day = (long long)t / 86400;
	return 0;
}

int
log_init(const char *prog, enum log_level min, const char *path)
{
	struct timespec	now;

	snprintf(lg.prog, sizeof(lg.prog), "%s", prog);
	lg.min = min;
	lg.pattern[0] = '\0';
	if (path == NULL || *path == '\0')
		return 0;
	if (!log_pattern_ok(path)) {
		dprintf(STDERR_FILENO, "%s: [log] file: a daily file takes %%Y, "
		    "%%m and %%d once each, in the file name only (got '%s')\n",
		    lg.prog, path);
		errno = EINVAL;
		return -1;
	}
	if (strchr(path, '%') == NULL)
		return open_file(path);
	snprintf(lg.pattern, sizeof(lg.pattern), "%s", path);
	now_is(&now);
	lg.retry = 0;
	return open_day(now.tv_sec);
}

void
log_set_clock(void (*clock)(struct timespec *))
{
	lg.clock = clock;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

void
log_set_request(const char *id)
{
	snprintf(lg.req, sizeof(lg.req), "%s", id != NULL ? id : "");
}

/* Replace control characters with '?' so the line stays one line. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char		 msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128], ts[32];
	struct timespec	 now;
	struct tm	 tm;
	va_list		 ap;
	int		 n, saved = errno;

	if (level < lg.min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sanitize(msg);
	now_is(&now);
	/* A dated file: the first line of a new UTC day opens that day's. */
	if (lg.pattern[0] != '\0' && (long long)now.tv_sec / 86400 != lg.day &&
	    now.tv_sec >= lg.retry)
		(void)open_day(now.tv_sec);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s[%ld] req=%s %s\n",
	    ts, now.tv_nsec / 1000000, level_names[level], lg.prog,
	    (long)getpid(), lg.req[0] != '\0' ? lg.req : "-", msg);
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line, so lines from many processes do not interleave. */
	if (write(lg.fd, line, (size_t)n) == -1) {
		/* Nowhere left to report it. */
	}
	errno = saved;
}
