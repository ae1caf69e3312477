/*
 * flow: the requester's commands (cert, renew, revoke, retire, account,
 * spool) on
 * top of the RFC 8555 library (acme.h, acct.h, order.h).  Three parts:
 * struct flow_settings, the effective settings (command line over
 * smime-acme.conf over the config table's defaults), built once and read
 * only afterwards; struct flow_session, one ACME client and the account it
 * signs with (one per batch worker); struct flow_outcome, what the first
 * failure means (exit code, retry, words), filled by one classifier.
 * struct flow ties them together for one command or one batch attempt.
 * Command functions return a sysexits(3) code for main(); helpers return
 * 0 / -1 and record the first failure in f->out.
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

#define FLOW_FINALIZE_DELAY 5 /* seconds after "ready" (CASTLE) */
#define FLOW_SPOOL_POLL_MS  200
/* the database spool is waited on by LISTEN: this is only the longest
 * wait between two looks (timeouts, progress) */
#define FLOW_SPOOL_LISTEN_MS 1000
#define FLOW_FINALIZE_TRIES  3  /* finalize attempts on a 5xx */
#define FLOW_HOOK_TIMEOUT    60 /* seconds for the delivery hook */
#define FLOW_PROGRESS_S      15 /* a "still waiting" line this often */

/* Built once by flow_settings_init(); read only afterwards (batch workers
 * share one). */
struct flow_settings {
	struct cli *cli;
	const struct config *conf;
	char *server;     /* directory URL */
	char *config_dir; /* resolved, no trailing slash */
	char *work_dir;
	char *spool_dir; /* NULL: no spool; a label when spool_db is set */
	char *spool_db;  /* SpoolDatabase conninfo, or NULL: the directory */
	gid_t spool_gid; /* SpoolGroup of spool dirs we make, (gid_t)-1 */
	char *ca_bundle;
	enum token_rule rule;
	enum cli_responder responder; /* RESP_AUTO: none (renew only) */
	int finalize_delay;
	int post_after;   /* seconds before POSTing anyway */
	int timeout;      /* seconds per authorization */
	bool interactive; /* may prompt: a tty and no -n */
	const char *hook; /* DeliveryHook / --delivery-hook; NULL: none */
};

/*
 * One ACME client and the account it signs with.  The command's session
 * owns the account key (own_key, freed by flow_session_free); a batch
 * worker's session borrows the command's (account_key only).
 */
struct flow_session {
	struct acme_client *ac;
	struct key *own_key;           /* NULL when borrowed */
	const struct key *account_key; /* own_key or borrowed */
	char thumbprint[KEY_THUMBPRINT_LEN + 1];
};

/* May batch try the same line again? */
enum flow_retry {
	FLOW_FINAL,     /* no: give up on the line */
	FLOW_RETRY,     /* yes, after a pause (transport, 5xx, timeouts) */
	FLOW_RATELIMIT, /* yes, after the CA's rate limit (every worker) */
	FLOW_RETRY_MAX
};

/* What the first failure means; ex 0 while there is none. */
struct flow_outcome {
	int ex;                /* sysexits code for main() */
	enum flow_retry retry; /* for batch */
	char kind[64];         /* the CA's problem type or our short name */
	char detail[2048];     /* plain words (batch results) */
};

struct flow {
	const struct flow_settings *set;
	struct flow_session *ses;
	struct flow_outcome out;
	bool worker;   /* a batch worker: no progress, no --json output,
			  the key comes from the order state */
	bool renewing; /* renew: the hook's SMIME_ACME_EVENT is renewed */
	bool terse;    /* renew: progress lines only with -v */
	time_t stored_not_after;         /* of the set flow_issue stored last */
	const struct seed_lineage *seed; /* renewing a seed lineage: store
					    in its certbot layout (seed.h) */
	char *seed_pfx; /* the NNNN_cert.pfx just stored, for the hook */
	time_t wait_since, wait_said, wait_last; /* the client's waits */
};

/* Resolve settings from c and conf (not NULL: smime-acme.conf or
 * conf_defaults()) and check them; no network.  Returns 0 or an exit code
 * (message printed).  Free with flow_settings_free() in every case. */
int flow_settings_init(
    struct flow_settings *s, struct cli *c, const struct config *conf);
void flow_settings_free(struct flow_settings *s);

/* Start a flow on settings s and session ses (zeroed here; free it with
 * flow_session_free()). */
void flow_begin(
    struct flow *f, const struct flow_settings *s, struct flow_session *ses);
