/*
 * flow_cert: one issuance (flow_issue, used by cert and renew) and the
 * cert command.  Order of work, chosen so that a crash at any point can be
 * resumed and the milter never sees a challenge without an entry:
 * certificate key stored with the order state, responders prepared (spool
 * entries), a mark that newOrder is under way, newOrder (or the stored
 * order resumed, or a lost one found at the CA), each authorization
 * fetched and armed, answered and polled, a pause after "ready",
 * finalize, download, and the certificate set published atomically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/proto/acct.h"
#include "acme/pki/cert.h"
#include "acme/pki/csr.h"
#include "acme/proto/order.h"
#include "acme/pki/p12.h"
#include "acme/app/responder.h"
#include "acme/app/seed.h"
#include "acme/app/store.h"
#include "common/log.h"

enum key_type
flow_key_type(const struct cli *c)
{
	if (c->key_type == KEYTYPE_EC) {
		return c->key_size == 384 ? KEY_EC384 : KEY_EC256;
	}
	switch (c->key_size) {
	case 3072:
		return KEY_RSA3072;
	case 4096:
		return KEY_RSA4096;
	default:
		return KEY_RSA2048;
	}
}

static bool
reusable(enum acme_status st)
{
	return st == ACME_ST_PENDING || st == ACME_ST_READY ||
	    st == ACME_ST_PROCESSING || st == ACME_ST_VALID;
}

/* True if the order is for exactly the addresses addrs[0..n). */
static bool
same_set(const struct acme_order *o, const char *const *addrs, size_t n)
{
	size_t i, j;
	bool found;

	if (o->n_identifiers != n) {
		return false;
	}
	for (i = 0; i < n; i++) {
		found = false;
		for (j = 0; j < o->n_identifiers && !found; j++) {
			found = o->identifiers[j].value != NULL &&
			    challenge_addr_equal(
				o->identifiers[j].value, addrs[i]);
		}
		if (!found) {
			return false;
		}
	}
	return true;
}

/*
 * A run killed between newOrder and storing its URL left an order the
 * store does not know (so->lost).  Find it in the account's orders list
 * (RFC 8555 §7.1.2.1) and store its URL, so get_order() resumes it
 * instead of ordering again.  Best effort: a CA without an orders list,
 * or any failure here, just means a new order.
 */
static void
adopt_lost_order(
    struct flow *f, const char *const *addrs, size_t n, struct store_order *so)
{
	struct acme_account acct;
	struct acme_order o;
	char **urls = NULL;
	size_t n_urls = 0, i;

	memset(&acct, 0, sizeof(acct));
	if (acct_fetch(f->ses->ac, &acct) != 0 || acct.orders == NULL ||
	    acct_orders(f->ses->ac, acct.orders, 1024, &urls, &n_urls) != 0) {
		log_info("%s: no orders list to look for an earlier order in",
		    addrs[0]);
		goto out;
	}
	for (i = 0; i < n_urls && so->url == NULL; i++) {
		memset(&o, 0, sizeof(o));
		if (order_fetch(f->ses->ac, urls[i], &o) == 0 &&
		    same_set(&o, addrs, n) && reusable(o.status)) {
			so->url = strdup(urls[i]);
			flow_say(f,
			    "found the order started before at the CA (%s)",
			    urls[i]);
			/* batch workers are quiet: keep it in the log */
			log_info("%s: resuming order %s found at the CA",
			    addrs[0], urls[i]);
			if (so->url != NULL) {
				(void)store_order_save_url(
				    f->set->config_dir, so);
			}
		}
		json_order_free(&o);
	}
out:
	acct_orders_free(urls, n_urls);
	json_account_free(&acct);
}

/*
 * Resume the stored order, adopt a lost one or create one; so->url set,
 * *ord filled.
 */
static int
get_order(struct flow *f, const char *const *addrs, size_t n,
    struct store_order *so, struct acme_order *ord, const char *replaces)
{
	struct acme_identifier ids[CLI_EMAIL_MAX];
	struct order_new_opts no;
	size_t i;

