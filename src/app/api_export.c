/* api_export.c: /v1/me/export: the caller's data prepared behind a 24-hour link */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "export.h"
#include "json.h"
#include "log.h"

#define NO_EXPORT	"No such export: the link is another account's, " \
			"mistyped, or older than 24 hours."

/* See app.h. */
int
export_prepare(struct req *r, json_t **link, int *retry_after)
{
	json_t	*doc;
	char	*text;
	char	 token[EXPORT_TOKEN_LEN + 1], expires[21];
	int	 rc;

	if ((doc = me_export_document(r)) == NULL ||
	    (text = json_dumps(doc, JSON_COMPACT)) == NULL)
		return 500;
	rc = export_store(r->app->db, r->arena, r->auth.user_id, text, token,
	    expires, retry_after);
	free(text);
	if (rc == EXPORT_FULL)
		return 429;
	if (rc != EXPORT_OK)
		return 500;
	log_info("export prepared user=%lld", (long long)r->auth.user_id);
	*link = json_arena(r->arena, json_pack("{s:s, s:s, s:s}", "object",
	    "export", "url", arena_printf(r->arena, "/v1/me/export/%s", token),
	    "expires_at", expires));
	return 0;
}

/*
 * GET /v1/me/export: prepare the export and answer with its link:
 * {"object": "export", "url": "/v1/me/export/<token>", "expires_at"}.
 */
int
api_me_export(struct req *r)
{
	json_t	*link;
	char	 after[16];
	int	 retry = 0, rc;

	if ((rc = export_prepare(r, &link, &retry)) == 429) {
		snprintf(after, sizeof(after), "%d", retry > 0 ? retry : 1);
		resp_header(r, "Retry-After", after);
		return resp_api_error(r, 429, "rate_limit_error",
		    "too_many_exports", NULL, arena_printf(r->arena, "You "
		    "have %d export links that still work: use one, or "
		    "prepare another when the oldest expires (see "
		    "Retry-After).", EXPORT_LIVE_MAX));
	}
	if (rc != 0)
		return rc;
	return resp_json(r, 200, link);
}

/* A token as export_store makes them: 43 of [0-9A-Za-z]. */
static int
token_ok(const char *s)
{
	return strlen(s) == EXPORT_TOKEN_LEN && strspn(s, "0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
	    EXPORT_TOKEN_LEN;
}

/*
 * GET /v1/me/export/{token}: the document, as a download, for the
 * account that prepared it while the link works; 404 otherwise, the same
 * whether the link is another account's, expired or never was.
 */
int
api_me_export_get(struct req *r)
{
	const char	*doc;
	int		 rc;

	if (!token_ok(r->params[0]))
		return resp_error(r, 404, NO_EXPORT);
	rc = export_fetch(r->app->db, r->arena, r->auth.user_id, r->params[0],
	    &doc);
	if (rc == EXPORT_NOT_FOUND)
		return resp_error(r, 404, NO_EXPORT);
	if (rc != EXPORT_OK)
		return 500;
	resp_header(r, "Content-Disposition",
	    "attachment; filename=\"infrpool-export.json\"");
	return resp_body(r, 200, "application/json", doc, strlen(doc));
}
