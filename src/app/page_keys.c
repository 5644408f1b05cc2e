/* page_keys.c: the API keys page: list, create (the secret shown once), revoke */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "json.h"
#include "log.h"
#include "text.h"

/*
 * The list, with the new key's secret when one was just made and an
 * error beside the form's field when there is one (field NULL: none).
 */
static int
keys_page(struct req *r, int status, const char *new_key, const char *field,
    const char *error)
{
	json_t	*keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
		    r->auth.user_id));

	if (keys == NULL)
		return 500;
	return resp_page(r, status, "keys", json_arena(r->arena, json_pack(
	    "{s:s, s:b, s:O, s:o, s:o}", "title", "API keys", "has_keys",
	    json_array_size(keys) > 0, "keys", keys, "new_key", new_key ?
	    json_string(new_key) : json_null(), "errors", field ?
	    json_pack("{s:s}", field, error) : json_object())));
}

int
page_keys(struct req *r)
{
	return keys_page(r, 200, NULL, NULL, NULL);
}

/* Days from the expiry choice ("", "30", "90", "365"); -1 when not one. */
static int
expiry_days(const char *v)
{
	if (v == NULL || *v == '\0' || strcmp(v, "never") == 0)
		return 0;
	if (strcmp(v, "30") == 0 || strcmp(v, "90") == 0 ||
	    strcmp(v, "365") == 0)
		return atoi(v);
	return -1;
}

int
page_keys_create(struct req *r)
{
	const char	*name = req_form(r, "name");
	char		 key[APIKEY_LEN + 1];
	int64_t		 id;
	int		 days = expiry_days(req_form(r, "expires"));

	if (name == NULL || !text_ok(name, APIKEY_NAME_MAX))
		return keys_page(r, 400, NULL, "name", "Give the key a name of 1"
		    " to 100 characters, without control characters.");
	if (days < 0)
		return keys_page(r, 400, NULL, "expires",
		    "Choose one of the offered expiries.");
	if (apikey_create(r->app->db, r->arena, r->auth.user_id, name, days,
	    key, &id) == -1)
		return 500;
	log_info("api key %lld created", (long long)id);
	/* Shown in this response only: no redirect, no flash, no storage. */
	return keys_page(r, 201, key, NULL, NULL);
}

int
page_keys_revoke(struct req *r)
{
	int64_t	id = r->path_id;

	switch (apikey_revoke(r->app->db, r->arena, r->auth.user_id, id)) {
	case 0:
		log_info("api key %lld revoked", (long long)id);
		return resp_redirect(r, "/keys", "revoked");
	case 1:
		return 404;
	default:
		return 500;
	}
}
