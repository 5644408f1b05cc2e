/* tmpl_parse.c: load and compile Mustache-like HTML templates */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "str.h"
#include "tmpl.h"
#include "tmpl_int.h"
#include "util.h"

/* What one tag is, between parsing it and making its node. */
struct tag {
	int		 kind;		/* ! # ^ / > or v(ar) u(rl) r(aw) */
	const char	*name;
	size_t		 len;
};

/* Parser state for one file. */
struct parser {
	struct arena	*arena;
	const char	*path;
	const char	*p, *end;
	int		 line;
	char		*err;
	size_t		 errlen;
};

static int	perr(struct parser *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	parse_body(struct parser *, const struct node *,
		    struct node **, int);

/* Report a load error as "path:line: message"; returns -1. */
static int
perr(struct parser *ps, int line, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (ps->err == NULL || ps->errlen == 0)
		return -1;
	n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->path, line);
	if (n < 0 || (size_t)n >= ps->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Count the newlines in [p, e). */
static int
count_lines(const char *p, const char *e)
{
	int	n = 0;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Find the pair "cc" in [p, e); returns its start, or NULL. */
static const char *
find_pair(const char *p, const char *e, char c)
{
	while (p < e && (p = memchr(p, c, (size_t)(e - p))) != NULL) {
		if (p + 1 < e && p[1] == c)
			return p;
		p++;
	}
	return NULL;
}

/* Is c blank: the C locale's white space, the set util_trim_span trims? */
static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

/* Is c allowed in a name part (and with dot_ok, a template name)? */
int
tmpl_is_name_char(int c, int dot_ok)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	    (dot_ok && c == '.');
}

/* Is [p, p+n) "." or dot-separated non-empty parts of name chars? */
static int
valid_name(const char *p, size_t n)
{
	size_t	i;

	if (n == 1 && p[0] == '.')
		return 1;
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] == '.' ? p[i + 1] == '.' :
		    !tmpl_is_name_char(p[i], 0))
			return 0;
	}
	return 1;
}

/* Is [p, p+n) a possible template name for a partial? */
static int
valid_partial(const char *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!tmpl_is_name_char(p[i], 1))
			return 0;
	return n > 0;
}

/* Does [b, e) start with keyword kw followed by a blank? */
static int
has_keyword(const char *b, const char *e, const char *kw)
{
	size_t	n = strlen(kw);

	return (size_t)(e - b) > n && memcmp(b, kw, n) == 0 && is_space(b[n]);
}

/* Split n->text at dots into n->path (arena strings); "." gives none. */
static void
split_name(struct arena *a, struct node *n)
{
	const char	*p = n->text, *dot;
	size_t		 i;

	if (strcmp(p, ".") == 0)
		return;
	n->npath = 1;
	for (dot = p; (dot = strchr(dot, '.')) != NULL; dot++)
		n->npath++;
	n->path = arena_calloc(a, n->npath, sizeof(*n->path));
	for (i = 0; i < n->npath; i++) {
		dot = strchr(p, '.');
		if (dot == NULL)
			dot = p + strlen(p);
		n->path[i] = arena_strndup(a, p, (size_t)(dot - p));
		p = dot + 1;
	}
}

/*
 * Classify the tag text [b, e) found at line into t; returns 0, or -1 with
 * the parser's error set for an empty tag or a bad name.
 */
static int
parse_tag(struct parser *ps, const char *b, const char *e, int line,
    struct tag *t)
{
	const char	*ob = b;
	size_t		 n = (size_t)(e - b);
	int		 ok;

	util_trim_span(&b, &n);
	if (n == 0)
		return perr(ps, line, "empty tag {{}}");
	t->kind = 'v';
	if (memchr("!#^/>", *b, 5) != NULL) {
		t->kind = *b++;
		n--;
	} else if (has_keyword(b, b + n, "raw") ||
	    has_keyword(b, b + n, "url")) {
		t->kind = *b;
		b += 3;
		n -= 3;
	}
	if (t->kind == '!')
		return 0;
	util_trim_span(&b, &n);
	t->name = b;
	t->len = n;
	e = b + n;
	ok = t->kind == '>' ? valid_partial(b, n) : valid_name(b, n);
	if (!ok)
		return perr(ps, line, "bad name in tag {{%.*s}}",
		    (int)(e - ob > 60 ? 60 : e - ob), ob);
	return 0;
}

/* Make a node for tag t at line; arena-allocated, name NUL-terminated. */
static struct node *
tag_node(struct parser *ps, const struct tag *t, int line)
{
	struct node	*n = arena_calloc(ps->arena, 1, sizeof(*n));

	switch (t->kind) {
	case '#':
		n->type = N_SECTION;
		break;
	case '^':
		n->type = N_INVERTED;
		break;
	case '>':
		n->type = N_PARTIAL;
		break;
	case 'u':
		n->type = N_URL;
		break;
	case 'r':
		n->type = N_RAW;
		break;
	default:
		n->type = N_VAR;
		break;
	}
	n->line = line;
	n->text = arena_strndup(ps->arena, t->name, t->len);
	n->len = t->len;
	if (n->type != N_PARTIAL)
		split_name(ps->arena, n);
	return n;
}

