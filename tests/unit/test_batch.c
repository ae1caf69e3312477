/*
 * Unit tests for acme/app/batch.c: the batch file line syntax.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acme/app/batch.h"

static void
test_blank_and_comment(void **state)
{
	static const char *const v[] = { "", "   \t", "# comment",
		"  # indented comment", "\r" };
	struct batch_line l;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(
		    batch_parse_line(v[i], &l, err, sizeof(err)), 0);
		assert_int_equal(l.n, 0);
		batch_line_free(&l);
	}
}

static void
test_addresses_and_options(void **state)
{
	struct batch_line l;
	char err[256];

	(void)state;
	assert_int_equal(
	    batch_parse_line("alice@example.test\n", &l, err, sizeof(err)), 1);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.addrs[0], "alice@example.test");
	assert_int_equal(l.key, KEY_TYPE_MAX);
	assert_false(l.usage_set);
	batch_line_free(&l);

	assert_int_equal(
	    batch_parse_line(
		"a@example.test\tb@example.test key=ec usage=digitalSignature,keyEncipherment # two",
		&l, err, sizeof(err)),
	    1);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.addrs[1], "b@example.test");
	assert_int_equal(l.key, KEY_EC256);
	assert_true(l.usage_set);
	assert_int_equal(
	    l.usage, USAGE_DIGITAL_SIGNATURE | USAGE_KEY_ENCIPHERMENT);
	batch_line_free(&l);

	assert_int_equal(
	    batch_parse_line("KEY=RSA c@example.test", &l, err, sizeof(err)),
	    1);
	assert_int_equal(l.key, KEY_RSA2048);
	batch_line_free(&l);
}

static void
test_errors(void **state)
{
	static const char *const v[] = {
		"a@example.test key=dsa",
		"a@example.test usage=signEverything",
		"a@example.test usage=",
		"a@example.test colour=blue",
		"a@example.test a@EXAMPLE.test",
		"not-an-address",
		"*@example.test",
		"key=ec",
	};
	struct batch_line l;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    batch_parse_line(v[i], &l, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		batch_line_free(&l);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blank_and_comment),
		cmocka_unit_test(test_addresses_and_options),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
