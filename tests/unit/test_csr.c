/*
 * test_csr: S/MIME CSRs parsed back with gnutls_x509_crq: SANs
 * (rfc822Name, SmtpUTF8Mailbox otherName for a non-ASCII local part),
 * critical keyUsage with exactly the requested bits, no keyUsage when
 * none is asked for, nothing else, CN = first address, valid signature.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme/pki/csr.h"
#include "acme/pki/key.h"

static struct key *k;

static int
setup(void **state)
{
	(void)state;
	key_global_init();
	k = key_generate(KEY_EC256);
	return k != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	key_free(k);
	return 0;
}

static gnutls_x509_crq_t
build(const char *const *addrs, size_t n, unsigned usage)
{
	gnutls_x509_crq_t crq;
	gnutls_datum_t d;
	unsigned char *der;
	size_t len;

	assert_int_equal(csr_build(k, addrs, n, usage, &der, &len), 0);
	d.data = der;
	d.size = (unsigned)len;
	assert_int_equal(gnutls_x509_crq_init(&crq), 0);
	assert_int_equal(
	    gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);
	free(der);
	return crq;
}

/* Number of extensions in the request. */
static unsigned
n_ext(gnutls_x509_crq_t crq)
{
	char oid[128];
	size_t sz;
	unsigned i, crit;

	for (i = 0;; i++) {
		sz = sizeof(oid);
		if (gnutls_x509_crq_get_extension_info(
			crq, i, oid, &sz, &crit) < 0) {
			return i;
		}
	}
}

static const struct {
	const char *name;
	unsigned usage;
	unsigned want; /* GNUTLS_KEY_* bits, 0 = no keyUsage extension */
} ku_cases[] = {
	{ "none", 0, 0 },
	{ "sign", CSR_KU_DIGITAL_SIGNATURE, GNUTLS_KEY_DIGITAL_SIGNATURE },
	{ "encrypt", CSR_KU_KEY_ENCIPHERMENT, GNUTLS_KEY_KEY_ENCIPHERMENT },
	{ "agree", CSR_KU_KEY_AGREEMENT, GNUTLS_KEY_KEY_AGREEMENT },
	{ "all",
	    CSR_KU_DIGITAL_SIGNATURE | CSR_KU_CONTENT_COMMITMENT |
		CSR_KU_KEY_ENCIPHERMENT | CSR_KU_KEY_AGREEMENT,
	    GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_NON_REPUDIATION |
		GNUTLS_KEY_KEY_ENCIPHERMENT | GNUTLS_KEY_KEY_AGREEMENT },
};

static void
test_key_usage(void **state)
{
	const char *addrs[] = { "alice@example.com" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ku_cases) / sizeof(ku_cases[0]); i++) {
		gnutls_x509_crq_t crq = build(addrs, 1, ku_cases[i].usage);
		unsigned ku = 0, crit = 0;
		int rc = gnutls_x509_crq_get_key_usage(crq, &ku, &crit);

		if (ku_cases[i].want == 0) {
			assert_int_equal(
			    rc, GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
			assert_int_equal(n_ext(crq), 1); /* SAN only */
		} else {
			assert_true(rc >= 0);
			assert_int_equal(ku, ku_cases[i].want);
			assert_int_equal(crit, 1);
			assert_int_equal(n_ext(crq), 2); /* SAN + keyUsage */
		}
		gnutls_x509_crq_deinit(crq);
	}
}