	if (so->url == NULL && so->lost) {
		adopt_lost_order(f, addrs, n, so);
		so->lost = false;
	}
	if (so->url != NULL && *so->url != '\0') {
		if (order_fetch(f->ses->ac, so->url, ord) == 0 &&
		    reusable(ord->status)) {
			flow_say(f, "resuming the order started before (%s)",
			    json_status_name(ord->status));
			return 0;
		}
		log_info("stored order %s is not usable; starting a new one",
		    so->url);
		json_order_free(ord);
		memset(ord, 0, sizeof(*ord));
		free(so->url);
		so->url = NULL;
		so->created = 0; /* a new order: marked afresh below */
	}
	for (i = 0; i < n; i++) {
		ids[i].type = (char *)"email";
		ids[i].value = (char *)addrs[i];
	}
	memset(&no, 0, sizeof(no));
	no.replaces = replaces;
	flow_say(f, "ordering a certificate for %s%s", addrs[0],
	    n > 1 ? " and more" : "");
	/* the mark: a kill from here until the URL is stored leaves an
	 * order the next run finds through the account's orders list */
	if (!f->set->cli->dry_run &&
	    store_order_save_url(f->set->config_dir, so) != 0) {
		return flow_fail(f, EX_CANTCREAT);
	}
	if (order_new(f->ses->ac, ids, n, &no, &so->url, ord) != 0) {
		return flow_acme_fail(f, "new order");
	}
	if (!f->set->cli->dry_run &&
	    store_order_save_url(f->set->config_dir, so) != 0) {
		return flow_fail(f, EX_CANTCREAT);
	}
	return 0;
}

static struct responder_job *
find_job(struct responder_job *jobs, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (challenge_addr_equal(jobs[i].addr, addr)) {
			return &jobs[i];
		}
	}
	return NULL;
}

/* Fetch every authorization; arm the pending ones. */
static int
arm_all(struct flow *f, const struct responder_ops *ops,
    struct responder_job *jobs, size_t n, const struct acme_order *ord,
    const char *order_url)
{
	const struct acme_challenge *ch;
	struct responder_job *j;
	struct acme_authz az;
	size_t i;
	int rc = -1;

	for (i = 0; i < ord->n_authorizations; i++) {
		memset(&az, 0, sizeof(az));
		if (order_authz_fetch(
			f->ses->ac, ord->authorizations[i], &az) != 0) {
			flow_acme_fail(f, "authorization");
			goto out;
		}
		j = az.identifier.value ? find_job(jobs, n, az.identifier.value)
					: NULL;
		if (j == NULL) {
			log_err(
			    "authorization %s is for an address we did not ask for",
			    ord->authorizations[i]);
			flow_fail(f, EX_PROTOCOL);
			goto out;
		}
		if (az.status == ACME_ST_VALID) {
			log_info("%s: already validated", j->addr);
			json_authz_free(&az);
			continue;
		}
		if (az.status != ACME_ST_PENDING) {
			log_err(
			    "%s: the authorization is %s; start again with a new order",
			    j->addr, json_status_name(az.status));
			flow_fail(f, EX_UNAVAILABLE);
			goto out;
		}
		ch = order_find_challenge(&az, "email-reply-00");
		if (ch == NULL || ch->url == NULL || ch->token == NULL) {
			log_err("%s: the CA offers no email-reply-00 challenge",
			    j->addr);
			flow_fail(f, EX_UNAVAILABLE);
			goto out;
		}
		snprintf(j->from, sizeof(j->from), "%s",
		    ch->from != NULL ? ch->from : "");
		j->token2 = strdup(ch->token);
		free(j->order_url);
		j->order_url = strdup(order_url);
		j->authz_url = strdup(ord->authorizations[i]);
		j->challenge_url = strdup(ch->url);
		j->expires = az.expires;
		j->posted = ch->status == ACME_ST_PROCESSING;
		json_authz_free(&az);
		if (j->token2 == NULL || j->order_url == NULL ||
		    j->authz_url == NULL || j->challenge_url == NULL) {
			flow_fail(f, EX_OSERR);
			goto out;
		}
		if (ops->arm(j) != 0) {
			goto out;
		}
		j->armed = true;
	}
	rc = 0;
out:
	json_authz_free(&az);
	return rc;
}

