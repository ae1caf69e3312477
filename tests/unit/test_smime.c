/*
 * Unit tests for milter/smime.c: which Content-Types announce an S/MIME
 * signature, the refusals that need no certificate (malformed bodies, no
 * trust list), and signer selection on PKCS#7 signatures made here with
 * GnuTLS (application/pkcs7-mime): a valid signer, an SmtpUTF8Mailbox
 * SAN, a decoy certificate named like the signer (issue 10, attack 3) and
 * two CA certificates that sign each other (attack 2: must not loop).
 * The MIME forms through the milter are checked by tests/milter/check.sh.
 * Trust lists are real ones, read from files made at test time
 * (tests/lib/testcert for the throwaway root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/pkcs7.h>
#include <gnutls/x509.h>

#include "acme/pki/key.h"
#include "milter/smime.h"
#include "tests/lib/testcert.h"

/* A trust list holding one self-signed root, read from a file in a
 * temporary directory (DIR, removed by trust_close). */
static struct smime_trust *
trust_open(char *dir, size_t dirsz)
{
	static const unsigned char serial[] = { 0x01 };
	struct key *k;
	gnutls_x509_crt_t root;
	struct smime_trust *t;
	char path[256];
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dirsz, "%s/smime-acme-test.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/roots.pem", dir);
	assert_int_equal(key_global_init(), 0);
	k = key_generate(KEY_EC256);
	assert_non_null(k);
	root = testcert_make(
	    k, k, NULL, "Test Root", serial, sizeof(serial), NULL);
	assert_non_null(root);
	assert_int_equal(testcert_write_pem(root, path), 0);
	gnutls_x509_crt_deinit(root);
	key_free(k);
	t = smime_trust_open(path);
	assert_non_null(t);
	return t;
}

static void
trust_close(struct smime_trust *t, const char *dir)
{
	char path[256];

	smime_trust_close(t);
	snprintf(path, sizeof(path), "%s/roots.pem", dir);
	unlink(path);
	rmdir(dir);
}

static void
test_is_signed(void **state)
{
	static const struct {
		const char *ct;
		bool yes;
	} v[] = {
		{ "multipart/signed; protocol=\"application/pkcs7-signature\"; "
		  "micalg=sha-256; boundary=\"b\"",
		    true },
		{ " Multipart/Signed;\r\n\tprotocol=application/x-pkcs7-signature;"
		  " boundary=b",
		    true },
		{ "multipart/signed; protocol=\"application/pgp-signature\"; "
		  "boundary=b",
		    false },
		{ "multipart/signed; boundary=b", false },
		{ "application/pkcs7-mime; smime-type=signed-data; name=a.p7m",
		    true },
		{ "application/pkcs7-mime; smime-type=enveloped-data", false },
		{ "application/pkcs7-mimex; smime-type=signed-data", false },
		{ "text/plain; charset=us-ascii", false },
		{ "multipart/signedx; protocol=application/pkcs7-signature",
		    false },
	};
	size_t i;

	(void)state;
	assert_false(smime_is_signed(NULL));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (smime_is_signed(v[i].ct) != v[i].yes) {
			fail_msg("case %zu: %s", i, v[i].ct);
		}
	}
}

