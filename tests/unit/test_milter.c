/*
 * test_milter: pure logic of milter/: header capture (ctx.c), the
 * simulated-connection test, the challenge judgement on headers as the
 * milter keeps them (common/challenge_mail.c) and the socket specification
 * parser (sockspec.c).  Subject/token/response rules themselves are tested
 * in test_challenge.c, header splitting in test_mailhdr.c, the judgement
 * on whole mails in test_responder.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/challenge_mail.h"
#include "milter/ctx.h"
#include "milter/sockspec.h"

#define TOK "AQIDBAUGBwgJCgsMDQ4PEA"

static void
test_simulated(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;

	(void)state;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s4.sin_port = 0;
	assert_true(ctx_is_simulated("localhost", (struct sockaddr *)&s4));
	s4.sin_port = htons(40000); /* a real local SMTP client */
	assert_false(ctx_is_simulated("localhost", (struct sockaddr *)&s4));
	s4.sin_port = 0;
	s4.sin_addr.s_addr = htonl(0xc0000219); /* 192.0.2.25 */
	assert_false(ctx_is_simulated("mx", (struct sockaddr *)&s4));
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_loopback;
	assert_true(ctx_is_simulated("localhost", (struct sockaddr *)&s6));
	assert_false(ctx_is_simulated("localhost", NULL));
}

static void
test_header_caps(void **state)
{
	struct milter_app app;
	struct mctx *c;
	char big[300];

	(void)state;
	memset(&app, 0, sizeof(app));
	c = ctx_new(&app);
	assert_non_null(c);
	assert_int_equal(
	    ctx_add_header(c, "From", " a@b.example", 256, 4096), 0);
	assert_null(c->hdr_problem);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ctx_add_header(c, "X-Big", big, 256, 4096), -1);
	assert_string_equal(c->hdr_problem, "oversized header");
	/* the first problem sticks */
	assert_int_equal(
	    ctx_add_header(c, "To", " c@d.example", 256, 4096), -1);
	ctx_reset_msg(c);
	assert_null(c->hdr_problem);
	assert_int_equal(c->hdr.n, 0);
	assert_int_equal(ctx_add_header(c, "A", big, 1024, 200), -1);
	assert_non_null(strstr(c->hdr_problem, "too large"));
	ctx_reset_msg(c);
	assert_int_equal(
	    ctx_add_header(c, "Subject", " ACME: x\nBcc: y", 1024, 4096), -1);
	assert_non_null(strstr(c->hdr_problem, "injection"));
	assert_string_equal(c->qid, "NOQUEUE");
	ctx_set_qid(c, "4AB\ncd");
	assert_string_equal(c->qid, "4AB?cd");
	ctx_free(c);
	ctx_free(NULL);
}

static void
test_rcpts(void **state)
{
	struct milter_app app;
	struct mctx *c;
	char a[32];
	int i;

	(void)state;
	memset(&app, 0, sizeof(app));
	c = ctx_new(&app);
	assert_non_null(c);
	assert_int_equal(ctx_add_rcpt(c, "alice@mail.example"), 0);
	assert_int_equal(ctx_add_rcpt(c, "alice@MAIL.example"), 0);
	assert_int_equal(c->n_rcpt, 1);
	for (i = 1; i < CTX_RCPT_MAX; i++) {
		snprintf(a, sizeof(a), "u%d@mail.example", i);
		assert_int_equal(ctx_add_rcpt(c, a), 0);
	}
	assert_int_equal(ctx_add_rcpt(c, "one-too-many@mail.example"), -1);
	ctx_free(c);
}

/* A header set; tests change single entries. */
static void
base_headers(struct mailhdrs *hs)
{
	static const char *const v[][2] = {
		{ "From", " ACME CA <acme@ca.example>" },
		{ "To", " alice@mail.example" },
		{ "Subject", " ACME: " TOK },
		{ "Message-ID", " <c1@ca.example>" },
		{ "References", " <r0@ca.example>\r\n <r1@ca.example>" },
		{ "Auto-Submitted", " auto-generated; type=acme" },
	};
	size_t i;

	memset(hs, 0, sizeof(*hs));
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* the cases below never write through these */
		hs->h[i].name = (char *)v[i][0];
		hs->h[i].value = (char *)v[i][1];
	}
	hs->n = i;
}

