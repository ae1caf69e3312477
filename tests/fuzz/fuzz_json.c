/*
 * fuzz_json: the ACME reply parsers (acme/proto/json.c): every input is
 * handed to each parser in turn (directory, account, orders list, order,
 * authorization, challenge, problem, renewal info), since a CA may send
 * any body to any request.  What parses is freed by its own *_free(), and
 * a problem document is also formatted for display.
 */
#include <stdint.h>

#include "acme/proto/json.h"
#include "common/buf.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_json", false, 0, false);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct acme_directory dir;
	struct acme_account acct;
	struct acme_order ord;
	struct acme_authz az;
	struct acme_challenge ch;
	struct acme_problem pb;
	struct acme_renewal_info ri;
	struct buf out = { 0 };
	char **urls = NULL;
	size_t n = 0;

	if (json_parse_directory(t, size, &dir) == 0) {
		json_directory_free(&dir);
	}
	if (json_parse_account(t, size, &acct) == 0) {
		json_account_free(&acct);
	}
	if (json_parse_orders_list(t, size, &urls, &n) == 0) {
		json_strings_free(urls, n);
	}
	if (json_parse_order(t, size, &ord) == 0) {
		json_order_free(&ord);
	}
	if (json_parse_authz(t, size, &az) == 0) {
		json_authz_free(&az);
	}
	if (json_parse_challenge(t, size, &ch) == 0) {
		json_challenge_free(&ch);
	}
	if (json_parse_problem(t, size, &pb) == 0) {
		(void)problem_format(&pb, &out);
		(void)problem_short(&pb);
		buf_free(&out);
		problem_free(&pb);
	}
	if (json_parse_renewal_info(t, size, &ri) == 0) {
		json_renewal_info_free(&ri);
	}
	return 0;
}
