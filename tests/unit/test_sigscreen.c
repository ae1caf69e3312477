/*
 * Unit tests for dkim/sigscreen.c: which DKIM-Signature values may reach
 * libopendkim (issue 10, "Screen before the library").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dkim/sigscreen.h"

#define OK_H "from:to:subject:date:message-id:auto-submitted"
#define TAIL "; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"
#define SIG(a, d, h, extra)                                                    \
	"v=1; a=" a "; c=relaxed/relaxed; d=" d "; s=sel; h=" h extra TAIL

static void
test_screen(void **state)
{
	static const struct {
		const char *name, *value;
		const char *why; /* NULL: passes; else a substring of *why */
	} v[] = {
		{ "rsa-sha256", SIG("rsa-sha256", "ca.example", OK_H, ""),
		    NULL },
		{ "ed25519", SIG("ed25519-sha256", "ca.example", OK_H, ""),
		    NULL },
		{ "folded",
		    " v=1; a=rsa-sha256; d=CA.Example;\r\n\ts=sel; "
		    "h=From :\r\n To; bh=x; b=y\r\n z=;",
		    NULL },
		{ "i= at d=",
		    SIG("rsa-sha256", "ca.example", OK_H,
			"; i=acme@ca.example"),
		    NULL },
		{ "i= below d=",
		    SIG("rsa-sha256", "ca.example", OK_H, "; i=@mx.ca.example"),
		    NULL },
		{ "rsa-sha1", SIG("rsa-sha1", "ca.example", OK_H, ""), "a=" },
		{ "unknown a", SIG("hmac-md5", "ca.example", OK_H, ""), "a=" },
		{ "other d", SIG("rsa-sha256", "evil.example", OK_H, ""),
		    "d= is not" },
		{ "suffix d", SIG("rsa-sha256", "a.ca.example", OK_H, ""),
		    "d= is not" },
		{ "l=", SIG("rsa-sha256", "ca.example", OK_H, "; l=10"), "l=" },
		{ "h= names dkim-signature",
		    SIG("rsa-sha256", "ca.example",
			"from:subject:dkim-signature:x", ""),
		    "dkim-signature" },
		{ "h= DKIM-Signature any case",
		    SIG("rsa-sha256", "ca.example", "from:DKIM-Signature", ""),
		    "dkim-signature" },
		{ "h= without from", SIG("rsa-sha256", "ca.example", "to", ""),
		    "from" },
		{ "h= empty name",
		    SIG("rsa-sha256", "ca.example", "from::to", ""),
		    "h= is malformed" },
		{ "h= empty", SIG("rsa-sha256", "ca.example", "", ""),
		    "h= is malformed" },
		{ "i== last", SIG("rsa-sha256", "ca.example", OK_H, "; i=="),
		    "i=" },
		{ "i= other domain",
		    SIG("rsa-sha256", "ca.example", OK_H, "; i=a@evil.example"),
		    "i=" },
		{ "i= two @",
		    SIG("rsa-sha256", "ca.example", OK_H, "; i=a@b@ca.example"),
		    "i=" },
		{ "tag twice",
		    SIG("rsa-sha256", "ca.example", OK_H, "; d=ca.example"),
		    "malformed" },
		{ "no v", "a=rsa-sha256; d=ca.example; s=sel; h=from" TAIL,
		    "malformed" },
		{ "v=2", "v=2; a=rsa-sha256; d=ca.example; s=sel; h=from" TAIL,
		    "malformed" },
		{ "no b",
		    "v=1; a=rsa-sha256; d=ca.example; s=sel; h=from; bh=x",
		    "malformed" },
		{ "bad tag name",
		    SIG("rsa-sha256", "ca.example", OK_H, "; 1x=y"),
		    "malformed" },
		{ "junk", "v=1; garbage; a=rsa-sha256", "malformed" },
		{ "empty", "", "malformed" },
	};
	char longi[SIGSCREEN_I_MAX + 64], longh[SIGSCREEN_H_MAX * 3 + 64];
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		why = NULL;
		rc = sigscreen_check(v[i].value, "ca.example", &why);
		if (v[i].why == NULL) {
			if (rc != 0) {
				fail_msg("%s: refused: %s", v[i].name, why);
			}
		} else if (rc >= 0 || why == NULL ||
		    strstr(why, v[i].why) == NULL) {
			fail_msg("%s: want '%s', got %d '%s'", v[i].name,
			    v[i].why, rc, why != NULL ? why : "(null)");
		}
	}
	/* a 300-character i= (the library's stack over-read) */
	snprintf(longi, sizeof(longi), "%s", "; i=@");
	memset(longi + 5, 'a', 300 - 5);
	longi[300] = '\0';
	{
		char val[1024];

		snprintf(val, sizeof(val),
		    "v=1; a=rsa-sha256; d=ca.example; "
		    "s=sel; h=from%s" TAIL,
		    longi);
		assert_int_equal(sigscreen_check(val, "ca.example", &why), -1);
		assert_non_null(strstr(why, "i="));
	}
	/* SIGSCREEN_H_MAX + 1 names */
	snprintf(longh, sizeof(longh), "from");
	for (i = 0; i < SIGSCREEN_H_MAX; i++) {
		strncat(longh, ":to", sizeof(longh) - strlen(longh) - 1);
	}
	{
		char val[1024];

		snprintf(val, sizeof(val),
		    "v=1; a=rsa-sha256; d=ca.example; "
		    "s=sel; h=%s" TAIL,
		    longh);
		assert_int_equal(sigscreen_check(val, "ca.example", &why), -1);
		assert_non_null(strstr(why, "too many"));
	}
	assert_int_equal(
	    sigscreen_check(
		SIG("rsa-sha256", "ca.example", OK_H, ""), NULL, &why),
	    -1);
}

/* Which header names are DKIM-Signatures: libopendkim's rule, white space
 * before the colon dropped (the fuzz input libopendkim-name-space-before-
 * colon reached the library unscreened through "DKIM-Signature :"). */
static void
test_is_signature(void **state)
{
	(void)state;
	assert_true(sigscreen_is_signature("DKIM-Signature"));
	assert_true(sigscreen_is_signature("dkim-signature"));
	assert_true(sigscreen_is_signature("DKIM-Signature "));
	assert_true(sigscreen_is_signature("DKIM-Signature\t \r\n"));
	assert_false(sigscreen_is_signature(" DKIM-Signature"));
	assert_false(sigscreen_is_signature("DKIM-Signatures"));
	assert_false(sigscreen_is_signature("DKIM-Signatur"));
	assert_false(sigscreen_is_signature("X-DKIM-Signature"));
	assert_false(sigscreen_is_signature(""));
	assert_false(sigscreen_is_signature(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_screen),
		cmocka_unit_test(test_is_signature),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
