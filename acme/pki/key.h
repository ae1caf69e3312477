/*
 * key: account and certificate keys (GnuTLS).  RSA 2048 (default), 3072,
 * 4096 and ECDSA P-256, P-384.  A struct key holds a private key (can
 * sign) or only a public key (JWK and thumbprint, e.g. for test vectors).
 * Owns the JWK members (RFC 7517/7638 canonical order; json.c writes the
 * JSON) and the JWS signature encoding (RS256, ES256/ES384 raw r||s).  Keys are immutable
 * after creation, so one key may be used by several threads.
 */
#ifndef ACME_PKI_KEY_H
#define ACME_PKI_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

enum key_type {
	KEY_RSA2048,
	KEY_RSA3072,
	KEY_RSA4096,
	KEY_EC256,
	KEY_EC384,
	KEY_TYPE_MAX
};

#define KEY_THUMBPRINT_LEN 43 /* unpadded b64url of a SHA-256 */

struct key; /* opaque */

/* Call once per process (gnutls_global_init); 0 / -1. */
int key_global_init(void);
void key_global_cleanup(void);

/* "rsa" "rsa2048" "rsa3072" "rsa4096" "ec" "ec256" "p-256" "ec384"
 * "p-384" (case-insensitive) -> type; KEY_TYPE_MAX if unknown. */
enum key_type key_type_parse(const char *s);
/* "rsa2048" ... "ec384". */
const char *key_type_name(enum key_type t);

/* Generate a fresh key; NULL on failure (logged). */
struct key *key_generate(enum key_type t);
/*
 * Load a private key from PEM (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA
 * PRIVATE KEY" or SEC1 "EC PRIVATE KEY") or DER PKCS#8.  Unsupported
 * algorithms or sizes are refused.  NULL on failure (logged, never the
 * key material).
 */
struct key *key_load_pem(const void *pem, size_t len);
struct key *key_load_der(const void *der, size_t len);
/* Read and load a PEM file (at most 64 KiB); NULL on failure. */
struct key *key_load_file(const char *path);
/* The same for a path the user names (--key-path): follows a symbolic
 * link (fs_read_user_file). */
struct key *key_load_user_file(const char *path);
/* Public-only keys from raw parameters (big-endian octets): RSA n, e;
 * EC curve (KEY_EC256/KEY_EC384) and x, y.  NULL on failure. */
struct key *key_from_rsa_public(
    const void *n, size_t n_len, const void *e, size_t e_len);
struct key *key_from_ec_public(enum key_type curve, const void *x, size_t x_len,
    const void *y, size_t y_len);
/* Raw private key parameters (big-endian octets), e.g. from a JWK:
 * RSA a = n, b = e, d, p, q; EC a = x, b = y, d. */
struct key_raw {
	const void *a, *b, *d, *p, *q;
	size_t a_len, b_len, d_len, p_len, q_len;
};
/* Private keys from raw parameters, checked for consistency; the same
 * sizes and curves as key_load_pem.  NULL on failure (logged, never the
 * key material). */
struct key *key_from_rsa_private(const struct key_raw *r);
struct key *key_from_ec_private(enum key_type curve, const struct key_raw *r);
/* Free (NULL is fine); private material is wiped by GnuTLS. */
void key_free(struct key *k);

enum key_type key_get_type(const struct key *k);
bool key_has_private(const struct key *k);
/* JWS "alg": "RS256", "ES256" or "ES384". */
const char *key_alg(const struct key *k);
/* Length of a JWS signature: modulus bytes, 64 or 96. */
size_t key_sig_len(const struct key *k);

/*
 * Append the unencrypted PKCS#8 PEM of the private key to out.  out holds
 * a secret: release it with buf_free_secret().  Write it to disk with
 * fs_write_atomic(..., 0600).  0 / -1.
 */
int key_to_pem(const struct key *k, struct buf *out);
/* SubjectPublicKeyInfo DER of the public key; caller frees. 0 / -1. */
int key_public_der(const struct key *k, unsigned char **der, size_t *len);

/*
 * The required members of the public JWK (RFC 7518 §6.2.1, §6.3.1), in
 * RFC 7638 lexicographic order: crv, kty, x, y (EC) or e, kty, n (RSA);
 * every value a string (base64url for the numbers).  The JSON text, and
 * the thumbprint over it, are built by json_build_jwk and jws_thumbprint
 * in acme/proto/.
 */
#define KEY_JWK_MEMBERS_MAX 4
struct key_jwk {
	size_t n;
	const char *name[KEY_JWK_MEMBERS_MAX]; /* static */
	char *value[KEY_JWK_MEMBERS_MAX];      /* malloc'ed */
};
/* Fill out (zeroed first).  0 / -1 (logged); free with key_jwk_free. */
int key_jwk_members(const struct key *k, struct key_jwk *out);
void key_jwk_free(struct key_jwk *j);

/*
 * Sign data for a JWS: RS256 (PKCS#1 v1.5, SHA-256), ES256 / ES384 (raw
 * r||s, each left-padded to the curve size).  *sig is malloc'ed,
 * *sig_len == key_sig_len(k).  0 / -1 (logged).
 */
int key_sign(const struct key *k, const void *data, size_t len,
    unsigned char **sig, size_t *sig_len);
/* Verify a JWS signature made by key_sign (raw r||s for EC).  true if
 * valid.  For tests and self-checks. */
bool key_verify(const struct key *k, const void *data, size_t len,
    const unsigned char *sig, size_t sig_len);
/* true if both keys have the same public key. */
bool key_equal_public(const struct key *a, const struct key *b);

/* Internal to acme/ (csr.c, p12.c, cert.c): the gnutls_privkey_t /
 * gnutls_pubkey_t behind k, as void * so this header needs no GnuTLS
 * include.  The privkey is NULL for a public-only key. */
void *key_gnutls_privkey(const struct key *k);
void *key_gnutls_pubkey(const struct key *k);

#endif
