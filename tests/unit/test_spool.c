/*
 * Unit tests for common/spool.c: format round trip, strict parsing, the
 * claim / release / complete cycle and constant-name lookup by address,
 * FIFOs planted in entries/ (refused without blocking) and the work/
 * cleanup when the final write fails (full disk, simulated with
 * RLIMIT_FSIZE: write(2) then fails as on a full file system).
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/spool.h"

static char dir[64];

static void
fill(struct spool_entry *e, const char *addr)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->mailbox, sizeof(e->mailbox), "%s", addr);
	snprintf(e->from, sizeof(e->from), "acme-challenge@ca.test");
	snprintf(e->token2, sizeof(e->token2), "ZWZnaGlqa2xtbm9wcXJzdA");
	snprintf(e->thumbprint, sizeof(e->thumbprint),
	    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	e->rule = TOKEN_RULE_STRING;
	e->state = SPOOL_AWAITING;
	e->created = 1795891396;
	e->expires = 1795977796;
	snprintf(e->order_url, sizeof(e->order_url), "https://ca/o/1");
	snprintf(e->authz_url, sizeof(e->authz_url), "https://ca/a/1");
	snprintf(e->challenge_url, sizeof(e->challenge_url), "https://ca/c/1");
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/smime-acme-spool.XXXXXX");
	assert_non_null(mkdtemp(dir));
	log_init("test_spool", false, 0, false);
	return 0;
}

static void
rm_tree(const char *d)
{
	static const char *const subs[] = { "entries", "work", "tmp" };
	char p[512], f[1024];
	struct dirent *de;
	DIR *dd;
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", d, subs[i]);
		dd = opendir(p);
		while (dd != NULL && (de = readdir(dd)) != NULL) {
			if (de->d_name[0] == '.' &&
			    (de->d_name[1] == '\0' || de->d_name[1] == '.')) {
				continue;
			}
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			unlink(f);
		}
		if (dd != NULL) {
			closedir(dd);
		}
		rmdir(p);
	}
	rmdir(d);
}

static int
teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

static void
test_roundtrip(void **state)
{
	struct spool_entry e, f;
	char text[SPOOL_ENTRY_MAX];
	const char *why;
	int n;

	(void)state;
	fill(&e, "alice@example.test");
	n = spool_format(&e, text, sizeof(text));
	assert_true(n > 0);
	assert_memory_equal(text, "smime-acme-spool 1\nmailbox: alice@", 33);
	assert_int_equal(spool_parse(text, (size_t)n, &f, &why), 0);
	assert_string_equal(f.mailbox, e.mailbox);
	assert_string_equal(f.token2, e.token2);
	assert_int_equal(f.rule, TOKEN_RULE_STRING);
	assert_int_equal(f.state, SPOOL_AWAITING);
	assert_int_equal(f.expires, e.expires);
	assert_string_equal(f.challenge_url, e.challenge_url);
}

static void
test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"smime-acme-spool 2\nmailbox: a@b.test\nstate: incomplete\n",
		"smime-acme-spool 1\nmailbox: a@b.test\n",
		"smime-acme-spool 1\nmailbox: a@b.test\nstate: bogus\n",
		"smime-acme-spool 1\nmailbox: a@b.test\nstate: incomplete",
		"smime-acme-spool 1\nmailbox a@b.test\nstate: incomplete\n",
		"smime-acme-spool 1\nmailbox: a@b.test\nstate: awaiting\n",
		"smime-acme-spool 1\nmailbox: a@b.test\nstate: incomplete\n"
		"expires: soon\n",
		"smime-acme-spool 1\nmailbox: a@b.test\nstate: incomplete\n"
		"rule: bytes\n",
	};
	struct spool_entry e;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (spool_parse(bad[i], strlen(bad[i]), &e, &why) >= 0) {
			fail_msg("accepted case %zu", i);
		}
		assert_non_null(why);
	}
	/* an incomplete entry needs only mailbox and state */
	{
		static const char ok[] = "smime-acme-spool 1\n"
					 "mailbox: a@b.test\n"
					 "state: incomplete\n"
					 "reason:\n"
					 "future-key: x\n";
		assert_int_equal(spool_parse(ok, strlen(ok), &e, &why), 0);
	}
}

