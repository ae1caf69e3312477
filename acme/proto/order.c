/*
 * order: issuance steps on a struct acme_client (RFC 8555 §7.4, §7.5,
 * §7.6) and RFC 9773 renewal information.  Each function is one step so
 * callers can interleave their own work and resume from stored URLs.
 * Polling honours Retry-After and stops at the caller's deadline or the
 * object's expiry, whichever is first; waits go through acme_sleep().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/proto/order.h"
#include "common/b64url.h"
#include "common/log.h"

#define ORDER_PEM_CHAIN     "application/pem-certificate-chain"
#define ORDER_DEFAULT_LIMIT 3600 /* seconds of polling without a deadline */

int
order_new(struct acme_client *c, const struct acme_identifier *ids, size_t n,
    const struct order_new_opts *opts, char **url, struct acme_order *out)
{
	const struct acme_directory *d;
	struct acme_reply r;
	char *payload = NULL;
	int ret = -1;

	*url = NULL;
	memset(out, 0, sizeof(*out));
	acme_reply_init(&r);
	if (n == 0 || acme_directory(c) < 0) {
		return -1;
	}
	d = acme_get_directory(c);
	payload =
	    json_build_new_order(ids, n, opts != NULL ? opts->replaces : NULL,
		opts != NULL ? opts->profile : NULL);
	if (payload == NULL) {
		goto out;
	}
	if (acme_post(c, d->new_order, payload, NULL, false, NULL, &r) < 0) {
		log_debug("acme: newOrder %s:%s%s: %s", ids[0].type,
		    ids[0].value, n > 1 ? " (and more)" : "",
		    acme_reply_error(&r));
		goto out;
	}
	if (r.location == NULL) {
		log_err("acme: newOrder: no Location in the reply");
		goto out;
	}
	if (json_parse_order(r.body.data, r.body.len, out) < 0) {
		goto out;
	}
	*url = r.location;
	r.location = NULL;
	ret = 0;
out:
	free(payload);
	acme_reply_free(&r);
	return ret;
}

/* POST-as-GET url; the reply is left in r (caller frees). */
static int
order_get(struct acme_client *c, const char *url, const char *what,
    struct acme_reply *r)
{
	if (acme_post(c, url, NULL, NULL, false, NULL, r) < 0) {
		log_debug("acme: %s %s: %s", what, url, acme_reply_error(r));
		return -1;
	}
	return 0;
}

/* What order_get_parsed() parses the reply as. */
enum order_obj { ORDER_OBJ_ORDER, ORDER_OBJ_AUTHZ, ORDER_OBJ_MAX };

/*
 * POST-as-GET url and parse the reply into out, a struct of the kind that
 * is zeroed or holds an earlier reply (freed first).  The reply's
 * Retry-After goes to *retry_after unless that is NULL.  0 / -1 (logged).
 */
static int
order_get_parsed(struct acme_client *c, const char *url, enum order_obj kind,
    void *out, long *retry_after)
{
	static const char *const what[ORDER_OBJ_MAX] = { "order",
		"authorization" };
	struct acme_reply r;
	int rc = -1;

	if (order_get(c, url, what[kind], &r) == 0) {
		if (retry_after != NULL) {
			*retry_after = r.retry_after;
		}
		if (kind == ORDER_OBJ_ORDER) {
			json_order_free(out);
			rc = json_parse_order(r.body.data, r.body.len, out);
		} else {
			json_authz_free(out);
			rc = json_parse_authz(r.body.data, r.body.len, out);
		}
	}
	acme_reply_free(&r);
	return rc == 0 ? 0 : -1;
}

int
order_fetch(struct acme_client *c, const char *url, struct acme_order *out)
{
	memset(out, 0, sizeof(*out));
	return order_get_parsed(c, url, ORDER_OBJ_ORDER, out, NULL);
}

int
order_authz_fetch(
    struct acme_client *c, const char *url, struct acme_authz *out)
{
	memset(out, 0, sizeof(*out));
	return order_get_parsed(c, url, ORDER_OBJ_AUTHZ, out, NULL);
}

