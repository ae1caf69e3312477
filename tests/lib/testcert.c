/*
 * tests/lib/testcert.c: throwaway certificates for the tests (see
 * testcert.h).  Used by tests/unit (test_p12, test_smime) and
 * tests/bench/crypto-floor; no cmocka here, so the benchmarks link it too.
 */
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme/pki/key.h"
#include "common/fsutil.h"
#include "tests/lib/testcert.h"

gnutls_x509_crt_t
testcert_make(const struct key *subj, const struct key *issuer_key,
    gnutls_x509_crt_t issuer, const char *cn, const unsigned char *serial,
    size_t serial_len, const char *email)
{
	gnutls_x509_crt_t crt = NULL, ret = NULL;
	unsigned char kid[64];
	size_t kl = sizeof(kid);
	time_t now = time(NULL);
	unsigned is_ca = issuer == NULL;

	if (gnutls_x509_crt_init(&crt) < 0) {
		return NULL;
	}
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, serial_len) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
		cn, (unsigned)strlen(cn)) < 0 ||
	    gnutls_x509_crt_set_pubkey(crt, key_gnutls_pubkey(subj)) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, is_ca, -1) < 0 ||
	    gnutls_x509_crt_get_key_id(crt, 0, kid, &kl) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, kid, kl) < 0) {
		goto out;
	}
	if (issuer != NULL) {
		kl = sizeof(kid);
		if (gnutls_x509_crt_get_key_id(issuer, 0, kid, &kl) < 0 ||
		    gnutls_x509_crt_set_authority_key_id(crt, kid, kl) < 0) {
			goto out;
		}
		if (email != NULL &&
		    gnutls_x509_crt_set_subject_alt_name(crt,
			GNUTLS_SAN_RFC822NAME, email, (unsigned)strlen(email),
			GNUTLS_FSAN_APPEND) < 0) {
			goto out;
		}
	}
	if (gnutls_x509_crt_privkey_sign(crt, issuer != NULL ? issuer : crt,
		key_gnutls_privkey(issuer_key), GNUTLS_DIG_SHA256, 0) < 0) {
		goto out;
	}
	ret = crt;
	crt = NULL;
out:
	if (crt != NULL) {
		gnutls_x509_crt_deinit(crt);
	}
	return ret;
}

int
testcert_write_pem(gnutls_x509_crt_t crt, const char *path)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0) {
		return -1;
	}
	rc = fs_write_atomic(path, d.data, d.size, 0644);
	gnutls_free(d.data);
	return rc == 0 ? 0 : -1;
}
