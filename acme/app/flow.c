/*
 * flow: settings resolution, the ACME connection and the account, shared
 * by every command (flow.h), and the one failure classifier.  Precedence:
 * command line, then smime-acme.conf, whose unset keys hold the config
 * table's defaults (common/conf.c).  User-facing progress goes to stderr
 * through flow_say(); an ACME failure is logged once, here, with the CA's
 * "type: detail" (the library logs it at debug only), and every failure
 * is mapped to a sysexits code, a retry class and words by flow_rules.
 */
#include <sys/stat.h>
#include <assert.h>
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
#include "common/spool.h"
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
	const struct cli *c = f->set->cli;
	va_list ap;

	if (c->quiet || f->worker || (f->terse && c->verbose == 0)) {
		return;
	}
	va_start(ap, fmt);
	fputs("smime-acme: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * The one classification of a failure.  Rows are tried in order.  A row
 * with a type matches an ACME failure whose problem has that type ("*":
 * any problem, status: any problem with at least that HTTP status); a row
 * without one matches our own failure with exit code ex (0: any).  line is
 * the words of the logged line of an ACME failure (NULL: "the CA says";
 * server: followed by the directory URL); kind and words name the
 * failure for batch (NULL: the problem's type and detail; own: the words
 * of our own failure with the row's ex).
 */
struct flow_rule {
	const char *type;
	int status;
	int ex;
	enum flow_retry retry;
	const char *line;
	bool server;
	bool own;
	const char *kind;
	const char *words;
};

static const struct flow_rule flow_rules[] = {
	/* ACME failures: the session's last problem */
	{ "transport", 0, EX_TEMPFAIL, FLOW_RETRY,
	    "cannot reach the ACME server", true, false, NULL, NULL },
	{ "rateLimited", 0, EX_TEMPFAIL, FLOW_RATELIMIT,
	    "the CA refused for now", false, false, NULL, NULL },
	{ "serverInternal", 0, EX_TEMPFAIL, FLOW_RETRY,
	    "the CA refused for now", false, false, NULL, NULL },
	{ "*", 500, EX_TEMPFAIL, FLOW_RETRY, "the CA refused for now", false,
	    false, NULL, NULL },
	{ "http", 0, EX_PROTOCOL, FLOW_FINAL, "unexpected answer from the CA",
	    false, false, NULL, NULL },
	/* retried away, or no type: not this failure's reason */
	{ "badNonce", 0, EX_UNAVAILABLE, FLOW_FINAL, NULL, false, true, NULL,
	    NULL },
	{ "", 0, EX_UNAVAILABLE, FLOW_FINAL, NULL, false, true, NULL, NULL },
	{ "*", 0, EX_UNAVAILABLE, FLOW_FINAL, NULL, false, false, NULL, NULL },
	/* our own failures, and an ACME failure without a problem */
	{ NULL, 0, EX_TEMPFAIL, FLOW_RETRY, NULL, false, false, "timeout",
	    "the challenge mail was not answered or the CA did not decide in time (is the milter running?); run the batch again to resume the same order" },
	/* the same exit code, named by flow_fail_kind */
	{ NULL, 0, EX_TEMPFAIL, FLOW_RETRY, NULL, false, false, "mail",
	    "the reply to the challenge mail could not be sent (SMTP); run again to resume the same order" },
	{ NULL, 0, EX_TEMPFAIL, FLOW_RETRY, NULL, false, false, "processing",
	    "the challenge was valid but the CA had not issued the certificate by the deadline; run again to resume the same order" },
	{ NULL, 0, EX_UNAVAILABLE, FLOW_FINAL, NULL, false, false,
	    "unavailable",
	    "the challenge could not be completed (the milter could not answer it, or the CA gave up on the order)" },
	{ NULL, 0, EX_CANTCREAT, FLOW_FINAL, NULL, false, false, "store",
	    "cannot write the order or certificate files under the configuration directory" },
	{ NULL, 0, EX_IOERR, FLOW_FINAL, NULL, false, false, "spool",
	    "cannot read the spool directory" },
	{ NULL, 0, EX_PROTOCOL, FLOW_FINAL, NULL, false, false, "protocol",
	    "unexpected answer from the CA (see the log)" },
	{ NULL, 0, EX_NOINPUT, FLOW_FINAL, NULL, false, false, "store",
	    "cannot read the stored order state" },
	{ NULL, 0, EX_DATAERR, FLOW_FINAL, NULL, false, false, "token",
	    "cannot compute the challenge response (check TokenRule)" },
	{ NULL, 0, 0, FLOW_FINAL, NULL, false, false, "internal",
	    "internal error or out of memory (see the log)" },
};

#define FLOW_NRULES (sizeof(flow_rules) / sizeof(flow_rules[0]))

/* The row for problem p (NULL: our own failure with exit code ex). */
static const struct flow_rule *
flow_rule_find(const struct acme_problem *p, int ex)
{
	const char *type = p != NULL ? problem_short(p) : NULL;
	const struct flow_rule *r;
	size_t i;

	for (i = 0; i < FLOW_NRULES; i++) {
		r = &flow_rules[i];
		if (p != NULL && r->type != NULL &&
		    (strcmp(r->type, "*") == 0 || strcmp(r->type, type) == 0) &&
		    p->status >= r->status) {
			return r;
		}
		if (p == NULL && r->type == NULL &&
		    (r->ex == 0 || r->ex == ex)) {
			return r;
		}
	}
	return &flow_rules[FLOW_NRULES - 1];
}

/* Fill f->out from row r (first failure wins). */
static void
flow_outcome_set(struct flow *f, const struct flow_rule *r, int ex,
    const struct acme_problem *p)
{
	const char *kind, *words;

	if (f->out.ex != 0) {
		return;
	}
	if (r->own) {
		r = flow_rule_find(NULL, ex);
		p = NULL;
	}
	kind = r->kind;
	words = r->words;
	if (kind == NULL) {
		kind = p != NULL ? problem_short(p) : "";
	}
	if (words == NULL && p != NULL) {
		/* a final refusal is best told by its first subproblem */
		words = r->retry == FLOW_FINAL && p->n_sub > 0 &&
			p->sub[0].detail != NULL
		    ? p->sub[0].detail
		    : p->detail;
	}
	f->out.ex = ex;
	f->out.retry = r->retry;
	snprintf(f->out.kind, sizeof(f->out.kind), "%s",
	    kind != NULL && *kind != '\0' ? kind : "failed");
	snprintf(f->out.detail, sizeof(f->out.detail), "%s",
	    words != NULL ? words : "");
}

int
flow_fail(struct flow *f, int ex)
{
	flow_outcome_set(f, flow_rule_find(NULL, ex), ex, NULL);
	return -1;
}

int
flow_fail_kind(struct flow *f, const char *kind)
{
	const struct flow_rule *r;
	size_t i;

	for (i = 0; i < FLOW_NRULES; i++) {
		r = &flow_rules[i];
		if (r->type == NULL && r->kind != NULL &&
		    strcmp(r->kind, kind) == 0) {
			flow_outcome_set(f, r, r->ex, NULL);
			return -1;
		}
	}
	return flow_fail(f, EX_SOFTWARE);
}

int
flow_acme_fail(struct flow *f, const char *what)
{
	struct acme_client *ac = f->ses != NULL ? f->ses->ac : NULL;
	const struct acme_problem *p =
	    ac != NULL ? acme_last_problem(ac) : NULL;
	const char *text = ac != NULL ? acme_last_error(ac) : "";
	const struct flow_rule *r;

	if (p == NULL) {
		log_err("%s: failed", what);
		return flow_fail(f, EX_UNAVAILABLE);
	}
	r = flow_rule_find(p, 0);
	if (r->server) {
		log_err("%s: %s %s: %s", what, r->line, f->set->server, text);
	} else {
		log_err("%s: %s: %s", what,
		    r->line != NULL ? r->line : "the CA says", text);
	}
	flow_outcome_set(f, r, r->ex, p);
	return -1;
}

void
flow_outcome_clear(struct flow *f)
{
	memset(&f->out, 0, sizeof(f->out));
}

/* SpoolGroup: a group name or number.  0 / -1 (logged). */
struct spool *
flow_spool_open(const struct flow_settings *st, bool create)
{
	if (st->spool_db != NULL) {
		return spool_open_db(st->spool_db, 0);
	}
	return spool_open(
	    st->spool_dir, create, -1, create ? st->spool_gid : (gid_t)-1);
}

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

/* Standard input a pipe and -n not given: the interactive responder reads
 * the Subject from it (a script, as the seed's interactive mode allows). */
static bool
stdin_is_pipe(const struct cli *c)
{
	struct stat st;

	return !c->non_interactive && fstat(STDIN_FILENO, &st) == 0 &&
	    S_ISFIFO(st.st_mode);
}

static void
no_responder(void)
{
	log_err(
	    "no way to answer the challenge mail without a terminal: use --spool DIR (milter), --imap, --file-validate or --tb");
}

int
flow_responder_ready(struct flow *f)
{
	if (f->set->responder != RESP_AUTO) {
		return 0;
	}
	no_responder();
	return flow_fail(f, EX_USAGE);
}

int
flow_settings_init(
    struct flow_settings *st, struct cli *c, const struct config *conf)
{
	const char *s;

	assert(conf != NULL);
	memset(st, 0, sizeof(*st));
	st->spool_gid = (gid_t)-1;
	st->cli = c;
	st->conf = conf;
	st->interactive = !c->non_interactive && isatty(STDIN_FILENO) &&
	    isatty(STDERR_FILENO);

	if (c->server != NULL) {
		s = c->server;
	} else if (c->test) {
		s = CLI_SERVER_STAGING;
	} else if (conf->server != NULL && *conf->server) {
		s = conf->server;
	} else {
		s = CLI_SERVER_PROD;
	}
	st->server = strdup(s);

	if (c->config_dir != NULL) {
		st->config_dir = dup_trim(c->config_dir);
	} else if (conf->config_dir != NULL && *conf->config_dir) {
		st->config_dir = dup_trim(conf->config_dir);
	} else {
		st->config_dir = default_config_dir();
		if (st->config_dir == NULL) {
			log_err(
			    "no configuration directory: use -c/--config-dir (HOME is not set)");
			return EX_USAGE;
		}
	}
	if (c->work_dir != NULL) {
		st->work_dir = dup_trim(c->work_dir);
	} else if (st->config_dir != NULL) {
		st->work_dir = store_path(st->config_dir, "work");
	}
	if (c->spool_dir != NULL) {
		st->spool_dir = dup_trim(c->spool_dir);
	} else if (conf->spool_database != NULL) {
		/* --spool DIR on the command line wins over the database */
		st->spool_db = strdup(conf->spool_database);
		st->spool_dir = strdup("PostgreSQL (SpoolDatabase)");
		if (st->spool_db == NULL || st->spool_dir == NULL) {
			log_err("out of memory");
			return EX_OSERR;
		}
	} else if (conf_is_set(conf, "SpoolDirectory")) {
		st->spool_dir = dup_trim(conf->spool_dir);
		if (st->spool_dir == NULL) {
			log_err("out of memory");
			return EX_OSERR;
		}
	} else if (conf->spool_dir != NULL && *conf->spool_dir &&
	    conf->path != NULL) {
		/* not set: the built-in default, but only where a milter
		 * reading the same file has set it up (entries/ exists) */
		char *e = store_path(conf->spool_dir, "entries");
		if (e != NULL && fs_exists(e)) {
			st->spool_dir = dup_trim(conf->spool_dir);
		}
		free(e);
	}
	if (spool_group(conf, &st->spool_gid) != 0) {
		return EX_CONFIG;
	}
	if (c->ca_bundle != NULL) {
		st->ca_bundle = strdup(c->ca_bundle);
	} else if (conf->ca_bundle != NULL && *conf->ca_bundle) {
		st->ca_bundle = strdup(conf->ca_bundle);
	}
	if (st->server == NULL || st->config_dir == NULL ||
	    st->work_dir == NULL) {
		log_err("out of memory");
		return EX_OSERR;
	}

	if (c->no_delivery_hook) {
		st->hook = NULL;
	} else if (c->delivery_hook != NULL) {
		st->hook = c->delivery_hook;
	} else if (conf->hook != NULL && *conf->hook) {
		st->hook = conf->hook;
	}

	st->rule = TOKEN_RULE_OCTET;
	if (c->token_rule_set) {
		st->rule = c->token_rule;
	} else if (conf->token_rule != NULL && *conf->token_rule) {
		st->rule = challenge_rule_parse(conf->token_rule);
		if (st->rule >= TOKEN_RULE_MAX) {
			log_err("%s: TokenRule: '%s' is not octet or string",
			    conf->path ? conf->path : "config",
			    conf->token_rule);
			return EX_CONFIG;
		}
	}
	st->finalize_delay =
	    c->finalize_delay >= 0 ? c->finalize_delay : FLOW_FINALIZE_DELAY;
	/* the defaults are the config table's (common/conf.c); 0 is a value */
	st->post_after = c->spool_post_after >= 0 ? c->spool_post_after
						  : conf->spool_post_after;
	if (c->spool_timeout > 0) {
		st->timeout = c->spool_timeout;
	} else if (c->timeout > 0) {
		st->timeout = c->timeout;
	} else {
		st->timeout = conf->spool_timeout;
	}

	st->responder = c->responder;
	if (st->responder == RESP_AUTO) {
		if (st->spool_dir != NULL) {
			st->responder = RESP_SPOOL;
		} else if (st->interactive || stdin_is_pipe(c)) {
			st->responder = RESP_INTERACTIVE;
		} else if (c->cmd == CMD_CERT || c->cmd == CMD_BATCH) {
			no_responder();
			return EX_USAGE;
		}
		/* renew: refused once a set is due (flow_responder_ready) */
	}
	if (st->responder == RESP_IMAP && c->password == NULL &&
	    c->oauth2_token == NULL && !c->dry_run) {
		if (!st->interactive) {
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
	if (st->responder == RESP_OUTLOOK) {
		log_err(
		    "--outlook: the MAPI (Outlook) responder exists only on Windows; on this platform use --imap with an OAuth2 token (--oauth2-token-file FILE) for Outlook/Microsoft 365 mailboxes, or --tb");
		return EX_UNAVAILABLE;
	}
	return 0;
}

void
flow_settings_free(struct flow_settings *st)
{
	if (st == NULL) {
		return;
	}
	free(st->server);
	free(st->config_dir);
	free(st->work_dir);
	free(st->spool_dir);
	free(st->spool_db);
	free(st->ca_bundle);
	memset(st, 0, sizeof(*st));
}

void
flow_begin(
    struct flow *f, const struct flow_settings *s, struct flow_session *ses)
{
	memset(f, 0, sizeof(*f));
	memset(ses, 0, sizeof(*ses));
	f->set = s;
	f->ses = ses;
}

void
flow_session_free(struct flow_session *ses)
{
	if (ses == NULL) {
		return;
	}
	acme_free(ses->ac);
	key_free(ses->own_key);
	memset(ses, 0, sizeof(*ses));
}

void
flow_warn_insecure(const struct flow *f)
{
	if (f->set->cli->no_verify_ssl) {
		log_warn(
		    "--no-verify-ssl: the ACME server's certificate is not checked%s",
		    f->set->responder == RESP_IMAP
			? ", nor the IMAP and SMTP servers'"
			: "");
	}
}

/*
 * The client's sleep (polling, Retry-After waits): as the library's own,
 * plus a progress line every FLOW_PROGRESS_S seconds of one wait, so a CA
 * that takes minutes to check a reply or issue is never a silent pause.
 * Sleeps less than 5 s apart belong to the same wait.
 */
static void
flow_clock_sleep(void *arg, unsigned seconds)
{
	struct flow *f = arg;
	struct timespec ts;
	time_t now = time(NULL);

	if (f->wait_last == 0 || now - f->wait_last > 5) {
		f->wait_since = now;
		f->wait_said = now;
	} else if (now - f->wait_said >= FLOW_PROGRESS_S) {
		f->wait_said = now;
		flow_say(f, "still waiting for the CA (%ld s)",
		    (long)(now - f->wait_since));
	}
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
		continue;
	}
	f->wait_last = time(NULL);
}

int
flow_connect(struct flow *f)
{
	const struct flow_settings *s = f->set;
	struct acme_opts o;

	memset(&o, 0, sizeof(o));
	o.clock.sleep = flow_clock_sleep;
	o.clock.arg = f;
	o.directory_url = s->server;
	o.http.ca_bundle = s->ca_bundle;
	o.http.insecure = s->cli->no_verify_ssl;
	if (!f->renewing) {
		flow_warn_insecure(f);
	}
	f->ses->ac = acme_new(&o);
	if (f->ses->ac == NULL) {
		return flow_fail(f, EX_SOFTWARE);
	}
	log_info("directory %s", s->server);
	if (acme_directory(f->ses->ac) != 0) {
		/* "transport": 75 (try again); "http" (an error status or
		 * no directory at that URL): 76; the CA's problem: 69 */
		if (acme_last_problem(f->ses->ac) != NULL) {
			return flow_acme_fail(f, "directory");
		}
		log_err(
		    "cannot reach the ACME server %s or read its directory; try again later",
		    s->server);
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
	const struct flow_settings *s = f->set;
	const struct cli *c = s->cli;
	struct flow_session *ses = f->ses;
	const struct acme_directory *d = acme_get_directory(ses->ac);
	char *contact[CLI_CONTACT_MAX];
	struct acct_opts ao;
	struct key *k = NULL;
	bool agree = c->agree_tos, created = false;
	size_t i, n = 0;
	int rc = -1;

	memset(contact, 0, sizeof(contact));
	if (d != NULL && d->terms_of_service != NULL && !agree) {
		if (!s->interactive) {
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
	/* said here, once, with the options (the library's own check would
	 * leave only "account: failed" to the user) */
	if (d != NULL && d->eab_required &&
	    (c->eab_kid == NULL || c->eab_hmac == NULL)) {
		log_err(
		    "account: the CA requires External Account Binding: add --eab-kid and --eab-hmac-file");
		return flow_fail(f, EX_UNAVAILABLE);
	}
	flow_say(f, "creating an ACME account at %s", s->server);
	k = key_generate(KEY_EC256);
	if (k == NULL) {
		return flow_fail(f, EX_SOFTWARE);
	}
	for (i = 0; i < c->n_contact; i++) {
		size_t len = strlen(c->contact[i]) + 8;
		contact[n] = malloc(len);
		if (contact[n] == NULL) {
			flow_fail(f, EX_OSERR);
			goto out;
		}
		snprintf(contact[n], len, "mailto:%s", c->contact[i]);
		n++;
	}
	memset(&ao, 0, sizeof(ao));
	ao.contact = (const char *const *)contact;
	ao.n_contact = n;
	ao.agree_tos = agree;
	ao.eab_kid = c->eab_kid;
	ao.eab_hmac = c->eab_hmac;
	if (acct_register(ses->ac, k, &ao, NULL, &created) != 0) {
		flow_acme_fail(f, "account");
		goto out;
	}
	if (!c->dry_run &&
	    store_account_save(
		s->config_dir, s->server, k, acme_kid(ses->ac)) != 0) {
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	ses->own_key = k;
	ses->account_key = k;
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
	const struct flow_settings *s = f->set;
	struct flow_session *ses = f->ses;
	char *kid = NULL;
	struct key *k = NULL;
	int r, rc = -1;

	r = store_account_load(s->config_dir, s->server, &k, &kid);
	if (r < 0) {
		return flow_fail(f, EX_NOINPUT);
	}
	if (r == 1) {
		if (!create) {
			log_err("no account for %s under %s", s->server,
			    s->config_dir);
			return flow_fail(f, EX_NOINPUT);
		}
		if (register_account(f) != 0) {
			return -1;
		}
	} else {
		ses->own_key = k;
		ses->account_key = k;
		k = NULL;
		if (kid != NULL && *kid != '\0') {
			if (acme_set_account(ses->ac, ses->account_key, kid) !=
			    0) {
				flow_fail(f, EX_SOFTWARE);
				goto out;
			}
		} else if (acct_find(ses->ac, ses->account_key, NULL) != 0) {
			flow_acme_fail(f, "account");
			goto out;
		}
	}
	if (jws_thumbprint(ses->account_key, ses->thumbprint) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	log_info("account %s", acme_kid(ses->ac) ? acme_kid(ses->ac) : "?");
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