const struct acme_challenge *
order_find_challenge(const struct acme_authz *a, const char *type)
{
	size_t i;

	for (i = 0; i < a->n_challenges; i++) {
		if (strcmp(a->challenges[i].type, type) == 0) {
			return &a->challenges[i];
		}
	}
	return NULL;
}

int
order_challenge_respond(
    struct acme_client *c, const char *url, struct acme_challenge *out)
{
	struct acme_reply r;
	int ret = -1;

	if (out != NULL) {
		memset(out, 0, sizeof(*out));
	}
	/* RFC 8555 erratum 5729: the payload is the empty object. */
	if (acme_post(c, url, "{}", NULL, false, NULL, &r) < 0) {
		log_debug("acme: challenge %s: %s", url, acme_reply_error(&r));
		goto out;
	}
	if (out != NULL &&
	    json_parse_challenge(r.body.data, r.body.len, out) < 0) {
		goto out;
	}
	ret = 0;
out:
	acme_reply_free(&r);
	return ret;
}

/*
 * Seconds to wait before the next poll, or -1 once limit has come.  A
 * wait that would pass limit (a Retry-After longer than the time left) is
 * cut to end at limit, so the object is polled once more there.
 */
static long
order_next_poll(struct acme_client *c, long retry_after, time_t limit)
{
	time_t now = acme_now(c);
	unsigned wait;

	if (now >= limit) {
		return -1;
	}
	if (retry_after > ORDER_POLL_MAX) {
		retry_after = ORDER_POLL_MAX;
	}
	wait = acme_backoff(c, retry_after, ORDER_POLL_DEFAULT);
	if (wait == 0) {
		wait = 1;
	}
	if (now + (time_t)wait > limit) {
		wait = (unsigned)(limit - now);
	}
	return (long)wait;
}

static time_t
order_limit(struct acme_client *c, time_t deadline, time_t expires)
{
	time_t limit =
	    deadline != 0 ? deadline : acme_now(c) + ORDER_DEFAULT_LIMIT;

	if (expires != 0 && expires < limit) {
		limit = expires;
	}
	return limit;
}

/* Keep an object's own error as the client's last problem, for callers
 * that report or serialise it. */
static void
order_note_error(
    const char *what, const char *url, const struct acme_problem *p)
{
	struct buf b;

	buf_init(&b, 4096);
	if (p != NULL && problem_format(p, &b) == 0) {
		log_err("acme: %s %s: %s", what, url, b.data);
	} else {
		log_err("acme: %s %s: invalid", what, url);
	}
	buf_free(&b);
}

int
order_authz_wait(struct acme_client *c, const char *url, time_t deadline,
    struct acme_authz *out)
{
	const struct acme_problem *err;
	long retry_after, wait;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (;;) {
		if (order_get_parsed(
			c, url, ORDER_OBJ_AUTHZ, out, &retry_after) < 0) {
			return -1;
		}
		if (out->status != ACME_ST_PENDING &&
		    out->status != ACME_ST_PROCESSING) {
			break;
		}
		wait = order_next_poll(
		    c, retry_after, order_limit(c, deadline, out->expires));
		if (wait < 0) {
			log_err("acme: authorization %s: still %s at the "
				"deadline",
			    url, json_status_name(out->status));
			return -1;
		}
		acme_sleep(c, (unsigned)wait);
	}
	if (out->status == ACME_ST_VALID) {
		return 0;
	}
	err = NULL;
	for (i = 0; i < out->n_challenges && err == NULL; i++) {
		err = out->challenges[i].error;
	}
	order_note_error("authorization", url, err);
	return -1;
}

