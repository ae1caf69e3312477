/*
 * Unit tests for common/mailhdr.c: the bare-EOL rule, header capture with
 * its caps (mailhdrs_add, as the milter uses it), splitting a raw header
 * block (mailhdrs_split, as the responders use it) and RFC 2047 decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mailhdr.h"

static void
test_bare_eol(void **state)
{
	(void)state;
	assert_false(mailhdr_has_bare_eol(" ACME: abc"));
	assert_false(mailhdr_has_bare_eol(" ACME:\r\n abc"));
	assert_false(mailhdr_has_bare_eol(" ACME:\n\tabc"));
	assert_true(mailhdr_has_bare_eol(" ACME: abc\nBcc: x"));
	assert_true(mailhdr_has_bare_eol(" ACME: abc\r\nBcc: x"));
	assert_true(mailhdr_has_bare_eol(" ACME: abc\rx"));
}

static void
test_add_caps(void **state)
{
	struct mailhdrs hs;
	char big[300];
	size_t i;

	(void)state;
	mailhdrs_init(&hs);
	assert_int_equal(
	    mailhdrs_add(&hs, "From", " a@b.example", 256, 4096), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(mailhdrs_add(&hs, "X-Big", big, 256, 4096), -1);
	assert_string_equal(hs.problem, "oversized header");
	/* the first problem sticks */
	assert_int_equal(
	    mailhdrs_add(&hs, "To", " c@d.example", 256, 4096), -1);
	assert_int_equal(hs.n, 1);
	mailhdrs_free(&hs);
	assert_null(hs.problem);
	assert_int_equal(hs.n, 0);
	for (i = 0; i < MAILHDR_COUNT_MAX; i++) {
		assert_int_equal(mailhdrs_add(&hs, "X", "y", 256, 1 << 20), 0);
	}
	assert_int_equal(mailhdrs_add(&hs, "X", "y", 256, 1 << 20), -1);
	assert_non_null(strstr(hs.problem, "too many"));
	mailhdrs_free(&hs);
	mailhdrs_free(NULL);
}

/* Names as libmilter hands them: "From :" arrives as "From " and would
 * be a second From to libopendkim but not to mailhdrs_get(). */
static void
test_add_names(void **state)
{
	static const char *const bad[] = { "From ", "DKIM-Signature ", "From\t",
		" From", "X Y", "", "A:B", "Caf\xc3\xa9" };
	struct mailhdrs hs;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mailhdrs_init(&hs);
		assert_int_equal(
		    mailhdrs_add(&hs, bad[i], " x", 256, 4096), -1);
		assert_string_equal(hs.problem, "malformed header name");
		assert_int_equal(hs.n, 0);
		mailhdrs_free(&hs);
	}
	mailhdrs_init(&hs);
	assert_int_equal(mailhdrs_add(&hs, "X-A_b.c!~", " x", 256, 4096), 0);
	mailhdrs_free(&hs);
}

static const struct {
	const char *name, *text;
	int rc;
	size_t n;            /* fields kept */
	const char *field;   /* one to look up */
	const char *value;   /* its value, NULL if absent */
	size_t count;        /* how many fields carry that name */
	const char *body;    /* what follows the header block */
	const char *problem; /* substring of hs.problem */
} splits[] = {
	{ "crlf", "From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n", 0, 2,
	    "subject", " x", 1, "body\r\n", NULL },
	{ "lf", "From: a@b.example\nSubject: x\n\nbody\n", 0, 2, "From",
	    " a@b.example", 1, "body\n", NULL },
	{ "folded crlf", "Subject: ACME:\r\n\tabc\r\n\r\n", 0, 1, "Subject",
	    " ACME:\r\n\tabc", 1, "", NULL },
	{ "folded lf", "References: <a@b>\n <c@d>\n\n", 0, 1, "References",
	    " <a@b>\n <c@d>", 1, "", NULL },
	{ "two From", "From: a@b\r\nFrom: c@d\r\n\r\n", 0, 2, "From", " a@b", 2,
	    "", NULL },
	{ "no body", "From: a@b\r\nTo: c@d", 0, 2, "To", " c@d", 1, "", NULL },
	{ "empty", "\r\nbody", 0, 0, "From", NULL, 0, "body", NULL },
	{ "no colon", "From: a@b\r\nACME xyz\r\n\r\n", -1, 1, "From", " a@b", 1,
	    NULL, "malformed" },
	{ "space in name", "Sub ject: x\r\n\r\n", -1, 0, "Subject", NULL, 0,
	    NULL, "malformed" },
	{ "leading fold", " x: y\r\nFrom: a@b\r\n\r\n", -1, 0, "From", NULL, 0,
	    NULL, "continuation" },
	{ "bare CR", "Subject: ACME: x\rBcc: y\r\n\r\n", -1, 0, "Subject", NULL,
	    0, NULL, "injection" },
};

