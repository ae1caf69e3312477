/*
 * cert: X.509 helpers over DER octets (GnuTLS).  Each call imports the
 * certificate afresh; these are cheap compared with the network and keep
 * struct cert a plain byte array that callers can store and copy.
 */
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include "acme/pki/cert.h"
#include "acme/pki/csr.h"
#include "common/b64url.h"
#include "common/log.h"

static gnutls_x509_crt_t
cert_import(const struct cert *c)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { c->der, (unsigned)c->len };
	int rc;

	if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER)) < 0) {
		log_err(
		    "cert: cannot parse certificate: %s", gnutls_strerror(rc));
		if (crt != NULL) {
			gnutls_x509_crt_deinit(crt);
		}
		return NULL;
	}
	return crt;
}

int
cert_chain_add(struct cert_chain *c, const void *der, size_t len)
{
	struct cert *v;

	if (c->n >= CERT_CHAIN_MAX) {
		log_err(
		    "cert: chain longer than %d certificates", CERT_CHAIN_MAX);
		return -1;
	}
	if ((v = realloc(c->certs, (c->n + 1) * sizeof(*v))) == NULL) {
		log_err_errno("cert: realloc");
		return -1;
	}
	c->certs = v;
	if ((v[c->n].der = malloc(len > 0 ? len : 1)) == NULL) {
		log_err_errno("cert: malloc");
		return -1;
	}
	memcpy(v[c->n].der, der, len);
	v[c->n].len = len;
	c->n++;
	return 0;
}

void
cert_chain_free(struct cert_chain *c)
{
	size_t i;

	if (c == NULL) {
		return;
	}
	for (i = 0; i < c->n; i++) {
		free(c->certs[i].der);
	}
	free(c->certs);
	c->certs = NULL;
	c->n = 0;
}

int
cert_chain_parse_pem(const char *pem, size_t len, struct cert_chain *out)
{
	gnutls_x509_crt_t *list = NULL;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	gnutls_datum_t der;
	unsigned n = 0, i;
	int rc, ret = -1;

	out->certs = NULL;
	out->n = 0;
	rc =
	    gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || n == 0) {
		log_err("cert: bad PEM certificate chain: %s",
		    rc < 0 ? gnutls_strerror(rc) : "no certificate");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = gnutls_x509_crt_export2(
			 list[i], GNUTLS_X509_FMT_DER, &der)) < 0) {
			log_err("cert: export: %s", gnutls_strerror(rc));
			goto out;
		}
		rc = cert_chain_add(out, der.data, der.size);
		gnutls_free(der.data);
		if (rc < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < n; i++) {
		gnutls_x509_crt_deinit(list[i]);
	}
	gnutls_free(list);
	if (ret < 0) {
		cert_chain_free(out);
	}
	return ret;
}

int
cert_to_pem(const struct cert *c, struct buf *out)
{
	gnutls_datum_t d = { c->der, (unsigned)c->len }, pem = { NULL, 0 };
	int rc;

	if ((rc = gnutls_pem_base64_encode2("CERTIFICATE", &d, &pem)) < 0) {
		log_err("cert: PEM encode: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = buf_append(out, pem.data, pem.size);
	gnutls_free(pem.data);
	return rc;
}

int
cert_chain_to_pem(const struct cert_chain *c, size_t from, struct buf *out)
{
	size_t i;

	for (i = from; i < c->n; i++) {
		if (cert_to_pem(&c->certs[i], out) < 0) {
			return -1;
		}
	}
	return 0;
}

/* One of the validity times, read by get (a GnuTLS getter).  0 / -1. */
static int
cert_time(const struct cert *c, time_t (*get)(gnutls_x509_crt_t), time_t *out)
{
	gnutls_x509_crt_t crt = cert_import(c);

	if (crt == NULL) {
		return -1;
	}
	*out = get(crt);
	gnutls_x509_crt_deinit(crt);
	return *out == (time_t)-1 ? -1 : 0;
}

int
cert_not_after(const struct cert *c, time_t *out)
{
	return cert_time(c, gnutls_x509_crt_get_expiration_time, out);
}

int
cert_key_usage(const struct cert *c, unsigned *bits)
{
	gnutls_x509_crt_t crt = cert_import(c);
	unsigned ku = 0, critical = 0;
	int rc;

	*bits = 0;
	if (crt == NULL) {
		return -1;
	}
	rc = gnutls_x509_crt_get_key_usage(crt, &ku, &critical);
	gnutls_x509_crt_deinit(crt);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		return 0;
	}
	if (rc < 0) {
		log_err("cert: key usage: %s", gnutls_strerror(rc));
		return -1;
	}
	if (ku & GNUTLS_KEY_DIGITAL_SIGNATURE) {
		*bits |= CSR_KU_DIGITAL_SIGNATURE;
	}
	if (ku & GNUTLS_KEY_NON_REPUDIATION) {
		*bits |= CSR_KU_CONTENT_COMMITMENT;
	}
	if (ku & GNUTLS_KEY_KEY_ENCIPHERMENT) {
		*bits |= CSR_KU_KEY_ENCIPHERMENT;
	}
	if (ku & GNUTLS_KEY_KEY_AGREEMENT) {
		*bits |= CSR_KU_KEY_AGREEMENT;
	}
	return 0;
}

int
cert_serial(const struct cert *c, unsigned char **out, size_t *len)
{
	gnutls_x509_crt_t crt = cert_import(c);
	unsigned char tmp[64];
	size_t n = sizeof(tmp);
	int rc;

	*out = NULL;
	*len = 0;
	if (crt == NULL) {
		return -1;
	}
	rc = gnutls_x509_crt_get_serial(crt, tmp, &n);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0 || n == 0) {
		log_err("cert: serial: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((*out = malloc(n)) == NULL) {
		return -1;
	}
	memcpy(*out, tmp, n);
	*len = n;
	return 0;
}

int
cert_aki(const struct cert *c, unsigned char **out, size_t *len)
{
	gnutls_x509_crt_t crt = cert_import(c);
	unsigned char tmp[128];
	size_t n = sizeof(tmp);
	unsigned crit = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if (crt == NULL) {
		return -1;
	}
	rc = gnutls_x509_crt_get_authority_key_id(crt, tmp, &n, &crit);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0 || n == 0) {
		log_debug("cert: no authority key identifier");
		return -1;
	}
	if ((*out = malloc(n)) == NULL) {
		return -1;
	}
	memcpy(*out, tmp, n);
	*len = n;
	return 0;
}

