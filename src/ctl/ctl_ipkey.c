/* ctl_ipkey.c: infrpoolctl ipkey new | list: the keys that hash IP addresses */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "ctl.h"
#include "iphash.h"

/* List keys, newest first; never the secrets. */
static int
list(struct ctl *ctl, struct arena *a)
{
	json_t	*keys = iphash_keys(ctl->db, a), *k;
	size_t	 i;

	if (keys == NULL) {
		fprintf(stderr, "infrpoolctl: database error\n");
		return 1;
	}
	json_array_foreach(keys, i, k)
		printf("%4d  created %s  %s%s\n",
		    (int)json_integer_value(json_object_get(k, "id")),
		    json_string_value(json_object_get(k, "created_at")),
		    json_is_null(json_object_get(k, "retired_at")) ?
		    (i == 0 ? "current" : "active") : "retired ",
		    json_is_null(json_object_get(k, "retired_at")) ? "" :
		    json_string_value(json_object_get(k, "retired_at")));
	if (json_array_size(keys) == 0)
		printf("no keys yet: the app makes the first when it needs one\n");
	json_decref(keys);
	return 0;
}

int
ctl_ipkey(struct ctl *ctl, int argc, char **argv)
{
	struct arena	*a;
	int		 id, rc = 2;

	if (argc != 2 || (strcmp(argv[1], "new") != 0 &&
	    strcmp(argv[1], "list") != 0)) {
		fprintf(stderr, "usage: infrpoolctl ipkey new | list\n");
		return 2;
	}
	a = arena_new();
	if (strcmp(argv[1], "list") == 0)
		rc = list(ctl, a);
	else if (iphash_new_key(ctl->db, a, &id) == -1) {
		fprintf(stderr, "infrpoolctl: database error\n");
		rc = 1;
	} else {
		printf("ip key %d is now current (app processes switch within "
		    "a minute)\n", id);
		rc = 0;
	}
	arena_free(a);
	return rc;
}
