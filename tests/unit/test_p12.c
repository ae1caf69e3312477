/*
 * test_p12: a PKCS#12 built by p12_build parses back with GnuTLS and
 * with p12_read: key, certificate and chain present, SHA-256 MAC, PBES2
 * AES-256 bags, P12_ITER_MIN iterations for the key bag, the certificate
 * bag and the MAC; refused without or with a wrong passphrase (EACCES);
 * unencrypted only on request; no passphrase read back in both PKCS#12
 * spellings (none, empty).  Also the cert.c helpers on the same
 * certificates (PEM chain, SANs, serial, AKI, certID).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>

#include "acme/pki/cert.h"
#include "acme/pki/key.h"
#include "acme/pki/p12.h"
#include "common/b64url.h"
#include "tests/lib/testcert.h"

static struct key *ca_key, *leaf_key;
static struct cert_chain chain; /* leaf, CA */

/* serial 00 8a NN: the leading zero octet must survive (cert_serial) */
static gnutls_x509_crt_t
make_crt(const struct key *subj, const struct key *issuer_key,
    gnutls_x509_crt_t issuer, const char *cn, unsigned serial)
{
	unsigned char ser[3] = { 0x00, 0x8a, (unsigned char)serial };
	gnutls_x509_crt_t crt = testcert_make(subj, issuer_key, issuer, cn, ser,
	    sizeof(ser), issuer != NULL ? "alice@example.com" : NULL);

	assert_non_null(crt);
	return crt;
}

static void
add(gnutls_x509_crt_t crt)
{
	gnutls_datum_t d;

	assert_int_equal(
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d), 0);
	assert_int_equal(cert_chain_add(&chain, d.data, d.size), 0);
	gnutls_free(d.data);
}

static int
setup(void **state)
{
	gnutls_x509_crt_t ca, leaf;

	(void)state;
	key_global_init();
	ca_key = key_generate(KEY_EC256);
	leaf_key = key_generate(KEY_RSA2048);
	ca = make_crt(ca_key, ca_key, NULL, "Test Root", 1);
	leaf = make_crt(leaf_key, ca_key, ca, "alice@example.com", 2);
	add(leaf);
	add(ca);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_crt_deinit(leaf);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cert_chain_free(&chain);
	key_free(ca_key);
	key_free(leaf_key);
	return 0;
}

