/*
 * fuzz_batch: one line of a batch file (acme/app/batch.c,
 * batch_parse_line), as the C string the reader hands it.  Every outcome
 * must leave a reason on error and a freeable line.
 */
#include <stdint.h>
#include <stdlib.h>

#include "acme/app/batch.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_batch", false, 0, false);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_line l;
	char err[256] = "", *s;
	size_t i;
	int rc;

	if (size > BATCH_LINE_MAX || (s = fuzz_cstr(data, size)) == NULL) {
		return 0;
	}
	rc = batch_parse_line(s, &l, err, sizeof(err));
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	FUZZ_CHECK(rc >= 0 || err[0] != '\0');
	FUZZ_CHECK(rc != 1 || (l.n > 0 && l.n <= BATCH_ADDRS_MAX));
	for (i = 0; rc == 1 && i < l.n; i++) {
		FUZZ_CHECK(l.addrs[i] != NULL);
	}
	batch_line_free(&l);
	free(s);
	return 0;
}
