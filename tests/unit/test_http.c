/*
 * test_http: Retry-After parsing (delta-seconds, the three HTTP-date
 * forms, garbage, cap) and the User-Agent shape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "acme/proto/http.h"

#define NOW 784111777L /* Sun, 06 Nov 1994 08:49:37 GMT */

static const struct {
	const char *name;
	const char *value;
	long cap;
	long want;
} cases[] = {
	{ "seconds", "120", 600, 120 },
	{ "zero", "0", 600, 0 },
	{ "spaces", "  30 ", 600, 30 },
	{ "capped", "86400", 60, 60 },
	{ "huge", "99999999999999999999999", 60, 60 },
	{ "imf-fixdate", "Sun, 06 Nov 1994 08:50:37 GMT", 600, 60 },
	{ "rfc850", "Sunday, 06-Nov-94 08:51:37 GMT", 600, 120 },
	{ "asctime", "Sun Nov  6 08:49:47 1994", 600, 10 },
	{ "date-past", "Sun, 06 Nov 1994 08:00:00 GMT", 600, 0 },
	{ "date-capped", "Mon, 07 Nov 1994 08:49:37 GMT", 300, 300 },
	{ "negative", "-5", 600, -1 },
	{ "trailing", "12abc", 600, -1 },
	{ "empty", "", 600, -1 },
	{ "garbage", "soon", 600, -1 },
	{ "null", NULL, 600, -1 },
};

static void
test_retry_after(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = http_retry_after(cases[i].value, NOW, cases[i].cap);

		if (got != cases[i].want) {
			fail_msg("%s: got %ld, want %ld", cases[i].name, got,
			    cases[i].want);
		}
	}
}

static void
test_user_agent(void **state)
{
	struct http *h = http_new(NULL);
	const char *ua;

	(void)state;
	assert_non_null(h);
	ua = http_user_agent(h);
	assert_true(strncmp(ua, "smime-acme/" VERSION " libcurl/", 20) == 0);
	http_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_user_agent),
	};

	http_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
