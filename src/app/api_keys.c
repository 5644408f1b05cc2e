/* api_keys.c: /v1/keys: list, create and revoke API keys with a session */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "json.h"
#include "log.h"

int
api_keys_list(struct req *r)
{
	json_t	*keys = apikey_list(r->app->db, r->arena, r->auth.user_id);

	if (keys == NULL)
		return 500;
	return resp_json(r, 200, json_pack("{s:s, s:o}", "object", "list",
	    "data", keys));
}

/* POST /v1/keys {"name": "...", "expires_in_days": N or null}: 201 with the key, once. */
int
api_keys_create(struct req *r)
{
	const char	*name = NULL;
	char		 err[256], key[APIKEY_LEN + 1];
	long long	 days = 0;
	int64_t		 id;
	json_t		*body, *keys, *k = NULL, *found = NULL;
	size_t		 i;

	if ((body = json_parse_limited(r->body ? r->body : "", r->body_len, err,
	    sizeof(err))) == NULL)
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_json", NULL, err);
	json_arena(r->arena, body);
	if (json_get_str(body, "name", 1, &name, err, sizeof(err)) < 0)
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_request", "name", err);
	if (*name == '\0' || strlen(name) > APIKEY_NAME_MAX)
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_request", "name",
		    "'name' must be 1 to 100 characters");
	if (json_get_int(body, "expires_in_days", 0, 1, 3650, &days, err,
	    sizeof(err)) < 0)
		return resp_api_error(r, 400, "invalid_request_error",
		    "invalid_request", "expires_in_days", err);
	if (apikey_create(r->app->db, r->arena, r->auth.user_id, name,
	    (int)days, key, &id) == -1 ||
	    (keys = apikey_list(r->app->db, r->arena, r->auth.user_id)) == NULL)
		return 500;
	log_info("api key %lld created", (long long)id);
	json_array_foreach(keys, i, k)
		if (json_integer_value(json_object_get(k, "id")) == id)
			found = k;
	k = found ? json_deep_copy(found) : NULL;
	json_decref(keys);
	if (k == NULL)
		return 500;
	json_object_set_new(k, "key", json_string(key));
	return resp_json(r, 201, k);
}

int
api_keys_revoke(struct req *r)
{
	char		*end;
	long long	 id = strtoll(r->params[0], &end, 10);

	if (*end != '\0' || id <= 0)
		return resp_api_error(r, 404, "invalid_request_error",
		    "not_found", NULL, "No such API key.");
	switch (apikey_revoke(r->app->db, r->arena, r->auth.user_id, id)) {
	case 0:
		log_info("api key %lld revoked", id);
		return resp_json(r, 200, json_pack("{s:I, s:s, s:b}", "id",
		    (json_int_t)id, "object", "api_key", "revoked", 1));
	case 1:
		return resp_api_error(r, 404, "invalid_request_error",
		    "not_found", NULL, "No such API key, or it is revoked already.");
	default:
		return 500;
	}
}
