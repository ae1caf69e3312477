/*
 * dkimv: the only user of libopendkim (see dkimv.h).  Verification judges
 * a challenge mail by RFC 8823 §3.1: some signature passes, its d= equals
 * the From domain exactly and its h= lists every required header name.
 * Signing produces the reply's DKIM-Signature (rsa-sha256, relaxed/
 * relaxed, oversigned).  The library handle is configured in
 * dkimv_lib_open() and never changed afterwards, so threads share it.
 */
#include <sys/types.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "common/challenge.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "dkim/dkimv.h"

#define DKIMV_KEY_MAX   65536 /* bytes of a PEM private key file */
#define DKIMV_HDR_MAX   65536 /* bytes of one header fed to the library */
#define SIGHDR_NAME_LEN 16    /* strlen("DKIM-Signature: ") for folding */

struct dkimv_lib {
	DKIM_LIB *lib;
};

struct dkimv {
	DKIM *dkim;
	char id[64];
	bool failed; /* an earlier step made passing impossible */
	char why[DKIMV_REASON_MAX];
};

struct dkimv_lib *
dkimv_lib_open(const char *test_keys)
{
	struct dkimv_lib *l = NULL;
	dkim_query_t qtype = DKIM_QUERY_FILE;
	DKIM_STAT st;

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		log_err_errno("dkim: open");
		return NULL;
	}
	l->lib = dkim_init(NULL, NULL);
	if (l->lib == NULL) {
		log_err("dkim: dkim_init failed");
		goto fail;
	}
	if (test_keys != NULL) {
		st = dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_QUERYMETHOD,
		    &qtype, sizeof(qtype));
		if (st == DKIM_STAT_OK) {
			st = dkim_options(l->lib, DKIM_OP_SETOPT,
			    DKIM_OPTS_QUERYINFO, (void *)test_keys,
			    strlen(test_keys));
		}
		if (st != DKIM_STAT_OK) {
			log_err("dkim: %s: cannot use as key file: %s",
			    test_keys, dkim_getresultstr(st));
			goto fail;
		}
	}
	/* a bounded wait for each key (the library's default is 10 s) */
	if (test_keys == NULL) {
		unsigned int to = DKIMV_DNS_TIMEOUT;

		st = dkim_options(
		    l->lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &to, sizeof(to));
		if (st != DKIM_STAT_OK) {
			log_err("dkim: cannot set the DNS timeout: %s",
			    dkim_getresultstr(st));
			goto fail;
		}
	}
	/* libopendkim takes char ** but does not write through it */
	st = dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    (void *)challenge_reply_sign_headers, sizeof(char **));
	if (st == DKIM_STAT_OK) {
		st =
		    dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
			(void *)challenge_reply_sign_headers, sizeof(char **));
	}
	if (st != DKIM_STAT_OK) {
		log_err("dkim: cannot set the signed header list: %s",
		    dkim_getresultstr(st));
		goto fail;
	}
	return l;
fail:
	dkimv_lib_close(l);
	return NULL;
}

void
dkimv_lib_close(struct dkimv_lib *l)
{
	if (l == NULL) {
		return;
	}
	if (l->lib != NULL) {
		dkim_close(l->lib);
	}
	free(l);
}

static void set_why(struct dkimv *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Remember the first reason why this message cannot pass. */
static void
set_why(struct dkimv *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed) {
		return;
	}
	d->failed = true;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

struct dkimv *
dkimv_begin(struct dkimv_lib *l, const char *id)
{
	struct dkimv *d;
	DKIM_STAT st = DKIM_STAT_OK;

	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		log_err_errno("%s: dkim: begin", id);
		return NULL;
	}
	snprintf(d->id, sizeof(d->id), "%s", id != NULL ? id : "NOQUEUE");
	d->dkim = dkim_verify(l->lib, (const unsigned char *)d->id, NULL, &st);
	if (d->dkim == NULL) {
		log_err(
		    "%s: dkim: dkim_verify: %s", d->id, dkim_getresultstr(st));
		free(d);
		return NULL;
	}
	return d;
}