static void
test_refusals(void **state)
{
	static const char ms[] = "multipart/signed; "
				 "protocol=\"application/pkcs7-signature\"; "
				 "boundary=\"b\"";
	static const struct {
		const char *ct, *body, *reason;
	} v[] = {
		{ ms, "no boundary here\r\n",
		    "S/MIME: malformed multipart/signed body" },
		{ ms, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
		    "S/MIME: malformed multipart/signed body" },
		{ ms,
		    "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
		    "Content-Type: text/plain\r\n\r\ny\r\n--b--\r\n",
		    "S/MIME: second part is not application/pkcs7-signature" },
		{ ms,
		    "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
		    "Content-Type: application/pkcs7-signature\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n--b--\r\n",
		    "S/MIME: signature part is not valid base64" },
		{ ms,
		    "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
		    "Content-Type: application/pkcs7-signature\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n",
		    "S/MIME: signature does not parse" },
		{ "application/pkcs7-mime; smime-type=signed-data", "%%%",
		    "S/MIME: application/pkcs7-mime body is not base64" },
		{ "text/plain", "x", "not S/MIME signed" },
	};
	struct challenge_mail m;
	struct smime_result r;
	struct smime_trust *t;
	char dir[200];
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	snprintf(m.from, sizeof(m.from), "acme@ca.example");
	/* without a trust list nothing passes, whatever the body */
	assert_int_equal(
	    smime_verify(NULL, ms, (const unsigned char *)"x", 1, &m, &r), 0);
	assert_false(r.pass);
	assert_string_equal(r.reason, "S/MIME: no SMIMETrustFile");
	/* with one, the body is looked at */
	t = trust_open(dir, sizeof(dir));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(
		    smime_verify(t, v[i].ct, (const unsigned char *)v[i].body,
			strlen(v[i].body), &m, &r),
		    0);
		assert_false(r.pass);
		if (strncmp(r.reason, v[i].reason, strlen(v[i].reason)) != 0) {
			fail_msg("case %zu: reason '%s', want '%s'", i,
			    r.reason, v[i].reason);
		}
	}
	trust_close(t, dir);
}

#define CA_FROM "acme@ca.example"
#define RCPT    "alice@mail.example"
#define TOKEN1  "ZWZnaGlqa2xtbm9wcXJzdA"

static gnutls_x509_privkey_t
mkkey(void)
{
	gnutls_x509_privkey_t k;

	assert_int_equal(gnutls_x509_privkey_init(&k), 0);
	assert_int_equal(
	    gnutls_x509_privkey_generate(k, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	    0);
	return k;
}

struct crtspec {
	const char *cn;
	unsigned char serial;
	bool ca;
	const char *eku;      /* NULL: no extendedKeyUsage */
	const char *email;    /* rfc822Name SAN or NULL */
	const char *utf8mbox; /* SmtpUTF8Mailbox SAN or NULL */
};

/* A certificate for key k issued by (issuer, ik); self-signed if issuer
 * is NULL (then the subject is also the issuer name). */
static gnutls_x509_crt_t
mkcrt(const struct crtspec *sp, gnutls_x509_privkey_t k,
    gnutls_x509_crt_t issuer, gnutls_x509_privkey_t ik)
{
	gnutls_x509_crt_t c;
	unsigned char ser[2] = { 0x01, sp->serial }, der[80];
	size_t n;

	assert_int_equal(gnutls_x509_crt_init(&c), 0);
	gnutls_x509_crt_set_version(c, 3);
	gnutls_x509_crt_set_serial(c, ser, sizeof(ser));
	gnutls_x509_crt_set_activation_time(c, time(NULL) - 60);
	gnutls_x509_crt_set_expiration_time(c, time(NULL) + 86400);
	gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, sp->cn,
	    (unsigned)strlen(sp->cn));
	assert_int_equal(gnutls_x509_crt_set_key(c, k), 0);
	gnutls_x509_crt_set_basic_constraints(c, sp->ca, -1);
	if (sp->ca) {
		gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN);
	}
	if (sp->eku != NULL) {
		gnutls_x509_crt_set_key_purpose_oid(c, sp->eku, 0);
	}
	if (sp->email != NULL) {
		gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_RFC822NAME,
		    sp->email, (unsigned)strlen(sp->email), GNUTLS_FSAN_APPEND);
	}
	if (sp->utf8mbox != NULL) {
		/* otherName value: a DER UTF8String */
		n = strlen(sp->utf8mbox);
		assert_true(n < sizeof(der) - 2);
		der[0] = 0x0c;
		der[1] = (unsigned char)n;
		memcpy(der + 2, sp->utf8mbox, n);
		assert_int_equal(gnutls_x509_crt_set_subject_alt_othername(c,
				     "1.3.6.1.5.5.7.8.9", der, (unsigned)n + 2,
				     GNUTLS_FSAN_APPEND),
		    0);
	}
	assert_int_equal(gnutls_x509_crt_sign2(c, issuer != NULL ? issuer : c,
			     issuer != NULL ? ik : k, GNUTLS_DIG_SHA256, 0),
	    0);
	return c;
}

