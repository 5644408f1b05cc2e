/* page_admin_user.c: the operator's page of one account: its standing and history */
#include "config.h"

#include <string.h>

#include "app.h"
#include "arena.h"
#include "json.h"
#include "ledger.h"
#include "log.h"
#include "standing.h"

/* Which form an error belongs beside. */
enum form { FORM_NONE, FORM_SUSPEND, FORM_UNSUSPEND, FORM_BAN };

/*
 * The account's page with its balances, the forms its standing allows
 * and the operator's actions on it; err (or NULL) beside form, or at the
 * top with FORM_NONE. 404 for no such account.
 */
static int
user_page(struct req *r, int status, enum form form, const char *err)
{
	struct ledger_balances	 b;
	json_t			*u, *history;
	const char		*st;
	int			 rc;

	if ((rc = standing_get(r->app->db, r->arena, r->path_id, &u)) ==
	    STANDING_NO_USER)
		return resp_error(r, 404, "No such user.");
	if (rc != STANDING_OK || json_arena(r->arena, u) == NULL ||
	    ledger_balances(r->app->db, r->arena, r->path_id, &b) != 0 ||
	    (history = json_arena(r->arena, standing_history(r->app->db,
	    r->arena, r->path_id))) == NULL)
		return 500;
	st = json_string_value(json_object_get(u, "status"));
	return resp_page(r, status, "admin_user", json_arena(r->arena,
	    json_pack("{s:s, s:O, s:o, s:o, s:O, s:b, s:b, s:b, s:b, s:b,"
	    " s:s?, s:{s:s?, s:s?, s:s?}}",
	    "title", "User", "user", u,
	    "credit", view_usd(r->arena, b.credit),
	    "earnings", view_usd(r->arena, b.earnings),
	    "history", history, "has_history", json_array_size(history) > 0,
	    "can_suspend", strcmp(st, "active") == 0,
	    "can_unsuspend", strcmp(st, "suspended") == 0,
	    "can_ban", strcmp(st, "active") == 0 ||
	    strcmp(st, "suspended") == 0,
	    "self", r->path_id == r->auth.user_id,
	    "error", form == FORM_NONE ? err : NULL,
	    "errors", "suspend", form == FORM_SUSPEND ? err : NULL,
	    "unsuspend", form == FORM_UNSUSPEND ? err : NULL,
	    "ban", form == FORM_BAN ? err : NULL)));
}

/* GET /admin/users/{id} */
int
page_admin_user(struct req *r)
{
	return user_page(r, 200, FORM_NONE, NULL);
}

/*
 * Carry out form with the form's reason (and, for a ban, its forfeit box)
 * as this operator, then back to the account with a flash; a refusal
 * gets the page again with its reason beside the form.
 */
static int
act(struct req *r, enum form form)
{
	const struct standing_by by = {
		.admin_id = r->auth.user_id,
		.mail = r->app->mail,
		.site_name = r->app->site_name,
	};
	const char	*reason = req_form(r, "reason"), *forfeit;
	int64_t		 moved = 0;
	int		 rc;

	forfeit = req_form(r, "forfeit");
	if (form == FORM_SUSPEND)
		rc = user_suspend(r->app->db, r->arena, &by, r->path_id,
		    reason);
	else if (form == FORM_UNSUSPEND)
		rc = user_unsuspend(r->app->db, r->arena, &by, r->path_id,
		    reason);
	else
		rc = user_ban(r->app->db, r->arena, &by, r->path_id, reason,
		    forfeit != NULL && strcmp(forfeit, "yes") == 0, &moved);
	switch (rc) {
	case STANDING_OK:
		return resp_redirect(r, arena_printf(r->arena,
		    "/admin/users/%lld", (long long)r->path_id),
		    form == FORM_SUSPEND ? "user_suspended" :
		    form == FORM_UNSUSPEND ? "user_unsuspended" :
		    "user_banned");
	case STANDING_NO_USER:
		return resp_error(r, 404, "No such user.");
	case STANDING_ERROR:
	case STANDING_MAIL:
		return 500;
	case STANDING_BAD_REASON:
		return user_page(r, 400, form, standing_message(rc));
	default:	/* the standing refuses it: said at the top */
		return user_page(r, 409, FORM_NONE, standing_message(rc));
	}
}

/* POST /admin/users/{id}/suspend with a reason. */
int
page_admin_user_suspend(struct req *r)
{
	return act(r, FORM_SUSPEND);
}

/* POST /admin/users/{id}/unsuspend with a reason. */
int
page_admin_user_unsuspend(struct req *r)
{
	return act(r, FORM_UNSUSPEND);
}

/* POST /admin/users/{id}/ban with a reason, and forfeit=yes to forfeit. */
int
page_admin_user_ban(struct req *r)
{
	return act(r, FORM_BAN);
}
