/*
 * cli: the requester's command line.  Parses argv (getopt_long, every
 * option of the seed client plus ours) into struct cli, checks values and
 * combinations, and resolves secrets given as files or environment
 * variables.  Pure apart from cli_resolve_secrets() (reads files and the
 * environment); nothing here contacts a server.  Called by main() and by
 * tests/unit/test_cli.c.
 */
#ifndef ACME_APP_CLI_H
#define ACME_APP_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/pki/csr.h"
#include "common/challenge.h"

#define CLI_EMAIL_MAX   100 /* addresses in one certificate */
#define CLI_CONTACT_MAX 8
#define CLI_ERR_MAX     512

/* Directory URLs of the CASTLE Platform CA (seed: -t/--test). */
#define CLI_SERVER_PROD    "https://acme.castle.cloud/acme/directory"
#define CLI_SERVER_STAGING "https://acme-staging.castle.cloud/acme/directory"

/* cli_parse() result besides 0 and sysexits codes: print help/version. */
#define CLI_HELP    1
#define CLI_VERSION 2

enum cli_cmd {
	CMD_NONE,
	CMD_CERT,
	CMD_RENEW,
	CMD_REVOKE,
	CMD_ACCOUNT,
	CMD_SPOOL,
	CMD_BATCH,
	CMD_RETIRE,
	CMD_IMPORT, /* adopt a seed (certbot) configuration directory */
	CMD_SPOOL_MIGRATE,
	CMD_MAX
};

/* Who answers the challenge mails. */
enum cli_responder {
	RESP_AUTO, /* spool if configured, else interactive on a tty */
	RESP_SPOOL,
	RESP_INTERACTIVE,
	RESP_FILE,
	RESP_IMAP,
	RESP_TB,
	RESP_OUTLOOK, /* accepted, refused at run time on this platform */
	RESP_MAX
};

enum cli_smtp_method {
	SMTP_AUTO, /* STARTTLS */
	SMTP_STARTTLS,
	SMTP_SSL,
	SMTP_PLAIN,
	SMTP_METHOD_MAX
};

enum cli_key_type { KEYTYPE_RSA, KEYTYPE_EC, KEYTYPE_MAX };

/* --usage bits: the CSR's (names in csr_usage_bit, csr_usage_names). */
#define USAGE_DIGITAL_SIGNATURE  CSR_KU_DIGITAL_SIGNATURE
#define USAGE_CONTENT_COMMITMENT CSR_KU_CONTENT_COMMITMENT
#define USAGE_KEY_ENCIPHERMENT   CSR_KU_KEY_ENCIPHERMENT
#define USAGE_KEY_AGREEMENT      CSR_KU_KEY_AGREEMENT

struct cli {
	enum cli_cmd cmd;
	const char *emails[CLI_EMAIL_MAX]; /* point into argv */
	size_t n_emails;
	bool test;
	bool dry_run;
	bool non_interactive;
	const char *config_dir;
	const char *work_dir;
	const char *logs_dir;
	bool agree_tos;
	const char *contact[CLI_CONTACT_MAX];
	size_t n_contact;

	enum cli_responder responder;
	/* IMAP + SMTP */
	const char *login;
	char *password; /* owned, wiped by cli_free */
	const char *host;
	int port; /* 0 = auto */
	bool ssl;
	enum cli_smtp_method smtp_method;
	const char *smtp_login;
	char *smtp_password; /* owned */
	const char *smtp_host;
	int smtp_port;              /* 0 = auto */
	char *oauth2_token;         /* owned */
	const char *dkim_keys;      /* test only: DKIM keys from a file */
	const char *mail_ca_bundle; /* roots for IMAP/SMTP TLS */
	bool mail_no_verify_ssl;    /* IMAP/SMTP only: a seed lineage's
				       castle_imap_no_verify_ssl */
	/* Thunderbird */
	bool tb_unsafe;
	const char *tb_profile;
	const char *tb_bin;
	const char *outlook_account;
	/* spool */
	const char *spool_dir;
	int spool_post_after; /* seconds; -1 = config/default */
	int spool_timeout;    /* seconds; -1 = config/default */
	/* spool-migrate */
	const char *database;       /* --database: conninfo of the admin */
	const char *milter_role;    /* --milter-role */
	const char *requester_role; /* --requester-role */

	/* PKCS#12 */
	bool no_passphrase;
	char *passphrase; /* owned */

	/* certificate */
	unsigned usage; /* USAGE_* bits; 0 = CA default */
	enum cli_key_type key_type;
	int key_size; /* 0 = default (RSA 2048, EC 256) */
	const char *key_path;
	const char *preferred_chain; /* issuer CN of the chain's top */
	const char *cert_path;
	int reason; /* RFC 5280 CRLReason, -1 = not given */
	bool force;
	bool rotate_key;
	int renew_days;     /* renewal window, days */
	int finalize_delay; /* seconds after "ready"; -1 = default */
	int timeout; /* seconds to wait for an authorization; -1 = default */
	const char *delivery_hook; /* run after each stored set (sh -c) */
	bool no_delivery_hook;     /* ignore DeliveryHook of the config */

	/* server */
	const char *server; /* NULL = conf or CASTLE production */
	const char *ca_bundle;
	bool no_verify_ssl;
	enum token_rule token_rule;
	bool token_rule_set;
	const char *eab_kid;
	char *eab_hmac; /* owned */

	/* account command */
	bool rollover;
	bool deactivate;

	/* batch command (acme/app/batch.h) */
	const char *batch_file; /* positional; "-" = stdin */
	int concurrency;        /* 0 = default */
	const char *results;
	bool stats;

	/* general */
	const char *conf_path;
	int verbose;
	bool quiet;
	bool json;
	bool syslog;
	bool allow_root;

	/* secrets given indirectly, resolved by cli_resolve_secrets() */
	const char *password_file, *password_env;
	const char *smtp_password_file, *smtp_password_env;
	const char *passphrase_file, *passphrase_env;
	const char *oauth2_token_file;
	const char *eab_hmac_file;

	char err[CLI_ERR_MAX]; /* the message for a non-zero result */
};

/*
 * Parse argv into c (zeroed and defaulted first).  Secret values given on
 * the command line are copied and blanked in argv (so ps(1) shows them
 * less long).  Returns 0, CLI_HELP, CLI_VERSION, or EX_USAGE with c->err
 * set to one line naming the option.  Call cli_free() in every case.
 */
int cli_parse(struct cli *c, int argc, char **argv);

/*
 * Read secrets from --*-file and --*-env options (first line, without the
 * newline).  Returns 0, EX_NOINPUT (file unreadable) or EX_USAGE (empty
 * value, variable unset) with c->err set.
 */
int cli_resolve_secrets(struct cli *c);

/* Wipe and free the owned secrets.  Accepts a zeroed struct. */
void cli_free(struct cli *c);

/* True if s is an addr-spec we can order (no wildcard, sane lengths). */
bool cli_valid_address(const char *s, const char **why);

/* Name of a command / responder for messages. */
const char *cli_cmd_name(enum cli_cmd cmd);
const char *cli_responder_name(enum cli_responder r);
/* Record the message for a bad command line in c->err (cli.c and
 * cli_secret.c); returns code. */
int cli_fail(struct cli *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The usage text printed by --help (and on EX_USAGE, its first lines). */
void cli_print_help(const char *prog, bool full);

#endif
