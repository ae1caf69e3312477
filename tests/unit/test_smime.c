/*
 * Unit tests for milter/smime.c: which Content-Types announce an S/MIME
 * signature, and the refusals that need no certificate (malformed bodies,
 * no trust list).  Real signatures are checked by tests/milter/check.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "milter/smime.h"

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
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	snprintf(m.from, sizeof(m.from), "acme@ca.example");
	/* without a trust list nothing passes, whatever the body */
	assert_int_equal(
	    smime_verify(NULL, ms, (const unsigned char *)"x", 1, &m, &r), 0);
	assert_false(r.pass);
	assert_string_equal(r.reason, "S/MIME: no SMIMETrustFile");
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* a trust list is needed to get past the first check: any
		 * non-NULL handle does, it is not used before the signature
		 * parses */
		assert_int_equal(smime_verify((const struct smime_trust *)&m,
				     v[i].ct, (const unsigned char *)v[i].body,
				     strlen(v[i].body), &m, &r),
		    0);
		assert_false(r.pass);
		if (strncmp(r.reason, v[i].reason, strlen(v[i].reason)) != 0) {
			fail_msg("case %zu: reason '%s', want '%s'", i,
			    r.reason, v[i].reason);
		}
	}
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
