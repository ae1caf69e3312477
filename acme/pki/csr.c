/*
 * csr: PKCS#10 requests for S/MIME (GnuTLS).  The request carries only
 * what RFC 8823 §3 and RFC 8550 need: subject CN, e-mail SANs and,
 * when asked for, a critical keyUsage.  Everything else (extended key
 * usage, validity) is the CA's business.  Called by the requester before
 * order_finalize().
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme/pki/csr.h"
#include "common/log.h"

#define OID_SMTPUTF8MAILBOX "1.3.6.1.5.5.7.8.9"
#define CSR_ADDR_MAX        320

static const struct {
	const char *name;
	unsigned bit;
} csr_usages[] = {
	{ "digitalSignature", CSR_KU_DIGITAL_SIGNATURE },
	{ "contentCommitment", CSR_KU_CONTENT_COMMITMENT },
	{ "nonRepudiation", CSR_KU_CONTENT_COMMITMENT },
	{ "keyEncipherment", CSR_KU_KEY_ENCIPHERMENT },
	{ "keyAgreement", CSR_KU_KEY_AGREEMENT },
};

/* The bit of the n-character name at w; 0 if unknown. */
static unsigned
usage_lookup(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(csr_usages) / sizeof(csr_usages[0]); i++) {
		if (strlen(csr_usages[i].name) == n &&
		    strncasecmp(csr_usages[i].name, w, n) == 0) {
			return csr_usages[i].bit;
		}
	}
	return 0;
}

unsigned
csr_usage_bit(const char *name)
{
	return usage_lookup(name, strlen(name));
}

char *
csr_usage_names(unsigned usage, const char *sep, char *out, size_t outlen)
{
	unsigned done = 0;
	size_t i, off = 0;
	int n;

	if (outlen == 0) {
		return out;
	}
	out[0] = '\0';
	for (i = 0; i < sizeof(csr_usages) / sizeof(csr_usages[0]); i++) {
		/* the first name of a bit wins; later ones are aliases */
		if (!(usage & csr_usages[i].bit) ||
		    (done & csr_usages[i].bit)) {
			continue;
		}
		done |= csr_usages[i].bit;
		n = snprintf(out + off, outlen - off, "%s%s", off ? sep : "",
		    csr_usages[i].name);
		if (n < 0 || (size_t)n >= outlen - off) {
			out[off] = '\0';
			break;
		}
		off += (size_t)n;
	}
	return out;
}

int
csr_usage_parse(const char *list, unsigned *out)
{
	const char *p = list, *w;
	size_t n;
	unsigned bit;

	*out = 0;
	if (list == NULL) {
		return 0;
	}
	while (*p != '\0') {
		while (*p == ',' || isspace((unsigned char)*p)) {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		w = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p)) {
			p++;
		}
		n = (size_t)(p - w);
		bit = usage_lookup(w, n);
		if (bit == 0) {
			log_err("csr: unknown key usage \"%.*s\"", (int)n, w);
			return -1;
		}
		*out |= bit;
	}
	return 0;
}

/* Check an addr-spec: one '@', non-empty parts, ASCII domain, no
 * controls.  Sets *utf8 when the local part is not ASCII. */
static int
csr_check_addr(const char *a, bool *utf8)
{
	const char *at = strrchr(a, '@');
	const unsigned char *p;
	size_t len = strlen(a);

	*utf8 = false;
	if (len == 0 || len > CSR_ADDR_MAX || at == NULL || at == a ||
	    at[1] == '\0' || strchr(a, '@') != at) {
		return -1;
	}
	for (p = (const unsigned char *)a; *p != '\0'; p++) {
		if (*p < 0x21 || *p == 0x7f) {
			return -1;
		}
		if (*p >= 0x80) {
			if (p > (const unsigned char *)at) {
				return -1; /* domains must be A-labels */
			}
			*utf8 = true;
		}
	}
	return 0;
}

