/* ctl_migrate.c: infrpoolctl migrate [--status] */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "migrate.h"

/* Print applied and pending migrations; 1 when any applied file changed. */
static int
status(struct ctl *ctl)
{
	struct migration_list	 l;
	char			 err[512];
	size_t			 i, pending = 0;
	int			 changed = 0;

	if (migrate_status(ctl->db, ctl->sqldir, &l, err, sizeof(err)) == -1) {
		fprintf(stderr, "infrpoolctl: %s\n", err);
		return 1;
	}
	for (i = 0; i < l.n; i++) {
		const struct migration	*m = &l.v[i];

		if (!m->applied)
			pending++;
		changed |= m->changed;
		printf("%04d  %-8s %-20s %s%s%s\n", m->version,
		    m->applied ? "applied" : "pending",
		    m->applied ? m->applied_at : "-", m->name,
		    m->changed ? "  (file changed since applied)" : "",
		    m->applied && !m->on_disk ? "  (file missing)" : "");
	}
	printf("%zu applied, %zu pending\n", l.n - pending, pending);
	migration_list_free(&l);
	return changed ? 1 : 0;
}

int
ctl_migrate(struct ctl *ctl, int argc, char **argv)
{
	char	err[512];
	int	n;

	if (argc == 2 && strcmp(argv[1], "--status") == 0)
		return status(ctl);
	if (argc != 1) {
		fprintf(stderr, "usage: infrpoolctl migrate [--status]\n");
		return 2;
	}
	if ((n = migrate_apply(ctl->db, ctl->sqldir, stdout, err,
	    sizeof(err))) == -1) {
		fprintf(stderr, "infrpoolctl: migrate: %s\n", err);
		return 1;
	}
	printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
	return 0;
}