char *
cert_id(const struct cert *c)
{
	unsigned char *aki = NULL, *ser = NULL;
	size_t al = 0, sl = 0;
	char *a = NULL, *s = NULL, *res = NULL;
	struct buf b;

	buf_init(&b, 1024);
	if (cert_aki(c, &aki, &al) < 0 || cert_serial(c, &ser, &sl) < 0) {
		log_err("cert: no certID (needs AKI and serial)");
		goto out;
	}
	a = b64url_encode(aki, al);
	s = b64url_encode(ser, sl);
	if (a == NULL || s == NULL || buf_printf(&b, "%s.%s", a, s) < 0) {
		goto out;
	}
	res = buf_steal(&b);
out:
	buf_free(&b);
	free(aki);
	free(ser);
	free(a);
	free(s);
	return res;
}

static char *
cert_dn(const struct cert *c, bool issuer)
{
	gnutls_x509_crt_t crt = cert_import(c);
	gnutls_datum_t d = { NULL, 0 };
	char *r = NULL;
	int rc;

	if (crt == NULL) {
		return NULL;
	}
	rc = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
		    : gnutls_x509_crt_get_dn3(crt, &d, 0);
	if (rc >= 0 && (r = malloc(d.size + 1)) != NULL) {
		memcpy(r, d.data, d.size);
		r[d.size] = '\0';
	}
	gnutls_free(d.data);
	gnutls_x509_crt_deinit(crt);
	return r;
}

char *
cert_issuer_dn(const struct cert *c)
{
	return cert_dn(c, true);
}

char *
cert_subject_dn(const struct cert *c)
{
	return cert_dn(c, false);
}

char *
cert_issuer_cn(const struct cert *c)
{
	gnutls_x509_crt_t crt = cert_import(c);
	char cn[1024];
	size_t n = sizeof(cn);
	char *r = NULL;

	if (crt == NULL) {
		return NULL;
	}
	/* the first CN as a string (raw_flag 0): as certbot compares it */
	if (gnutls_x509_crt_get_issuer_dn_by_oid(
		crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &n) >= 0 &&
	    n < sizeof(cn) && memchr(cn, '\0', n) == NULL) {
		cn[n] = '\0';
		r = strdup(cn);
	}
	gnutls_x509_crt_deinit(crt);
	return r;
}

bool
cert_matches_key(const struct cert *c, const struct key *k)
{
	gnutls_x509_crt_t crt = cert_import(c);
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { NULL, 0 };
	unsigned char *b = NULL;
	size_t bl = 0;
	bool eq = false;

	if (crt == NULL) {
		return false;
	}
	if (gnutls_pubkey_init(&pub) >= 0 &&
	    gnutls_pubkey_import_x509(pub, crt, 0) >= 0 &&
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
	    key_public_der(k, &b, &bl) == 0) {
		eq = a.size == bl && memcmp(a.data, b, bl) == 0;
	}
	gnutls_free(a.data);
	free(b);
	if (pub != NULL) {
		gnutls_pubkey_deinit(pub);
	}
	gnutls_x509_crt_deinit(crt);
	return eq;
}