int
dkimv_header(struct dkimv *d, const char *name, const char *value)
{
	char *h = NULL;
	size_t nl = strlen(name), vl = strlen(value), i, n = 0, cap;
	DKIM_STAT st;
	int rc = -1;

	if (d->failed) {
		return -1;
	}
	/* worst case every byte of value is a bare LF that becomes CRLF */
	if (nl > DKIMV_HDR_MAX || vl > DKIMV_HDR_MAX) {
		set_why(d, "header %s too long to verify", name);
		return -1;
	}
	cap = nl + 1 + 2 * vl + 1;
	h = malloc(cap);
	if (h == NULL) {
		set_why(d, "%s: out of memory", name);
		return -1;
	}
	memcpy(h, name, nl);
	n = nl;
	h[n++] = ':';
	for (i = 0; i < vl; i++) {
		if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) {
			h[n++] = '\r';
		}
		h[n++] = value[i];
	}
	h[n] = '\0';
	st = dkim_header(d->dkim, (unsigned char *)h, n);
	if (st != DKIM_STAT_OK) {
		set_why(d, "header rejected by the DKIM library: %s",
		    dkim_getresultstr(st));
		goto out;
	}
	rc = 0;
out:
	free(h);
	return rc;
}

int
dkimv_eoh(struct dkimv *d)
{
	DKIM_STAT st;

	if (d->failed) {
		return -1;
	}
	st = dkim_eoh(d->dkim);
	if (st == DKIM_STAT_NOSIG) {
		set_why(d, "%s", "no DKIM signature");
		return -1;
	}
	if (st != DKIM_STAT_OK) {
		set_why(d, "DKIM end of headers: %s", dkim_getresultstr(st));
		return -1;
	}
	return 0;
}

int
dkimv_body(struct dkimv *d, const unsigned char *data, size_t len)
{
	DKIM_STAT st;

	if (d->failed) {
		return -1;
	}
	st = dkim_body(d->dkim, (unsigned char *)data, len);
	if (st != DKIM_STAT_OK) {
		set_why(d, "DKIM body: %s", dkim_getresultstr(st));
		return -1;
	}
	return 0;
}

bool
dkimv_htag_has(const char *h, const char *hdr)
{
	const char *p = h, *e;
	size_t n, hl = strlen(hdr);

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		}
		e = strchr(p, ':');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		while (n > 0 &&
		    (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
			p[n - 1] == '\n')) {
			n--;
		}
		if (n == hl && strncasecmp(p, hdr, n) == 0) {
			return true;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return false;
}

/* Copy s without white space into out (h= values may be folded). */
static void
copy_nows(char *out, size_t outlen, const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < outlen; s++) {
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
}

/*
 * Judge one signature; returns a rank (3 = pass, 2 = verified but d= or h=
 * wrong, 1 = did not verify) and writes the reason.
 */
static int
judge_sig(DKIM_SIGINFO *sig, const char *from_domain,
    const char *const *required, struct dkimv_result *r)
{
	const char *dom, *h;
	unsigned int bits = 0;
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	size_t i;

	dom = (const char *)dkim_sig_getdomain(sig);
	h = (const char *)dkim_sig_gettagvalue(
	    sig, false, (unsigned char *)"h");
	snprintf(r->domain, sizeof(r->domain), "%s", dom != NULL ? dom : "");
	copy_nows(r->htag, sizeof(r->htag), h);
	r->from_signed = dkim_sig_hdrsigned(sig, (unsigned char *)"from");
	r->reason[0] = '\0';
	if (!DKIM_SIG_CHECK(sig)) {
		if (dkim_sig_geterror(sig) == DKIM_SIGERROR_KEYFAIL) {
			/* DNS timeout or SERVFAIL: the sender may retry */
			snprintf(r->reason, sizeof(r->reason),
			    "DKIM key for d=%s temporarily unavailable",
			    r->domain);
			r->tempfail = from_domain != NULL &&
			    strcasecmp(r->domain, from_domain) == 0;
		} else if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
			snprintf(r->reason, sizeof(r->reason),
			    "DKIM body hash mismatch (d=%s)", r->domain);
		} else {
			/* libopendkim has no text for some errors (NULL) */
			const char *es =
			    dkim_sig_geterrorstr(dkim_sig_geterror(sig));
			snprintf(r->reason, sizeof(r->reason),
			    "DKIM signature did not verify (d=%s): %s",
			    r->domain, es != NULL ? es : "bad signature");
		}
		return 1;
	}
	/* RFC 8301: no rsa-sha1, RSA keys of at least 1024 bits */
	if (dkim_sig_getsignalg(sig, &alg) != DKIM_STAT_OK ||
	    (alg != DKIM_SIGN_RSASHA256 && alg != DKIM_SIGN_ED25519SHA256)) {
		snprintf(r->reason, sizeof(r->reason),
		    "DKIM algorithm not allowed (d=%s, RFC 8301)", r->domain);
		return 1;
	}
	if (alg == DKIM_SIGN_RSASHA256 &&
	    (dkim_sig_getkeysize(sig, &bits) != DKIM_STAT_OK ||
		bits < DKIMV_RSA_MIN_BITS)) {
		snprintf(r->reason, sizeof(r->reason),
		    "DKIM RSA key of %u bits (d=%s), RFC 8301 wants %d", bits,
		    r->domain, DKIMV_RSA_MIN_BITS);
		return 1;
	}
	if (from_domain == NULL || strcasecmp(r->domain, from_domain) != 0) {
		snprintf(r->reason, sizeof(r->reason),
		    "DKIM d=%s is not the From domain %s", r->domain,
		    from_domain != NULL ? from_domain : "(none)");
		return 2;
	}
	for (i = 0; required != NULL && required[i] != NULL; i++) {
		if (h == NULL || !dkimv_htag_has(h, required[i])) {
			snprintf(r->reason, sizeof(r->reason),
			    "DKIM h= (d=%s) lacks %s", r->domain, required[i]);
			return 2;
		}
	}
	r->pass = true;
	return 3;
}

