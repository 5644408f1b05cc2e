/* mail.c: the outbox: queue a rendered template, send what is due */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "mail.h"
#include "smtp.h"
#include "str.h"
#include "tmpl.h"
#include "user.h"

#define SEND_MAX	200		/* messages a run sends at most */

static const struct db_stmt q_queue = {
	"mail_queue",
	"INSERT INTO outbox (user_id, to_addr, template, subject, body,"
	" created_at, next_attempt_at) VALUES (nullif($1::bigint, 0), $2, $3,"
	" $4, $5, coalesce($6::timestamptz, now()),"
	" coalesce($6::timestamptz, now()))",
	6, 0
};
static const struct db_stmt q_due = {
	"mail_due",
	"SELECT id, to_addr, subject, body, attempts,"
	" extract(epoch FROM created_at)::bigint FROM outbox"
	" WHERE sent_at IS NULL AND next_attempt_at <= $1::timestamptz"
	" ORDER BY id LIMIT 200",
	1, DB_RETRY
};
static const struct db_stmt q_sent = {
	"mail_sent",
	"UPDATE outbox SET sent_at = $2::timestamptz, attempts = attempts + 1,"
	" last_error = NULL WHERE id = $1 AND sent_at IS NULL",
	2, 0
};
/* Put off: 1, 2, 4 … minutes after this attempt, at most an hour. */
static const struct db_stmt q_failed = {
	"mail_failed",
	"UPDATE outbox SET attempts = attempts + 1, last_error = $3,"
	" next_attempt_at = $2::timestamptz + least(60, power(2,"
	" least(attempts, 6)))::int * interval '1 minute'"
	" WHERE id = $1 AND sent_at IS NULL",
	3, 0
};
static const struct db_stmt q_waiting = {
	"mail_waiting",
	"SELECT count(*) FROM outbox WHERE sent_at IS NULL",
	0, DB_RETRY
};

const struct tmpl_set *
mail_templates(struct cfg *c, char *err, size_t errlen)
{
	static struct tmpl_set	*set;
	struct str		 dir = STR_INIT;

	if (set == NULL) {
		str_printf(&dir, "%s/mail", cfg_str(c, "app", "templates",
		    IP_PKGDATADIR "/templates"));
		set = tmpl_load_text(str_cstr(&dir), err, errlen);
		str_free(&dir);
	}
	return set;
}

int
mail_notify(struct db *db, struct arena *a, struct cfg *c, int64_t user_id,
    const char *to, const char *name, json_t *vars, const char *now)
{
	const struct tmpl_set	*set;
	const char		*base;
	char			 err[256];
	int			 rc = -1;

	if ((set = mail_templates(c, err, sizeof(err))) == NULL)
		log_error("mail templates: %s", err);
	if (set != NULL && vars != NULL) {
		json_object_set_new(vars, "site_name", json_string(cfg_str(c,
		    "app", "site_name", "infrpool")));
		if (*(base = cfg_str(c, "app", "base_url", "")) != '\0')
			json_object_set_new(vars, "settings_url", json_string(
			    arena_printf(a, "%.*s/settings", (int)(strlen(base) -
			    (base[strlen(base) - 1] == '/')), base)));
		rc = mail_queue(db, a, set, user_id, to, name, vars, now);
	}
	json_decref(vars);
	return rc;
}

int
mail_config(struct cfg *c, struct mail_cfg *m)
{
	long long	ms;

	memset(m, 0, sizeof(*m));
	m->smtp_url = cfg_str(c, "mail", "smtp_url", "");
	m->from = cfg_str(c, "mail", "from", "infrpool@localhost");
	m->from_name = cfg_str(c, "app", "site_name", "infrpool");
	m->username = cfg_str(c, "mail", "username", "");
	m->password = cfg_str(c, "mail", "password", "");
	cfg_bool(c, "mail", "starttls", 0, &m->starttls);
	cfg_ms(c, "mail", "timeout", 20, 1, 600, &ms);
	m->timeout_ms = (long)ms;
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "%s\n", cfg_error(c));
		return -1;
	}
	if (*m->smtp_url != '\0' && !smtp_url_ok(m->smtp_url)) {
		fprintf(stderr, "%s: [mail] smtp_url: expected smtp://host[:port]"
		    " or smtps://host[:port]\n", cfg_where(c, "mail",
		    "smtp_url"));
		return -1;
	}
	if (strpbrk(m->from, "<>\r\n\" ") != NULL || strchr(m->from, '@') ==
	    NULL || strpbrk(m->from_name, "\r\n\"") != NULL) {
		fprintf(stderr, "%s: [mail] from: expected a plain address\n",
		    cfg_where(c, "mail", "from"));
		return -1;
	}
	return 0;
}

