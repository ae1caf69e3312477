/*
 * verify-cost: what isolating verification costs per candidate.  The same
 * DKIM-signed challenge is verified N times in this process (dkimv_*
 * calls, as the milter did before milter/verifier.c) and N times through
 * the verification worker server (verifier_start(), verifier_run(): a
 * socketpair, a descriptor passed to a waiting worker, one request, one
 * verdict, the worker's exit), with the key from a TestDKIMKeys file so
 * that no DNS is in the figure.
 *
 *   verify-cost KEYS MAIL N
 *
 * Prints one line "verify-cost: n=.. inproc_us=.. worker_us=..
 * isolation_us=.." (medians per candidate).  Used by verify-cost.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/challenge.h"
#include "common/challenge_mail.h"
#include "common/conf.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mailhdr.h"
#include "dkim/dkimv.h"
#include "milter/ctx.h"
#include "milter/verifier.h"

#define N_MAX 100000

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/* One in-process verification, as callbacks.c did before the worker. */
static int
verify_inproc(struct dkimv_lib *lib, const struct mailhdrs *hs,
    const char *body, size_t blen, const char *from_domain)
{
	struct dkimv_result r;
	struct dkimv *d = dkimv_begin(lib, "bench");
	size_t i;
	int rc;

	if (d == NULL) {
		return -1;
	}
	for (i = 0; i < hs->n; i++) {
		(void)dkimv_header(d, hs->h[i].name, hs->h[i].value);
	}
	(void)dkimv_eoh(d);
	(void)dkimv_body(d, (const unsigned char *)body, blen);
	rc = dkimv_end(d, from_domain, challenge_required_headers, &r);
	dkimv_free(d);
	return rc < 0 || !r.pass ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct milter_app app;
	struct mailhdrs hs;
	struct challenge_mail m;
	struct verifier_req rq;
	struct verifier_verdict vd;
	char *text = NULL;
	size_t tlen = 0;
	double *in = NULL, *wk = NULL, t0;
	const char *why, *dom;
	char reason[VERIFIER_WHY_MAX];
	size_t off;
	long n, i;
	int rc = 1;

	if (argc != 4 || conf_parse_long(argv[3], 1, N_MAX, &n) < 0) {
		fprintf(stderr, "usage: verify-cost KEYS MAIL N\n");
		return 64;
	}
	log_init("verify-cost", false, 0, true);
	memset(&app, 0, sizeof(app));
	mailhdrs_init(&hs);
	in = calloc((size_t)n, sizeof(*in));
	wk = calloc((size_t)n, sizeof(*wk));
	cfg = conf_defaults();
	if (in == NULL || wk == NULL || cfg == NULL ||
	    (text = fs_read_file(argv[2], 1 << 20, &tlen)) == NULL ||
	    mailhdrs_split(&hs, text, tlen, MAILHDR_FIELD_MAX,
		MAILHDR_TOTAL_MAX, &off) < 0 ||
	    challenge_mail_parse(&hs, &m, &why) < 0) {
		fprintf(stderr, "verify-cost: cannot read %s\n", argv[2]);
		goto out;
	}
	dom = challenge_addr_domain(m.from);
	free(cfg->test_dkim_keys);
	cfg->test_dkim_keys = strdup(argv[1]);
	app.cfg = cfg;
	app.dkim = dkimv_lib_open(argv[1]);
	if (cfg->test_dkim_keys == NULL || app.dkim == NULL ||
	    !dkimv_warm()) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (verify_inproc(app.dkim, &hs, text + off, tlen - off,
			dom) < 0) {
			fprintf(stderr, "verify-cost: in process: no pass\n");
			goto out;
		}
		in[i] = now_us() - t0;
	}
	app.verifier = verifier_start(&app);
	if (app.verifier == NULL) {
		goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.qid = "bench";
	rq.hdr = hs.h;
	rq.n_hdr = hs.n;
	rq.leadspc = true;
	rq.body = (const unsigned char *)text + off;
	rq.body_len = tlen - off;
	rq.from_domain = dom;
	rq.required = challenge_required_headers;
	rq.m = &m;
	for (i = 0; i < n; i++) {
		t0 = now_us();
		if (verifier_run(app.verifier, &rq, &vd, reason,
			sizeof(reason)) < 0 ||
		    !vd.dkim.pass) {
			fprintf(stderr, "verify-cost: worker: no pass: %s\n",
			    reason);
			goto out;
		}
		wk[i] = now_us() - t0;
	}
	printf("verify-cost: n=%ld inproc_us=%.0f worker_us=%.0f "
	       "isolation_us=%.0f\n",
	    n, median(in, n), median(wk, n), median(wk, n) - median(in, n));
	rc = 0;
out:
	verifier_stop(app.verifier);
	dkimv_lib_close(app.dkim);
	conf_free(cfg);
	mailhdrs_free(&hs);
	free(text);
	free(in);
	free(wk);
	return rc;
}