static void
test_build_parse(void **state)
{
	unsigned char *der;
	size_t len;
	gnutls_pkcs12_t p12;
	gnutls_pkcs12_bag_t bag;
	gnutls_datum_t d;
	unsigned mac = 0, iter = 0, schema = 0, cipher = 0, salt_size;
	unsigned char salt[64];
	char *oid = NULL;
	int i, n_bags = 0, encrypted = 0;

	(void)state;
	assert_int_equal(p12_build(leaf_key, &chain, "alice@example.com",
			     "s3cret pass", false, &der, &len),
	    0);
	d.data = der;
	d.size = (unsigned)len;
	assert_int_equal(gnutls_pkcs12_init(&p12), 0);
	assert_int_equal(
	    gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_DER, 0), 0);
	assert_int_equal(gnutls_pkcs12_verify_mac(p12, "s3cret pass"), 0);
	assert_true(gnutls_pkcs12_verify_mac(p12, "wrong") < 0);
	salt_size = sizeof(salt);
	assert_int_equal(
	    gnutls_pkcs12_mac_info(p12, &mac, salt, &salt_size, &iter, &oid),
	    0);
	assert_int_equal(mac, GNUTLS_MAC_SHA256);
	print_message("MAC iterations: %u\n", iter);
	assert_true(iter >= P12_ITER_MIN);
	gnutls_free(oid);
	for (i = 0;; i++) {
		if (gnutls_pkcs12_bag_init(&bag) < 0 ||
		    gnutls_pkcs12_get_bag(p12, i, bag) < 0) {
			gnutls_pkcs12_bag_deinit(bag);
			break;
		}
		n_bags++;
		if (gnutls_pkcs12_bag_get_type(bag, 0) ==
		    GNUTLS_BAG_ENCRYPTED) {
			salt_size = sizeof(salt);
			oid = NULL;
			assert_int_equal(
			    gnutls_pkcs12_bag_enc_info(bag, &schema, &cipher,
				salt, &salt_size, &iter, &oid),
			    0);
			assert_int_equal(schema, GNUTLS_PKCS_PBES2_AES_256);
			assert_int_equal(cipher, GNUTLS_CIPHER_AES_256_CBC);
			print_message("certificate bag iterations: %u\n", iter);
			assert_true(iter >= P12_ITER_MIN);
			gnutls_free(oid);
			encrypted++;
		}
		if (gnutls_pkcs12_bag_get_type(bag, 0) ==
		    GNUTLS_BAG_PKCS8_ENCRYPTED_KEY) {
			gnutls_datum_t kd;

			assert_int_equal(
			    gnutls_pkcs12_bag_get_data(bag, 0, &kd), 0);
			salt_size = sizeof(salt);
			oid = NULL;
			assert_int_equal(
			    gnutls_pkcs8_info(&kd, GNUTLS_X509_FMT_DER, &schema,
				&cipher, salt, &salt_size, &iter, &oid),
			    0);
			assert_int_equal(schema, GNUTLS_PKCS_PBES2_AES_256);
			print_message("key bag iterations: %u\n", iter);
			assert_true(iter >= P12_ITER_MIN);
			gnutls_free(oid);
			encrypted++;
		}
		gnutls_pkcs12_bag_deinit(bag);
	}
	assert_int_equal(n_bags, 2);
	/* the certificate bag and the shrouded key bag */
	assert_int_equal(encrypted, 2);
	gnutls_pkcs12_deinit(p12);

	/* our reader */
	{
		struct key *k = NULL;
		struct cert_chain cc;

		assert_int_equal(p12_read(der, len, "s3cret pass", &k, &cc), 0);
		assert_non_null(k);
		assert_true(key_equal_public(k, leaf_key));
		assert_int_equal(cc.n, 2);
		assert_int_equal(cc.certs[0].len, chain.certs[0].len);
		assert_memory_equal(
		    cc.certs[0].der, chain.certs[0].der, cc.certs[0].len);
		key_free(k);
		cert_chain_free(&cc);
		errno = 0;
		assert_int_equal(p12_read(der, len, "wrong", &k, &cc), -1);
		assert_int_equal(errno, EACCES);
		assert_null(k);
		errno = 0;
		assert_int_equal(p12_read(der, len, NULL, &k, &cc), -1);
		assert_int_equal(errno, EACCES);
		errno = 0;
		assert_int_equal(p12_read("junk", 4, "x", &k, &cc), -1);
		assert_int_equal(errno, EINVAL);
	}
	free(der);
}

static void
test_unencrypted(void **state)
{
	unsigned char *der;
	size_t len;
	struct key *k;
	struct cert_chain cc;

	(void)state;
	assert_int_equal(
	    p12_build(leaf_key, &chain, NULL, "pw", true, &der, &len), 0);
	assert_int_equal(p12_read(der, len, "pw", &k, &cc), 0);
	assert_true(key_equal_public(k, leaf_key));
	key_free(k);
	cert_chain_free(&cc);
	free(der);
	/* a key that does not match the certificate is refused */
	assert_int_equal(
	    p12_build(ca_key, &chain, NULL, "pw", false, &der, &len), -1);
}

/* MAC the DER again with pass (NULL: no password at all) */
static void
remac(unsigned char **der, size_t *len, const char *pass)
{
	gnutls_pkcs12_t p12;
	gnutls_datum_t d = { *der, (unsigned)*len }, out;

	assert_int_equal(gnutls_pkcs12_init(&p12), 0);
	assert_int_equal(
	    gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_DER, 0), 0);
	assert_int_equal(
	    gnutls_pkcs12_generate_mac2(p12, GNUTLS_MAC_SHA256, pass), 0);
	assert_int_equal(
	    gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, &out), 0);
	gnutls_pkcs12_deinit(p12);
	free(*der);
	*der = malloc(out.size);
	assert_non_null(*der);
	memcpy(*der, out.data, out.size);
	*len = out.size;
	gnutls_free(out.data);
}

