/*
 * Unit tests for common/challenge.c: the token-rule vectors A-D of
 * rfc8823-notes.md §2.3, Subject and mailbox parsing, reply composition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/challenge.h"

#define T7638 "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

static const struct {
	const char *name, *p1, *p2, *thumb;
	enum token_rule rule;
	const char *want;
} vectors[] = {
	{ "A string", "LgYemJLy3F1LDkiJrdIGbEzyFJyOyf6vBdyZ1TG3sME",
	    "DGyRejmCefe7v4NfDGDKfA", T7638, TOKEN_RULE_STRING,
	    "oqRgcdn5jIDrdckMC7owMFH3UoxuDcTUPaTHapj0tfs" },
	{ "A octet", "LgYemJLy3F1LDkiJrdIGbEzyFJyOyf6vBdyZ1TG3sME",
	    "DGyRejmCefe7v4NfDGDKfA", T7638, TOKEN_RULE_OCTET,
	    "XW5kWcqNuiysUrDy6cZazLQ3v2QZNKXIKVMtfc8-gHY" },
	{ "B string", "AQIDBAUGBwgJCgsMDQ4PEA", "ZWZnaGlqa2xtbm9wcXJzdA", T7638,
	    TOKEN_RULE_STRING, "naq__E_26ebkVwq1YhdpsiZPraD1hceej5vGKJpuNLU" },
	{ "B octet", "AQIDBAUGBwgJCgsMDQ4PEA", "ZWZnaGlqa2xtbm9wcXJzdA", T7638,
	    TOKEN_RULE_OCTET, "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM" },
	{ "C string", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
	    "ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8", T7638, TOKEN_RULE_STRING,
	    "N-t80onMd_wIsASmEJNLx-CGUFH-FvZTyjApnAnl-A0" },
	{ "C octet", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY",
	    "ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8", T7638, TOKEN_RULE_OCTET,
	    "N-t80onMd_wIsASmEJNLx-CGUFH-FvZTyjApnAnl-A0" },
	{ "D octet", "V4nE8NhYh6edBpfQTg5qqQ", "x6I65YvEk6xC4KV0QMvdJw",
	    "hC4xyXNn8ZDH4yrcp93Zj3qgQs7LyT_GUL45YD7IVMQ", TOKEN_RULE_OCTET,
	    "Fjt2SD7KoqSt3I6jwgg8ljjkP9Er7h1w0wF0UihvQIU" },
	{ "D string", "V4nE8NhYh6edBpfQTg5qqQ", "x6I65YvEk6xC4KV0QMvdJw",
	    "hC4xyXNn8ZDH4yrcp93Zj3qgQs7LyT_GUL45YD7IVMQ", TOKEN_RULE_STRING,
	    "gtzugYfQ1gO_Pi-ripWZTUtKP_xzPoQe-brDkSOvX5c" },
};

static void
test_vectors(void **state)
{
	char out[CHALLENGE_DIGEST_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		memset(out, 0, sizeof(out));
		assert_int_equal(
		    challenge_response(vectors[i].p1, vectors[i].p2,
			vectors[i].thumb, vectors[i].rule, out),
		    0);
		if (strcmp(out, vectors[i].want) != 0) {
			fail_msg("vector %s: got %s", vectors[i].name, out);
		}
	}
}

static void
test_response_bad(void **state)
{
	char out[CHALLENGE_DIGEST_LEN + 1];

	(void)state;
	/* a non-canonical token cannot be decoded under the octet rule */
	assert_int_equal(
	    challenge_response("AQIDBAUGBwgJCgsMDQ4PEB",
		"ZWZnaGlqa2xtbm9wcXJzdA", T7638, TOKEN_RULE_OCTET, out),
	    -1);
	assert_int_equal(
	    challenge_response("AQ+D", "ZWZn", T7638, TOKEN_RULE_STRING, out),
	    -1);
	assert_int_equal(
	    challenge_response("AQID", "", T7638, TOKEN_RULE_STRING, out), -1);
	assert_int_equal(
	    challenge_response("AQID", "AQID", T7638, TOKEN_RULE_MAX, out), -1);
}

