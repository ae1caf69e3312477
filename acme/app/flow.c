/*
 * flow: settings resolution, the ACME connection and the account, shared
 * by every command (flow.h).  Precedence: command line, then
 * smime-acme.conf, then built-in defaults.  User-facing progress goes to
 * stderr through flow_say(); failures are logged once with the CA's
 * "type: detail" and mapped to a sysexits code.
 */
#include <sys/stat.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "acme/proto/acct.h"
#include "acme/proto/jws.h"
#include "acme/app/flow.h"
#include "acme/app/store.h"
#include "common/fsutil.h"
#include "common/log.h"

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void
flow_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

bool
flow_stopping(void)
{
	return stop_requested != 0;
}

bool
flow_sleep_ms(unsigned ms)
{
	struct timespec ts;

	if (stop_requested) {
		return false;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		if (stop_requested) {
			return false;
		}
	}
	return !stop_requested;
}

void
flow_say(const struct flow *f, const char *fmt, ...)
{
	va_list ap;

	if (f->cli->quiet || (f->terse && f->cli->verbose == 0)) {
		return;
	}
	va_start(ap, fmt);
	fputs("smime-acme: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int
flow_fail(struct flow *f, int ex)
{
	if (f->ex == 0) {
		f->ex = ex;
	}
	return -1;
}

int
flow_acme_fail(struct flow *f, const char *what)
{
	const struct acme_problem *p = f->ac ? acme_last_problem(f->ac) : NULL;
	const char *type = p != NULL ? problem_short(p) : "";
	const char *text = f->ac ? acme_last_error(f->ac) : "";
	int ex = EX_UNAVAILABLE;

	if (strcmp(type, "transport") == 0) {
		ex = EX_TEMPFAIL;
		log_err("%s: cannot reach the ACME server %s: %s", what,
		    f->server, text);
	} else if (strcmp(type, "rateLimited") == 0 ||
	    strcmp(type, "serverInternal") == 0 ||
	    (p != NULL && p->status >= 500)) {
		ex = EX_TEMPFAIL;
		log_err("%s: the CA refused for now: %s", what, text);
	} else if (strcmp(type, "http") == 0) {
		ex = EX_PROTOCOL;
		log_err("%s: unexpected answer from the CA: %s", what, text);
	} else if (p != NULL) {
		log_err("%s: the CA says: %s", what, text);
	} else {
		log_err("%s: failed", what);
	}
	return flow_fail(f, ex);
}

/* SpoolGroup: a group name or number.  0 / -1 (logged). */
static int
spool_group(const struct config *conf, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];
	long n;
	int e;

	*gid = (gid_t)-1;
	if (conf == NULL || conf->spool_group == NULL) {
		return 0;
	}
	if (conf_parse_long(conf->spool_group, 0, INT_MAX - 1, &n) == 0) {
		*gid = (gid_t)n;
		return 0;
	}
	e = getgrnam_r(conf->spool_group, &gr, buf, sizeof(buf), &res);
	if (e != 0 || res == NULL) {
		log_err("%s: SpoolGroup: no group '%s'",
		    conf->path ? conf->path : "config", conf->spool_group);
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

/* $XDG_CONFIG_HOME/smime-acme or $HOME/.config/smime-acme */
static char *
default_config_dir(void)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	const char *h = getenv("HOME");
	char buf[4096];

	if (x != NULL && *x == '/') {
		snprintf(buf, sizeof(buf), "%s/smime-acme", x);
	} else if (h != NULL && *h == '/') {
		snprintf(buf, sizeof(buf), "%s/.config/smime-acme", h);
	} else {
		return NULL;
	}
	return strdup(buf);
}

static char *
dup_trim(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (d == NULL) {
		return NULL;
	}
	n = strlen(d);
	while (n > 1 && d[n - 1] == '/') {
		d[--n] = '\0';
	}
	return d;
}

int
flow_init(struct flow *f, struct cli *c, const struct config *conf)
{
	const char *s;

	memset(f, 0, sizeof(*f));
	f->spool_gid = (gid_t)-1;
	f->cli = c;
	f->conf = conf;
	f->interactive = !c->non_interactive && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO);

	if (c->server != NULL) {
		s = c->server;
	} else if (c->test) {
		s = CLI_SERVER_STAGING;
	} else if (conf != NULL && conf->server != NULL && *conf->server) {
		s = conf->server;
	} else {
		s = CLI_SERVER_PROD;
	}
	f->server = strdup(s);

	if (c->config_dir != NULL) {
		f->config_dir = dup_trim(c->config_dir);
	} else if (conf != NULL && conf->config_dir != NULL &&
	    *conf->config_dir) {
		f->config_dir = dup_trim(conf->config_dir);
	} else {
		f->config_dir = default_config_dir();
		if (f->config_dir == NULL) {
			log_err(
			    "no configuration directory: use -c/--config-dir (HOME is not set)");
			return EX_USAGE;
		}
	}
	if (c->work_dir != NULL) {
		f->work_dir = dup_trim(c->work_dir);
	} else if (f->config_dir != NULL) {
		f->work_dir = store_path(f->config_dir, "work");
	}
	if (c->spool_dir != NULL) {
		f->spool_dir = dup_trim(c->spool_dir);
	} else if (conf_is_set(conf, "SpoolDirectory")) {
		f->spool_dir = dup_trim(conf->spool_dir);
		if (f->spool_dir == NULL) {
			log_err("out of memory");
			return EX_OSERR;
		}
	} else if (conf != NULL && conf->spool_dir != NULL &&
	    *conf->spool_dir && conf->path != NULL) {
		/* not set: the built-in default, but only where a milter
		 * reading the same file has set it up (entries/ exists) */
		char *e = store_path(conf->spool_dir, "entries");
		if (e != NULL && fs_exists(e)) {
			f->spool_dir = dup_trim(conf->spool_dir);
		}
		free(e);
	}
	if (spool_group(conf, &f->spool_gid) != 0) {
		return EX_CONFIG;
	}
	if (c->ca_bundle != NULL) {
		f->ca_bundle = strdup(c->ca_bundle);
	} else if (conf != NULL && conf->ca_bundle != NULL &&
	    *conf->ca_bundle) {
		f->ca_bundle = strdup(conf->ca_bundle);
	}
	if (f->server == NULL || f->config_dir == NULL || f->work_dir == NULL) {
		log_err("out of memory");
		return EX_OSERR;
	}

	if (c->no_delivery_hook) {
		f->hook = NULL;
	} else if (c->delivery_hook != NULL) {
		f->hook = c->delivery_hook;
	} else if (conf != NULL && conf->hook != NULL && *conf->hook) {
		f->hook = conf->hook;
	}

	f->rule = TOKEN_RULE_OCTET;
	if (c->token_rule_set) {
		f->rule = c->token_rule;
	} else if (conf != NULL && conf->token_rule != NULL &&
	    *conf->token_rule) {
		f->rule = challenge_rule_parse(conf->token_rule);
		if (f->rule >= TOKEN_RULE_MAX) {
			log_err("%s: TokenRule: '%s' is not octet or string",
			    conf->path ? conf->path : "config",
			    conf->token_rule);
			return EX_CONFIG;
		}
	}
	f->finalize_delay =
	    c->finalize_delay >= 0 ? c->finalize_delay : FLOW_FINALIZE_DELAY;
	if (c->spool_post_after >= 0) {
		f->post_after = c->spool_post_after;
	} else if (conf != NULL && conf->spool_post_after > 0) {
		f->post_after = conf->spool_post_after;
	} else {
		f->post_after = FLOW_SPOOL_POST_AFTER;
	}
	if (c->spool_timeout > 0) {
		f->timeout = c->spool_timeout;
	} else if (c->timeout > 0) {
		f->timeout = c->timeout;
	} else if (conf != NULL && conf->spool_timeout > 0) {
		f->timeout = conf->spool_timeout;
	} else {
		f->timeout = FLOW_SPOOL_TIMEOUT;
	}

	f->responder = c->responder;
	if (f->responder == RESP_AUTO) {
		if (f->spool_dir != NULL) {
			f->responder = RESP_SPOOL;
		} else if (f->interactive) {
			f->responder = RESP_INTERACTIVE;
		} else if (c->cmd == CMD_CERT || c->cmd == CMD_RENEW ||
		    c->cmd == CMD_BATCH) {
			log_err(
			    "no way to answer the challenge mail without a terminal: use --spool DIR (milter), --imap, --file-validate or --tb");
			return EX_USAGE;
		}
	}
	if (f->responder == RESP_IMAP && c->password == NULL &&
	    c->oauth2_token == NULL && !c->dry_run) {
		if (!f->interactive) {
			log_err(
			    "--imap needs a password (--password-file, --password-env, --password) or an OAuth2 token (--oauth2-token-file)");
			return EX_USAGE;
		}
		c->password = flow_prompt_secret("IMAP password", false);
		if (c->password == NULL) {
			log_err("no IMAP password entered");
			return EX_NOINPUT;
		}
	}
	if (f->responder == RESP_OUTLOOK) {
		log_err(
		    "--outlook: the MAPI (Outlook) responder exists only on Windows; on this platform use --imap with an OAuth2 token (--oauth2-token-file FILE) for Outlook/Microsoft 365 mailboxes, or --tb");
		return EX_UNAVAILABLE;
	}
	return 0;
}

void
flow_free(struct flow *f)
{
	if (f == NULL) {
		return;
	}
	acme_free(f->ac);
	key_free(f->account_key);
	free(f->server);
	free(f->config_dir);
	free(f->work_dir);
	free(f->spool_dir);
	free(f->ca_bundle);
	memset(f, 0, sizeof(*f));
}

int
flow_connect(struct flow *f)
{
	struct acme_opts o;

	memset(&o, 0, sizeof(o));
	o.directory_url = f->server;
	o.http.ca_bundle = f->ca_bundle;
	o.http.insecure = f->cli->no_verify_ssl;
	if (f->cli->no_verify_ssl) {
		log_warn(
		    "--no-verify-ssl: the ACME server's certificate is not checked");
	}
	f->ac = acme_new(&o);
	if (f->ac == NULL) {
		return flow_fail(f, EX_SOFTWARE);
	}
	log_info("directory %s", f->server);
	if (acme_directory(f->ac) != 0) {
		/* "transport": 75 (try again); "http" (an error status or
		 * no directory at that URL): 76; the CA's problem: 69 */
		if (acme_last_problem(f->ac) != NULL) {
			return flow_acme_fail(f, "directory");
		}
		log_err(
		    "cannot reach the ACME server %s or read its directory; try again later",
		    f->server);
		return flow_fail(f, EX_TEMPFAIL);
	}
	return 0;
}

static bool
ask_yes(const char *question)
{
	char line[32];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL) {
		return false;
	}
	return line[0] == 'y' || line[0] == 'Y';
}

