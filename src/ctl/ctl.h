/* ctl.h: what every infrpoolctl command gets */
#ifndef IP_CTL_H
#define IP_CTL_H

struct cfg;
struct db;

struct ctl {
	struct cfg	*cfg;
	struct db	*db;
	const char	*sqldir;
};

/* Each command returns the process exit status: 0, 1 on failure, 2 on usage. */
int	ctl_migrate(struct ctl *, int argc, char **argv);
int	ctl_user(struct ctl *, int argc, char **argv);		/* ctl_user.c */
int	ctl_ledger(struct ctl *, int argc, char **argv);	/* ctl_ledger.c */
int	ctl_holds(struct ctl *, int argc, char **argv);		/* ctl_ledger.c */
int	ctl_ipkey(struct ctl *, int argc, char **argv);		/* ctl_ipkey.c */
int	ctl_tick(struct ctl *, int argc, char **argv);		/* ctl_jobs.c */
int	ctl_jobs(struct ctl *, int argc, char **argv);		/* ctl_jobs.c */
int	ctl_notify(struct ctl *, int argc, char **argv);	/* ctl_notify.c */
int	ctl_tokens(struct ctl *, int argc, char **argv);	/* ctl_tokens.c */
int	ctl_receipts(struct ctl *, int argc, char **argv);	/* ctl_receipts.c */

#endif
