/*
 * fuzz_challenge: the challenge header parsers of common/challenge.h, each
 * fed the input as a raw header value: the Subject (token-part1, RFC 2047
 * encoded-words, folding), RFC 2047 decoding alone, and the single
 * mailbox of From/To/Reply-To.  Kept thin so that it follows the parsers
 * when they move.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/challenge.h"
#include "common/mailhdr.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_challenge", false, 0, false);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char tok[CHALLENGE_TOKEN_MAX + 1], addr[CHALLENGE_ADDR_MAX + 1];
	const char *why = NULL;
	char *s, *dec;

	if ((s = fuzz_cstr(data, size)) == NULL) {
		return 0;
	}
	if (challenge_parse_subject(s, tok, sizeof(tok), &why) == 0) {
		FUZZ_CHECK(strlen(tok) <= CHALLENGE_TOKEN_MAX);
	} else {
		FUZZ_CHECK(why != NULL);
	}
	if ((dec = mailhdr_decode(s)) != NULL) {
		free(dec);
	}
	why = NULL;
	if (challenge_parse_mailbox(s, addr, sizeof(addr), &why) == 0) {
		FUZZ_CHECK(strlen(addr) <= CHALLENGE_ADDR_MAX);
		(void)challenge_addr_domain(addr);
		(void)challenge_addr_equal(addr, "alice@mail.example");
	} else {
		FUZZ_CHECK(why != NULL);
	}
	free(s);
	return 0;
}
