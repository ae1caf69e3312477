/*
 * test_store: the requester's files (acme/app/store.c): account key 0600 and
 * reload (a key readable by others is refused), order state keyed by the
 * address set (order and domain case do not matter), certificate sets
 * published through a symlink and listed back for renew; the lifecycle:
 * a revocation recorded in lineage.info, compromised keys listed once,
 * superseded sets pruned to KeepCertificateSets (never the published set,
 * a newer one or another address's), an address retired.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <sys/stat.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "acme/pki/key.h"
#include "acme/app/store.h"
#include "acme/proto/jws.h"
#include "common/buf.h"
#include "common/fsutil.h"

static char dir[] = "/tmp/test_store.XXXXXX";
#define SERVER "https://ca.example/dir"

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	return key_global_init();
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
test_order_id(void **state)
{
	const char *a[] = { "b@Example.ORG", "a@example.org" };
	const char *b[] = { "a@example.org", "b@example.org" };
	const char *c[] = { "A@example.org", "b@example.org" };
	struct store_order x, y, z, w;

	(void)state;
	assert_int_equal(store_order_id(SERVER, a, 2, &x), 0);
	assert_int_equal(store_order_id(SERVER, b, 2, &y), 0);
	assert_int_equal(store_order_id(SERVER, c, 2, &z), 0);
	assert_int_equal(store_order_id("https://other/dir", b, 2, &w), 0);
	assert_string_equal(x.id, y.id);     /* order, domain case */
	assert_string_not_equal(x.id, z.id); /* the local part is exact */
	assert_string_not_equal(x.id, w.id); /* per server */
	assert_int_equal(strlen(x.id), STORE_HASH_LEN);
}

static void
test_order_state(void **state)
{
	const char *a[] = { "a@example.org" };
	struct store_order o, r;

	(void)state;
	assert_int_equal(store_order_id(SERVER, a, 1, &o), 0);
	r = o;
	assert_int_equal(store_order_load(dir, &r), 0);
	assert_null(r.url);
	assert_null(r.key);
	assert_false(r.lost);
	o.key = key_generate(KEY_EC256);
	assert_non_null(o.key);
	assert_int_equal(store_order_save_key(dir, &o), 0);
	/* the mark before newOrder: loaded as lost, no URL */
	assert_int_equal(store_order_save_url(dir, &o), 0);
	assert_int_equal(store_order_load(dir, &r), 0);
	assert_null(r.url);
	assert_true(r.lost);
	store_order_free(&r);
	r = o;
	r.key = NULL;
	o.url = strdup("https://ca.example/order/1");
	assert_int_equal(store_order_save_url(dir, &o), 0);
	assert_int_equal(store_order_load(dir, &r), 0);
	assert_string_equal(r.url, o.url);
	assert_false(r.lost);
	assert_true(key_equal_public(r.key, o.key));
	assert_int_equal(store_order_remove(dir, &o), 0);
	store_order_free(&r);
	r = o;
	r.url = NULL;
	r.key = NULL;
	assert_int_equal(store_order_load(dir, &r), 0);
	assert_null(r.url);
	store_order_free(&o);
}

static void
test_account(void **state)
{
	struct key *k = key_generate(KEY_EC256), *k2 = NULL;
	char *kid = NULL, h[STORE_HASH_LEN + 1], path[512];
	struct stat st;

	(void)state;
	assert_non_null(k);
	assert_int_equal(store_account_load(dir, SERVER, &k2, &kid), 1);
	assert_int_equal(
	    store_account_save(dir, SERVER, k, SERVER "/acct/1"), 0);
	assert_int_equal(store_account_load(dir, SERVER, &k2, &kid), 0);
	assert_true(key_equal_public(k, k2));
	assert_string_equal(kid, SERVER "/acct/1");
	key_free(k2);
	free(kid);
	k2 = NULL;
	kid = NULL;
	assert_int_equal(store_hash_hex(SERVER, h), 0);
	snprintf(path, sizeof(path), "%s/accounts/%.16s/account.key", dir, h);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(store_account_load(dir, SERVER, &k2, &kid), -1);
	assert_null(k2);
	key_free(k);
}

struct seen {
	int n;
	char names[4][64];
	unsigned usage;
	size_t n_addrs;
};

static int
collect(const struct store_lineage *l, void *arg)
{
	struct seen *s = arg;

	if (s->n < 4) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", l->name);
	}
	s->n++;
	s->usage = l->usage;
	s->n_addrs = l->n_addrs;
	return 0;
}

