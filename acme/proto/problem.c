/*
 * problem: free, copy and display of RFC 7807 problem documents (see
 * problem.h).  Moved out of json.c, which parses them; callers: acme.c
 * (last problem of a client), order.c, the requester's classifiers.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "acme/proto/acme.h"
#include "acme/proto/problem.h"

void
problem_free(struct acme_problem *p)
{
	size_t i;

	if (p == NULL) {
		return;
	}
	free(p->type);
	free(p->detail);
	free(p->instance);
	free(p->identifier.type);
	free(p->identifier.value);
	for (i = 0; i < p->n_sub; i++) {
		problem_free(&p->sub[i]);
	}
	free(p->sub);
	memset(p, 0, sizeof(*p));
}

static char *
strdup_or_null(const char *s, bool *fail)
{
	char *r;

	if (s == NULL) {
		return NULL;
	}
	if ((r = strdup(s)) == NULL) {
		*fail = true;
	}
	return r;
}

static int
problem_copy(struct acme_problem *dst, const struct acme_problem *src)
{
	bool fail = false;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->type = strdup_or_null(src->type, &fail);
	dst->detail = strdup_or_null(src->detail, &fail);
	dst->instance = strdup_or_null(src->instance, &fail);
	dst->status = src->status;
	dst->identifier.type = strdup_or_null(src->identifier.type, &fail);
	dst->identifier.value = strdup_or_null(src->identifier.value, &fail);
	if (!fail && src->n_sub > 0) {
		dst->sub = calloc(src->n_sub, sizeof(*dst->sub));
		if (dst->sub == NULL) {
			fail = true;
		}
		for (i = 0; !fail && i < src->n_sub; i++) {
			if (problem_copy(&dst->sub[i], &src->sub[i]) < 0) {
				fail = true;
			}
			dst->n_sub = i + 1;
		}
	}
	if (fail) {
		problem_free(dst);
		return -1;
	}
	return 0;
}

struct acme_problem *
problem_dup(const struct acme_problem *p)
{
	struct acme_problem *d;

	if ((d = malloc(sizeof(*d))) == NULL) {
		return NULL;
	}
	if (problem_copy(d, p) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

const char *
problem_short(const struct acme_problem *p)
{
	size_t n = strlen(ACME_ERR_PREFIX);

	if (p == NULL || p->type == NULL) {
		return "";
	}
	if (strncmp(p->type, ACME_ERR_PREFIX, n) == 0) {
		return p->type + n;
	}
	return p->type;
}

int
problem_format(const struct acme_problem *p, struct buf *out)
{
	size_t i;
	int rc;

	rc =
	    buf_printf(out, "%s: %s", p->type != NULL ? p->type : "about:blank",
		p->detail != NULL ? p->detail : "(no detail)");
	for (i = 0; rc == 0 && i < p->n_sub; i++) {
		const struct acme_problem *s = &p->sub[i];

		rc = buf_printf(out, "; %s%s%s: %s: %s",
		    s->identifier.type != NULL ? s->identifier.type : "",
		    s->identifier.type != NULL ? " " : "",
		    s->identifier.value != NULL ? s->identifier.value : "-",
		    s->type != NULL ? s->type : "about:blank",
		    s->detail != NULL ? s->detail : "(no detail)");
	}
	return rc;
}