static int
answer_all(struct flow *f, const struct responder_ops *ops,
    struct responder_job *jobs, size_t n)
{
	struct acme_authz az;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (!jobs[i].armed) {
			continue;
		}
		if (ops->wait(&jobs[i]) != 0) {
			return -1;
		}
		if (responder_post(&jobs[i]) != 0) {
			return -1;
		}
		flow_say(f, "%s: waiting for the CA to check the reply",
		    jobs[i].addr);
		memset(&az, 0, sizeof(az));
		rc = order_authz_wait(f->ses->ac, jobs[i].authz_url,
		    time(NULL) + f->set->timeout, &az);
		if (rc != 0) {
			if (az.status == ACME_ST_PENDING) {
				log_err("%s: the CA did not decide within %d s",
				    jobs[i].addr, f->set->timeout);
				flow_fail(f, EX_TEMPFAIL);
			} else {
				flow_acme_fail(f, jobs[i].addr);
			}
			json_authz_free(&az);
			return -1;
		}
		json_authz_free(&az);
		flow_say(f, "%s: validated", jobs[i].addr);
	}
	return 0;
}

/* The passphrase for the PKCS#12: given, asked, or none (explicit). */
static int
passphrase(struct flow *f)
{
	struct cli *c = f->set->cli;

	if (c->passphrase != NULL || c->no_passphrase || c->dry_run) {
		return 0;
	}
	if (!f->set->interactive) {
		log_err(
		    "the PKCS#12 needs a passphrase: use --passphrase-file, --passphrase-env, --passphrase, or --no-passphrase");
		return flow_fail(f, EX_USAGE);
	}
	c->passphrase =
	    flow_prompt_secret("Passphrase for the PKCS#12 file", true);
	if (c->passphrase == NULL) {
		log_err("no passphrase entered");
		return flow_fail(f, EX_NOINPUT);
	}
	if (*c->passphrase == '\0') {
		c->no_passphrase = true;
	}
	return 0;
}

