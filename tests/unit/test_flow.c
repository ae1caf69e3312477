/*
 * Unit tests for acme/app/flow.c: the settings built once from the
 * command line over smime-acme.conf over the config table's defaults, and
 * the failure classifier.  Hermetic: the config file and directories are
 * made under a temporary directory; nothing contacts a server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme/app/cli.h"
#include "acme/app/flow.h"
#include "common/conf.h"

struct fixture {
	char dir[64];
	char conf[96];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL) {
		return -1;
	}
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/smime-acme-flow.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->conf, sizeof(fx->conf), "%s/smime-acme.conf", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->conf);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Write the config file (text NULL: none) and load it. */
static struct config *
load(const struct fixture *fx, const char *text)
{
	FILE *fp;

	if (text == NULL) {
		return conf_defaults();
	}
	fp = fopen(fx->conf, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return conf_load(fx->conf, false);
}

/* Settings for "smime-acme cert -n -c DIR --spool DIR [extra] -e ADDR". */
static int
settings(const struct fixture *fx, const char *extra, const char *value,
    const struct config *conf, struct cli *c, struct flow_settings *s)
{
	char *argv[14];
	int argc = 0, rc;

	argv[argc++] = (char *)"smime-acme";
	argv[argc++] = (char *)"cert";
	argv[argc++] = (char *)"-n";
	argv[argc++] = (char *)"-c";
	argv[argc++] = (char *)fx->dir;
	argv[argc++] = (char *)"--spool";
	argv[argc++] = (char *)fx->dir;
	if (extra != NULL) {
		argv[argc++] = (char *)extra;
		argv[argc++] = (char *)value;
	}
	argv[argc++] = (char *)"-e";
	argv[argc++] = (char *)"alice@example.test";
	argv[argc] = NULL;
	rc = cli_parse(c, argc, argv);
	assert_int_equal(rc, 0);
	return flow_settings_init(s, c, conf);
}

static const struct {
	const char *name;
	const char *conf; /* NULL: no file (the table's defaults) */
	const char *opt, *val;
	int post_after, timeout;
} timing_cases[] = {
	{ "table defaults", NULL, NULL, NULL, 60, 900 },
	{ "file without the keys", "Syslog no\n", NULL, NULL, 60, 900 },
	/* the defect: 0 became 120 and 1800 (a second set of defaults) */
	{ "zero in the file", "SpoolPostAfter 0\nSpoolTimeout 0\n", NULL, NULL,
	    0, 0 },
	{ "values in the file", "SpoolPostAfter 7\nSpoolTimeout 30\n", NULL,
	    NULL, 7, 30 },
	{ "option over the file", "SpoolPostAfter 7\n", "--spool-post-after",
	    "0", 0, 900 },
	{ "--spool-timeout over the file", "SpoolTimeout 30\n",
	    "--spool-timeout", "45", 60, 45 },
	{ "--timeout over the file", "SpoolTimeout 0\n", "--timeout", "50", 60,
	    50 },
};

static void
test_spool_timing(void **state)
{
	struct fixture *fx = *state;
	struct flow_settings s;
	struct config *conf;
	struct cli c;
	size_t i;

	for (i = 0; i < sizeof(timing_cases) / sizeof(timing_cases[0]); i++) {
		print_message("case: %s\n", timing_cases[i].name);
		conf = load(fx, timing_cases[i].conf);
		assert_non_null(conf);
		assert_int_equal(settings(fx, timing_cases[i].opt,
				     timing_cases[i].val, conf, &c, &s),
		    0);
		assert_int_equal(s.post_after, timing_cases[i].post_after);
		assert_int_equal(s.timeout, timing_cases[i].timeout);
		assert_int_equal(s.responder, RESP_SPOOL);
		flow_settings_free(&s);
		cli_free(&c);
		conf_free(conf);
		unlink(fx->conf);
	}
}

/* Our own failures: one table gives exit code, retry and words; the
 * first failure wins. */
static void
test_own_failures(void **state)
{
	static const struct {
		int ex;
		enum flow_retry retry;
		const char *kind;
	} v[] = {
		{ EX_TEMPFAIL, FLOW_RETRY, "timeout" },
		{ EX_UNAVAILABLE, FLOW_FINAL, "unavailable" },
		{ EX_CANTCREAT, FLOW_FINAL, "store" },
		{ EX_IOERR, FLOW_FINAL, "spool" },
		{ EX_PROTOCOL, FLOW_FINAL, "protocol" },
		{ EX_NOINPUT, FLOW_FINAL, "store" },
		{ EX_DATAERR, FLOW_FINAL, "token" },
		{ EX_SOFTWARE, FLOW_FINAL, "internal" },
		{ EX_OSERR, FLOW_FINAL, "internal" },
	};
	struct fixture *fx = *state;
	struct flow_settings s;
	struct flow_session ses;
	struct config *conf = load(fx, NULL);
	struct flow f;
	struct cli c;
	size_t i;

	assert_int_equal(settings(fx, NULL, NULL, conf, &c, &s), 0);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		flow_begin(&f, &s, &ses);
		assert_int_equal(flow_fail(&f, v[i].ex), -1);
		assert_int_equal(flow_fail(&f, EX_SOFTWARE), -1);
		assert_int_equal(f.out.ex, v[i].ex);
		assert_int_equal(f.out.retry, v[i].retry);
		assert_string_equal(f.out.kind, v[i].kind);
		assert_true(f.out.detail[0] != '\0');
		flow_outcome_clear(&f);
		assert_int_equal(f.out.ex, 0);
		flow_session_free(&ses);
	}
	/* a row named by kind: an SMTP failure is ours, resumable */
	flow_begin(&f, &s, &ses);
	assert_int_equal(flow_fail_kind(&f, "mail"), -1);
	assert_int_equal(f.out.ex, EX_TEMPFAIL);
	assert_int_equal(f.out.retry, FLOW_RETRY);
	assert_string_equal(f.out.kind, "mail");
	assert_non_null(strstr(f.out.detail, "SMTP"));
	flow_session_free(&ses);
	/* an order still processing at the deadline: a slow CA, resumable,
	 * and batch's reason does not blame the milter */
	flow_begin(&f, &s, &ses);
	assert_int_equal(flow_fail_kind(&f, "processing"), -1);
	assert_int_equal(f.out.ex, EX_TEMPFAIL);
	assert_int_equal(f.out.retry, FLOW_RETRY);
	assert_string_equal(f.out.kind, "processing");
	assert_null(strstr(f.out.detail, "milter"));
	flow_session_free(&ses);
	/* an ACME failure without a session or problem: refused, final */
	flow_begin(&f, &s, &ses);
	assert_int_equal(flow_acme_fail(&f, "account"), -1);
	assert_int_equal(f.out.ex, EX_UNAVAILABLE);
	assert_int_equal(f.out.retry, FLOW_FINAL);
	assert_string_equal(f.out.kind, "unavailable");
	flow_session_free(&ses);
	flow_settings_free(&s);
	cli_free(&c);
	conf_free(conf);
}

