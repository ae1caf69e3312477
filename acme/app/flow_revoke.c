/*
 * flow_revoke: the revoke command.  --cert-path is a PEM certificate or a
 * PKCS#12 (passphrase from the options or asked).  The request is signed
 * by the account key when we have an account for the server, else (or
 * when the CA refuses it: not the issuing account) by the certificate's
 * own key: --key-path or the key inside the PKCS#12.  A revocation is
 * recorded with the stored set whose cert.pem is the revoked certificate
 * (renew then leaves it alone), and a key revoked for keyCompromise is
 * listed in CONFIG/compromised-keys (never certified again).
 *
 * Also the retire command: an address's sets move to CONFIG/retired/ and
 * its stored order is forgotten, so renew and batch no longer see it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/app/flow.h"
#include "acme/pki/cert.h"
#include "acme/proto/order.h"
#include "acme/pki/p12.h"
#include "acme/app/store.h"
#include "common/fsutil.h"
#include "common/log.h"

#define CERT_FILE_MAX (1024u * 1024)

static bool
contains(const char *data, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp(data + i, needle, n) == 0) {
			return true;
		}
	}
	return false;
}

/* A PEM certificate (not an armoured PKCS#12). */
static bool
is_pem(const char *data, size_t len)
{
	return contains(data, len, "-----BEGIN CERTIFICATE") &&
	    !contains(data, len, "-----BEGIN PKCS12");
}

/* Load --cert-path into chain (and *key from a PKCS#12). */
static int
load_cert(struct flow *f, struct cert_chain *chain, struct key **key)
{
	struct cli *c = f->set->cli;
	char *data = NULL, *pp = NULL;
	size_t len = 0;
	int rc = -1;

	data = fs_read_user_file(c->cert_path, CERT_FILE_MAX, &len);
	if (data == NULL) {
		log_err_errno("%s: cannot read the certificate", c->cert_path);
		return flow_fail(f, EX_NOINPUT);
	}
	if (is_pem(data, len)) {
		if (cert_chain_parse_pem(data, len, chain) != 0) {
			log_err("%s: not a PEM certificate", c->cert_path);
			flow_fail(f, EX_DATAERR);
			goto out;
		}
		rc = 0;
		goto out;
	}
	/* PKCS#12: try the given passphrase, or the empty one (cert
	 * --no-passphrase computes the MAC with "") and none, then ask */
	if ((c->passphrase == NULL &&
		p12_read(data, len, "", key, chain) == 0) ||
	    p12_read(data, len, c->passphrase, key, chain) == 0) {
		rc = 0;
		goto out;
	}
	if (errno == EACCES && c->passphrase == NULL && f->set->interactive) {
		pp =
		    flow_prompt_secret("Passphrase of the PKCS#12 file", false);
		if (pp != NULL && p12_read(data, len, pp, key, chain) == 0) {
			rc = 0;
			goto out;
		}
	}
	if (errno == EACCES) {
		log_err("%s: wrong or missing passphrase for the PKCS#12 file",
		    c->cert_path);
	} else {
		log_err("%s: neither a PEM certificate nor a readable PKCS#12",
		    c->cert_path);
	}
	flow_fail(f, EX_DATAERR);
out:
	if (pp != NULL) {
		explicit_bzero(pp, strlen(pp));
		free(pp);
	}
	free(data);
	return rc;
}

/*
 * After the CA revoked chain's certificate: record it with the stored set
 * holding it and, for keyCompromise, list the key (ckey, or the set's
 * privkey.pem) as compromised.  0 / -1 (f->out).
 */
static int
record(struct flow *f, const struct cert_chain *chain, const struct key *ckey)
{
	const struct cli *c = f->set->cli;
	const char *cfg = f->set->config_dir;
	int reason = c->reason >= 0 ? c->reason : ORDER_REASON_UNSPECIFIED;
	struct key *own = NULL;
	char *dir = NULL, *kpath = NULL;
	int r, rc = -1;

