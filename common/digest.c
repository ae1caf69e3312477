/*
 * digest: SHA-256, HMAC-SHA256, random bytes and base64 decoding through
 * GnuTLS, and the one hex encoder (see digest.h).  The only file outside
 * acme/pki/ and milter/smime.c that includes a GnuTLS header.  Callers:
 * log (fingerprints), spool (entry keys), challenge (response digest,
 * Message-ID, RFC 2047 words), jws (EAB MAC), acme (retry jitter), store.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "common/digest.h"
#include "common/log.h"

int
digest_sha256(const void *data, size_t len, unsigned char md[DIGEST_SHA256_LEN])
{
	int rc;

	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md);
	if (rc != 0) {
		log_err("digest: SHA-256: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
digest_sha256_hex(
    const void *data, size_t len, char out[DIGEST_SHA256_HEX_LEN + 1])
{
	unsigned char md[DIGEST_SHA256_LEN];

	if (digest_sha256(data, len, md) < 0) {
		out[0] = '\0';
		return -1;
	}
	digest_hex(md, sizeof(md), out);
	return 0;
}

int
digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char mac[DIGEST_SHA256_LEN])
{
	int rc;

	rc = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, data, len, mac);
	if (rc != 0) {
		log_err("digest: HMAC-SHA256: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
digest_random(void *out, size_t len)
{
	int rc;

	rc = gnutls_rnd(GNUTLS_RND_NONCE, out, len);
	if (rc != 0) {
		log_err("digest: random: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

char *
digest_hex(const void *data, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

int
digest_base64_decode(const char *s, size_t len, struct buf *out)
{
	gnutls_datum_t in, dec = { NULL, 0 };
	int rc = -1;

	if (len > UINT_MAX) {
		return -1;
	}
	in.data = (unsigned char *)(uintptr_t)s;
	in.size = (unsigned)len;
	if (gnutls_base64_decode2(&in, &dec) != 0) {
		goto out;
	}
	if (buf_append(out, dec.data, dec.size) < 0) {
		goto out;
	}
	rc = 0;
out:
	gnutls_free(dec.data);
	return rc;
}