int
order_wait(struct acme_client *c, const char *url, enum acme_status want,
    time_t deadline, struct acme_order *out)
{
	long retry_after, wait;

	memset(out, 0, sizeof(*out));
	for (;;) {
		if (order_get_parsed(
			c, url, ORDER_OBJ_ORDER, out, &retry_after) < 0) {
			return -1;
		}
		if (out->status == want ||
		    (want == ACME_ST_READY && out->status == ACME_ST_VALID) ||
		    (out->status != ACME_ST_PENDING &&
			out->status != ACME_ST_PROCESSING &&
			out->status != ACME_ST_READY)) {
			break;
		}
		if (out->status == ACME_ST_READY && want == ACME_ST_VALID) {
			/* nothing will change until finalize */
			log_err("acme: order %s: ready, not finalized", url);
			return -1;
		}
		wait = order_next_poll(
		    c, retry_after, order_limit(c, deadline, out->expires));
		if (wait < 0) {
			log_err("acme: order %s: still %s at the deadline", url,
			    json_status_name(out->status));
			errno = ETIMEDOUT;
			return -1;
		}
		acme_sleep(c, (unsigned)wait);
	}
	if (out->status == want ||
	    (want == ACME_ST_READY && out->status == ACME_ST_VALID)) {
		return 0;
	}
	order_note_error("order", url, out->error);
	return -1;
}

int
order_finalize(struct acme_client *c, const struct acme_order *o,
    const unsigned char *csr, size_t csr_len, struct acme_order *out)
{
	struct acme_reply r;
	char *b64 = NULL, *payload = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	acme_reply_init(&r);
	if (o->finalize == NULL) {
		log_err("acme: finalize: the order has no finalize URL");
		return -1;
	}
	if ((b64 = b64url_encode(csr, csr_len)) == NULL ||
	    (payload = json_build_finalize(b64)) == NULL) {
		goto out;
	}
	if (acme_post(c, o->finalize, payload, NULL, false, NULL, &r) < 0) {
		log_err(
		    "acme: finalize %s: %s", o->finalize, acme_reply_error(&r));
		goto out;
	}
	if (json_parse_order(r.body.data, r.body.len, out) < 0) {
		goto out;
	}
	ret = 0;
out:
	free(b64);
	free(payload);
	acme_reply_free(&r);
	return ret;
}

void
order_chains_free(struct order_chains *ch)
{
	size_t i;

	if (ch == NULL) {
		return;
	}
	for (i = 0; i < ch->n; i++) {
		free(ch->pem[i]);
		free(ch->url[i]);
	}
	memset(ch, 0, sizeof(*ch));
}

/* Fetch one chain into ch; the reply's alternates are copied to alt. */
static int
order_fetch_chain(struct acme_client *c, const char *url,
    struct order_chains *ch, char **alt, size_t *n_alt)
{
	struct acme_reply r;
	size_t i;
	int ret = -1;

	if (acme_post(c, url, NULL, NULL, false, ORDER_PEM_CHAIN, &r) < 0) {
		log_debug(
		    "acme: certificate %s: %s", url, acme_reply_error(&r));
		goto out;
	}
	if (r.body.len == 0 ||
	    strstr(r.body.data, "-----BEGIN CERTIFICATE-----") == NULL) {
		log_err("acme: certificate %s: not a PEM chain", url);
		goto out;
	}
	if ((ch->url[ch->n] = strdup(url)) == NULL) {
		goto out;
	}
	ch->pem[ch->n] = buf_steal(&r.body);
	if (ch->pem[ch->n] == NULL) {
		free(ch->url[ch->n]);
		goto out;
	}
	ch->n++;
	for (i = 0; alt != NULL && i < r.n_links; i++) {
		if (strcmp(r.links[i].rel, "alternate") == 0 &&
		    *n_alt < ORDER_CHAINS_MAX - 1) {
			if ((alt[*n_alt] = strdup(r.links[i].url)) == NULL) {
				goto out;
			}
			(*n_alt)++;
		}
	}
	ret = 0;
out:
	acme_reply_free(&r);
	return ret;
}