/* Write the PEM of c into a new temporary file (the trust file). */
static void
write_pem(gnutls_x509_crt_t c, char *path)
{
	gnutls_datum_t pem;
	int fd;

	assert_int_equal(
	    gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &pem), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pem.data, pem.size), (ssize_t)pem.size);
	close(fd);
	gnutls_free(pem.data);
}

/*
 * An application/pkcs7-mime body: the challenge (message/rfc822, From
 * CA_FROM) signed by (signer, k), carrying signer and extra[0..n-1].
 * Returns the base64 body, malloc'ed.
 */
static char *
mkbody(gnutls_x509_crt_t signer, gnutls_x509_privkey_t k,
    gnutls_x509_crt_t *extra, size_t n)
{
	static const char inner[] = "Content-Type: message/rfc822\r\n\r\n"
				    "From: ACME <" CA_FROM ">\r\n"
				    "To: " RCPT "\r\n"
				    "Subject: ACME: " TOKEN1 "\r\n"
				    "Date: Sat, 28 Nov 2026 18:43:16 +0000\r\n"
				    "\r\nThis is an ACME challenge.\r\n";
	gnutls_datum_t data = { (unsigned char *)(uintptr_t)inner,
		sizeof(inner) - 1 };
	gnutls_datum_t der, b64;
	gnutls_privkey_t pk;
	gnutls_pkcs7_t p7;
	char *out;
	size_t i;

	assert_int_equal(gnutls_privkey_init(&pk), 0);
	assert_int_equal(gnutls_privkey_import_x509(pk, k, 0), 0);
	assert_int_equal(gnutls_pkcs7_init(&p7), 0);
	assert_int_equal(
	    gnutls_pkcs7_sign(p7, signer, pk, &data, NULL, NULL,
		GNUTLS_DIG_SHA256,
		GNUTLS_PKCS7_EMBED_DATA | GNUTLS_PKCS7_INCLUDE_CERT),
	    0);
	for (i = 0; i < n; i++) {
		assert_int_equal(gnutls_pkcs7_set_crt(p7, extra[i]), 0);
	}
	assert_int_equal(
	    gnutls_pkcs7_export2(p7, GNUTLS_X509_FMT_DER, &der), 0);
	assert_int_equal(gnutls_base64_encode2(&der, &b64), 0);
	out = calloc(1, b64.size + 1);
	assert_non_null(out);
	memcpy(out, b64.data, b64.size);
	gnutls_free(b64.data);
	gnutls_free(der.data);
	gnutls_pkcs7_deinit(p7);
	gnutls_privkey_deinit(pk);
	return out;
}

#define SIGNED_DATE 1795891396LL /* the inner Date of mkbody() */

static void
verify_dated(const struct smime_trust *t, const char *body, long long date,
    struct smime_result *r)
{
	struct challenge_mail m;

	memset(&m, 0, sizeof(m));
	m.date = date;
	snprintf(m.from, sizeof(m.from), "%s", CA_FROM);
	snprintf(m.to, sizeof(m.to), "%s", RCPT);
	snprintf(m.token1, sizeof(m.token1), "%s", TOKEN1);
	assert_int_equal(
	    smime_verify(t, "application/pkcs7-mime; smime-type=signed-data",
		(const unsigned char *)body, strlen(body), &m, r),
	    0);
}

