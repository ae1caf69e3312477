/*
 * jws: RFC 7515 flattened JSON serialisation for ACME (RFC 8555 §6.2).
 * Protected header {"alg", "jwk" | "kid", "nonce", "url"}; the payload is
 * the given JSON text or "" for POST-as-GET.  Also the two nonce-less
 * inner JWS forms: External Account Binding (HS256, §7.3.4) and key
 * rollover (§7.3.5).  Pure functions over a key; no I/O.
 */
#ifndef ACME_PROTO_JWS_H
#define ACME_PROTO_JWS_H

#include <stddef.h>

#include "acme/pki/key.h"

/*
 * Sign payload for url.  nonce: the Replay-Nonce to use (NULL only for
 * inner JWS).  kid: the account URL, or NULL to embed the public key as
 * "jwk" (newAccount, revocation by certificate key).  payload: JSON text,
 * or NULL / "" for POST-as-GET.  Returns the malloc'ed JWS JSON text or
 * NULL (logged).
 */
char *jws_sign(const struct key *k, const char *url, const char *nonce,
    const char *kid, const char *payload);

/*
 * The RFC 7638 SHA-256 thumbprint of k's public JWK, base64url: 43
 * characters and a NUL.  0 / -1 (logged).
 */
int jws_thumbprint(const struct key *k, char out[KEY_THUMBPRINT_LEN + 1]);

/*
 * External Account Binding inner JWS: protected {"alg":"HS256",
 * "kid":eab_kid,"url":url}, payload = account_jwk (the new account's
 * public JWK JSON), signed with HMAC-SHA256 under the base64url-decoded
 * mac_key_b64url (a secret: never logged, wiped after use).  malloc'ed
 * JSON or NULL.
 */
char *jws_eab(const char *eab_kid, const char *mac_key_b64url, const char *url,
    const char *account_jwk);

/*
 * keyChange inner JWS: signed by new_key with "jwk", no nonce, url =
 * keyChange URL, payload {"account": account_url, "oldKey": jwk(old)}.
 * malloc'ed JSON or NULL.
 */
char *jws_key_change(const struct key *new_key, const struct key *old_key,
    const char *url, const char *account_url);

/*
 * Split a flattened JWS into its three base64url members (malloc'ed,
 * caller frees each).  For tests and diagnostics; 0 / -1.
 */
int jws_split(const char *jws, char **protected_b64, char **payload_b64,
    char **signature_b64);

#endif
