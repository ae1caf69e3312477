/*
 * test_acme: client policy without a network: backoff clamps and jitter
 * bounds, the injected clock, revocation reason names, chain selection
 * on an empty set, and option checking; the problem recorded when the
 * directory cannot be fetched, against a one-shot HTTP server on
 * loopback.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme/proto/acme.h"
#include "acme/proto/order.h"

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
	assert_int_equal(order_reason_code("keyCompromise"), 1);
	assert_int_equal(order_reason_code("superseded"), 4);
	assert_int_equal(order_reason_code("CESSATIONOFOPERATION"), 5);
	assert_int_equal(order_reason_code("unspecified"), 0);
	assert_int_equal(order_reason_code("3"), -1); /* names only */
	assert_int_equal(order_reason_code("cACompromise"), -1);
	assert_int_equal(order_reason_code("bogus"), -1);
	assert_string_equal(order_reason_name(3), "affiliationChanged");
	assert_string_equal(order_reason_name(2), "?");
}

static void
test_select_empty(void **state)
{
	struct order_chains ch;

	(void)state;
	memset(&ch, 0, sizeof(ch));
	assert_int_equal(order_select_chain(&ch, "X"), -1);
}

/* A loopback HTTP server answering one request with a canned reply. */
struct one_shot {
	int fd;
	const char *reply;
	pthread_t th;
};

static void *
one_shot_run(void *arg)
{
	struct one_shot *o = arg;
	char req[4096];
	size_t got = 0;
	ssize_t n;
	int c;

	if ((c = accept(o->fd, NULL, NULL)) < 0) {
		return NULL;
	}
	/* read the request head, then answer and close */
	while (got < sizeof(req) - 1 &&
	    (n = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL) {
			break;
		}
	}
	(void)!write(c, o->reply, strlen(o->reply));
	close(c);
	return NULL;
}

/* Listen on 127.0.0.1 (any port); the port, or -1. */
static int
one_shot_start(struct one_shot *o, const char *reply)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	o->reply = reply;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((o->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(o->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(o->fd, 1) < 0 ||
	    getsockname(o->fd, (struct sockaddr *)&sa, &len) < 0) {
		return -1;
	}
	if (reply == NULL) {
		/* nobody listens: the port is closed again */
		close(o->fd);
		o->fd = -1;
	} else if (pthread_create(&o->th, NULL, one_shot_run, o) != 0) {
		return -1;
	}
	return ntohs(sa.sin_port);
}

static void
one_shot_stop(struct one_shot *o)
{
	if (o->fd >= 0) {
		pthread_join(o->th, NULL);
		close(o->fd);
	}
}

#define DIR_JSON                                                               \
	"{\"newNonce\":\"http://x/n\",\"newAccount\":\"http://x/a\","          \
	"\"newOrder\":\"http://x/o\"}"

static const struct {
	const char *name;
	const char *reply; /* NULL: nothing listens */
	int rc;
	const char *type; /* short problem type, NULL on success */
	long status;
	const char *detail; /* substring of the problem's text */
} dir_cases[] = {
	{ "unreachable", NULL, -1, "transport", 0, "no HTTP response" },
	{ "404 html",
	    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
	    "Content-Length: 9\r\nConnection: close\r\n\r\nnot found",
	    -1, "http", 404, "HTTP 404" },
	{ "404 problem",
	    "HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: application/problem+json\r\n"
	    "Content-Length: 53\r\nConnection: close\r\n\r\n"
	    "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"x\":1}",
	    -1, "malformed", 404, "malformed" },
	{ "200 not a directory",
	    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	    "Content-Length: 6\r\nConnection: close\r\n\r\n<html>",
	    -1, "http", 200, "not an ACME directory" },
	{ "200 directory",
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 75\r\nConnection: close\r\n\r\n" DIR_JSON,
	    0, NULL, 0, NULL },
};

static void
test_directory_problem(void **state)
{
	struct acme_opts o;
	struct acme_client *c;
	struct one_shot srv;
	const struct acme_problem *p;
	char url[64];
	size_t i;
	int port;

	(void)state;
	for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
		port = one_shot_start(&srv, dir_cases[i].reply);
		assert_true(port > 0);
		snprintf(
		    url, sizeof(url), "http://127.0.0.1:%d/nonexistent", port);
		memset(&o, 0, sizeof(o));
		o.directory_url = url;
		o.no_retry = true;
		o.http.connect_timeout = 5;
		o.http.timeout = 10;
		c = acme_new(&o);
		assert_non_null(c);
		print_message("directory: %s\n", dir_cases[i].name);
		assert_int_equal(acme_directory(c), dir_cases[i].rc);
		one_shot_stop(&srv);
		p = acme_last_problem(c);
		if (dir_cases[i].type == NULL) {
			assert_null(p);
			assert_non_null(acme_get_directory(c));
			assert_string_equal(
			    acme_get_directory(c)->new_order, "http://x/o");
		} else {
			assert_non_null(p);
			assert_string_equal(
			    problem_short(p), dir_cases[i].type);
			assert_int_equal(p->status, dir_cases[i].status);
			assert_non_null(
			    strstr(acme_last_error(c), dir_cases[i].detail));
			assert_null(acme_get_directory(c));
		}
		acme_free(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_post_needs_account),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_select_empty),
		cmocka_unit_test(test_directory_problem),
	};

	acme_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
