/* smtp.c: one message to one recipient over SMTP, with libcurl's easy API */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "smtp.h"
#include "util.h"

/* The message as libcurl reads it. */
struct upload {
	const char	*p;
	size_t		 left;
};

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct upload	*u = arg;
	size_t		 k = size * n < u->left ? size * n : u->left;

	memcpy(buf, u->p, k);
	u->p += k;
	u->left -= k;
	return k;
}

int
smtp_url_ok(const char *url)
{
	const char	*host;

	if (url == NULL)
		return 0;
	if (strncmp(url, "smtp://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "smtps://", 8) == 0)
		host = url + 8;
	else
		return 0;
	return *host != '\0' && *host != '/' && *host != ':' &&
	    strpbrk(url, " \t\r\n") == NULL;
}

int
smtp_send(const struct smtp_cfg *c, const char *from, const char *rcpt,
    const char *msg, size_t len, char *err, size_t errlen)
{
	struct upload		 u = { msg, len };
	struct curl_slist	*to = NULL;
	char			 ebuf[CURL_ERROR_SIZE] = "", who[512];
	CURL			*e;
	CURLcode		 rc;

	if ((e = curl_easy_init()) == NULL) {
		util_seterr(err, errlen, "libcurl did not start");
		return -1;
	}
	snprintf(who, sizeof(who), "<%s>", rcpt);
	to = curl_slist_append(NULL, who);
	snprintf(who, sizeof(who), "<%s>", from);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, who);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, to);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, &u);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	if (c->starttls)
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->username != NULL && *c->username != '\0') {
		curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->password != NULL ?
		    c->password : "");
	}
	rc = curl_easy_perform(e);
	if (rc != CURLE_OK)
		util_seterr(err, errlen, "%s: %s", curl_easy_strerror(rc),
		    ebuf[0] ? ebuf : "no detail");
	curl_slist_free_all(to);
	curl_easy_cleanup(e);
	return rc == CURLE_OK ? 0 : -1;
}
