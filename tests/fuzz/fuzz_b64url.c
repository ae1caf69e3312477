/*
 * fuzz_b64url: strict base64url decoding (common/b64url.c), fed raw
 * bytes with their length.  Strictness makes decoding one-to-one, so
 * whatever decodes must encode back to exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec;
	size_t n = 0;
	char *enc;

	dec = b64url_decode((const char *)data, size, &n);
	if (dec == NULL) {
		return 0;
	}
	FUZZ_CHECK(dec[n] == '\0');
	enc = b64url_encode(dec, n);
	FUZZ_CHECK(enc != NULL);
	FUZZ_CHECK(strlen(enc) == size && memcmp(enc, data, size) == 0);
	FUZZ_CHECK(b64url_enclen(n) == size);
	free(enc);
	free(dec);
	return 0;
}
