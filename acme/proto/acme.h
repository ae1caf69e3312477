/*
 * acme: one RFC 8555 client connection: the directory, a nonce pool, the
 * account (key + kid) and signed POSTs with transparent badNonce,
 * rateLimited/429 and 503 retries.  A struct acme_client is not shared
 * between threads; a batch mode runs one per worker.  The only process
 * global state is acme_global_init().  All waiting goes through the
 * client's clock (struct acme_clock), so tests never sleep for real.
 * acct.c and order.c build on this file.
 */
#ifndef ACME_PROTO_ACME_H
#define ACME_PROTO_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/proto/http.h"
#include "acme/proto/json.h"
#include "acme/pki/key.h"

#define ACME_BADNONCE_MAX    5   /* re-signed retries after badNonce */
#define ACME_RETRY_MAX       3   /* retries after 429 / 503 */
#define ACME_RETRY_AFTER_MAX 120 /* seconds: cap on one Retry-After wait */
#define ACME_NONCE_POOL      8   /* nonces kept */

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"

/* Injectable clock: now() and sleep(seconds).  NULL members = real. */
struct acme_clock {
	time_t (*now)(void *arg);
	void (*sleep)(void *arg, unsigned seconds);
	void *arg;
};

struct acme_opts {
	const char *directory_url; /* required */
	struct http_opts http;     /* CA bundle, insecure, timeouts, cap */
	unsigned badnonce_max;     /* 0 = ACME_BADNONCE_MAX */
	unsigned retry_max;        /* 0 = ACME_RETRY_MAX; see no_retry */
	bool no_retry;             /* report 429/503 at once, no waiting */
	long retry_after_max;      /* 0 = ACME_RETRY_AFTER_MAX */
	struct acme_clock clock;
};

/* Counters for diagnostics and tests. */
struct acme_stats {
	unsigned requests;            /* HTTP requests made */
	unsigned badnonce_retries;    /* JWS re-signed after badNonce */
	unsigned ratelimit_retries;   /* retries after 429 / rateLimited */
	unsigned unavailable_retries; /* retries after 503 */
	long last_retry_after; /* seconds of the last Retry-After seen, -1 */
};

/*
 * The outcome of one ACME request.  On failure, problem holds the CA's
 * problem document (or a synthesised one for a transport error: type
 * "transport", or a non-JSON error: type "http") and error the display
 * text "type: detail".  retry_after is the last Retry-After in seconds
 * (-1 none).  Release with acme_reply_free().
 */
struct acme_reply {
	long status;
	char *location;
	char *content_type;
	struct http_link links[HTTP_LINKS_MAX];
	size_t n_links;
	long retry_after;
	struct buf body;
	struct acme_problem *problem; /* NULL on success */
	char *error; /* "type: detail" of problem, NULL on success */
};

struct acme_client; /* opaque */

/* curl + GnuTLS global init, once per process before threads. 0 / -1. */
int acme_global_init(void);
void acme_global_cleanup(void);

/* A client for opts->directory_url (copied).  Nothing is fetched yet.
 * NULL on failure (logged).  Free with acme_free(). */
struct acme_client *acme_new(const struct acme_opts *opts);
/* Free the client (the account key is not owned; NULL is fine). */
void acme_free(struct acme_client *c);

/*
 * Fetch and parse the directory (once; later calls reuse it), with
 * acme_get's 429/503 handling.  0 / -1; on failure the problem is kept
 * for acme_last_problem(): type "transport" when the server cannot be
 * reached, "http" for a non-JSON error status or a 2xx that is not a
 * directory, else the server's own problem type.  Logged at debug level
 * only; callers log with context.
 */
int acme_directory(struct acme_client *c);
/* The parsed directory (after acme_directory), else NULL. */
const struct acme_directory *acme_get_directory(const struct acme_client *c);

/*
 * Set the account key (borrowed: must outlive the client or be replaced)
 * and the account URL (kid, copied; NULL until known).
 */
int acme_set_account(
    struct acme_client *c, const struct key *k, const char *kid);
const struct key *acme_account_key(const struct acme_client *c);
/* The account URL or NULL. */
const char *acme_kid(const struct acme_client *c);

/*
 * Signed POST to url.  payload: JSON text, or NULL for POST-as-GET.
 * key: the signing key, NULL = the account key.  use_jwk: embed the
 * public key ("jwk") instead of "kid" (newAccount, revocation by
 * certificate key); without use_jwk a kid must be set.  accept: Accept
 * header or NULL.  Takes a nonce from the pool (HEAD newNonce when
 * empty), stores every Replay-Nonce seen, re-signs with the error's nonce
 * on badNonce (up to badnonce_max), waits Retry-After on 429/rateLimited
 * and 503 (capped, jittered, up to retry_max).  r is always initialised.
 * Returns 0 for a 2xx response, -1 otherwise (r->problem set; logged at
 * debug level only, callers log with context).
 */
int acme_post(struct acme_client *c, const char *url, const char *payload,
    const struct key *key, bool use_jwk, const char *accept,
    struct acme_reply *r);

/* Unauthenticated GET (directory, renewalInfo) with the same 429/503
 * handling.  0 for 2xx, -1 otherwise (r->problem set). */
int acme_get(struct acme_client *c, const char *url, const char *accept,
    struct acme_reply *r);

void acme_reply_init(struct acme_reply *r);
void acme_reply_free(struct acme_reply *r);
/* "type: detail" of r->problem, or "" if none.  Points into r. */
const char *acme_reply_error(const struct acme_reply *r);
/* The short problem type of r ("badNonce"), or "" if none. */
const char *acme_reply_type(const struct acme_reply *r);

/* The last failed request's problem (kept until the next failure), or
 * NULL; and its display text ("" if none). */
const struct acme_problem *acme_last_problem(const struct acme_client *c);
const char *acme_last_error(const struct acme_client *c);

const struct acme_stats *acme_get_stats(const struct acme_client *c);

/* The client's clock: seconds since the epoch, and the one place that
 * waits (seconds, through the injected sleep). */
time_t acme_now(struct acme_client *c);
void acme_sleep(struct acme_client *c, unsigned seconds);
/* Delay for a retry: retry_after seconds if >= 0 else dflt, clamped to
 * retry_after_max, plus up to 10% jitter (at least 0, at most +2 s). */
unsigned acme_backoff(struct acme_client *c, long retry_after, unsigned dflt);

#endif
