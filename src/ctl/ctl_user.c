/* ctl_user.c: infrpoolctl user add [--admin] EMAIL (password on standard input) */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "ctl.h"
#include "passwd.h"
#include "user.h"

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

int
ctl_user(struct ctl *ctl, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "add") == 0)
		return user_add(ctl, argv[2], 0);
	if (argc == 4 && strcmp(argv[1], "add") == 0 &&
	    strcmp(argv[2], "--admin") == 0)
		return user_add(ctl, argv[3], 1);
	fprintf(stderr, "usage: infrpoolctl user add [--admin] EMAIL "
	    "(the password on standard input)\n");
	return 2;
}