static void
read_ok(const unsigned char *der, size_t len, const char *pass)
{
	struct key *k = NULL;
	struct cert_chain cc;

	assert_int_equal(p12_read(der, len, pass, &k, &cc), 0);
	assert_true(key_equal_public(k, leaf_key));
	assert_int_equal(cc.n, 2);
	key_free(k);
	cert_chain_free(&cc);
}

/*
 * --no-passphrase: flow_cert builds with "" and unencrypted bags; revoke
 * reads with no passphrase (NULL).  A MAC made with no password at all
 * (other writers) reads back too, with NULL or "", and a real passphrase
 * still refuses both.
 */
static void
test_no_passphrase(void **state)
{
	unsigned char *der;
	size_t len;
	struct key *k;
	struct cert_chain cc;

	(void)state;
	assert_int_equal(
	    p12_build(leaf_key, &chain, NULL, "", true, &der, &len), 0);
	read_ok(der, len, NULL);
	read_ok(der, len, "");
	errno = 0;
	assert_int_equal(p12_read(der, len, "pw", &k, &cc), -1);
	assert_int_equal(errno, EACCES);
	remac(&der, &len, NULL);
	read_ok(der, len, NULL);
	read_ok(der, len, "");
	errno = 0;
	assert_int_equal(p12_read(der, len, "pw", &k, &cc), -1);
	assert_int_equal(errno, EACCES);
	free(der);
	/* encrypted with "": the bags decrypt with the spelling that MACs */
	assert_int_equal(
	    p12_build(leaf_key, &chain, NULL, "", false, &der, &len), 0);
	read_ok(der, len, NULL);
	read_ok(der, len, "");
	free(der);
}

static void
test_cert_helpers(void **state)
{
	struct buf pem;
	struct cert_chain cc;
	char **emails, *id, *dn;
	size_t n;
	unsigned char *ser, *aki, kid[20];
	size_t sl, al;

	(void)state;
	buf_init(&pem, 0);
	assert_int_equal(cert_chain_to_pem(&chain, 0, &pem), 0);
	assert_int_equal(cert_chain_parse_pem(pem.data, pem.len, &cc), 0);
	assert_int_equal(cc.n, 2);
	assert_int_equal(cert_emails(&cc.certs[0], &emails, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(emails[0], "alice@example.com");
	cert_strings_free(emails, n);
	assert_int_equal(cert_serial(&cc.certs[0], &ser, &sl), 0);
	assert_int_equal(sl, 3);
	assert_int_equal(ser[0], 0x00);
	assert_int_equal(ser[1], 0x8a);
	assert_int_equal(cert_aki(&cc.certs[0], &aki, &al), 0);
	assert_int_equal(al, 20);
	id = cert_id(&cc.certs[0]);
	assert_non_null(id);
	{
		char *a64 = b64url_encode(aki, al);
		char want[128];

		snprintf(want, sizeof(want), "%s.AIoC", a64);
		assert_string_equal(id, want);
		free(a64);
	}
	(void)kid;
	dn = cert_issuer_dn(&cc.certs[0]);
	assert_string_equal(dn, "CN=Test Root");
	free(dn);
	assert_true(cert_matches_key(&cc.certs[0], leaf_key));
	assert_false(cert_matches_key(&cc.certs[0], ca_key));
	cert_chain_free(&cc);
	assert_int_equal(cert_chain_parse_pem("nothing", 7, &cc), -1);
	assert_int_equal(cc.n, 0);
	free(id);
	free(ser);
	free(aki);
	buf_free(&pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_parse),
		cmocka_unit_test(test_unencrypted),
		cmocka_unit_test(test_no_passphrase),
		cmocka_unit_test(test_cert_helpers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
