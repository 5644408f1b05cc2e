/* json.c: Jansson helpers for request bodies and responses */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json.h"
#include "str.h"
#include "util.h"

/* Parse buf as one JSON object. Returns a new reference or NULL and err. */
json_t *
json_parse_limited(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*v;

	if ((v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		util_seterr(err, errlen, "line %d column %d: %s", je.line,
		    je.column, je.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		util_seterr(err, errlen, "body must be a JSON object");
		return NULL;
	}
	return v;
}

/*
 * Look up key in obj. Returns JSON_GET_OK with *v set, or JSON_GET_ABSENT
 * or JSON_GET_MISSING (with err) when it is missing or null.
 */
static enum json_get
lookup(json_t *obj, const char *key, int required, json_t **v, char *err,
    size_t errlen)
{
	*v = json_object_get(obj, key);
	if (*v != NULL && !json_is_null(*v))
		return JSON_GET_OK;
	if (!required)
		return JSON_GET_ABSENT;
	util_seterr(err, errlen, "'%s' is required", key);
	return JSON_GET_MISSING;
}

/* Get string field key. Returns enum json_get; *out points into obj. */
enum json_get
json_get_str(json_t *obj, const char *key, int required, const char **out,
    char *err, size_t errlen)
{
	enum json_get	 rc;
	json_t		*v;

	if ((rc = lookup(obj, key, required, &v, err, errlen)) != JSON_GET_OK)
		return rc;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		util_seterr(err, errlen, "'%s' must be a string", key);
		return JSON_GET_TYPE;
	}
	*out = json_string_value(v);
	return JSON_GET_OK;
}

/* Get integer field key within [min, max]. Returns enum json_get. */
enum json_get
json_get_int(json_t *obj, const char *key, int required, long long min,
    long long max, long long *out, char *err, size_t errlen)
{
	enum json_get	 rc;
	json_t		*v;
	long long	 n;

	if ((rc = lookup(obj, key, required, &v, err, errlen)) != JSON_GET_OK)
		return rc;
	rc = JSON_GET_TYPE;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n >= min && n <= max) {
			*out = n;
			return JSON_GET_OK;
		}
		rc = JSON_GET_RANGE;
	}
	util_seterr(err, errlen, "'%s' must be an integer between %lld and %lld",
	    key, min, max);
	return rc;
}

/* Get boolean field key as 0 or 1. Returns enum json_get. */
enum json_get
json_get_bool(json_t *obj, const char *key, int required, int *out,
    char *err, size_t errlen)
{
	enum json_get	 rc;
	json_t		*v;

	if ((rc = lookup(obj, key, required, &v, err, errlen)) != JSON_GET_OK)
		return rc;
	if (!json_is_boolean(v)) {
		util_seterr(err, errlen, "'%s' must be true or false", key);
		return JSON_GET_TYPE;
	}
	*out = json_is_true(v);
	return JSON_GET_OK;
}

/* json_dump_callback sink: append to the struct str in data. Returns 0. */
static int
dump_str(const char *buf, size_t len, void *data)
{
	str_append(data, buf, len);
	return 0;
}

/* Append v as compact JSON to out; aborts on a cycle or OOM. */
void
json_to_str(json_t *v, struct str *out)
{
	if (json_dump_callback(v, dump_str, out, JSON_COMPACT |
	    JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) == -1)
		abort();
}

/* Arena deferred free: drop one reference to the json_t p. */
static void
decref(void *p)
{
	json_decref(p);
}

/* Register v for json_decref() at the next reset. Returns v. */
json_t *
json_arena(struct arena *a, json_t *v)
{
	arena_defer(a, decref, v);
	return v;
}
