/*
 * test_dkimv: dkim/dkimv.c round trips with the TEST key in
 * tests/milter/fixtures (dkim-test.private; public halves for ca.example,
 * other.example and mail.example in dkim-test.keys, read instead of DNS).
 * A message signed by dkimv_sign() is verified by dkimv_begin..dkimv_end;
 * tampering, a foreign d= and a short h= must fail.  Run from the top
 * directory (tests/run.sh does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/challenge.h"
#include "common/log.h"
#include "dkim/dkimv.h"

#define KEYFILE  "tests/milter/fixtures/dkim-test.private"
#define KEYSFILE "tests/milter/fixtures/dkim-test.keys"

static const char msg_hdrs[] = "From: ACME CA <acme@ca.example>\r\n"
			       "To: alice@mail.example\r\n"
			       "Subject: ACME: AQIDBAUGBwgJCgsMDQ4PEA\r\n"
			       "Date: Sat, 28 Nov 2026 18:43:16 +0000\r\n"
			       "Message-ID: <c1@ca.example>\r\n"
			       "Auto-Submitted: auto-generated; type=acme\r\n"
			       "Content-Type: text/plain\r\n";
static const char msg_body[] = "Please reply.\r\nThanks.\r\n";

/* Feed a CRLF message (headers unfolded except for DKIM-Signature) into a
 * verifier, split like libmilter does: name, then value with its leading
 * space; body in one chunk.  Returns the judgement. */
static int
verify(struct dkimv_lib *lib, const char *msg, const char *from_domain,
    const char *const *required, struct dkimv_result *res)
{
	struct dkimv *d = dkimv_begin(lib, "TEST");
	const char *p = msg, *eol, *colon, *body;
	char name[128], *value;
	size_t vlen;
	int rc;

	assert_non_null(d);
	body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	while (p < body + 2) {
		/* one header: up to a CRLF not followed by white space */
		eol = p;
		for (;;) {
			eol = strstr(eol, "\r\n");
			if (eol[2] != ' ' && eol[2] != '\t') {
				break;
			}
			eol += 2;
		}
		colon = memchr(p, ':', (size_t)(eol - p));
		assert_non_null(colon);
		assert_true((size_t)(colon - p) < sizeof(name));
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		vlen = (size_t)(eol - colon - 1);
		value = strndup(colon + 1, vlen);
		assert_non_null(value);
		dkimv_header(d, name, value);
		free(value);
		p = eol + 2;
	}
	dkimv_eoh(d);
	dkimv_body(d, (const unsigned char *)body + 4, strlen(body + 4));
	rc = dkimv_end(d, from_domain, required, res);
	dkimv_free(d);
	return rc;
}

/* Sign msg_hdrs+msg_body for domain and return the whole signed mail. */
static char *
signed_mail(struct dkimv_lib *lib, const char *domain, const char *body)
{
	struct buf m, out;
	char *sig;

	buf_init(&m, 0);
	buf_init(&out, 0);
	assert_int_equal(buf_printf(&m, "%s\r\n%s", msg_hdrs, body), 0);
	sig = dkimv_sign(lib, domain, "test", KEYFILE, m.data, m.len);
	assert_non_null(sig);
	assert_int_equal(
	    buf_printf(&out, "DKIM-Signature: %s\r\n%s", sig, m.data), 0);
	free(sig);
	buf_free(&m);
	return buf_steal(&out);
}

static int
setup(void **state)
{
	struct dkimv_lib *lib;

	log_init("test_dkimv", false, 0, true);
	lib = dkimv_lib_open(KEYSFILE);
	assert_non_null(lib);
	*state = lib;
	return 0;
}

static int
teardown(void **state)
{
	dkimv_lib_close(*state);
	return 0;
}

static void
test_sign_shape(void **state)
{
	struct dkimv_lib *lib = *state;
	char *mail = signed_mail(lib, "ca.example", msg_body);
	const char *sig = mail + strlen("DKIM-Signature: ");
	size_t i;

	assert_non_null(strstr(sig, "a=rsa-sha256"));
	assert_non_null(strstr(sig, "c=relaxed/relaxed"));
	assert_non_null(strstr(sig, "d=ca.example"));
	assert_non_null(strstr(sig, "s=test"));
	/* CRLF only: no bare LF anywhere */
	for (i = 0; mail[i] != '\0'; i++) {
		if (mail[i] == '\n') {
			assert_int_equal(mail[i - 1], '\r');
		}
	}
	free(mail);
}

