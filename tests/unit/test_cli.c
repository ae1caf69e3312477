/*
 * test_cli: the requester's command line (acme/app/cli.c).  Table-driven:
 * every option of the seed client is accepted, and each bad input gives
 * the documented sysexits code and a message naming the problem.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <cmocka.h>

#include "acme/app/cli.h"
#include "acme/proto/order.h"

#define ARGV_MAX 48

/* Split a space-separated command line into a writable argv. */
struct args {
	char buf[2048];
	char *argv[ARGV_MAX];
	int argc;
};

static void
split(struct args *a, const char *line)
{
	char *p, *save = NULL;

	snprintf(a->buf, sizeof(a->buf), "smime-acme %s", line);
	a->argc = 0;
	for (p = strtok_r(a->buf, " ", &save);
	     p != NULL && a->argc < ARGV_MAX - 1;
	     p = strtok_r(NULL, " ", &save)) {
		a->argv[a->argc++] = p;
	}
	a->argv[a->argc] = NULL;
}

static int
parse(struct cli *c, const char *line)
{
	/* static: c keeps pointers into argv */
	static struct args a;

	split(&a, line);
	return cli_parse(c, a.argc, a.argv);
}

struct good_case {
	const char *line;
};

/* Every option of the seed's usage block, in its spelling. */
static const struct good_case good[] = {
	{ "cert -e a@example.org" },
	{ "cert --email a@example.org --email b@example.org" },
	{ "cert -e a@example.org -t --dry-run -n -c /tmp/c -w /tmp/w -l /tmp/l" },
	{ "cert -e a@example.org --test --non-interactive --config-dir /tmp/c --work-dir /tmp/w --logs-dir /tmp/l" },
	{ "cert -e a@example.org --agree-tos --contact c@example.net" },
	{ "cert -e a@example.org --imap --login u --password p --host imap.example.org --port 993 --ssl" },
	{ "cert -e a@example.org --imap --login u --password p --host h.example.org --smtp-method STARTTLS --smtp-login s --smtp-password q --smtp-host smtp.example.org --smtp-port 587" },
	{ "cert -e a@example.org --imap --host h.example.org --smtp-method SSL" },
	{ "cert -e a@example.org --imap --host h.example.org --smtp-method plain" },
	{ "cert -e a@example.org --no-passphrase" },
	{ "cert -e a@example.org --passphrase secret" },
	{ "cert -e a@example.org --usage digitalSignature --usage contentCommitment --usage keyEncipherment --usage keyAgreement" },
	{ "revoke --cert-path /tmp/x.pem --reason keycompromise --key-path /tmp/k.pem" },
	{ "revoke --cert-path x --reason unspecified" },
	{ "revoke --cert-path x --reason affiliationchanged" },
	{ "revoke --cert-path x --reason superseded" },
	{ "revoke --cert-path x --reason cessationofoperation" },
	{ "cert -e a@example.org --outlook --outlook-account Mine" },
	{ "cert -e a@example.org --tb --tb-unsafe --tb-profile /p --tb-bin /usr/bin/thunderbird" },
	{ "cert -e a@example.org --server https://127.0.0.1:1/dir --no-verify-ssl" },
	{ "renew --force" },
	{ "cert -e a@example.org --file-validate" },
	{ "cert -e a@example.org --key-path /tmp/k.pem" },
	/* ours */
	{ "cert -e a@example.org --ca-bundle /x --key-type ec --key-size 384 --token-rule string" },
	{ "cert -e a@example.org --spool /var/spool/x --spool-post-after 10 --spool-timeout 600" },
	{ "cert -e a@example.org --conf /etc/x.conf --eab-kid k --eab-hmac h -v -v --json" },
	{ "cert -e a@example.org -q --allow-root --finalize-delay 0 --timeout 60 --syslog" },
	{ "cert -e a@example.org --imap --host h.example.org --oauth2-token t" },
	{ "cert -e a@example.org --imap --host h.example.org --oauth2-token-file /f --password-file /f --smtp-password-file /f" },
	{ "cert -e a@example.org --imap --host h.example.org --password-env P --smtp-password-env S" },
	{ "cert -e a@example.org --passphrase-file /f" },
	{ "cert -e a@example.org --passphrase-env P" },
	{ "cert -e a@example.org --dkim-keys /k" },
	{ "renew --renew-within 10 --rotate-key" },
	{ "account --rollover" },
	{ "account --deactivate" },
	{ "account" },
	{ "spool" },
	{ "-e a@example.org cert" }, /* the command may come last */
	{ "cert --email=a@example.org" },
	{ "batch /tmp/list --spool /s --concurrency 4 --results /tmp/r --stats --json" },
	{ "--concurrency 2 batch -" },
	{ "cert -e a@example.org --delivery-hook /usr/local/sbin/deliver" },
	{ "renew --delivery-hook /x --renew-within 10" },
	{ "batch /tmp/list --no-delivery-hook" },
	{ "renew --no-delivery-hook" },
};