/* Free the client and, if owned, the account key.  Accepts NULL. */
void flow_session_free(struct flow_session *ses);

/* Create the session's ACME client and fetch the directory.  0 / -1
 * (f->out). */
int flow_connect(struct flow *f);

/* The --no-verify-ssl warning; flow_connect gives it, except for renew,
 * which gives it once a set is due (nothing due: silence for cron). */
void flow_warn_insecure(const struct flow *f);
/*
 * Load the account for the server (or, with create, register one: a new
 * ES256 key, stored 0600 unless --dry-run).  Sets the client's account
 * and the session's thumbprint.  0 / -1 (f->out).
 */
int flow_account(struct flow *f, bool create);

/*
 * The one classifier.  flow_acme_fail: a failed ACME request; the
 * session's last problem decides exit code, retry and words, and the one
 * error line "what: ...: type: detail" is logged here.  flow_fail: our own
 * failure with exit code ex (its line was logged by the caller); the
 * words come from the same table.  flow_fail_kind: our own failure named
 * by its row's kind (for rows sharing an exit code).  The first failure
 * wins f->out.  All return -1.
 */
int flow_acme_fail(struct flow *f, const char *what);
int flow_fail(struct flow *f, int ex);
int flow_fail_kind(struct flow *f, const char *kind);
/* Forget the outcome (renew goes on with the next set). */
void flow_outcome_clear(struct flow *f);

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
int flow_cmd_retire(struct flow *f); /* in flow_revoke.c */
int flow_cmd_account(struct flow *f);
int flow_cmd_spool(struct flow *f);
int flow_cmd_import(struct flow *f); /* in flow_seed.c */

struct seed_lineage;
/*
 * The command line for renewing seed lineage l (flow_seed.c): c with the
 * lineage's saved responder and its settings where c names no responder,
 * and its saved passphrase (or no-passphrase) where c gives none.  *out
 * borrows every string from c and l: never cli_free() it.
 */
void flow_seed_cli(
    const struct cli *c, const struct seed_lineage *l, struct cli *out);
/* A flow for seed lineage l: base's session, settings from flow_seed_cli,
 * f.seed = l.  flow_seed_begin returns 0 or an exit code (printed);
 * flow_seed_end (also after a failed or no begin, r zeroed) frees what the
 * run made.  Used by cert and renew in a seed directory. */
struct flow_seed_run {
	struct cli lc;
	struct flow_settings ls;
	struct flow f;
};
int flow_seed_begin(const struct flow *base, const struct seed_lineage *l,
    struct flow_seed_run *r);
void flow_seed_end(struct flow_seed_run *r, const struct flow *base,
    const struct seed_lineage *l);
/* cert -c DIR for a seed directory: into the lineage of the first address
 * (its next version), or a new lineage with its renewal file.  Returns
 * the exit code. */
int flow_seed_cert(struct flow *f);
/*
 * Adopt the certbot account of the seed tree under the configuration
 * directory (id: a lineage's saved account id, or NULL) when we have none
 * stored for the server: its key goes into our account store (0600,
 * atomic) with its URL.  1 adopted, 0 nothing to do (ours exists or the
 * tree has none), -1 error (logged, f->out).
 */
int flow_seed_account(struct flow *f, const char *id);

/* spool-migrate: runs without a flow (no account, no CA); in
 * flow_account.c.  A sysexits code. */
int flow_cmd_spool_migrate(const struct cli *c, const struct config *conf);
/* Open the spool of the settings (the database of SpoolDatabase, or the
 * directory, made with create); NULL on failure (logged). */
struct spool *flow_spool_open(const struct flow_settings *st, bool create);

/* A responder is set (renew decides only once a set is due): 0, or -1
 * (logged, f->out EX_USAGE). */
int flow_responder_ready(struct flow *f);

/* Make sure the PKCS#12 passphrase is settled before ordering: given,
 * asked twice on a terminal, or --no-passphrase.  0 / -1 (f->out). */
int flow_cert_passphrase(struct flow *f);

/*
 * Issue one certificate for addrs (the cert command and each renewal):
 * order (resumed when stored), answer, finalize, store.  key: reuse this
 * certificate key (NULL: generate or --key-path).  Returns the outcome,
 * f->out: ex 0 on success, else what the first failure means.
 */
const struct flow_outcome *flow_issue(struct flow *f, const char *const *addrs,
    size_t n, unsigned usage, struct key *key, const char *replaces);

/*
 * Run the delivery hook f->set->hook for the set just published in dir (the
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