/* DER UTF8String TLV of s into out (at least strlen + 4). */
static size_t
csr_utf8string(const char *s, unsigned char *out)
{
	size_t n = strlen(s), h;

	out[0] = 0x0c;
	if (n < 128) {
		out[1] = (unsigned char)n;
		h = 2;
	} else if (n < 256) {
		out[1] = 0x81;
		out[2] = (unsigned char)n;
		h = 3;
	} else {
		out[1] = 0x82;
		out[2] = (unsigned char)(n >> 8);
		out[3] = (unsigned char)n;
		h = 4;
	}
	memcpy(out + h, s, n);
	return h + n;
}

int
csr_build(const struct key *k, const char *const *addrs, size_t n,
    unsigned usage, unsigned char **der, size_t *len)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t d = { NULL, 0 };
	unsigned char tlv[CSR_ADDR_MAX + 8];
	unsigned ku = 0;
	size_t i, tl;
	bool utf8;
	int rc = 0, ret = -1;

	*der = NULL;
	*len = 0;
	if (n == 0 || !key_has_private(k)) {
		log_err("csr: need at least one address and a private key");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (csr_check_addr(addrs[i], &utf8) < 0) {
			log_err("csr: not a usable address: %s", addrs[i]);
			return -1;
		}
	}
	if ((rc = gnutls_x509_crq_init(&crq)) < 0 ||
	    (rc = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (rc = gnutls_x509_crq_set_dn_by_oid(crq,
		 GNUTLS_OID_X520_COMMON_NAME, 0, addrs[0],
		 (unsigned)strlen(addrs[0]))) < 0) {
		goto fail;
	}
	for (i = 0; i < n; i++) {
		csr_check_addr(addrs[i], &utf8);
		if (utf8) {
			/* RFC 8398: SmtpUTF8Mailbox otherName. */
			tl = csr_utf8string(addrs[i], tlv);
			rc = gnutls_x509_crq_set_subject_alt_othername(crq,
			    OID_SMTPUTF8MAILBOX, tlv, (unsigned)tl,
			    GNUTLS_FSAN_APPEND);
		} else {
			rc = gnutls_x509_crq_set_subject_alt_name(crq,
			    GNUTLS_SAN_RFC822NAME, addrs[i],
			    (unsigned)strlen(addrs[i]), GNUTLS_FSAN_APPEND);
		}
		if (rc < 0) {
			goto fail;
		}
	}
	if (usage & CSR_KU_DIGITAL_SIGNATURE) {
		ku |= GNUTLS_KEY_DIGITAL_SIGNATURE;
	}
	if (usage & CSR_KU_CONTENT_COMMITMENT) {
		ku |= GNUTLS_KEY_NON_REPUDIATION;
	}
	if (usage & CSR_KU_KEY_ENCIPHERMENT) {
		ku |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	}
	if (usage & CSR_KU_KEY_AGREEMENT) {
		ku |= GNUTLS_KEY_KEY_AGREEMENT;
	}
	/* GnuTLS marks keyUsage critical. */
	if (ku != 0 && (rc = gnutls_x509_crq_set_key_usage(crq, ku)) < 0) {
		goto fail;
	}
	if ((rc = gnutls_x509_crq_set_pubkey(
		 crq, (gnutls_pubkey_t)key_gnutls_pubkey(k))) < 0 ||
	    (rc = gnutls_x509_crq_privkey_sign(crq,
		 (gnutls_privkey_t)key_gnutls_privkey(k), GNUTLS_DIG_SHA256,
		 0)) < 0 ||
	    (rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &d)) < 0) {
		goto fail;
	}
	if ((*der = malloc(d.size)) == NULL) {
		log_err_errno("csr: malloc");
		goto out;
	}
	memcpy(*der, d.data, d.size);
	*len = d.size;
	ret = 0;
	goto out;
fail:
	log_err("csr: %s: %s", addrs[0], gnutls_strerror(rc));
out:
	gnutls_free(d.data);
	if (crq != NULL) {
		gnutls_x509_crq_deinit(crq);
	}
	return ret;
}
