/*
 * cli: parse the requester's command line (see cli.h and smime-acme(1)).
 * The option set is the seed client's, unchanged, plus ours; every value is
 * checked here so that later stages only see well-formed input.  Messages
 * go into c->err; main() prints them and exits with the returned code.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "acme/app/cli.h"
#include "acme/proto/order.h"
#include "common/conf.h"

enum {
	OPT_DRY_RUN = 256,
	OPT_AGREE_TOS,
	OPT_CONTACT,
	OPT_IMAP,
	OPT_LOGIN,
	OPT_PASSWORD,
	OPT_HOST,
	OPT_PORT,
	OPT_SSL,
	OPT_SMTP_METHOD,
	OPT_SMTP_LOGIN,
	OPT_SMTP_PASSWORD,
	OPT_SMTP_HOST,
	OPT_SMTP_PORT,
	OPT_NO_PASSPHRASE,
	OPT_PASSPHRASE,
	OPT_USAGE,
	OPT_CERT_PATH,
	OPT_REASON,
	OPT_KEY_PATH,
	OPT_OUTLOOK,
	OPT_OUTLOOK_ACCOUNT,
	OPT_TB,
	OPT_INTERACTIVE,
	OPT_TB_UNSAFE,
	OPT_TB_PROFILE,
	OPT_TB_BIN,
	OPT_SERVER,
	OPT_NO_VERIFY_SSL,
	OPT_FORCE,
	OPT_FILE_VALIDATE,
	OPT_CA_BUNDLE,
	OPT_KEY_TYPE,
	OPT_KEY_SIZE,
	OPT_TOKEN_RULE,
	OPT_SPOOL,
	OPT_DATABASE,
	OPT_MILTER_ROLE,
	OPT_REQUESTER_ROLE,
	OPT_CONF,
	OPT_EAB_KID,
	OPT_EAB_HMAC,
	OPT_EAB_HMAC_FILE,
	OPT_JSON,
	OPT_OAUTH2_TOKEN,
	OPT_OAUTH2_TOKEN_FILE,
	OPT_PASSWORD_FILE,
	OPT_PASSWORD_ENV,
	OPT_SMTP_PASSWORD_FILE,
	OPT_SMTP_PASSWORD_ENV,
	OPT_PASSPHRASE_FILE,
	OPT_PASSPHRASE_ENV,
	OPT_ALLOW_ROOT,
	OPT_FINALIZE_DELAY,
	OPT_SPOOL_POST_AFTER,
	OPT_SPOOL_TIMEOUT,
	OPT_TIMEOUT,
	OPT_DKIM_KEYS,
	OPT_MAIL_CA_BUNDLE,
	OPT_PREFERRED_CHAIN,
	OPT_RENEW_WITHIN,
	OPT_ROTATE_KEY,
	OPT_ROLLOVER,
	OPT_DEACTIVATE,
	OPT_SYSLOG,
	OPT_VERSION,
	OPT_CONCURRENCY,
	OPT_RESULTS,
	OPT_STATS,
	OPT_DELIVERY_HOOK,
	OPT_NO_DELIVERY_HOOK
};

static const struct option long_opts[] = { { "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "email", required_argument, NULL, 'e' },
	{ "test", no_argument, NULL, 't' },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "non-interactive", no_argument, NULL, 'n' },
	{ "config-dir", required_argument, NULL, 'c' },
	{ "work-dir", required_argument, NULL, 'w' },
	{ "logs-dir", required_argument, NULL, 'l' },
	{ "agree-tos", no_argument, NULL, OPT_AGREE_TOS },
	{ "contact", required_argument, NULL, OPT_CONTACT },
	{ "imap", no_argument, NULL, OPT_IMAP },
	{ "login", required_argument, NULL, OPT_LOGIN },
	{ "password", required_argument, NULL, OPT_PASSWORD },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "ssl", no_argument, NULL, OPT_SSL },
	{ "smtp-method", required_argument, NULL, OPT_SMTP_METHOD },
	{ "smtp-login", required_argument, NULL, OPT_SMTP_LOGIN },
	{ "smtp-password", required_argument, NULL, OPT_SMTP_PASSWORD },
	{ "smtp-host", required_argument, NULL, OPT_SMTP_HOST },
	{ "smtp-port", required_argument, NULL, OPT_SMTP_PORT },
	{ "no-passphrase", no_argument, NULL, OPT_NO_PASSPHRASE },
	{ "passphrase", required_argument, NULL, OPT_PASSPHRASE },
	{ "usage", required_argument, NULL, OPT_USAGE },
	{ "cert-path", required_argument, NULL, OPT_CERT_PATH },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "key-path", required_argument, NULL, OPT_KEY_PATH },
	{ "outlook", no_argument, NULL, OPT_OUTLOOK },
	{ "outlook-account", required_argument, NULL, OPT_OUTLOOK_ACCOUNT },
	{ "tb", no_argument, NULL, OPT_TB },
	{ "interactive", no_argument, NULL, OPT_INTERACTIVE },
	{ "tb-unsafe", no_argument, NULL, OPT_TB_UNSAFE },
	{ "tb-profile", required_argument, NULL, OPT_TB_PROFILE },
	{ "tb-bin", required_argument, NULL, OPT_TB_BIN },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "no-verify-ssl", no_argument, NULL, OPT_NO_VERIFY_SSL },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "file-validate", no_argument, NULL, OPT_FILE_VALIDATE },
	{ "ca-bundle", required_argument, NULL, OPT_CA_BUNDLE },
	{ "key-type", required_argument, NULL, OPT_KEY_TYPE },
	{ "key-size", required_argument, NULL, OPT_KEY_SIZE },
	{ "token-rule", required_argument, NULL, OPT_TOKEN_RULE },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "database", required_argument, NULL, OPT_DATABASE },
	{ "milter-role", required_argument, NULL, OPT_MILTER_ROLE },
	{ "requester-role", required_argument, NULL, OPT_REQUESTER_ROLE },
	{ "conf", required_argument, NULL, OPT_CONF },
	{ "eab-kid", required_argument, NULL, OPT_EAB_KID },
	{ "eab-hmac", required_argument, NULL, OPT_EAB_HMAC },
	{ "eab-hmac-file", required_argument, NULL, OPT_EAB_HMAC_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "oauth2-token", required_argument, NULL, OPT_OAUTH2_TOKEN },
	{ "oauth2-token-file", required_argument, NULL, OPT_OAUTH2_TOKEN_FILE },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "password-env", required_argument, NULL, OPT_PASSWORD_ENV },
	{ "smtp-password-file", required_argument, NULL,
	    OPT_SMTP_PASSWORD_FILE },
	{ "smtp-password-env", required_argument, NULL, OPT_SMTP_PASSWORD_ENV },
	{ "passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE },
	{ "passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV },
	{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
	{ "finalize-delay", required_argument, NULL, OPT_FINALIZE_DELAY },
	{ "spool-post-after", required_argument, NULL, OPT_SPOOL_POST_AFTER },
	{ "spool-timeout", required_argument, NULL, OPT_SPOOL_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "dkim-keys", required_argument, NULL, OPT_DKIM_KEYS },
	{ "mail-ca-bundle", required_argument, NULL, OPT_MAIL_CA_BUNDLE },
	{ "preferred-chain", required_argument, NULL, OPT_PREFERRED_CHAIN },
	{ "renew-within", required_argument, NULL, OPT_RENEW_WITHIN },
	{ "rotate-key", no_argument, NULL, OPT_ROTATE_KEY },
	{ "rollover", no_argument, NULL, OPT_ROLLOVER },
	{ "deactivate", no_argument, NULL, OPT_DEACTIVATE },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "results", required_argument, NULL, OPT_RESULTS },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "delivery-hook", required_argument, NULL, OPT_DELIVERY_HOOK },
	{ "no-delivery-hook", no_argument, NULL, OPT_NO_DELIVERY_HOOK },
	{ NULL, 0, NULL, 0 } };

static const char short_opts[] = ":he:tnc:w:l:vq";

static const char *const cmd_names[CMD_MAX] = {
	[CMD_NONE] = "",
	[CMD_CERT] = "cert",
	[CMD_RENEW] = "renew",
	[CMD_REVOKE] = "revoke",
	[CMD_ACCOUNT] = "account",
	[CMD_SPOOL] = "spool",
	[CMD_BATCH] = "batch",
	[CMD_RETIRE] = "retire",
	[CMD_IMPORT] = "import",
	[CMD_SPOOL_MIGRATE] = "spool-migrate",
};

static const char *const resp_names[RESP_MAX] = {
	[RESP_AUTO] = "auto",
	[RESP_SPOOL] = "spool",
	[RESP_INTERACTIVE] = "interactive",
	[RESP_FILE] = "file",
	[RESP_IMAP] = "imap",
	[RESP_TB] = "thunderbird",
	[RESP_OUTLOOK] = "outlook",
};

const char *
cli_cmd_name(enum cli_cmd cmd)
{
	return cmd < CMD_MAX ? cmd_names[cmd] : "?";
}

const char *
cli_responder_name(enum cli_responder r)
{
	return r < RESP_MAX ? resp_names[r] : "?";
}

int
cli_fail(struct cli *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

/*
 * addr-spec as RFC 5321/6531 allow it for ordering: a dot-atom local part
 * (or UTF-8), '@', a domain of LDH labels (or U-labels) with at least one
 * dot.  Quoted local parts are refused: no CA we know accepts them.
 */
