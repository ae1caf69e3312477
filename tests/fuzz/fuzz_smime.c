/*
 * fuzz_smime: the S/MIME recogniser on the outer Content-Type value
 * (milter/smime.h, smime_is_signed: type and parameter parsing).
 * XXX: the full smime_verify (MIME split, signer selection) waits for
 * the S/MIME rework of issue 10; re-point this harness then.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"
#include "milter/smime.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_smime", false, 0, false);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);

	if (s == NULL) {
		return 0;
	}
	(void)smime_is_signed(s);
	free(s);
	return 0;
}
