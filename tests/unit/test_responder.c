/*
 * Unit tests for acme/app/responder_mail.c: the responders that see whole
 * challenge mails (file, IMAP, Thunderbird) judge them with the milter's
 * one judgement (common/challenge_mail.c) and thread and address the reply
 * the same way.  The cases marked "defect" were accepted (or mis-handled)
 * by the requester's earlier second copy of the checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme/app/flow.h"
#include "acme/app/responder.h"
#include "acme/app/responder_mail.h"
#include "common/log.h"

#define TOK   "AQIDBAUGBwgJCgsMDQ4PEA"
#define P2    "ZWZnaGlqa2xtbm9wcXJzdA"
#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define OCTET "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM"
#define CA    "acme@ca.example"
#define HDRS                                                                   \
	"From: ACME CA <acme@ca.example>\r\n"                                  \
	"To: alice@mail.example\r\n"                                           \
	"Subject: ACME: " TOK "\r\n"
#define AUTO "Auto-Submitted: auto-generated; type=acme\r\n"

static const struct {
	const char *name, *ca_from, *mail;
	const char *why;      /* NULL: accepted; else a substring of *why */
	const char *reply_to; /* where the reply goes when accepted */
} judged[] = {
	{ "good", CA, HDRS AUTO "Message-ID: <c1@ca.example>\r\n\r\nbody\r\n",
	    NULL, CA },
	{ "good, LF", CA,
	    "From: acme@ca.example\nTo: alice@mail.example\nSubject: ACME:\n "
	    "AQIDBAUGBwgJ\n CgsMDQ4PEA\n" AUTO "\nbody\n",
	    NULL, CA },
	/* defect: the first From was taken, the second ignored */
	{ "two From", CA, HDRS "From: acme@ca.example\r\n" AUTO "\r\n",
	    "more than one From header", NULL },
	{ "two Subject", CA, HDRS "Subject: ACME: " TOK "\r\n" AUTO "\r\n",
	    "more than one Subject", NULL },
	/* defect: "auto-generated" was a prefix match */
	{ "auto-generatedX", CA, HDRS "Auto-Submitted: auto-generatedX\r\n\r\n",
	    "Auto-Submitted is not auto-generated", NULL },
	{ "no Auto-Submitted", CA, HDRS "\r\n", "no Auto-Submitted", NULL },
	/* defect: the reply went to any Reply-To */
	{ "evil Reply-To", CA,
	    HDRS "Reply-To: mallory@evil.example\r\n" AUTO "\r\n", NULL, CA },
	{ "CA Reply-To", CA,
	    HDRS "Reply-To: replies@ca.example\r\n" AUTO "\r\n", NULL,
	    "replies@ca.example" },
	{ "two Reply-To", CA,
	    HDRS "Reply-To: a@ca.example\r\nReply-To: b@ca.example\r\n" AUTO
		 "\r\n",
	    "more than one Reply-To", NULL },
	/* defect: any From was accepted when the CA gave no "from" */
	{ "no CA from", "", HDRS AUTO "\r\n", "no challenge sender", NULL },
	{ "other From", "other@ca.example", HDRS AUTO "\r\n",
	    "From is not the CA sender", NULL },
	{ "other To", CA,
	    "From: acme@ca.example\r\nTo: bob@mail.example\r\nSubject: ACME: " TOK
	    "\r\n" AUTO "\r\n",
	    "To is not the address being certified", NULL },
	{ "reply Subject", CA,
	    "From: acme@ca.example\r\nTo: alice@mail.example\r\nSubject: Re: "
	    "ACME: " TOK "\r\n" AUTO "\r\n",
	    "does not start", NULL },
	{ "malformed line", CA, HDRS "garbage\r\n" AUTO "\r\n", "malformed",
	    NULL },
	{ "injection", CA, HDRS "X-A: b\rBcc: x\r\n" AUTO "\r\n", "injection",
	    NULL },
};

static struct flow_settings job_set;
static struct flow_session job_ses;

static void
job(struct responder_job *j, struct flow *f, const char *ca_from)
{
	memset(j, 0, sizeof(*j));
	memset(f, 0, sizeof(*f));
	memset(&job_set, 0, sizeof(job_set));
	memset(&job_ses, 0, sizeof(job_ses));
	snprintf(job_ses.thumbprint, sizeof(job_ses.thumbprint), "%s", THUMB);
	job_set.rule = TOKEN_RULE_OCTET;
	f->set = &job_set;
	f->ses = &job_ses;
	j->f = f;
	j->addr = "alice@mail.example";
	j->token2 = (char *)P2;
	snprintf(j->from, sizeof(j->from), "%s", ca_from);
}

static void
test_judge(void **state)
{
	struct responder_job j;
	struct flow f;
	struct challenge_mail m;
	struct buf out;
	char to[CHALLENGE_ADDR_MAX + 1];
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(judged) / sizeof(judged[0]); i++) {
		job(&j, &f, judged[i].ca_from);
		why = NULL;
		rc = resp_mail_judge(
		    &j, judged[i].mail, strlen(judged[i].mail), &m, &why);
		if (judged[i].why == NULL && rc != 0) {
			fail_msg("%s: refused: %s", judged[i].name, why);
		}
		if (judged[i].why != NULL &&
		    (rc >= 0 || why == NULL ||
			strstr(why, judged[i].why) == NULL)) {
			fail_msg("%s: rc %d why %s, want %s", judged[i].name,
			    rc, why ? why : "-", judged[i].why);
		}
		if (rc != 0) {
			continue;
		}
		assert_string_equal(m.token1, TOK);
		buf_init(&out, 0);
		assert_int_equal(
		    resp_mail_compose(&j, &m, to, sizeof(to), &out), 0);
		if (strcmp(to, judged[i].reply_to) != 0) {
			fail_msg("%s: reply to %s, want %s", judged[i].name, to,
			    judged[i].reply_to);
		}
		assert_non_null(strstr(out.data, "\r\nTo: "));
		assert_non_null(strstr(out.data, judged[i].reply_to));
		assert_non_null(strstr(out.data, "\r\n" OCTET "\r\n"));
		buf_free(&out);
	}
}

