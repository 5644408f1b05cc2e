/* ctl_receipts.c: infrpoolctl receipts rotate-key | keys: receipt signing keys */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "arena.h"
#include "cfg.h"
#include "crypto.h"
#include "ctl.h"
#include "receipt.h"

/* List keys, newest first; never key material. */
static int
list(struct ctl *ctl, struct arena *a)
{
	json_t	*keys = receipt_keys(ctl->db, a), *k;
	size_t	 i;

	if (keys == NULL) {
		fprintf(stderr, "infrpoolctl: database error\n");
		return 1;
	}
	json_array_foreach(keys, i, k)
		printf("%-6s created %s  %s%s\n",
		    json_string_value(json_object_get(k, "kid")),
		    json_string_value(json_object_get(k, "created_at")),
		    json_is_null(json_object_get(k, "retired_at")) ?
		    (i == 0 ? "signing" : "active") : "retired ",
		    json_is_null(json_object_get(k, "retired_at")) ? "" :
		    json_string_value(json_object_get(k, "retired_at")));
	if (json_array_size(keys) == 0)
		printf("no keys yet: the app makes the first when it needs one\n");
	json_decref(keys);
	return 0;
}

/* Make a new signing key sealed under [crypto] keys; retire the others. */
static int
rotate(struct ctl *ctl, struct arena *a)
{
	struct crypto_keyring	 kr;
	const char		*spec = cfg_str(ctl->cfg, "crypto", "keys", "");
	char			 err[256];
	int			 id, rc = 1;

	crypto_keyring_init(&kr);
	if (*spec == '\0')
		fprintf(stderr, "infrpoolctl: [crypto] keys is empty: receipts "
		    "are off, and a signing key could not be sealed\n");
	else if (crypto_keyring_parse(&kr, spec, err, sizeof(err)) == -1)
		fprintf(stderr, "infrpoolctl: %s: [crypto] keys: %s\n",
		    cfg_where(ctl->cfg, "crypto", "keys"), err);
	else if (receipt_rotate_key(ctl->db, a, &kr, &id) == -1)
		fprintf(stderr, "infrpoolctl: cannot make a receipt key\n");
	else {
		printf("receipt key r%d now signs; older keys stay published "
		    "for verifying\n", id);
		rc = 0;
	}
	crypto_keyring_clear(&kr);
	return rc;
}

int
ctl_receipts(struct ctl *ctl, int argc, char **argv)
{
	struct arena	*a;
	int		 rc;

	if (argc != 2 || (strcmp(argv[1], "rotate-key") != 0 &&
	    strcmp(argv[1], "keys") != 0)) {
		fprintf(stderr, "usage: infrpoolctl receipts rotate-key | keys\n");
		return 2;
	}
	a = arena_new();
	rc = strcmp(argv[1], "keys") == 0 ? list(ctl, a) : rotate(ctl, a);
	arena_free(a);
	return rc;
}
