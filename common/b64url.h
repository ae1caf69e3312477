/*
 * b64url: base64url without padding (RFC 4648 §5, RFC 7515 §2), strict as
 * RFC 8555 requires: decoding rejects '=', characters outside the
 * alphabet, a length of 1 mod 4 and non-zero trailing bits.
 */
#ifndef COMMON_B64URL_H
#define COMMON_B64URL_H

#include <stddef.h>

/* Length of the encoding of n octets (no NUL). */
size_t b64url_enclen(size_t n);
/* Encode; return a malloc'ed NUL-terminated string, NULL on ENOMEM. */
char *b64url_encode(const void *data, size_t len);
/* Encode into out (b64url_enclen(len) + 1 bytes); returns out. */
char *b64url_encode_to(const void *data, size_t len, char *out);
/*
 * Decode len characters of s (strict).  Return a malloc'ed buffer (one spare
 * NUL byte past *outlen) or NULL with errno EINVAL (bad input) or ENOMEM.
 */
unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen);

#endif
