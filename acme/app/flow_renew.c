/*
 * flow_renew: the renew command.  Every certificate set under
 * CONFIG/certs whose certificate expires within the window (--renew-within
 * days, default 30, or earlier when the CA's RFC 9773 renewalInfo window
 * has started;
 * --force: all) is issued again for the same addresses and key usage,
 * keeping the key unless --rotate-key (a key listed as compromised is
 * replaced, see flow_issue).  A set recorded as revoked by the revoke
 * command is never renewed, not even with --force: one info line says
 * what to do instead.  -e limits renewal to sets holding
 * that address.  Exit 0 when everything due was renewed (or nothing was
 * due).  Made for timers: with nothing due it prints nothing at all (no
 * connection is made without any stored set, and the responder and the
 * passphrase are settled only once a set is due); otherwise one line per
 * renewed set (issuance progress only with -v), then the sets not due.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/app/flow.h"
#include "acme/pki/cert.h"
#include "acme/proto/order.h"
#include "acme/app/seed.h"
#include "acme/app/store.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

struct renew_state {
	struct flow *f;
	unsigned due, done, failed, candidates;
	bool connected;
	bool pp_settled;    /* flow_cert_passphrase() done */
	unsigned seed_due;  /* seed lineages due (seed.h) */
	char *seed_account; /* the account id their renewal files name */
	struct buf not_due; /* lines, printed only when something was due */
};