static void
test_parse(void **state)
{
	struct mailhdrs hs;
	struct mailhdr *h = hs.h;
	struct challenge_mail m;
	const char *why;

	(void)state;
	base_headers(&hs);
	assert_true(challenge_mail_is_candidate(&hs));
	assert_false(challenge_mail_is_own_reply(&hs));
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_string_equal(m.from, "acme@ca.example");
	assert_string_equal(m.to, "alice@mail.example");
	assert_string_equal(m.token1, TOK);
	assert_string_equal(m.message_id, "<c1@ca.example>");
	assert_string_equal(m.references, "<r0@ca.example> <r1@ca.example>");
	assert_string_equal(m.reply_to, "");

	/* two From headers */
	h[hs.n].name = (char *)"From";
	h[hs.n].value = (char *)" other@ca.example";
	hs.n++;
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), -1);
	assert_string_equal(why, "more than one From header");

	base_headers(&hs);
	h[5].value = (char *)" auto-replied";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), -1);
	assert_string_equal(why, "Auto-Submitted is not auto-generated");

	/* RFC 3834: the keyword is a token, not a prefix */
	h[5].value = (char *)" auto-generatedX";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), -1);
	assert_string_equal(why, "Auto-Submitted is not auto-generated");
	h[5].value = (char *)" Auto-Generated (by the CA)";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	/* a problem met while keeping the headers is a refusal */
	hs.problem = "oversized header";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), -1);
	assert_string_equal(why, "oversized header");
	hs.problem = NULL;
	h[5].value = (char *)" auto-replied";

	/* our own reply */
	h[2].value = (char *)" Re: ACME: " TOK;
	assert_true(challenge_mail_is_own_reply(&hs));

	base_headers(&hs);
	h[5].name = (char *)"X-Auto-Submitted";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), -1);
	assert_string_equal(why, "no Auto-Submitted header");

	/* RFC 2047 Subject still recognised as a candidate */
	base_headers(&hs);
	h[2].value = (char *)" =?UTF-8?Q?ACME:_" TOK "?=";
	assert_true(challenge_mail_is_candidate(&hs));
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_string_equal(m.token1, TOK);

	/* ordinary mail */
	h[2].value = (char *)" Lunch?";
	assert_false(challenge_mail_is_candidate(&hs));
	/* a bad Message-ID is dropped, not used in the reply */
	base_headers(&hs);
	h[3].value = (char *)" <a@b> <c@d>";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_string_equal(m.message_id, "");
	/* nor one with a control character or an 8-bit octet in it */
	h[3].value = (char *)" <a\001b@c>";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_string_equal(m.message_id, "");
	h[3].value = (char *)" <a\303\251@c>";
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_string_equal(m.message_id, "");
}

static void
test_date_and_freshness(void **state)
{
	struct mailhdrs hs;
	struct challenge_mail m;
	struct spool_entry e;
	const char *why;

	(void)state;
	/* 2026-11-28 18:43:16 UTC */
	assert_int_equal(
	    challenge_mail_parse_date(" Sat, 28 Nov 2026 18:43:16 +0000"),
	    1795891396LL);
	assert_int_equal(
	    challenge_mail_parse_date(" Sat, 28 Nov 2026 19:43:16 +0100 (CET)"),
	    1795891396LL);
	assert_int_equal(
	    challenge_mail_parse_date("28 nov 2026 13:43:16\r\n EST"),
	    1795891396LL);
	assert_int_equal(
	    challenge_mail_parse_date(" 28 Nov 2026 18:43 GMT"), 1795891380LL);
	assert_int_equal(challenge_mail_parse_date(" 28 Nov 26 18:43:16 +0000"),
	    1795891396LL);
	assert_int_equal(challenge_mail_parse_date(" yesterday"), 0);
	assert_int_equal(
	    challenge_mail_parse_date(" 31 Feb 2026 10:00 +0000"), 0);
	assert_int_equal(challenge_mail_parse_date(" 28 Nov 2026 18:43:16"), 0);
	assert_int_equal(
	    challenge_mail_parse_date(" Sat, 28 Nov 2026 18:43:16 +0000 x"), 0);
	assert_int_equal(
	    challenge_mail_parse_date(" Foo, 28 Nov 2026 18:43 Z"), 0);

	/* parse: one Date, else none */
	base_headers(&hs);
	hs.h[hs.n].name = (char *)"Date";
	hs.h[hs.n].value = (char *)" Sat, 28 Nov 2026 18:43:16 +0000";
	hs.n++;
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_int_equal(m.date, 1795891396LL);
	hs.h[hs.n].name = (char *)"Date";
	hs.h[hs.n].value = (char *)" Wed, 2 Dec 2026 08:00:00 +0000";
	hs.n++;
	assert_int_equal(challenge_mail_parse(&hs, &m, &why), 0);
	assert_int_equal(m.date, 0);

	/* the rule: not before the entry's creation less the skew */
	memset(&e, 0, sizeof(e));
	snprintf(m.from, sizeof(m.from), "acme@ca.example");
	snprintf(e.from, sizeof(e.from), "acme@ca.example");
	snprintf(m.to, sizeof(m.to), "alice@mail.example");
	snprintf(e.mailbox, sizeof(e.mailbox), "alice@mail.example");
	e.state = SPOOL_AWAITING;
	e.created = 1795891396;
	m.date = 0;
	assert_int_equal(challenge_mail_match(&m, &e, e.created, &why), -1);
	assert_non_null(strstr(why, "no single valid Date"));
	m.date = e.created - CHALLENGE_DATE_SKEW;
	assert_int_equal(challenge_mail_match(&m, &e, e.created, &why), 0);
	m.date = e.created - CHALLENGE_DATE_SKEW - 1;
	assert_int_equal(challenge_mail_match(&m, &e, e.created, &why), -1);
	assert_non_null(strstr(why, "replayed"));
	assert_int_equal(challenge_mail_fresh(&m, e.created, &why), -1);
	assert_int_equal(challenge_mail_fresh(&m, 0, &why), 0);
}