int
dkimv_end(struct dkimv *d, const char *from_domain, const char *const *required,
    struct dkimv_result *res)
{
	DKIM_SIGINFO **sigs = NULL;
	struct dkimv_result cur;
	DKIM_STAT st;
	bool tempfail = false;
	int n = 0, i, rank, best = 0;

	memset(res, 0, sizeof(*res));
	if (d->failed) {
		snprintf(res->reason, sizeof(res->reason), "%s", d->why);
		return 0;
	}
	st = dkim_eom(d->dkim, NULL);
	if (st == DKIM_STAT_NOSIG) {
		snprintf(res->reason, sizeof(res->reason), "no DKIM signature");
		return 0;
	}
	/* a failing signature is judged below; only real errors stop here */
	if (st != DKIM_STAT_OK && st != DKIM_STAT_BADSIG &&
	    st != DKIM_STAT_CANTVRFY && st != DKIM_STAT_NOKEY &&
	    st != DKIM_STAT_KEYFAIL && st != DKIM_STAT_REVOKED &&
	    st != DKIM_STAT_SYNTAX) {
		snprintf(res->reason, sizeof(res->reason),
		    "DKIM verification error: %s",
		    dkim_geterror(d->dkim) != NULL ? dkim_geterror(d->dkim)
						   : dkim_getresultstr(st));
		return -1;
	}
	if (dkim_getsiglist(d->dkim, &sigs, &n) != DKIM_STAT_OK || n <= 0) {
		snprintf(res->reason, sizeof(res->reason),
		    "no usable DKIM signature (%s)", dkim_getresultstr(st));
		return 0;
	}
	for (i = 0; i < n; i++) {
		if ((dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE) != 0) {
			continue;
		}
		memset(&cur, 0, sizeof(cur));
		rank = judge_sig(sigs[i], from_domain, required, &cur);
		tempfail = tempfail || cur.tempfail;
		if (rank > best) {
			best = rank;
			*res = cur;
		}
		if (rank == 3) {
			break;
		}
	}
	if (best == 0) {
		snprintf(res->reason, sizeof(res->reason),
		    "no usable DKIM signature");
	}
	res->tempfail = !res->pass && tempfail;
	return 0;
}

/*
 * A message signed once with a throwaway 1024-bit key (dkimpy), and that
 * key's record: verifying it runs the first-use setup of the library and
 * of its crypto back end (digest and key decoder lookups, lazy binding).
 */
static const char *const warm_hdrs[] = {
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; "
	"d=warm.invalid; i=@warm.invalid; q=dns/txt; s=w; t=1796192400; "
	"h=from : to : subject; "
	"bh=7Tzd63PZugAtwYBSOL4iuMSLH/3H4EXyvX++VYvU8cA=; "
	"b=tOf/ERJhrS0xlbrum/JVvW8TjwPfeI5qxfes1Z10Q/wOgTjGynKCtLwcY1cbleQ3V0E1p"
	"Ea/I96C6CcJDR8WxfZAzxDBQ1Kx+5PSPjjt+4WmSsGILZHkbw9oxDQ/lhJ3COYF+uhN/j3t"
	"iI6y1P+pVo1d4RtRlVZ1zxem/WgYGHM=",
	"From: warm@warm.invalid",
	"To: warm@warm.invalid",
	"Subject: warm-up",
	NULL,
};
static const char warm_key[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDJyAiNsYSZk2zfM"
    "PJlIfQ8pUXfpE2lFfTtrpaVYc8D2I2cuAdSyA/+ElRO05y/6ZrqXOOAFoKOPni1Y+ufcKSu"
    "jPpqCBlIK38ZAW6JwqMK5LuePWUUDKI8UCbLmuGsuFTXR3Hn8J/O9V906fmoMXeAUPR0x2s"
    "1ytS8j17AyO22owIDAQAB";

static DKIM_CBSTAT
warm_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	(void)dkim;
	(void)sig;
	if (sizeof(warm_key) > buflen) {
		return DKIM_CBSTAT_ERROR;
	}
	memcpy(buf, warm_key, sizeof(warm_key));
	return DKIM_CBSTAT_CONTINUE;
}

