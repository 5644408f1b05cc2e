/* smtp.h: one message to one recipient over SMTP, with libcurl */
#ifndef IP_SMTP_H
#define IP_SMTP_H

#include <stddef.h>

struct smtp_cfg {
	const char	*url;		/* smtp://host:port or smtps://host:port */
	const char	*username;	/* NULL or "": no AUTH */
	const char	*password;
	int		 starttls;	/* smtp:// must upgrade with STARTTLS */
	long		 timeout_ms;	/* the whole exchange */
};

/* Is url an smtp:// or smtps:// URL with a host? */
int	smtp_url_ok(const char *url);

/*
 * Send msg (len bytes: headers, a blank line, the body; CRLF line ends)
 * from the envelope sender from to rcpt. Returns 0 once the server has
 * accepted it, or -1 with err saying why in libcurl's words (the server's
 * reply at most; never a byte of the message or a credential).
 */
int	smtp_send(const struct smtp_cfg *, const char *from, const char *rcpt,
	    const char *msg, size_t len, char *err, size_t errlen);

#endif
