/* text.h: the one check for text a user names things with */
#ifndef IP_TEXT_H
#define IP_TEXT_H

#include <stddef.h>

/*
 * 1 when the n bytes at s are well-formed UTF-8: no stray continuation
 * byte, no overlong form, no surrogate, nothing above U+10FFFF.
 */
int	 text_utf8_ok(const char *s, size_t n);

/*
 * 1 when s (NUL-terminated) is 1 to max characters of well-formed UTF-8
 * without control characters: none of C0 (U+0000..U+001F, tab and line
 * breaks included), DEL (U+007F) or C1 (U+0080..U+009F). Every name a
 * user gives (API keys, nodes, models' upstream names, reasons) passes
 * here before it is stored.
 */
int	 text_ok(const char *s, size_t max);

#endif
