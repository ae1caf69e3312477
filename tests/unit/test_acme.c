/*
 * test_acme: client policy without a network: backoff clamps and jitter
 * bounds, the injected clock, revocation reason names, chain selection
 * on an empty set, and option checking.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "acme/acme.h"
#include "acme/order.h"

static unsigned slept;

static time_t
fake_now(void *arg)
{
	(void)arg;
	return 1000000;
}

static void
fake_sleep(void *arg, unsigned s)
{
	(void)arg;
	slept += s;
}

static struct acme_client *
client(long cap)
{
	struct acme_opts o;

	memset(&o, 0, sizeof(o));
	o.directory_url = "https://127.0.0.1:1/dir";
	o.retry_after_max = cap;
	o.clock.now = fake_now;
	o.clock.sleep = fake_sleep;
	return acme_new(&o);
}

static void
test_backoff(void **state)
{
	struct acme_client *c = client(60);
	unsigned b;
	int i;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < 50; i++) {
		b = acme_backoff(c, 30, 5); /* Retry-After wins, + <= 2 s */
		assert_in_range(b, 30, 32);
		b = acme_backoff(c, -1, 5); /* default, tiny jitter */
		assert_in_range(b, 5, 5);
		b = acme_backoff(c, 3600, 5); /* capped */
		assert_in_range(b, 60, 62);
		assert_int_equal(acme_backoff(c, 0, 5), 0);
	}
	assert_int_equal(acme_now(c), 1000000);
	slept = 0;
	acme_sleep(c, 7);
	assert_int_equal(slept, 7);
	assert_int_equal(acme_get_stats(c)->badnonce_retries, 0);
	assert_int_equal(acme_get_stats(c)->last_retry_after, -1);
	assert_null(acme_get_directory(c));
	assert_string_equal(acme_last_error(c), "");
	acme_free(c);
}

static void
test_post_needs_account(void **state)
{
	struct acme_client *c = client(0);
	struct acme_reply r;

	(void)state;
	assert_int_equal(
	    acme_post(c, "https://127.0.0.1:1/x", NULL, NULL, false, NULL, &r),
	    -1);
	acme_reply_free(&r);
	acme_free(c);
	assert_null(acme_new(NULL));
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_int_equal(order_reason_parse("keyCompromise"), 1);
	assert_int_equal(order_reason_parse("superseded"), 4);
	assert_int_equal(order_reason_parse("cessationOfOperation"), 5);
	assert_int_equal(order_reason_parse("0"), 0);
	assert_int_equal(order_reason_parse("3"), 3);
	assert_int_equal(order_reason_parse("2"), -1); /* cACompromise */
	assert_int_equal(order_reason_parse("bogus"), -1);
	assert_int_equal(order_reason_parse(NULL), -1);
}

static void
test_select_empty(void **state)
{
	struct order_chains ch;

	(void)state;
	memset(&ch, 0, sizeof(ch));
	assert_int_equal(order_select_chain(&ch, "X"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_post_needs_account),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_select_empty),
	};

	acme_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