static void
test_certs(void **state)
{
	const char *addrs[] = { "a@example.org", "b@example.org" };
	struct store_certset s;
	struct seen seen;
	struct buf kp;
	char *out = NULL, path[512], link1[512], link2[512];
	struct stat st;
	ssize_t n;

	(void)state;
	buf_init(&kp, 0);
	buf_puts(&kp, "KEY\n");
	memset(&s, 0, sizeof(s));
	s.addrs = addrs;
	s.n_addrs = 2;
	s.cert_pem = "CERT\n";
	s.chain_pem = "CHAIN\n";
	s.fullchain_pem = "CERT\nCHAIN\n";
	s.key_pem = &kp;
	s.p12 = (const unsigned char *)"P12";
	s.p12_len = 3;
	s.usage = 5;
	s.key_type = "rsa2048";
	s.server = SERVER;
	assert_int_equal(store_certs_save(dir, &s, &out), 0);
	snprintf(path, sizeof(path), "%s/certs/a@example.org", dir);
	assert_string_equal(out, path);
	free(out);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(path, link1, sizeof(link1) - 1);
	assert_true(n > 0);
	link1[n] = '\0';
	snprintf(path, sizeof(path), "%s/certs/a@example.org/privkey.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/certs/a@example.org/a@example.org.p12",
	    dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	sleep(1); /* a new set gets a new directory name */
	assert_int_equal(store_certs_save(dir, &s, NULL), 0);
	snprintf(path, sizeof(path), "%s/certs/a@example.org", dir);
	n = readlink(path, link2, sizeof(link2) - 1);
	assert_true(n > 0);
	link2[n] = '\0';
	assert_string_not_equal(link1, link2);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_certs_foreach(dir, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.names[0], "a@example.org");
	assert_int_equal(seen.usage, 5);
	assert_int_equal(seen.n_addrs, 2);

	/* a name that would climb out is refused */
	addrs[0] = "../x@example.org";
	assert_int_equal(store_certs_save(dir, &s, NULL), -1);
	buf_free(&kp);
}

/* Workers of one batch publish their sets at the same time: each link
 * must end up pointing at its own set (the temporary link is per set).
 * Each thread publishes PUB_ROUNDS addresses of its own, once each. */
#define PUB_THREADS 8
#define PUB_ROUNDS  40

static void *
publish_many(void *arg)
{
	int t = *(const int *)arg, i;
	char addr[64], path[512], target[512], cert[256];
	const char *addrs[1] = { addr };
	struct store_certset s;
	struct buf kp;
	char *got;
	ssize_t n;
	long bad = 0;

	buf_init(&kp, 0);
	buf_puts(&kp, "KEY\n");
	for (i = 0; i < PUB_ROUNDS; i++) {
		snprintf(addr, sizeof(addr), "t%d-r%d@example.org", t, i);
		snprintf(cert, sizeof(cert), "CERT %s\n", addr);
		memset(&s, 0, sizeof(s));
		s.addrs = addrs;
		s.n_addrs = 1;
		s.cert_pem = cert;
		s.chain_pem = "CHAIN\n";
		s.fullchain_pem = cert;
		s.key_pem = &kp;
		s.p12 = (const unsigned char *)"P12";
		s.p12_len = 3;
		s.server = SERVER;
		if (store_certs_save(dir, &s, NULL) != 0) {
			bad++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/certs/%s", dir, addr);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0) {
			bad++;
			continue;
		}
		target[n] = '\0';
		snprintf(path, sizeof(path), "%s/certs/%s/cert.pem", dir, addr);
		got = fs_read_file(path, 4096, NULL);
		/* the link names this address's set, which holds its cert */
		if (target[0] != '.' ||
		    strncmp(target + 1, addr, strlen(addr)) != 0 ||
		    got == NULL || strcmp(got, cert) != 0) {
			bad++;
		}
		free(got);
	}
	buf_free(&kp);
	return (void *)bad;
}

static void
test_certs_concurrent(void **state)
{
	static int ids[PUB_THREADS];
	pthread_t th[PUB_THREADS];
	void *bad;
	long total = 0;
	int i;

	(void)state;
	for (i = 0; i < PUB_THREADS; i++) {
		ids[i] = i;
		assert_int_equal(
		    pthread_create(&th[i], NULL, publish_many, &ids[i]), 0);
	}
	for (i = 0; i < PUB_THREADS; i++) {
		pthread_join(th[i], &bad);
		total += (long)bad;
	}
	assert_int_equal(total, 0);
}

/* A set with fixed contents for address a (published now). */
static void
save_set(const char *a, unsigned keep)
{
	const char *addrs[1] = { a };
	struct store_certset s;
	struct buf kp;

	buf_init(&kp, 0);
	buf_puts(&kp, "KEY\n");
	memset(&s, 0, sizeof(s));
	s.addrs = addrs;
	s.n_addrs = 1;
	s.cert_pem = "CERT\n";
	s.chain_pem = "CHAIN\n";
	s.fullchain_pem = "CERT\nCHAIN\n";
	s.key_pem = &kp;
	s.p12 = (const unsigned char *)"P12";
	s.p12_len = 3;
	s.server = SERVER;
	s.keep = keep;
	assert_int_equal(store_certs_save(dir, &s, NULL), 0);
	buf_free(&kp);
}

struct revoked_seen {
	const char *name;
	time_t revoked;
	char reason[64];
	int n;
};

static int
find_revoked(const struct store_lineage *l, void *arg)
{
	struct revoked_seen *r = arg;

	if (strcmp(l->name, r->name) == 0) {
		r->revoked = l->revoked;
		snprintf(r->reason, sizeof(r->reason), "%s",
		    l->revoked_reason != NULL ? l->revoked_reason : "");
		r->n++;
	}
	return 0;
}

static void
test_mark_revoked(void **state)
{
	struct revoked_seen r;
	char path[512], *text;

	(void)state;
	save_set("rev@example.org", 0);
	memset(&r, 0, sizeof(r));
	r.name = "rev@example.org";
	assert_int_equal(store_certs_foreach(dir, find_revoked, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.revoked, 0); /* not recorded: renew as before */

	snprintf(path, sizeof(path), "%s/certs/rev@example.org", dir);
	assert_int_equal(store_mark_revoked(path, 1700000000, "superseded"), 0);
	assert_int_equal(
	    store_mark_revoked(path, 1700000100, "keyCompromise"), 0);
	memset(&r, 0, sizeof(r));
	r.name = "rev@example.org";
	assert_int_equal(store_certs_foreach(dir, find_revoked, &r), 0);
	assert_int_equal(r.revoked, 1700000100);
	assert_string_equal(r.reason, "keyCompromise");

	/* one record, the other lines kept */
	snprintf(
	    path, sizeof(path), "%s/certs/rev@example.org/lineage.info", dir);
	text = fs_read_file(path, 65536, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "revoked: 1700000100 keyCompromise\n"));
	assert_null(strstr(text, "superseded"));
	assert_non_null(strstr(text, "addresses: rev@example.org\n"));
	assert_non_null(strstr(text, "server: " SERVER "\n"));
	free(text);

	assert_int_equal(store_mark_revoked("/nonexistent/x", 1, "x"), -1);
}

static void
test_compromised_keys(void **state)
{
	struct key *a = key_generate(KEY_EC256), *b = key_generate(KEY_EC256);
	char path[512], tp[KEY_THUMBPRINT_LEN + 1], *text;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(store_key_compromised(dir, a), 0); /* no file */
	assert_int_equal(store_key_compromised_add(dir, a), 0);
	assert_int_equal(store_key_compromised_add(dir, a), 0); /* once */
	assert_int_equal(store_key_compromised(dir, a), 1);
	assert_int_equal(store_key_compromised(dir, b), 0);
	assert_int_equal(store_key_compromised_add(dir, b), 0);
	assert_int_equal(store_key_compromised(dir, b), 1);
	assert_int_equal(store_key_compromised(dir, a), 1);

	snprintf(path, sizeof(path), "%s/compromised-keys", dir);
	text = fs_read_file(path, 65536, NULL);
	assert_non_null(text);
	assert_int_equal(strlen(text), 2 * (KEY_THUMBPRINT_LEN + 1));
	assert_int_equal(jws_thumbprint(a, tp), 0);
	assert_memory_equal(text, tp, KEY_THUMBPRINT_LEN);
	assert_int_equal(text[KEY_THUMBPRINT_LEN], '\n');
	free(text);
	key_free(a);
	key_free(b);
}

/* Make CONFIG/certs/<name> as a set directory with one file. */
static void
make_set(const char *name)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/certs", dir);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/certs/%s", dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/certs/%s/privkey.pem", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("KEY\n", fp);
	fclose(fp);
}