static bool
wanted(const struct flow *f, const struct store_lineage *l)
{
	size_t i, k;

	if (f->set->cli->n_emails == 0) {
		return true;
	}
	for (i = 0; i < f->set->cli->n_emails; i++) {
		for (k = 0; k < l->n_addrs; k++) {
			if (challenge_addr_equal(
				f->set->cli->emails[i], l->addrs[k])) {
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
	if (f->set->cli->force) {
		return 1;
	}
	/* RFC 9773 can only make renewal earlier than the day window */
	if (st->connected) {
		memset(&ri, 0, sizeof(ri));
		if (order_renewal_info(
			f->ses->ac, &chain->certs[0], &ri, NULL) == 0) {
			bool ari_due = ri.start <= now;
			log_info("%s: renewalInfo window starts %ld", l->name,
			    (long)ri.start);
			json_renewal_info_free(&ri);
			if (ari_due) {
				return 1;
			}
		}
	}
	return na - now <= (time_t)f->set->cli->renew_days * 86400;
}

/* Is l one of ours to look at (-e, same server)? */
static bool
candidate(const struct flow *f, const struct store_lineage *l, bool say)
{
	if (!wanted(f, l)) {
		return false;
	}
	if (l->server != NULL && strcmp(l->server, f->set->server) != 0) {
		if (say) {
			log_info("%s: issued by %s, not %s; skipped", l->name,
			    l->server, f->set->server);
		}
		return false;
	}
	return true;
}

static int
count_one(const struct store_lineage *l, void *arg)
{
	struct renew_state *st = arg;

	if (!candidate(st->f, l, false)) {
		return 0;
	}
	/* revoked by us: a new certificate is a decision, not a renewal */
	if (l->revoked != 0) {
		log_info(
		    "%s: revoked (%s) with smime-acme revoke; not renewed: get a new one with 'smime-acme cert -e %s' or retire it with 'smime-acme retire -e %s'",
		    l->name, l->revoked_reason, l->name, l->name);
		return 0;
	}
	st->candidates++;
	return 0;
}

static void
day_of(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(out, outlen, "%Y-%m-%d", &tm) == 0) {
		snprintf(out, outlen, "?");
	}
}

/* The key a renewal keeps, from path (NULL: none could be named); NULL
 * when it cannot be loaded, logged and counted as a failed renewal. */
static struct key *
kept_key(struct renew_state *st, const char *name, const char *path)
{
	struct key *k = path != NULL ? key_load_file(path) : NULL;

	if (k == NULL) {
		log_err("%s: cannot load the key; use --rotate-key", name);
		st->failed++;
	}
	return k;
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
	char day[16];
	time_t na = 0;
	size_t len, i;
	int due;

	memset(&chain, 0, sizeof(chain));
	if (!candidate(f, l, true) || l->revoked != 0) {
		return 0; /* revoked: said by count_one */
	}
	path = store_path(l->dir, "cert.pem");
	pem = path != NULL ? fs_read_file(path, 1024 * 1024, &len) : NULL;
	if (pem == NULL || cert_chain_parse_pem(pem, len, &chain) != 0) {
		log_err("%s: cannot read the certificate", l->name);
		st->failed++;
		goto out;
	}
	due = is_due(st, l, &chain);
	if (due < 0) {
		log_err("%s: cannot read the certificate's expiry", l->name);
		st->failed++;
		goto out;
	}
	if (due == 0) {
		(void)cert_not_after(&chain.certs[0], &na);
		day_of(na, day, sizeof(day));
		(void)buf_printf(&st->not_due,
		    "%s: not due for renewal (expires %s)\n", l->name, day);
		goto out;
	}
	st->due++;
	flow_say(f, "%s: renewing", l->name);
	if (!st->pp_settled) {
		/* only now: a timer run with nothing due needs no decision */
		flow_warn_insecure(f);
		if (flow_responder_ready(f) != 0 ||
		    flow_cert_passphrase(f) != 0) {
			goto out;
		}
		st->pp_settled = true;
	}
	free(path);
	path = store_path(l->dir, "privkey.pem");
	if (!f->set->cli->rotate_key && path != NULL &&
	    (k = kept_key(st, l->name, path)) == NULL) {
		goto out;
	}
	for (i = 0; i < l->n_addrs; i++) {
		addrs[i] = l->addrs[i];
	}
	id = f->set->cli->dry_run ? NULL : cert_id(&chain.certs[0]);
	if (acme_get_directory(f->ses->ac) == NULL ||
	    acme_get_directory(f->ses->ac)->renewal_info == NULL) {
		free(id);
		id = NULL;
	}
	if (flow_issue(f, addrs, l->n_addrs, l->usage, k, id)->ex != 0) {
		st->failed++;
		flow_outcome_clear(f); /* keep going; reported at the end */
		goto out;
	}
	st->done++;
	if (!f->set->cli->quiet && f->set->cli->dry_run) {
		fprintf(stderr,
		    "smime-acme: %s: due; dry run: nothing renewed\n", l->name);
	} else if (!f->set->cli->quiet) {
		day_of(f->stored_not_after, day, sizeof(day));
		fprintf(stderr, "smime-acme: %s: renewed, valid until %s\n",
		    l->name, day);
	}
out:
	free(id);
	key_free(k);
	cert_chain_free(&chain);
	free(pem);
	free(path);
	if (st->due > 0 && !st->pp_settled) {
		return -1; /* no passphrase decision: f->out.ex says why */
	}
	return flow_stopping() ? -1 : 0;
}

/* Is seed lineage l one to renew now?  1 yes, 0 no (a line for not_due
 * when it is only not due yet). */
static int
seed_due(struct renew_state *st, const struct seed_lineage *l, bool say)
{
	const struct flow *f = st->f;
	struct store_lineage sl;
	char day[16];
	size_t i;

	memset(&sl, 0, sizeof(sl));
	for (i = 0; i < l->n_addrs; i++) {
		sl.addrs[i] = l->addrs[i];
	}
	sl.n_addrs = l->n_addrs;
	sl.name = l->name;
	sl.server = l->server;
	if (!candidate(f, &sl, say)) {
		return 0;
	}
	if (!l->autorenew) {
		if (say) {
			log_info("%s: autorenew is off in %s; not renewed",
			    l->name, l->conf);
		}
		return 0;
	}
	if (f->set->cli->force ||
	    l->not_after - time(NULL) <=
		(time_t)f->set->cli->renew_days * 86400) {
		return 1;
	}
	if (say) {
		day_of(l->not_after, day, sizeof(day));
		(void)buf_printf(&st->not_due,
		    "%s: not due for renewal (expires %s)\n", l->name, day);
	}
	return 0;
}

/* Renew seed lineage l with its saved settings into its certbot layout. */
static void
seed_renew_one(struct renew_state *st, struct seed_lineage *l)
{
	struct flow_seed_run r;
	struct flow *lf = &r.f;
	struct key *k = NULL;
	char *path = NULL, real[PATH_MAX], day[16];
	const char *addrs[SEED_ADDRS_MAX];
	size_t i;

	if (flow_seed_begin(st->f, l, &r) != 0) {
		st->failed++;
		goto out;
	}
	st->due++;
	flow_say(lf, "%s: renewing", l->name);
	flow_warn_insecure(lf);
	if (flow_responder_ready(lf) != 0 || flow_cert_passphrase(lf) != 0) {
		st->failed++;
		goto out;
	}
	path = store_path(l->live, "privkey.pem");
	if (!r.lc.rotate_key &&
	    (k = kept_key(st, l->name,
		 path != NULL && realpath(path, real) != NULL ? real : NULL)) ==
		NULL) {
		goto out;
	}
	for (i = 0; i < l->n_addrs; i++) {
		addrs[i] = l->addrs[i];
	}
	if (flow_issue(lf, addrs, l->n_addrs, l->usage, k, NULL)->ex != 0) {
		st->failed++;
		goto out;
	}
	st->done++;
	if (!r.lc.quiet && r.lc.dry_run) {
		fprintf(stderr,
		    "smime-acme: %s: due; dry run: nothing renewed\n", l->name);
	} else if (!r.lc.quiet) {
		day_of(lf->stored_not_after, day, sizeof(day));
		fprintf(stderr, "smime-acme: %s: renewed, valid until %s\n",
		    l->name, day);
	}
out:
	flow_seed_end(&r, st->f, l);
	key_free(k);
	free(path);
}

/*
 * The seed lineages (renewal/ *.conf of a certbot tree): count what is
 * due (renew false) or renew it (true).  A lineage of another certbot
 * client is skipped (said at -v); one that cannot be read is a failure.
 */
static int
seed_pass(struct renew_state *st, bool renew)
{
	const char *dir = st->f->set->config_dir;
	struct seed_lineage l;
	char why[512], **names = NULL;
	size_t n = 0, i;

	if (!seed_is_tree(dir)) {
		return 0;
	}
	if (seed_names(dir, &names, &n) < 0) {
		return -1;
	}
	for (i = 0; i < n && !flow_stopping(); i++) {
		if (seed_lineage_load(dir, names[i], &l, why, sizeof(why)) <
		    0) {
			if (l.foreign && !renew) {
				log_info(
				    "%s: %s; not ours, skipped", names[i], why);
			} else if (!renew && !l.foreign) {
				log_err("%s: cannot renew: %s", names[i], why);
				st->failed++;
			}
		} else if (seed_due(st, &l, !renew) == 1) {
			if (!renew) {
				st->seed_due++;
				if (st->seed_account == NULL &&
				    l.account != NULL) {
					st->seed_account = strdup(l.account);
				}
			} else {
				seed_renew_one(st, &l);
			}
		}
		seed_lineage_free(&l);
	}
	seed_names_free(names, n);
	return 0;
}

int
flow_cmd_renew(struct flow *f)
{
	struct renew_state st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.f = f;
	buf_init(&st.not_due, 0);
	f->renewing = true;
	f->terse = true;
	if (store_certs_foreach(f->set->config_dir, count_one, &st) < 0) {
		rc = EX_NOINPUT;
		goto out;
	}
	if (seed_pass(&st, false) < 0) {
		rc = EX_NOINPUT;
		goto out;
	}
	if (st.candidates > 0 || st.seed_due > 0) {
		if (st.seed_due > 0 &&
		    flow_seed_account(f, st.seed_account) < 0) {
			rc = f->out.ex;
			goto out;
		}
		if (flow_connect(f) != 0 || flow_account(f, true) != 0) {
			rc = f->out.ex;
			goto out;
		}
		st.connected = true;
		if (store_certs_foreach(f->set->config_dir, renew_one, &st) <
		    0) {
			rc = f->out.ex ? f->out.ex : EX_SOFTWARE;
			goto out;
		}
		if (st.seed_due > 0 && seed_pass(&st, true) < 0) {
			rc = EX_NOINPUT;
			goto out;
		}
	}
	/* nothing due: not a word, for cron and timers */
	if (!f->set->cli->quiet && st.not_due.data != NULL &&
	    (st.due > 0 || f->set->cli->verbose > 0)) {
		const char *p = st.not_due.data, *nl;
		while ((nl = strchr(p, '\n')) != NULL) {
			fprintf(stderr, "smime-acme: %.*s\n", (int)(nl - p), p);
			p = nl + 1;
		}
	}
	if (st.failed > 0) {
		log_err("renew: %u certificate(s) not renewed", st.failed);
	}
	rc = st.failed ? EX_UNAVAILABLE : 0;
	if (f->set->cli->json) {
		struct json_out *o = json_out_object();
		json_out_int(o, "due", st.due);
		json_out_int(o, "renewed", st.done);
		json_out_int(o, "failed", st.failed);
		if (json_out_print(o, stdout) != 0 && rc == 0) {
			rc = EX_SOFTWARE;
		}
	}
out:
	free(st.seed_account);
	buf_free(&st.not_due);
	return rc;
}