/* The --json line of an issued set; 0 / -1 (logged, nothing printed). */
static int
print_issued(const struct flow *f, const char *const *addrs, size_t n,
    const char *dir, time_t not_after)
{
	struct json_out *o = json_out_object();
	char ts[32];
	struct tm tm;

	gmtime_r(&not_after, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_out_str(o, "status", "issued");
	json_out_str(o, "server", f->set->server);
	json_out_strs(o, "addresses", addrs, n);
	json_out_str(o, "directory", dir != NULL ? dir : "");
	json_out_str(o, "not_after", ts);
	return json_out_print(o, stdout);
}

static int
print_dry_run(const char *order_url)
{
	struct json_out *o = json_out_object();

	json_out_str(o, "status", "dry-run");
	json_out_str(o, "order", order_url);
	return json_out_print(o, stdout);
}

/* Download, build PEMs and the PKCS#12, publish. */
static int
store_result(struct flow *f, const char *const *addrs, size_t n, unsigned usage,
    const struct key *k, const char *cert_url)
{
	struct order_chains ch;
	struct cert_chain chain;
	struct buf cert, issuers, full, kpem;
	struct store_certset s;
	unsigned char *p12 = NULL;
	size_t p12_len = 0;
	const char *pref = f->set->cli->preferred_chain;
	char *dir = NULL;
	time_t na = 0;
	int idx, rc = -1;

	memset(&ch, 0, sizeof(ch));
	memset(&chain, 0, sizeof(chain));
	buf_init(&cert, 0);
	buf_init(&issuers, 0);
	buf_init(&full, 0);
	buf_init(&kpem, 0);
	flow_say(f, "downloading the certificate");
	/* the alternates (Link rel="alternate") only when a chain is
	 * preferred, as certbot */
	if (order_download(f->ses->ac, cert_url, pref != NULL, &ch) != 0 ||
	    ch.n == 0) {
		flow_acme_fail(f, "certificate download");
		goto out;
	}
	if ((idx = order_select_chain(&ch, pref)) < 0) {
		log_err("the CA's certificate chains do not parse");
		flow_fail(f, EX_PROTOCOL);
		goto out;
	}
	if (idx > 0) {
		log_info("using the alternate chain %s (issuer \"%s\")",
		    ch.url[idx], pref);
	}
	if (cert_chain_parse_pem(ch.pem[idx], strlen(ch.pem[idx]), &chain) !=
	    0) {
		flow_fail(f, EX_PROTOCOL);
		goto out;
	}
	if (!cert_matches_key(&chain.certs[0], k)) {
		log_err("the issued certificate does not match our key");
		flow_fail(f, EX_PROTOCOL);
		goto out;
	}
	(void)cert_not_after(&chain.certs[0], &na);
	if (cert_to_pem(&chain.certs[0], &cert) != 0 ||
	    cert_chain_to_pem(&chain, 0, &full) != 0 ||
	    (chain.n > 1 && cert_chain_to_pem(&chain, 1, &issuers) != 0) ||
	    buf_puts(&issuers, "") != 0 || key_to_pem(k, &kpem) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	if (p12_build(k, &chain, addrs[0],
		f->set->cli->passphrase != NULL ? f->set->cli->passphrase : "",
		f->set->cli->no_passphrase || f->set->cli->passphrase == NULL,
		&p12, &p12_len) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	memset(&s, 0, sizeof(s));
	s.addrs = addrs;
	s.n_addrs = n;
	s.cert_pem = cert.data;
	s.chain_pem = issuers.data;
	s.fullchain_pem = full.data;
	s.key_pem = &kpem;
	s.p12 = p12;
	s.p12_len = p12_len;
	s.usage = usage;
	s.key_type = key_type_name(key_get_type(k));
	s.server = f->set->server;
	s.keep = (unsigned)f->set->conf->keep_sets;
	if (f->seed != NULL) {
		/* a seed lineage: where and as the seed wrote it */
		if (seed_save(f->seed, &s, &dir, &f->seed_pfx) != 0) {
			flow_fail(f, EX_CANTCREAT);
			goto out;
		}
	} else if (store_certs_save(f->set->config_dir, &s, &dir) != 0) {
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	f->stored_not_after = na;
	flow_say(f, "certificate for %s stored in %s (%s%s)", addrs[0], dir,
	    f->seed != NULL ? "NNNN_cert.pfx" : addrs[0],
	    f->seed != NULL                  ? ""
		: f->set->cli->no_passphrase ? ".p12, no passphrase"
					     : ".p12");
	/* a failing hook is reported but the set stays published */
	if (!f->set->cli->dry_run) {
		(void)flow_hook_run(f, addrs, n, dir);
	}
	if (f->set->cli->json && !f->worker &&
	    print_issued(f, addrs, n, dir, na) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	rc = 0;
out:
	if (p12 != NULL) {
		explicit_bzero(p12, p12_len);
		free(p12);
	}
	free(f->seed_pfx);
	f->seed_pfx = NULL;
	free(dir);
	buf_free_secret(&kpem);
	buf_free(&cert);
	buf_free(&issuers);
	buf_free(&full);
	cert_chain_free(&chain);
	order_chains_free(&ch);
	return rc;
}

/* A 5xx from the CA on finalize is retried (CASTLE fails now and then,
 * seed issue #3); the order is fetched again first, since the CA may have
 * finalized after all.  ord is replaced by the latest state. */
static int
finalize_retry(struct flow *f, const char *url, struct acme_order *ord,
    const unsigned char *csr, size_t csr_len)
{
	const struct acme_problem *p;
	struct acme_order tmp;
	int attempt;

	for (attempt = 1;; attempt++) {
		memset(&tmp, 0, sizeof(tmp));
		if (order_finalize(f->ses->ac, ord, csr, csr_len, &tmp) == 0) {
			json_order_free(&tmp);
			json_order_free(ord);
			memset(ord, 0, sizeof(*ord));
			ord->status = ACME_ST_PROCESSING;
			return 0;
		}
		json_order_free(&tmp);
		p = acme_last_problem(f->ses->ac);
		if (attempt >= FLOW_FINALIZE_TRIES || p == NULL ||
		    (p->status < 500 &&
			strcmp(problem_short(p), "serverInternal") != 0)) {
			return flow_acme_fail(f, "finalize");
		}
		flow_say(f,
		    "the CA failed to finalize (%s); trying again in %d s",
		    acme_last_error(f->ses->ac), 2 * attempt);
		if (!flow_sleep_ms(2000u * (unsigned)attempt)) {
			return flow_fail(f, EX_TEMPFAIL);
		}
		json_order_free(ord);
		memset(ord, 0, sizeof(*ord));
		if (order_fetch(f->ses->ac, url, ord) != 0) {
			return flow_acme_fail(f, "order");
		}
		if (ord->status != ACME_ST_READY) {
			return 0; /* processing or valid: wait for it */
		}
	}
}

static int
finalize(struct flow *f, const char *const *addrs, size_t n, unsigned usage,
    const struct key *k, const char *url, struct acme_order *ord)
{
	unsigned char *csr = NULL;
	size_t csr_len = 0;
	int rc = -1;

	if (ord->status == ACME_ST_PENDING) {
		json_order_free(ord);
		memset(ord, 0, sizeof(*ord));
		if (order_wait(f->ses->ac, url, ACME_ST_READY,
			time(NULL) + f->set->timeout, ord) != 0) {
			flow_acme_fail(f, "order");
			goto out;
		}
	}
	if (ord->status == ACME_ST_READY) {
		if (f->set->finalize_delay > 0) {
			flow_say(f,
			    "all addresses validated; finalizing in %d s",
			    f->set->finalize_delay);
			if (!flow_sleep_ms(
				(unsigned)f->set->finalize_delay * 1000u)) {
				flow_fail(f, EX_TEMPFAIL);
				goto out;
			}
		}
		if (csr_build(k, addrs, n, usage, &csr, &csr_len) != 0) {
			flow_fail(f, EX_SOFTWARE);
			goto out;
		}
		if (finalize_retry(f, url, ord, csr, csr_len) != 0) {
			goto out;
		}
	}
	if (ord->status != ACME_ST_VALID || ord->certificate == NULL) {
		json_order_free(ord);
		memset(ord, 0, sizeof(*ord));
		if (order_wait(f->ses->ac, url, ACME_ST_VALID,
			time(NULL) + f->set->timeout, ord) != 0 ||
		    ord->certificate == NULL) {
			/* a slow CA is not a refusal: 75, resume later */
			if (errno == ETIMEDOUT &&
			    ord->status == ACME_ST_PROCESSING) {
				flow_fail_kind(f, "processing");
			} else {
				flow_acme_fail(f, "order");
			}
			goto out;
		}
	}
	rc = 0;
out:
	free(csr);
	return rc;
}

const struct flow_outcome *
flow_issue(struct flow *f, const char *const *addrs, size_t n, unsigned usage,
    struct key *key, const char *replaces)
{
	const struct cli *c = f->set->cli;
	const struct responder_ops *ops = responder_get(f->set->responder);
	struct responder_job jobs[CLI_EMAIL_MAX];
	struct store_order so;
	struct acme_order ord;
	bool prepared = false, ok = false;
	size_t i;
	int r, rc = -1;

	memset(jobs, 0, sizeof(jobs));
	memset(&ord, 0, sizeof(ord));
	memset(&so, 0, sizeof(so));
	if (ops == NULL) {
		log_err("no responder for %s",
		    cli_responder_name(f->set->responder));
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	if (store_order_id(f->set->server, addrs, n, &so) != 0) {
		flow_fail(f, EX_OSERR);
		goto out;
	}
	if (!c->dry_run && store_order_load(f->set->config_dir, &so) != 0) {
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	/* the certificate key: given, resumed, loaded or generated */
	if (key != NULL) {
		key_free(so.key);
		so.key = NULL;
		if (c->rotate_key && !f->worker) {
			key = NULL;
		}
	}
	/* a batch worker's key is in the order state (batch.c) */
	if (key == NULL && so.key == NULL) {
		if (c->key_path != NULL && !f->worker) {
			so.key = key_load_user_file(c->key_path);
			if (so.key == NULL) {
				log_err("%s: cannot load the private key",
				    c->key_path);
				flow_fail(f, EX_NOINPUT);
				goto out;
			}
			/* (an error here shows in the check below) */
			if (store_key_compromised(f->set->config_dir, so.key) >
			    0) {
				log_err(
				    "%s: this key was revoked for keyCompromise (listed in %s/compromised-keys); use another key or none",
				    c->key_path, f->set->config_dir);
				flow_fail(f, EX_DATAERR);
				goto out;
			}
		} else {
			flow_say(f, "generating a %s key",
			    key_type_name(flow_key_type(c)));
			so.key = key_generate(flow_key_type(c));
			if (so.key == NULL) {
				flow_fail(f, EX_SOFTWARE);
				goto out;
			}
		}
		if (!c->dry_run &&
		    store_order_save_key(f->set->config_dir, &so) != 0) {
			flow_fail(f, EX_CANTCREAT);
			goto out;
		}
	}
	if (key == NULL) {
		key = so.key;
	}
	/* a key revoked for keyCompromise is never certified again: one
	 * kept by renew or a resumed order is replaced */
	r = store_key_compromised(f->set->config_dir, key);
	if (r < 0) {
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	if (r > 0) {
		log_notice(
		    "%s: the key to reuse was revoked for keyCompromise; generating a new %s key",
		    addrs[0], key_type_name(flow_key_type(c)));
		key_free(so.key);
		so.key = key_generate(flow_key_type(c));
		key = so.key;
		if (key == NULL) {
			flow_fail(f, EX_SOFTWARE);
			goto out;
		}
		if (!c->dry_run &&
		    store_order_save_key(f->set->config_dir, &so) != 0) {
			flow_fail(f, EX_CANTCREAT);
			goto out;
		}
	}

	/* a resumed order's entries are as old as the order: a rerun after
	 * its entries were removed must not make the challenge already on
	 * its way look like a replay (doc/protocol.md §2, check 8a) */
	for (i = 0; i < n; i++) {
		jobs[i].f = f;
		jobs[i].addr = addrs[i];
		jobs[i].created = so.created;
	}
	if (!c->dry_run) {
		prepared = true;
		for (i = 0; i < n; i++) {
			if (ops->prepare(&jobs[i]) != 0) {
				goto out;
			}
		}
	}
	if (get_order(f, addrs, n, &so, &ord, replaces) != 0) {
		goto out;
	}
	/* the stored order was not usable: the new one's entries start now */
	for (i = 0; i < n && so.created != 0; i++) {
		if (jobs[i].created < so.created) {
			jobs[i].created = so.created;
		}
	}
	if (c->dry_run) {
		flow_say(f,
		    "dry run: order %s created for %zu address(es); stopping before the challenge; nothing was written",
		    so.url, n);
		if (c->json && !f->worker && print_dry_run(so.url) != 0) {
			flow_fail(f, EX_SOFTWARE);
			goto out;
		}
		rc = 0;
		goto out;
	}
	for (i = 0; i < n && ops->ordered != NULL; i++) {
		jobs[i].order_url = strdup(so.url);
		if (jobs[i].order_url == NULL || ops->ordered(&jobs[i]) != 0) {
			flow_fail(f, EX_CANTCREAT);
			goto out;
		}
	}
	if (ord.status == ACME_ST_PENDING &&
	    arm_all(f, ops, jobs, n, &ord, so.url) != 0) {
		goto fail_order;
	}
	if (answer_all(f, ops, jobs, n) != 0) {
		goto fail_order;
	}
	if (finalize(f, addrs, n, usage, key, so.url, &ord) != 0) {
		goto fail_order;
	}
	if (store_result(f, addrs, n, usage, key, ord.certificate) != 0) {
		goto out;
	}
	(void)store_order_remove(f->set->config_dir, &so);
	ok = true;
	rc = 0;
	goto out;
fail_order:
	/* an order the CA gave up on cannot be resumed */
	if (f->out.ex == EX_UNAVAILABLE) {
		(void)store_order_remove(f->set->config_dir, &so);
	}
out:
	for (i = 0; i < n; i++) {
		if (prepared) {
			ops->finish(&jobs[i], ok);
		}
		if (jobs[i].token2 != NULL) {
			explicit_bzero(jobs[i].token2, strlen(jobs[i].token2));
		}
		free(jobs[i].token2);
		free(jobs[i].order_url);
		free(jobs[i].authz_url);
		free(jobs[i].challenge_url);
	}
	json_order_free(&ord);
	store_order_free(&so);
	if (rc == 0) {
		flow_outcome_clear(f);
	} else if (f->out.ex == 0) {
		flow_fail(f, EX_SOFTWARE);
	}
	return &f->out;
}

int
flow_cmd_cert(struct flow *f)
{
	const struct cli *c = f->set->cli;
	const struct flow_outcome *out;

	if (seed_is_tree(f->set->config_dir)) {
		return flow_seed_cert(f); /* where and as the seed writes */
	}
	if (passphrase(f) != 0) {
		return f->out.ex;
	}
	if (flow_connect(f) != 0 || flow_account(f, true) != 0) {
		return f->out.ex;
	}
	out = flow_issue(f, c->emails, c->n_emails, c->usage, NULL, NULL);
	return out->ex;
}

int
flow_cert_passphrase(struct flow *f)
{
	return passphrase(f);
}