/* "smime-acme CMD -n -c DIR --work-dir DIR --server URL -e ADDR" (no
 * responder); getopt permutes argv, so a fresh one each time */
static int
parse_bare(struct fixture *fx, const char *cmd, struct cli *c)
{
	char *argv[] = { (char *)"smime-acme", (char *)cmd, (char *)"-n",
		(char *)"-c", fx->dir, (char *)"--work-dir", fx->dir,
		(char *)"--server", (char *)"https://127.0.0.1:1/dir",
		(char *)"-e", (char *)"alice@example.test", NULL };

	return cli_parse(c, 11, argv);
}

/*
 * renew from a timer with no responder given: nothing stored means
 * nothing due, so exit 0 without contacting the CA (smime-acme(1)); the
 * defect refused it with 64 before looking.  cert still refuses at once.
 */
static void
test_renew_without_responder(void **state)
{
	struct fixture *fx = *state;
	struct flow_settings s;
	struct flow_session ses;
	struct config *conf = load(fx, NULL);
	struct flow f;
	struct cli c;

	assert_int_equal(parse_bare(fx, "renew", &c), 0);
	assert_int_equal(flow_settings_init(&s, &c, conf), 0);
	assert_int_equal(s.responder, RESP_AUTO);
	flow_begin(&f, &s, &ses);
	assert_int_equal(flow_cmd_renew(&f), 0);
	assert_null(ses.ac); /* no connection */
	/* a set due without a responder: refused then, as cert is now */
	assert_int_equal(flow_responder_ready(&f), -1);
	assert_int_equal(f.out.ex, EX_USAGE);
	flow_session_free(&ses);
	flow_settings_free(&s);
	cli_free(&c);
	assert_int_equal(parse_bare(fx, "cert", &c), 0);
	assert_int_equal(flow_settings_init(&s, &c, conf), EX_USAGE);
	flow_settings_free(&s);
	cli_free(&c);
	conf_free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_spool_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_own_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_renew_without_responder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
