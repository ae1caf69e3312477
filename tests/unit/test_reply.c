/*
 * test_reply: milter/reply.c.  reply_build() must carry the digest of the
 * entry's token rule (doc/protocol.md §3 example B), sign only for a
 * configured domain; reply_sendmail() must pass "-i -f FROM -- TO" and the
 * message unchanged, report a failing exit status and kill a child that
 * hangs past the timeout; reply_smtp() must never send the password to a
 * server that offers no STARTTLS (a fake SMTP server on loopback).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
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

/* A one-connection SMTP server that offers AUTH but no STARTTLS. */
struct fake_smtp {
	int lfd;
	int port;
	bool auth_seen; /* the client sent AUTH (and so the password) */
	bool data_seen; /* a message was accepted */
};

static void
fake_say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

static void *
fake_smtp_run(void *arg)
{
	struct fake_smtp *fs = arg;
	char buf[4096], line[1024];
	size_t ll = 0;
	bool in_data = false, auth_next = false;
	ssize_t n, i;
	int fd;

	if ((fd = accept(fs->lfd, NULL, NULL)) < 0) {
		return NULL;
	}
	fake_say(fd, "220 fake ESMTP\r\n");
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (ll < sizeof(line) - 1) {
				line[ll++] = buf[i];
			}
			if (buf[i] != '\n') {
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (in_data) {
				if (strcmp(line, ".\r\n") == 0) {
					in_data = false;
					fs->data_seen = true;
					fake_say(fd, "250 queued\r\n");
				}
			} else if (strncasecmp(line, "EHLO", 4) == 0) {
				fake_say(fd, "250-fake\r\n250 AUTH PLAIN\r\n");
			} else if (auth_next) {
				auth_next =
				    false; /* base64 of the credentials */
				fake_say(fd, "235 ok\r\n");
			} else if (strcasecmp(line, "AUTH PLAIN\r\n") == 0) {
				fs->auth_seen = true;
				auth_next = true;
				fake_say(fd, "334 \r\n");
			} else if (strncasecmp(line, "AUTH", 4) == 0) {
				fs->auth_seen = true;
				fake_say(fd, "235 ok\r\n");
			} else if (strncasecmp(line, "DATA", 4) == 0) {
				in_data = true;
				fake_say(fd, "354 go\r\n");
			} else if (strncasecmp(line, "QUIT", 4) == 0) {
				fake_say(fd, "221 bye\r\n");
				goto out;
			} else {
				fake_say(fd, "250 ok\r\n");
			}
		}
	}
out:
	close(fd);
	return NULL;
}

static void
fake_smtp_start(struct fake_smtp *fs, pthread_t *t)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(fs, 0, sizeof(*fs));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fs->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fs->lfd >= 0);
	assert_int_equal(bind(fs->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fs->lfd, 1), 0);
	assert_int_equal(getsockname(fs->lfd, (struct sockaddr *)&sa, &sl), 0);
	fs->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(t, NULL, fake_smtp_run, fs), 0);
}

static void
fake_smtp_stop(struct fake_smtp *fs, pthread_t t)
{
	/* wake an accept() that never got a connection */
	shutdown(fs->lfd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(fs->lfd);
}

static void
test_smtp_tls_policy(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	char dir[] = "/tmp/test_reply_smtp.XXXXXX", pw[64];
	struct fake_smtp fs;
	struct config cfg;
	pthread_t t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	assert_int_equal(fs_write_atomic(pw, "secret\n", 7, 0600), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.submit_host = (char *)"127.0.0.1";
	cfg.reply_timeout = 10;

	/* no credentials: plain submission works (TLS only if offered) */
	fake_smtp_start(&fs, &t);
	cfg.submit_port = fs.port;
	assert_int_equal(reply_smtp(&cfg, "Q", "a@b.example", "c@d.example",
			     msg, sizeof(msg) - 1),
	    0);
	fake_smtp_stop(&fs, t);
	assert_true(fs.data_seen);
	assert_false(fs.auth_seen);

	/* a password and no STARTTLS: refused before AUTH (was sent) */
	fake_smtp_start(&fs, &t);
	cfg.submit_port = fs.port;
	cfg.submit_user = (char *)"milter";
	cfg.submit_pass_file = pw;
	assert_int_equal(reply_smtp(&cfg, "Q", "a@b.example", "c@d.example",
			     msg, sizeof(msg) - 1),
	    -1);
	fake_smtp_stop(&fs, t);
	assert_false(fs.auth_seen);
	assert_false(fs.data_seen);

	unlink(pw);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_rules),
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_sendmail),
		cmocka_unit_test(test_smtp_tls_policy),
	};

	log_init("test_reply", false, 0, true);
	if (reply_global_init() != 0) {
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
