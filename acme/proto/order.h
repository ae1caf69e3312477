/*
 * order: the RFC 8555 issuance flow on a struct acme_client (account set):
 * newOrder -> authorizations -> challenge POST -> polling -> finalize ->
 * certificate download (with alternate chains) and revocation, plus RFC
 * 9773 renewal information.  Each call is one step, so a caller (the
 * requester, its batch mode) interleaves its own work (spool entries,
 * waiting for the challenge mail) between them and can resume by URL.
 * Polling waits only through acme_sleep().
 */
#ifndef ACME_PROTO_ORDER_H
#define ACME_PROTO_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/proto/acme.h"
#include "acme/pki/cert.h"

#define ORDER_POLL_DEFAULT 3  /* seconds between polls without Retry-After */
#define ORDER_POLL_MAX     60 /* cap on one poll interval */
#define ORDER_CHAINS_MAX   8  /* alternate chains fetched */

/*
 * RFC 5280 §5.3.1 CRLReason codes accepted for revocation (the seed's);
 * their names are in one table in order.c (order_reason_name/_code).
 */
enum order_revoke_reason {
	ORDER_REASON_UNSPECIFIED = 0,
	ORDER_REASON_KEY_COMPROMISE = 1,
	ORDER_REASON_AFFILIATION_CHANGED = 3,
	ORDER_REASON_SUPERSEDED = 4,
	ORDER_REASON_CESSATION = 5,
	ORDER_REASON_MAX
};

struct order_new_opts {
	const char *replaces; /* RFC 9773 certID of the predecessor, or NULL */
	const char *profile;  /* draft profile name, or NULL */
};

/*
 * newOrder for ids[0..n-1] (any identifier type).  *url receives the
 * order URL (malloc'ed), out the order object.  opts may be NULL.
 * 0 / -1 (problem in acme_last_problem; logged).
 */
int order_new(struct acme_client *c, const struct acme_identifier *ids,
    size_t n, const struct order_new_opts *opts, char **url,
    struct acme_order *out);

/* POST-as-GET an order / authorization.  0 / -1. */
int order_fetch(struct acme_client *c, const char *url, struct acme_order *out);
int order_authz_fetch(
    struct acme_client *c, const char *url, struct acme_authz *out);

/* The first challenge of type in a, or NULL. */
const struct acme_challenge *order_find_challenge(
    const struct acme_authz *a, const char *type);

/* Tell the CA to validate: POST {} to the challenge URL; out (may be
 * NULL) receives the challenge object.  0 / -1. */
int order_challenge_respond(
    struct acme_client *c, const char *url, struct acme_challenge *out);

/*
 * Poll the authorization until it leaves pending (honouring Retry-After,
 * else ORDER_POLL_DEFAULT), until deadline (epoch seconds; 0 = the authz
 * expires, else one hour) or the authz expires.  out receives the last
 * state.  0 when valid, -1 otherwise (invalid: the challenge error is
 * logged and kept in acme_last_problem; timeout; failure).
 */
int order_authz_wait(struct acme_client *c, const char *url, time_t deadline,
    struct acme_authz *out);

/*
 * Poll the order while it is pending or processing, until deadline
 * (0 = one hour) or its expires.  want is the status to stop at
 * (ACME_ST_READY or ACME_ST_VALID).  0 when out->status == want (or
 * valid when ready was wanted), -1 otherwise (invalid: the order error
 * is kept in acme_last_problem; errno ETIMEDOUT: still pending or
 * processing at the deadline, out->status says which).
 */
int order_wait(struct acme_client *c, const char *url, enum acme_status want,
    time_t deadline, struct acme_order *out);

/*
 * Finalize: POST {"csr": b64url(csr)} to o->finalize.  out receives the
 * order as returned (often processing; use order_wait for valid).
 * 0 / -1 (badCSR, orderNotReady: problem kept).
 */
int order_finalize(struct acme_client *c, const struct acme_order *o,
    const unsigned char *csr, size_t csr_len, struct acme_order *out);

/* Every chain the CA offers for one certificate, default first. */
struct order_chains {
	char *pem[ORDER_CHAINS_MAX]; /* application/pem-certificate-chain */
	char *url[ORDER_CHAINS_MAX]; /* where each came from */
	size_t n;
};

/*
 * Download the certificate (POST-as-GET, Accept:
 * application/pem-certificate-chain) and, with alternates, every
 * Link rel="alternate" chain (up to ORDER_CHAINS_MAX).  0 / -1.
 */
int order_download(struct acme_client *c, const char *cert_url, bool alternates,
    struct order_chains *out);
void order_chains_free(struct order_chains *ch);

/*
 * Choose a chain as certbot's --preferred-chain does: the first whose
 * topmost certificate (the last in the chain) has an issuer Common Name
 * equal to issuer, else the default (index 0, with a warning when issuer
 * was given).  Returns the index, or -1 if ch is empty or a chain does
 * not parse.
 */
int order_select_chain(const struct order_chains *ch, const char *issuer);

/*
 * Revoke cert (DER).  cert_key NULL: signed by the account key ("kid");
 * otherwise signed by the certificate's own key ("jwk").  reason < 0
 * omits the reason.  0 / -1 (alreadyRevoked, unauthorized,
 * badRevocationReason: problem kept).
 */
int order_revoke(struct acme_client *c, const struct cert *cert, int reason,
    const struct key *cert_key);

/* The RFC 5280 name of a reason code ("keyCompromise"), or "?". */
const char *order_reason_name(int code);
/* The code of a reason name (case-insensitive, names only), or -1. */
int order_reason_code(const char *name);

/*
 * RFC 9773: GET <renewalInfo>/<certID> for cert.  -1 when the directory
 * has no renewalInfo (errno ENOTSUP) or on failure.  *retry_after (may
 * be NULL) receives the Retry-After seconds or -1.
 */
int order_renewal_info(struct acme_client *c, const struct cert *cert,
    struct acme_renewal_info *out, long *retry_after);

#endif