static void
test_cycle(void **state)
{
	struct spool *sp;
	struct spool_entry e, f;
	char k1[65], k2[65];
	struct stat st;
	char path[256];

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	/* the domain is case-insensitive, the local part is not */
	spool_key("alice@Example.TEST", k1);
	spool_key("alice@example.test", k2);
	assert_string_equal(k1, k2);
	spool_key("Alice@example.test", k2);
	assert_string_not_equal(k1, k2);

	assert_false(spool_has(sp, "alice@example.test"));
	assert_int_equal(spool_lookup(sp, "alice@example.test", &f), 1);
	fill(&e, "alice@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	snprintf(path, sizeof(path), "%s/entries/%s", dir, k1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_true(spool_has(sp, "alice@EXAMPLE.test"));
	assert_int_equal(spool_lookup(sp, "alice@example.test", &f), 0);
	assert_string_equal(f.token2, e.token2);

	/* claim: a second claim loses; a claimed entry is not found */
	assert_int_equal(spool_claim(sp, "alice@example.test", &f), 0);
	assert_int_equal(spool_claim(sp, "alice@example.test", &f), 1);
	assert_false(spool_has(sp, "alice@example.test"));
	assert_int_equal(spool_release(sp, "alice@example.test"), 0);
	assert_true(spool_has(sp, "alice@example.test"));

	assert_int_equal(spool_claim(sp, "alice@example.test", &f), 0);
	f.state = SPOOL_ANSWERED;
	f.answered_at = 1795891400;
	snprintf(f.challenge_msgid, sizeof(f.challenge_msgid), "<c1@ca.test>");
	assert_int_equal(spool_complete(sp, &f), 0);
	assert_int_equal(spool_lookup(sp, "alice@example.test", &e), 0);
	assert_int_equal(e.state, SPOOL_ANSWERED);
	assert_string_equal(e.challenge_msgid, "<c1@ca.test>");
	snprintf(path, sizeof(path), "%s/work/%s", dir, k1);
	assert_int_equal(stat(path, &st), -1);

	/* a field with a line break cannot smuggle a key into the file */
	snprintf(e.reason, sizeof(e.reason), "x\nstate: answered");
	assert_int_equal(spool_write(sp, &e), -1);
	assert_int_equal(spool_remove(sp, "alice@example.test"), 0);
	assert_int_equal(spool_remove(sp, "alice@example.test"), 0);
	assert_false(spool_has(sp, "alice@example.test"));
	spool_close(sp);

	/* a spool without its subdirectories is refused */
	assert_null(spool_open("/nonexistent-spool", false, -1, (gid_t)-1));
}

/* create with a group: every directory made gets it and mode 2770 (even
 * under umask 077), and entries inherit the group */
static void
test_group(void **state)
{
	static const char *const subs[] = { "", "/entries", "/work", "/tmp" };
	gid_t gid = geteuid() == 0 ? (gid_t)65534 : getegid();
	struct spool_entry e;
	struct spool *sp;
	char top[128], path[256], k[65];
	struct stat st;
	mode_t old;
	size_t i;

	(void)state;
	snprintf(top, sizeof(top), "%s/shared", dir);
	old = umask(077);
	sp = spool_open(top, true, -1, gid);
	umask(old);
	assert_non_null(sp);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", top, subs[i]);
		assert_int_equal(stat(path, &st), 0);
		if (st.st_gid != gid || (st.st_mode & 07777) != 02770) {
			fail_msg("%s: gid %lu mode %04o, want %lu 2770", path,
			    (unsigned long)st.st_gid,
			    (unsigned)(st.st_mode & 07777), (unsigned long)gid);
		}
	}
	fill(&e, "bob@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	spool_key("bob@example.test", k);
	snprintf(path, sizeof(path), "%s/entries/%s", top, k);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(st.st_mode & 0777, 0640);
	spool_close(sp);
	/* an existing spool is opened as it is */
	sp = spool_open(top, true, -1, (gid_t)-1);
	assert_non_null(sp);
	spool_close(sp);
	rm_tree(top);
}

/* Run fn with stderr captured into a malloc'ed string (the log lines). */
static char *
capture_log(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/smime-acme-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *buf = calloc(1, 4096);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && buf != NULL);
	log_init("test_spool", false, 0, true);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_init("test_spool", false, 0, false);
	n = pread(fd, buf, 4095, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

struct fifo_run {
	struct spool *sp;
	int lookup, claim, foreach;
	unsigned seen;
};

static int
count_entry(const struct spool_entry *e, void *arg)
{
	(void)e;
	(*(unsigned *)arg)++;
	return 0;
}

static void
fifo_calls(void *arg)
{
	struct fifo_run *r = arg;
	struct spool_entry e;

	r->lookup = spool_lookup(r->sp, "mallory@example.test", &e);
	r->claim = spool_claim(r->sp, "mallory@example.test", &e);
	r->foreach = spool_foreach(r->sp, count_entry, &r->seen);
}

/* A FIFO in entries/ (what a spool-group user can plant) is refused at
 * once by the lookup, the claim and the listing behind `smime-acme
 * spool`; without O_NONBLOCK the open(2) blocks for ever (the alarm
 * turns that into a failure). */
static void
test_fifo(void **state)
{
	struct fifo_run r;
	struct spool_entry e;
	char k[65], path[256], *log;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(r.sp);
	fill(&e, "alice@example.test");
	assert_int_equal(spool_write(r.sp, &e), 0);
	spool_key("mallory@example.test", k);
	snprintf(path, sizeof(path), "%s/entries/%s", dir, k);
	assert_int_equal(mkfifo(path, 0660), 0);
	alarm(10);
	log = capture_log(fifo_calls, &r);
	alarm(0);
	assert_int_equal(r.lookup, -1);
	assert_int_equal(r.claim, -1);
	assert_int_equal(r.foreach, 0);
	assert_int_equal(r.seen, 1); /* alice's entry, not the FIFO */
	if (strstr(log, ": cannot read spool entry: not a regular file") ==
	    NULL) {
		fail_msg("log: %s", log);
	}
	free(log);
	/* the claim put the FIFO back where it was */
	assert_true(spool_has(r.sp, "mallory@example.test"));
	spool_close(r.sp);
}

/* The final write of a claim fails (as on a full disk): the claimed copy
 * in work/, which holds token-part2, is gone all the same. */
static void
test_complete_full(void **state)
{
	struct spool *sp;
	struct spool_entry e, f;
	struct rlimit old, lim;
	struct sigaction ign, prev;
	char k[65], path[256];
	struct dirent *de;
	struct stat st;
	DIR *dd;
	int rc;

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	fill(&e, "alice@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	assert_int_equal(spool_claim(sp, "alice@example.test", &f), 0);
	f.state = SPOOL_ANSWERED;
	/* no file may grow past 0 bytes: write(2) fails with EFBIG */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGXFSZ, &ign, &prev), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 0;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = spool_complete(sp, &f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(sigaction(SIGXFSZ, &prev, NULL), 0);
	assert_int_equal(rc, -1);
	spool_key("alice@example.test", k);
	snprintf(path, sizeof(path), "%s/work/%s", dir, k);
	if (stat(path, &st) == 0) {
		fail_msg("%s left behind after a failed write", path);
	}
	/* and no temporary copy either: entries/ is empty */
	assert_int_equal(spool_lookup(sp, "alice@example.test", &e), 1);
	snprintf(path, sizeof(path), "%s/entries", dir);
	dd = opendir(path);
	assert_non_null(dd);
	while ((de = readdir(dd)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			fail_msg("entries/%s left behind", de->d_name);
		}
	}
	closedir(dd);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_complete_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
