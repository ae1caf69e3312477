/*
 * problem: RFC 7807 problem documents as ACME uses them (RFC 8555 §6.7),
 * after json.c has parsed one: free, deep copy, the short type for
 * decisions ("badNonce") and the one-line text for messages.  Pure; the
 * struct and the identifier it names are defined here, json.h includes
 * this header.
 */
#ifndef ACME_PROTO_PROBLEM_H
#define ACME_PROTO_PROBLEM_H

#include <stddef.h>

#include "common/buf.h"

struct acme_identifier {
	char *type; /* "email", "dns", ... */
	char *value;
};

/* RFC 7807 problem document (RFC 8555 §6.7), with subproblems. */
struct acme_problem {
	char *type;   /* e.g. "urn:ietf:params:acme:error:badNonce" */
	char *detail; /* may be NULL */
	char *instance;
	long status;                       /* "status" member, 0 if absent */
	struct acme_identifier identifier; /* of a subproblem; NULLs if none */
	struct acme_problem *sub;          /* subproblems */
	size_t n_sub;
};

/* Free the members (never p itself); NULL and zeroed structs are fine. */
void problem_free(struct acme_problem *p);

/* Deep copy of a problem (for keeping one past the response); NULL on
 * ENOMEM.  Free with problem_free() then free(). */
struct acme_problem *problem_dup(const struct acme_problem *p);

/*
 * "type: detail" for display, with the "urn:ietf:params:acme:error:"
 * prefix kept, and each subproblem appended as "; identifier: type:
 * detail".  Appends to out; 0 / -1.
 */
int problem_format(const struct acme_problem *p, struct buf *out);

/* The problem's type without the ACME URN prefix ("badNonce"), or the
 * full type for other namespaces; "" if none.  Points into p. */
const char *problem_short(const struct acme_problem *p);

#endif
