/*
 * Unit tests for common/conf.c: defaults, every value type, errors
 * that name file, line and key, and conf_is_set (set by the file, not
 * just defaulted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conf.h"
#include "common/log.h"

static char path[64];

static void
write_conf(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/smime-acme-conf.XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
capture_err(const char *text, struct config **out)
{
	char errpath[] = "/tmp/smime-acme-err.XXXXXX";
	int fd = mkstemp(errpath), saved = dup(2);
	char *buf = calloc(1, 4096);
	FILE *f;

	write_conf(text);
	dup2(fd, 2);
	*out = conf_load(path, false);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(errpath, "r");
	if (fread(buf, 1, 4095, f) == 0) {
		buf[0] = '\0';
	}
	fclose(f);
	close(fd);
	unlink(errpath);
	unlink(path);
	return buf;
}

static void
test_defaults(void **state)
{
	struct config *c = conf_defaults();

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->inject, "sendmail");
	assert_string_equal(c->disposition, "deliver");
	assert_int_equal(c->umask, 007);
	assert_true(c->syslog);
	assert_false(c->require_dkim);
	assert_string_equal(c->token_rule, "octet");
	assert_null(c->user_id);
	assert_null(c->spool_database);
	assert_int_equal(c->claim_timeout, 120);
	conf_free(c);
}

static void
test_values(void **state)
{
	struct config *c;
	char *err;

	(void)state;
	err = capture_err("# comment\n"
			  "Socket   inet:8895@127.0.0.1  # trailing comment\n"
			  "  userid smime:smime\n"
			  "UMask 077\n"
			  "Syslog no\n"
			  "SyslogFacility local3\n"
			  "IncompleteWait 9\n"
			  "AllowSMIME false\n"
			  "MaxHeaderSize 4096\n"
			  "ChallengeDisposition quarantine\n"
			  "SigningKey example.test mail /etc/k.pem\n"
			  "SigningKey other.test s2 /etc/k2.pem\n"
			  "TokenRule string\n"
			  "SpoolDatabase service=smime passfile=/p\n"
			  "ClaimTimeout 300\n",
	    &c);
	assert_non_null(c);
	assert_string_equal(err, "");
	assert_string_equal(c->socket, "inet:8895@127.0.0.1");
	assert_string_equal(c->user_id, "smime:smime");
	assert_int_equal(c->umask, 077);
	assert_false(c->syslog);
	assert_string_equal(c->syslog_facility, "local3");
	assert_int_equal(c->incomplete_wait, 9);
	assert_true(c->require_dkim);
	assert_int_equal(c->max_header, 4096);
	assert_string_equal(c->disposition, "quarantine");
	assert_int_equal(c->n_signing, 2);
	assert_string_equal(c->signing[1].domain, "other.test");
	assert_string_equal(c->signing[1].selector, "s2");
	assert_string_equal(c->signing[1].keyfile, "/etc/k2.pem");
	assert_string_equal(c->token_rule, "string");
	assert_string_equal(c->spool_database, "service=smime passfile=/p");
	assert_int_equal(c->claim_timeout, 300);
	conf_free(c);
	free(err);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} v[] = {
		{ "Socket x\nBogusKey 1\n", ":2: BogusKey: unknown key" },
		{ "Syslog maybe\n", ":1: Syslog: not a boolean" },
		{ "\n\nIncompleteWait -1\n", ":3: IncompleteWait: not a" },
		{ "IncompleteWait 5s\n", ":1: IncompleteWait: not a" },
		{ "UMask 999\n", ":1: UMask: not an octal mode" },
		{ "Socket\n", ":1: Socket: missing value" },
		{ "InjectMethod carrier-pigeon\n", ":1: InjectMethod: value" },
		{ "SyslogFacility nowhere\n", ":1: SyslogFacility: unknown" },
		{ "SigningKey example.test\n", ":1: SigningKey: expected" },
		{ "TokenRule bytes\n", ":1: TokenRule: value not one" },
		{ "SpoolDatabase host=db password=s3cret\n",
		    ":1: SpoolDatabase: holds a password" },
		{ "SpoolDatabase host=db dbname\n",
		    ":1: SpoolDatabase: not a libpq connection string" },
	};
	struct config *c;
	size_t i;
	char *err;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		err = capture_err(v[i].text, &c);
		assert_null(c);
		if (strstr(err, v[i].want) == NULL ||
		    strstr(err, "s3cret") != NULL ||
		    strstr(err, "/tmp/smime-acme-conf.") == NULL) {
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    v[i].want);
		}
		free(err);
	}
}

static void
test_missing(void **state)
{
	struct config *c;

	(void)state;
	log_init("test_conf", false, 0, false);
	c = conf_load("/nonexistent/smime-acme.conf", true);
	assert_non_null(c);
	conf_free(c);
	assert_null(conf_load("/nonexistent/smime-acme.conf", false));
	log_init("test_conf", false, 0, true);
}

/* --conf and the default file may be symbolic links (a certbot-style
 * live/ tree, /etc managed by a configuration tool). */
