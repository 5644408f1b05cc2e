/* tmpl_render.c: render compiled templates from JSON, and the escapers */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "str.h"
#include "tmpl.h"
#include "tmpl_int.h"
#include "util.h"

/* One level of the context stack, linked from innermost to the root. */
struct frame {
	json_t			*v;
	const struct frame	*up;
};

/* Render state shared by every level of one tmpl_render() call. */
struct render {
	int		 text;		/* a plain-text set: {{name}} as-is */
	struct str	*out;
	int		 depth;		/* partials entered */
	char		*err;
	size_t		 errlen;
};

static int	rerr(struct render *, const struct tmpl *, const struct node *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static int	render_list(struct render *, const struct tmpl *,
		    const struct node *, const struct frame *);

/* Report a render error as "template:line: message"; returns -1. */
static int
rerr(struct render *r, const struct tmpl *t, const struct node *n,
    const char *fmt, ...)
{
	va_list	ap;
	int	k;

	if (r->err == NULL || r->errlen == 0)
		return -1;
	k = snprintf(r->err, r->errlen, "%s:%d: ", t->name, n->line);
	if (k < 0 || (size_t)k >= r->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return -1;
}

void
tmpl_escape_html(struct str *out, const char *p, size_t len)
{
	const char	*rep;
	size_t		 i, start = 0;

	for (i = 0; i < len; i++) {
		switch (p[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		case '\0':
			rep = "";
			break;
		default:
			continue;
		}
		str_append(out, p + start, i - start);
		str_puts(out, rep);
		start = i + 1;
	}
	str_append(out, p + start, len - start);
}

void
tmpl_escape_url(struct str *out, const char *p, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	unsigned char		 c;
	char			 enc[3];
	size_t			 i, start = 0;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (tmpl_is_name_char(c, 1) || c == '~')
			continue;
		str_append(out, p + start, i - start);
		enc[0] = '%';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		str_append(out, enc, sizeof(enc));
		start = i + 1;
	}
	str_append(out, p + start, len - start);
}

/* Find node n's name on the context stack f; returns it, NULL if missing. */
static json_t *
lookup(const struct node *n, const struct frame *f)
{
	json_t	*v = NULL;
	size_t	 i;

	if (n->npath == 0)
		return f->v;
	for (; f != NULL && v == NULL; f = f->up)
		v = json_object_get(f->v, n->path[0]);
	for (i = 1; v != NULL && i < n->npath; i++)
		v = json_object_get(v, n->path[i]);
	return v;
}

/* Print d in the fewest digits that read back the same; returns length. */
static size_t
fmt_real(char *buf, size_t size, double d)
{
	int	prec, n = 0;

	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n > 0 ? (size_t)n : 0;
}

/* Append the bytes s of node n's value with n's escaping. */
static void
emit(struct render *r, const struct node *n, const char *s, size_t len)
{
	if (n->type == N_URL)
		tmpl_escape_url(r->out, s, len);
	else if (n->type == N_RAW || r->text)
		str_append(r->out, s, len);
	else
		tmpl_escape_html(r->out, s, len);
}

/* Render a {{name}}, {{url name}} or {{raw name}} node; 0 or -1. */
static int
render_var(struct render *r, const struct tmpl *t, const struct node *n,
    const struct frame *f)
{
	json_t	*v;
	char	 num[64];

	if ((v = lookup(n, f)) == NULL)
		return rerr(r, t, n, "missing key '%s'", n->text);
	switch (json_typeof(v)) {
	case JSON_STRING:
		emit(r, n, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		emit(r, n, num, strlen(num));
		return 0;
	case JSON_REAL:
		emit(r, n, num, fmt_real(num, sizeof(num), json_real_value(v)));
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		str_puts(r->out, json_is_true(v) ? "true" : "false");
		return 0;
	case JSON_NULL:
		return 0;
	default:
		return rerr(r, t, n, "'%s' is an %s, not a value", n->text,
		    json_is_object(v) ? "object" : "array");
	}
}

/* Would a section over v render nothing (false, null, [], "", 0, missing)? */
static int
is_empty(json_t *v)
{
	switch (v == NULL ? JSON_NULL : json_typeof(v)) {
	case JSON_ARRAY:
		return json_array_size(v) == 0;
	case JSON_STRING:
		return json_string_length(v) == 0;
	case JSON_INTEGER:
		return json_integer_value(v) == 0;
	case JSON_REAL:
		return json_real_value(v) == 0.0;
	case JSON_OBJECT:
	case JSON_TRUE:
		return 0;
	default:
		return 1;
	}
}

/* Render a section or inverted section node; 0 or -1. */
static int
render_section(struct render *r, const struct tmpl *t, const struct node *n,
    const struct frame *f)
{
	json_t		*v = lookup(n, f), *e;
	struct frame	 sub;
	size_t		 i;

	if (n->type == N_INVERTED)
		return is_empty(v) ? render_list(r, t, n->kids, f) : 0;
	if (is_empty(v))
		return 0;
	sub.up = f;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			sub.v = e;
			if (render_list(r, t, n->kids, &sub) == -1)
				return -1;
		}
		return 0;
	}
	if (!json_is_object(v))
		return render_list(r, t, n->kids, f);
	sub.v = v;
	return render_list(r, t, n->kids, &sub);
}

/* Render a partial with the current context stack; 0 or -1. */
static int
render_partial(struct render *r, const struct tmpl *t, const struct node *n,
    const struct frame *f)
{
	int	rc;

	if (r->depth >= TMPL_MAX_DEPTH)
		return rerr(r, t, n, "partials nested deeper than %d at "
		    "{{> %s}}", TMPL_MAX_DEPTH, n->text);
	r->depth++;
	rc = render_list(r, n->part, n->part->body, f);
	r->depth--;
	return rc;
}

/* Render the node list n of template t with context stack f; 0 or -1. */
static int
render_list(struct render *r, const struct tmpl *t, const struct node *n,
    const struct frame *f)
{
	int	rc = 0;

	for (; n != NULL && rc == 0; n = n->next) {
		switch (n->type) {
		case N_TEXT:
			str_append(r->out, n->text, n->len);
			break;
		case N_VAR:
		case N_URL:
		case N_RAW:
			rc = render_var(r, t, n, f);
			break;
		case N_SECTION:
		case N_INVERTED:
			rc = render_section(r, t, n, f);
			break;
		case N_PARTIAL:
			rc = render_partial(r, t, n, f);
			break;
		}
	}
	return rc;
}

int
tmpl_render(const struct tmpl_set *set, const char *name, json_t *ctx,
    struct str *out, char *err, size_t errlen)
{
	const struct tmpl	*t;
	struct render		 r = { set->text, out, 0, err, errlen };
	struct frame		 root = { ctx, NULL };

	if ((t = tmpl_find(set, name)) == NULL) {
		util_seterr(err, errlen, "unknown template '%s'", name);
		return -1;
	}
	return render_list(&r, t, t->body, &root);
}
