/*
 * Unit tests for milter/smime.c: which Content-Types announce an S/MIME
 * signature, and the refusals that need no certificate (malformed bodies,
 * no trust list).  Real signatures are checked by tests/milter/check.sh.
 * The trust list is a real one: a throwaway root made at test time
 * (tests/lib/testcert).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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
		if (smime_is_signed(v[i].ct) != v[i].yes)
			fail_msg("case %zu: %s", i, v[i].ct);
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
		if (strncmp(r.reason, v[i].reason, strlen(v[i].reason)) != 0)
			fail_msg("case %zu: reason '%s', want '%s'", i,
			    r.reason, v[i].reason);
	}
	trust_close(t, dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_signed),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
