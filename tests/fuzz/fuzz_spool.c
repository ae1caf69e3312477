/*
 * fuzz_spool: the spool entry parser (common/spool.c, spool_parse), fed
 * raw bytes with their length (no NUL: ASan sees any read past the
 * file).  An entry that parses must format again and parse back to the
 * same entry (the requester writes what the milter reads).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "common/spool.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_spool", false, 0, false);
	return 0;
}

/* Field by field: bytes after a string's NUL may differ (a key given twice
 * leaves the tail of the longer first value). */
static bool
same(const struct spool_entry *a, const struct spool_entry *b)
{
	return strcmp(a->mailbox, b->mailbox) == 0 &&
	    strcmp(a->from, b->from) == 0 &&
	    strcmp(a->token2, b->token2) == 0 &&
	    strcmp(a->thumbprint, b->thumbprint) == 0 && a->rule == b->rule &&
	    a->state == b->state && a->created == b->created &&
	    a->expires == b->expires &&
	    strcmp(a->order_url, b->order_url) == 0 &&
	    strcmp(a->authz_url, b->authz_url) == 0 &&
	    strcmp(a->challenge_url, b->challenge_url) == 0 &&
	    a->answered_at == b->answered_at &&
	    strcmp(a->challenge_msgid, b->challenge_msgid) == 0 &&
	    strcmp(a->reason, b->reason) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spool_entry e, f;
	static char text[SPOOL_ENTRY_MAX * 2];
	const char *why = NULL;
	int n;

	if (spool_parse((const char *)data, size, &e, &why) != 0) {
		FUZZ_CHECK(why != NULL);
		return 0;
	}
	n = spool_format(&e, text, sizeof(text));
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(text));
	FUZZ_CHECK(spool_parse(text, (size_t)n, &f, &why) == 0);
	FUZZ_CHECK(same(&e, &f));
	return 0;
}
