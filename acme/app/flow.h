/*
 * flow: the requester's commands (cert, renew, revoke, account, spool) on
 * top of the RFC 8555 library (acme.h, acct.h, order.h).  struct flow
 * carries the effective settings (command line over smime-acme.conf over
 * defaults), the ACME client and the account.  Command functions return a
 * sysexits(3) code for main(); helpers return 0 / -1 and record the exit
 * code of the first failure in f->ex.
 */
#ifndef ACME_APP_FLOW_H
#define ACME_APP_FLOW_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/proto/acme.h"
#include "acme/app/cli.h"
#include "acme/pki/key.h"
#include "common/conf.h"

#define FLOW_FINALIZE_DELAY   5    /* seconds after "ready" (CASTLE) */
#define FLOW_SPOOL_POST_AFTER 120  /* seconds before POSTing anyway */
#define FLOW_SPOOL_TIMEOUT    1800 /* seconds for a whole authorization */
#define FLOW_SPOOL_POLL_MS    200
#define FLOW_FINALIZE_TRIES   3  /* finalize attempts on a 5xx */
#define FLOW_HOOK_TIMEOUT     60 /* seconds for the delivery hook */

struct flow {
	struct cli *cli;
	const struct config *conf;
	char *server;     /* directory URL */
	char *config_dir; /* resolved, no trailing slash */
	char *work_dir;
	char *spool_dir; /* NULL: no spool */
	gid_t spool_gid; /* SpoolGroup of spool dirs we make, (gid_t)-1 */
	char *ca_bundle;
	enum token_rule rule;
	enum cli_responder responder; /* resolved (never RESP_AUTO) */
	int finalize_delay;
	int post_after;
	int timeout;      /* seconds per authorization */
	bool interactive; /* may prompt: a tty and no -n */
	const char *hook; /* DeliveryHook / --delivery-hook; NULL: none */
	bool renewing;    /* renew: the hook's SMIME_ACME_EVENT is renewed */
	bool terse;       /* renew: progress lines only with -v */
	time_t stored_not_after; /* of the set flow_issue stored last */

	struct acme_client *ac;
	struct key *account_key;
	char thumbprint[KEY_THUMBPRINT_LEN + 1];
	int ex; /* exit code of the first failure, 0 while none */
};

/* Resolve settings and check them; no network.  Returns 0 or an exit
 * code (message printed). */
int flow_init(struct flow *f, struct cli *c, const struct config *conf);
void flow_free(struct flow *f);

/* Create the ACME client and fetch the directory.  0 / -1 (f->ex). */
int flow_connect(struct flow *f);
/*
 * Load the account for f->server (or, with create, register one: a new
 * ES256 key, stored 0600 unless --dry-run).  Sets the client's account
 * and f->thumbprint.  0 / -1 (f->ex).
 */
int flow_account(struct flow *f, bool create);

/* Record the exit code for a failed ACME request and log "what: type:
 * detail" once.  Returns -1. */
int flow_acme_fail(struct flow *f, const char *what);
/* Record an exit code (first one wins).  Returns -1. */
int flow_fail(struct flow *f, int ex);

/* Progress for the user on stderr, unless -q, and with f->terse only at
 * -v (plain words, no secrets). */
void flow_say(const struct flow *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sleep in small steps (real clock); false if interrupted by a signal
 * asking us to stop. */
bool flow_sleep_ms(unsigned ms);
/* True once SIGINT/SIGTERM was received. */
bool flow_stopping(void);
void flow_signals(void);

/* Ask for a passphrase twice on the terminal.  malloc'ed or NULL. */
char *flow_prompt_secret(const char *prompt, bool twice);

/* The certificate key type --key-type / --key-size ask for (RSA 2048 by
 * default, as the seed client). */
enum key_type flow_key_type(const struct cli *c);

/* The commands. */
int flow_cmd_cert(struct flow *f);
int flow_cmd_renew(struct flow *f);
int flow_cmd_revoke(struct flow *f);
int flow_cmd_account(struct flow *f);
int flow_cmd_spool(struct flow *f);

/* Make sure the PKCS#12 passphrase is settled before ordering: given,
 * asked twice on a terminal, or --no-passphrase.  0 / -1 (f->ex). */
int flow_cert_passphrase(struct flow *f);

/*
 * Issue one certificate for addrs (the cert command and each renewal):
 * order (resumed when stored), answer, finalize, store.  key: reuse this
 * certificate key (NULL: generate or --key-path).  0 / -1 (f->ex).
 */
int flow_issue(struct flow *f, const char *const *addrs, size_t n,
    unsigned usage, struct key *key, const char *replaces);

/*
 * Run the delivery hook f->hook for the set just published in dir (the
 * CONFIG/certs/<address> link) as "/bin/sh -c HOOK", with the addresses
 * and paths only in its environment (SMIME_ACME_*, see smime-acme(1)),
 * standard input /dev/null and standard output sent to standard error.
 * Waits up to FLOW_HOOK_TIMEOUT seconds, then kills it.  No global state;
 * safe from batch workers.  0 (no hook, or it exited 0) / -1 (logged
 * once: exit status, signal or timeout).
 */
int flow_hook_run(
    const struct flow *f, const char *const *addrs, size_t n, const char *dir);

#endif