bool
cli_valid_address(const char *s, const char **why)
{
	const char *at, *p;
	size_t local_len, dom_len, label = 0;
	const char *ok = "!#$%&'+-/=?^_`{|}~";

	*why = NULL;
	if (s == NULL || *s == '\0') {
		*why = "empty address";
		return false;
	}
	if (strchr(s, '*') != NULL) {
		*why =
		    "wildcards are not allowed in e-mail identifiers (RFC 8823 section 3)";
		return false;
	}
	at = strrchr(s, '@');
	if (at == NULL || strchr(s, '@') != at) {
		*why = "not an address of the form local@domain";
		return false;
	}
	local_len = (size_t)(at - s);
	dom_len = strlen(at + 1);
	if (local_len == 0 || local_len > 64) {
		*why = "local part empty or longer than 64 characters";
		return false;
	}
	if (dom_len == 0 || dom_len > 253 || local_len + 1 + dom_len > 254) {
		*why = "domain empty or address too long";
		return false;
	}
	if (s[0] == '.' || at[-1] == '.' || strstr(s, "..") != NULL) {
		*why = "misplaced dot in the local part";
		return false;
	}
	for (p = s; p < at; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch >= 0x80 || isalnum(ch) || ch == '.' ||
		    strchr(ok, ch) != NULL) {
			continue;
		}
		*why = "invalid character in the local part";
		return false;
	}
	for (p = at + 1; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '.') {
			if (label == 0 || p[-1] == '-') {
				*why = "empty or malformed domain label";
				return false;
			}
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0) {
			*why = "domain label starts with a hyphen";
			return false;
		}
		if (ch >= 0x80 || isalnum(ch) || ch == '-') {
			if (++label > 63) {
				*why = "domain label longer than 63 characters";
				return false;
			}
			continue;
		}
		*why = "invalid character in the domain";
		return false;
	}
	if (label == 0 || strchr(at + 1, '.') == NULL) {
		*why = "the domain needs at least two labels";
		return false;
	}
	return true;
}