/* Make a text node over [b, e) of the (arena-owned) file text. */
static struct node *
text_node(struct parser *ps, const char *b, const char *e)
{
	struct node	*n = arena_calloc(ps->arena, 1, sizeof(*n));

	n->type = N_TEXT;
	n->text = b;
	n->len = (size_t)(e - b);
	return n;
}

/*
 * Check that close tag t ends the open section sec; returns 0, or -1 with
 * the parser's error set.
 */
static int
check_close(struct parser *ps, const struct node *sec, const struct tag *t,
    int line)
{
	if (sec == NULL)
		return perr(ps, line, "{{/%.*s}} without an open section",
		    (int)t->len, t->name);
	if (t->len != sec->len || memcmp(t->name, sec->text, t->len) != 0)
		return perr(ps, line, "{{/%.*s}} does not close "
		    "{{%c%s}} from line %d", (int)t->len, t->name,
		    sec->type == N_SECTION ? '#' : '^', sec->text, sec->line);
	return 0;
}

/*
 * Read the next tag from ps->p (just past its "{{") into t; returns 0, or
 * -1 with the parser's error set for an unclosed "{{" or a bad tag.
 */
static int
next_tag(struct parser *ps, struct tag *t, int *line)
{
	const char	*close;

	*line = ps->line;
	if ((close = find_pair(ps->p, ps->end, '}')) == NULL)
		return perr(ps, *line, "unclosed {{");
	ps->line += count_lines(ps->p, close);
	if (parse_tag(ps, ps->p, close, *line, t) == -1)
		return -1;
	ps->p = close + 2;
	return 0;
}

/*
 * Parse nodes into the list *head until the end of the file (sec NULL) or
 * the close tag of section sec, nest levels deep. Returns 0, or -1 with the
 * parser's error set. Nodes live in the parser's arena.
 */
static int
parse_body(struct parser *ps, const struct node *sec, struct node **head,
    int nest)
{
	struct node	**tail = head, *n;
	const char	*open;
	struct tag	 t = { 0 };
	int		 line;

	for (;;) {
		if ((open = find_pair(ps->p, ps->end, '{')) == NULL)
			open = ps->end;
		if (open > ps->p) {
			*tail = text_node(ps, ps->p, open);
			tail = &(*tail)->next;
		}
		ps->line += count_lines(ps->p, open);
		if ((ps->p = open) == ps->end)
			break;
		ps->p += 2;
		if (next_tag(ps, &t, &line) == -1)
			return -1;
		if (t.kind == '!')
			continue;
		if (t.kind == '/')
			return check_close(ps, sec, &t, line);
		if ((t.kind == '#' || t.kind == '^') && nest >= TMPL_MAX_NEST)
			return perr(ps, line, "sections nested deeper than %d",
			    TMPL_MAX_NEST);
		n = *tail = tag_node(ps, &t, line);
		tail = &n->next;
		if ((t.kind == '#' || t.kind == '^') &&
		    parse_body(ps, n, &n->kids, nest + 1) == -1)
			return -1;
	}
	if (sec != NULL)
		return perr(ps, sec->line, "unclosed section {{%c%s}}",
		    sec->type == N_SECTION ? '#' : '^', sec->text);
	return 0;
}

/* Read the whole file at path into out; returns 0, or -1 with err set. */
static int
read_file(const char *path, struct str *out, char *err, size_t errlen)
{
	char	 buf[8192];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		util_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_seterr(err, errlen, "%s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		str_append(out, buf, (size_t)n);
	}
	close(fd);
	return 0;
}

/*
 * Read and compile template t (name and path already set) into the set's
 * arena, which takes the file text; returns 0, or -1 with err set.
 */
static int
load_one(struct tmpl_set *set, struct tmpl *t, char *err, size_t errlen)
{
	struct str	 s = STR_INIT;
	struct parser	 ps;
	char		*text;
	const char	*nul;
	size_t		 len;

	if (read_file(t->path, &s, err, errlen) == -1) {
		str_free(&s);
		return -1;
	}
	len = s.len;
	text = str_steal(&s);
	arena_defer(set->arena, free, text);
	ps.arena = set->arena;
	ps.path = t->path;
	ps.p = text;
	ps.end = text + len;
	ps.line = 1;
	ps.err = err;
	ps.errlen = errlen;
	if ((nul = memchr(text, '\0', len)) != NULL)
		return perr(&ps, 1 + count_lines(text, nul), "NUL byte");
	return parse_body(&ps, NULL, &t->body, 0);
}

