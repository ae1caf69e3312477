/*
 * crypto-floor: the local cryptographic work of certifying N mailboxes,
 * without ACME or mail: per address a fresh key, the S/MIME CSR, a
 * certificate signed by a throwaway CA (standing in for the CA's work,
 * which a batch does not pay), the PKCS#12 through p12_build() and the key
 * and PKCS#12 written with fs_write_atomic() -- the same library calls the
 * requester makes.  Spread over T threads, it is the floor a batch run is
 * compared with (tests/bench/batch.sh).
 *
 *   crypto-floor KEYTYPE N THREADS DIR [PASSPHRASE|-]
 *
 * Prints one line "crypto-floor: key=.. n=.. threads=.. wall_s=.. keygen_s=..
 * csr_s=.. p12_s=.. write_s=.." (the per-phase figures are CPU-thread
 * seconds summed over threads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme/pki/cert.h"
#include "acme/pki/csr.h"
#include "acme/pki/key.h"
#include "acme/pki/p12.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "tests/lib/testcert.h"

struct floor {
	enum key_type type;
	unsigned n;
	const char *dir;
	const char *pass;
	struct key *ca_key;
	gnutls_x509_crt_t ca_crt;
	pthread_mutex_t mu;
	unsigned next;
	double keygen, csr, p12, write;
	int failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* a certificate from the throwaway CA (testcert_make), serial 01 SSSSSS */
static gnutls_x509_crt_t
make_crt(const struct key *subj, const struct key *issuer_key,
    gnutls_x509_crt_t issuer, const char *cn, unsigned serial)
{
	unsigned char ser[4] = { 0x01, (unsigned char)(serial >> 16),
		(unsigned char)(serial >> 8), (unsigned char)serial };

	return testcert_make(
	    subj, issuer_key, issuer, cn, ser, sizeof(ser), NULL);
}

static int
one(struct floor *fl, unsigned i, double t[4])
{
	char addr[64], path[512];
	const char *addrs[1] = { addr };
	struct key *k = NULL;
	struct cert_chain chain;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned char *csr = NULL, *p12 = NULL;
	size_t csrlen = 0, p12len = 0;
	struct buf pem;
	double t0;
	int rc = -1;

	memset(&chain, 0, sizeof(chain));
	buf_init(&pem, 0);
	snprintf(addr, sizeof(addr), "user%u@example.test", i);
	t0 = now();
	if ((k = key_generate(fl->type)) == NULL) {
		goto out;
	}
	t[0] += now() - t0;
	t0 = now();
	if (csr_build(k, addrs, 1, 0, &csr, &csrlen) != 0) {
		goto out;
	}
	t[1] += now() - t0;
	/* the certificate stands in for the CA's: not counted */
	if ((crt = make_crt(k, fl->ca_key, fl->ca_crt, addr, i + 2)) == NULL ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d) < 0 ||
	    cert_chain_add(&chain, d.data, d.size) != 0) {
		goto out;
	}
	t0 = now();
	if (p12_build(k, &chain, addr, fl->pass, fl->pass == NULL, &p12,
		&p12len) != 0) {
		goto out;
	}
	t[2] += now() - t0;
	t0 = now();
	snprintf(path, sizeof(path), "%s/%s.p12", fl->dir, addr);
	if (fs_write_atomic(path, p12, p12len, 0600) != 0 ||
	    key_to_pem(k, &pem) != 0) {
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.key", fl->dir, addr);
	if (fs_write_atomic(path, pem.data, pem.len, 0600) != 0) {
		goto out;
	}
	t[3] += now() - t0;
	rc = 0;
out:
	buf_free_secret(&pem);
	free(csr);
	free(p12);
	gnutls_free(d.data);
	if (crt != NULL) {
		gnutls_x509_crt_deinit(crt);
	}
	cert_chain_free(&chain);
	key_free(k);
	return rc;
}

static void *
worker(void *arg)
{
	struct floor *fl = arg;
	double t[4] = { 0, 0, 0, 0 };
	unsigned i;
	int failed = 0;

	for (;;) {
		pthread_mutex_lock(&fl->mu);
		i = fl->next++;
		pthread_mutex_unlock(&fl->mu);
		if (i >= fl->n) {
			break;
		}
		if (one(fl, i, t) != 0) {
			failed++;
		}
	}
	pthread_mutex_lock(&fl->mu);
	fl->keygen += t[0];
	fl->csr += t[1];
	fl->p12 += t[2];
	fl->write += t[3];
	fl->failed += failed;
	pthread_mutex_unlock(&fl->mu);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct floor fl;
	pthread_t th[64];
	unsigned nth, i;
	double t0, wall;

	if (argc < 5) {
		fprintf(stderr,
		    "usage: crypto-floor KEYTYPE N THREADS DIR [PASSPHRASE|-]\n");
		return 64;
	}
	memset(&fl, 0, sizeof(fl));
	fl.type = key_type_parse(argv[1]);
	fl.n = (unsigned)strtoul(argv[2], NULL, 10);
	nth = (unsigned)strtoul(argv[3], NULL, 10);
	fl.dir = argv[4];
	fl.pass = argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL;
	if (fl.type == KEY_TYPE_MAX || nth == 0 || nth > 64) {
		fprintf(stderr, "crypto-floor: bad key type or thread count\n");
		return 64;
	}
	if (gnutls_global_init() < 0 || fs_mkdirs(fl.dir, 0700) != 0) {
		return 71;
	}
	pthread_mutex_init(&fl.mu, NULL);
	fl.ca_key = key_generate(KEY_EC256);
	if (fl.ca_key == NULL ||
	    (fl.ca_crt = make_crt(fl.ca_key, fl.ca_key, NULL, "floor CA", 1)) ==
		NULL) {
		return 70;
	}
	t0 = now();
	for (i = 0; i < nth; i++) {
		pthread_create(&th[i], NULL, worker, &fl);
	}
	for (i = 0; i < nth; i++) {
		pthread_join(th[i], NULL);
	}
	wall = now() - t0;
	printf("crypto-floor: key=%s n=%u threads=%u wall_s=%.2f keygen_s=%.2f "
	       "csr_s=%.2f p12_s=%.2f write_s=%.2f failed=%d\n",
	    key_type_name(fl.type), fl.n, nth, wall, fl.keygen, fl.csr, fl.p12,
	    fl.write, fl.failed);
	gnutls_x509_crt_deinit(fl.ca_crt);
	key_free(fl.ca_key);
	return fl.failed ? 1 : 0;
}
