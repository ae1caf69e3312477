/*
 * fuzz.h: what every libFuzzer harness in tests/fuzz/ shares: the entry
 * points' prototypes (-Wmissing-prototypes) and a NUL-terminated copy of
 * the input for the parsers that take C strings.  Each fuzz_<name>.c
 * feeds the input to one parser of untrusted bytes; see README.md.
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A malloc'ed NUL-terminated copy of data (which may hold NULs: the
 * string then ends early, as it would for the C caller); NULL on ENOMEM. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL) {
		return NULL;
	}
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Abort (a finding) when a property the harness checks does not hold. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)
#endif
