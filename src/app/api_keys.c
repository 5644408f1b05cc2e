/* api_keys.c: /v1/keys: list, create and revoke API keys with a session */
#include "config.h"


#include "apikey.h"
#include "app.h"
#include "json.h"
#include "log.h"
#include "text.h"

int
api_keys_list(struct req *r)
{
	json_t	*keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
		    r->auth.user_id));

	if (keys == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O}",
	    "object", "list", "data", keys)));
}

/*
 * POST /v1/keys {"name": "...", "expires_in_days": N or null} (R_JSON):
 * 201 with the key, once.
 */
int
api_keys_create(struct req *r)
{
	const char	*name = NULL;
	char		 err[256], key[APIKEY_LEN + 1];
	long long	 days = 0;
	int64_t		 id;
	json_t		*keys, *k = NULL, *found = NULL;
	size_t		 i;

	if (json_get_str(r->json, "name", 1, &name, err, sizeof(err)) < 0)
		return resp_bad(r, "name", err);
	if (!text_ok(name, APIKEY_NAME_MAX))
		return resp_bad(r, "name", "'name' must be 1 to 100 characters"
		    " without control characters");
	if (json_get_int(r->json, "expires_in_days", 0, 1, 3650, &days, err,
	    sizeof(err)) < 0)
		return resp_bad(r, "expires_in_days", err);
	if (apikey_create(r->app->db, r->arena, r->auth.user_id, name,
	    (int)days, key, &id) == -1 ||
	    (keys = json_arena(r->arena, apikey_list(r->app->db, r->arena,
	    r->auth.user_id))) == NULL)
		return 500;
	log_info("api key %lld created", (long long)id);
	json_array_foreach(keys, i, k)
		if (json_integer_value(json_object_get(k, "id")) == id)
			found = k;
	if (found == NULL)
		return 500;
	json_object_set_new(found, "key", json_string(key));
	return resp_json(r, 201, found);
}

int
api_keys_revoke(struct req *r)
{
	int64_t	id = r->path_id;

	switch (apikey_revoke(r->app->db, r->arena, r->auth.user_id, id)) {
	case 0:
		log_info("api key %lld revoked", (long long)id);
		return resp_json(r, 200, json_arena(r->arena, json_pack(
		    "{s:I, s:s, s:b}", "id", (json_int_t)id, "object",
		    "api_key", "revoked", 1)));
	case 1:
		return resp_api_error(r, 404, "invalid_request_error",
		    "not_found", NULL, "No such API key, or it is revoked already.");
	default:
		return 500;
	}
}