int
order_download(struct acme_client *c, const char *cert_url, bool alternates,
    struct order_chains *out)
{
	char *alt[ORDER_CHAINS_MAX];
	size_t n_alt = 0, i;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (order_fetch_chain(
		c, cert_url, out, alternates ? alt : NULL, &n_alt) < 0) {
		goto out;
	}
	for (i = 0; i < n_alt; i++) {
		if (order_fetch_chain(c, alt[i], out, NULL, NULL) < 0) {
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; i < n_alt; i++) {
		free(alt[i]);
	}
	if (ret < 0) {
		order_chains_free(out);
	}
	return ret;
}

int
order_select_chain(const struct order_chains *ch, const char *issuer)
{
	struct cert_chain cc;
	char *cn;
	size_t i;
	bool hit;

	if (ch->n == 0) {
		return -1;
	}
	if (issuer == NULL || *issuer == '\0') {
		return 0;
	}
	for (i = 0; i < ch->n; i++) {
		if (cert_chain_parse_pem(ch->pem[i], strlen(ch->pem[i]), &cc) <
		    0) {
			return -1;
		}
		cn = cc.n > 0 ? cert_issuer_cn(&cc.certs[cc.n - 1]) : NULL;
		hit = cn != NULL && strcmp(cn, issuer) == 0;
		free(cn);
		cert_chain_free(&cc);
		if (hit) {
			return (int)i;
		}
	}
	log_warn("acme: the CA offers no chain whose top certificate is "
		 "issued by \"%s\"; using the default chain",
	    issuer);
	return 0;
}

int
order_revoke(struct acme_client *c, const struct cert *cert, int reason,
    const struct key *cert_key)
{
	const struct acme_directory *d;
	struct acme_reply r;
	char *b64 = NULL, *payload = NULL;
	int ret = -1;

	acme_reply_init(&r);
	if (acme_directory(c) < 0) {
		return -1;
	}
	d = acme_get_directory(c);
	if (d->revoke_cert == NULL) {
		log_err("acme: the CA offers no revokeCert");
		return -1;
	}
	if ((b64 = b64url_encode(cert->der, cert->len)) == NULL ||
	    (payload = json_build_revoke(b64, reason)) == NULL) {
		goto out;
	}
	if (acme_post(c, d->revoke_cert, payload, cert_key, cert_key != NULL,
		NULL, &r) < 0) {
		log_debug("acme: revokeCert: %s", acme_reply_error(&r));
		goto out;
	}
	ret = 0;
out:
	free(b64);
	free(payload);
	acme_reply_free(&r);
	return ret;
}

static const struct {
	const char *name;
	int code;
} order_reasons[] = {
	{ "unspecified", ORDER_REASON_UNSPECIFIED },
	{ "keyCompromise", ORDER_REASON_KEY_COMPROMISE },
	{ "affiliationChanged", ORDER_REASON_AFFILIATION_CHANGED },
	{ "superseded", ORDER_REASON_SUPERSEDED },
	{ "cessationOfOperation", ORDER_REASON_CESSATION },
};

const char *
order_reason_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(order_reasons) / sizeof(order_reasons[0]); i++) {
		if (order_reasons[i].code == code) {
			return order_reasons[i].name;
		}
	}
	return "?";
}

int
order_reason_code(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(order_reasons) / sizeof(order_reasons[0]); i++) {
		if (strcasecmp(name, order_reasons[i].name) == 0) {
			return order_reasons[i].code;
		}
	}
	return -1;
}

int
order_renewal_info(struct acme_client *c, const struct cert *cert,
    struct acme_renewal_info *out, long *retry_after)
{
	const struct acme_directory *d;
	struct acme_reply r;
	struct buf url;
	char *id = NULL;
	size_t n;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (retry_after != NULL) {
		*retry_after = -1;
	}
	acme_reply_init(&r);
	buf_init(&url, 4096);
	if (acme_directory(c) < 0) {
		goto out;
	}
	d = acme_get_directory(c);
	if (d->renewal_info == NULL) {
		errno = ENOTSUP;
		goto out;
	}
	if ((id = cert_id(cert)) == NULL) {
		goto out;
	}
	n = strlen(d->renewal_info);
	if (buf_printf(&url, "%s%s%s", d->renewal_info,
		n > 0 && d->renewal_info[n - 1] == '/' ? "" : "/", id) < 0) {
		goto out;
	}
	if (acme_get(c, url.data, "application/json", &r) < 0) {
		log_err(
		    "acme: renewalInfo %s: %s", url.data, acme_reply_error(&r));
		goto out;
	}
	if (json_parse_renewal_info(r.body.data, r.body.len, out) < 0) {
		goto out;
	}
	if (retry_after != NULL) {
		*retry_after = r.retry_after;
	}
	ret = 0;
out:
	free(id);
	buf_free(&url);
	acme_reply_free(&r);
	return ret;
}
