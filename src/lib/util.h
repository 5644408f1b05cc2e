/* util.h: small helpers shared by every program: time, addresses, files */
#ifndef IP_UTIL_H
#define IP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds and microseconds on the monotonic clock. */
int64_t	 util_now_ms(void);
int64_t	 util_now_us(void);

/*
 * Split "host:port" (host may be "[v6]" or empty) into host and port.
 * Returns 0, or -1 when the port is missing or not in 1..65535.
 */
int	 util_parse_hostport(const char *, char *host, size_t hostlen,
	    int *port);

/*
 * Turn Nagle's algorithm off on the TCP socket fd, so that small writes
 * (the chunks of a stream) leave at once instead of waiting for the peer's
 * delayed acknowledgement. Returns 0, or -1 with errno set.
 */
int	 util_tcp_nodelay(int fd);

/* Write the current pid to path (0), or -1 with errno set. */
int	 util_write_pidfile(const char *path);

/*
 * Read a whole file into a heap string (caller frees), refusing files
 * larger than max bytes. Returns NULL with errno set (EFBIG when too big).
 */
char	*util_read_file(const char *path, size_t max, size_t *lenp);

/*
 * Format a message into err (errlen bytes) when the caller gave room for
 * one: err may be NULL or errlen 0, and then nothing is written.
 */
void	 util_seterr(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Strip leading and trailing white space of s in place; returns the start. */
char	*util_trim(char *s);

/* Narrow the span p/n to leave out its leading and trailing white space. */
void	 util_trim_span(const char **p, size_t *n);

#endif
