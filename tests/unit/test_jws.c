/*
 * test_jws: flattened JWS for every key type, verified independently
 * with GnuTLS (gnutls_pubkey_verify_data2, ES raw r||s converted back to
 * DER); protected header members (jwk vs kid, nonce, url); POST-as-GET;
 * EAB HS256 and keyChange inner JWS without a nonce.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "acme/proto/json.h"
#include "acme/proto/jws.h"
#include "acme/pki/key.h"
#include "common/b64url.h"

static char *
dec(const char *s)
{
	size_t n;
	unsigned char *d = b64url_decode(s, strlen(s), &n);

	assert_non_null(d);
	return (char *)d; /* NUL-terminated by b64url_decode */
}

/* Verify jws with GnuTLS directly; return the decoded header. */
static char *
verify(const struct key *k, const char *jws, size_t want_len,
    gnutls_sign_algorithm_t algo)
{
	char *p64, *pl64, *s64, *input, *hdr;
	unsigned char *sig;
	size_t sl, il;
	gnutls_datum_t data, sd, der = { NULL, 0 }, r, s;

	assert_int_equal(jws_split(jws, &p64, &pl64, &s64), 0);
	sig = b64url_decode(s64, strlen(s64), &sl);
	assert_non_null(sig);
	assert_int_equal(sl, want_len);
	il = strlen(p64) + 1 + strlen(pl64);
	input = malloc(il + 1);
	snprintf(input, il + 1, "%s.%s", p64, pl64);
	data.data = (unsigned char *)input;
	data.size = (unsigned)il;
	sd.data = sig;
	sd.size = (unsigned)sl;
	if (algo != GNUTLS_SIGN_RSA_SHA256) {
		r.data = sig;
		r.size = (unsigned)sl / 2;
		s.data = sig + sl / 2;
		s.size = (unsigned)sl / 2;
		while (r.size > 1 && r.data[0] == 0) {
			r.data++;
			r.size--;
		}
		while (s.size > 1 && s.data[0] == 0) {
			s.data++;
			s.size--;
		}
		assert_int_equal(gnutls_encode_rs_value(&der, &r, &s), 0);
		sd = der;
	}
	assert_true(gnutls_pubkey_verify_data2(
			key_gnutls_pubkey(k), algo, 0, &data, &sd) >= 0);
	gnutls_free(der.data);
	hdr = dec(p64);
	free(input);
	free(sig);
	free(p64);
	free(pl64);
	free(s64);
	return hdr;
}

static const struct {
	enum key_type type;
	gnutls_sign_algorithm_t algo;
	size_t len;
	const char *alg;
} cases[] = {
	{ KEY_RSA2048, GNUTLS_SIGN_RSA_SHA256, 256, "\"alg\":\"RS256\"" },
	{ KEY_EC256, GNUTLS_SIGN_ECDSA_SHA256, 64, "\"alg\":\"ES256\"" },
	{ KEY_EC384, GNUTLS_SIGN_ECDSA_SHA384, 96, "\"alg\":\"ES384\"" },
};

static void
test_sign_verify(void **state)
{
	size_t i;
	int round;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct key *k = key_generate(cases[i].type);

		for (round = 0; round < 4; round++) {
			char *jws, *hdr, *p64, *pl64, *s64, *payload;

			/* kid form */
			jws = jws_sign(k, "https://ca/acct/1", "nonce-1",
			    "https://ca/acct/1", "{\"a\":1}");
			assert_non_null(jws);
			hdr = verify(k, jws, cases[i].len, cases[i].algo);
			assert_non_null(strstr(hdr, cases[i].alg));
			assert_non_null(
			    strstr(hdr, "\"kid\":\"https://ca/acct/1\""));
			assert_non_null(strstr(hdr, "\"nonce\":\"nonce-1\""));
			assert_non_null(
			    strstr(hdr, "\"url\":\"https://ca/acct/1\""));
			assert_null(strstr(hdr, "\"jwk\""));
			assert_int_equal(jws_split(jws, &p64, &pl64, &s64), 0);
			payload = dec(pl64);
			assert_string_equal(payload, "{\"a\":1}");
			free(payload);
			free(p64);
			free(pl64);
			free(s64);
			free(hdr);
			free(jws);
			/* jwk form, POST-as-GET: empty payload */
			jws = jws_sign(
			    k, "https://ca/new-acct", "n2", NULL, NULL);
			hdr = verify(k, jws, cases[i].len, cases[i].algo);
			assert_non_null(strstr(hdr, "\"jwk\":{"));
			assert_null(strstr(hdr, "\"kid\""));
			assert_non_null(strstr(jws, "\"payload\":\"\""));
			free(hdr);
			free(jws);
		}
		key_free(k);
	}
}

static void
test_eab(void **state)
{
	/* MAC key of Pebble's example configuration */
	const char *mac64 =
	    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
	const char *jwk =
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"a\",\"y\":\"b\"}";
	char *jws, *p64, *pl64, *s64, *hdr, *pl, *input;
	unsigned char *mac, *sig, want[32];
	size_t ml, sl;

	(void)state;
	jws = jws_eab("kid-1", mac64, "https://ca/new-acct", jwk);
	assert_non_null(jws);
	assert_int_equal(jws_split(jws, &p64, &pl64, &s64), 0);
	hdr = dec(p64);
	assert_string_equal(hdr,
	    "{\"alg\":\"HS256\",\"kid\":\"kid-1\",\"url\":\"https://ca/new-acct\"}");
	pl = dec(pl64);
	assert_string_equal(pl, jwk);
	mac = b64url_decode(mac64, strlen(mac64), &ml);
	input = malloc(strlen(p64) + strlen(pl64) + 2);
	snprintf(input, strlen(p64) + strlen(pl64) + 2, "%s.%s", p64, pl64);
	gnutls_hmac_fast(
	    GNUTLS_MAC_SHA256, mac, ml, input, strlen(input), want);
	sig = b64url_decode(s64, strlen(s64), &sl);
	assert_int_equal(sl, 32);
	assert_memory_equal(sig, want, 32);
	assert_null(jws_eab("kid-1", "not base64url!", "u", jwk));
	free(mac);
	free(sig);
	free(input);
	free(hdr);
	free(pl);
	free(p64);
	free(pl64);
	free(s64);
	free(jws);
}

static void
test_key_change(void **state)
{
	struct key *old = key_generate(KEY_EC256),
		   *nk = key_generate(KEY_EC384);
	char *jws, *hdr, *p64, *pl64, *s64, *pl, *oldjwk;

	(void)state;
	jws = jws_key_change(
	    nk, old, "https://ca/key-change", "https://ca/acct/7");
	assert_non_null(jws);
	hdr = verify(nk, jws, 96, GNUTLS_SIGN_ECDSA_SHA384);
	assert_null(strstr(hdr, "\"nonce\""));
	assert_non_null(strstr(hdr, "\"jwk\":{\"crv\":\"P-384\""));
	assert_non_null(strstr(hdr, "\"url\":\"https://ca/key-change\""));
	assert_int_equal(jws_split(jws, &p64, &pl64, &s64), 0);
	pl = dec(pl64);
	oldjwk = json_build_jwk(old);
	assert_non_null(strstr(pl, "\"account\":\"https://ca/acct/7\""));
	assert_non_null(strstr(pl, oldjwk));
	free(oldjwk);
	free(pl);
	free(p64);
	free(pl64);
	free(s64);
	free(hdr);
	free(jws);
	key_free(old);
	key_free(nk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_key_change),
	};

	key_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
