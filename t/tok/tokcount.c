/* tokcount.c: count many texts with one tokenizer (the peer test, bench/tokenize) */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "str.h"
#include "tok.h"

/*
 * Standard input holds texts, each a 4-byte little-endian length and its
 * bytes. For each text a line goes out: its count, or with --ids its
 * token ids. With --repeat N every text is counted N times over and a
 * line "BYTES NANOSECONDS" goes out for each round instead.
 */
#define USAGE "usage: tokcount (--file PATH | --dir DIR --family NAME) " \
	"[--ids | --repeat N] < texts\n"

struct text {
	size_t	off, len;
};

/* Read every text into all, their places into *texts; the count. */
static size_t
read_texts(struct str *all, struct text **texts)
{
	unsigned char	hdr[4];
	size_t		n = 0, cap = 0, len;
	char		buf[65536];

	*texts = NULL;
	while (fread(hdr, 1, 4, stdin) == 4) {
		len = (size_t)hdr[0] | (size_t)hdr[1] << 8 |
		    (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((*texts = realloc(*texts, cap * sizeof(**texts))) ==
			    NULL)
				abort();
		}
		(*texts)[n].off = all->len;
		(*texts)[n].len = len;
		while (len > 0) {
			size_t	k = fread(buf, 1, len < sizeof(buf) ? len :
			    sizeof(buf), stdin);

			if (k == 0) {
				fprintf(stderr, "tokcount: short text\n");
				exit(1);
			}
			str_append(all, buf, k);
			len -= k;
		}
		n++;
	}
	return n;
}

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Print each text's count or ids. */
static void
each(struct tok *t, const char *all, struct text *tx, size_t n, int ids)
{
	int32_t	*v;
	size_t	 i, k, m;

	for (i = 0; i < n; i++) {
		if (!ids) {
			printf("%zu\n", tok_count(t, all + tx[i].off, tx[i].len));
			continue;
		}
		tok_encode(t, all + tx[i].off, tx[i].len, &v, &m);
		for (k = 0; k < m; k++)
			printf(k ? " %" PRId32 : "%" PRId32, v[k]);
		putchar('\n');
		free(v);
	}
}

int
main(int argc, char **argv)
{
	const char	*file = NULL, *dir = NULL, *family = NULL;
	struct text	*tx;
	struct str	 all = STR_INIT;
	struct tok	*t;
	char		 err[512];
	size_t		 n, i;
	int64_t		 t0, sum;
	long		 repeat = 0, r;
	int		 ids = 0, a;

	for (a = 1; a < argc; a++)
		if (strcmp(argv[a], "--file") == 0 && a + 1 < argc)
			file = argv[++a];
		else if (strcmp(argv[a], "--dir") == 0 && a + 1 < argc)
			dir = argv[++a];
		else if (strcmp(argv[a], "--family") == 0 && a + 1 < argc)
			family = argv[++a];
		else if (strcmp(argv[a], "--repeat") == 0 && a + 1 < argc)
			repeat = strtol(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--ids") == 0)
			ids = 1;
		else {
			fputs(USAGE, stderr);
			return 2;
		}
	if (file == NULL && (dir == NULL || family == NULL)) {
		fputs(USAGE, stderr);
		return 2;
	}
	t = file ? tok_load(file, err, sizeof(err)) :
	    tok_load_family(dir, family, err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "tokcount: %s\n", err);
		return 1;
	}
	n = read_texts(&all, &tx);
	if (repeat <= 0)
		each(t, all.buf, tx, n, ids);
	for (r = 0; r < repeat; r++) {
		t0 = now_ns();
		for (sum = 0, i = 0; i < n; i++)
			sum += (int64_t)tok_count(t, all.buf + tx[i].off,
			    tx[i].len);
		printf("%zu %" PRId64 " %" PRId64 "\n", all.len, now_ns() - t0,
		    sum);
	}
	free(tx);
	str_free(&all);
	tok_free(t);
	return 0;
}
