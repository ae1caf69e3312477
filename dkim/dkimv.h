/*
 * dkimv: DKIM verification of challenge mails and signing of replies, on
 * top of libopendkim.  dkim/dkimv.c is the only file that includes
 * <opendkim/dkim.h>; no libmilter types here.  The library handle is opened
 * once at startup (before any thread) and is read-only afterwards; each
 * message gets its own struct dkimv.  Called by milter/callbacks.c and
 * milter/reply.c.
 */
#ifndef DKIM_DKIMV_H
#define DKIM_DKIMV_H

#include <stdbool.h>
#include <stddef.h>

#define DKIMV_DOMAIN_MAX   256
#define DKIMV_HTAG_MAX     1024
#define DKIMV_REASON_MAX   640
#define DKIMV_RSA_MIN_BITS 1024 /* RFC 8301 §3.2 */
/* Seconds one key lookup may take (libopendkim's DKIM_OPTS_TIMEOUT; the
 * verification worker bounds the stub resolver the same way, and the
 * whole message by VerifyTimeout: doc/design.md §3, "DNS") */
#define DKIMV_DNS_TIMEOUT 5

struct dkimv_lib; /* opaque: the libopendkim library handle */
struct dkimv;     /* opaque: one message being verified */

/* What dkimv_end() found. */
struct dkimv_result {
	bool pass;                     /* a signature met every condition */
	char domain[DKIMV_DOMAIN_MAX]; /* its d= (or the best failing one's) */
	bool from_signed;              /* h= covers From */
	char htag[DKIMV_HTAG_MAX];     /* its h= value, white space removed */
	char reason[DKIMV_REASON_MAX]; /* why not, plain words ("" on pass) */
	bool tempfail; /* no pass, and the key of a signature with d= =
			* from_domain could not be fetched for now */
};

/*
 * Open libopendkim once.  test_keys: a file of "selector._domainkey.domain
 * TXT-value" lines used instead of DNS (TestDKIMKeys), or NULL for DNS.
 * The reply signer's header list (challenge_reply_sign_headers, oversigned)
 * is set here too.  NULL on failure (logged).
 */
struct dkimv_lib *dkimv_lib_open(const char *test_keys);
void dkimv_lib_close(struct dkimv_lib *lib);

/* Start verifying one message; id is used in the library's own messages
 * (the queue id).  NULL on failure (logged).  Free with dkimv_free(). */
struct dkimv *dkimv_begin(struct dkimv_lib *lib, const char *id);
/*
 * Feed one header exactly as received: name, and value with its leading
 * white space (SMFIP_HDR_LEADSPC) and folding; bare LF become CRLF.
 * 0 / -1 (the message then cannot pass; the reason is kept for
 * dkimv_end()).
 */
int dkimv_header(struct dkimv *d, const char *name, const char *value);
int dkimv_eoh(struct dkimv *d);
int dkimv_body(struct dkimv *d, const unsigned char *data, size_t len);
/*
 * Finish and judge: res->pass is true if some signature verified (header
 * and body hash) with rsa-sha256 (a key of at least DKIMV_RSA_MIN_BITS)
 * or ed25519-sha256, its d= equals from_domain exactly (case-insensitive, no
 * relaxed alignment) and its h= names every header in required
 * (NULL-terminated, lower case; absent headers must be listed too).
 * Each signature is judged on its own: another signature's failure,
 * temporary or not, does not stop one that passes.  Returns 0 when a
 * judgement was made (pass or not, res->tempfail set when a temporary key
 * failure may have hidden a pass), -1 on an internal error (res->reason
 * says which).
 */
int dkimv_end(struct dkimv *d, const char *from_domain,
    const char *const *required, struct dkimv_result *res);
void dkimv_free(struct dkimv *d);

/*
 * Sign msg (a complete message, CRLF line ends) for domain/selector with
 * the PEM private key in keyfile: rsa-sha256, relaxed/relaxed, h= =
 * challenge_reply_sign_headers with every name listed once more than it
 * occurs (oversigning).  Returns the malloc'ed DKIM-Signature header value
 * (folded with CRLF TAB, no trailing CRLF, without the "DKIM-Signature:"
 * name); the caller frees it.  NULL on failure (logged).
 */
char *dkimv_sign(struct dkimv_lib *lib, const char *domain,
    const char *selector, const char *keyfile, const char *msg, size_t len);

/*
 * Verify a built-in message, signed with a built-in key, in a library of
 * its own, so that a process forked afterwards (milter/verifier.c) finds
 * the library's and its crypto back end's first-use setup done.  True if
 * it verified.
 */
bool dkimv_warm(void);

/* libopendkim's version as "major.minor.patch" into out (for -V). */
void dkimv_version(char *out, size_t outlen);

/* True if the comma/colon list h (an h= value) names hdr (any case). */
bool dkimv_htag_has(const char *h, const char *hdr);

#endif
