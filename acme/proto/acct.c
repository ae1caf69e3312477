/*
 * acct: account operations (RFC 8555 §7.3) on a struct acme_client.
 * newAccount and onlyReturnExisting are signed with "jwk"; everything
 * else with the account's kid.  The EAB MAC key and the account key
 * never reach a log line.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/proto/acct.h"
#include "acme/proto/jws.h"
#include "common/log.h"

/* Parse an account body if there is one (some CAs send none). */
static int
acct_parse(const struct acme_reply *r, struct acme_account *out)
{
	if (out == NULL) {
		return 0;
	}
	memset(out, 0, sizeof(*out));
	if (r->body.len == 0) {
		return 0;
	}
	return json_parse_account(r->body.data, r->body.len, out);
}

static int
acct_new(struct acme_client *c, const struct key *k,
    const struct acct_opts *opts, bool only_existing, struct acme_account *out,
    bool *created)
{
	const struct acme_directory *d;
	struct acme_reply r;
	char *jwk = NULL, *eab = NULL, *payload = NULL;
	int ret = -1;

	acme_reply_init(&r);
	if (acme_directory(c) < 0) {
		return -1;
	}
	d = acme_get_directory(c);
	if (!only_existing) {
		if (d->terms_of_service != NULL && !opts->agree_tos) {
			log_err("acme: the CA requires agreeing to its terms "
				"of service (%s)",
			    d->terms_of_service);
			return -1;
		}
		if (d->eab_required &&
		    (opts->eab_kid == NULL || opts->eab_hmac == NULL)) {
			log_err("acme: the CA requires External Account "
				"Binding (key id and MAC key)");
			return -1;
		}
		if (opts->eab_kid != NULL && opts->eab_hmac != NULL) {
			if ((jwk = json_build_jwk(k)) == NULL ||
			    (eab = jws_eab(opts->eab_kid, opts->eab_hmac,
				 d->new_account, jwk)) == NULL) {
				goto out;
			}
		}
	}
	payload = only_existing
	    ? json_build_new_account(NULL, 0, false, NULL, true)
	    : json_build_new_account(
		  opts->contact, opts->n_contact, opts->agree_tos, eab, false);
	if (payload == NULL) {
		goto out;
	}
	if (acme_post(c, d->new_account, payload, k, true, NULL, &r) < 0) {
		if (!only_existing ||
		    strcmp(acme_reply_type(&r), "accountDoesNotExist") != 0) {
			log_debug("acme: newAccount: %s", acme_reply_error(&r));
		}
		goto out;
	}
	if (r.location == NULL) {
		log_err("acme: newAccount: no Location in the reply");
		goto out;
	}
	if (acct_parse(&r, out) < 0 || acme_set_account(c, k, r.location) < 0) {
		goto out;
	}
	if (created != NULL) {
		*created = r.status == 201;
	}
	log_debug("acme: account %s (%s)", r.location,
	    r.status == 201 ? "created" : "existing");
	ret = 0;
out:
	free(jwk);
	free(eab);
	free(payload);
	acme_reply_free(&r);
	return ret;
}

int
acct_register(struct acme_client *c, const struct key *k,
    const struct acct_opts *opts, struct acme_account *out, bool *created)
{
	struct acct_opts none;

	if (opts == NULL) {
		memset(&none, 0, sizeof(none));
		opts = &none;
	}
	return acct_new(c, k, opts, false, out, created);
}

int
acct_find(struct acme_client *c, const struct key *k, struct acme_account *out)
{
	return acct_new(c, k, NULL, true, out, NULL);
}

/* POST payload (NULL: POST-as-GET) to the account URL. */
static int
acct_post(struct acme_client *c, const char *payload, const char *what,
    struct acme_account *out)
{
	struct acme_reply r;
	int ret = -1;

