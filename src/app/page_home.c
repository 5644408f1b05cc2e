/* page_home.c: GET /, the landing page */
#include "config.h"

#include "app.h"
#include "json.h"

/* The landing page: what infrpool is and how to start, either side. */
int
page_home(struct req *r)
{
	return resp_page(r, 200, "home", json_arena(r->arena,
	    json_pack("{s:s}", "title",
	    "Inference from a pool of nodes")));
}
