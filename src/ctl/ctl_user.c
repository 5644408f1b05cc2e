/* ctl_user.c: infrpoolctl user add (password on standard input), user suspend|unsuspend|ban */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "ctl.h"
#include "mail.h"
#include "money.h"
#include "passwd.h"
#include "standing.h"
#include "str.h"
#include "tmpl.h"
#include "user.h"

/* What user suspend|unsuspend|ban was asked to do. */
struct standing_args {
	const char	*verb;		/* "suspend", "unsuspend", "ban" */
	const char	*who;		/* an id or an email */
	const char	*reason;
	int		 forfeit;
};

/* Read one line from standard input into buf without its newline; 0 or -1. */
static int
read_password(char *buf, size_t len)
{
	size_t	n;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password: ");
	if (fgets(buf, (int)len, stdin) == NULL)
		return -1;
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == len - 1)
		return -1;	/* longer than the buffer */
	buf[n] = '\0';
	return 0;
}

/* The usage of infrpoolctl user; returns 2. */
static int
usage_user(void)
{
	fprintf(stderr, "usage: infrpoolctl user add [--admin] EMAIL "
	    "(the password on standard input)\n"
	    "       infrpoolctl user suspend|unsuspend|ban [--forfeit] "
	    "(ID|EMAIL) --reason TEXT\n");
	return 2;
}

/* Create an account, with the signup grant like any other. */
static int
user_add(struct ctl *ctl, const char *email_in, int admin)
{
	struct passwd_params	 pp;
	struct arena		*a;
	char			 email[USER_EMAIL_MAX + 1], pw[1026];
	char			 hash[PASSWD_ENCODED_MAX];
	long long		 min, grant;
	int64_t			 id;
	int			 rc;

	if (user_email_normalize(email_in, email, sizeof(email)) == -1) {
		fprintf(stderr, "infrpoolctl: '%s' is not an email address\n",
		    email_in);
		return 1;
	}
	if (passwd_configure(ctl->cfg, &pp) == -1 ||
	    cfg_int(ctl->cfg, "auth", "password_min", 10, 8, 1024, &min) == -1 ||
	    cfg_int(ctl->cfg, "credits", "signup_grant", 1000000, 0,
	    1000000000000LL, &grant) == -1) {
		fprintf(stderr, "infrpoolctl: %s\n", cfg_error(ctl->cfg));
		return 1;
	}
	if (read_password(pw, sizeof(pw)) == -1 || strlen(pw) < (size_t)min) {
		fprintf(stderr, "infrpoolctl: give a password of %lld to 1024 "
		    "characters on standard input\n", min);
		return 1;
	}
	if (passwd_hash(&pp, pw, hash, sizeof(hash)) == -1) {
		fprintf(stderr, "infrpoolctl: hashing the password failed\n");
		return 1;
	}
	a = arena_new();
	rc = user_create(ctl->db, a, email, hash, admin ? "admin" : "user", NULL,
	    grant, &id);
	arena_free(a);
	if (rc == 1)
		fprintf(stderr, "infrpoolctl: %s has an account already\n", email);
	else if (rc == -1)
		fprintf(stderr, "infrpoolctl: database error\n");
	else
		printf("created user %lld %s (%s)\n", (long long)id, email,
		    admin ? "admin" : "user");
	return rc == 0 ? 0 : 1;
}

/*
 * Read argv[2..] of user suspend|unsuspend|ban: one ID or EMAIL,
 * --reason TEXT, and (ban only) --forfeit, in any order. 0 or -1.
 */
static int
parse_standing(int argc, char **argv, struct standing_args *sa)
{
	int	i;

	memset(sa, 0, sizeof(*sa));
	sa->verb = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc &&
		    sa->reason == NULL)
			sa->reason = argv[++i];
		else if (strcmp(argv[i], "--forfeit") == 0 &&
		    strcmp(sa->verb, "ban") == 0 && !sa->forfeit)
			sa->forfeit = 1;
		else if (argv[i][0] != '-' && sa->who == NULL)
			sa->who = argv[i];
		else
			return -1;
	}
	return sa->who != NULL && sa->reason != NULL ? 0 : -1;
}