static int
parse_int(
    struct cli *c, const char *opt, const char *v, long min, long max, int *out)
{
	long n;

	if (conf_parse_long(v, min, max, &n) != 0) {
		return cli_fail(c, EX_USAGE,
		    "option '%s': '%s' is not a number from %ld to %ld", opt, v,
		    min, max);
	}
	*out = (int)n;
	return 0;
}

/* Copy a secret given on the command line and blank it in argv. */
static int
take_secret(struct cli *c, const char *opt, char **dst, char *v)
{
	if (*v == '\0') {
		return cli_fail(c, EX_USAGE, "option '%s': empty value", opt);
	}
	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = strdup(v);
	if (*dst == NULL) {
		return cli_fail(c, EX_OSERR, "out of memory");
	}
	explicit_bzero(v, strlen(v));
	return 0;
}

static int
set_responder(struct cli *c, enum cli_responder r, const char *opt)
{
	if (c->responder != RESP_AUTO && c->responder != r) {
		return cli_fail(c, EX_USAGE,
		    "option '%s' conflicts with the %s responder chosen before; use only one of --spool, --file-validate, --imap, --tb, --outlook",
		    opt, cli_responder_name(c->responder));
	}
	c->responder = r;
	return 0;
}

static int
add_email(struct cli *c, const char *v)
{
	const char *why;
	size_t i;

	if (!cli_valid_address(v, &why)) {
		return cli_fail(
		    c, EX_USAGE, "option '--email': '%s': %s", v, why);
	}
	for (i = 0; i < c->n_emails; i++) {
		if (challenge_addr_equal(c->emails[i], v)) {
			return cli_fail(c, EX_USAGE,
			    "option '--email': '%s' given twice", v);
		}
	}
	if (c->n_emails >= CLI_EMAIL_MAX) {
		return cli_fail(c, EX_USAGE,
		    "option '--email': more than %d addresses", CLI_EMAIL_MAX);
	}
	c->emails[c->n_emails++] = v;
	return 0;
}

