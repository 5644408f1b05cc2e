/* util.c: small helpers shared by every program: time, addresses, files */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int64_t
util_now_ms(void)
{
	return util_now_us() / 1000;
}

int64_t
util_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
util_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char	*colon, *h = s;
	size_t		 n;
	char		*end;
	long		 p;

	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		h = s + 1;
		n -= 2;
	}
	if (n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
	    p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

int
util_tcp_nodelay(int fd)
{
	int	one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
util_write_pidfile(const char *path)
{
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -1;
}

char *
util_read_file(const char *path, size_t max, size_t *lenp)
{
	FILE		*f;
	struct stat	 st;
	char		*buf;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1) {
		fclose(f);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		fclose(f);
		errno = EFBIG;
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		abort();
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return buf;
}

void
util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *
util_trim(char *s)
{
	const char	*p = s;
	size_t		 n = strlen(s);

	util_trim_span(&p, &n);
	s[p - s + n] = '\0';
	return s + (p - s);
}

void
util_trim_span(const char **p, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)(*p)[*n - 1]))
		(*n)--;
}
