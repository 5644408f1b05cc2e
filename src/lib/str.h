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

void		 str_init(struct str *);
void		 str_free(struct str *);
void		 str_reset(struct str *);		/* len = 0, keeps memory */
void		 str_append(struct str *, const void *, size_t);
void		 str_puts(struct str *, const char *);
void		 str_putc(struct str *, int);
void		 str_printf(struct str *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 str_vprintf(struct str *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
void		 str_truncate(struct str *, size_t);
const char	*str_cstr(const struct str *);		/* "" when empty */
char		*str_steal(struct str *);		/* caller frees */

#endif
