/*
 * smime: verify an S/MIME-signed challenge (see smime.h).  The only file of
 * the milter that uses GnuTLS's PKCS#7 and X.509 API (common/ uses GnuTLS
 * for hashing only).  The MIME handling is the minimum RFC 8551 needs:
 * one multipart/signed level (first part signed, second part the detached
 * application/pkcs7-signature in base64) or an application/pkcs7-mime
 * signed-data body; the signed entity must be message/rfc822 (RFC 8551
 * §3.1 header protection).  Everything comes from the sender: every length
 * is checked, reasons are static text plus addresses (never a token).
 * The signer is picked here, not by GnuTLS: one certificate, named by the
 * SignerInfo, among at most SMIME_CERTS_MAX; its chain is built here with
 * a depth bound and no repeats, and that same certificate's signature and
 * subjectAltName are checked.  The e-mail SANs are read by cert_emails
 * (acme/pki/cert_san.c), the requester's reader: one rule for both
 * programs.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/pkcs7.h>
#include <gnutls/x509.h>

#include "acme/pki/cert.h"
#include "common/challenge.h"
#include "common/log.h"
#include "milter/smime.h"

#define SMIME_HDR_MAX   64   /* header fields of a signed part we look at */
#define SMIME_VALUE_MAX 2048 /* longest header value we look at */
#define SMIME_CERTS_MAX 16   /* certificates in one PKCS#7, at most */
#define SMIME_CHAIN_MAX 8    /* signer and intermediates, at most */

struct smime_trust {
	gnutls_x509_trust_list_t tl;
};

struct smime_trust *
smime_trust_open(const char *path)
{
	struct smime_trust *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL) {
		log_err_errno("SMIMETrustFile: %s", path);
		return NULL;
	}
	rc = gnutls_x509_trust_list_init(&t->tl, 0);
	if (rc < 0) {
		log_err("SMIMETrustFile: %s: %s", path, gnutls_strerror(rc));
		free(t);
		return NULL;
	}
	rc = gnutls_x509_trust_list_add_trust_file(
	    t->tl, path, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	if (rc <= 0) {
		log_err("SMIMETrustFile: %s: %s", path,
		    rc == 0 ? "no certificate in the file"
			    : gnutls_strerror(rc));
		smime_trust_close(t);
		return NULL;
	}
	return t;
}

void
smime_trust_close(struct smime_trust *t)
{
	if (t == NULL) {
		return;
	}
	gnutls_x509_trust_list_deinit(t->tl, 1);
	free(t);
}

/* A byte range of the message. */
struct span {
	const char *p;
	size_t n;
};

/* Case-insensitive prefix test of a span. */
static bool
span_prefix(struct span s, const char *pre)
{
	size_t n = strlen(pre);

	return s.n >= n && strncasecmp(s.p, pre, n) == 0;
}

/*
 * The parameter name of a Content-Type value (quoted or token) into out.
 * 0 / -1 (absent or too long).
 */
static int
ct_param(const char *ct, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), n;
	const char *p = ct;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		}
		if (strncasecmp(p, name, nl) != 0) {
			continue;
		}
		p += nl;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (*p != '=') {
			continue;
		}
		p++;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (*p == '"') {
			p++;
			n = strcspn(p, "\"");
			if (p[n] != '"') {
				return -1;
			}
		} else {
			/* lenient: an unquoted "a/b" is common */
			n = strcspn(p, " \t\r\n;\"");
		}
		if (n == 0 || n >= outlen) {
			return -1;
		}
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* The media type of a Content-Type value equals type (no parameters). */
static bool
ct_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	while (*ct == ' ' || *ct == '\t' || *ct == '\r' || *ct == '\n') {
		ct++;
	}
	return strncasecmp(ct, type, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t' ||
		ct[n] == '\r' || ct[n] == '\n');
}

bool
smime_is_signed(const char *ct)
{
	char v[64];

	if (ct == NULL) {
		return false;
	}
	if (ct_is(ct, "multipart/signed")) {
		return ct_param(ct, "protocol", v, sizeof(v)) == 0 &&
		    (strcasecmp(v, "application/pkcs7-signature") == 0 ||
			strcasecmp(v, "application/x-pkcs7-signature") == 0);
	}
	if (ct_is(ct, "application/pkcs7-mime") ||
	    ct_is(ct, "application/x-pkcs7-mime")) {
		return ct_param(ct, "smime-type", v, sizeof(v)) == 0 &&
		    strcasecmp(v, "signed-data") == 0;
	}
	return false;
}