/* The account named by an id or an email: 0 with *id, 1 none, -1 error. */
static int
find_user(struct ctl *ctl, struct arena *a, const char *who, int64_t *id)
{
	char		 email[USER_EMAIL_MAX + 1];
	struct user	 u;
	int		 rc;

	if (strlen(who) <= 18 && strspn(who, "0123456789") == strlen(who))
		rc = user_by_id(ctl->db, a, strtoll(who, NULL, 10), &u);
	else if (user_email_normalize(who, email, sizeof(email)) == 0)
		rc = user_by_email(ctl->db, a, email, &u);
	else
		rc = 1;
	if (rc == 0)
		*id = u.id;
	return rc;
}

/* Carry out sa on account id with the mail templates; a standing_rc. */
static int
change_standing(struct ctl *ctl, struct arena *a,
    const struct standing_args *sa, int64_t id, int64_t *forfeited)
{
	struct standing_by	 by = { .admin_id = 0 };
	const struct tmpl_set	*set;
	char			 err[512];
	int			 rc;

	if ((set = mail_templates(ctl->cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpoolctl: mail templates: %s\n", err);
		return STANDING_MAIL;
	}
	by.mail = set;
	by.site_name = cfg_str(ctl->cfg, "app", "site_name", "infrpool");
	if (strcmp(sa->verb, "suspend") == 0)
		rc = user_suspend(ctl->db, a, &by, id, sa->reason);
	else if (strcmp(sa->verb, "unsuspend") == 0)
		rc = user_unsuspend(ctl->db, a, &by, id, sa->reason);
	else
		rc = user_ban(ctl->db, a, &by, id, sa->reason, sa->forfeit,
		    forfeited);
	return rc;
}

/*
 * infrpoolctl user suspend|unsuspend|ban [--forfeit] (ID|EMAIL) --reason
 * TEXT: change the account's standing, with the email, all or nothing.
 * Exit 0; 1 when the account or its standing refuses (nothing done); 2 on
 * usage or a bad reason.
 */
static int
user_standing(struct ctl *ctl, int argc, char **argv)
{
	struct standing_args	 sa;
	struct arena		*a;
	int64_t			 id = 0, forfeited = 0;
	char			 usd[32];
	int			 rc;

	if (parse_standing(argc, argv, &sa) == -1)
		return usage_user();
	if (!standing_reason_ok(sa.reason)) {
		fprintf(stderr, "infrpoolctl: user %s: %s\n", sa.verb,
		    standing_message(STANDING_BAD_REASON));
		return 2;
	}
	a = arena_new();
	if ((rc = find_user(ctl, a, sa.who, &id)) != 0) {
		fprintf(stderr, "infrpoolctl: user %s: %s\n", sa.verb, rc == 1 ?
		    arena_printf(a, "no account '%s'", sa.who) :
		    "database error");
		arena_free(a);
		return 1;
	}
	rc = change_standing(ctl, a, &sa, id, &forfeited);
	if (rc == STANDING_OK) {
		money_format(forfeited, usd, sizeof(usd));
		printf("user %lld: %s%s%s\n", (long long)id,
		    strcmp(sa.verb, "ban") == 0 ? "banned" :
		    strcmp(sa.verb, "suspend") == 0 ? "suspended" : "unsuspended",
		    sa.forfeit ? "; forfeited $" : "", sa.forfeit ? usd : "");
	} else
		fprintf(stderr, "infrpoolctl: user %s %lld: %s\n", sa.verb,
		    (long long)id, standing_message(rc));
	arena_free(a);
	return rc == STANDING_OK ? 0 : 1;
}

int
ctl_user(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "add") == 0)
		return user_add(ctl, argv[2], 0);
	if (argc == 4 && strcmp(argv[1], "add") == 0 &&
	    strcmp(argv[2], "--admin") == 0)
		return user_add(ctl, argv[3], 1);
	if (argc >= 2 && (strcmp(argv[1], "suspend") == 0 ||
	    strcmp(argv[1], "unsuspend") == 0 || strcmp(argv[1], "ban") == 0))
		return user_standing(ctl, argc, argv);
	return usage_user();
}
