/*
 * json: the only Jansson user.  Parses CA replies (RFC 8555 §7.1 objects,
 * RFC 7807 problem documents, RFC 9773 renewal info) into typed structs at
 * the edge, and builds all JSON text: request payloads (json_pack, "s*"
 * for optional members), the JWK and JWS, and the requester's --json
 * output through checked builders.  Parsers fill a caller-provided
 * struct (zeroed first) and return 0, or -1 (logged) on malformed input;
 * the matching *_free() releases the members (never the struct itself)
 * and accepts a zeroed or partly filled struct.  Unknown members are
 * ignored; wrong types of required members are errors.
 */
#ifndef ACME_PROTO_JSON_H
#define ACME_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "acme/pki/key.h"
#include "acme/proto/problem.h"
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
void json_identifier_free(struct acme_identifier *id);
void json_renewal_info_free(struct acme_renewal_info *r);
/* Free an array of n malloc'ed strings and the array itself (the string
 * lists of the structs above, cert_emails()); NULL is fine. */
void json_strings_free(char **v, size_t n);

/*
 * The top-level string members names[0..n) of the JSON object text (a
 * stored file such as a certbot account's regr.json or JWK): out[i] is a
 * malloc'ed copy, or NULL where the member is absent.  A member that is
 * not a string, or text that is not an object, is an error naming what
 * (never the values).  0 / -1; on -1 every out[i] is NULL.  The caller
 * wipes (secrets) and frees the strings.
 */
int json_string_members(const char *text, size_t len, const char *what,
    const char *const *names, size_t n, char **out);

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
/* keyChange inner payload: {"account": url, "oldKey": JWK of old_key}. */
char *json_build_key_change(const char *account_url, const struct key *old_key);

/*
 * JOSE text (jws.c signs it).  The public JWK of k, canonical as the
 * RFC 7638 thumbprint input: required members only, lexicographic order,
 * no white space ({"e":"AQAB","kty":"RSA","n":"..."}).
 */
char *json_build_jwk(const struct key *k);
/* The JWS protected header {"alg", "jwk" | "kid", "nonce", "url"} (RFC 8555
 * §6.2): jwk (embedded as its JWK) or kid, nonce may be NULL. */
char *json_build_jws_header(const char *alg, const struct key *jwk,
    const char *kid, const char *nonce, const char *url);
/* The flattened JWS {"protected", "payload", "signature"} (RFC 7515 §7.2.2)
 * from its three base64url parts. */
char *json_build_jws(const char *protected_b64, const char *payload_b64,
    const char *signature_b64);

/*
 * Output builders for the requester's --json (account, spool listing,
 * issue, revoke, renew, batch results).  Build an object or array with the
 * setters, then print or append it: all or nothing, so a member that
 * cannot be encoded (no memory, a string that is not UTF-8) prints
 * nothing and the final call returns -1 (logged).  Setters record the
 * first failure in the builder and accept a NULL builder, so only the
 * final call needs checking.  Members keep the order they were set in.
 */
struct json_out; /* opaque */
/* An empty object / array; NULL on ENOMEM (the final call then fails). */
struct json_out *json_out_object(void);
struct json_out *json_out_array(void);
/* Set a string member (NULL writes null), an integer, a string array. */
void json_out_str(struct json_out *o, const char *key, const char *v);
void json_out_int(struct json_out *o, const char *key, long long v);
void json_out_strs(
    struct json_out *o, const char *key, const char *const *v, size_t n);
/* Append object o (consumed) to array a. */
void json_out_push(struct json_out *a, struct json_out *o);
/* Print o compactly and a newline to fp; frees o.  0 / -1 (logged). */
int json_out_print(struct json_out *o, FILE *fp);
/* Append array a to out as "[", one compact member per line, "]" and a
 * newline; frees a.  out is unchanged on failure.  0 / -1 (logged). */
int json_out_rows(struct json_out *a, struct buf *out);
/* Free without output (NULL is fine). */
void json_out_free(struct json_out *o);

#endif
