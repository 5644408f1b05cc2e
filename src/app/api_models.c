/* api_models.c: /v1/models: the consumers' catalog, with price ranges and node counts */
#include "config.h"

#include "app.h"
#include "json.h"
#include "node.h"

/* GET /v1/models: every model an active node serves, in OpenAI's list shape. */
int
api_models_list(struct req *r)
{
	json_t	*models = json_arena(r->arena, node_catalog(r->app->db, r->arena,
		    NULL));

	if (models == NULL)
		return 500;
	return resp_json(r, 200, json_arena(r->arena, json_pack("{s:s, s:O}",
	    "object", "list", "data", models)));
}

/*
 * GET /v1/models/{id}: one model, or 404 model_not_found. The id may
 * hold slashes, raw or as %2F.
 */
int
api_models_get(struct req *r)
{
	const char	*id = r->params[0];
	json_t		*models;

	if (!node_model_id_ok(id))
		goto none;
	if ((models = json_arena(r->arena, node_catalog(r->app->db, r->arena,
	    id))) == NULL)
		return 500;
	if (json_array_size(models) == 1)
		return resp_json(r, 200, json_array_get(models, 0));
none:
	return resp_api_error(r, 404, "invalid_request_error",
	    "model_not_found", "model", "The model does not exist or no"
	    " active node serves it.");
}
