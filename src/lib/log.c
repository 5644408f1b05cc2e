/* log.c: one line per event, with level, pid and request id; never a body */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
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
} lg = { "infrpool", LV_INFO, STDERR_FILENO, "" };

int
log_init(const char *prog, enum log_level min, const char *path)
{
	int	fd;

	snprintf(lg.prog, sizeof(lg.prog), "%s", prog);
	lg.min = min;
	if (path == NULL || *path == '\0')
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (lg.fd != STDERR_FILENO)
		close(lg.fd);
	lg.fd = fd;
	return 0;
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
	clock_gettime(CLOCK_REALTIME, &now);
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
