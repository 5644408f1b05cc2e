/* str.h: growable NUL-terminated string buffer */
#ifndef IP_STR_H
#define IP_STR_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A heap-owned buffer: buf is always NUL-terminated once anything was
 * appended (str_cstr() is safe before that). Every append aborts on OOM.
 */
struct str {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

#define STR_INIT	{ NULL, 0, 0 }

/* Make s empty with no memory, like STR_INIT. */
void		 str_init(struct str *);

/* Release s's memory and leave it empty, ready for reuse. */
void		 str_free(struct str *);

/* Set the length to 0 and keep the memory for the next appends. */
void		 str_reset(struct str *);

/* Append n bytes of p (which may hold NULs) and keep buf NUL-terminated. */
void		 str_append(struct str *, const void *, size_t);

/* Append the NUL-terminated string p, without its NUL. */
void		 str_puts(struct str *, const char *);

/* Append the one byte c. */
void		 str_putc(struct str *, int);

/* Append the formatted text (printf formats); aborts on a format error. */
void		 str_printf(struct str *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 str_vprintf(struct str *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Cut s to its first n bytes; a longer n leaves s as it is. */
void		 str_truncate(struct str *, size_t);

/* The contents as a C string, borrowed from s; "" when nothing is held. */
const char	*str_cstr(const struct str *);

/*
 * Take the buffer out of s, leaving s empty: the caller owns the returned
 * NUL-terminated heap string (a new "" when s held none) and frees it.
 */
char		*str_steal(struct str *);

#endif