static const struct {
	const char *name, *subject, *want; /* want NULL: must fail */
} subjects[] = {
	{ "plain", "ACME: AQIDBAUGBwgJCgsMDQ4PEA", "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "leading space", " ACME: AQIDBAUGBwgJCgsMDQ4PEA",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "folded", "ACME: AQIDBAUGBwgJ\r\n CgsMDQ4PEA",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "folded tab", "ACME:\r\n\tAQIDBAUGBwgJ CgsM\tDQ4PEA",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "acme4j rfc2047 fixture",
	    "=?UTF-8?Q?ACME:_LgYemJLy3F1LDki=20JrdIGbEzyFJyOyf=20=206vBdyZ1TG"
	    "3sME=3D?=",
	    "LgYemJLy3F1LDkiJrdIGbEzyFJyOyf6vBdyZ1TG3sME" },
	{ "rfc2047 base64",
	    "=?us-ascii?B?QUNNRTogQVFJREJBVUdCd2dKQ2dzTURRNFBFQQ==?=",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "rfc2047 two words",
	    "=?UTF-8?Q?ACME:_AQIDBAUGBwgJ?= =?UTF-8?Q?CgsMDQ4PEA?=",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "rfc2231 language", "=?UTF-8*en?Q?ACME:_AQIDBAUGBwgJCgsMDQ4PEA?=",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "padded",
	    "ACME: AQIDBAUGBwgJCgsMDQ4PEA==", "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "reply prefix", "Re: ACME: AQIDBAUGBwgJCgsMDQ4PEA", NULL },
	{ "fwd prefix", "Fwd: ACME: AQIDBAUGBwgJCgsMDQ4PEA", NULL },
	{ "lower case label", "acme: AQIDBAUGBwgJCgsMDQ4PEA", NULL },
	{ "no space", "ACME:AQIDBAUGBwgJCgsMDQ4PEA", NULL },
	{ "short token", "ACME: AQIDBAUGBwgJCgsMDQ4P", NULL },
	{ "not base64url", "ACME: AQIDBAUG+wgJCgsMDQ4PEA", NULL },
	{ "non-canonical bits", "ACME: AQIDBAUGBwgJCgsMDQ4PEB", NULL },
	{ "length 1 mod 4", "ACME: AQIDBAUGBwgJCgsMDQ4PEAAAA", NULL },
	{ "crlf injection", "ACME: AQIDBAUGBwgJCgsMDQ4PEA\r\nBcc: x@y.test",
	    NULL },
	{ "lf folded", "ACME: AQIDBAUGBwgJ\n CgsMDQ4PEA",
	    "AQIDBAUGBwgJCgsMDQ4PEA" },
	{ "bare lf", "ACME: AQIDBAUGBwgJ\nCgsMDQ4PEA", NULL },
	{ "bare cr", "ACME: AQIDBAUGBwgJ\rCgsMDQ4PEA", NULL },
	{ "latin1 charset",
	    "=?ISO-8859-1?Q?ACME:_AQIDBAUGBwgJCgsMDQ4PEA?=", NULL },
	{ "empty", "", NULL },
	{ "label only", "ACME: ", NULL },
	{ "encoded crlf",
	    "=?UTF-8?Q?ACME:_AQIDBAUGBwgJCgsMDQ4PEA=0D=0ABcc:_x?=", NULL },
};

static void
test_subjects(void **state)
{
	char tok[CHALLENGE_TOKEN_MAX + 1];
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		rc = challenge_parse_subject(
		    subjects[i].subject, tok, sizeof(tok), &why);
		if (subjects[i].want == NULL) {
			if (rc >= 0) {
				fail_msg(
				    "subject %s: accepted", subjects[i].name);
			}
			assert_non_null(why);
		} else {
			if (rc != 0) {
				fail_msg("subject %s: refused: %s",
				    subjects[i].name, why);
			}
			assert_string_equal(tok, subjects[i].want);
		}
	}
}

static const struct {
	const char *name, *value, *want;
} mailboxes[] = {
	{ "bare", "alice@example.test", "alice@example.test" },
	{ "angle", "Alice <alice@example.test>", "alice@example.test" },
	{ "quoted comma", "\"Doe, Jane\" <jane@example.test>",
	    "jane@example.test" },
	{ "comment", "alice@example.test (Alice)", "alice@example.test" },
	{ "folded", "Alice\r\n <alice@example.test>", "alice@example.test" },
	{ "encoded name", "=?UTF-8?Q?J=C3=BCrgen?= <j@example.test>",
	    "j@example.test" },
	{ "two", "a@example.test, b@example.test", NULL },
	{ "two angles", "<a@example.test> <b@example.test>", NULL },
	{ "group", "undisclosed-recipients:;", NULL },
	{ "no at", "alice", NULL },
	{ "two at", "a@b@example.test", NULL },
	{ "empty", "", NULL },
	{ "injection", "a@example.test\r\nBcc: x@example.test", NULL },
	{ "unclosed", "Alice <alice@example.test", NULL },
	{ "trailing text", "<alice@example.test> x", NULL },
};

