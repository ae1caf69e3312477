/*
 * Unit tests for common/spool.c: format round trip, strict parsing, the
 * claim / release / complete cycle and constant-name lookup by address,
 * FIFOs planted in entries/ (refused without blocking) and the work/
 * cleanup when the final write fails (full disk, simulated with
 * RLIMIT_FSIZE: write(2) then fails as on a full file system), the claim
 * timeout (a stale claim is taken over) and the SpoolDatabase check.
 * gnutls_hash_fast is interposed here so a test can make hashing fail.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "common/log.h"
#include "common/spool.h"

static char dir[64];
static bool hash_fails;

/* The library's own function unless a test sets hash_fails. */
int
gnutls_hash_fast(gnutls_digest_algorithm_t algo, const void *text,
    size_t textlen, void *digest)
{
	int (*real)(gnutls_digest_algorithm_t, const void *, size_t, void *);

	if (hash_fails) {
		return GNUTLS_E_INTERNAL_ERROR;
	}
	*(void **)&real = dlsym(RTLD_NEXT, "gnutls_hash_fast");
	assert_non_null(real);
	return real(algo, text, textlen, digest);
}

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
	assert_true(spool_is_empty(sp));
	assert_int_equal(spool_lookup(sp, "alice@example.test", &f), 1);
	fill(&e, "alice@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	assert_false(spool_is_empty(sp));
	snprintf(path, sizeof(path), "%s/entries/%s", dir, k1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_true(spool_has(sp, "alice@EXAMPLE.test"));
	assert_int_equal(spool_lookup(sp, "alice@example.test", &f), 0);
	assert_string_equal(f.token2, e.token2);

	/* claim: a second claim loses, told that someone else holds it; a
	 * claimed entry is not found, but the address still has an entry
	 * (a challenge arriving meanwhile is tempfailed, not let through) */
	assert_false(spool_claimed(sp, "alice@example.test"));
	assert_int_equal(spool_claim(sp, "alice@example.test", &f), 0);
	assert_int_equal(
	    spool_claim(sp, "alice@example.test", &f), SPOOL_CLAIMED);
	assert_true(spool_claimed(sp, "alice@example.test"));
	assert_int_equal(spool_lookup(sp, "alice@example.test", &e), 1);
	assert_true(spool_has(sp, "alice@example.test"));
	/* only work/ holds it now: still not empty */
	assert_false(spool_is_empty(sp));
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
	assert_true(spool_is_empty(sp));
	spool_close(sp);

	/* a spool without its subdirectories is refused */
	assert_null(spool_open("/nonexistent-spool", false, -1, (gid_t)-1));
}

/* set the mtime of dir/sub to t */
static void
set_mtime(const char *sub, time_t t)
{
	char path[256];
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Both directories' mtimes set to t, the empty spool seen, then a file
 * made at path with entries/ keeping mtime t: what spool_is_empty says
 * then.  The file is gone and the mtimes are t again afterwards. */
static bool
empty_with_slipped_name(struct spool *sp, const char *path, time_t t)
{
	bool empty;
	int fd;

	set_mtime("entries", t);
	set_mtime("work", t);
	assert_true(spool_is_empty(sp));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	close(fd);
	set_mtime("entries", t);
	empty = spool_is_empty(sp);
	assert_int_equal(unlink(path), 0);
	set_mtime("entries", t);
	return empty;
}

/* spool_is_empty remembers an empty spool by the directories' mtimes,
 * but only mtimes old enough that a later change must show as a new one */
static void
test_empty_memory(void **state)
{
	struct spool *sp;
	struct spool_entry e;
	char path[256], key[65];
	time_t old = time(NULL) - 10, recent = time(NULL);

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	spool_key("zed@example.test", key);
	snprintf(path, sizeof(path), "%s/entries/%s", dir, key);

	/* recent mtimes: every call reads the directories, so a name that
	 * appears with the mtime unchanged (the same tick) is seen */
	assert_false(empty_with_slipped_name(sp, path, recent));
	/* old mtimes: remembered; while they stay, the directories are not
	 * read (the slipped-in name goes unseen) */
	assert_true(empty_with_slipped_name(sp, path, old));

	/* a real change sets a new mtime and is seen at once */
	assert_true(spool_is_empty(sp));
	fill(&e, "zed@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	assert_false(spool_is_empty(sp));
	assert_int_equal(spool_remove(sp, "zed@example.test"), 0);
	assert_true(spool_is_empty(sp));
	spool_close(sp);
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

/* A failed hash names no file: before, the key was uninitialised memory. */
static void
test_hash_failure(void **state)
{
	struct spool *sp;
	struct spool_entry e, f;
	char path[256], key[65];
	struct dirent *de;
	DIR *dd;
	int files = 0;

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	fill(&e, "carol@example.test");
	hash_fails = true;
	assert_int_equal(spool_key("carol@example.test", key), -1);
	assert_string_equal(key, "");
	assert_int_equal(spool_write(sp, &e), -1);
	assert_int_equal(spool_lookup(sp, "carol@example.test", &f), -1);
	assert_false(spool_has(sp, "carol@example.test"));
	hash_fails = false;
	snprintf(path, sizeof(path), "%s/entries", dir);
	dd = opendir(path);
	assert_non_null(dd);
	while ((de = readdir(dd)) != NULL) {
		if (de->d_name[0] != '.') {
			files++;
		}
	}
	closedir(dd);
	assert_int_equal(files, 0);
	spool_close(sp);
}

/* A refusal note: written beside the entry (which stays as it is), read
 * back in one line, removed with the entry. */
static void
test_refusal_note(void **state)
{
	struct spool *sp;
	struct spool_entry e, f;
	char why[256];
	time_t when = 0, t0 = time(NULL);

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	fill(&e, "dora@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	assert_int_equal(
	    spool_refusal(sp, "dora@example.test", &when, why, sizeof(why)), 1);
	assert_int_equal(spool_note_refusal(sp, "dora@example.test",
			     "no DKIM signature\r\nInjected: x"),
	    0);
	assert_int_equal(
	    spool_refusal(sp, "dora@example.test", &when, why, sizeof(why)), 0);
	assert_true(when >= t0);
	assert_string_equal(why, "no DKIM signature  Injected: x");
	assert_int_equal(spool_lookup(sp, "dora@example.test", &f), 0);
	assert_int_equal(f.state, e.state);
	assert_int_equal(spool_remove(sp, "dora@example.test"), 0);
	assert_int_equal(
	    spool_refusal(sp, "dora@example.test", &when, why, sizeof(why)), 1);
	spool_close(sp);
}

/* A milter that claimed and died: after ClaimTimeout another takes the
 * claim over; before it, the claim holds (SPOOL_CLAIMED). */
static void
test_claim_expiry(void **state)
{
	struct spool *sp;
	struct spool_entry e, f;
	struct timespec old[2];
	char key[65], path[256];

	(void)state;
	sp = spool_open(dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	spool_set_claim_timeout(sp, 120);
	fill(&e, "carol@example.test");
	assert_int_equal(spool_write(sp, &e), 0);
	/* an entry written long ago: its claim is fresh all the same */
	spool_key("carol@example.test", key);
	snprintf(path, sizeof(path), "%s/entries/%s", dir, key);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(spool_claim(sp, "carol@example.test", &f), 0);
	assert_int_equal(
	    spool_claim(sp, "carol@example.test", &f), SPOOL_CLAIMED);
	assert_true(spool_claimed(sp, "carol@example.test"));
	assert_int_equal(spool_lookup(sp, "carol@example.test", &f), 1);

	/* the claimer died: its claim (the ctime of the rename into work/,
	 * which no one but the kernel sets) ages past the timeout */
	snprintf(path, sizeof(path), "%s/work/%s", dir, key);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 600;
	spool_set_claim_timeout(sp, 1);
	sleep(2);
	assert_false(spool_claimed(sp, "carol@example.test"));
	assert_int_equal(spool_lookup(sp, "carol@example.test", &f), 0);
	assert_int_equal(spool_claim(sp, "carol@example.test", &f), 0);
	assert_string_equal(f.token2, e.token2);
	/* taken over: fresh again */
	spool_set_claim_timeout(sp, 120);
	assert_int_equal(
	    spool_claim(sp, "carol@example.test", &f), SPOOL_CLAIMED);
	f.state = SPOOL_ANSWERED;
	assert_int_equal(spool_complete(sp, &f), 0);
	assert_int_equal(spool_lookup(sp, "carol@example.test", &f), 0);
	assert_int_equal(f.state, SPOOL_ANSWERED);

	/* ClaimTimeout 0: a claim never expires */
	spool_set_claim_timeout(sp, 0);
	e.state = SPOOL_AWAITING;
	assert_int_equal(spool_write(sp, &e), 0);
	assert_int_equal(spool_claim(sp, "carol@example.test", &f), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(
	    spool_claim(sp, "carol@example.test", &f), SPOOL_CLAIMED);
	spool_close(sp);
}

/* SpoolDatabase: a libpq connection string without a password. */
static void
test_conninfo(void **state)
{
	const char *why;

	(void)state;
	assert_int_equal(spool_conninfo_check("service=smime", &why), 0);
	assert_int_equal(spool_conninfo_check("host=/run/postgresql "
					      "dbname=smime user=milter "
					      "passfile=/etc/smime-acme/pgpass",
			     &why),
	    0);
	assert_int_equal(
	    spool_conninfo_check("postgresql://milter@db/smime", &why), 0);
	assert_int_equal(
	    spool_conninfo_check("host=db password=s3cret", &why), -1);
	assert_non_null(strstr(why, "password"));
	assert_null(strstr(why, "s3cret"));
	assert_int_equal(
	    spool_conninfo_check("host=db password = 's3 cret'", &why), -1);
	assert_int_equal(
	    spool_conninfo_check("postgresql://milter:s3cret@db/smime", &why),
	    -1);
	assert_int_equal(
	    spool_conninfo_check("postgresql://db/smime?password=x", &why), -1);
	assert_int_equal(spool_conninfo_check("host=db dbname", &why), -1);
	assert_null(strstr(why, "host=db"));
	assert_int_equal(spool_conninfo_check("nosuchkey=1", &why), -1);
	assert_int_equal(spool_conninfo_check("", &why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_empty_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_hash_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_refusal_note, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_complete_full, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_claim_expiry, setup, teardown),
		cmocka_unit_test(test_conninfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