/* Order strings for qsort(). */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Order a name against a template for bsearch(). */
static int
cmp_tmpl(const void *key, const void *elem)
{
	return strcmp(key, ((const struct tmpl *)elem)->name);
}

/* Find template name in the set; returns it, or NULL. */
const struct tmpl *
tmpl_find(const struct tmpl_set *set, const char *name)
{
	if (set->n == 0)
		return NULL;
	return bsearch(name, set->v, set->n, sizeof(*set->v), cmp_tmpl);
}

/* Is file name a template: "*EXT", not hidden, with a non-empty stem? */
static int
is_tmpl_file(const char *name, const char *ext)
{
	size_t	n = strlen(name), e = strlen(ext);

	return name[0] != '.' && n > e && strcmp(name + n - e, ext) == 0;
}

/* Append name to the heap array *v of *n names; aborts on OOM. */
static void
push_name(char ***v, size_t *n, char *name)
{
	char	**p;

	if ((*n & (*n - 1)) == 0) {
		if (*n > SIZE_MAX / sizeof(**v) / 2)
			abort();
		if ((p = realloc(*v, (*n ? *n * 2 : 1) * sizeof(**v))) == NULL)
			abort();
		*v = p;
	}
	(*v)[(*n)++] = name;
}

/*
 * Collect the regular files of dir with the set's extension into the heap
 * array *v of arena names without it; returns their count, or -1 with err.
 */
static ssize_t
list_dir(struct tmpl_set *set, const char *dir, char ***v, char *err,
    size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	size_t		 n = 0;
	ssize_t		 rc = -1;

	if ((d = opendir(dir)) == NULL) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (!is_tmpl_file(de->d_name, set->ext))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == -1) {
			util_seterr(err, errlen, "%s/%s: %s", dir, de->d_name,
			    strerror(errno));
			goto out;
		}
		if (S_ISREG(st.st_mode))
			push_name(v, &n, arena_strndup(set->arena, de->d_name,
			    strlen(de->d_name) - strlen(set->ext)));
	}
	if (errno != 0) {
		util_seterr(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	rc = (ssize_t)n;
out:
	closedir(d);
	return rc;
}

/* Point every partial under list n of t at its template; 0 or -1. */
static int
resolve(const struct tmpl_set *set, const struct tmpl *t, struct node *n,
    char *err, size_t errlen)
{
	for (; n != NULL; n = n->next) {
		if (n->type == N_PARTIAL &&
		    (n->part = tmpl_find(set, n->text)) == NULL) {
			util_seterr(err, errlen, "%s:%d: unknown partial "
			    "{{> %s}}", t->path, n->line, n->text);
			return -1;
		}
		if (resolve(set, t, n->kids, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Fill set->v from dir and compile every template; 0 or -1 with err. */
static int
load_all(struct tmpl_set *set, const char *dir, char *err, size_t errlen)
{
	char	**names = NULL;
	ssize_t	  n;
	size_t	  i;
	int	  rc = -1;

	if ((n = list_dir(set, dir, &names, err, errlen)) == -1)
		goto out;
	if (n > 0)
		qsort(names, (size_t)n, sizeof(*names), cmp_str);
	set->n = (size_t)n;
	set->v = arena_calloc(set->arena, set->n, sizeof(*set->v));
	for (i = 0; i < set->n; i++) {
		set->v[i].name = names[i];
		set->v[i].path = arena_printf(set->arena, "%s/%s%s", dir,
		    names[i], set->ext);
		if (load_one(set, &set->v[i], err, errlen) == -1)
			goto out;
	}
	for (i = 0; i < set->n; i++)
		if (resolve(set, &set->v[i], set->v[i].body, err, errlen) == -1)
			goto out;
	rc = 0;
out:
	free(names);
	return rc;
}

/* A set of dir's HTML files, or with text its plain-text ones; NULL + err. */
static struct tmpl_set *
load_set(const char *dir, int text, char *err, size_t errlen)
{
	struct tmpl_set	*set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		abort();
	set->ext = text ? TMPL_TEXT_EXT : TMPL_EXT;
	set->text = text;
	set->arena = arena_new();
	if (load_all(set, dir, err, errlen) == -1) {
		tmpl_free(set);
		return NULL;
	}
	return set;
}

struct tmpl_set *
tmpl_load(const char *dir, char *err, size_t errlen)
{
	return load_set(dir, 0, err, errlen);
}

struct tmpl_set *
tmpl_load_text(const char *dir, char *err, size_t errlen)
{
	return load_set(dir, 1, err, errlen);
}

void
tmpl_free(struct tmpl_set *set)
{
	if (set == NULL)
		return;
	arena_free(set->arena);
	free(set);
}