static void
test_symlink(void **state)
{
	char link[80];
	struct config *c;

	(void)state;
	write_conf("Server https://ca.example/dir\n");
	snprintf(link, sizeof(link), "%s.link", path);
	assert_int_equal(symlink(path, link), 0);
	c = conf_load(link, false);
	assert_non_null(c);
	assert_string_equal(c->server, "https://ca.example/dir");
	conf_free(c);
	unlink(link);
	unlink(path);
}

/* conf_parse: the text ends at its length (no NUL needed) or at a NUL,
 * and errors name the path given. */
static void
test_parse_buffer(void **state)
{
	static const char text[] = "Socket inet:9@127.0.0.1\nSyslog no\nX";
	struct config *c;

	(void)state;
	c = conf_parse("buf.conf", text, sizeof(text) - 2);
	assert_non_null(c);
	assert_string_equal(c->path, "buf.conf");
	assert_string_equal(c->socket, "inet:9@127.0.0.1");
	assert_false(c->syslog);
	conf_free(c);
	c = conf_parse("buf.conf", "Syslog no\0Bogus 1\n", 19);
	assert_non_null(c);
	conf_free(c);
	log_init("test_conf", false, 0, false);
	assert_null(conf_parse("buf.conf", text, sizeof(text) - 1));
	log_init("test_conf", false, 0, true);
}

static void
test_is_set(void **state)
{
	static const struct {
		const char *text, *key;
		bool want;
	} v[] = {
		{ "SpoolDirectory /var/spool/smime-acme\n", "SpoolDirectory",
		    true }, /* set to the default value: still set */
		{ "spooldirectory /srv/spool\n", "SpoolDirectory", true },
		{ "SpoolDirectory /srv/spool\n", "SPOOLDIRECTORY", true },
		{ "Socket inet:1@127.0.0.1\n", "SpoolDirectory", false },
		{ "# SpoolDirectory /srv/spool\n", "SpoolDirectory", false },
		{ "Syslog no\n", "Syslog", true },
		{ "Syslog no\n", "NoSuchKey", false },
		{ "DeliveryHook /bin/true\n", "DeliveryHook", true },
		{ "SigningKey d s /k.pem\n", "SigningKey", true },
	};
	struct config *c;
	size_t i;
	char *err;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		err = capture_err(v[i].text, &c);
		assert_non_null(c);
		if (conf_is_set(c, v[i].key) != v[i].want) {
			fail_msg("case %zu: %s: want %s", i, v[i].key,
			    v[i].want ? "set" : "not set");
		}
		conf_free(c);
		free(err);
	}
	c = conf_defaults();
	assert_non_null(c);
	assert_non_null(c->spool_dir);
	assert_false(conf_is_set(c, "SpoolDirectory"));
	assert_false(conf_is_set(c, NULL));
	conf_free(c);
	assert_false(conf_is_set(NULL, "SpoolDirectory"));
}

static void
test_key_names(void **state)
{
	const char *const *k = conf_key_names();
	size_t n = 0;

	(void)state;
	for (; k[n] != NULL; n++) {
		assert_true(strlen(k[n]) > 0);
	}
	assert_true(n >= 25);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_parse_buffer),
		cmocka_unit_test(test_is_set),
		cmocka_unit_test(test_key_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