static int
add_usage(struct cli *c, const char *v)
{
	unsigned bit = csr_usage_bit(v);
	char names[128];

	if (bit != 0) {
		c->usage |= bit;
		return 0;
	}
	return cli_fail(c, EX_USAGE, "option '--usage': '%s' is not one of %s",
	    v, csr_usage_names(CSR_KU_ALL, ", ", names, sizeof(names)));
}

static int
set_reason(struct cli *c, const char *v)
{
	int code = order_reason_code(v);

	if (code >= 0) {
		c->reason = code;
		return 0;
	}
	return cli_fail(c, EX_USAGE,
	    "option '--reason': '%s' is not one of unspecified, keycompromise, affiliationchanged, superseded, cessationofoperation",
	    v);
}

static int
set_smtp_method(struct cli *c, const char *v)
{
	if (strcasecmp(v, "STARTTLS") == 0) {
		c->smtp_method = SMTP_STARTTLS;
	} else if (strcasecmp(v, "SSL") == 0 || strcasecmp(v, "TLS") == 0) {
		c->smtp_method = SMTP_SSL;
	} else if (strcasecmp(v, "plain") == 0) {
		c->smtp_method = SMTP_PLAIN;
	} else {
		return cli_fail(c, EX_USAGE,
		    "option '--smtp-method': '%s' is not one of STARTTLS, SSL, plain",
		    v);
	}
	return 0;
}

static int
set_url(struct cli *c, const char *opt, const char *v, const char **dst)
{
	if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) {
		return cli_fail(c, EX_USAGE,
		    "option '%s': '%s' is not an http(s):// URL", opt, v);
	}
	*dst = v;
	return 0;
}

static int
set_nonempty(struct cli *c, const char *opt, const char *v, const char **dst)
{
	if (*v == '\0') {
		return cli_fail(c, EX_USAGE, "option '%s': empty value", opt);
	}
	*dst = v;
	return 0;
}