static void
test_split(void **state)
{
	struct mailhdrs *hs = malloc(sizeof(*hs));
	const char *v;
	size_t i, body, k;
	int rc;

	(void)state;
	assert_non_null(hs);
	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		size_t len = strlen(splits[i].text);

		mailhdrs_init(hs);
		rc = mailhdrs_split(hs, splits[i].text, len, MAILHDR_FIELD_MAX,
		    MAILHDR_TOTAL_MAX, &body);
		if (rc != splits[i].rc || hs->n != splits[i].n) {
			fail_msg("%s: rc %d n %zu", splits[i].name, rc, hs->n);
		}
		v = mailhdrs_get(hs, splits[i].field, &k);
		if (splits[i].value == NULL) {
			assert_null(v);
		} else {
			assert_string_equal(v, splits[i].value);
		}
		assert_int_equal(k, splits[i].count);
		if (splits[i].body != NULL) {
			assert_string_equal(
			    splits[i].text + body, splits[i].body);
		}
		if (splits[i].problem != NULL) {
			assert_non_null(strstr(hs->problem, splits[i].problem));
		} else {
			assert_null(hs->problem);
		}
		mailhdrs_free(hs);
	}
	free(hs);
}

/* Over a cap the split stops: no field is kept truncated. */
static void
test_split_caps(void **state)
{
	struct mailhdrs *hs = malloc(sizeof(*hs));
	char *text;
	size_t i, len, body;

	(void)state;
	assert_non_null(hs);
	/* one Subject of 9000 octets: over MAILHDR_FIELD_MAX */
	text = malloc(10000);
	assert_non_null(text);
	len = (size_t)snprintf(text, 10000, "From: a@b.example\r\nSubject: ");
	memset(text + len, 'a', 9000);
	len += 9000;
	memcpy(text + len, "\r\n\r\n", 4);
	len += 4;
	mailhdrs_init(hs);
	assert_int_equal(mailhdrs_split(hs, text, len, MAILHDR_FIELD_MAX,
			     MAILHDR_TOTAL_MAX, &body),
	    -1);
	assert_string_equal(hs->problem, "oversized header");
	assert_null(mailhdrs_get(hs, "Subject", NULL));
	mailhdrs_free(hs);
	free(text);

	/* MAILHDR_COUNT_MAX + 1 fields */
	text = malloc((MAILHDR_COUNT_MAX + 1) * 8 + 3);
	assert_non_null(text);
	for (len = 0, i = 0; i <= MAILHDR_COUNT_MAX; i++) {
		memcpy(text + len, "X: yyy\r\n", 8);
		len += 8;
	}
	memcpy(text + len, "\r\n", 2);
	len += 2;
	assert_int_equal(mailhdrs_split(hs, text, len, MAILHDR_FIELD_MAX,
			     MAILHDR_TOTAL_MAX, &body),
	    -1);
	assert_non_null(strstr(hs->problem, "too many"));
	assert_int_equal(hs->n, MAILHDR_COUNT_MAX);
	mailhdrs_free(hs);
	free(text);
	free(hs);
}

static void
test_decode(void **state)
{
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} t[] = {
		{ " ACME: abc", " ACME: abc" },
		{ " =?UTF-8?Q?ACME:_abc?=", " ACME: abc" },
		{ " =?utf-8?B?QUNNRTo=?= =?UTF-8?Q?_abc?=", " ACME: abc" },
		{ " ACME:\r\n abc", " ACME: abc" },
		{ " =?ISO-8859-1?Q?x?=", NULL },
		{ " ACME: abc\r\nBcc: x", NULL },
	};
	size_t i;
	char *d;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		d = mailhdr_decode(t[i].in);
		if (t[i].want == NULL) {
			if (d != NULL) {
				fail_msg("%s: decoded to %s", t[i].in, d);
			}
			continue;
		}
		if (d == NULL) {
			fail_msg("%s: refused", t[i].in);
		}
		assert_string_equal(d, t[i].want);
		free(d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bare_eol),
		cmocka_unit_test(test_add_caps),
		cmocka_unit_test(test_add_names),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_caps),
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
