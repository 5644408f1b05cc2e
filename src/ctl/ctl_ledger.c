/* ctl_ledger.c: infrpoolctl ledger check and infrpoolctl holds reap */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "db.h"
#include "hold.h"
#include "ledger.h"
#include "str.h"

/*
 * infrpoolctl ledger check: print the checker's report. Exit 0 when the
 * ledger is clean, 1 when it is not or the database fails, 2 on usage.
 */
int
ctl_ledger(struct ctl *ctl, int argc, char **argv)
{
	struct arena	*a;
	struct str	 report = STR_INIT;
	int		 rc;

	if (argc != 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: infrpoolctl ledger check\n");
		return 2;
	}
	a = arena_new();
	rc = ledger_check(ctl->db, a, &report);
	if (rc == -1)
		fprintf(stderr, "infrpoolctl: ledger check: %s\n",
		    db_error(ctl->db));
	else
		fputs(str_cstr(&report), stdout);
	str_free(&report);
	arena_free(a);
	return rc == 0 ? 0 : 1;
}

/*
 * infrpoolctl holds reap: void every expired hold still held and say how
 * many. Exit 0, 1 when the database fails, 2 on usage.
 */
int
ctl_holds(struct ctl *ctl, int argc, char **argv)
{
	struct arena	*a;
	int		 voided, rc;

	if (argc != 2 || strcmp(argv[1], "reap") != 0) {
		fprintf(stderr, "usage: infrpoolctl holds reap\n");
		return 2;
	}
	a = arena_new();
	rc = hold_reap(ctl->db, a, NULL, &voided);
	printf("voided %d expired holds\n", voided);
	if (rc != HOLD_OK)
		fprintf(stderr, "infrpoolctl: holds reap: %s\n",
		    db_error(ctl->db));
	arena_free(a);
	return rc == HOLD_OK ? 0 : 1;
}