bool
dkimv_warm(void)
{
	DKIM_LIB *lib;
	DKIM *d = NULL;
	DKIM_STAT st = DKIM_STAT_INTERNAL;
	size_t i;

	lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		return false;
	}
	if (dkim_set_key_lookup(lib, warm_lookup) == DKIM_STAT_OK) {
		d = dkim_verify(
		    lib, (const unsigned char *)"warm-up", NULL, &st);
	}
	if (d != NULL) {
		for (i = 0; warm_hdrs[i] != NULL; i++) {
			(void)dkim_header(d, (unsigned char *)warm_hdrs[i],
			    strlen(warm_hdrs[i]));
		}
		(void)dkim_eoh(d);
		(void)dkim_body(d, (unsigned char *)"warm-up\r\n", 9);
		st = dkim_eom(d, NULL);
		dkim_free(d);
	}
	dkim_close(lib);
	return st == DKIM_STAT_OK;
}

void
dkimv_free(struct dkimv *d)
{
	if (d == NULL) {
		return;
	}
	if (d->dkim != NULL) {
		dkim_free(d->dkim);
	}
	free(d);
}

char *
dkimv_sign(struct dkimv_lib *l, const char *domain, const char *selector,
    const char *keyfile, const char *msg, size_t len)
{
	DKIM *dkim = NULL;
	DKIM_STAT st = DKIM_STAT_OK;
	char *key = NULL, *res = NULL;
	unsigned char *hdr = NULL;
	size_t keylen = 0, hlen = 0, i, n = 0;

	key = fs_read_file(keyfile, DKIMV_KEY_MAX, &keylen);
	if (key == NULL) {
		log_err_errno("dkim: sign: %s: cannot read key", keyfile);
		goto out;
	}
	dkim = dkim_sign(l->lib, (const unsigned char *)"reply", NULL,
	    (dkim_sigkey_t)key, (const unsigned char *)selector,
	    (const unsigned char *)domain, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL) {
		log_err("dkim: sign: d=%s s=%s: %s", domain, selector,
		    dkim_getresultstr(st));
		goto out;
	}
	st = dkim_chunk(dkim, (unsigned char *)msg, len);
	if (st == DKIM_STAT_OK) {
		st = dkim_chunk(dkim, NULL, 0);
	}
	if (st == DKIM_STAT_OK) {
		st = dkim_eom(dkim, NULL);
	}
	if (st == DKIM_STAT_OK) {
		st = dkim_getsighdr_d(dkim, SIGHDR_NAME_LEN, &hdr, &hlen);
	}
	if (st != DKIM_STAT_OK || hdr == NULL) {
		log_err("dkim: sign: d=%s s=%s: %s", domain, selector,
		    dkim_geterror(dkim) != NULL ? dkim_geterror(dkim)
						: dkim_getresultstr(st));
		goto out;
	}
	/* the library folds with bare LF; the reply is CRLF throughout */
	res = malloc(2 * hlen + 1);
	if (res == NULL) {
		log_err_errno("dkim: sign");
		goto out;
	}
	for (i = 0; i < hlen && hdr[i] != '\0'; i++) {
		if (hdr[i] == '\r') {
			continue;
		}
		if (hdr[i] == '\n') {
			res[n++] = '\r';
		}
		res[n++] = (char)hdr[i];
	}
	res[n] = '\0';
out:
	if (dkim != NULL) {
		dkim_free(dkim);
	}
	if (key != NULL) {
		explicit_bzero(key, keylen);
		free(key);
	}
	return res;
}

void
dkimv_version(char *out, size_t outlen)
{
	uint32_t n = dkim_libversion();

	snprintf(out, outlen, "%u.%u.%u", (unsigned)(n >> 24),
	    (unsigned)((n >> 16) & 0xff), (unsigned)((n >> 8) & 0xff));
}
