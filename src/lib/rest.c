/* rest.c: one blocking HTTPS call to a payment provider's REST API (libcurl) */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "rest.h"
#include "str.h"
#include "util.h"

#define ANSWER_MAX	(1024 * 1024)

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct str	*out = arg;

	if (out->len + size * n > ANSWER_MAX)
		return 0;		/* too long: libcurl fails the call */
	str_append(out, p, size * n);
	return size * n;
}

int
rest_call(const struct rest_call *c, struct str *out, long *status,
    char *err, size_t errlen)
{
	struct curl_slist	*h = NULL;
	struct str		 line = STR_INIT;
	char			 ebuf[CURL_ERROR_SIZE] = "";
	CURL			*e;
	CURLcode		 rc;

	*status = 0;
	if ((e = curl_easy_init()) == NULL) {
		util_seterr(err, errlen, "libcurl did not start");
		return -1;
	}
	if (c->bearer != NULL) {
		str_printf(&line, "Authorization: Bearer %s", c->bearer);
		h = curl_slist_append(h, str_cstr(&line));
		str_reset(&line);
	}
	if (c->idempotency_key != NULL) {
		str_printf(&line, "Idempotency-Key: %s", c->idempotency_key);
		h = curl_slist_append(h, str_cstr(&line));
		str_reset(&line);
	}
	if (c->body != NULL && c->content_type != NULL) {
		str_printf(&line, "Content-Type: %s", c->content_type);
		h = curl_slist_append(h, str_cstr(&line));
	}
	if (c->extra_header != NULL)
		h = curl_slist_append(h, c->extra_header);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
	if (c->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(c->body));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "infrpool/" PACKAGE_VERSION);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	else
		util_seterr(err, errlen, "%s: %s", curl_easy_strerror(rc),
		    ebuf[0] ? ebuf : "no detail");
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	str_free(&line);
	return rc == CURLE_OK ? 0 : -1;
}

/* Percent-encode s onto form: unreserved characters stay, the rest %XX. */
static void
encode(struct str *form, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	char			esc[3] = { '%', 0, 0 };

	for (; *s != '\0'; s++) {
		unsigned char	ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~')
			str_append(form, s, 1);
		else {
			esc[1] = hex[ch >> 4];
			esc[2] = hex[ch & 15];
			str_append(form, esc, 3);
		}
	}
}

void
rest_form_add(struct str *form, const char *key, const char *value)
{
	if (form->len > 0)
		str_append(form, "&", 1);
	encode(form, key);
	str_append(form, "=", 1);
	encode(form, value);
}