static void
test_good(void **state)
{
	struct cli c;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rc = parse(&c, good[i].line);
		if (rc != 0) {
			fail_msg("'%s' -> %d: %s", good[i].line, rc, c.err);
		}
		cli_free(&c);
	}
}

struct bad_case {
	const char *line;
	int code;
	const char *msg; /* substring of c.err */
};

static const struct bad_case bad[] = {
	{ "", EX_USAGE, "command is required" },
	{ "frobnicate", EX_USAGE, "unknown command 'frobnicate'" },
	{ "cert", EX_USAGE, "at least one -e" },
	{ "cert --bogus", EX_USAGE, "unknown or ambiguous option '--bogus'" },
	{ "cert -X", EX_USAGE, "unknown option '-X'" },
	{ "cert -e", EX_USAGE, "'-e' needs a value" },
	{ "cert --email", EX_USAGE, "'--email' needs a value" },
	{ "cert -e *@example.org", EX_USAGE, "wildcards are not allowed" },
	{ "cert -e a@*.example.org", EX_USAGE, "wildcards" },
	{ "cert -e nobody", EX_USAGE, "local@domain" },
	{ "cert -e a@b@example.org", EX_USAGE, "local@domain" },
	{ "cert -e a@localhost", EX_USAGE, "two labels" },
	{ "cert -e .a@example.org", EX_USAGE, "dot" },
	{ "cert -e a(b)@example.org", EX_USAGE, "invalid character" },
	{ "cert -e a@ex_ample.org", EX_USAGE, "invalid character" },
	{ "cert -e a@example.org -e a@EXAMPLE.org", EX_USAGE, "given twice" },
	{ "cert -e a@example.org --usage sign", EX_USAGE, "'--usage': 'sign'" },
	{ "cert -e a@example.org --usage sign", EX_USAGE,
	    "is not one of digitalSignature, contentCommitment, keyEncipherment, keyAgreement" },
	{ "revoke --cert-path x --reason whatever", EX_USAGE, "'--reason'" },
	{ "revoke", EX_USAGE, "--cert-path" },
	{ "cert -e a@example.org --reason superseded", EX_USAGE,
	    "revoke only" },
	{ "cert -e a@example.org --imap --host h --smtp-method TELNET",
	    EX_USAGE, "'--smtp-method'" },
	{ "cert -e a@example.org --imap --host h --port 0", EX_USAGE,
	    "'--port'" },
	{ "cert -e a@example.org --imap --host h --port 70000", EX_USAGE,
	    "'--port'" },
	{ "cert -e a@example.org --imap --host h --smtp-port x", EX_USAGE,
	    "'--smtp-port'" },
	{ "cert -e a@example.org --imap", EX_USAGE, "--host" },
	{ "cert -e a@example.org --host h", EX_USAGE, "need --imap" },
	{ "cert -e a@example.org --imap --host h --tb", EX_USAGE, "conflicts" },
	{ "cert -e a@example.org --spool /s --file-validate", EX_USAGE,
	    "conflicts" },
	{ "cert -e a@example.org --tb-unsafe", EX_USAGE, "needs --tb" },
	{ "cert -e a@example.org --outlook-account x", EX_USAGE,
	    "needs --outlook" },
	{ "cert -e a@example.org --no-passphrase --passphrase x", EX_USAGE,
	    "exclude" },
	{ "cert -e a@example.org -q -v", EX_USAGE, "exclude" },
	{ "cert -e a@example.org -t --server https://x.example/d", EX_USAGE,
	    "exclude" },
	{ "cert -e a@example.org --server ftp://x", EX_USAGE, "URL" },
	{ "cert -e a@example.org --key-type dsa", EX_USAGE, "'--key-type'" },
	{ "cert -e a@example.org --key-type ec --key-size 2048", EX_USAGE,
	    "EC keys" },
	{ "cert -e a@example.org --key-size 1024", EX_USAGE, "'--key-size'" },
	{ "cert -e a@example.org --key-size 8192", EX_USAGE,
	    "2048, 3072 or 4096" },
	{ "cert -e a@example.org --token-rule both", EX_USAGE,
	    "'--token-rule'" },
	{ "cert -e a@example.org --eab-kid k", EX_USAGE, "--eab-hmac" },
	{ "cert -e a@example.org --eab-hmac k", EX_USAGE, "--eab-kid" },
	{ "cert -e a@example.org --finalize-delay -1", EX_USAGE,
	    "--finalize-delay" },
	{ "cert -e a@example.org --passphrase=", EX_USAGE, "empty value" },
	{ "cert -e a@example.org --rollover", EX_USAGE, "account command" },
	{ "account --rollover --deactivate", EX_USAGE, "exclude" },
	{ "revoke --cert-path x -e a@example.org", EX_USAGE, "does not apply" },
	{ "cert renew -e a@example.org", EX_USAGE,
	    "unexpected argument 'renew'" },
	{ "cert -e a@example.org --delivery-hook", EX_USAGE,
	    "'--delivery-hook' needs a value" },
	{ "cert -e a@example.org --delivery-hook=", EX_USAGE, "empty value" },
	{ "revoke --cert-path x --delivery-hook /x", EX_USAGE,
	    "apply to cert, renew and batch only" },
	{ "account --no-delivery-hook", EX_USAGE,
	    "apply to cert, renew and batch only" },
	{ "renew --delivery-hook /x --no-delivery-hook", EX_USAGE,
	    "exclude each other" },
};

