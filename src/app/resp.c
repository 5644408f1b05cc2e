/* resp.c: responses: JSON, pages, errors in the API's shape, security headers */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "tmpl.h"

/* Sent with every response the app makes. */
static const char security_headers[] =
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: same-origin\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n";

/* Add "name: value" to the response; value must not hold CR or LF. */
void
resp_header(struct req *r, const char *name, const char *value)
{
	if (strpbrk(value, "\r\n") != NULL) {
		log_error("refusing header %s with a line break", name);
		return;
	}
	str_printf(&r->headers, "%s: %s\r\n", name, value);
}

/*
 * Set a cookie: Path=/, SameSite=Lax, Secure unless the development
 * setting says plain HTTP. max_age 0 makes a browser-session cookie, -1
 * deletes it. Values are ours (tokens, codes), never request data.
 */
void
resp_cookie(struct req *r, const char *name, const char *value,
    long long max_age, int http_only)
{
	struct str	c = STR_INIT;

	str_printf(&c, "%s=%s; Path=/; SameSite=Lax%s%s", name, value,
	    r->app->auth.cookie_secure ? "; Secure" : "",
	    http_only ? "; HttpOnly" : "");
	if (max_age != 0)
		str_printf(&c, "; Max-Age=%lld", max_age < 0 ? 0 : max_age);
	resp_header(r, "Set-Cookie", str_cstr(&c));
	str_free(&c);
}

/* 303 to location (a path of ours), with an optional flash message code. */
int
resp_redirect(struct req *r, const char *location, const char *flash)
{
	resp_header(r, "Location", location);
	if (flash != NULL)
		resp_cookie(r, "flash", flash, 60, 1);
	str_reset(&r->out);
	r->status = 303;
	r->content_type = NULL;
	return 303;
}

/* Flash messages by code: the cookie carries a code, never text. */
static const struct {
	const char	*code;
	const char	*text;
} flashes[] = {
	{ "welcome", "Welcome! Your signup credits are on your account." },
	{ "login", "You are logged in." },
	{ "logout", "You are logged out." },
	{ "password", "Your password is changed; other sessions were logged out." },
	{ "deletion", "Your account will be deleted at the time shown below; we emailed you how to cancel." },
	{ "deletion_cancelled", "The deletion of your account is cancelled." },
	{ "payout_requested", "Your payout is on its way: Tremendous emails the recipient." },
	{ "payout_settings", "Your payout settings are saved." },
	{ "payout_approved", "The payout is released to Tremendous for delivery." },
	{ "payout_cancelled", "The payout is cancelled; its money is back in the supplier's earnings." },
	{ "revoked", "The key is revoked and stops working at once." },
	{ "node_added", "Your node is added. The relay offers it traffic once it answers." },
	{ "node_prices", "The prices are saved; requests admitted from now on pay them." },
	{ "node_removed", "The node is removed: it gets no more traffic. Its history stays in your usage." },
	{ "node_suspended", "The node is suspended: it gets no new requests, and its supplier sees the reason." },
	{ "node_unsuspended", "The node is active again and back in the pool." },
	{ "user_suspended", "The account is suspended (read-only); its owner is told why by email." },
	{ "user_unsuspended", "The account is active again; its owner is told by email." },
	{ "user_banned", "The account is banned; its owner is told why by email." },
};

/*
 * Where the page is, for the navigation's aria-current: "here" {first
 * path segment: true} and, under /admin, "here_admin" {second or
 * "overview": true}. Segments are route names of ours, not user data.
 */
static void
here(struct req *r, json_t *ctx)
{
	const char	*p = r->path ? r->path : "/";
	size_t		 n;

	if (*p == '/')
		p++;
	n = strcspn(p, "/");
	if (n == 0 || n > 32)
		return;
	json_object_set_new(ctx, "here", json_pack("{s:b}",
	    arena_strndup(r->arena, p, n), 1));
	if (n == 5 && strncmp(p, "admin", 5) == 0)
		json_object_set_new(ctx, "here_admin", json_pack("{s:b}",
		    p[5] == '/' && p[6] != '\0' ? arena_strndup(r->arena, p + 6,
		    strcspn(p + 6, "/")) : "overview", 1));
}

/*
 * Add the flash message (and clear its cookie), the user, the CSRF token
 * and, for a suspended account, "standing" {reason} for the layout's
 * banner.
 */