static void
test_mailboxes(void **state)
{
	char out[CHALLENGE_ADDR_MAX + 1];
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(mailboxes) / sizeof(mailboxes[0]); i++) {
		rc = challenge_parse_mailbox(
		    mailboxes[i].value, out, sizeof(out), &why);
		if (mailboxes[i].want == NULL) {
			if (rc >= 0) {
				fail_msg("mailbox %s: accepted as %s",
				    mailboxes[i].name, out);
			}
		} else {
			if (rc != 0) {
				fail_msg(
				    "mailbox %s: %s", mailboxes[i].name, why);
			}
			assert_string_equal(out, mailboxes[i].want);
		}
	}
}

static void
test_addr_equal(void **state)
{
	(void)state;
	assert_true(challenge_addr_equal("a@Example.TEST", "a@example.test"));
	assert_false(challenge_addr_equal("A@example.test", "a@example.test"));
	assert_false(challenge_addr_equal("a@example.test", "a@example.tes"));
	assert_false(challenge_addr_equal("ab@x.test", "a@bx.test"));
	assert_false(challenge_addr_equal("nodomain", "nodomain"));
	assert_string_equal(challenge_addr_domain("a@b.test"), "b.test");
	assert_null(challenge_addr_domain("a@"));
}

static void
test_rules(void **state)
{
	(void)state;
	assert_int_equal(challenge_rule_parse("octet"), TOKEN_RULE_OCTET);
	assert_int_equal(challenge_rule_parse("STRING"), TOKEN_RULE_STRING);
	assert_int_equal(challenge_rule_parse("bytes"), TOKEN_RULE_MAX);
	assert_string_equal(challenge_rule_name(TOKEN_RULE_STRING), "string");
}

static void
test_compose(void **state)
{
	struct challenge_reply r = {
		.from = "alice@example.test",
		.to = "acme-challenge@ca.test",
		.token_part1 = "AQIDBAUGBwgJCgsMDQ4PEA",
		.in_reply_to = "<c1@ca.test>",
		.references = NULL,
		.message_id = "<r1@example.test>",
		.date = "Sat, 28 Nov 2026 18:43:16 +0000",
		.digest = "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM",
	};
	static const char want[] =
	    "From: alice@example.test\r\n"
	    "To: acme-challenge@ca.test\r\n"
	    "Subject: Re: ACME: AQIDBAUGBwgJCgsMDQ4PEA\r\n"
	    "Date: Sat, 28 Nov 2026 18:43:16 +0000\r\n"
	    "Message-ID: <r1@example.test>\r\n"
	    "In-Reply-To: <c1@ca.test>\r\n"
	    "References: <c1@ca.test>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "-----BEGIN ACME RESPONSE-----\r\n"
	    "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM\r\n"
	    "-----END ACME RESPONSE-----\r\n";
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(challenge_compose_reply(&r, &b), 0);
	assert_string_equal(b.data, want);
	assert_int_equal(b.len, strlen(want));

	/* References carries the parent's References, then its Message-ID */
	buf_reset(&b);
	r.references = "<c0@ca.test>";
	assert_int_equal(challenge_compose_reply(&r, &b), 0);
	assert_non_null(
	    strstr(b.data, "\r\nReferences: <c0@ca.test> <c1@ca.test>\r\n"));

	/* header injection through any field is refused, buffer unchanged */
	buf_reset(&b);
	r.to = "x@ca.test\r\nBcc: y@example.test";
	assert_int_equal(challenge_compose_reply(&r, &b), -1);
	assert_int_equal(b.len, 0);
	r.to = "acme-challenge@ca.test";
	r.digest = "short";
	assert_int_equal(challenge_compose_reply(&r, &b), -1);
	buf_free(&b);
}

static void
test_date_msgid(void **state)
{
	char d[64], m[128], m2[128];

	(void)state;
	assert_int_equal(challenge_date(1795891396L, d, sizeof(d)), 0);
	assert_string_equal(d, "Sat, 28 Nov 2026 18:43:16 +0000");
	assert_int_equal(challenge_message_id("example.test", m, sizeof(m)), 0);
	assert_int_equal(
	    challenge_message_id("example.test", m2, sizeof(m2)), 0);
	assert_true(m[0] == '<' && m[strlen(m) - 1] == '>');
	assert_non_null(strstr(m, "@example.test>"));
	assert_string_not_equal(m, m2);
	assert_int_equal(challenge_message_id("bad domain", m, sizeof(m)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_response_bad),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_addr_equal),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_date_msgid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
