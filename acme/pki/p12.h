/*
 * p12: PKCS#12 files for mail clients (GnuTLS): private key, certificate
 * and chain with a friendly name, encrypted with PBES2/AES-256 and a
 * SHA-256 MAC (unencrypted only on an explicit flag), and the reverse:
 * read one back with its passphrase (for revocation from a PKCS#12).
 * The passphrase is never logged.
 */
#ifndef ACME_PKI_P12_H
#define ACME_PKI_P12_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/pki/cert.h"
#include "acme/pki/key.h"

/*
 * PBKDF2 iterations (PKCS#12 KDF iterations for the MAC) that the key
 * bag, the certificate bag and the MAC of every p12_build file carry:
 * GnuTLS 3.7's own PKCS12_ITER_COUNT, which its API (bag_encrypt,
 * export2_pkcs8, generate_mac2) applies with no parameter to change it.
 * test_p12 checks all three against this floor.
 */
#define P12_ITER_MIN 600000u

/*
 * Build a PKCS#12: k and chain->certs[0] (must match k), then the rest of
 * the chain.  friendly_name may be NULL (then the first SAN address is
 * not looked up: no name is set).  passphrase must be non-NULL (may be
 * "", which mail clients accept poorly); unencrypted = true stores the
 * bags in clear (MAC still computed with the passphrase).  *der is
 * malloc'ed (it holds the key: wipe before free).  0 / -1 (logged).
 */
int p12_build(const struct key *k, const struct cert_chain *chain,
    const char *friendly_name, const char *passphrase, bool unencrypted,
    unsigned char **der, size_t *len);

/*
 * Parse a PKCS#12 (DER or PEM-armoured) with passphrase (NULL or "" =
 * none: a MAC made with no password and one made with the empty password
 * are both accepted).
 * On success *key is the private key (free with key_free), chain the
 * certificates with the one matching the key first.  Returns 0, or -1
 * with errno EACCES when the MAC does not verify (wrong or missing
 * passphrase), EINVAL when malformed or without key/certificate, ENOMEM.
 */
int p12_read(const void *data, size_t len, const char *passphrase,
    struct key **key, struct cert_chain *chain);

#endif
