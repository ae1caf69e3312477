/*
 * acct: ACME accounts (RFC 8555 §7.3): create (with terms agreement,
 * contacts and External Account Binding), look up by key
 * (onlyReturnExisting), fetch, update contacts, key rollover and
 * deactivation.  Works on a struct acme_client; on success the client's
 * account key and kid are set so later requests are signed with "kid".
 */
#ifndef ACME_PROTO_ACCT_H
#define ACME_PROTO_ACCT_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/proto/acme.h"

struct acct_opts {
	const char *const *contact; /* "mailto:..." URIs, may be NULL */
	size_t n_contact;
	bool agree_tos;       /* set termsOfServiceAgreed */
	const char *eab_kid;  /* External Account Binding key id, or NULL */
	const char *eab_hmac; /* its base64url MAC key (secret), or NULL */
};

/*
 * newAccount signed with k ("jwk").  Refuses locally when the directory
 * has meta.termsOfService and !agree_tos, or requires EAB and none is
 * given.  On success the client uses k and the Location as kid; out (may
 * be NULL) receives the account object; *created (may be NULL) is true
 * for 201, false when the key already had an account (200).  0 / -1
 * (problem in acme_last_problem; logged).
 */
int acct_register(struct acme_client *c, const struct key *k,
    const struct acct_opts *opts, struct acme_account *out, bool *created);

/*
 * Look up the account of k (onlyReturnExisting).  0 found (client set up
 * as for acct_register), -1 not found (problem type accountDoesNotExist)
 * or failure.
 */
int acct_find(
    struct acme_client *c, const struct key *k, struct acme_account *out);

/* POST-as-GET the account URL into out.  0 / -1. */
int acct_fetch(struct acme_client *c, struct acme_account *out);

/*
 * The URLs of the account's orders (RFC 8555 §7.1.2.1), following
 * Link rel="next" pages up to max URLs.  *urls: malloc'ed array of n
 * malloc'ed strings; free with acct_orders_free.  0 / -1.
 */
int acct_orders(struct acme_client *c, const char *orders_url, size_t max,
    char ***urls, size_t *n);
void acct_orders_free(char **urls, size_t n);

/*
 * Key rollover: make new_key the account key (keyChange, outer JWS by the
 * current key, inner by new_key).  On success the client signs with
 * new_key (borrowed) from then on; the caller must store it before
 * dropping the old one.  0 / -1 (409: the new key already has an
 * account).
 */
int acct_key_change(struct acme_client *c, const struct key *new_key);

/* Deactivate the account (irreversible).  out may be NULL.  0 / -1. */
int acct_deactivate(struct acme_client *c, struct acme_account *out);

#endif
