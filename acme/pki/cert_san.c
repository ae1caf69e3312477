/*
 * cert_san: the e-mail subjectAltNames of a certificate (rfc822Name and
 * RFC 9598 SmtpUTF8Mailbox otherName), declared in cert.h.  Its own file
 * so that the milter's S/MIME check reads SANs with the requester's rule
 * while linking nothing else of acme/pki (no key code): GnuTLS X.509 and
 * common/log only.
 */
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include "acme/pki/cert.h"
#include "common/log.h"

#define OID_SMTPUTF8MAILBOX "1.3.6.1.5.5.7.8.9"

void
cert_strings_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL) {
		return;
	}
	for (i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
}

/* Decode a DER UTF8String (tag 12, short or long length). */
static char *
cert_utf8string(const unsigned char *p, size_t n)
{
	size_t len, hl = 2;
	char *r;

	if (n < 2 || p[0] != 0x0c) {
		return NULL;
	}
	len = p[1];
	if (len & 0x80) {
		size_t k = len & 0x7f, i;

		if (k == 0 || k > 2 || n < 2 + k) {
			return NULL;
		}
		for (len = 0, i = 0; i < k; i++) {
			len = len << 8 | p[2 + i];
		}
		hl = 2 + k;
	}
	if (hl + len != n || memchr(p + hl, 0, len) != NULL) {
		return NULL;
	}
	if ((r = malloc(len + 1)) == NULL) {
		return NULL;
	}
	memcpy(r, p + hl, len);
	r[len] = '\0';
	return r;
}

int
cert_emails(const struct cert *c, char ***out, size_t *n)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t der = { c->der, (unsigned)c->len };
	gnutls_subject_alt_names_t san = NULL;
	gnutls_datum_t ext = { NULL, 0 }, name, oid;
	unsigned type, i, crit = 0;
	char **v = NULL, **nv, *s;
	size_t cnt = 0;
	int rc, ret = -1;

	*out = NULL;
	*n = 0;
	if ((rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER)) < 0) {
		log_err(
		    "cert: cannot parse certificate: %s", gnutls_strerror(rc));
		goto out;
	}
	rc = gnutls_x509_crt_get_extension_by_oid2(
	    crt, "2.5.29.17", 0, &ext, &crit);
	if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		ret = 0;
		goto out;
	}
	if (rc < 0 || (rc = gnutls_subject_alt_names_init(&san)) < 0 ||
	    (rc = gnutls_x509_ext_import_subject_alt_names(&ext, san, 0)) < 0) {
		log_err("cert: subjectAltName: %s", gnutls_strerror(rc));
		goto out;
	}
	for (i = 0;; i++) {
		rc = gnutls_subject_alt_names_get(san, i, &type, &name, &oid);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
			break;
		}
		if (rc < 0) {
			log_err(
			    "cert: subjectAltName: %s", gnutls_strerror(rc));
			goto out;
		}
		s = NULL;
		if (type == GNUTLS_SAN_RFC822NAME) {
			if ((s = malloc(name.size + 1)) != NULL) {
				memcpy(s, name.data, name.size);
				s[name.size] = '\0';
			}
		} else if (type == GNUTLS_SAN_OTHERNAME && oid.data != NULL &&
		    strcmp((const char *)oid.data, OID_SMTPUTF8MAILBOX) == 0) {
			s = cert_utf8string(name.data, name.size);
		} else {
			continue;
		}
		if (s == NULL) {
			log_err("cert: bad e-mail SAN");
			goto out;
		}
		if ((nv = realloc(v, (cnt + 1) * sizeof(*v))) == NULL) {
			free(s);
			goto out;
		}
		v = nv;
		v[cnt++] = s;
	}
	ret = 0;
out:
	if (ret == 0) {
		*out = v;
		*n = cnt;
	} else {
		cert_strings_free(v, cnt);
	}
	if (san != NULL) {
		gnutls_subject_alt_names_deinit(san);
	}
	gnutls_free(ext.data);
	if (crt != NULL) {
		gnutls_x509_crt_deinit(crt);
	}
	return ret;
}
