/*
 * flow_renew: the renew command.  Every certificate set under
 * CONFIG/certs whose certificate expires within the window (--renew-within
 * days, default 30, or earlier when the CA's RFC 9773 renewalInfo window
 * has started;
 * --force: all) is issued again for the same addresses and key usage,
 * keeping the key unless --rotate-key.  -e limits renewal to sets holding
 * that address.  Exit 0 when everything due was renewed (or nothing was
 * due).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/flow.h"
#include "acme/cert.h"
#include "acme/order.h"
#include "acme/store.h"
#include "common/fsutil.h"
#include "common/log.h"

struct renew_state {
	struct flow *f;
	unsigned due, done, failed;
	bool connected;
};

static bool
wanted(const struct flow *f, const struct store_lineage *l)
{
	size_t i, k;

	if (f->cli->n_emails == 0) {
		return true;
	}
	for (i = 0; i < f->cli->n_emails; i++) {
		for (k = 0; k < l->n_addrs; k++) {
			if (challenge_addr_equal(
				f->cli->emails[i], l->addrs[k])) {
				return true;
			}
		}
	}
	return false;
}

/* Is l due?  1 yes, 0 no, -1 error. */
static int
is_due(struct renew_state *st, const struct store_lineage *l,
    struct cert_chain *chain)
{
	struct flow *f = st->f;
	struct acme_renewal_info ri;
	time_t na = 0, now = time(NULL);

	if (cert_not_after(&chain->certs[0], &na) != 0) {
		return -1;
	}
	if (f->cli->force) {
		return 1;
	}
	/* RFC 9773 can only make renewal earlier than the day window */
	if (st->connected) {
		memset(&ri, 0, sizeof(ri));
		if (order_renewal_info(f->ac, &chain->certs[0], &ri, NULL) ==
		    0) {
			bool ari_due = ri.start <= now;
			log_info("%s: renewalInfo window starts %ld", l->name,
			    (long)ri.start);
			json_renewal_info_free(&ri);
			if (ari_due) {
				return 1;
			}
		}
	}
	return na - now <= (time_t)f->cli->renew_days * 86400;
}

static int
renew_one(const struct store_lineage *l, void *arg)
{
	struct renew_state *st = arg;
	struct flow *f = st->f;
	struct cert_chain chain;
	struct key *k = NULL;
	char *path = NULL, *pem = NULL, *id = NULL;
	const char *addrs[100];
	size_t len, i;
	int due;

	memset(&chain, 0, sizeof(chain));
	if (!wanted(f, l)) {
		return 0;
	}
	if (l->server != NULL && strcmp(l->server, f->server) != 0) {
		log_info("%s: issued by %s, not %s; skipped", l->name,
		    l->server, f->server);
		return 0;
	}
	path = store_path(l->dir, "cert.pem");
	pem = path != NULL ? fs_read_file(path, 1024 * 1024, &len) : NULL;
	if (pem == NULL || cert_chain_parse_pem(pem, len, &chain) != 0) {
		log_err("%s: cannot read the certificate", l->name);
		st->failed++;
		goto out;
	}
	due = is_due(st, l, &chain);
	if (due <= 0) {
		if (due < 0) {
			st->failed++;
		}
		flow_say(f, "%s: not due for renewal", l->name);
		goto out;
	}
	st->due++;
	flow_say(f, "%s: renewing", l->name);
	free(path);
	path = store_path(l->dir, "privkey.pem");
	if (!f->cli->rotate_key && path != NULL) {
		k = key_load_file(path);
		if (k == NULL) {
			log_err("%s: cannot load the key; use --rotate-key",
			    l->name);
			st->failed++;
			goto out;
		}
	}
	for (i = 0; i < l->n_addrs; i++) {
		addrs[i] = l->addrs[i];
	}
	id = f->cli->dry_run ? NULL : cert_id(&chain.certs[0]);
	if (acme_get_directory(f->ac) == NULL ||
	    acme_get_directory(f->ac)->renewal_info == NULL) {
		free(id);
		id = NULL;
	}
	if (flow_issue(f, addrs, l->n_addrs, l->usage, k, id) != 0) {
		st->failed++;
		f->ex = 0; /* keep going; reported at the end */
		goto out;
	}
	st->done++;
out:
	free(id);
	key_free(k);
	cert_chain_free(&chain);
	free(pem);
	free(path);
	return flow_stopping() ? -1 : 0;
}

int
flow_cmd_renew(struct flow *f)
{
	struct renew_state st;

	memset(&st, 0, sizeof(st));
	st.f = f;
	if (flow_cert_passphrase(f) != 0) {
		return f->ex;
	}
	if (flow_connect(f) != 0 || flow_account(f, true) != 0) {
		return f->ex;
	}
	st.connected = true;
	if (store_certs_foreach(f->config_dir, renew_one, &st) < 0) {
		return f->ex ? f->ex : EX_SOFTWARE;
	}
	flow_say(f, "renew: %u due, %u renewed, %u failed", st.due, st.done,
	    st.failed);
	if (f->cli->json) {
		printf("{\"due\":%u,\"renewed\":%u,\"failed\":%u}\n", st.due,
		    st.done, st.failed);
	}
	return st.failed ? EX_UNAVAILABLE : 0;
}