static void
test_match_and_reply_to(void **state)
{
	struct challenge_mail m;
	struct spool_entry e;
	const char *why;

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(&e, 0, sizeof(e));
	snprintf(m.from, sizeof(m.from), "acme@ca.example");
	snprintf(m.to, sizeof(m.to), "alice@mail.example");
	snprintf(e.from, sizeof(e.from), "acme@CA.example");
	snprintf(e.mailbox, sizeof(e.mailbox), "alice@mail.example");
	e.state = SPOOL_AWAITING;
	e.expires = 2000;
	e.created = 900;
	m.date = 900;
	assert_int_equal(challenge_mail_match(&m, &e, 1000, &why), 0);
	assert_int_equal(challenge_mail_match(&m, &e, 2000, &why), -1);
	assert_string_equal(why, "spool entry expired");
	e.state = SPOOL_ANSWERED;
	assert_int_equal(challenge_mail_match(&m, &e, 1000, &why), -1);
	assert_string_equal(why, "already answered");
	e.state = SPOOL_AWAITING;
	snprintf(m.to, sizeof(m.to), "Alice@mail.example");
	assert_int_equal(challenge_mail_match(&m, &e, 1000, &why), -1);
	assert_string_equal(why, "To is not the address being certified");
	snprintf(m.to, sizeof(m.to), "alice@mail.example");
	e.from[0] = '\0';
	assert_int_equal(challenge_mail_match(&m, &e, 1000, &why), -1);
	assert_non_null(strstr(why, "no challenge sender"));
	snprintf(e.from, sizeof(e.from), "acme@CA.example");

	assert_string_equal(challenge_mail_reply_to(&m, e.from), m.from);
	snprintf(m.reply_to, sizeof(m.reply_to), "r@ca.example");
	assert_string_equal(challenge_mail_reply_to(&m, e.from), m.reply_to);
	snprintf(m.reply_to, sizeof(m.reply_to), "r@evil.example");
	assert_string_equal(challenge_mail_reply_to(&m, e.from), m.from);
	snprintf(m.reply_to, sizeof(m.reply_to), "r@sub.ca.example");
	assert_string_equal(challenge_mail_reply_to(&m, e.from), m.from);
}

static void
test_sockspec(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		enum sockspec_kind kind;
		const char *where; /* path or host */
		unsigned port;
	} t[] = {
		{ "local:/run/m.sock", 0, SOCKSPEC_UNIX, "/run/m.sock", 0 },
		{ "unix:/run/m.sock", 0, SOCKSPEC_UNIX, "/run/m.sock", 0 },
		{ "/run/m.sock", 0, SOCKSPEC_UNIX, "/run/m.sock", 0 },
		{ "inet:8891", 0, SOCKSPEC_INET, "", 8891 },
		{ "inet:8891@127.0.0.1", 0, SOCKSPEC_INET, "127.0.0.1", 8891 },
		{ "inet:8891@localhost", 0, SOCKSPEC_INET, "localhost", 8891 },
		{ "inet6:8891@[::1]", 0, SOCKSPEC_INET6, "::1", 8891 },
		{ "local:run/m.sock", -1, SOCKSPEC_UNIX, NULL, 0 },
		{ "inet:0", -1, SOCKSPEC_INET, NULL, 0 },
		{ "inet:65536@127.0.0.1", -1, SOCKSPEC_INET, NULL, 0 },
		{ "inet:smtp@127.0.0.1", -1, SOCKSPEC_INET, NULL, 0 },
		{ "inet:8891@", -1, SOCKSPEC_INET, NULL, 0 },
		{ "inet6:8891@[::1", -1, SOCKSPEC_INET6, NULL, 0 },
		{ "inet:8891@a b", -1, SOCKSPEC_INET, NULL, 0 },
		{ "tcp:8891", -1, SOCKSPEC_INET, NULL, 0 },
		{ "", -1, SOCKSPEC_INET, NULL, 0 },
	};
	struct sockspec s;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = sockspec_parse(t[i].spec, &s, &why);

		if (rc != t[i].rc) {
			fail_msg("%s: rc %d, want %d", t[i].spec, rc, t[i].rc);
		}
		if (rc < 0) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(s.kind, t[i].kind);
		assert_string_equal(
		    t[i].kind == SOCKSPEC_UNIX ? s.path : s.host, t[i].where);
		assert_int_equal(s.port, t[i].port);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulated),
		cmocka_unit_test(test_header_caps),
		cmocka_unit_test(test_rcpts),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match_and_reply_to),
		cmocka_unit_test(test_date_and_freshness),
		cmocka_unit_test(test_sockspec),
	};

	log_init("test_milter", false, 0, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