/* Find needle in hay; NULL if absent. */
static const char *
span_find(struct span hay, const char *needle, size_t nl)
{
	const char *p = hay.p, *end = hay.p + hay.n;

	while (nl > 0 && (size_t)(end - p) >= nl) {
		p = memchr(p, needle[0], (size_t)(end - p) - nl + 1);
		if (p == NULL) {
			return NULL;
		}
		if (memcmp(p, needle, nl) == 0) {
			return p;
		}
		p++;
	}
	return NULL;
}

/*
 * The value of header name in the header block h (up to the empty line),
 * unfolded into out.  0 found / -1 absent, duplicated or too long.
 */
static int
part_header(struct span h, const char *name, char *out, size_t outlen)
{
	const char *p = h.p, *end = h.p + h.n, *eol;
	size_t nl = strlen(name), k = 0, found = 0;
	bool in = false;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL) {
			eol = end;
		}
		if (p == eol || (eol - p == 1 && *p == '\r')) {
			break;
		}
		if (*p == ' ' || *p == '\t') {
			/* continuation of the previous field */
		} else {
			in = (size_t)(eol - p) > nl && p[nl] == ':' &&
			    strncasecmp(p, name, nl) == 0;
			if (in) {
				found++;
				p += nl + 1;
			}
		}
		if (in) {
			for (; p < eol; p++) {
				if (*p == '\r') {
					continue;
				}
				if (k + 1 >= outlen) {
					return -1;
				}
				out[k++] = *p == '\t' ? ' ' : *p;
			}
		}
		p = eol < end ? eol + 1 : end;
	}
	if (found != 1) {
		return -1;
	}
	out[k] = '\0';
	return 0;
}

/* Split a MIME entity into header block and body (after the empty line).
 * -1 if there is no empty line. */
static int
split_entity(struct span e, struct span *hdr, struct span *body)
{
	const char *p;

	if (span_prefix(e, "\r\n")) {
		hdr->p = e.p;
		hdr->n = 0;
		body->p = e.p + 2;
		body->n = e.n - 2;
		return 0;
	}
	p = span_find(e, "\r\n\r\n", 4);
	if (p == NULL) {
		return -1;
	}
	hdr->p = e.p;
	hdr->n = (size_t)(p - e.p) + 2;
	body->p = p + 4;
	body->n = e.n - hdr->n - 2;
	return 0;
}

/* Decode base64 (white space ignored) into a new datum (free with
 * gnutls_free).  GnuTLS does the decoding; we only drop the line breaks
 * that MIME puts into a base64 body.  0 / -1. */
static int
b64_decode(struct span s, gnutls_datum_t *out)
{
	gnutls_datum_t in;
	unsigned char *flat;
	size_t i, n = 0;
	int rc;

	out->data = NULL;
	out->size = 0;
	if (s.n > 0x7fffffffU) {
		return -1;
	}
	flat = malloc(s.n + 1);
	if (flat == NULL) {
		return -1;
	}
	for (i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			flat[n++] = c;
		}
	}
	in.data = flat;
	in.size = (unsigned int)n;
	rc = gnutls_base64_decode2(&in, out);
	free(flat);
	return rc < 0 ? -1 : 0;
}

