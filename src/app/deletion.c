/* deletion.c: delete my account: /v1/me/deletion and the settings form */
#include "config.h"

#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "lifecycle.h"
#include "log.h"
#include "passwd.h"
#include "user.h"

/* The deletion object: {"object", "scheduled", "due_at"}. */
static json_t *
deletion_json(struct req *r, const char *due_at)
{
	return json_arena(r->arena, json_pack("{s:s, s:b, s:o}", "object",
	    "account_deletion", "scheduled", due_at != NULL, "due_at",
	    due_at != NULL ? json_string(due_at) : json_null()));
}

/*
 * Is pw the account's password? Attempts count like logins to one
 * account, so a stolen session cannot guess it. 0 yes, 1 no, or the
 * status to answer (429, 500, 503).
 */
static int
confirm(struct req *r, const char *pw)
{
	struct user	u;
	int		rc;

	if ((rc = auth_rate_limit(r, "confirm", arena_printf(r->arena,
	    "user:%lld", (long long)r->auth.user_id),
	    r->app->auth.login_per_account, r->app->auth.login_window)) != 0)
		return rc;
	if ((rc = user_by_id(r->app->db, r->arena, r->auth.user_id, &u)) != 0)
		return rc == 1 ? 500 : 503;
	if (pw == NULL || !passwd_verify(u.password_hash, pw))
		return 1;
	return 0;
}

int
api_deletion_get(struct req *r)
{
	struct user	u;

	if (user_by_id(r->app->db, r->arena, r->auth.user_id, &u) != 0)
		return 500;
	return resp_json(r, 200, deletion_json(r, u.deletion_due_at));
}

/* POST /v1/me/deletion {"password"}: 202 scheduled, 200 asked before. */
int
api_deletion_ask(struct req *r)
{
	const char	*pw = NULL, *due;
	char		 err[256];
	int		 rc;

	if (json_get_str(r->json, "password", 1, &pw, err, sizeof(err)) < 0)
		return resp_bad(r, "password", err);
	if ((rc = confirm(r, pw)) == 1) {
		log_info("deletion refused: wrong password");
		return resp_api_error(r, 403, "invalid_request_error",
		    "wrong_password", "password", "That is not your password.");
	}
	if (rc != 0)
		return rc;
	switch (deletion_ask(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id, &due)) {
	case DELETION_OK:
		log_info("deletion asked user=%lld", (long long)r->auth.user_id);
		return resp_json(r, 202, deletion_json(r, due));
	case DELETION_ALREADY:
		return resp_json(r, 200, deletion_json(r, due));
	default:
		return 500;
	}
}

/* DELETE /v1/me/deletion: cancel; 200 either way, scheduled false. */
int
api_deletion_cancel(struct req *r)
{
	switch (deletion_cancel(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id)) {
	case DELETION_OK:
		log_info("deletion cancelled user=%lld",
		    (long long)r->auth.user_id);
		/* FALLTHROUGH */
	case DELETION_ALREADY:
		return resp_json(r, 200, deletion_json(r, NULL));
	default:
		return 500;
	}
}

/* POST /settings/delete (form: password). */
int
page_deletion_ask(struct req *r)
{
	const char	*due;
	int		 rc;

	if ((rc = confirm(r, req_form(r, "password"))) == 1)
		return page_settings_error(r, 400, "delete_password",
		    "That is not your password.");
	if (rc != 0)
		return rc;
	if (deletion_ask(r->app->db, r->arena, r->app->cfg, r->auth.user_id,
	    &due) == DELETION_ERROR)
		return 500;
	log_info("deletion asked user=%lld", (long long)r->auth.user_id);
	return resp_redirect(r, "/settings", "deletion");
}

/* POST /settings/delete/cancel. */
int
page_deletion_cancel(struct req *r)
{
	if (deletion_cancel(r->app->db, r->arena, r->app->cfg,
	    r->auth.user_id) == DELETION_ERROR)
		return 500;
	log_info("deletion cancelled user=%lld", (long long)r->auth.user_id);
	return resp_redirect(r, "/settings", "deletion_cancelled");
}