static void
verify(const struct smime_trust *t, const char *body, struct smime_result *r)
{
	verify_dated(t, body, SIGNED_DATE, r);
}

/* The certificates of the signer tests, made once by pki_setup. */
static struct {
	gnutls_x509_privkey_t rk, fk, sk, ok, dk, uk, ak, bk, lk;
	gnutls_x509_crt_t root, fake, signer, other, decoy, utf8, a0, a, b,
	    lsig;
	struct smime_trust *t;
} pk;

static int
pki_setup(void **state)
{
	static const struct crtspec root_s = { "Test Root", 1, true, NULL, NULL,
		NULL };
	static const struct crtspec signer_s = { "signer", 0x10, false,
		GNUTLS_KP_EMAIL_PROTECTION, CA_FROM, NULL };
	static const struct crtspec other_s = { "other", 0x11, false,
		GNUTLS_KP_EMAIL_PROTECTION, "other@ca.example", NULL };
	/* named like "other" (the look-alike root has root's name, same
	 * serial), SAN = the CA, no emailProtection; short, so that DER
	 * sorting of the certificate set puts it first */
	static const struct crtspec decoy_s = { "d", 0x11, false,
		GNUTLS_KP_TLS_WWW_CLIENT, CA_FROM, NULL };
	static const struct crtspec utf8_s = { "utf8", 0x12, false,
		GNUTLS_KP_EMAIL_PROTECTION, NULL, CA_FROM };
	static const struct crtspec loopa_s = { "loopa", 0x20, true, NULL, NULL,
		NULL };
	static const struct crtspec loopb_s = { "loopb", 0x21, true, NULL, NULL,
		NULL };
	static const struct crtspec loopsig_s = { "loopsig", 0x22, false,
		GNUTLS_KP_EMAIL_PROTECTION, CA_FROM, NULL };
	char trust_path[] = "/tmp/smime-acme-trust.XXXXXX";

	(void)state;
	pk.rk = mkkey();
	pk.fk = mkkey();
	pk.sk = mkkey();
	pk.ok = mkkey();
	pk.dk = mkkey();
	pk.uk = mkkey();
	pk.ak = mkkey();
	pk.bk = mkkey();
	pk.lk = mkkey();
	pk.root = mkcrt(&root_s, pk.rk, NULL, NULL);
	pk.fake = mkcrt(&root_s, pk.fk, NULL, NULL);
	pk.signer = mkcrt(&signer_s, pk.sk, pk.root, pk.rk);
	pk.other = mkcrt(&other_s, pk.ok, pk.root, pk.rk);
	pk.decoy = mkcrt(&decoy_s, pk.dk, pk.fake, pk.fk);
	pk.utf8 = mkcrt(&utf8_s, pk.uk, pk.root, pk.rk);
	/* loopa and loopb sign each other; loopsig is issued by loopa */
	pk.a0 = mkcrt(&loopa_s, pk.ak, NULL, NULL);
	pk.b = mkcrt(&loopb_s, pk.bk, pk.a0, pk.ak);
	pk.a = mkcrt(&loopa_s, pk.ak, pk.b, pk.bk);
	pk.lsig = mkcrt(&loopsig_s, pk.lk, pk.a, pk.ak);
	write_pem(pk.root, trust_path);
	pk.t = smime_trust_open(trust_path);
	unlink(trust_path);
	assert_non_null(pk.t);
	return 0;
}

static int
pki_teardown(void **state)
{
	gnutls_x509_crt_t *c[] = { &pk.root, &pk.fake, &pk.signer, &pk.other,
		&pk.decoy, &pk.utf8, &pk.a0, &pk.a, &pk.b, &pk.lsig };
	gnutls_x509_privkey_t *k[] = { &pk.rk, &pk.fk, &pk.sk, &pk.ok, &pk.dk,
		&pk.uk, &pk.ak, &pk.bk, &pk.lk };
	size_t i;

	(void)state;
	smime_trust_close(pk.t);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		gnutls_x509_crt_deinit(*c[i]);
	}
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		gnutls_x509_privkey_deinit(*k[i]);
	}
	return 0;
}