static void
test_bad(void **state)
{
	struct cli c;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = parse(&c, bad[i].line);
		if (rc != bad[i].code || strstr(c.err, bad[i].msg) == NULL) {
			fail_msg("'%s' -> %d '%s', want %d '%s'", bad[i].line,
			    rc, c.err, bad[i].code, bad[i].msg);
		}
		cli_free(&c);
	}
}

static void
test_values(void **state)
{
	struct cli c;
	char u[128];

	(void)state;
	assert_int_equal(
	    parse(&c,
		"cert -e a@example.org -e b@example.org --usage digitalSignature --usage keyAgreement --imap --host h --smtp-method ssl --key-type ec -vv"),
	    0);
	assert_int_equal(c.cmd, CMD_CERT);
	assert_int_equal(c.n_emails, 2);
	assert_string_equal(c.emails[1], "b@example.org");
	assert_int_equal(
	    c.usage, USAGE_DIGITAL_SIGNATURE | USAGE_KEY_AGREEMENT);
	assert_string_equal(csr_usage_names(c.usage, ",", u, sizeof(u)),
	    "digitalSignature,keyAgreement");
	assert_int_equal(c.responder, RESP_IMAP);
	assert_int_equal(c.smtp_method, SMTP_SSL);
	assert_int_equal(c.key_type, KEYTYPE_EC);
	assert_int_equal(c.verbose, 2);
	assert_int_equal(c.reason, -1);
	assert_int_equal(c.renew_days, 30);
	assert_false(c.token_rule_set);
	cli_free(&c);

	/* argparse (the seed) reads "-e=a@x" as a@x; "--email=a@x" too */
	assert_int_equal(parse(&c,
			     "cert -e=a@example.org -c=/tmp/c "
			     "--email=b@example.org -e c=d@example.org"),
	    0);
	assert_int_equal(c.n_emails, 3);
	assert_string_equal(c.emails[0], "a@example.org");
	assert_string_equal(c.emails[1], "b@example.org");
	assert_string_equal(c.emails[2], "c=d@example.org");
	assert_string_equal(c.config_dir, "/tmp/c");
	cli_free(&c);

	assert_int_equal(
	    parse(&c, "revoke --cert-path x --reason KeyCompromise"), 0);
	assert_int_equal(c.reason, 1);
	assert_string_equal(order_reason_name(c.reason), "keyCompromise");
	cli_free(&c);

	/* the hook is kept as one string, for sh -c; none by default */
	assert_int_equal(parse(&c, "renew"), 0);
	assert_null(c.delivery_hook);
	assert_false(c.no_delivery_hook);
	cli_free(&c);
	assert_int_equal(
	    parse(&c, "cert -e a@example.org --delivery-hook=/usr/bin/deliver"),
	    0);
	assert_string_equal(c.delivery_hook, "/usr/bin/deliver");
	cli_free(&c);
	assert_int_equal(parse(&c, "renew --no-delivery-hook"), 0);
	assert_true(c.no_delivery_hook);
	assert_null(c.delivery_hook);
	cli_free(&c);

	assert_int_equal(parse(&c, "--help"), CLI_HELP);
	cli_free(&c);
	assert_int_equal(parse(&c, "--version"), CLI_VERSION);
	cli_free(&c);
}