static bool
set_exists(const char *name)
{
	char path[1100];
	struct stat st;

	snprintf(path, sizeof(path), "%s/certs/%s", dir, name);
	return lstat(path, &st) == 0;
}

static void
test_prune(void **state)
{
	char path[512], target[512], *text;
	ssize_t n;

	(void)state;
	/* four older sets of p, one of q, a look-alike address, and a set
	 * of p newer than the one about to be published (being written) */
	make_set(".p@example.org.100.1");
	make_set(".p@example.org.101.1");
	make_set(".p@example.org.102.7");
	make_set(".p@example.org.102.9");
	make_set(".q@example.org.50.1");
	make_set(".p@example.org.1.10.1");
	make_set(".p@example.org.9999999999.1");
	save_set("p@example.org", 3);
	snprintf(path, sizeof(path), "%s/certs/p@example.org", dir);
	n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	/* the published set and the two newest it superseded */
	assert_true(set_exists(target));
	assert_true(set_exists(".p@example.org.102.9"));
	assert_true(set_exists(".p@example.org.102.7"));
	assert_false(set_exists(".p@example.org.101.1"));
	assert_false(set_exists(".p@example.org.100.1"));
	/* never a newer set, another address's or a look-alike's */
	assert_true(set_exists(".p@example.org.9999999999.1"));
	assert_true(set_exists(".q@example.org.50.1"));
	assert_true(set_exists(".p@example.org.1.10.1"));
	/* the published set is intact */
	snprintf(path, sizeof(path), "%s/certs/p@example.org/cert.pem", dir);
	text = fs_read_file(path, 4096, NULL);
	assert_non_null(text);
	assert_string_equal(text, "CERT\n");
	free(text);

	/* keep 1: only the published one; keep 0: nothing removed */
	assert_int_equal(store_certs_prune(dir, "q@example.org", 1), 0);
	assert_true(set_exists(".q@example.org.50.1")); /* none published */
	assert_int_equal(store_certs_prune(dir, "p@example.org", 0), 0);
	assert_true(set_exists(".p@example.org.102.7"));
	assert_int_equal(store_certs_prune(dir, "p@example.org", 1), 2);
	assert_true(set_exists(target));
	assert_false(set_exists(".p@example.org.102.9"));
	assert_false(set_exists(".p@example.org.102.7"));
	assert_true(set_exists(".p@example.org.9999999999.1"));
}