/* The longest header line of a composed reply. */
static size_t
longest_line(const char *s)
{
	size_t max = 0, n;

	for (; *s != '\0'; s += n + (s[n] != '\0' ? 2 : 0)) {
		n = strcspn(s, "\r");
		if (n > max) {
			max = n;
		}
		if (n == 0) {
			break; /* end of the header block */
		}
	}
	return max;
}

/* defect: raw Message-ID and References went into the reply */
static void
test_threading(void **state)
{
	static const struct {
		const char *name, *hdrs;
		const char *irt;  /* In-Reply-To line, NULL: none */
		const char *refs; /* References line, NULL: none */
	} t[] = {
		{ "clean",
		    "Message-ID: <c1@ca.example>\r\nReferences: "
		    "<r0@ca.example>\r\n\t<r1@ca.example>\r\n",
		    "In-Reply-To: <c1@ca.example>\r\n",
		    "References: <r0@ca.example> <r1@ca.example> "
		    "<c1@ca.example>\r\n" },
		{ "two ids", "Message-ID: <a@b> <c@d>\r\n", NULL, NULL },
		{ "no brackets", "Message-ID: c1@ca.example\r\n", NULL, NULL },
		{ "bad refs",
		    "Message-ID: <c1@ca.example>\r\nReferences: <r@x> \x01\r\n",
		    "In-Reply-To: <c1@ca.example>\r\n",
		    "References: <c1@ca.example>\r\n" },
	};
	struct responder_job j;
	struct flow f;
	struct challenge_mail m;
	struct buf mail, out;
	char to[CHALLENGE_ADDR_MAX + 1];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		job(&j, &f, CA);
		buf_init(&mail, 0);
		buf_init(&out, 0);
		assert_int_equal(
		    buf_printf(&mail, HDRS AUTO "%s\r\nbody\r\n", t[i].hdrs),
		    0);
		if (resp_mail_judge(&j, mail.data, mail.len, &m, &why) != 0) {
			fail_msg("%s: refused: %s", t[i].name, why);
		}
		assert_int_equal(
		    resp_mail_compose(&j, &m, to, sizeof(to), &out), 0);
		if (t[i].irt != NULL) {
			assert_non_null(strstr(out.data, t[i].irt));
		} else {
			assert_null(strstr(out.data, "In-Reply-To:"));
		}
		if (t[i].refs != NULL) {
			assert_non_null(strstr(out.data, t[i].refs));
		} else {
			assert_null(strstr(out.data, "References:"));
		}
		buf_free(&mail);
		buf_free(&out);
	}

	/* 40 references (959 octets) and a Message-ID of 403: the reply's
	 * References line would be 1,375 octets; it stays within 998 */
	job(&j, &f, CA);
	buf_init(&mail, 0);
	buf_init(&out, 0);
	assert_int_equal(buf_printf(&mail,
			     HDRS AUTO "Message-ID: <%0390d"
				       "@ca.example>\r\nReferences:",
			     0),
	    0);
	for (i = 0; i < 40; i++) {
		assert_int_equal(
		    buf_printf(&mail, " <ref%03zu@ca.example.org>", i), 0);
	}
	assert_int_equal(buf_printf(&mail, "\r\n\r\nbody\r\n"), 0);
	assert_int_equal(resp_mail_judge(&j, mail.data, mail.len, &m, &why), 0);
	assert_int_equal(strlen(m.message_id), 403);
	assert_int_equal(resp_mail_compose(&j, &m, to, sizeof(to), &out), 0);
	assert_true(longest_line(out.data) <= 998);
	assert_null(strstr(out.data, "<ref000@"));
	assert_non_null(strstr(out.data, "References: <ref"));
	assert_non_null(strstr(out.data, " <ref039@ca.example.org> <0000"));
	buf_free(&mail);
	buf_free(&out);
}

/* What a person pastes or a seed automation writes into the Subject file:
 * the whole Subject (with or without "Subject:", a line end, trailing
 * blanks) or the token alone (the seed takes the last word). */
static void
test_parse_subject(void **state)
{
	static const char *const good[] = {
		"ACME: " TOK,
		"  ACME: " TOK "\n",
		"Subject: ACME: " TOK "\r\n",
		"subject:ACME: " TOK " \t\n",
		TOK,
		TOK "\n",
		"  " TOK "  \n\n",
		"ACME: AQIDBAUGBwgJ CgsMDQ4PEA",
	};
	static const char *const bad[] = {
		"",
		"\n",
		"Re: ACME: " TOK,
		"ACME: not base64!",
		"not a token",
		"AQID",
	};
	char part1[CHALLENGE_TOKEN_MAX + 1], big[3000];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (responder_parse_subject(
			good[i], part1, sizeof(part1), &why) != 0) {
			fail_msg("\"%s\": %s", good[i], why ? why : "?");
		}
		assert_string_equal(part1, TOK);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (responder_parse_subject(
			bad[i], part1, sizeof(part1), &why) == 0) {
			fail_msg("\"%s\" accepted", bad[i]);
		}
		assert_non_null(why);
	}
	/* over the cap: refused, never cut to a shorter token */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "ACME: ", 6);
	assert_int_equal(
	    responder_parse_subject(big, part1, sizeof(part1), &why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_threading),
		cmocka_unit_test(test_parse_subject),
	};

	log_init("test_responder", false, 0, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
