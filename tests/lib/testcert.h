/*
 * tests/lib/testcert: certificates made at test time for the unit tests,
 * the interop test and the benchmarks (libtest.a).  Throwaway
 * certificates only: SHA-256, valid from a minute ago for a day.
 */
#ifndef TESTS_LIB_TESTCERT_H
#define TESTS_LIB_TESTCERT_H

#include <stddef.h>

#include <gnutls/x509.h>

#include "acme/pki/key.h"

/*
 * A version 3 certificate for SUBJ's public key with common name CN and
 * serial number SERIAL (SERIAL_LEN octets, as given), signed by ISSUER_KEY.
 * ISSUER NULL makes a self-signed CA (basicConstraints CA:TRUE); otherwise
 * an end entity (CA:FALSE) whose authorityKeyIdentifier is ISSUER's key id,
 * with EMAIL, if not NULL, as its one rfc822Name SAN.  Both carry a
 * subjectKeyIdentifier.  Returns NULL on failure; the caller frees the
 * result with gnutls_x509_crt_deinit().
 */
gnutls_x509_crt_t testcert_make(const struct key *subj,
    const struct key *issuer_key, gnutls_x509_crt_t issuer, const char *cn,
    const unsigned char *serial, size_t serial_len, const char *email);

/* Write CRT to PATH as PEM (mode 0644).  Returns 0, or -1. */
int testcert_write_pem(gnutls_x509_crt_t crt, const char *path);

#endif
