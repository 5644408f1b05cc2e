/* str.c: growable NUL-terminated string buffer */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

void
str_init(struct str *s)
{
	s->buf = NULL;
	s->len = s->cap = 0;
}

void
str_free(struct str *s)
{
	free(s->buf);
	str_init(s);
}

void
str_reset(struct str *s)
{
	s->len = 0;
	if (s->buf != NULL)
		s->buf[0] = '\0';
}

/* Make room for n more bytes plus the NUL; aborts on overflow or OOM. */
static void
str_grow(struct str *s, size_t n)
{
	size_t	 cap;
	char	*p;

	if (n > SIZE_MAX - s->len - 1)
		abort();
	if (s->len + n + 1 <= s->cap)
		return;
	cap = s->cap ? s->cap : 64;
	while (cap < s->len + n + 1)
		cap = cap > SIZE_MAX / 2 ? s->len + n + 1 : cap * 2;
	if ((p = realloc(s->buf, cap)) == NULL)
		abort();
	s->buf = p;
	s->cap = cap;
}

void
str_append(struct str *s, const void *p, size_t n)
{
	str_grow(s, n);
	if (n > 0)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

void
str_puts(struct str *s, const char *p)
{
	str_append(s, p, strlen(p));
}

void
str_putc(struct str *s, int c)
{
	char	ch = (char)c;

	str_append(s, &ch, 1);
}

void
str_vprintf(struct str *s, const char *fmt, va_list ap)
{
	va_list	 cp;
	char	 probe[1];
	int	 n;

	va_copy(cp, ap);
	n = vsnprintf(probe, sizeof(probe), fmt, cp);
	va_end(cp);
	if (n < 0)
		abort();
	str_grow(s, (size_t)n);
	vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
	s->len += (size_t)n;
}

void
str_printf(struct str *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	str_vprintf(s, fmt, ap);
	va_end(ap);
}

void
str_truncate(struct str *s, size_t n)
{
	if (n < s->len) {
		s->len = n;
		s->buf[n] = '\0';
	}
}

const char *
str_cstr(const struct str *s)
{
	return s->buf != NULL ? s->buf : "";
}

char *
str_steal(struct str *s)
{
	char	*p = s->buf;

	if (p == NULL && (p = strdup("")) == NULL)
		abort();
	str_init(s);
	return p;
}
