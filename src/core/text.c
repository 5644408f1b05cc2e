/* text.c: the one check for text a user names things with */
#include "config.h"

#include <string.h>

#include "text.h"

/*
 * The length of the UTF-8 sequence at s (n bytes left) and its code
 * point in *cp; 0 when it is not well-formed.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t		len, i;
	unsigned long	min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, min = 0x80, *cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, min = 0x800, *cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, min = 0x10000, *cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

int
text_utf8_ok(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned long		 cp;
	size_t			 k;

	while (n > 0) {
		if ((k = utf8_seq(p, n, &cp)) == 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

int
text_ok(const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), k, chars = 0;
	unsigned long		 cp;

	while (n > 0) {
		if ((k = utf8_seq(p, n, &cp)) == 0 || cp < 0x20 ||
		    (cp >= 0x7f && cp <= 0x9f))
			return 0;
		p += k;
		n -= k;
		chars++;
	}
	return chars >= 1 && chars <= max;
}
