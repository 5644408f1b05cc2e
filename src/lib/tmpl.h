/* tmpl.h: Mustache-like HTML templates, compiled once and rendered from JSON */
#ifndef IP_TMPL_H
#define IP_TMPL_H

#include <stddef.h>

#include <jansson.h>

#include "str.h"

/*
 * A template set is every *.html file of one directory, parsed once at
 * startup; the template name is the file name without ".html". Rendering
 * only walks the compiled form and never changes it, so one set can serve
 * any number of renders (and threads) at once.
 *
 * Tags (whitespace inside the braces is ignored, {{ a }} == {{a}}):
 *
 *   {{name}}         the value, HTML-escaped (& < > " ' become &amp; &lt;
 *                    &gt; &quot; &#39;). Strings print as-is, integers and
 *                    reals plainly, true/false as words, null as nothing.
 *                    An object or array, or a MISSING key, fails the render
 *                    with "tmpl:line: missing key 'a.b'".
 *   {{a.b.c}}        dotted names walk objects. The first part is looked up
 *                    from the innermost section out to the root context;
 *                    the rest must follow from where the first was found.
 *                    Beware: a key missing from an item is taken from an
 *                    outer level, so each item of a recursive list needs
 *                    its own (possibly empty) list of children.
 *   {{.}}            the current item (an element of a list of scalars).
 *   {{url name}}     the value percent-encoded for a URL path segment or
 *                    query component: only A-Z a-z 0-9 - . _ ~ are kept, so
 *                    the result is also safe inside an HTML attribute.
 *   {{raw name}}     the value UNESCAPED. Only for trusted HTML built by
 *                    our own code, never for user data; it is spelled
 *                    "{{raw " so that grep finds every use.
 *   {{#name}}...{{/name}}
 *                    section: an array renders the body once per element
 *                    (pushed on the context stack), an object once (pushed),
 *                    true / a non-empty string / a non-zero number once
 *                    (context unchanged); false, null, [], "", 0 and a
 *                    missing key render nothing (missing is no error here).
 *   {{^name}}...{{/name}}
 *                    inverted section: renders once exactly when the
 *                    section would render nothing.
 *   {{> other}}      the template "other" of the same set, rendered with the
 *                    current context stack; unknown names fail at load.
 *   {{! text }}      a comment, dropped.
 *
 * There is no way to write a literal "{{" and no triple-brace form; a tag
 * on a line of its own leaves that line's newline in the output.
 */

struct tmpl_set;

#define TMPL_MAX_DEPTH	16	/* partials nested deeper fail the render */
#define TMPL_MAX_NEST	64	/* sections nested deeper fail the load */

/*
 * Load and compile every regular *.html file in dir. Returns a heap-owned
 * set (release with tmpl_free()), or NULL with a message in err such as
 * "dir/home.html:12: unclosed section {{#items}}". Aborts on OOM.
 */
struct tmpl_set	*tmpl_load(const char *dir, char *err, size_t errlen);

/*
 * The same for every regular *.txt file of dir: a plain-text set (mail),
 * where {{name}} prints the value as-is; {{url name}} still encodes.
 */
struct tmpl_set	*tmpl_load_text(const char *dir, char *err, size_t errlen);

/* Release a set and everything it compiled. NULL is a no-op. */
void		 tmpl_free(struct tmpl_set *);

/*
 * Render template name with the context ctx (normally an object; NULL acts
 * as an empty one), appending to out. Returns 0, or -1 with err set (unknown
 * template, missing key, unprintable value, partials too deep); out may then
 * hold partial output that the caller discards. Only out allocates.
 */
int		 tmpl_render(const struct tmpl_set *, const char *name,
		    json_t *ctx, struct str *out, char *err, size_t errlen);

/* Append len bytes HTML-escaped (& < > " '; NUL bytes are dropped). */
void		 tmpl_escape_html(struct str *, const char *, size_t);

/* Append len bytes percent-encoded, keeping only A-Za-z0-9 and -._~ */
void		 tmpl_escape_url(struct str *, const char *, size_t);

#endif
