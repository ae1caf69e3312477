/*
 * jws: flattened JWS JSON (RFC 7515 §7.2.2) as ACME uses it (RFC 8555
 * §6.2): {"protected":b64u(header),"payload":b64u(payload),
 * "signature":b64u(sig)}.  The signing input is the ASCII of
 * b64u(header) "." b64u(payload); POST-as-GET signs an empty payload.
 * Called by acme.c (outer JWS), acct.c (EAB, keyChange) and the requester
 * (jws_thumbprint).  The JSON text itself comes from json.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/proto/json.h"
#include "acme/proto/jws.h"
#include "common/b64url.h"
#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"

#define JWS_MAX (1024u * 1024)

/* Sign prot_json + payload with k and assemble. */
static char *
jws_finish(const struct key *k, const char *prot_json, const char *payload)
{
	char *prot = NULL, *pay = NULL, *sig64 = NULL, *res = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	struct buf input;

	buf_init(&input, JWS_MAX * 2);
	prot = b64url_encode(prot_json, strlen(prot_json));
	pay = b64url_encode(payload, strlen(payload));
	if (prot == NULL || pay == NULL ||
	    buf_printf(&input, "%s.%s", prot, pay) < 0) {
		log_err("jws: out of memory");
		goto out;
	}
	if (key_sign(k, input.data, input.len, &sig, &sig_len) < 0) {
		goto out;
	}
	if ((sig64 = b64url_encode(sig, sig_len)) == NULL) {
		goto out;
	}
	res = json_build_jws(prot, pay, sig64);
out:
	buf_free(&input);
	free(prot);
	free(pay);
	free(sig64);
	free(sig);
	return res;
}

char *
jws_sign(const struct key *k, const char *url, const char *nonce,
    const char *kid, const char *payload)
{
	char *h, *res;

	h = json_build_jws_header(
	    key_alg(k), kid == NULL ? k : NULL, kid, nonce, url);
	if (h == NULL) {
		log_err("jws: cannot build the protected header for %s", url);
		return NULL;
	}
	res = jws_finish(k, h, payload != NULL ? payload : "");
	free(h);
	return res;
}

int
jws_thumbprint(const struct key *k, char out[KEY_THUMBPRINT_LEN + 1])
{
	unsigned char md[DIGEST_SHA256_LEN];
	char *jwk;
	int rc;

	if ((jwk = json_build_jwk(k)) == NULL) {
		return -1;
	}
	rc = digest_sha256(jwk, strlen(jwk), md);
	free(jwk);
	if (rc < 0) {
		return -1;
	}
	b64url_encode_to(md, sizeof(md), out);
	out[KEY_THUMBPRINT_LEN] = '\0';
	return 0;
}

char *
jws_eab(const char *eab_kid, const char *mac_key_b64url, const char *url,
    const char *account_jwk)
{
	unsigned char *mac_key = NULL, mac[DIGEST_SHA256_LEN];
	size_t mac_len = 0;
	char *h = NULL, *prot = NULL, *pay = NULL, *sig = NULL, *res = NULL;
	struct buf input;

	buf_init(&input, JWS_MAX * 2);
	mac_key =
	    b64url_decode(mac_key_b64url, strlen(mac_key_b64url), &mac_len);
	if (mac_key == NULL || mac_len == 0) {
		log_err("jws: EAB MAC key is not base64url");
		goto out;
	}
	if ((h = json_build_jws_header("HS256", NULL, eab_kid, NULL, url)) ==
	    NULL) {
		log_err("jws: cannot build the EAB header");
		goto out;
	}
	prot = b64url_encode(h, strlen(h));
	pay = b64url_encode(account_jwk, strlen(account_jwk));
	if (prot == NULL || pay == NULL ||
	    buf_printf(&input, "%s.%s", prot, pay) < 0) {
		log_err("jws: out of memory");
		goto out;
	}
	if (digest_hmac_sha256(mac_key, mac_len, input.data, input.len, mac) <
	    0) {
		goto out;
	}
	if ((sig = b64url_encode(mac, sizeof(mac))) == NULL) {
		goto out;
	}
	res = json_build_jws(prot, pay, sig);
out:
	if (mac_key != NULL) {
		explicit_bzero(mac_key, mac_len);
		free(mac_key);
	}
	explicit_bzero(mac, sizeof(mac));
	free(h);
	buf_free(&input);
	free(prot);
	free(pay);
	free(sig);
	return res;
}

char *
jws_key_change(const struct key *new_key, const struct key *old_key,
    const char *url, const char *account_url)
{
	char *payload, *res;

	if ((payload = json_build_key_change(account_url, old_key)) == NULL) {
		return NULL;
	}
	res = jws_sign(new_key, url, NULL, NULL, payload);
	free(payload);
	return res;
}

/* Copy the string value of "name":"..." out of a flattened JWS. */
static char *
jws_member(const char *jws, const char *name)
{
	char pat[32];
	const char *p, *e;
	char *r;

	if (snprintf(pat, sizeof(pat), "\"%s\":\"", name) >= (int)sizeof(pat)) {
		return NULL;
	}
	if ((p = strstr(jws, pat)) == NULL) {
		return NULL;
	}
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL) {
		return NULL;
	}
	if ((r = malloc((size_t)(e - p) + 1)) == NULL) {
		return NULL;
	}
	memcpy(r, p, (size_t)(e - p));
	r[e - p] = '\0';
	return r;
}

int
jws_split(const char *jws, char **protected_b64, char **payload_b64,
    char **signature_b64)
{
	*protected_b64 = jws_member(jws, "protected");
	*payload_b64 = jws_member(jws, "payload");
	*signature_b64 = jws_member(jws, "signature");
	if (*protected_b64 == NULL || *payload_b64 == NULL ||
	    *signature_b64 == NULL) {
		free(*protected_b64);
		free(*payload_b64);
		free(*signature_b64);
		*protected_b64 = *payload_b64 = *signature_b64 = NULL;
		return -1;
	}
	return 0;
}
