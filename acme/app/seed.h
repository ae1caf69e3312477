/*
 * seed: the certbot tree of the seed client (certbot-castle) under a
 * configuration directory, read for import and renew and written for its
 * lineages, in certbot 2.1's names and formats (doc/seed.md):
 *
 *   CONFIG/accounts/<server host[:port]/path>/<id>/private_key.json (JWK),
 *       regr.json ("uri": the account URL), meta.json
 *   CONFIG/renewal/<name>.conf      configobj: cert, privkey, chain,
 *       fullchain, archive_dir; [renewalparams] with the seed's plugin
 *       options (castle_imap_*, castle_installer_*, castle_tb_*)
 *   CONFIG/archive/<name>/{cert,chain,fullchain,privkey}N.pem
 *   CONFIG/live/<name>/{cert,chain,fullchain,privkey}.pem  symlinks to
 *       ../../archive/<name>/...N.pem; README
 *   CONFIG/live/<name>/NNNN_cert.pfx   the seed installer's PKCS#12, the
 *       first free four-digit number (0000, 0001, ...)
 *
 * Nothing here contacts a server or changes an existing renewal file.
 * Called by flow_import.c, flow_renew.c and flow_cert.c.
 */
#ifndef ACME_APP_SEED_H
#define ACME_APP_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/app/cli.h"
#include "acme/app/store.h"
#include "acme/pki/key.h"

#define SEED_ADDRS_MAX 100

/* One lineage as its renewal file and current certificate describe it.
 * Secrets (password, smtp_password, passphrase) are owned and wiped by
 * seed_lineage_free. */
struct seed_lineage {
	char *name;                  /* <name> of renewal/<name>.conf */
	char *conf;                  /* that file */
	char *live;                  /* CONFIG/live/<name> */
	char *archive;               /* archive_dir */
	char *addrs[SEED_ADDRS_MAX]; /* the certificate's e-mail SANs */
	size_t n_addrs;
	unsigned usage; /* the certificate's key usages, CSR_KU_* */
	time_t not_after;
	bool autorenew;        /* renewalparams autorenew (default true) */
	bool foreign;          /* loaded: not the seed client's (another certbot
			   authenticator or installer) */
	char *account;         /* renewalparams account id, or NULL */
	char *server;          /* renewalparams server, or NULL */
	char *preferred_chain; /* renewalparams preferred_chain, or NULL */
	char *authenticator;
	enum cli_responder responder; /* RESP_AUTO: interactive (the seed's
					 default) or none saved */
	char *login, *password, *host;
	int port;
	bool ssl, no_verify_ssl;
	enum cli_smtp_method smtp_method;
	char *smtp_login, *smtp_password, *smtp_host;
	int smtp_port;
	bool tb_unsafe;
	char *tb_profile, *tb_bin;
	bool no_passphrase; /* castle_installer_no_passphrase */
	char *passphrase;   /* castle_installer_passphrase, or NULL */
};

/* malloc'ed printf (paths); NULL on ENOMEM. */
char *seed_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Does config_dir hold a certbot tree (a renewal/ directory)? */
bool seed_is_tree(const char *config_dir);

/*
 * Read renewal/<name>.conf and the certificate live/<name>/cert.pem points
 * to.  0 / -1 with why (one line, never a secret) set: what cannot be
 * imported (another authenticator, a file outside the layout, no e-mail
 * address, a value that does not parse).  Free with seed_lineage_free in
 * every case.
 */
int seed_lineage_load(const char *config_dir, const char *name,
    struct seed_lineage *l, char *why, size_t why_len);
void seed_lineage_free(struct seed_lineage *l);

/* The lineage name the seed gives address (its first): every byte that
 * is not an ASCII letter or digit, '-', '_', '.' or non-ASCII becomes '_'.
 * 0 / -1 (empty, too long, or a leading '.'). */
int seed_name(const char *address, char *out, size_t len);

/* A new lineage's paths under config_dir (nothing is created).  0 / -1.
 * Free with seed_lineage_free. */
int seed_lineage_new(
    const char *config_dir, const char *name, struct seed_lineage *l);

/*
 * Write renewal/<name>.conf for a lineage cert created, as certbot 2.1
 * writes one (configobj quoting), and live/<name>/README: the four live
 * links, archive_dir, and in [renewalparams] server, authenticator,
 * installer and the responder's settings of l, but no secret (no IMAP
 * password, no passphrase: renew takes those from its command line).
 * Refuses to replace an existing file.  0 / -1 (logged).
 */
int seed_renewal_write(const struct seed_lineage *l, const char *server);

/* The names of renewal/<name>.conf, sorted; *n set.  0 (none: *names
 * NULL) / -1 (logged).  Free with seed_names_free. */
int seed_names(const char *config_dir, char ***names, size_t *n);
void seed_names_free(char **names, size_t n);

/*
 * The certbot account of server: the one named by id (a lineage's
 * renewalparams account), or the only one stored for the server.
 * 1 found (*key: the private key from private_key.json, *kid: regr.json's
 * uri; caller frees), 0 none stored, -1 error (logged: unreadable,
 * several without an id, a key type we cannot use).
 */
int seed_account_load(const char *config_dir, const char *server,
    const char *id, struct key **key, char **kid);

/*
 * Publish s as the next version of the lineage: archive/<name>/
 * {cert,chain,fullchain,privkey}N.pem written completely first (privkey
 * 0600), then each live/<name>/<kind>.pem symlink replaced by rename, then
 * the PKCS#12 as live/<name>/NNNN_cert.pfx (0600, linked into place only
 * once complete).  *dir (may be NULL) receives the live directory and
 * *pfx_name the PKCS#12's file name (malloc'ed; NULL without s->p12).
 * 0 / -1 (logged; the live links still name a complete older version).
 */
int seed_save(const struct seed_lineage *l, const struct store_certset *s,
    char **dir, char **pfx_name);

#endif
