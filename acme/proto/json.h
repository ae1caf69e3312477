/*
 * json: the only Jansson user.  Parses CA replies (RFC 8555 §7.1 objects,
 * RFC 7807 problem documents, RFC 9773 renewal info) into typed structs at
 * the edge, and builds request payloads.  Parsers fill a caller-provided
 * struct (zeroed first) and return 0, or -1 (logged) on malformed input;
 * the matching *_free() releases the members (never the struct itself)
 * and accepts a zeroed or partly filled struct.  Unknown members are
 * ignored; wrong types of required members are errors.
 */
#ifndef ACME_PROTO_JSON_H
#define ACME_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/buf.h"

/* Status of accounts, orders, authorizations and challenges. */
enum acme_status {
	ACME_ST_UNKNOWN, /* absent or a value we do not know */
	ACME_ST_PENDING,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_EXPIRED,
	ACME_ST_DEACTIVATED,
	ACME_ST_REVOKED,
	ACME_ST_MAX
};

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

struct acme_directory {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *new_authz; /* optional */
	char *revoke_cert;
	char *key_change;
	char *renewal_info;     /* RFC 9773, optional */
	char *terms_of_service; /* meta.termsOfService */
	char *website;          /* meta.website */
	bool eab_required;      /* meta.externalAccountRequired */
	char **caa_identities;  /* meta.caaIdentities */
	size_t n_caa;
	char **profiles; /* names of meta.profiles (draft) */
	size_t n_profiles;
};

struct acme_account {
	enum acme_status status;
	char **contact;
	size_t n_contact;
	bool tos_agreed;
	char *orders; /* URL, optional */
};

struct acme_order {
	enum acme_status status;
	time_t expires; /* 0 if absent */
	struct acme_identifier *identifiers;
	size_t n_identifiers;
	char **authorizations; /* URLs */
	size_t n_authorizations;
	char *finalize;
	char *certificate;          /* NULL until valid */
	char *profile;              /* draft, optional */
	struct acme_problem *error; /* NULL if none */
};

struct acme_challenge {
	char *type; /* "email-reply-00", "http-01", ... */
	char *url;
	enum acme_status status;
	char *token; /* token-part2 for email-reply-00: a secret, never log */
	char *from;  /* RFC 8823: the challenge mail's sender, or NULL */
	time_t validated;
	struct acme_problem *error;
};

struct acme_authz {
	enum acme_status status;
	time_t expires; /* 0 if absent */
	struct acme_identifier identifier;
	bool wildcard;
	struct acme_challenge *challenges;
	size_t n_challenges;
};

/* RFC 9773 renewal information. */
struct acme_renewal_info {
	time_t start; /* suggestedWindow */
	time_t end;
	char *explanation_url; /* or NULL */
};

/* Status name <-> enum ("pending" ...); ACME_ST_UNKNOWN if unknown. */
enum acme_status json_status_parse(const char *s);
const char *json_status_name(enum acme_status st);

int json_parse_directory(
    const char *text, size_t len, struct acme_directory *out);
int json_parse_account(const char *text, size_t len, struct acme_account *out);
/* An account's orders list {"orders": ["url", ...]} (RFC 8555 §7.1.2.1):
 * *urls is a malloc'ed array of n malloc'ed strings (free each and the
 * array).  0 / -1 (logged). */
int json_parse_orders_list(
    const char *text, size_t len, char ***urls, size_t *n);
int json_parse_order(const char *text, size_t len, struct acme_order *out);
int json_parse_authz(const char *text, size_t len, struct acme_authz *out);
int json_parse_challenge(
    const char *text, size_t len, struct acme_challenge *out);
int json_parse_problem(const char *text, size_t len, struct acme_problem *out);
int json_parse_renewal_info(
    const char *text, size_t len, struct acme_renewal_info *out);

void json_directory_free(struct acme_directory *d);
void json_account_free(struct acme_account *a);
void json_order_free(struct acme_order *o);
void json_authz_free(struct acme_authz *a);
void json_challenge_free(struct acme_challenge *c);
void json_problem_free(struct acme_problem *p);
void json_identifier_free(struct acme_identifier *id);
void json_renewal_info_free(struct acme_renewal_info *r);
/* Free an array of n malloc'ed strings and the array itself (the string
 * lists of the structs above, cert_emails()); NULL is fine. */
void json_strings_free(char **v, size_t n);

/* Deep copy of a problem (for keeping one past the response); NULL on
 * ENOMEM.  Free with json_problem_free() then free(). */
struct acme_problem *json_problem_dup(const struct acme_problem *p);

/*
 * "type: detail" for display, with the "urn:ietf:params:acme:error:"
 * prefix kept, and each subproblem appended as "; identifier: type:
 * detail".  Appends to out; 0 / -1.
 */
int json_problem_format(const struct acme_problem *p, struct buf *out);

/* The problem's type without the ACME URN prefix ("badNonce"), or the
 * full type for other namespaces; "" if none.  Points into p. */
const char *json_problem_short(const struct acme_problem *p);

/* Append s as a JSON string literal (quotes, escapes) to out; 0 / -1. */
int json_quote(struct buf *out, const char *s);

/*
 * Request payload builders.  Each returns a malloc'ed compact JSON text
 * (caller frees) or NULL on failure.
 */
/* newAccount (RFC 8555 §7.3): contact may be NULL; eab_jws is the raw
 * JSON of the EAB inner JWS or NULL; only_existing adds
 * onlyReturnExisting (and nothing else). */
char *json_build_new_account(const char *const *contact, size_t n_contact,
    bool agree_tos, const char *eab_jws, bool only_existing);
/* newOrder: identifiers, optional RFC 9773 replaces, optional profile. */
char *json_build_new_order(const struct acme_identifier *ids, size_t n,
    const char *replaces, const char *profile);
/* finalize: {"csr": csr_b64url}. */
char *json_build_finalize(const char *csr_b64url);
/* revokeCert: {"certificate": ..., "reason": n}; reason < 0 omits it. */
char *json_build_revoke(const char *cert_b64url, int reason);
/* {"status": status}, for deactivation. */
char *json_build_status(const char *status);
/* keyChange inner payload: {"account": url, "oldKey": <old_jwk JSON>}. */
char *json_build_key_change(const char *account_url, const char *old_jwk);
/* {"contact": [...]}, for an account update. */
char *json_build_contact(const char *const *contact, size_t n_contact);

#endif
