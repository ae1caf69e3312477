/*
 * Unit tests for acme/proto/rfc3339.c: the date-times a CA sends, offsets
 * and fractions, and dates that do not exist (day against month, leap
 * years) or malformed text refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "acme/proto/rfc3339.h"

static void
test_valid(void **state)
{
	static const struct {
		const char *in;
		long long t;
	} v[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-01-02T03:04:05Z", 1767323045 },
		{ "2026-01-02t03:04:05z", 1767323045 },
		{ "2026-01-02T03:04:05+01:00", 1767323045 - 3600 },
		{ "2026-01-02T03:04:05-00:30", 1767323045 + 1800 },
		{ "2026-01-02T03:04:05.123456Z", 1767323045 },
		{ "2026-12-31T23:59:59Z", 1798761599 },
		{ "2024-02-29T12:00:00Z", 1709208000 }, /* leap year */
		{ "2000-02-29T00:00:00Z", 951782400 },  /* divisible by 400 */
	};
	time_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t = 1;
		if (rfc3339_parse(v[i].in, &t) != 0 || (long long)t != v[i].t) {
			fail_msg("%s: got %lld, want %lld", v[i].in,
			    (long long)t, v[i].t);
		}
	}
}

static void
test_invalid(void **state)
{
	static const char *const v[] = {
		"2026-02-31T00:00:00Z", /* no such day: accepted before */
		"2026-02-29T00:00:00Z", /* not a leap year */
		"2100-02-29T00:00:00Z", /* divisible by 100, not 400 */
		"2026-04-31T00:00:00Z",
		"2026-06-31T00:00:00Z",
		"2026-09-31T00:00:00Z",
		"2026-11-31T00:00:00Z",
		"2026-01-32T00:00:00Z",
		"2026-01-00T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-01-01T24:00:00Z",
		"2026-01-01T00:60:00Z",
		"2026-01-01T00:00:61Z",
		"2026-01-01T00:00:00",
		"2026-01-01 00:00:00Z",
		"2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00+0100",
		"2026-01-01T00:00:00Zjunk",
		"26-01-01T00:00:00Z",
		"",
		NULL,
	};
	time_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (rfc3339_parse(v[i], &t) >= 0) {
			fail_msg("%s: accepted", v[i] != NULL ? v[i] : "NULL");
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
