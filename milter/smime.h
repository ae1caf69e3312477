/*
 * smime: S/MIME authentication of challenge mails (RFC 8823 §3.1, the
 * alternative to DKIM).  milter/smime.c is the only user of GnuTLS's
 * PKCS#7 and X.509 verification API in the milter.  The trust list is
 * loaded once at startup (SMIMETrustFile) and only read afterwards.
 * Called by callbacks.c at end of message, for candidates only, with the
 * body bytes kept under MaxMessageSize.
 */
#ifndef MILTER_SMIME_H
#define MILTER_SMIME_H

#include <stdbool.h>
#include <stddef.h>

#include "common/challenge_mail.h"

#define SMIME_REASON_MAX 256

struct smime_trust; /* opaque: the trusted roots */

/* Load the PEM roots of path.  NULL on failure or no certificate
 * (logged). */
struct smime_trust *smime_trust_open(const char *path);
void smime_trust_close(struct smime_trust *t);

/* True if an outer Content-Type value announces an S/MIME signature
 * (multipart/signed with a pkcs7-signature protocol, or
 * application/pkcs7-mime with smime-type=signed-data). */
bool smime_is_signed(const char *content_type);

struct smime_result {
	bool pass;                     /* every check below held */
	char reason[SMIME_REASON_MAX]; /* why not ("" on pass) */
};

/*
 * Verify the S/MIME signature of a challenge whose outer headers parsed
 * into m: content_type is the outer Content-Type value, body the message
 * body exactly as received (CRLF).  Passes when the signature verifies
 * against the trust list (chain, key purpose emailProtection), the
 * signer certificate has an rfc822Name subjectAltName equal to m->from,
 * and the signed content is a message/rfc822 whose From, To, Subject
 * (token-part1) and Date equal the outer ones (header protection).  Returns 0
 * when a judgement was made (res->pass), -1 on an internal error
 * (res->reason says which).
 */
int smime_verify(const struct smime_trust *t, const char *content_type,
    const unsigned char *body, size_t len, const struct challenge_mail *m,
    struct smime_result *res);

#endif
