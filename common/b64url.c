/*
 * b64url: strict unpadded base64url (RFC 4648 §5 as RFC 7515 §2 and
 * RFC 8555 use it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/b64url.h"

static const char b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64url_enclen(size_t n)
{
	return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0);
}

char *
b64url_encode_to(const void *data, size_t len, char *out)
{
	const unsigned char *p = data;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url_alpha[(v >> 18) & 63];
		out[o++] = b64url_alpha[(v >> 12) & 63];
		out[o++] = b64url_alpha[(v >> 6) & 63];
		out[o++] = b64url_alpha[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alpha[(v >> 18) & 63];
		out[o++] = b64url_alpha[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alpha[(v >> 18) & 63];
		out[o++] = b64url_alpha[(v >> 12) & 63];
		out[o++] = b64url_alpha[(v >> 6) & 63];
	}
	out[o] = '\0';
	return out;
}

char *
b64url_encode(const void *data, size_t len)
{
	char *out;

	if (len > (SIZE_MAX - 4) / 4 * 3) {
		return NULL;
	}
	out = malloc(b64url_enclen(len) + 1);
	if (out == NULL) {
		return NULL;
	}
	return b64url_encode_to(data, len, out);
}

static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	if (c == '-') {
		return 62;
	}
	if (c == '_') {
		return 63;
	}
	return -1;
}

unsigned char *
b64url_decode(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out;
	size_t i, o = 0, rem = len % 4;
	uint32_t v = 0;
	int d;

	if (rem == 1) {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(len / 4 * 3 + 3);
	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i < len; i++) {
		d = b64url_val((unsigned char)s[i]);
		if (d < 0) {
			goto bad;
		}
		v = v << 6 | (uint32_t)d;
		if (i % 4 == 3) {
			out[o++] = (v >> 16) & 0xff;
			out[o++] = (v >> 8) & 0xff;
			out[o++] = v & 0xff;
			v = 0;
		}
	}
	/* Trailing bits that do not fill an octet must be zero (canonical). */
	if (rem == 2) {
		if (v & 0xf) {
			goto bad;
		}
		out[o++] = (v >> 4) & 0xff;
	} else if (rem == 3) {
		if (v & 0x3) {
			goto bad;
		}
		out[o++] = (v >> 10) & 0xff;
		out[o++] = (v >> 2) & 0xff;
	}
	out[o] = 0;
	*outlen = o;
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}
