/*
 * flow_seed: the seed client's configuration directory (a certbot tree,
 * seed.h).  The import command checks every lineage of renewal/ and adopts
 * the certbot account; flow_seed_cli() gives a lineage's saved settings to
 * renew (flow_renew.c).  The renewal files stay the one place of a
 * lineage's settings: nothing is copied out of them but the account key,
 * and no secret reaches a log line or argv.  Called by main() and
 * flow_renew.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "acme/app/flow.h"
#include "acme/app/seed.h"
#include "acme/app/store.h"
#include "common/log.h"

void
flow_seed_cli(
    const struct cli *c, const struct seed_lineage *l, struct cli *out)
{
	*out = *c;
	if (c->responder == RESP_AUTO && l->responder != RESP_AUTO) {
		out->responder = l->responder;
		if (l->responder == RESP_IMAP) {
			out->login = l->login;
			out->password = l->password;
			out->host = l->host;
			out->port = l->port;
			out->ssl = l->ssl;
			out->smtp_method = l->smtp_method;
			out->smtp_login = l->smtp_login;
			out->smtp_password = l->smtp_password;
			out->smtp_host = l->smtp_host;
			out->smtp_port = l->smtp_port;
		} else if (l->responder == RESP_TB) {
			out->tb_unsafe = l->tb_unsafe;
			out->tb_profile = l->tb_profile;
			out->tb_bin = l->tb_bin;
		}
	}
	if (c->passphrase == NULL && !c->no_passphrase) {
		if (l->passphrase != NULL && *l->passphrase != '\0') {
			out->passphrase = l->passphrase;
		} else if (l->no_passphrase || l->passphrase != NULL) {
			out->no_passphrase = true;
		}
	}
}

int
flow_seed_account(struct flow *f, const char *id)
{
	const char *dir = f->set->config_dir, *server = f->set->server;
	struct key *key = NULL;
	char *kid = NULL;
	int rc;

	rc = store_account_load(dir, server, &key, &kid);
	key_free(key);
	free(kid);
	key = NULL;
	kid = NULL;
	if (rc != 1) {
		return rc < 0 ? flow_fail(f, EX_NOINPUT) : 0; /* ours exists */
	}
	rc = seed_account_load(dir, server, id, &key, &kid);
	if (rc <= 0) {
		return rc < 0 ? flow_fail(f, EX_DATAERR) : 0;
	}
	if (!f->set->cli->dry_run &&
	    store_account_save(dir, server, key, kid) < 0) {
		rc = flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	log_info("adopted the seed client's (certbot) account %s", kid);
	rc = 1;
out:
	key_free(key);
	free(kid);
	return rc;
}

static const char *
passphrase_source(const struct seed_lineage *l)
{
	if (l->passphrase != NULL && *l->passphrase != '\0') {
		return "saved (castle_installer_passphrase)";
	}
	if (l->no_passphrase || l->passphrase != NULL) {
		return "none";
	}
	return "asked, or --passphrase-file/--passphrase-env";
}

/* One line for lineage l on stdout; no secret. */
static void
print_lineage(const struct seed_lineage *l)
{
	char day[16];
	struct tm tm;
	size_t i;

	gmtime_r(&l->not_after, &tm);
	if (strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0) {
		snprintf(day, sizeof(day), "?");
	}
	printf("%s: ", l->name);
	for (i = 0; i < l->n_addrs; i++) {
		printf("%s%s", i ? "," : "", l->addrs[i]);
	}
	printf("; expires %s; responder %s", day,
	    l->responder == RESP_AUTO ? "default (spool or interactive)"
				      : cli_responder_name(l->responder));
	if (l->responder == RESP_IMAP) {
		printf(" (%s@%s, SMTP %s)", l->login, l->host, l->smtp_host);
	}
	printf("; passphrase %s%s\n", passphrase_source(l),
	    l->autorenew ? "" : "; autorenew off");
}

int
flow_cmd_import(struct flow *f)
{
	const char *dir = f->set->config_dir;
	struct seed_lineage l;
	char why[512], **names = NULL, *account = NULL;
	size_t n = 0, i;
	unsigned refused = 0, ok = 0;
	int rc = EX_SOFTWARE, a;

	memset(&l, 0, sizeof(l));
	if (!seed_is_tree(dir)) {
		log_err(
		    "%s: no renewal/ directory: not a configuration directory of the seed client (certbot)",
		    dir);
		return EX_NOINPUT;
	}
	if (seed_names(dir, &names, &n) < 0) {
		return EX_NOINPUT;
	}
	for (i = 0; i < n; i++) {
		if (seed_lineage_load(dir, names[i], &l, why, sizeof(why)) <
		    0) {
			log_err("%s: cannot import: %s", names[i], why);
			refused++;
		} else {
			print_lineage(&l);
			if (account == NULL && l.account != NULL) {
				account = strdup(l.account);
			}
			ok++;
		}
		seed_lineage_free(&l);
	}
	a = flow_seed_account(f, account);
	if (a < 0) {
		rc = f->out.ex;
		goto out;
	}
	if (a == 0) {
		struct key *k = NULL;
		char *kid = NULL;
		if (store_account_load(dir, f->set->server, &k, &kid) != 0) {
			log_err(
			    "%s: no certbot account for %s under accounts/; run with the seed's --server (or -t) or register with 'smime-acme account'",
			    dir, f->set->server);
			rc = EX_NOINPUT;
			goto out;
		}
		key_free(k);
		free(kid);
		printf("account: ours for %s already stored; kept\n",
		    f->set->server);
	} else {
		printf("account: adopted for %s%s\n", f->set->server,
		    f->set->cli->dry_run ? " (dry run: not stored)" : "");
	}
	printf("%u lineage(s) imported, %u refused\n", ok, refused);
	rc = refused > 0 ? EX_DATAERR : 0;
out:
	free(account);
	seed_names_free(names, n);
	return rc;
}