static int
count_name(const struct store_lineage *l, void *arg)
{
	struct revoked_seen *r = arg;

	if (strcmp(l->name, r->name) == 0) {
		r->n++;
	}
	return 0;
}

static void
test_retire(void **state)
{
	struct revoked_seen r;
	char path[512], *to = NULL;
	struct stat st;

	(void)state;
	make_set(".ret@example.org.100.1");
	make_set(".other@example.org.100.1");
	save_set("ret@example.org", 0);
	assert_int_equal(store_certs_retire(dir, "ret@example.org", &to), 0);
	assert_non_null(to);
	memset(&r, 0, sizeof(r));
	r.name = "ret@example.org";
	assert_int_equal(store_certs_foreach(dir, count_name, &r), 0);
	assert_int_equal(r.n, 0); /* renew no longer sees it */
	assert_false(set_exists("ret@example.org"));
	assert_false(set_exists(".ret@example.org.100.1"));
	assert_true(set_exists(".other@example.org.100.1"));
	/* under retired/: the link still leads to the set, the old set too */
	snprintf(path, sizeof(path), "%s/ret@example.org/cert.pem", to);
	assert_int_equal(stat(path, &st), 0);
	snprintf(
	    path, sizeof(path), "%s/.ret@example.org.100.1/privkey.pem", to);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/retired/", dir);
	assert_int_equal(strncmp(to, path, strlen(path)), 0);
	free(to);
	/* nothing published: refused */
	assert_int_equal(store_certs_retire(dir, "ret@example.org", NULL), -1);
	assert_int_equal(store_certs_retire(dir, "../x@example.org", NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_id),
		cmocka_unit_test(test_order_state),
		cmocka_unit_test(test_account),
		cmocka_unit_test(test_certs),
		cmocka_unit_test(test_certs_concurrent),
		cmocka_unit_test(test_mark_revoked),
		cmocka_unit_test(test_compromised_keys),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_retire),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
