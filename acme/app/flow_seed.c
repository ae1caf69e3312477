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
#include "common/fsutil.h"
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
			/* a secret given indirectly still counts */
			if (l->password != NULL) {
				out->password = l->password;
			}
			out->host = l->host;
			out->port = l->port;
			out->ssl = l->ssl;
			out->mail_no_verify_ssl = l->no_verify_ssl;
			out->smtp_method = l->smtp_method;
			out->smtp_login = l->smtp_login;
			if (l->smtp_password != NULL) {
				out->smtp_password = l->smtp_password;
			}
			out->smtp_host = l->smtp_host;
			out->smtp_port = l->smtp_port;
		} else if (l->responder == RESP_TB) {
			out->tb_unsafe = l->tb_unsafe;
			out->tb_profile = l->tb_profile;
			out->tb_bin = l->tb_bin;
		}
	}
	if (c->preferred_chain == NULL) { /* certbot saves it */
		out->preferred_chain = l->preferred_chain;
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

int
flow_seed_begin(const struct flow *base, const struct seed_lineage *l,
    struct flow_seed_run *r)
{
	int ex;

	memset(r, 0, sizeof(*r));
	flow_seed_cli(base->set->cli, l, &r->lc);
	ex = flow_settings_init(&r->ls, &r->lc, base->set->conf);
	r->f = *base;
	r->f.set = &r->ls;
	r->f.seed = l;
	memset(&r->f.out, 0, sizeof(r->f.out));
	return ex;
}

/* s, unless borrowed from a or b: wiped and freed */
static void
free_own(char *s, const char *a, const char *b)
{
	if (s != NULL && s != a && s != b) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
flow_seed_end(struct flow_seed_run *r, const struct flow *base,
    const struct seed_lineage *l)
{
	/* secrets asked for this lineage belong to neither cli nor l */
	free_own(r->lc.passphrase, l->passphrase, base->set->cli->passphrase);
	free_own(r->lc.password, l->password, base->set->cli->password);
	r->lc.passphrase = NULL;
	r->lc.password = NULL;
	flow_settings_free(&r->ls);
}

/* What a new lineage's renewal file records: the responder of this run
 * (without secrets) and --no-passphrase.  0 / -1. */
static int
new_lineage_settings(const struct flow *f, struct seed_lineage *l)
{
	const struct cli *c = f->set->cli;
	const char *a = "castle-interactive";

	l->responder = f->set->responder;
	if (l->responder == RESP_IMAP) {
		a = "castle-imap";
		l->login = c->login != NULL ? strdup(c->login) : NULL;
		l->host = c->host != NULL ? strdup(c->host) : NULL;
		l->smtp_host =
		    c->smtp_host != NULL ? strdup(c->smtp_host) : NULL;
		l->smtp_login =
		    c->smtp_login != NULL ? strdup(c->smtp_login) : NULL;
		l->port = c->port;
		l->ssl = c->ssl;
		/* the seed saves its IMAP plugin's --no-verify-ssl */
		l->no_verify_ssl = c->no_verify_ssl || c->mail_no_verify_ssl;
		l->smtp_method = c->smtp_method;
		l->smtp_port = c->smtp_port;
		if (l->login == NULL || l->host == NULL ||
		    l->smtp_host == NULL) {
			log_err(
			    "the seed's renewal file needs --login, --host and --smtp-host");
			return -1;
		}
	} else if (l->responder == RESP_FILE) {
		a = "castle-file";
	} else if (l->responder == RESP_TB) {
		a = "castle-tb";
		l->tb_unsafe = c->tb_unsafe;
		l->tb_profile =
		    c->tb_profile != NULL ? strdup(c->tb_profile) : NULL;
		l->tb_bin = c->tb_bin != NULL ? strdup(c->tb_bin) : NULL;
	} else {
		l->responder = RESP_AUTO;
	}
	l->no_passphrase = c->no_passphrase;
	l->authenticator = strdup(a);
	return l->authenticator != NULL ? 0 : -1;
}

int
flow_seed_cert(struct flow *f)
{
	const struct cli *c = f->set->cli;
	const char *dir = f->set->config_dir;
	struct seed_lineage l;
	struct flow_seed_run r;
	char name[256], why[512];
	bool created = false;
	int ex = EX_SOFTWARE;

	memset(&r, 0, sizeof(r));
	memset(&l, 0, sizeof(l));
	if (seed_name(c->emails[0], name, sizeof(name)) < 0) {
		log_err(
		    "%s: no seed lineage name for this address", c->emails[0]);
		return EX_USAGE;
	}
	if (seed_lineage_new(dir, name, &l) < 0) {
		goto out;
	}
	if (fs_exists(l.conf)) {
		seed_lineage_free(&l);
		if (seed_lineage_load(dir, name, &l, why, sizeof(why)) < 0) {
			log_err("%s: cannot write into this seed lineage: %s",
			    name, why);
			ex = EX_DATAERR;
			goto out;
		}
	} else {
		created = true;
		if (new_lineage_settings(f, &l) < 0) {
			ex = EX_USAGE;
			goto out;
		}
	}
	ex = flow_seed_begin(f, &l, &r);
	if (ex != 0) {
		goto out;
	}
	if (flow_cert_passphrase(&r.f) != 0 ||
	    flow_seed_account(&r.f, l.account) < 0 || flow_connect(&r.f) != 0 ||
	    flow_account(&r.f, true) != 0) {
		ex = r.f.out.ex;
		goto out;
	}
	ex = flow_issue(&r.f, c->emails, c->n_emails, c->usage, NULL, NULL)->ex;
	if (ex == 0 && created && !c->dry_run &&
	    seed_renewal_write(&l, f->set->server) < 0) {
		ex = EX_CANTCREAT;
	}
out:
	flow_seed_end(&r, f, &l);
	seed_lineage_free(&l);
	return ex;
}
