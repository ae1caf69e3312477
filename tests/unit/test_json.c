/*
 * test_json: CA replies into typed structs: order, authorization with an
 * RFC 8823 challenge (token, from), challenge errors, problem documents
 * with subproblems and their display form, directory meta, renewal
 * info, RFC 3339 times; malformed input refused; payload builders.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme/proto/json.h"

#define S(x) x, strlen(x)

static void
test_order(void **state)
{
	const char *t =
	    "{\"status\":\"pending\",\"expires\":\"2026-01-02T03:04:05Z\","
	    "\"identifiers\":[{\"type\":\"email\",\"value\":\"a@example.com\"},"
	    "{\"type\":\"dns\",\"value\":\"example.com\"}],"
	    "\"authorizations\":[\"https://ca/authz/1\",\"https://ca/authz/2\"],"
	    "\"finalize\":\"https://ca/order/1/finalize\",\"x-unknown\":5}";
	struct acme_order o;

	(void)state;
	assert_int_equal(json_parse_order(S(t), &o), 0);
	assert_int_equal(o.status, ACME_ST_PENDING);
	assert_int_equal(o.expires, 1767323045);
	assert_int_equal(o.n_identifiers, 2);
	assert_string_equal(o.identifiers[0].type, "email");
	assert_string_equal(o.identifiers[0].value, "a@example.com");
	assert_int_equal(o.n_authorizations, 2);
	assert_string_equal(o.authorizations[1], "https://ca/authz/2");
	assert_string_equal(o.finalize, "https://ca/order/1/finalize");
	assert_null(o.certificate);
	assert_null(o.error);
	json_order_free(&o);
}

static void
test_order_invalid(void **state)
{
	const char *t =
	    "{\"status\":\"invalid\",\"identifiers\":[],\"authorizations\":[],"
	    "\"finalize\":\"f\",\"error\":{\"type\":"
	    "\"urn:ietf:params:acme:error:rejectedIdentifier\","
	    "\"detail\":\"no\"}}";
	struct acme_order o;

	(void)state;
	assert_int_equal(json_parse_order(S(t), &o), 0);
	assert_int_equal(o.status, ACME_ST_INVALID);
	assert_non_null(o.error);
	assert_string_equal(json_problem_short(o.error), "rejectedIdentifier");
	json_order_free(&o);
}

static void
test_authz_email_reply(void **state)
{
	const char *t =
	    "{\"identifier\":{\"type\":\"email\",\"value\":\"a@example.com\"},"
	    "\"status\":\"pending\",\"expires\":\"2026-01-02T03:04:05+01:00\","
	    "\"challenges\":[{\"type\":\"email-reply-00\",\"url\":"
	    "\"https://ca/chall/1\",\"status\":\"pending\",\"from\":"
	    "\"ca@ca.example\",\"token\":\"DGyRejmCefe7v4NfDGDKfA\"},"
	    "{\"type\":\"http-01\",\"url\":\"https://ca/chall/2\","
	    "\"status\":\"invalid\",\"validated\":\"2025-12-31T23:59:59.5Z\","
	    "\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
	    "\"detail\":\"refused\"}}]}";
	struct acme_authz a;

	(void)state;
	assert_int_equal(json_parse_authz(S(t), &a), 0);
	assert_int_equal(a.status, ACME_ST_PENDING);
	assert_int_equal(a.expires, 1767323045 - 3600);
	assert_string_equal(a.identifier.type, "email");
	assert_false(a.wildcard);
	assert_int_equal(a.n_challenges, 2);
	assert_string_equal(a.challenges[0].type, "email-reply-00");
	assert_string_equal(a.challenges[0].from, "ca@ca.example");
	assert_string_equal(a.challenges[0].token, "DGyRejmCefe7v4NfDGDKfA");
	assert_null(a.challenges[0].error);
	assert_int_equal(a.challenges[1].status, ACME_ST_INVALID);
	assert_int_equal(a.challenges[1].validated, 1767225599);
	assert_string_equal(a.challenges[1].error->detail, "refused");
	json_authz_free(&a);
}

static void
test_challenge(void **state)
{
	const char *t = "{\"type\":\"email-reply-00\",\"url\":\"u\","
			"\"status\":\"processing\",\"from\":\"x@y\"}";
	struct acme_challenge c;

	(void)state;
	assert_int_equal(json_parse_challenge(S(t), &c), 0);
	assert_int_equal(c.status, ACME_ST_PROCESSING);
	assert_string_equal(c.from, "x@y");
	assert_null(c.token);
	json_challenge_free(&c);
}

static void
test_problem_subproblems(void **state)
{
	const char *t =
	    "{\"type\":\"urn:ietf:params:acme:error:compound\",\"detail\":"
	    "\"Errors during validation\",\"status\":403,\"subproblems\":[{"
	    "\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
	    "\"detail\":\"not ours\",\"identifier\":{\"type\":\"email\","
	    "\"value\":\"a@example.com\"}},{\"type\":"
	    "\"urn:ietf:params:acme:error:caa\",\"detail\":\"CAA\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"example.org\"}}]}";
	struct acme_problem p, *d;
	struct buf b;

	(void)state;
	assert_int_equal(json_parse_problem(S(t), &p), 0);
	assert_int_equal(p.status, 403);
	assert_string_equal(json_problem_short(&p), "compound");
	assert_int_equal(p.n_sub, 2);
	assert_string_equal(p.sub[0].identifier.value, "a@example.com");
	assert_string_equal(json_problem_short(&p.sub[1]), "caa");
	buf_init(&b, 0);
	assert_int_equal(json_problem_format(&p, &b), 0);
	assert_string_equal(b.data,
	    "urn:ietf:params:acme:error:compound: Errors during validation; "
	    "email a@example.com: "
	    "urn:ietf:params:acme:error:rejectedIdentifier: not ours; "
	    "dns example.org: urn:ietf:params:acme:error:caa: CAA");
	buf_free(&b);
	d = json_problem_dup(&p);
	assert_non_null(d);
	assert_string_equal(d->sub[1].identifier.type, "dns");
	json_problem_free(d);
	free(d);
	json_problem_free(&p);
}

static void
test_directory(void **state)
{
	const char *t =
	    "{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\","
	    "\"revokeCert\":\"r\",\"keyChange\":\"k\",\"renewalInfo\":\"ri\","
	    "\"meta\":{\"termsOfService\":\"https://ca/tos\","
	    "\"externalAccountRequired\":true,\"caaIdentities\":[\"ca.example\"],"
	    "\"profiles\":{\"smime\":\"S/MIME\"}}}";
	struct acme_directory d;

	(void)state;
	assert_int_equal(json_parse_directory(S(t), &d), 0);
	assert_string_equal(d.renewal_info, "ri");
	assert_string_equal(d.terms_of_service, "https://ca/tos");
	assert_true(d.eab_required);
	assert_int_equal(d.n_caa, 1);
	assert_int_equal(d.n_profiles, 1);
	assert_string_equal(d.profiles[0], "smime");
	json_directory_free(&d);
}

static void
test_renewal_info(void **state)
{
	const char *t =
	    "{\"suggestedWindow\":{\"start\":\"2026-01-01T00:00:00Z\","
	    "\"end\":\"2026-01-02T00:00:00Z\"},\"explanationURL\":\"e\"}";
	struct acme_renewal_info r;

	(void)state;
	assert_int_equal(json_parse_renewal_info(S(t), &r), 0);
	assert_int_equal(r.end - r.start, 86400);
	assert_string_equal(r.explanation_url, "e");
	json_renewal_info_free(&r);
}

static const struct {
	const char *name;
	const char *text;
} bad_orders[] = {
	{ "not-json", "{" },
	{ "array", "[]" },
	{ "no-status",
	    "{\"identifiers\":[],\"authorizations\":[],\"finalize\":\"f\"}" },
	{ "status-number",
	    "{\"status\":1,\"identifiers\":[],\"authorizations\":[],\"finalize\":\"f\"}" },
	{ "bad-expires",
	    "{\"status\":\"ready\",\"expires\":\"tomorrow\",\"identifiers\":[],\"authorizations\":[],\"finalize\":\"f\"}" },
	{ "identifier-no-value",
	    "{\"status\":\"ready\",\"identifiers\":[{\"type\":\"dns\"}],\"authorizations\":[],\"finalize\":\"f\"}" },
	{ "authz-not-string",
	    "{\"status\":\"ready\",\"identifiers\":[],\"authorizations\":[1],\"finalize\":\"f\"}" },
	{ "duplicate-key",
	    "{\"status\":\"ready\",\"status\":\"valid\",\"identifiers\":[],\"authorizations\":[],\"finalize\":\"f\"}" },
};

static void
test_bad_input(void **state)
{
	struct acme_order o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_orders) / sizeof(bad_orders[0]); i++) {
		if (json_parse_order(S(bad_orders[i].text), &o) >= 0) {
			fail_msg("%s accepted", bad_orders[i].name);
		}
		json_order_free(&o);
	}
}

static void
test_builders(void **state)
{
	const char *contact[] = { "mailto:a@example.com" };
	struct acme_identifier ids[] = { { (char *)"email",
	    (char *)"j\xc3\xb6@example.com" } };
	struct buf b;
	char *s;

	(void)state;
	s = json_build_new_account(contact, 1, true, NULL, false);
	assert_string_equal(s,
	    "{\"contact\":[\"mailto:a@example.com\"],\"termsOfServiceAgreed\":true}");
	free(s);
	s = json_build_new_account(NULL, 0, false, NULL, true);
	assert_string_equal(s, "{\"onlyReturnExisting\":true}");
	free(s);
	s = json_build_new_order(ids, 1, "aki.serial", NULL);
	assert_string_equal(s,
	    "{\"identifiers\":[{\"type\":\"email\",\"value\":\"j\xc3\xb6@example.com\"}],"
	    "\"replaces\":\"aki.serial\"}");
	free(s);
	s = json_build_revoke("AAA", 4);
	assert_string_equal(s, "{\"certificate\":\"AAA\",\"reason\":4}");
	free(s);
	s = json_build_revoke("AAA", -1);
	assert_string_equal(s, "{\"certificate\":\"AAA\"}");
	free(s);
	s = json_build_status("deactivated");
	assert_string_equal(s, "{\"status\":\"deactivated\"}");
	free(s);
	buf_init(&b, 0);
	assert_int_equal(json_quote(&b, "a\"b\\c\n"), 0);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\"");
	assert_int_equal(json_quote(&b, "\xff"), -1);
	buf_free(&b);
}

static void
test_orders_list(void **state)
{
	static const char ok[] = "{\"orders\": [\"https://ca/o/1\", "
				 "\"https://ca/o/2\"]}";
	static const char bad[] = "{\"orders\": [\"https://ca/o/1\", 7]}";
	char **urls = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(json_parse_orders_list(ok, strlen(ok), &urls, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(urls[1], "https://ca/o/2");
	free(urls[0]);
	free(urls[1]);
	free(urls);
	assert_int_equal(
	    json_parse_orders_list(bad, strlen(bad), &urls, &n), -1);
	assert_int_equal(json_parse_orders_list("{}", 2, &urls, &n), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_order_invalid),
		cmocka_unit_test(test_authz_email_reply),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_problem_subproblems),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_renewal_info),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_orders_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
