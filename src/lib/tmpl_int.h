/* tmpl_int.h: the compiled form of templates, shared by parse and render */
#ifndef IP_TMPL_INT_H
#define IP_TMPL_INT_H

#include <stddef.h>

#define TMPL_EXT	".html"		/* an HTML set's files */
#define TMPL_TEXT_EXT	".txt"		/* a plain-text set's files */

enum ntype {
	N_TEXT,		/* literal bytes */
	N_VAR,		/* {{name}}: HTML-escaped */
	N_URL,		/* {{url name}}: percent-encoded */
	N_RAW,		/* {{raw name}}: as-is */
	N_SECTION,	/* {{#name}}...{{/name}} */
	N_INVERTED,	/* {{^name}}...{{/name}} */
	N_PARTIAL	/* {{> name}} */
};

/* One compiled piece of a template; a body is a list of these. */
struct node {
	enum ntype		 type;
	int			 line;	/* where the tag starts */
	const char		*text;	/* N_TEXT bytes, else the tag's name */
	size_t			 len;
	const char		**path;	/* name split at dots; none for "." */
	size_t			 npath;
	struct node		*kids;	/* section body */
	const struct tmpl	*part;	/* N_PARTIAL target, set at load */
	struct node		*next;
};

struct tmpl {
	const char	*name;		/* file name without its extension */
	const char	*path;		/* dir/name.html, for load errors */
	struct node	*body;
};

struct tmpl_set {
	const char	*ext;		/* TMPL_EXT or TMPL_TEXT_EXT */
	int		 text;		/* plain text: {{name}} as-is */
	struct arena	*arena;		/* nodes, names and file texts */
	struct tmpl	*v;		/* sorted by name */
	size_t		 n;
};

/* Find template name in the set; returns it, or NULL. */
const struct tmpl	*tmpl_find(const struct tmpl_set *, const char *name);

/* Is c allowed in a name part (and with dot_ok, a template name)? */
int			 tmpl_is_name_char(int c, int dot_ok);

#endif
