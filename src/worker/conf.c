/* conf.c: the worker's one state and its settings, read from the config */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "str.h"
#include "worker.h"

static struct worker the_worker;
struct worker *const worker = &the_worker;

/*
 * A copy of url without trailing slashes (heap-owned, caller frees), or
 * NULL after printing an error when it is not http:// or https://.
 */
static char *
base_url(const char *what, const char *url)
{
	size_t n = strlen(url);
	char  *s;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		fprintf(stderr,
			"infrpool-worker: the %s URL must start "
			"with http:// or https:// (got '%s')\n",
			what, url);
		return NULL;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((s = strndup(url, n)) == NULL)
		abort();
	return s;
}

/*
 * "Authorization: Bearer <secret>" (heap-owned), NULL when secret is empty,
 * or NULL with *bad set when it holds a control character or a space.
 */
static char *
bearer(const char *secret, int *bad)
{
	struct str  s = STR_INIT;
	const char *p;

	*bad = 0;
	if (secret[0] == '\0')
		return NULL;
	for (p = secret; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*bad = 1;
			return NULL;
		}
	str_printf(&s, "Authorization: Bearer %s", secret);
	return str_steal(&s);
}

/* Secrets, checked without ever printing them; 0 or -1 after a message. */
static int
read_secrets(struct worker *w)
{
	int bad;

	w->platform_auth = bearer(cfg_str(w->cfg, "worker", "token", ""), &bad);
	if (bad) {
		fprintf(stderr,
			"infrpool-worker: %s: [worker] token holds a "
			"space or a control character\n",
			cfg_where(w->cfg, "worker", "token"));
		return -1;
	}
	w->has_token = w->platform_auth != NULL;
	w->upstream_auth =
	    bearer(cfg_str(w->cfg, "worker", "upstream_key", ""), &bad);
	if (bad) {
		fprintf(stderr,
			"infrpool-worker: %s: [worker] upstream_key "
			"holds a space or a control character\n",
			cfg_where(w->cfg, "worker", "upstream_key"));
		return -1;
	}
	return 0;
}

/* The numbers of [worker]; 0 or -1 after printing the error. */
static int
read_numbers(struct worker *w, long long concurrency)
{
	struct cfg *c = w->cfg;

	cfg_int(c, "worker", "concurrency", 1, 1, 1024, &w->concurrency);
	if (concurrency > 0)
		w->concurrency = concurrency;
	cfg_ms(c, "worker", "check_interval", 30, 1, 3600, &w->check_ms);
	cfg_ms(c, "worker", "drain_timeout", 60, 0, 86400, &w->drain_ms);
	cfg_ms(c, "worker", "request_timeout", 600, 1, 86400, &w->request_ms);
	cfg_ms(c, "worker", "poll_timeout", 60, 5, 3600, &w->poll_ms);
	if (cfg_error(c) != NULL) {
		fprintf(stderr, "infrpool-worker: %s\n", cfg_error(c));
		return -1;
	}
	return 0;
}

/* Read the settings into worker and start the log; see worker.h. */
int
conf_read(const char *platform, const char *upstream, long long concurrency)
{
	struct worker *w = worker;
	struct cfg    *c = w->cfg;
	enum log_level level;

	if (platform == NULL)
		platform = cfg_str(c, "worker", "platform_url",
				   "http://127.0.0.1:8080");
	if (upstream == NULL)
		upstream = cfg_str(c, "worker", "upstream_url",
				   "http://127.0.0.1:8000/v1");
	if (read_numbers(w, concurrency) == -1)
		return -1;
	if (log_level_parse(cfg_str(c, "log", "level", "info"), &level) == -1) {
		fprintf(stderr,
			"infrpool-worker: %s: [log] level: expected "
			"debug, info, warn or error\n",
			cfg_where(c, "log", "level"));
		return -1;
	}
	if ((w->platform = base_url("platform", platform)) == NULL ||
	    (w->upstream = base_url("upstream", upstream)) == NULL ||
	    read_secrets(w) == -1)
		return -1;
	log_init("infrpool-worker", level, cfg_str(c, "log", "file", ""));
	return 0;
}

/* Free the strings conf_read() set; see worker.h. */
void
conf_free(void)
{
	free(worker->platform);
	free(worker->upstream);
	free(worker->platform_auth);
	free(worker->upstream_auth);
	worker->platform = worker->upstream = NULL;
	worker->platform_auth = worker->upstream_auth = NULL;
}