	if (acme_kid(c) == NULL) {
		log_err("acme: %s: no account", what);
		return -1;
	}
	if (acme_post(c, acme_kid(c), payload, NULL, false, NULL, &r) < 0) {
		log_debug("acme: %s: %s", what, acme_reply_error(&r));
		goto out;
	}
	if (acct_parse(&r, out) < 0) {
		goto out;
	}
	ret = 0;
out:
	acme_reply_free(&r);
	return ret;
}

int
acct_fetch(struct acme_client *c, struct acme_account *out)
{
	return acct_post(c, NULL, "account", out);
}

int
acct_key_change(struct acme_client *c, const struct key *new_key)
{
	const struct acme_directory *d;
	struct acme_reply r;
	char *inner = NULL;
	int ret = -1;

	acme_reply_init(&r);
	if (acme_directory(c) < 0) {
		return -1;
	}
	d = acme_get_directory(c);
	if (d->key_change == NULL || acme_kid(c) == NULL ||
	    acme_account_key(c) == NULL) {
		log_err("acme: keyChange: no keyChange URL or no account");
		return -1;
	}
	inner = jws_key_change(
	    new_key, acme_account_key(c), d->key_change, acme_kid(c));
	if (inner == NULL) {
		goto out;
	}
	if (acme_post(c, d->key_change, inner, NULL, false, NULL, &r) < 0) {
		log_debug("acme: keyChange: %s%s%s", acme_reply_error(&r),
		    r.status == 409 ? ": the new key has an account: " : "",
		    r.status == 409 && r.location != NULL ? r.location : "");
		goto out;
	}
	if (acme_set_account(c, new_key, acme_kid(c)) < 0) {
		goto out;
	}
	ret = 0;
out:
	free(inner);
	acme_reply_free(&r);
	return ret;
}

int
acct_deactivate(struct acme_client *c, struct acme_account *out)
{
	char *payload = json_build_status("deactivated");
	int rc;

	if (payload == NULL) {
		return -1;
	}
	rc = acct_post(c, payload, "account deactivation", out);
	free(payload);
	return rc;
}

void
acct_orders_free(char **urls, size_t n)
{
	size_t i;

	for (i = 0; urls != NULL && i < n; i++) {
		free(urls[i]);
	}
	free(urls);
}

int
acct_orders(struct acme_client *c, const char *orders_url, size_t max,
    char ***urls, size_t *n)
{
	struct acme_reply r;
	char **all = NULL, **page = NULL, **grown, *next = NULL;
	size_t total = 0, npage = 0, i, pages = 0;
	int rc = -1;

	*urls = NULL;
	*n = 0;
	if (orders_url == NULL || (next = strdup(orders_url)) == NULL) {
		return -1;
	}
	/* pages are bounded too: a server linking a page to itself ends */
	while (next != NULL && total < max && pages++ < 64) {
		acme_reply_init(&r);
		if (acme_post(c, next, NULL, NULL, false, NULL, &r) != 0 ||
		    json_parse_orders_list(
			r.body.data, r.body.len, &page, &npage) != 0) {
			acme_reply_free(&r);
			goto out;
		}
		free(next);
		next = NULL;
		for (i = 0; i < r.n_links; i++) {
			if (strcmp(r.links[i].rel, "next") == 0) {
				next = strdup(r.links[i].url);
				break;
			}
		}
		acme_reply_free(&r);
		if (npage > max - total) {
			npage = max - total;
		}
		grown = realloc(all, (total + npage + 1) * sizeof(*all));
		if (grown == NULL) {
			goto out;
		}
		all = grown;
		for (i = 0; i < npage; i++) {
			all[total++] = page[i];
			page[i] = NULL;
		}
		acct_orders_free(page, npage);
		page = NULL;
		npage = 0;
	}
	*urls = all;
	*n = total;
	all = NULL;
	rc = 0;
out:
	acct_orders_free(page, npage);
	acct_orders_free(all, total);
	free(next);
	return rc;
}
