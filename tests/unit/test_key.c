/*
 * test_key: RFC 7638 thumbprint vectors (keys built from their public
 * parameters), JWK member order, key generation for every type, PEM
 * round trip, signature lengths and verification.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme/pki/key.h"
#include "acme/proto/json.h"
#include "acme/proto/jws.h"
#include "common/b64url.h"

static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP"
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9"
    "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
    "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
    "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static struct key *
rsa_vector(void)
{
	size_t nl, el;
	unsigned char *n = b64url_decode(rfc7638_n, strlen(rfc7638_n), &nl);
	unsigned char *e = b64url_decode("AQAB", 4, &el);
	struct key *k;

	assert_non_null(n);
	assert_non_null(e);
	k = key_from_rsa_public(n, nl, e, el);
	free(n);
	free(e);
	return k;
}

static struct key *
ec_vector(void)
{
	const char *xs = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
	const char *ys = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
	size_t xl, yl;
	unsigned char *x = b64url_decode(xs, strlen(xs), &xl);
	unsigned char *y = b64url_decode(ys, strlen(ys), &yl);
	struct key *k;

	assert_non_null(x);
	assert_non_null(y);
	k = key_from_ec_public(KEY_EC256, x, xl, y, yl);
	free(x);
	free(y);
	return k;
}

static void
test_thumbprint_rsa(void **state)
{
	struct key *k = rsa_vector();
	char tp[KEY_THUMBPRINT_LEN + 1];
	char *jwk;

	(void)state;
	assert_non_null(k);
	assert_int_equal(jws_thumbprint(k, tp), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	jwk = json_build_jwk(k);
	assert_non_null(jwk);
	assert_true(strncmp(jwk, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7",
			30) == 0);
	assert_string_equal(key_alg(k), "RS256");
	assert_false(key_has_private(k));
	free(jwk);
	key_free(k);
}

static void
test_thumbprint_ec(void **state)
{
	struct key *k = ec_vector();
	char tp[KEY_THUMBPRINT_LEN + 1];
	char *jwk;

	(void)state;
	assert_non_null(k);
	assert_int_equal(jws_thumbprint(k, tp), 0);
	assert_string_equal(tp, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
	jwk = json_build_jwk(k);
	assert_string_equal(jwk,
	    "{\"crv\":\"P-256\",\"kty\":\"EC\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}");
	free(jwk);
	key_free(k);
}

static const struct {
	enum key_type type;
	const char *alg;
	size_t sig_len;
} gen_cases[] = {
	{ KEY_RSA2048, "RS256", 256 },
	{ KEY_RSA3072, "RS256", 384 },
	{ KEY_EC256, "ES256", 64 },
	{ KEY_EC384, "ES384", 96 },
};

static void
test_generate_sign_verify(void **state)
{
	const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ";
	size_t i, sl;
	int round;

	(void)state;
	for (i = 0; i < sizeof(gen_cases) / sizeof(gen_cases[0]); i++) {
		struct key *k = key_generate(gen_cases[i].type);
		unsigned char *sig;

		assert_non_null(k);
		assert_int_equal(key_get_type(k), gen_cases[i].type);
		assert_string_equal(key_alg(k), gen_cases[i].alg);
		/* several rounds: ES r/s often have leading zero octets */
		for (round = 0; round < 8; round++) {
			assert_int_equal(
			    key_sign(k, msg, strlen(msg), &sig, &sl), 0);
			assert_int_equal(sl, gen_cases[i].sig_len);
			assert_true(key_verify(k, msg, strlen(msg), sig, sl));
			sig[sl / 2] ^= 1;
			assert_false(key_verify(k, msg, strlen(msg), sig, sl));
			free(sig);
		}
		key_free(k);
	}
}

static void
test_pem_roundtrip(void **state)
{
	struct key *k = key_generate(KEY_EC256), *k2;
	struct buf pem;

	(void)state;
	buf_init(&pem, 0);
	assert_int_equal(key_to_pem(k, &pem), 0);
	assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));
	k2 = key_load_pem(pem.data, pem.len);
	assert_non_null(k2);
	assert_true(key_equal_public(k, k2));
	assert_null(key_load_pem("garbage", 7));
	buf_free_secret(&pem);
	key_free(k);
	key_free(k2);
}

/* --key-path may be a symbolic link (certbot's live/privkey.pem is);
 * the store's own files are still opened with O_NOFOLLOW. */
static void
test_load_user_file(void **state)
{
	struct key *k = key_generate(KEY_EC256), *k2;
	char dir[] = "/tmp/smime-acme-key.XXXXXX", file[64], link[64];
	struct buf pem;
	FILE *fp;

	(void)state;
	buf_init(&pem, 0);
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/privkey1.pem", dir);
	snprintf(link, sizeof(link), "%s/privkey.pem", dir);
	assert_int_equal(key_to_pem(k, &pem), 0);
	fp = fopen(file, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(pem.data, 1, pem.len, fp), pem.len);
	fclose(fp);
	assert_int_equal(symlink("privkey1.pem", link), 0);
	k2 = key_load_user_file(link);
	assert_non_null(k2);
	assert_true(key_equal_public(k, k2));
	key_free(k2);
	assert_null(key_load_file(link));
	unlink(link);
	unlink(file);
	rmdir(dir);
	buf_free_secret(&pem);
	key_free(k);
}

static void
test_type_names(void **state)
{
	(void)state;
	assert_int_equal(key_type_parse("rsa"), KEY_RSA2048);
	assert_int_equal(key_type_parse("RSA4096"), KEY_RSA4096);
	assert_int_equal(key_type_parse("p-384"), KEY_EC384);
	assert_int_equal(key_type_parse("ec"), KEY_EC256);
	assert_int_equal(key_type_parse("dsa"), KEY_TYPE_MAX);
	assert_string_equal(key_type_name(KEY_EC384), "ec384");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thumbprint_rsa),
		cmocka_unit_test(test_thumbprint_ec),
		cmocka_unit_test(test_generate_sign_verify),
		cmocka_unit_test(test_pem_roundtrip),
		cmocka_unit_test(test_load_user_file),
		cmocka_unit_test(test_type_names),
	};

	key_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