int
mail_queue(struct db *db, struct arena *a, const struct tmpl_set *set,
    int64_t user_id, const char *to, const char *name, json_t *vars,
    const char *now)
{
	struct str	 out = STR_INIT;
	const char	*p[6], *text, *split;
	char		 err[256], addr[USER_EMAIL_MAX + 1];
	int		 rc = -1;

	/* The one address check the accounts use: no header can be smuggled. */
	if (user_email_normalize(to, addr, sizeof(addr)) == -1) {
		log_error("mail %s: not an address we send to", name);
		return -1;
	}
	if (tmpl_render(set, name, vars, &out, err, sizeof(err)) == -1) {
		log_error("mail %s: %s", name, err);
		goto out;
	}
	text = str_cstr(&out);
	if (strncmp(text, "Subject: ", 9) != 0 ||
	    (split = strstr(text, "\n\n")) == NULL ||
	    memchr(text, '\r', (size_t)(split - text)) != NULL ||
	    memchr(text + 9, '\n', (size_t)(split - text - 9)) != NULL) {
		log_error("mail %s: expected a Subject: line, a blank line and "
		    "the body", name);
		goto out;
	}
	p[0] = db_i64(a, user_id);
	p[1] = addr;
	p[2] = name;
	p[3] = arena_strndup(a, text + 9, (size_t)(split - text - 9));
	p[4] = arena_strdup(a, split + 2);
	p[5] = now;
	rc = db_exec(db, a, &q_queue, p) == NULL ? -1 : 0;
out:
	str_free(&out);
	return rc;
}

/* Append s as a header value: as-is when plain ASCII, else RFC 2047 base64. */
static void
header_text(struct str *m, const char *s)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, n = strlen(s);
	unsigned		 v;

	for (i = 0; i < n; i++)
		if (u[i] < ' ' || u[i] >= 0x7f)
			break;
	if (i == n) {
		str_puts(m, s);
		return;
	}
	str_puts(m, "=?UTF-8?B?");
	for (i = 0; i < n; i += 3) {
		v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 :
		    0) | (i + 2 < n ? u[i + 2] : 0);
		str_putc(m, b64[v >> 18 & 63]);
		str_putc(m, b64[v >> 12 & 63]);
		str_putc(m, i + 1 < n ? b64[v >> 6 & 63] : '=');
		str_putc(m, i + 2 < n ? b64[v & 63] : '=');
	}
	str_puts(m, "?=");
}

/*
 * The message of outbox row r of res, with CRLF line ends and a
 * Message-ID that every attempt repeats (a receiver can drop a copy).
 */
static void
message(struct str *m, const struct mail_cfg *c, PGresult *res, int r,
    time_t now)
{
	const char	*body = PQgetvalue(res, r, 3), *at = strchr(c->from, '@');
	char		 date[64];
	struct tm	 tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	str_puts(m, "From: ");
	header_text(m, c->from_name);
	str_printf(m, " <%s>\r\nTo: <%s>\r\nSubject: ", c->from,
	    PQgetvalue(res, r, 1));
	header_text(m, PQgetvalue(res, r, 2));
	str_printf(m, "\r\nDate: %s\r\nMessage-ID: <outbox.%s.%s%s>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated"
	    "\r\n\r\n", date, PQgetvalue(res, r, 0), PQgetvalue(res, r, 5),
	    at != NULL ? at : "@localhost");
	for (; *body != '\0'; body++) {
		if (*body == '\n')
			str_putc(m, '\r');
		str_putc(m, *body);
	}
	if (m->len < 2 || str_cstr(m)[m->len - 1] != '\n')
		str_puts(m, "\r\n");
}

int
mail_send_due(struct db *db, struct arena *a, const struct mail_cfg *c,
    const char *now, struct mail_sent *out, char *err, size_t errlen)
{
	struct smtp_cfg	 s = { c->smtp_url, c->username, c->password,
			    c->starttls, c->timeout_ms };
	struct str	 m = STR_INIT;
	const char	*p[3] = { now, NULL, NULL };
	PGresult	*res, *w;
	struct tm	 tm;
	time_t		 t;
	int		 r, rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&tm, 0, sizeof(tm));
	strptime(now, "%Y-%m-%dT%H:%M:%SZ", &tm);
	t = timegm(&tm);
	if ((res = db_exec(db, a, &q_due, p)) == NULL)
		return -1;
	for (r = 0; r < PQntuples(res) && r < SEND_MAX; r++) {
		str_reset(&m);
		message(&m, c, res, r, t);
		p[0] = PQgetvalue(res, r, 0);
		p[1] = now;
		if (smtp_send(&s, c->from, PQgetvalue(res, r, 1), str_cstr(&m),
		    m.len, err, errlen) == 0) {
			if (db_exec(db, a, &q_sent, p) == NULL) {
				rc = -1;
				break;
			}
			out->sent++;
			continue;
		}
		out->failed++;
		rc = 1;
		p[2] = err;
		log_warn("mail %s: not sent (%s); tried again later", p[0],
		    err);
		if (db_exec(db, a, &q_failed, p) == NULL) {
			rc = -1;
			break;
		}
		break;		/* the server is likely down for the rest too */
	}
	str_free(&m);
	if (rc != -1 && (w = db_exec(db, a, &q_waiting, NULL)) != NULL)
		out->waiting = atoi(PQgetvalue(w, 0, 0));
	return rc;
}