/* Every reply header name is listed once more than it is present. */
static void
test_sign_oversigns(void **state)
{
	struct dkimv_lib *lib = *state;
	char *mail = signed_mail(lib, "ca.example", msg_body);
	char *h = strstr(mail, " h="), *end, htag[2048];
	size_t i, n = 0;

	if (h == NULL) {
		h = strstr(mail, "\th=");
	}
	assert_non_null(h);
	h += 3;
	end = strchr(h, ';');
	assert_non_null(end);
	for (; h < end && n + 1 < sizeof(htag); h++) {
		if (*h != ' ' && *h != '\t' && *h != '\r' && *h != '\n') {
			htag[n++] = *h;
		}
	}
	htag[n] = '\0';
	for (i = 0; challenge_reply_sign_headers[i] != NULL; i++) {
		const char *name = challenge_reply_sign_headers[i];
		size_t want = 1, got = 0, nl = strlen(name);
		const char *p = htag;

		/* present once in msg_hdrs: From To Subject Date Message-ID
		 * Auto-Submitted Content-Type */
		if (strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
		    strcmp(name, "subject") == 0 || strcmp(name, "date") == 0 ||
		    strcmp(name, "message-id") == 0 ||
		    strcmp(name, "auto-submitted") == 0 ||
		    strcmp(name, "content-type") == 0) {
			want = 2;
		}
		while (*p != '\0') {
			const char *e = strchr(p, ':');
			size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

			if (l == nl && strncasecmp(p, name, l) == 0) {
				got++;
			}
			p += l + (e != NULL);
		}
		if (got != want) {
			fail_msg("%s listed %zu times in h=%s, want %zu", name,
			    got, htag, want);
		}
	}
	free(mail);
}

static void
test_verify_pass(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	char *mail = signed_mail(lib, "ca.example", msg_body);

	assert_int_equal(
	    verify(lib, mail, "ca.example", challenge_required_headers, &r), 0);
	assert_true(r.pass);
	assert_true(r.from_signed);
	assert_string_equal(r.domain, "ca.example");
	assert_string_equal(r.reason, "");
	/* domains compare case-insensitively, still exactly */
	assert_int_equal(
	    verify(lib, mail, "CA.Example", challenge_required_headers, &r), 0);
	assert_true(r.pass);
	free(mail);
}

static void
test_verify_body_altered(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	char *mail = signed_mail(lib, "ca.example", msg_body);
	char *p = strstr(mail, "Thanks.");

	p[0] = 'X';
	assert_int_equal(
	    verify(lib, mail, "ca.example", challenge_required_headers, &r), 0);
	assert_false(r.pass);
	assert_non_null(strstr(r.reason, "body hash"));
	free(mail);
}

static void
test_verify_header_altered(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	char *mail = signed_mail(lib, "ca.example", msg_body);
	char *p = strstr(mail, "alice@");

	p[0] = 'm';
	assert_int_equal(
	    verify(lib, mail, "ca.example", challenge_required_headers, &r), 0);
	assert_false(r.pass);
	assert_non_null(strstr(r.reason, "did not verify"));
	free(mail);
}

static void
test_verify_wrong_domain(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	char *mail = signed_mail(lib, "other.example", msg_body);

	assert_int_equal(
	    verify(lib, mail, "ca.example", challenge_required_headers, &r), 0);
	assert_false(r.pass);
	assert_string_equal(r.domain, "other.example");
	assert_non_null(strstr(r.reason, "not the From domain"));
	/* a parent or sub-domain is not enough either */
	free(mail);
	mail = signed_mail(lib, "ca.example", msg_body);
	assert_int_equal(
	    verify(lib, mail, "sub.ca.example", challenge_required_headers, &r),
	    0);
	assert_false(r.pass);
	free(mail);
}

static void
test_verify_required_names(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	static const char *const more[] = { "from", "x-not-signed", NULL };
	char *mail = signed_mail(lib, "ca.example", msg_body);

	assert_int_equal(verify(lib, mail, "ca.example", more, &r), 0);
	assert_false(r.pass);
	assert_non_null(strstr(r.reason, "lacks x-not-signed"));
	free(mail);
}

static void
test_verify_unsigned(void **state)
{
	struct dkimv_lib *lib = *state;
	struct dkimv_result r;
	struct buf m;

	buf_init(&m, 0);
	assert_int_equal(buf_printf(&m, "%s\r\n%s", msg_hdrs, msg_body), 0);
	assert_int_equal(
	    verify(lib, m.data, "ca.example", challenge_required_headers, &r),
	    0);
	assert_false(r.pass);
	assert_non_null(strstr(r.reason, "no DKIM signature"));
	buf_free(&m);
}

static void
test_htag_has(void **state)
{
	(void)state;
	assert_true(dkimv_htag_has("from:to:subject", "To"));
	assert_true(dkimv_htag_has(" From : To\r\n\t: cc", "cc"));
	assert_false(dkimv_htag_has("from:to", "t"));
	assert_false(dkimv_htag_has("from:reply-to", "to"));
	assert_false(dkimv_htag_has("", "from"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htag_has),
		cmocka_unit_test(test_sign_shape),
		cmocka_unit_test(test_sign_oversigns),
		cmocka_unit_test(test_verify_pass),
		cmocka_unit_test(test_verify_body_altered),
		cmocka_unit_test(test_verify_header_altered),
		cmocka_unit_test(test_verify_wrong_domain),
		cmocka_unit_test(test_verify_required_names),
		cmocka_unit_test(test_verify_unsigned),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
