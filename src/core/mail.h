/* mail.h: the outbox: messages from templates/mail, sent over SMTP by a job */
#ifndef IP_MAIL_H
#define IP_MAIL_H

#include <stdint.h>

#include <jansson.h>

struct arena;
struct cfg;
struct db;
struct tmpl_set;

/* [mail] of the configuration. */
struct mail_cfg {
	const char	*smtp_url;	/* "": nothing is sent (the outbox waits) */
	const char	*from;		/* the sender's address */
	const char	*from_name;	/* its display name: [app] site_name */
	const char	*username, *password;
	int		 starttls;
	long		 timeout_ms;
};

/* Read [mail] from c; 0, or -1 after printing the bad setting to stderr. */
int	mail_config(struct cfg *c, struct mail_cfg *m);

/*
 * Queue the message template name of set (templates/mail/NAME.txt: a
 * "Subject: " line, a blank line, the body) rendered with vars, for the
 * address to (user_id, or 0 for none), to go at now ("YYYY-MM-DDTHH:MM:SSZ";
 * NULL: the database's clock). Never put a prompt, an answer or a secret in
 * vars. 0, or -1 (a render error or a bad address: logged, nothing queued).
 */
int	mail_queue(struct db *, struct arena *, const struct tmpl_set *set,
	    int64_t user_id, const char *to, const char *name, json_t *vars,
	    const char *now);

/*
 * The mail templates of c ([app] templates + "/mail"), loaded at the first
 * call and kept for the life of the process (never free them); NULL with
 * the reason in err when they cannot be loaded (the next call tries again).
 */
const struct tmpl_set	*mail_templates(struct cfg *c, char *err, size_t errlen);

/*
 * Queue the message template name for the user's address, as mail_queue
 * does, with the mail templates of c ([app] templates + "/mail", loaded
 * once per process) and these variables added to vars (which it takes):
 * site_name, and settings_url ([app] base_url + "/settings", absent
 * without a base_url). 0, or -1 (templates missing: logged).
 */
int	mail_notify(struct db *, struct arena *, struct cfg *c,
	    int64_t user_id, const char *to, const char *name, json_t *vars,
	    const char *now);

/* What mail_send_due did. */
struct mail_sent {
	int	sent;		/* accepted by the SMTP server */
	int	failed;		/* refused or unreachable: tried again later */
	int	waiting;	/* still in the outbox, not due yet */
};

/*
 * Send every message due at now, oldest first, each marked sent (or its
 * next attempt put off: 1, 2, 4 … minutes, at most an hour) in its own
 * statement right after the server answers; a message is never dropped.
 * Stops at the first server it cannot reach (the rest wait). 0 when
 * nothing failed, 1 when a message failed (why in err), -1 on a database
 * error.
 */
int	mail_send_due(struct db *, struct arena *, const struct mail_cfg *,
	    const char *now, struct mail_sent *, char *err, size_t errlen);

#endif