/* One option; 0 or an exit code with c->err set. */
static int
handle(struct cli *c, int ch, char *arg, const char *opt)
{
	const char *why;

	switch (ch) {
	case 'h':
		return CLI_HELP;
	case OPT_VERSION:
		return CLI_VERSION;
	case 'e':
		return add_email(c, arg);
	case 't':
		c->test = true;
		return 0;
	case OPT_DRY_RUN:
		c->dry_run = true;
		return 0;
	case 'n':
		c->non_interactive = true;
		return 0;
	case 'c':
		return set_nonempty(c, opt, arg, &c->config_dir);
	case 'w':
		return set_nonempty(c, opt, arg, &c->work_dir);
	case 'l':
		return set_nonempty(c, opt, arg, &c->logs_dir);
	case OPT_AGREE_TOS:
		c->agree_tos = true;
		return 0;
	case OPT_CONTACT:
		if (!cli_valid_address(arg, &why)) {
			return cli_fail(c, EX_USAGE,
			    "option '--contact': '%s': %s", arg, why);
		}
		if (c->n_contact >= CLI_CONTACT_MAX) {
			return cli_fail(c, EX_USAGE,
			    "option '--contact': more than %d addresses",
			    CLI_CONTACT_MAX);
		}
		c->contact[c->n_contact++] = arg;
		return 0;
	case OPT_IMAP:
		return set_responder(c, RESP_IMAP, opt);
	case OPT_LOGIN:
		return set_nonempty(c, opt, arg, &c->login);
	case OPT_PASSWORD:
		return take_secret(c, opt, &c->password, arg);
	case OPT_HOST:
		return set_nonempty(c, opt, arg, &c->host);
	case OPT_PORT:
		return parse_int(c, opt, arg, 1, 65535, &c->port);
	case OPT_SSL:
		c->ssl = true;
		return 0;
	case OPT_SMTP_METHOD:
		return set_smtp_method(c, arg);
	case OPT_SMTP_LOGIN:
		return set_nonempty(c, opt, arg, &c->smtp_login);
	case OPT_SMTP_PASSWORD:
		return take_secret(c, opt, &c->smtp_password, arg);
	case OPT_SMTP_HOST:
		return set_nonempty(c, opt, arg, &c->smtp_host);
	case OPT_SMTP_PORT:
		return parse_int(c, opt, arg, 1, 65535, &c->smtp_port);
	case OPT_NO_PASSPHRASE:
		c->no_passphrase = true;
		return 0;
	case OPT_PASSPHRASE:
		return take_secret(c, opt, &c->passphrase, arg);
	case OPT_USAGE:
		return add_usage(c, arg);
	case OPT_CERT_PATH:
		return set_nonempty(c, opt, arg, &c->cert_path);
	case OPT_PREFERRED_CHAIN:
		return set_nonempty(c, opt, arg, &c->preferred_chain);
	case OPT_REASON:
		return set_reason(c, arg);
	case OPT_KEY_PATH:
		return set_nonempty(c, opt, arg, &c->key_path);
	case OPT_OUTLOOK:
		return set_responder(c, RESP_OUTLOOK, opt);
	case OPT_OUTLOOK_ACCOUNT:
		return set_nonempty(c, opt, arg, &c->outlook_account);
	case OPT_TB:
		return set_responder(c, RESP_TB, opt);
	case OPT_INTERACTIVE:
		return set_responder(c, RESP_INTERACTIVE, opt);
	case OPT_TB_UNSAFE:
		c->tb_unsafe = true;
		return 0;
	case OPT_TB_PROFILE:
		return set_nonempty(c, opt, arg, &c->tb_profile);
	case OPT_TB_BIN:
		return set_nonempty(c, opt, arg, &c->tb_bin);
	case OPT_SERVER:
		return set_url(c, opt, arg, &c->server);
	case OPT_NO_VERIFY_SSL:
		c->no_verify_ssl = true;
		return 0;
	case OPT_FORCE:
		c->force = true;
		return 0;
	case OPT_FILE_VALIDATE:
		return set_responder(c, RESP_FILE, opt);
	case OPT_CA_BUNDLE:
		return set_nonempty(c, opt, arg, &c->ca_bundle);
	case OPT_KEY_TYPE:
		if (strcasecmp(arg, "rsa") == 0) {
			c->key_type = KEYTYPE_RSA;
		} else if (strcasecmp(arg, "ec") == 0 ||
		    strcasecmp(arg, "ecdsa") == 0) {
			c->key_type = KEYTYPE_EC;
		} else {
			return cli_fail(c, EX_USAGE,
			    "option '--key-type': '%s' is not one of rsa, ec",
			    arg);
		}
		return 0;
	case OPT_KEY_SIZE:
		return parse_int(c, opt, arg, 256, 16384, &c->key_size);
	case OPT_TOKEN_RULE:
		c->token_rule = challenge_rule_parse(arg);
		if (c->token_rule >= TOKEN_RULE_MAX) {
			return cli_fail(c, EX_USAGE,
			    "option '--token-rule': '%s' is not one of octet, string",
			    arg);
		}
		c->token_rule_set = true;
		return 0;
	case OPT_DATABASE:
		return set_nonempty(c, opt, arg, &c->database);
	case OPT_MILTER_ROLE:
		return set_nonempty(c, opt, arg, &c->milter_role);
	case OPT_REQUESTER_ROLE:
		return set_nonempty(c, opt, arg, &c->requester_role);
	case OPT_SPOOL:
		if (set_nonempty(c, opt, arg, &c->spool_dir) != 0) {
			return EX_USAGE;
		}
		return set_responder(c, RESP_SPOOL, opt);
	case OPT_CONF:
		return set_nonempty(c, opt, arg, &c->conf_path);
	case OPT_EAB_KID:
		return set_nonempty(c, opt, arg, &c->eab_kid);
	case OPT_EAB_HMAC:
		return take_secret(c, opt, &c->eab_hmac, arg);
	case OPT_EAB_HMAC_FILE:
		return set_nonempty(c, opt, arg, &c->eab_hmac_file);
	case 'v':
		c->verbose++;
		return 0;
	case 'q':
		c->quiet = true;
		return 0;
	case OPT_JSON:
		c->json = true;
		return 0;
	case OPT_OAUTH2_TOKEN:
		return take_secret(c, opt, &c->oauth2_token, arg);
	case OPT_OAUTH2_TOKEN_FILE:
		return set_nonempty(c, opt, arg, &c->oauth2_token_file);
	case OPT_PASSWORD_FILE:
		return set_nonempty(c, opt, arg, &c->password_file);
	case OPT_PASSWORD_ENV:
		return set_nonempty(c, opt, arg, &c->password_env);
	case OPT_SMTP_PASSWORD_FILE:
		return set_nonempty(c, opt, arg, &c->smtp_password_file);
	case OPT_SMTP_PASSWORD_ENV:
		return set_nonempty(c, opt, arg, &c->smtp_password_env);
	case OPT_PASSPHRASE_FILE:
		return set_nonempty(c, opt, arg, &c->passphrase_file);
	case OPT_PASSPHRASE_ENV:
		return set_nonempty(c, opt, arg, &c->passphrase_env);
	case OPT_ALLOW_ROOT:
		c->allow_root = true;
		return 0;
	case OPT_FINALIZE_DELAY:
		return parse_int(c, opt, arg, 0, 3600, &c->finalize_delay);
	case OPT_SPOOL_POST_AFTER:
		return parse_int(c, opt, arg, 0, 86400, &c->spool_post_after);
	case OPT_SPOOL_TIMEOUT:
		return parse_int(c, opt, arg, 1, 7 * 86400, &c->spool_timeout);
	case OPT_TIMEOUT:
		return parse_int(c, opt, arg, 1, 7 * 86400, &c->timeout);
	case OPT_DKIM_KEYS:
		return set_nonempty(c, opt, arg, &c->dkim_keys);
	case OPT_MAIL_CA_BUNDLE:
		return set_nonempty(c, opt, arg, &c->mail_ca_bundle);
	case OPT_RENEW_WITHIN:
		return parse_int(c, opt, arg, 0, 3650, &c->renew_days);
	case OPT_ROTATE_KEY:
		c->rotate_key = true;
		return 0;
	case OPT_ROLLOVER:
		c->rollover = true;
		return 0;
	case OPT_DEACTIVATE:
		c->deactivate = true;
		return 0;
	case OPT_SYSLOG:
		c->syslog = true;
		return 0;
	case OPT_CONCURRENCY:
		return parse_int(c, opt, arg, 1, 64, &c->concurrency);
	case OPT_RESULTS:
		return set_nonempty(c, opt, arg, &c->results);
	case OPT_STATS:
		c->stats = true;
		return 0;
	case OPT_DELIVERY_HOOK:
		return set_nonempty(c, opt, arg, &c->delivery_hook);
	case OPT_NO_DELIVERY_HOOK:
		c->no_delivery_hook = true;
		return 0;
	default:
		break;
	}
	return cli_fail(c, EX_SOFTWARE, "option '%s' not handled", opt);
}

