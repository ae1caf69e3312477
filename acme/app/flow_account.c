/*
 * flow_account: the account command (show, --rollover to a new ES256 key,
 * --deactivate) and the spool command (list pending entries: address,
 * state, expiry; never token-part2) and spool-migrate (the database
 * spool's schema and grants).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/app/flow.h"
#include "acme/proto/acct.h"
#include "acme/app/store.h"
#include "common/log.h"
#include "common/spool.h"

int
flow_cmd_account(struct flow *f)
{
	struct acme_account a;
	struct key *nk = NULL;
	size_t i;

	memset(&a, 0, sizeof(a));
	if (flow_connect(f) != 0 || flow_account(f, false) != 0) {
		return f->out.ex;
	}
	if (f->set->cli->rollover) {
		if (f->set->cli->dry_run) {
			flow_say(f, "dry run: would replace the account key");
			return 0;
		}
		nk = key_generate(KEY_EC256);
		if (nk == NULL) {
			flow_fail(f, EX_SOFTWARE);
			return f->out.ex;
		}
		if (store_account_next(
			f->set->config_dir, f->set->server, nk) != 0) {
			key_free(nk);
			return EX_CANTCREAT;
		}
		if (acct_key_change(f->ses->ac, nk) != 0) {
			(void)store_account_next(
			    f->set->config_dir, f->set->server, NULL);
			key_free(nk);
			flow_acme_fail(f, "key rollover");
			return f->out.ex;
		}
		if (store_account_save(f->set->config_dir, f->set->server, nk,
			acme_kid(f->ses->ac)) != 0) {
			log_err(
			    "the CA now knows the new account key but it could not be stored; it is kept as account.key.next");
			key_free(nk);
			return EX_CANTCREAT;
		}
		(void)store_account_next(
		    f->set->config_dir, f->set->server, NULL);
		key_free(f->ses->own_key);
		f->ses->own_key = nk;
		f->ses->account_key = nk;
		flow_say(f, "account key replaced");
		return 0;
	}
	if (f->set->cli->deactivate) {
		if (f->set->cli->dry_run) {
			flow_say(f, "dry run: would deactivate the account");
			return 0;
		}
		if (acct_deactivate(f->ses->ac, &a) != 0) {
			flow_acme_fail(f, "deactivate");
			return f->out.ex;
		}
		json_account_free(&a);
		flow_say(f, "account deactivated");
		return 0;
	}
	if (acct_fetch(f->ses->ac, &a) != 0) {
		flow_acme_fail(f, "account");
		return f->out.ex;
	}
	if (f->set->cli->json) {
		struct json_out *o = json_out_object();
		json_out_str(o, "server", f->set->server);
		json_out_str(o, "account",
		    acme_kid(f->ses->ac) ? acme_kid(f->ses->ac) : "");
		json_out_str(o, "status", json_status_name(a.status));
		json_out_str(o, "thumbprint", f->ses->thumbprint);
		if (json_out_print(o, stdout) != 0) {
			json_account_free(&a);
			return EX_SOFTWARE;
		}
	} else {
		printf(
		    "server:     %s\naccount:    %s\nstatus:     %s\nkey:        %s\nthumbprint: %s\n",
		    f->set->server,
		    acme_kid(f->ses->ac) ? acme_kid(f->ses->ac) : "?",
		    json_status_name(a.status),
		    key_type_name(key_get_type(f->ses->account_key)),
		    f->ses->thumbprint);
		for (i = 0; i < a.n_contact; i++) {
			printf("contact:    %s\n", a.contact[i]);
		}
	}
	json_account_free(&a);
	return 0;
}

/* What `smime-acme spool` lists from. */
struct spool_list {
	const struct flow *f;
	struct spool *sp;
};

static int
print_entry(const struct spool_entry *e, void *arg)
{
	const struct spool_list *l = arg;
	const struct flow *f = l->f;
	char ts[32], rwhy[256];
	struct tm tm;
	time_t rt;
	bool refused;
	size_t i;

	for (i = 0; f->set->cli->n_emails > 0 && i < f->set->cli->n_emails;
	     i++) {
		if (challenge_addr_equal(e->mailbox, f->set->cli->emails[i])) {
			break;
		}
	}
	if (f->set->cli->n_emails > 0 && i == f->set->cli->n_emails) {
		return 0;
	}
	gmtime_r(&e->expires, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* the milter's last refusal of a challenge mail for this request */
	refused =
	    spool_refusal(l->sp, e->mailbox, &rt, rwhy, sizeof(rwhy)) == 0 &&
	    rt >= e->created;
	if (f->set->cli->json) {
		struct json_out *o = json_out_object();
		json_out_str(o, "address", e->mailbox);
		json_out_str(o, "state", spool_state_name(e->state));
		json_out_str(o, "from", e->from);
		json_out_str(o, "expires", ts);
		if (refused) {
			json_out_str(o, "refused", rwhy);
		}
		if (json_out_print(o, stdout) != 0) {
			return -1;
		}
	} else {
		printf("%-40s %-10s %s%s%s%s%s\n", e->mailbox,
		    spool_state_name(e->state), ts, e->reason[0] ? "  " : "",
		    e->reason, refused ? "  refused: " : "",
		    refused ? rwhy : "");
	}
	return 0;
}

int
flow_cmd_spool(struct flow *f)
{
	struct spool *sp;
	int rc;

	if (f->set->spool_dir == NULL) {
		log_err(
		    "no spool: use --spool DIR or SpoolDirectory in smime-acme.conf");
		return EX_USAGE;
	}
	sp = flow_spool_open(f->set, false);
	if (sp == NULL) {
		return EX_NOINPUT;
	}
	{
		struct spool_list l = { f, sp };
		rc = spool_foreach(sp, print_entry, &l);
	}
	spool_close(sp);
	return rc < 0 ? EX_IOERR : 0;
}

int
flow_cmd_spool_migrate(const struct cli *c, const struct config *conf)
{
	const char *db =
	    c->database != NULL ? c->database : conf->spool_database;

	const char *why;

	if (db == NULL) {
		log_err("spool-migrate: no database: set SpoolDatabase in "
			"smime-acme.conf or use --database CONNINFO");
		return EX_USAGE;
	}
	if (spool_conninfo_check(db, &why) < 0) {
		log_err("--database: %s", why);
		return EX_USAGE;
	}
	if (spool_migrate(db, c->milter_role, c->requester_role,
		c->dry_run || c->non_interactive, stdout) < 0) {
		return EX_UNAVAILABLE;
	}
	return 0;
}
