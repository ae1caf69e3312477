/*
 * test_reply: milter/reply.c.  reply_build() must carry the digest of the
 * entry's token rule (doc/protocol.md §3 example B), sign only for a
 * configured domain; reply_sendmail() must pass "-i -f FROM -- TO" and the
 * message unchanged, report a failing exit status and kill a child that
 * hangs past the timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "milter/reply.h"

#define P1    "AQIDBAUGBwgJCgsMDQ4PEA"
#define P2    "ZWZnaGlqa2xtbm9wcXJzdA"
#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define OCTET "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM"
#define STRNG "naq__E_26ebkVwq1YhdpsiZPraD1hceej5vGKJpuNLU"

static void
fill(struct challenge_mail *m, struct spool_entry *e, enum token_rule rule)
{
	memset(m, 0, sizeof(*m));
	memset(e, 0, sizeof(*e));
	snprintf(m->from, sizeof(m->from), "acme@ca.example");
	snprintf(m->to, sizeof(m->to), "alice@mail.example");
	snprintf(m->token1, sizeof(m->token1), "%s", P1);
	snprintf(m->message_id, sizeof(m->message_id), "<c1@ca.example>");
	snprintf(e->mailbox, sizeof(e->mailbox), "alice@mail.example");
	snprintf(e->from, sizeof(e->from), "acme@ca.example");
	snprintf(e->token2, sizeof(e->token2), "%s", P2);
	snprintf(e->thumbprint, sizeof(e->thumbprint), "%s", THUMB);
	e->rule = rule;
	e->state = SPOOL_AWAITING;
}

static void
test_build_rules(void **state)
{
	struct config cfg;
	struct challenge_mail m;
	struct spool_entry e;
	struct buf out;
	char msgid[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	buf_init(&out, 0);
	fill(&m, &e, TOKEN_RULE_OCTET);
	assert_int_equal(reply_build(&cfg, NULL, "Q", &m, &e, m.from, &out,
			     msgid, sizeof(msgid)),
	    0);
	assert_non_null(strstr(out.data,
	    "\r\n-----BEGIN ACME RESPONSE-----\r\n" OCTET
	    "\r\n-----END ACME RESPONSE-----\r\n"));
	assert_null(strstr(out.data, "DKIM-Signature"));
	assert_non_null(strstr(out.data, "In-Reply-To: <c1@ca.example>\r\n"));
	assert_non_null(strstr(out.data, msgid));
	assert_non_null(strstr(msgid, "@mail.example>"));
	buf_reset(&out);
	fill(&m, &e, TOKEN_RULE_STRING);
	assert_int_equal(reply_build(&cfg, NULL, "Q", &m, &e, m.from, &out,
			     msgid, sizeof(msgid)),
	    0);
	assert_non_null(strstr(out.data, "\r\n" STRNG "\r\n"));
	assert_null(strstr(out.data, OCTET));
	buf_free(&out);
}

static void
test_signing_key(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.signing[0].domain = (char *)"mail.example";
	cfg.signing[0].selector = (char *)"s";
	cfg.signing[0].keyfile = (char *)"/k";
	cfg.n_signing = 1;
	assert_non_null(reply_signing_key(&cfg, "MAIL.example"));
	assert_null(reply_signing_key(&cfg, "sub.mail.example"));
	assert_null(reply_signing_key(&cfg, NULL));
}

/* A sendmail stand-in: args and stdin into DIR, then the given exit. */
static void
write_script(const char *path, const char *dir, const char *tail)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f,
	    "#!/bin/sh\nprintf '%%s\\n' \"$@\" >%s/args\ncat >%s/msg\n%s\n",
	    dir, dir, tail);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void
test_sendmail(void **state)
{
	char dir[] = "/tmp/test_reply.XXXXXX", script[64], p[80], *s;
	static const char msg[] = "From: a@b\r\n\r\nbody\r\n";
	size_t len;
	time_t t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(script, sizeof(script), "%s/sendmail", dir);

	write_script(script, dir, "exit 0");
	assert_int_equal(reply_sendmail(script, "Q", "alice@mail.example",
			     "-acme@ca.example", msg, strlen(msg), 5),
	    -1); /* an address that looks like an option is refused */
	assert_int_equal(reply_sendmail(script, "Q", "alice@mail.example",
			     "acme@ca.example", msg, strlen(msg), 5),
	    0);
	snprintf(p, sizeof(p), "%s/args", dir);
	s = fs_read_file(p, 4096, &len);
	assert_non_null(s);
	assert_string_equal(
	    s, "-i\n-f\nalice@mail.example\n--\nacme@ca.example\n");
	free(s);
	snprintf(p, sizeof(p), "%s/msg", dir);
	s = fs_read_file(p, 4096, &len);
	assert_non_null(s);
	assert_string_equal(s, msg);
	free(s);

	write_script(script, dir, "exit 75");
	assert_int_equal(reply_sendmail(script, "Q", "a@b.example",
			     "c@d.example", msg, strlen(msg), 5),
	    -1);

	write_script(script, dir, "exec sleep 30");
	t0 = time(NULL);
	assert_int_equal(reply_sendmail(script, "Q", "a@b.example",
			     "c@d.example", msg, strlen(msg), 1),
	    -1);
	assert_true(time(NULL) - t0 < 5);

	assert_int_equal(reply_sendmail("relative/sendmail", "Q", "a@b.example",
			     "c@d.example", msg, strlen(msg), 1),
	    -1);
	unlink(script);
	snprintf(p, sizeof(p), "%s/args", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/msg", dir);
	unlink(p);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_rules),
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_sendmail),
	};

	log_init("test_reply", false, 0, true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