/* The CA's certificate under the trusted root: passes. */
static void
test_valid(void **state)
{
	struct smime_result r;
	char *body = mkbody(pk.signer, pk.sk, NULL, 0);

	(void)state;
	verify(pk.t, body, &r);
	if (!r.pass) {
		fail_msg("valid signer refused: %s", r.reason);
	}
	free(body);
}

/* The outer Date (judged for freshness) must be the signed one: a replay
 * cannot pass an old signed challenge under a fresh outer Date. */
static void
test_date_signed(void **state)
{
	struct smime_result r;
	char *body = mkbody(pk.signer, pk.sk, NULL, 0);

	(void)state;
	verify_dated(pk.t, body, SIGNED_DATE + 86400, &r);
	assert_false(r.pass);
	assert_string_equal(
	    r.reason, "S/MIME: signed Date is not the outer Date");
	verify_dated(pk.t, body, 0, &r);
	assert_false(r.pass);
	free(body);
}

/* An SmtpUTF8Mailbox SAN equal to From passes (cert_emails' rule). */
static void
test_utf8_san(void **state)
{
	struct smime_result r;
	char *body = mkbody(pk.utf8, pk.uk, NULL, 0);

	(void)state;
	verify(pk.t, body, &r);
	if (!r.pass) {
		fail_msg("SmtpUTF8Mailbox signer refused: %s", r.reason);
	}
	free(body);
}

/* Another address's certificate under the root: refused on the SAN. */
static void
test_other_san(void **state)
{
	struct smime_result r;
	char *body = mkbody(pk.other, pk.ok, NULL, 0);

	(void)state;
	verify(pk.t, body, &r);
	assert_false(r.pass);
	assert_string_equal(
	    r.reason, "S/MIME: signer certificate has no rfc822Name: " CA_FROM);
	free(body);
}

/* Issue 10 attack 3: "other"'s signature carrying a decoy named like
 * "other" with SAN = the CA.  The decoy's SAN used to be checked while
 * GnuTLS verified "other". */
static void
test_decoy(void **state)
{
	struct smime_result r;
	gnutls_x509_crt_t extra[1] = { pk.decoy };
	char *body = mkbody(pk.other, pk.ok, extra, 1);

	(void)state;
	verify(pk.t, body, &r);
	if (r.pass) {
		fail_msg("decoy certificate accepted");
	}
	assert_string_equal(
	    r.reason, "S/MIME: more than one certificate matches the signer");
	free(body);
}

/* Issue 10 attack 2: the signer's issuer and its issuer sign each other.
 * A prompt refusal; the alarm turns an endless loop into a failure. */
static void
test_loop(void **state)
{
	struct smime_result r;
	gnutls_x509_crt_t extra[2] = { pk.a, pk.b };
	char *body = mkbody(pk.lsig, pk.lk, extra, 2);
	time_t t0 = time(NULL);

	(void)state;
	alarm(30);
	verify(pk.t, body, &r);
	alarm(0);
	assert_true(time(NULL) - t0 < 10);
	assert_false(r.pass);
	if (strncmp(r.reason, "S/MIME: signer certificate is not trusted",
		41) != 0) {
		fail_msg("reason: %s", r.reason);
	}
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_signed),
		cmocka_unit_test(test_refusals),
	};
	const struct CMUnitTest signers[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_date_signed),
		cmocka_unit_test(test_utf8_san),
		cmocka_unit_test(test_other_san),
		cmocka_unit_test(test_decoy),
		cmocka_unit_test(test_loop),
	};

	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	return rc + cmocka_run_group_tests(signers, pki_setup, pki_teardown);
}