static int
register_account(struct flow *f)
{
	const struct acme_directory *d = acme_get_directory(f->ac);
	char *contact[CLI_CONTACT_MAX];
	struct acct_opts ao;
	struct key *k = NULL;
	bool agree = f->cli->agree_tos, created = false;
	size_t i, n = 0;
	int rc = -1;

	memset(contact, 0, sizeof(contact));
	if (d != NULL && d->terms_of_service != NULL && !agree) {
		if (!f->interactive) {
			log_err(
			    "the CA's terms of service (%s) must be accepted: add --agree-tos",
			    d->terms_of_service);
			return flow_fail(f, EX_USAGE);
		}
		fprintf(stderr, "The CA's terms of service: %s\n",
		    d->terms_of_service);
		if (!ask_yes("Do you agree?")) {
			log_err("terms of service not accepted");
			return flow_fail(f, EX_NOPERM);
		}
		agree = true;
	}
	flow_say(f, "creating an ACME account at %s", f->server);
	k = key_generate(KEY_EC256);
	if (k == NULL) {
		return flow_fail(f, EX_SOFTWARE);
	}
	for (i = 0; i < f->cli->n_contact; i++) {
		size_t len = strlen(f->cli->contact[i]) + 8;
		contact[n] = malloc(len);
		if (contact[n] == NULL) {
			flow_fail(f, EX_OSERR);
			goto out;
		}
		snprintf(contact[n], len, "mailto:%s", f->cli->contact[i]);
		n++;
	}
	memset(&ao, 0, sizeof(ao));
	ao.contact = (const char *const *)contact;
	ao.n_contact = n;
	ao.agree_tos = agree;
	ao.eab_kid = f->cli->eab_kid;
	ao.eab_hmac = f->cli->eab_hmac;
	if (acct_register(f->ac, k, &ao, NULL, &created) != 0) {
		flow_acme_fail(f, "account");
		goto out;
	}
	if (!f->cli->dry_run &&
	    store_account_save(f->config_dir, f->server, k, acme_kid(f->ac)) !=
		0) {
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	f->account_key = k;
	k = NULL;
	rc = 0;
out:
	for (i = 0; i < n; i++) {
		free(contact[i]);
	}
	key_free(k);
	return rc;
}

int
flow_account(struct flow *f, bool create)
{
	char *kid = NULL;
	struct key *k = NULL;
	int r, rc = -1;

	r = store_account_load(f->config_dir, f->server, &k, &kid);
	if (r < 0) {
		return flow_fail(f, EX_NOINPUT);
	}
	if (r == 1) {
		if (!create) {
			log_err("no account for %s under %s", f->server,
			    f->config_dir);
			return flow_fail(f, EX_NOINPUT);
		}
		if (register_account(f) != 0) {
			return -1;
		}
	} else {
		f->account_key = k;
		k = NULL;
		if (kid != NULL && *kid != '\0') {
			if (acme_set_account(f->ac, f->account_key, kid) != 0) {
				flow_fail(f, EX_SOFTWARE);
				goto out;
			}
		} else if (acct_find(f->ac, f->account_key, NULL) != 0) {
			flow_acme_fail(f, "account");
			goto out;
		}
	}
	if (jws_thumbprint(f->account_key, f->thumbprint) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	log_info("account %s", acme_kid(f->ac) ? acme_kid(f->ac) : "?");
	rc = 0;
out:
	key_free(k);
	free(kid);
	return rc;
}

char *
flow_prompt_secret(const char *prompt, bool twice)
{
	struct termios old, noecho;
	char a[512], b[512];
	char *res = NULL;
	bool restore = false;
	int tries;

	for (tries = 0; tries < 3 && res == NULL; tries++) {
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			noecho = old;
			noecho.c_lflag &= ~(tcflag_t)ECHO;
			restore =
			    tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) == 0;
		}
		fprintf(stderr, "%s: ", prompt);
		fflush(stderr);
		if (fgets(a, sizeof(a), stdin) == NULL) {
			a[0] = '\0';
			tries = 3;
		}
		fputc('\n', stderr);
		a[strcspn(a, "\r\n")] = '\0';
		b[0] = '\0';
		if (twice && tries < 3) {
			fprintf(stderr, "%s (again): ", prompt);
			fflush(stderr);
			if (fgets(b, sizeof(b), stdin) == NULL) {
				b[0] = '\0';
			}
			fputc('\n', stderr);
			b[strcspn(b, "\r\n")] = '\0';
		}
		if (restore) {
			(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		}
		if (tries >= 3) {
			break;
		}
		if (twice && strcmp(a, b) != 0) {
			fprintf(stderr, "The two entries differ; try again.\n");
			continue;
		}
		res = strdup(a);
	}
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
	return res;
}
