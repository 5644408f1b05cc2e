/* json.h: Jansson helpers for request bodies and responses */
#ifndef IP_JSON_H
#define IP_JSON_H

#include <stddef.h>

#include <jansson.h>

struct arena;
struct str;

/*
 * What a typed getter found. Negative values are errors with a message
 * naming the field; JSON_GET_ABSENT is a missing or null field that was
 * not required, and leaves *out untouched (so callers preset a default).
 */
enum json_get {
	JSON_GET_RANGE = -3,	/* right type, out of range */
	JSON_GET_TYPE = -2,	/* wrong type */
	JSON_GET_MISSING = -1,	/* required but missing or null */
	JSON_GET_OK = 0,	/* *out set */
	JSON_GET_ABSENT = 1,	/* optional and missing or null */
};

/*
 * Parse len bytes of buf as one JSON object, rejecting duplicate keys and
 * trailing data (Jansson caps nesting at JSON_PARSER_MAX_DEPTH). Returns a
 * new reference the caller must json_decref() (or hand to json_arena()),
 * or NULL with "line L column C: reason" or "body must be a JSON object"
 * in err.
 */
json_t		*json_parse_limited(const char *buf, size_t len, char *err,
		    size_t errlen);

/*
 * Typed getters for field key of obj, all returning enum json_get and on
 * error writing a message naming the field to err, e.g. "'max_tokens'
 * must be an integer between 1 and 1000000". A JSON null counts as
 * missing. json_get_str rejects strings with a NUL; *out points into obj
 * and lives as long as obj does. json_get_int accepts JSON integers only
 * (not 1.0) within [min, max]. json_get_bool sets *out to 0 or 1.
 */
enum json_get	 json_get_str(json_t *obj, const char *key, int required,
		    const char **out, char *err, size_t errlen);
enum json_get	 json_get_int(json_t *obj, const char *key, int required,
		    long long min, long long max, long long *out, char *err,
		    size_t errlen);
enum json_get	 json_get_bool(json_t *obj, const char *key, int required,
		    int *out, char *err, size_t errlen);

/*
 * Append v (any JSON value, not NULL) as compact JSON with keys in
 * insertion order and UTF-8 left as is. Aborts on a cycle or OOM.
 */
void		 json_to_str(json_t *v, struct str *out);

/*
 * Hand the caller's reference to v to the arena, which json_decref()s it
 * at the next reset. Returns v (NULL stays NULL), so a new value can be
 * made and registered in one expression.
 */
json_t		*json_arena(struct arena *, json_t *v);

#endif
