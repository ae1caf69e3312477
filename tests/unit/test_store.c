/*
 * test_store: the requester's files (acme/app/store.c): account key 0600 and
 * reload (a key readable by others is refused), order state keyed by the
 * address set (order and domain case do not matter), certificate sets
 * published through a symlink and listed back for renew.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <sys/stat.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_id),
		cmocka_unit_test(test_order_state),
		cmocka_unit_test(test_account),
		cmocka_unit_test(test_certs),
		cmocka_unit_test(test_certs_concurrent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
