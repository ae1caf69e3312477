/*
 * Unit tests for common/digest.c: SHA-256 (FIPS 180-4 examples), HMAC-SHA256
 * (RFC 4231 §4.2, §4.3), hex, base64 decoding and a failing hash (the
 * library function is interposed here).
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/log.h"

static bool hash_fails;

/* The library's own function unless a test sets hash_fails. */
int
gnutls_hash_fast(gnutls_digest_algorithm_t algo, const void *text,
    size_t textlen, void *digest)
{
	int (*real)(gnutls_digest_algorithm_t, const void *, size_t, void *);

	if (hash_fails) {
		return GNUTLS_E_INTERNAL_ERROR;
	}
	*(void **)&real = dlsym(RTLD_NEXT, "gnutls_hash_fast");
	assert_non_null(real);
	return real(algo, text, textlen, digest);
}

static void
test_sha256(void **state)
{
	static const struct {
		const char *in, *hex;
	} v[] = {
		{ "",
		    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc",
		    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char hex[DIGEST_SHA256_HEX_LEN + 1];
	unsigned char md[DIGEST_SHA256_LEN];
	char mdhex[DIGEST_SHA256_HEX_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(hex, 'x', sizeof(hex));
		assert_int_equal(
		    digest_sha256_hex(v[i].in, strlen(v[i].in), hex), 0);
		assert_string_equal(hex, v[i].hex);
		assert_int_equal(
		    digest_sha256(v[i].in, strlen(v[i].in), md), 0);
		assert_string_equal(
		    digest_hex(md, sizeof(md), mdhex), v[i].hex);
	}
}

static void
test_hmac(void **state)
{
	unsigned char key1[20], mac[DIGEST_SHA256_LEN];
	char hex[DIGEST_SHA256_HEX_LEN + 1];

	(void)state;
	memset(key1, 0x0b, sizeof(key1));
	assert_int_equal(
	    digest_hmac_sha256(key1, sizeof(key1), "Hi There", 8, mac), 0);
	assert_string_equal(digest_hex(mac, sizeof(mac), hex),
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	assert_int_equal(digest_hmac_sha256("Jefe", 4,
			     "what do ya want for nothing?", 28, mac),
	    0);
	assert_string_equal(digest_hex(mac, sizeof(mac), hex),
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void
test_hex(void **state)
{
	static const unsigned char in[] = { 0x00, 0x0f, 0xa5, 0xff };
	char out[2 * sizeof(in) + 1];

	(void)state;
	assert_ptr_equal(digest_hex(in, sizeof(in), out), out);
	assert_string_equal(out, "000fa5ff");
	assert_string_equal(digest_hex(in, 0, out), "");
}

static void
test_random(void **state)
{
	unsigned char a[16], b[16];

	(void)state;
	assert_int_equal(digest_random(a, sizeof(a)), 0);
	assert_int_equal(digest_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void
test_base64(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, ">"), 0);
	assert_int_equal(digest_base64_decode("Zm9vYmFy", 8, &b), 0);
	assert_int_equal(digest_base64_decode("Zm8=", 4, &b), 0);
	assert_string_equal(b.data, ">foobarfo");
	/* not base64: refused, the buffer unchanged */
	assert_int_equal(digest_base64_decode("Zm9v!A==", 8, &b), -1);
	assert_int_equal(digest_base64_decode("Zm9", 3, &b), -1);
	assert_string_equal(b.data, ">foobarfo");
	buf_free(&b);
}

static void
test_hash_failure(void **state)
{
	char hex[DIGEST_SHA256_HEX_LEN + 1];
	unsigned char md[DIGEST_SHA256_LEN];

	(void)state;
	hash_fails = true;
	memset(hex, 'x', sizeof(hex));
	assert_int_equal(digest_sha256("abc", 3, md), -1);
	assert_int_equal(digest_sha256_hex("abc", 3, hex), -1);
	assert_string_equal(hex, "");
	hash_fails = false;
	assert_int_equal(digest_sha256_hex("abc", 3, hex), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_hash_failure),
	};

	log_init("test_digest", false, 0, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
