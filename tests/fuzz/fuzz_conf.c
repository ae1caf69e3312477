/*
 * fuzz_conf: the configuration parser (common/conf.c, conf_parse, the
 * buffer half of conf_load), fed the input as the text of a file.  A
 * configuration that parses must answer conf_is_set for each key.
 */
#include <stdint.h>

#include "common/conf.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_conf", false, 0, false);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *const *k;
	struct config *c;

	c = conf_parse("fuzz.conf", (const char *)data, size);
	if (c == NULL) {
		return 0;
	}
	for (k = conf_key_names(); *k != NULL; k++) {
		(void)conf_is_set(c, *k);
	}
	conf_free(c);
	return 0;
}
