/*
 * cert: X.509 certificate helpers for the requester (GnuTLS): PEM chains,
 * validity, serial, AKI, e-mail SANs, the RFC 9773 certID, issuer and
 * subject names (for choosing an alternate chain), and key matching.
 * Certificates travel as DER octets in struct cert; chains are ordered
 * as the CA sent them, end-entity first.
 */
#ifndef ACME_PKI_CERT_H
#define ACME_PKI_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/pki/key.h"
#include "common/buf.h"

#define CERT_CHAIN_MAX 16 /* certificates accepted in one chain */

struct cert {
	unsigned char *der;
	size_t len;
};

struct cert_chain {
	struct cert *certs; /* certs[0] is the end-entity certificate */
	size_t n;
};

/*
 * Parse every CERTIFICATE block of a PEM text into DER (at least one, at
 * most CERT_CHAIN_MAX); each must parse as X.509.  out is initialised;
 * release with cert_chain_free().  0 / -1 (logged).
 */
int cert_chain_parse_pem(const char *pem, size_t len, struct cert_chain *out);
/* Append certs[from..] as PEM to out.  0 / -1. */
int cert_chain_to_pem(const struct cert_chain *c, size_t from, struct buf *out);
/* Append a copy of one DER certificate.  0 / -1. */
int cert_chain_add(struct cert_chain *c, const void *der, size_t len);
void cert_chain_free(struct cert_chain *c);

/* The end of the validity period.  0 / -1. */
int cert_not_after(const struct cert *c, time_t *out);
/* The key usages of c among the four an S/MIME CSR may ask for, as
 * CSR_KU_* bits (0: no keyUsage extension).  0 / -1 (logged). */
int cert_key_usage(const struct cert *c, unsigned *bits);
/* Serial number octets as encoded (DER content, no tag/length);
 * malloc'ed.  0 / -1. */
int cert_serial(const struct cert *c, unsigned char **out, size_t *len);
/* Authority Key Identifier keyIdentifier octets; malloc'ed.  -1 if
 * absent or on error. */
int cert_aki(const struct cert *c, unsigned char **out, size_t *len);
/* RFC 9773 certID: b64url(AKI keyid) "." b64url(serial); malloc'ed or
 * NULL. */
char *cert_id(const struct cert *c);
/*
 * The e-mail addresses of the subjectAltName: rfc822Name values and
 * SmtpUTF8Mailbox otherNames (UTF-8), in order.  In cert_san.c: the
 * milter's S/MIME signer check uses it too (and links only that file).  *out is a malloc'ed
 * array of malloc'ed strings (free with cert_strings_free).  0 / -1;
 * no SAN gives *n = 0.
 */
int cert_emails(const struct cert *c, char ***out, size_t *n);
void cert_strings_free(char **v, size_t n);
/* RFC 4514 issuer / subject DN ("CN=...,O=..."), malloc'ed or NULL. */
char *cert_issuer_dn(const struct cert *c);
char *cert_subject_dn(const struct cert *c);
/* The issuer's Common Name (the first CN attribute, as a string),
 * malloc'ed; NULL if it has none or on error. */
char *cert_issuer_cn(const struct cert *c);
/* true if the certificate's public key is k's public key. */
bool cert_matches_key(const struct cert *c, const struct key *k);
/* Append c as one PEM block to out.  0 / -1. */
int cert_to_pem(const struct cert *c, struct buf *out);

#endif
