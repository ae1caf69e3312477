/*
 * digest: the one facade over GnuTLS's non-PKI crypto — SHA-256, HMAC-SHA256,
 * random bytes and standard base64 decoding — plus lower-case hex.  Only
 * this module (and the PKI files under acme/pki/ and the S/MIME check in
 * milter/smime.c) include GnuTLS headers; everything else in common/, dkim/,
 * milter/ and acme/{proto,app}/ calls these.  Stateless and thread-safe.
 * The hash, HMAC and random functions log a library failure themselves
 * (with GnuTLS's text) and return -1; callers propagate without logging it
 * again.  Decoding failures are input errors and are not logged.
 */
#ifndef COMMON_DIGEST_H
#define COMMON_DIGEST_H

#include <stddef.h>

#include "common/buf.h"

#define DIGEST_SHA256_LEN     32
#define DIGEST_SHA256_HEX_LEN (2 * DIGEST_SHA256_LEN)

/* SHA-256 of len bytes into md.  Returns 0, or -1 (logged). */
int digest_sha256(
    const void *data, size_t len, unsigned char md[DIGEST_SHA256_LEN]);
/*
 * SHA-256 of len bytes as 64 lower-case hex digits and a NUL in out.
 * Returns 0, or -1 (logged) with out set to the empty string.
 */
int digest_sha256_hex(
    const void *data, size_t len, char out[DIGEST_SHA256_HEX_LEN + 1]);
/* HMAC-SHA256 of data under key into mac.  Returns 0, or -1 (logged). */
int digest_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char mac[DIGEST_SHA256_LEN]);
/* len unpredictable bytes (nonce quality).  Returns 0, or -1 (logged). */
int digest_random(void *out, size_t len);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes); returns out. */
char *digest_hex(const void *data, size_t len, char *out);
/*
 * Decode len characters of standard padded base64 (RFC 4648 §4) and append
 * the octets to out.  Returns 0, or -1 if s is not base64 or out cannot
 * grow (out unchanged).
 */
int digest_base64_decode(const char *s, size_t len, struct buf *out);

#endif