static void
test_sans(void **state)
{
	const char *addrs[] = { "alice@example.com", "bob@example.org",
		"jos\xc3\xa9@example.com" };
	gnutls_x509_crq_t crq = build(addrs, 3, CSR_KU_DIGITAL_SIGNATURE);
	char val[256], oid[64], cn[256];
	size_t sz, osz;
	unsigned type, crit;
	int rc;

	(void)state;
	sz = sizeof(cn);
	assert_int_equal(gnutls_x509_crq_get_dn_by_oid(
			     crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &sz),
	    0);
	assert_string_equal(cn, "alice@example.com");
	sz = sizeof(val);
	rc = gnutls_x509_crq_get_subject_alt_name(
	    crq, 0, val, &sz, &type, &crit);
	assert_int_equal(rc, GNUTLS_SAN_RFC822NAME);
	assert_string_equal(val, "alice@example.com");
	sz = sizeof(val);
	rc = gnutls_x509_crq_get_subject_alt_name(
	    crq, 1, val, &sz, &type, &crit);
	assert_int_equal(rc, GNUTLS_SAN_RFC822NAME);
	assert_string_equal(val, "bob@example.org");
	sz = sizeof(val);
	rc = gnutls_x509_crq_get_subject_alt_name(
	    crq, 2, val, &sz, &type, &crit);
	assert_int_equal(rc, GNUTLS_SAN_OTHERNAME);
	osz = sizeof(oid);
	assert_int_equal(
	    gnutls_x509_crq_get_subject_alt_othername_oid(crq, 2, oid, &osz),
	    GNUTLS_SAN_OTHERNAME);
	assert_string_equal(oid, "1.3.6.1.5.5.7.8.9");
	/* DER UTF8String: tag 12, length, the address */
	assert_int_equal((unsigned char)val[0], 0x0c);
	assert_int_equal((unsigned char)val[1], strlen(addrs[2]));
	assert_memory_equal(val + 2, addrs[2], strlen(addrs[2]));
	sz = sizeof(val);
	assert_int_equal(gnutls_x509_crq_get_subject_alt_name(
			     crq, 3, val, &sz, &type, &crit),
	    GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	gnutls_x509_crq_deinit(crq);
}

static void
test_bad_input(void **state)
{
	const char *bad[] = { "no-at-sign", "a@b@c", "@example.com",
		"alice@exampl\xc3\xa9.com", "sp ace@example.com" };
	unsigned char *der;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(csr_build(k, &bad[i], 1, 0, &der, &len), -1);
	}
	assert_int_equal(csr_build(k, bad, 0, 0, &der, &len), -1);
}

static void
test_usage_parse(void **state)
{
	unsigned u;

	(void)state;
	assert_int_equal(
	    csr_usage_parse("digitalSignature, keyEncipherment", &u), 0);
	assert_int_equal(u, CSR_KU_DIGITAL_SIGNATURE | CSR_KU_KEY_ENCIPHERMENT);
	assert_int_equal(csr_usage_parse("nonrepudiation keyagreement", &u), 0);
	assert_int_equal(u, CSR_KU_CONTENT_COMMITMENT | CSR_KU_KEY_AGREEMENT);
	assert_int_equal(csr_usage_parse("", &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(csr_usage_parse("digitalSignature,certSign", &u), -1);
}

/* The one name table: single names, aliases, and the list for messages. */
static void
test_usage_names(void **state)
{
	char out[128], small[20];

	(void)state;
	assert_int_equal(csr_usage_bit("keyagreement"), CSR_KU_KEY_AGREEMENT);
	assert_int_equal(
	    csr_usage_bit("nonRepudiation"), CSR_KU_CONTENT_COMMITMENT);
	assert_int_equal(csr_usage_bit("certSign"), 0);
	assert_int_equal(csr_usage_bit(""), 0);
	assert_string_equal(csr_usage_names(CSR_KU_ALL, ", ", out, sizeof(out)),
	    "digitalSignature, contentCommitment, keyEncipherment, keyAgreement");
	assert_string_equal(
	    csr_usage_names(CSR_KU_CONTENT_COMMITMENT | CSR_KU_KEY_ENCIPHERMENT,
		",", out, sizeof(out)),
	    "contentCommitment,keyEncipherment");
	assert_string_equal(csr_usage_names(0, ",", out, sizeof(out)), "");
	/* a name that does not fit is left out whole */
	assert_string_equal(
	    csr_usage_names(CSR_KU_ALL, ",", small, sizeof(small)),
	    "digitalSignature");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_usage),
		cmocka_unit_test(test_usage_names),
		cmocka_unit_test(test_sans),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_usage_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