static void
page_context(struct req *r, json_t *ctx)
{
	const char	*code = req_cookie(r, "flash");
	size_t		 i;

	for (i = 0; code != NULL && i < sizeof(flashes) / sizeof(flashes[0]); i++)
		if (strcmp(code, flashes[i].code) == 0) {
			json_object_set_new(ctx, "flash",
			    json_string(flashes[i].text));
			resp_cookie(r, "flash", "", -1, 1);
		}
	here(r, ctx);
	if (r->auth.via == AUTH_SESSION) {
		json_object_set_new(ctx, "me", json_pack("{s:s, s:b}", "email",
		    r->auth.email, "admin", strcmp(r->auth.role, "admin") == 0));
		json_object_set_new(ctx, "csrf", json_string(r->auth.csrf));
		if (r->auth.status != NULL &&
		    strcmp(r->auth.status, "suspended") == 0)
			json_object_set_new(ctx, "standing", json_pack("{s:s}",
			    "reason", r->auth.status_reason ?
			    r->auth.status_reason : ""));
	}
}

int
resp_json(struct req *r, int status, json_t *v)
{
	str_reset(&r->out);
	json_to_str(v, &r->out);
	str_putc(&r->out, '\n');
	r->status = status;
	r->content_type = "application/json";
	return status;
}

int
resp_body(struct req *r, int status, const char *content_type,
    const char *body, size_t len)
{
	str_reset(&r->out);
	str_append(&r->out, body, len);
	r->status = status;
	r->content_type = content_type;
	return status;
}

/*
 * Render template name with ctx (borrowed; the keys the layout needs are
 * added to it) plus "site" (name) for the layout. On a template error the
 * response is a plain 500 and the error is logged.
 */
int
resp_page(struct req *r, int status, const char *name, json_t *ctx)
{
	char	err[256];

	json_object_set_new(ctx, "site", json_pack("{s:s}", "name",
	    r->app->site_name));
	json_object_set_new(ctx, "status", json_integer(status));
	page_context(r, ctx);
	str_reset(&r->out);
	if (tmpl_render(r->app->tmpl, name, ctx, &r->out, err,
	    sizeof(err)) == -1) {
		log_error("template %s: %s", name, err);
		str_reset(&r->out);
		str_puts(&r->out, "Internal Server Error\n");
		r->status = 500;
		r->content_type = "text/plain; charset=utf-8";
		return 500;
	}
	r->status = status;
	r->content_type = "text/html; charset=utf-8";
	return status;
}

int
resp_api_error(struct req *r, int status, const char *type, const char *code,
    const char *param, const char *message)
{
	return resp_json(r, status, json_arena(r->arena,
	    http_openai_error(type, code, param, message)));
}

/* A 400 in the API's shape naming param; returns 400. */
int
resp_bad(struct req *r, const char *param, const char *msg)
{
	return resp_api_error(r, 400, "invalid_request_error",
	    "invalid_request", param, msg);
}

/* The error for status: OpenAI's JSON shape under /v1/, a page elsewhere. */
int
resp_error(struct req *r, int status, const char *message)
{
	const char	*text = http_status_text(status);

	if (message == NULL)
		message = text;
	if (r->api)
		return resp_api_error(r, status, status >= 500 ?
		    "server_error" : "invalid_request_error",
		    http_status_code(status), NULL, message);
	return resp_page(r, status, "error", json_arena(r->arena,
	    json_pack("{s:s, s:s}", "title", text, "message", message)));
}

/*
 * Write status line, headers and body to the FastCGI stream, once. The
 * head is built here, not with FCGX_FPrintF, whose own printf lacks %zu.
 */
void
resp_send(struct req *r)
{
	FCGX_Stream	*o = r->fcgi->out;
	struct str	 head = STR_INIT;

	if (r->sent)
		return;
	r->sent = 1;
	str_printf(&head, "Status: %d %s\r\n", r->status,
	    http_status_text(r->status));
	if (r->content_type != NULL)
		str_printf(&head, "Content-Type: %s\r\nContent-Length: %zu\r\n",
		    r->content_type, r->out.len);
	str_puts(&head, security_headers);
	str_printf(&head, "Cache-Control: no-store\r\nX-Request-Id: %s\r\n",
	    r->id);
	str_append(&head, str_cstr(&r->headers), r->headers.len);
	str_puts(&head, "\r\n");
	FCGX_PutStr(head.buf, (int)head.len, o);
	str_free(&head);
	if (strcmp(r->method, "HEAD") != 0 && r->out.len > 0)
		FCGX_PutStr(r->out.buf, (int)r->out.len, o);
}
