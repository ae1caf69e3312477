/*
 * csr: PKCS#10 requests for S/MIME certificates (RFC 8823 §3, RFC 8550):
 * one SAN per address (rfc822Name; an SmtpUTF8Mailbox otherName,
 * OID 1.3.6.1.5.5.7.8.9, UTF8String, when the local part is not ASCII),
 * a critical keyUsage with exactly the requested bits (none requested: no
 * keyUsage at all, so the CA applies its default), subject CN = the first
 * address, no other extensions, signed with SHA-256.  Output is DER.
 */
#ifndef ACME_PKI_CSR_H
#define ACME_PKI_CSR_H

#include <stddef.h>

#include "acme/pki/key.h"

/* keyUsage bits we may request (a bit set, not RFC 5280 bit numbers). */
#define CSR_KU_DIGITAL_SIGNATURE  0x1u
#define CSR_KU_CONTENT_COMMITMENT 0x2u /* nonRepudiation */
#define CSR_KU_KEY_ENCIPHERMENT   0x4u
#define CSR_KU_KEY_AGREEMENT      0x8u
#define CSR_KU_ALL                0xfu

/*
 * The one table of key usage names (csr.c): RFC 5280 §4.2.1.3 names as the
 * seed spells them, nonRepudiation an alias of contentCommitment.  The
 * command line, batch files and CSR all read it through these.
 */
/* The CSR_KU_* bit of one name (case-insensitive); 0 if unknown. */
unsigned csr_usage_bit(const char *name);
/*
 * The names of the bits in usage, in table order, joined by sep, into out
 * ("digitalSignature,keyAgreement"); stops at a name that does not fit.
 * Returns out.
 */
char *csr_usage_names(
    unsigned usage, const char *sep, char *out, size_t outlen);

/*
 * Parse a comma- or space-separated list of usage names
 * ("digitalSignature", "contentCommitment" or "nonRepudiation",
 * "keyEncipherment", "keyAgreement"; case-insensitive) into a bit set.
 * An empty list gives 0.  0 / -1 (logged, naming the bad word).
 */
int csr_usage_parse(const char *list, unsigned *out);

/*
 * Build and sign the CSR for addrs[0..n-1] (n >= 1; addresses are
 * addr-specs, UTF-8 allowed in the local part; the domain must be ASCII,
 * A-labels).  usage: CSR_KU_* bits or 0.  *der is malloc'ed.  0 / -1.
 */
int csr_build(const struct key *k, const char *const *addrs, size_t n,
    unsigned usage, unsigned char **der, size_t *len);

#endif
