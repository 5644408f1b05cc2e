/* ctl_tokens.c: infrpoolctl tokens count: count standard input with a family's tokenizer */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "str.h"
#include "tok.h"

#define TOKENS_USAGE "usage: infrpoolctl tokens count --family NAME [--dir DIR]\n"
#define TOKENS_MAX_INPUT (256u << 20)	/* bytes of standard input */

/* All of standard input into s; -1 past TOKENS_MAX_INPUT or on error. */
static int
read_stdin(struct str *s)
{
	char	buf[65536];
	size_t	n;

	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		if (s->len + n > TOKENS_MAX_INPUT)
			return -1;
		str_append(s, buf, n);
	}
	return ferror(stdin) ? -1 : 0;
}

/* Count standard input and print the number. */
static int
count(const char *dir, const char *family)
{
	struct str	 in = STR_INIT;
	struct tok	*t;
	char		 err[512];
	int		 rc = 1;

	if ((t = tok_load_family(dir, family, err, sizeof(err))) == NULL) {
		fprintf(stderr, "infrpoolctl: %s\n", err);
		return 1;
	}
	if (read_stdin(&in) == -1)
		fprintf(stderr, "infrpoolctl: cannot read standard input (at "
		    "most %u MiB)\n", TOKENS_MAX_INPUT >> 20);
	else {
		printf("%zu\n", tok_count(t, in.buf == NULL ? "" : in.buf,
		    in.len));
		rc = 0;
	}
	str_free(&in);
	tok_free(t);
	return rc;
}

int
ctl_tokens(struct ctl *ctl, int argc, char **argv)
{
	const char	*family = NULL, *dir;
	int		 i;

	dir = cfg_str(ctl->cfg, "tokenizers", "dir",
	    IP_PKGDATADIR "/tokenizers");
	if (argc < 2 || strcmp(argv[1], "count") != 0) {
		fputs(TOKENS_USAGE, stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--family") == 0 && i + 1 < argc)
			family = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else {
			fputs(TOKENS_USAGE, stderr);
			return 2;
		}
	}
	if (family == NULL) {
		fputs(TOKENS_USAGE, stderr);
		return 2;
	}
	return count(dir, family);
}
