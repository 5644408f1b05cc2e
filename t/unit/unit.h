/* unit.h: run one Check suite and report it as TAP on standard output */
#ifndef IP_UNIT_H
#define IP_UNIT_H

#include <check.h>
#include <stdlib.h>

/*
 * Run every test case of s (each in a forked child, so a crash fails one
 * test), print TAP lines for automake's tap-driver and return the exit
 * status: 0 when all passed.
 */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