/* Set the reason: a static text, optionally followed by ": detail". */
static void
why(struct smime_result *res, const char *text, const char *detail)
{
	snprintf(res->reason, sizeof(res->reason), "%s%s%.200s", text,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/*
 * rest starts just after a delimiter "CRLF--boundary": the part is what
 * follows the line end, up to (not including) the next delimiter, and
 * rest moves past that delimiter.  0 / -1 if malformed.
 */
static int
next_part(struct span *rest, const char *delim, size_t dl, struct span *part)
{
	const char *q;

	if (!span_prefix(*rest, "\r\n")) {
		return -1;
	}
	rest->p += 2;
	rest->n -= 2;
	q = span_find(*rest, delim, dl);
	if (q == NULL) {
		return -1;
	}
	part->p = rest->p;
	part->n = (size_t)(q - rest->p);
	rest->n -= part->n + dl;
	rest->p = q + dl;
	return 0;
}

/*
 * multipart/signed: the first part (signed, exactly as received) and the
 * decoded signature of the second.  0 / -1 with res->reason.
 */
static int
split_signed(const char *ct, struct span body, struct span *content,
    gnutls_datum_t *sig, struct smime_result *res)
{
	char boundary[80], delim[84], v[SMIME_VALUE_MAX];
	struct span rest, part, ph, pb;
	const char *p;
	size_t dl;

	if (ct_param(ct, "boundary", boundary, sizeof(boundary)) < 0) {
		why(res, "S/MIME: multipart/signed without a usable boundary",
		    NULL);
		return -1;
	}
	/* delim is "CRLF--boundary"; the first one may start the body */
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	if (body.n >= dl - 2 && memcmp(body.p, delim + 2, dl - 2) == 0) {
		p = body.p + dl - 2;
	} else {
		p = span_find(body, delim, dl);
		if (p == NULL) {
			goto bad;
		}
		p += dl;
	}
	rest.p = p;
	rest.n = body.n - (size_t)(p - body.p);
	/* the signed part, exactly as received, then the signature */
	if (next_part(&rest, delim, dl, content) < 0 ||
	    next_part(&rest, delim, dl, &part) < 0) {
		goto bad;
	}
	if (split_entity(part, &ph, &pb) < 0 ||
	    part_header(ph, "Content-Type", v, sizeof(v)) < 0 ||
	    (!ct_is(v, "application/pkcs7-signature") &&
		!ct_is(v, "application/x-pkcs7-signature"))) {
		why(res,
		    "S/MIME: second part is not application/pkcs7-signature",
		    NULL);
		return -1;
	}
	if (part_header(ph, "Content-Transfer-Encoding", v, sizeof(v)) < 0 ||
	    strcasecmp(v + strspn(v, " "), "base64") != 0 ||
	    b64_decode(pb, sig) < 0 || sig->size == 0) {
		why(res, "S/MIME: signature part is not valid base64", NULL);
		return -1;
	}
	return 0;
bad:
	why(res, "S/MIME: malformed multipart/signed body", NULL);
	return -1;
}

/*
 * Header protection: the signed entity is message/rfc822 and the inner
 * message's From, To, Subject and Date are the outer ones.  0 / -1.
 */
static int
check_inner(struct span entity, const struct challenge_mail *m,
    struct smime_result *res)
{
	char v[SMIME_VALUE_MAX], addr[CHALLENGE_ADDR_MAX + 1],
	    tok[CHALLENGE_TOKEN_MAX + 1];
	struct span eh, eb, ih, ib;
	const char *w;

	if (split_entity(entity, &eh, &eb) < 0 ||
	    part_header(eh, "Content-Type", v, sizeof(v)) < 0 ||
	    !ct_is(v, "message/rfc822")) {
		/* XXX: RFC 7508 protected headers (a signed attribute) are
		 * not read; only message/rfc822 wrapping protects headers */
		why(res,
		    "S/MIME: signed content is not message/rfc822 (no header protection)",
		    NULL);
		return -1;
	}
	if (split_entity(eb, &ih, &ib) < 0) {
		why(res, "S/MIME: signed message has no header/body separator",
		    NULL);
		return -1;
	}
	if (part_header(ih, "From", v, sizeof(v)) < 0 ||
	    challenge_parse_mailbox(v, addr, sizeof(addr), &w) < 0 ||
	    !challenge_addr_equal(addr, m->from)) {
		why(res, "S/MIME: signed From is not the outer From", m->from);
		return -1;
	}
	if (part_header(ih, "To", v, sizeof(v)) < 0 ||
	    challenge_parse_mailbox(v, addr, sizeof(addr), &w) < 0 ||
	    !challenge_addr_equal(addr, m->to)) {
		why(res, "S/MIME: signed To is not the outer To", m->to);
		return -1;
	}
	if (part_header(ih, "Subject", v, sizeof(v)) < 0 ||
	    challenge_parse_subject(v, tok, sizeof(tok), &w) < 0 ||
	    strcmp(tok, m->token1) != 0) {
		why(res, "S/MIME: signed Subject is not the outer Subject",
		    NULL);
		return -1;
	}
	/* the Date judged for freshness must be a signed one */
	if (part_header(ih, "Date", v, sizeof(v)) < 0 || m->date == 0 ||
	    challenge_mail_parse_date(v) != m->date) {
		why(res, "S/MIME: signed Date is not the outer Date", NULL);
		return -1;
	}
	return 0;
}

/* Does the certificate's issuer and serial (or key id) match info? */
static bool
is_signer(gnutls_x509_crt_t crt, const gnutls_pkcs7_signature_info_st *info)
{
	gnutls_datum_t dn = { NULL, 0 };
	unsigned char buf[128];
	size_t n = sizeof(buf);
	bool yes = false;

	if (info->issuer_keyid.size > 0) {
		return gnutls_x509_crt_get_subject_key_id(crt, buf, &n, NULL) >=
		    0 &&
		    n == info->issuer_keyid.size &&
		    memcmp(buf, info->issuer_keyid.data, n) == 0;
	}
	if (gnutls_x509_crt_get_serial(crt, buf, &n) < 0 ||
	    n != info->signer_serial.size ||
	    memcmp(buf, info->signer_serial.data, n) != 0) {
		return false;
	}
	if (gnutls_x509_crt_get_raw_issuer_dn(crt, &dn) < 0) {
		return false;
	}
	yes = dn.size == info->issuer_dn.size &&
	    memcmp(dn.data, info->issuer_dn.data, dn.size) == 0;
	gnutls_free(dn.data);
	return yes;
}

/* The certificates carried in the PKCS#7, parsed (at most
 * SMIME_CERTS_MAX: more is refused, not truncated). */
struct certs {
	gnutls_x509_crt_t crt[SMIME_CERTS_MAX];
	gnutls_datum_t der[SMIME_CERTS_MAX]; /* gnutls_free'd */
	size_t n;
};

static void
certs_free(struct certs *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		gnutls_x509_crt_deinit(c->crt[i]);
		gnutls_free(c->der[i].data);
	}
	c->n = 0;
}

/* Parse every certificate of p7 into c.  0 / -1 with res->reason. */
static int
certs_load(gnutls_pkcs7_t p7, struct certs *c, struct smime_result *res)
{
	gnutls_datum_t raw;
	int count, rc;
	size_t i;

	c->n = 0;
	count = gnutls_pkcs7_get_crt_count(p7);
	if (count <= 0) {
		why(res, "S/MIME: signer certificate not in the signature",
		    NULL);
		return -1;
	}
	if (count > SMIME_CERTS_MAX) {
		why(res, "S/MIME: too many certificates in the signature",
		    NULL);
		return -1;
	}
	for (i = 0; i < (size_t)count; i++) {
		if (gnutls_pkcs7_get_crt_raw2(p7, (unsigned)i, &raw) < 0) {
			why(res, "S/MIME: a certificate does not parse", NULL);
			return -1;
		}
		rc = gnutls_x509_crt_init(&c->crt[c->n]);
		if (rc < 0) {
			gnutls_free(raw.data);
			why(res, "S/MIME", gnutls_strerror(rc));
			return -1;
		}
		c->der[c->n] = raw;
		c->n++;
		rc = gnutls_x509_crt_import(
		    c->crt[c->n - 1], &raw, GNUTLS_X509_FMT_DER);
		if (rc < 0) {
			why(res, "S/MIME: a certificate does not parse",
			    gnutls_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/*
 * The index in c of the certificate that the SignerInfo names (issuer and
 * serial, or subject key id).  Two different certificates with the same
 * name are refused: which one "the signer" is must not depend on who
 * picks (a decoy placed first is the forgery of issue 10, attack 3).
 * -1 with res->reason.
 */
static int
find_signer(const struct certs *c, const gnutls_pkcs7_signature_info_st *info,
    struct smime_result *res)
{
	size_t i;
	int found = -1;

	for (i = 0; i < c->n; i++) {
		if (!is_signer(c->crt[i], info)) {
			continue;
		}
		if (found < 0) {
			found = (int)i;
		} else if (!gnutls_x509_crt_equals(c->crt[found], c->crt[i])) {
			why(res,
			    "S/MIME: more than one certificate matches the signer",
			    NULL);
			return -1;
		}
	}
	if (found < 0) {
		why(res, "S/MIME: signer certificate not in the signature",
		    NULL);
	}
	return found;
}

/*
 * The chain from the signer up: each next certificate is an issuer of the
 * previous one taken from c, never twice (two certificates signing each
 * other end the walk instead of looping), at most SMIME_CHAIN_MAX long,
 * and the walk stops at a certificate whose issuer is trusted or that is
 * self-issued.  Whether the chain is good is the trust list's judgement.
 * Returns the chain length (at least 1).
 */
static unsigned
build_chain(const struct smime_trust *t, const struct certs *c, int signer,
    gnutls_x509_crt_t chain[SMIME_CHAIN_MAX])
{
	bool used[SMIME_CERTS_MAX] = { false };
	gnutls_x509_crt_t cur, iss;
	unsigned len = 0;
	size_t i;

	chain[len++] = c->crt[signer];
	used[signer] = true;
	while (len < SMIME_CHAIN_MAX) {
		cur = chain[len - 1];
		/* flags 0: iss points into the list, nothing to free */
		if (gnutls_x509_trust_list_get_issuer(t->tl, cur, &iss, 0) ==
		    0) {
			break;
		}
		if (gnutls_x509_crt_check_issuer(cur, cur)) {
			break;
		}
		for (i = 0; i < c->n; i++) {
			if (!used[i] &&
			    gnutls_x509_crt_check_issuer(cur, c->crt[i])) {
				break;
			}
		}
		if (i == c->n) {
			break;
		}
		chain[len++] = c->crt[i];
		used[i] = true;
	}
	return len;
}

/* Verify chain against the trust list for emailProtection.  0 / -1 with
 * res->reason. */
static int
check_chain(const struct smime_trust *t, gnutls_x509_crt_t *chain, unsigned len,
    struct smime_result *res)
{
	gnutls_typed_vdata_st vd;
	gnutls_datum_t text = { NULL, 0 };
	unsigned status = 0;
	int rc;

	memset(&vd, 0, sizeof(vd));
	vd.type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd.data = (unsigned char *)(uintptr_t)GNUTLS_KP_EMAIL_PROTECTION;
	rc = gnutls_x509_trust_list_verify_crt2(
	    t->tl, chain, len, &vd, 1, 0, &status, NULL);
	if (rc < 0) {
		why(res, "S/MIME: signer certificate is not trusted",
		    gnutls_strerror(rc));
		return -1;
	}
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(
			status, GNUTLS_CRT_X509, &text, 0) < 0) {
			text.data = NULL;
		}
		/* GnuTLS ends the text with a space */
		while (text.data != NULL && text.size > 0 &&
		    text.data[text.size - 1] == ' ') {
			text.data[--text.size] = '\0';
		}
		why(res, "S/MIME: signer certificate is not trusted",
		    text.data != NULL ? (const char *)text.data : "rejected");
		gnutls_free(text.data);
		return -1;
	}
	return 0;
}

/* True if der has an e-mail subjectAltName (rfc822Name or
 * SmtpUTF8Mailbox, read by cert_emails as for the requester) equal to
 * addr. */
static bool
san_has(const gnutls_datum_t *der, const char *addr)
{
	struct cert c = { der->data, der->size };
	char **v = NULL;
	size_t n = 0, i;
	bool yes = false;

	if (cert_emails(&c, &v, &n) < 0) {
		return false;
	}
	for (i = 0; i < n && !yes; i++) {
		yes = challenge_addr_equal(v[i], addr);
	}
	cert_strings_free(v, n);
	return yes;
}

/*
 * Signature 0 of p7: find its signer among the certificates carried,
 * verify that certificate's chain against the trust list, the signature
 * with that certificate, and that certificate's SAN against from.  The
 * certificate checked is the one that verified: there is only one.
 * gnutls_pkcs7_verify is not used: it picks its own signer and builds
 * chains without a bound (it loops on two certificates that sign each
 * other, GnuTLS 3.7.9).  data: the detached content or NULL.  0 / -1
 * with res->reason.
 */
static int
check_signer(const struct smime_trust *t, gnutls_pkcs7_t p7,
    const gnutls_datum_t *data, const char *from, struct smime_result *res)
{
	gnutls_pkcs7_signature_info_st info;
	gnutls_x509_crt_t chain[SMIME_CHAIN_MAX];
	struct certs c;
	unsigned len;
	int signer, rc, ret = -1;

	memset(&c, 0, sizeof(c));
	memset(&info, 0, sizeof(info));
	if (gnutls_pkcs7_get_signature_info(p7, 0, &info) < 0) {
		why(res, "S/MIME: no signer information", NULL);
		return -1;
	}
	if (certs_load(p7, &c, res) < 0) {
		goto out;
	}
	signer = find_signer(&c, &info, res);
	if (signer < 0) {
		goto out;
	}
	len = build_chain(t, &c, signer, chain);
	if (check_chain(t, chain, len, res) < 0) {
		goto out;
	}
	rc = gnutls_pkcs7_verify_direct(p7, c.crt[signer], 0, data, 0);
	if (rc < 0) {
		why(res, "S/MIME: signature does not verify",
		    gnutls_strerror(rc));
		goto out;
	}
	if (!san_has(&c.der[signer], from)) {
		why(res, "S/MIME: signer certificate has no rfc822Name", from);
		goto out;
	}
	ret = 0;
out:
	certs_free(&c);
	gnutls_pkcs7_signature_info_deinit(&info);
	return ret;
}

int
smime_verify(const struct smime_trust *t, const char *ct,
    const unsigned char *body, size_t len, const struct challenge_mail *m,
    struct smime_result *res)
{
	gnutls_pkcs7_t p7 = NULL;
	gnutls_datum_t sig = { NULL, 0 }, inner = { NULL, 0 }, data;
	struct span b = { (const char *)body, len }, content;
	bool detached;
	int rc, ret = 0;

	memset(res, 0, sizeof(*res));
	if (t == NULL) {
		why(res, "S/MIME: no SMIMETrustFile", NULL);
		return 0;
	}
	if (!smime_is_signed(ct)) {
		why(res, "not S/MIME signed", NULL);
		return 0;
	}
	detached = ct_is(ct, "multipart/signed");
	if (detached) {
		if (split_signed(ct, b, &content, &sig, res) < 0) {
			goto out;
		}
	} else if (b64_decode(b, &sig) < 0 || sig.size == 0) {
		why(res, "S/MIME: application/pkcs7-mime body is not base64",
		    NULL);
		goto out;
	}
	rc = gnutls_pkcs7_init(&p7);
	if (rc < 0) {
		why(res, "S/MIME", gnutls_strerror(rc));
		ret = -1;
		goto out;
	}
	rc = gnutls_pkcs7_import(p7, &sig, GNUTLS_X509_FMT_DER);
	if (rc < 0) {
		why(res, "S/MIME: signature does not parse",
		    gnutls_strerror(rc));
		goto out;
	}
	if (gnutls_pkcs7_get_signature_count(p7) != 1) {
		why(res, "S/MIME: not exactly one signer", NULL);
		goto out;
	}
	if (detached) {
		data.data = (unsigned char *)(uintptr_t)content.p;
		data.size = (unsigned int)content.n;
	} else {
		rc = gnutls_pkcs7_get_embedded_data(p7, 0, &inner);
		if (rc < 0) {
			why(res, "S/MIME: no signed content",
			    gnutls_strerror(rc));
			goto out;
		}
		content.p = (const char *)inner.data;
		content.n = inner.size;
	}
	if (check_signer(t, p7, detached ? &data : NULL, m->from, res) < 0 ||
	    check_inner(content, m, res) < 0) {
		goto out;
	}
	res->pass = true;
out:
	gnutls_free(inner.data);
	gnutls_free(sig.data);
	if (p7 != NULL) {
		gnutls_pkcs7_deinit(p7);
	}
	return ret;
}