	r = store_certs_find(
	    cfg, chain->certs[0].der, chain->certs[0].len, &dir);
	if (r < 0) {
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	if (r == 0) {
		log_info(
		    "%s: not a certificate stored under %s; nothing to record",
		    c->cert_path, cfg);
	} else if (store_mark_revoked(
		       dir, time(NULL), order_reason_name(reason)) != 0) {
		log_err(
		    "%s: revoked, but not recorded: renew may renew it", dir);
		flow_fail(f, EX_CANTCREAT);
		goto out;
	} else {
		flow_say(f, "recorded in %s; renew will not renew it", dir);
	}
	if (reason != ORDER_REASON_KEY_COMPROMISE) {
		rc = 0;
		goto out;
	}
	if (ckey == NULL && dir != NULL) {
		kpath = store_path(dir, "privkey.pem");
		own = kpath != NULL ? key_load_file(kpath) : NULL;
		if (own != NULL && cert_matches_key(&chain->certs[0], own)) {
			ckey = own;
		}
	}
	if (ckey == NULL) {
		log_warn(
		    "the compromised key is unknown (no --key-path, PKCS#12 or stored set): it is not blocked from reuse");
		rc = 0;
		goto out;
	}
	if (store_key_compromised_add(cfg, ckey) != 0) {
		log_err("the compromised key could not be recorded");
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	flow_say(
	    f, "the key is listed in %s/compromised-keys: never reused", cfg);
	rc = 0;
out:
	key_free(own);
	free(kpath);
	free(dir);
	return rc;
}

int
flow_cmd_revoke(struct flow *f)
{
	struct cli *c = f->set->cli;
	struct cert_chain chain;
	struct key *ckey = NULL, *acct_key = NULL;
	char *kid = NULL;
	int r, rc;

	memset(&chain, 0, sizeof(chain));
	if (load_cert(f, &chain, &ckey) != 0) {
		goto out;
	}
	if (c->key_path != NULL) {
		key_free(ckey);
		ckey = key_load_user_file(c->key_path);
		if (ckey == NULL) {
			log_err("%s: cannot load the private key", c->key_path);
			flow_fail(f, EX_NOINPUT);
			goto out;
		}
	}
	if (ckey != NULL && !cert_matches_key(&chain.certs[0], ckey)) {
		log_err("the private key does not belong to %s", c->cert_path);
		flow_fail(f, EX_DATAERR);
		goto out;
	}
	if (c->dry_run) {
		flow_say(f, "dry run: would revoke %s (reason %s)",
		    c->cert_path,
		    order_reason_name(c->reason >= 0 ? c->reason : 0));
		goto out;
	}
	if (flow_connect(f) != 0) {
		goto out;
	}
	r = store_account_load(
	    f->set->config_dir, f->set->server, &acct_key, &kid);
	key_free(acct_key);
	free(kid);
	acct_key = NULL;
	rc = -1;
	/* the certificate's own key, when asked for it (--key-path) */
	if (ckey != NULL && c->key_path != NULL) {
		flow_say(f, "revoking %s, signed with the certificate key",
		    c->cert_path);
		rc = order_revoke(f->ses->ac, &chain.certs[0], c->reason, ckey);
	} else if (r == 0) {
		if (flow_account(f, false) != 0) {
			goto out;
		}
		flow_say(f, "revoking %s, signed with the account key",
		    c->cert_path);
		rc = order_revoke(f->ses->ac, &chain.certs[0], c->reason, NULL);
		if (rc != 0 && ckey != NULL &&
		    strcmp(problem_short(acme_last_problem(f->ses->ac)),
			"alreadyRevoked") != 0) {
			flow_say(f,
			    "the account may not be the issuer; trying the certificate key");
			rc = order_revoke(
			    f->ses->ac, &chain.certs[0], c->reason, ckey);
		}
	} else if (ckey != NULL) {
		flow_say(f, "revoking %s, signed with the certificate key",
		    c->cert_path);
		rc = order_revoke(f->ses->ac, &chain.certs[0], c->reason, ckey);
	} else {
		log_err(
		    "no account for %s and no certificate key: use --key-path or a PKCS#12",
		    f->set->server);
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	if (rc != 0) {
		flow_acme_fail(f, "revoke");
		goto out;
	}
	flow_say(f, "%s revoked", c->cert_path);
	if (record(f, &chain, ckey) != 0) {
		goto out;
	}
	if (c->json) {
		struct json_out *o = json_out_object();
		json_out_str(o, "status", "revoked");
		json_out_int(o, "reason", c->reason >= 0 ? c->reason : 0);
		if (json_out_print(o, stdout) != 0) {
			flow_fail(f, EX_SOFTWARE);
		}
	}
out:
	key_free(ckey);
	cert_chain_free(&chain);
	return f->out.ex;
}

/* Forget the stored order of addrs at server, if any. */
static void
forget_order(const struct flow *f, const char *server, const char *const *addrs,
    size_t n)
{
	struct store_order so;

	if (store_order_id(server, addrs, n, &so) == 0) {
		(void)store_order_remove(f->set->config_dir, &so);
	}
}

struct retire_state {
	struct flow *f;
	const char *addr;
	char *name;  /* the set's name (first address), once found */
	char *other; /* a set that holds addr but is not named after it */
	char *server;
	char *addrs[CLI_EMAIL_MAX];
	size_t n_addrs;
};

static int
retire_find(const struct store_lineage *l, void *arg)
{
	struct retire_state *st = arg;
	size_t i;

	if (challenge_addr_equal(l->name, st->addr)) {
		st->name = strdup(l->name);
		st->server = l->server != NULL ? strdup(l->server) : NULL;
		for (i = 0; i < l->n_addrs && i < CLI_EMAIL_MAX; i++) {
			st->addrs[i] = strdup(l->addrs[i]);
			if (st->addrs[i] == NULL) {
				return -1;
			}
			st->n_addrs++;
		}
		return st->name != NULL ? 1 : -1;
	}
	for (i = 0; i < l->n_addrs && st->other == NULL; i++) {
		if (challenge_addr_equal(l->addrs[i], st->addr)) {
			st->other = strdup(l->name);
		}
	}
	return 0;
}

static void
retire_state_free(struct retire_state *st)
{
	size_t i;

	free(st->name);
	free(st->other);
	free(st->server);
	for (i = 0; i < st->n_addrs; i++) {
		free(st->addrs[i]);
	}
}

/* Retire one address.  0 / -1 (f->out). */
static int
retire_one(struct flow *f, const char *addr)
{
	const struct cli *c = f->set->cli;
	struct retire_state st;
	char *to = NULL;
	int r, rc = -1;

	memset(&st, 0, sizeof(st));
	st.f = f;
	st.addr = addr;
	r = store_certs_foreach(f->set->config_dir, retire_find, &st);
	if (r < 0) {
		log_err("%s: cannot look up its certificate set", addr);
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	if (st.name == NULL) {
		if (st.other != NULL) {
			log_err("%s: part of the set %s; retire %s", addr,
			    st.other, st.other);
		} else {
			log_err("%s: no certificate set under %s/certs", addr,
			    f->set->config_dir);
		}
		flow_fail(f, EX_NOINPUT);
		goto out;
	}
	if (c->dry_run) {
		flow_say(f,
		    "dry run: would move %s/certs/%s and its sets to %s/retired/ and forget its stored order",
		    f->set->config_dir, st.name, f->set->config_dir);
		rc = 0;
		goto out;
	}
	if (store_certs_retire(f->set->config_dir, st.name, &to) != 0) {
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	forget_order(f, st.server != NULL ? st.server : f->set->server,
	    (const char *const *)st.addrs, st.n_addrs);
	forget_order(f, f->set->server, &addr, 1);
	flow_say(f, "%s: retired to %s", st.name, to);
	rc = 0;
out:
	free(to);
	retire_state_free(&st);
	return rc;
}

int
flow_cmd_retire(struct flow *f)
{
	const struct cli *c = f->set->cli;
	size_t i;

	for (i = 0; i < c->n_emails; i++) {
		if (retire_one(f, c->emails[i]) != 0 && flow_stopping()) {
			break;
		}
	}
	return f->out.ex;
}