/* The name of the option getopt just returned, for messages. */
static const char *
opt_name(int ch, int idx, char *tmp, size_t tmplen)
{
	if (idx >= 0) {
		snprintf(tmp, tmplen, "--%s", long_opts[idx].name);
	} else {
		snprintf(tmp, tmplen, "-%c", ch);
	}
	return tmp;
}

/* Combinations, per command. */
static int
check(struct cli *c)
{
	size_t i;

	if (c->cmd == CMD_NONE) {
		return cli_fail(c, EX_USAGE,
		    "a command is required: cert, renew, revoke, retire, account, spool or batch");
	}
	if (c->cmd == CMD_CERT && c->n_emails == 0) {
		return cli_fail(c, EX_USAGE,
		    "cert: at least one -e/--email address is required");
	}
	if (c->cmd == CMD_RETIRE && c->n_emails == 0) {
		return cli_fail(c, EX_USAGE,
		    "retire: at least one -e/--email address is required");
	}
	if (c->cmd == CMD_BATCH && c->batch_file == NULL) {
		return cli_fail(c, EX_USAGE,
		    "batch: the batch file is required (smime-acme batch FILE)");
	}
	if (c->cmd != CMD_SPOOL_MIGRATE &&
	    (c->database != NULL || c->milter_role != NULL ||
		c->requester_role != NULL)) {
		return cli_fail(c, EX_USAGE,
		    "--database, --milter-role and --requester-role apply to spool-migrate only");
	}
	if (c->cmd != CMD_BATCH &&
	    (c->concurrency != 0 || c->results != NULL || c->stats)) {
		return cli_fail(c, EX_USAGE,
		    "--concurrency, --results and --stats apply to batch only");
	}
	if ((c->delivery_hook != NULL || c->no_delivery_hook) &&
	    c->cmd != CMD_CERT && c->cmd != CMD_RENEW && c->cmd != CMD_BATCH) {
		return cli_fail(c, EX_USAGE,
		    "--delivery-hook and --no-delivery-hook apply to cert, renew and batch only");
	}
	if (c->delivery_hook != NULL && c->no_delivery_hook) {
		return cli_fail(c, EX_USAGE,
		    "--delivery-hook and --no-delivery-hook exclude each other");
	}
	if (c->cmd == CMD_REVOKE && c->cert_path == NULL) {
		return cli_fail(c, EX_USAGE,
		    "revoke: --cert-path (PEM certificate or PKCS#12) is required");
	}
	if (c->reason >= 0 && c->cmd != CMD_REVOKE) {
		return cli_fail(c, EX_USAGE, "--reason applies to revoke only");
	}
	if ((c->rollover || c->deactivate) && c->cmd != CMD_ACCOUNT) {
		return cli_fail(c, EX_USAGE,
		    "--rollover and --deactivate apply to the account command only");
	}
	if (c->rollover && c->deactivate) {
		return cli_fail(c, EX_USAGE,
		    "--rollover and --deactivate exclude each other");
	}
	if (c->no_passphrase &&
	    (c->passphrase != NULL || c->passphrase_file != NULL ||
		c->passphrase_env != NULL)) {
		return cli_fail(c, EX_USAGE,
		    "--no-passphrase and a passphrase option exclude each other");
	}
	if (c->quiet && c->verbose > 0) {
		return cli_fail(c, EX_USAGE, "-q and -v exclude each other");
	}
	if (c->test && c->server != NULL) {
		return cli_fail(
		    c, EX_USAGE, "-t/--test and --server exclude each other");
	}
	if (c->tb_unsafe && c->responder != RESP_TB) {
		return cli_fail(c, EX_USAGE, "--tb-unsafe needs --tb");
	}
	if ((c->tb_profile != NULL || c->tb_bin != NULL) &&
	    c->responder != RESP_TB) {
		return cli_fail(
		    c, EX_USAGE, "--tb-profile and --tb-bin need --tb");
	}
	if (c->outlook_account != NULL && c->responder != RESP_OUTLOOK) {
		return cli_fail(
		    c, EX_USAGE, "--outlook-account needs --outlook");
	}
	if (c->responder != RESP_IMAP &&
	    (c->login != NULL || c->host != NULL || c->port != 0 || c->ssl ||
		c->smtp_method != SMTP_AUTO || c->smtp_login != NULL ||
		c->smtp_host != NULL || c->smtp_port != 0 ||
		c->mail_ca_bundle != NULL)) {
		return cli_fail(c, EX_USAGE,
		    "IMAP/SMTP options (--login, --host, --port, --ssl, --smtp-*) need --imap");
	}
	if (c->responder == RESP_IMAP && c->host == NULL) {
		return cli_fail(
		    c, EX_USAGE, "--imap needs --host (the IMAP server)");
	}
	if (c->key_type == KEYTYPE_EC && c->key_size != 0 &&
	    c->key_size != 256 && c->key_size != 384) {
		return cli_fail(c, EX_USAGE,
		    "option '--key-size': EC keys are 256 (P-256) or 384 (P-384)");
	}
	if (c->key_type == KEYTYPE_RSA && c->key_size != 0 &&
	    c->key_size != 2048 && c->key_size != 3072 && c->key_size != 4096) {
		return cli_fail(c, EX_USAGE,
		    "option '--key-size': RSA keys are 2048, 3072 or 4096 bits");
	}
	if (c->eab_kid != NULL && c->eab_hmac == NULL &&
	    c->eab_hmac_file == NULL) {
		return cli_fail(c, EX_USAGE,
		    "--eab-kid needs --eab-hmac or --eab-hmac-file");
	}
	if (c->eab_kid == NULL &&
	    (c->eab_hmac != NULL || c->eab_hmac_file != NULL)) {
		return cli_fail(c, EX_USAGE, "--eab-hmac needs --eab-kid");
	}
	for (i = 0; i < c->n_emails; i++) {
		if (c->cmd != CMD_CERT && c->cmd != CMD_RENEW &&
		    c->cmd != CMD_SPOOL && c->cmd != CMD_RETIRE) {
			return cli_fail(c, EX_USAGE,
			    "-e/--email does not apply to the %s command",
			    cli_cmd_name(c->cmd));
		}
	}
	return 0;
}