/* Secrets on argv are copied and blanked; file and env forms work. */
static void
test_secrets(void **state)
{
	struct cli c;
	struct args a;
	char path[] = "/tmp/test_cli.XXXXXX";
	char line[256];
	int fd, i, found = 0;

	(void)state;
	split(&a, "cert -e a@example.org --passphrase hunter2");
	assert_int_equal(cli_parse(&c, a.argc, a.argv), 0);
	assert_string_equal(c.passphrase, "hunter2");
	for (i = 0; i < a.argc; i++) {
		if (strstr(a.argv[i], "hunter2") != NULL) {
			found = 1;
		}
	}
	assert_int_equal(found, 0);
	cli_free(&c);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\nnext\n", 12), 12);
	close(fd);
	snprintf(line, sizeof(line),
	    "cert -e a@example.org --imap --host h --password-file %s --passphrase-env TEST_CLI_PP",
	    path);
	setenv("TEST_CLI_PP", "pp-from-env", 1);
	assert_int_equal(parse(&c, line), 0);
	assert_int_equal(cli_resolve_secrets(&c), 0);
	assert_string_equal(c.password, "s3cret");
	assert_string_equal(c.passphrase, "pp-from-env");
	cli_free(&c);

	unsetenv("TEST_CLI_PP");
	assert_int_equal(
	    parse(&c, "cert -e a@example.org --passphrase-env TEST_CLI_PP"), 0);
	assert_int_equal(cli_resolve_secrets(&c), EX_USAGE);
	assert_non_null(strstr(c.err, "TEST_CLI_PP"));
	cli_free(&c);

	unlink(path);
	snprintf(line, sizeof(line),
	    "cert -e a@example.org --passphrase-file %s", path);
	assert_int_equal(parse(&c, line), 0);
	assert_int_equal(cli_resolve_secrets(&c), EX_NOINPUT);
	assert_non_null(strstr(c.err, "--passphrase-file"));
	cli_free(&c);
}

static void
test_addresses(void **state)
{
	const char *why;

	(void)state;
	assert_true(cli_valid_address("alice@example.org", &why));
	assert_true(cli_valid_address("a.b+tag@mail.example.org", &why));
	assert_true(cli_valid_address("j\xc3\xb6rg@example.org", &why));
	assert_false(cli_valid_address("a..b@example.org", &why));
	assert_false(cli_valid_address("a@-example.org", &why));
	assert_false(cli_valid_address("a@example-.org", &why));
	assert_false(cli_valid_address("", &why));
	assert_false(cli_valid_address("a@example.org.", &why));
}

/* The seed README's IMAP example, word for word after "python3 cli.py". */
#define SEED_IMAP_HEAD                                                         \
	"cert --config-dir . --work-dir . --logs-dir . -e address@domain.com " \
	"--contact contact@anotherdomain.com --imap --login imap_user "        \
	"--password imap_password --host imap.domain.com --ssl "               \
	"--smtp-method STARTTLS --smtp-port "
#define SEED_IMAP_TAIL " --smtp-host smtp.domain.com"

/* smime-acme(1) shows it unchanged (it was edited: --password-file, a
 * port number), and with its placeholders filled in it parses. */
static void
test_seed_example(void **state)
{
	static const char *const man[] = { "acme/smime-acme.1",
		"../acme/smime-acme.1", "../../acme/smime-acme.1" };
	char *text = NULL;
	size_t i, n = 0;
	FILE *fp = NULL;
	struct cli c;

	(void)state;
	for (i = 0; fp == NULL && i < sizeof(man) / sizeof(man[0]); i++) {
		fp = fopen(man[i], "r");
	}
	assert_non_null(fp);
	text = calloc(1, 256 * 1024);
	assert_non_null(text);
	n = fread(text, 1, 256 * 1024 - 1, fp);
	fclose(fp);
	text[n] = '\0';
	assert_non_null(strstr(text,
	    "$ smime-acme " SEED_IMAP_HEAD "smtp_port" SEED_IMAP_TAIL "\n"));
	free(text);

	assert_int_equal(parse(&c, SEED_IMAP_HEAD "587" SEED_IMAP_TAIL), 0);
	assert_int_equal(c.smtp_port, 587);
	assert_string_equal(c.password, "imap_password");
	cli_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_seed_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