int
cli_parse(struct cli *c, int argc, char **argv)
{
	char tmp[64];
	int ch, idx, rc;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->reason = -1;
	c->renew_days = 30;
	c->finalize_delay = -1;
	c->spool_post_after = -1;
	c->spool_timeout = -1;
	c->timeout = -1;
	c->token_rule = TOKEN_RULE_OCTET;

	opterr = 0;
	optind = 0; /* GNU: full reset, so tests can parse repeatedly */
	for (;;) {
		idx = -1;
		ch = getopt_long(argc, argv, short_opts, long_opts, &idx);
		if (ch < 0) {
			break;
		}
		if (ch == '?') {
			if (optopt != 0) {
				return cli_fail(c, EX_USAGE,
				    "unknown option '-%c' (see --help)",
				    optopt);
			}
			return cli_fail(c, EX_USAGE,
			    "unknown or ambiguous option '%s' (see --help)",
			    argv[optind - 1]);
		}
		if (ch == ':') {
			return cli_fail(c, EX_USAGE,
			    "option '%s' needs a value", argv[optind - 1]);
		}
		/* "-e=a@x" is "a@x", as argparse (the seed client) reads a
		 * short option's attached value */
		if (idx < 0 && optarg != NULL && optarg[0] == '=' &&
		    optind > 0 && optarg == argv[optind - 1] + 2) {
			optarg++;
		}
		rc = handle(c, ch, optarg, opt_name(ch, idx, tmp, sizeof(tmp)));
		if (rc != 0) {
			return rc;
		}
	}
	for (; optind < argc; optind++) {
		if (c->cmd == CMD_RETIRE && c->n_emails == 0) {
			return cli_fail(c, EX_USAGE,
			    "retire: at least one -e/--email address is required");
		}
		if (c->cmd == CMD_BATCH && c->batch_file == NULL) {
			c->batch_file = argv[optind];
			continue;
		}
		if (c->cmd != CMD_NONE) {
			return cli_fail(c, EX_USAGE, "unexpected argument '%s'",
			    argv[optind]);
		}
		for (i = 1; i < CMD_MAX; i++) {
			if (strcmp(argv[optind], cmd_names[i]) == 0) {
				c->cmd = (enum cli_cmd)i;
				break;
			}
		}
		if (c->cmd == CMD_NONE) {
			return cli_fail(c, EX_USAGE,
			    "unknown command '%s': use cert, renew, revoke, retire, account, spool or batch",
			    argv[optind]);
		}
	}
	return check(c);
}
