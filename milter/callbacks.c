/*
 * callbacks: the smfiDesc table and the callbacks, in protocol order.
 *
 * While nothing at all is pending (the usual state: spool_is_empty, two
 * stat(2) of entries/ and work/ with the directory spool, the pending set
 * in memory with the database) the message is accepted at its first
 * RCPT.  Otherwise each recipient costs one lookup (two access(2), or the
 * pending set), and at DATA (or at the first header when DATA is not
 * sent) a message none of whose recipients has a spool entry is accepted;
 * at end of headers everything that is not a candidate (Subject with
 * "ACME:") is accepted, and so is our own reply passing through
 * non_smtpd_milters.  Every stage is registered and
 * answered and no SMFIP_NR_* flag is negotiated: Postfix sends each
 * stage's macros anyway, and a packet without a reply costs a 40 ms
 * Nagle/delayed-ACK stall on inet sockets (doc/performance.md §1).
 *
 * A candidate is checked at end of message (doc/protocol.md §2); any
 * refusal is logged once and the mail is delivered unchanged.  A
 * candidate's headers and body (up to MaxMessageSize) are kept and handed
 * at end of message to a verification worker process (milter/verifier.c),
 * which runs DKIM and, when DKIM does not pass and the Content-Type
 * announces one, the S/MIME check; a worker that gives no verdict costs
 * the mail a temporary failure.  The
 * application state is set once by callbacks_desc() before smfi_main()
 * and only read afterwards; all other state hangs off smfi_setpriv.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libmilter/mfapi.h>

#include "common/buf.h"
#include "common/challenge.h"
#include "common/challenge_mail.h"
#include "common/log.h"
#include "common/spool.h"
#include "dkim/dkimv.h"
#include "milter/callbacks.h"
#include "milter/ctx.h"
#include "milter/reply.h"
#include "milter/smime.h"
#include "milter/verifier.h"

#define ADDED_HEADER       "X-ACME-Challenge"
#define ADDED_VALUE        "answered by smime-acme-milter"
#define INCOMPLETE_POLL_MS 100
#define TEST_KILL_ENV      "SMIME_ACME_TEST_KILL_AFTER_CLAIM"

/* Written once by callbacks_desc() before smfi_main(); read-only after. */
static const struct milter_app *app_state;

/* libmilter takes char * for strings it does not modify: cast once here */
static const char *
mlt_getsymval(SMFICTX *ctx, const char *name)
{
	return smfi_getsymval(ctx, (char *)name);
}

/* A macro's value for the debug log, "-" if unset. */
static const char *
symval_or(SMFICTX *ctx, const char *name)
{
	const char *v = mlt_getsymval(ctx, name);

	return v != NULL ? v : "-";
}

static int
mlt_addheader(SMFICTX *ctx, const char *name, const char *value)
{
	return smfi_addheader(ctx, (char *)name, (char *)value);
}

static int
mlt_quarantine(SMFICTX *ctx, const char *reason)
{
	return smfi_quarantine(ctx, (char *)reason);
}

static int
mlt_setreply(
    SMFICTX *ctx, const char *rcode, const char *xcode, const char *msg)
{
	return smfi_setreply(ctx, (char *)rcode, (char *)xcode, (char *)msg);
}

static struct mctx *
getctx(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

/* The connection context, created on first use (negotiate or connect). */
static struct mctx *
getctx_new(SMFICTX *ctx)
{
	struct mctx *c = smfi_getpriv(ctx);

	if (c != NULL) {
		return c;
	}
	c = ctx_new(app_state);
	if (c != NULL && smfi_setpriv(ctx, c) != MI_SUCCESS) {
		log_err("NOQUEUE: connect: smfi_setpriv failed");
		ctx_free(c);
		c = NULL;
	}
	return c;
}

static void
read_qid(SMFICTX *ctx, struct mctx *c)
{
	const char *q = mlt_getsymval(ctx, "i");

	if (q != NULL || strcmp(c->qid, "NOQUEUE") == 0) {
		ctx_set_qid(c, q);
	}
}

/* The message is not ours: accept it and forget its state, so the next
 * message on this connection starts clean even when MAIL is skipped. */
static sfsistat
msg_accept(struct mctx *c)
{
	if (c != NULL) {
		ctx_reset_msg(c);
	}
	return SMFIS_ACCEPT;
}

static sfsistat
mlt_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0, unsigned long *pf1,
    unsigned long *pf2, unsigned long *pf3)
{
	struct mctx *c = getctx_new(ctx);

	/*
	 * Macros, stage by stage: only what a log line prints.  Each stage's
	 * macros are one more packet that gets no answer, and Sendmail
	 * writes them and the command separately without TCP_NODELAY, so
	 * over TCP the command waits for our delayed ACK: about 40 ms per
	 * stage (doc/performance.md §1).  An empty list means no packet.
	 * The queue id {i} is asked for where read_qid() runs: EOH and EOM,
	 * which ordinary mail never reaches (it is accepted at DATA); every
	 * line that names the message is logged there, so the stages
	 * ordinary mail passes (connect, RCPT, DATA) ask for nothing.  The
	 * connect macros only for the debug line that shows them.  Without
	 * SMFIF_SETSYMLIST (an old MTA) the MTA sends its own defaults.
	 */
	static const struct {
		int stage;
		const char *macros;
	} want[] = {
		{ SMFIM_CONNECT, "" },
		{ SMFIM_HELO, "" },
		{ SMFIM_ENVFROM, "" },
		{ SMFIM_ENVRCPT, "" },
		{ SMFIM_DATA, "" },
		{ SMFIM_EOH, "i" },
		{ SMFIM_EOM, "i" },
	};
	bool symlist = (f0 & SMFIF_SETSYMLIST) != 0;
	size_t i;

	(void)f2;
	(void)f3;
	for (i = 0; symlist && i < sizeof(want) / sizeof(want[0]); i++) {
		const char *m = want[i].macros;

		if (want[i].stage == SMFIM_CONNECT &&
		    log_get_level() >= LOG_LVL_DEBUG) {
			m = "_ {daemon_name}";
		}
		/* libmilter takes char * for a string it only copies */
		if (smfi_setsymlist(ctx, want[i].stage, (char *)m) !=
		    MI_SUCCESS) {
			log_warn("NOQUEUE: negotiate: smfi_setsymlist failed, "
				 "the MTA sends its default macros");
			symlist = false;
		}
	}
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_QUARANTINE);
	if (symlist) {
		*pf0 |= SMFIF_SETSYMLIST;
	}
	/*
	 * Headers exactly as received, for DKIM.  HELO, MAIL and unknown
	 * commands tell us nothing, so the MTA need not send them: each
	 * stage skipped is one round trip less on every ordinary message.
	 * Every stage that is sent is answered (no SMFIP_NR_*): an
	 * unanswered stage costs a Nagle/delayed-ACK stall over TCP.
	 * Message state is reset wherever a message ends (msg_accept, EOM,
	 * abort), so nothing depends on seeing MAIL.
	 */
	*pf1 = f1 &
	    (SMFIP_HDR_LEADSPC | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NOUNKNOWN);
	*pf2 = 0;
	*pf3 = 0;
	if (c != NULL) {
		c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	}
	return SMFIS_CONTINUE;
}

/* "addr port N" of a connect address, for the debug log. */
static void
format_hostaddr(const struct sockaddr *sa, char *out, size_t outlen)
{
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	char a[INET6_ADDRSTRLEN];

	snprintf(out, outlen, "unknown");
	if (sa == NULL) {
		return;
	}
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		if (inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) != NULL) {
			snprintf(out, outlen, "%s port %u", a,
			    (unsigned)ntohs(s4->sin_port));
		}
	} else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)) != NULL) {
			snprintf(out, outlen, "%s port %u", a,
			    (unsigned)ntohs(s6->sin6_port));
		}
	} else {
		snprintf(out, outlen, "family %d", (int)sa->sa_family);
	}
}

static sfsistat
mlt_connect(SMFICTX *ctx, char *hostname, struct sockaddr *hostaddr)
{
	struct mctx *c = getctx_new(ctx);
	char ha[INET6_ADDRSTRLEN + 32];

	if (c == NULL) {
		return SMFIS_ACCEPT;
	}
	c->non_smtp = ctx_is_simulated(hostname, hostaddr);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		/* what the MTA says about the client (the non-SMTP rule) */
		format_hostaddr(hostaddr, ha, sizeof(ha));
		log_debug("NOQUEUE: connect: %s [%s], _=%s, daemon_name=%s%s",
		    hostname != NULL ? hostname : "(null)", ha,
		    symval_or(ctx, "_"), symval_or(ctx, "{daemon_name}"),
		    c->non_smtp ? ": simulated (non-SMTP) connection" : "");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_helo(SMFICTX *ctx, char *helo)
{
	(void)ctx;
	(void)helo;
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_envfrom(SMFICTX *ctx, char **argv)
{
	struct mctx *c = getctx(ctx);

	(void)argv;
	if (c == NULL) {
		return SMFIS_ACCEPT;
	}
	ctx_reset_msg(c);
	return SMFIS_CONTINUE;
}

/* "<addr>" (possibly with white space) -> addr; -1 if too long/empty. */
static int
envelope_addr(const char *arg, char *out, size_t outlen)
{
	size_t n;

	while (*arg == ' ' || *arg == '<') {
		arg++;
	}
	n = strcspn(arg, ">");
	while (n > 0 && arg[n - 1] == ' ') {
		n--;
	}
	if (n == 0 || n >= outlen) {
		return -1;
	}
	memcpy(out, arg, n);
	out[n] = '\0';
	return 0;
}

static sfsistat
mlt_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mctx *c = getctx(ctx);
	char addr[CHALLENGE_ADDR_MAX + 1];

	/* never reject or tempfail a recipient (non-SMTP path, MILTER_README) */
	if (c == NULL || argv == NULL || argv[0] == NULL) {
		return SMFIS_CONTINUE;
	}
	if (envelope_addr(argv[0], addr, sizeof(addr)) < 0) {
		return SMFIS_CONTINUE;
	}
	if (c->n_rcpt == 0 && c->n_rcpt_over == 0 &&
	    spool_is_empty(c->app->spool)) {
		/* nothing pending anywhere: neither this recipient nor a
		 * later one has an entry, so the message is decided here and
		 * the MTA sends no DATA stage (doc/performance.md §2) */
		return msg_accept(c);
	}
	/* one too many is logged at EOH, where the queue id is known */
	if (spool_has(c->app->spool, addr)) {
		(void)ctx_add_rcpt(c, addr);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_data(SMFICTX *ctx)
{
	struct mctx *c = getctx(ctx);

	if (c == NULL || c->n_rcpt == 0) {
		return msg_accept(c);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_unknown(SMFICTX *ctx, const char *cmd)
{
	(void)ctx;
	(void)cmd;
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_header(SMFICTX *ctx, char *name, char *value)
{
	struct mctx *c = getctx(ctx);
	const struct config *cfg;

	if (c == NULL || c->n_rcpt == 0) {
		return msg_accept(c);
	}
	cfg = c->app->cfg;
	/* a problem is remembered in c->hdr_problem and refused at EOM, but
	 * only for a candidate: a Subject past the cap still decides that */
	if (ctx_add_header(c, name, value, cfg->max_header, cfg->max_message) <
		0 &&
	    !c->late_acme && strcasecmp(name, "Subject") == 0) {
		c->late_acme = challenge_mail_subject_is_candidate(value);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_eoh(SMFICTX *ctx)
{
	struct mctx *c = getctx(ctx);

	if (c == NULL || c->n_rcpt == 0) {
		return msg_accept(c);
	}
	read_qid(ctx, c);
	if (c->n_rcpt_over > 0) {
		log_warn("%s: eoh: %s: too many pending recipients in one "
			 "message, ignored (%zu beyond the first %d)",
		    c->qid, c->rcpt_over, c->n_rcpt_over, CTX_RCPT_MAX);
	}
	if (c->hdr_problem != NULL) {
		/* over a header cap: still ordinary mail (accepted, not
		 * logged) unless a Subject claims ACME:, kept or not */
		if (!c->late_acme && !challenge_mail_is_candidate(&c->hdr)) {
			return msg_accept(c);
		}
	} else {
		if (challenge_mail_is_own_reply(&c->hdr)) {
			if (c->app->cfg->log_why) {
				log_info(
				    "%s: eoh: own reply, accepted", c->qid);
			}
			return msg_accept(c);
		}
		if (!challenge_mail_is_candidate(&c->hdr)) {
			return msg_accept(c);
		}
		c->smime = !c->app->cfg->require_dkim &&
		    smime_is_signed(
			mailhdrs_get(&c->hdr, "Content-Type", NULL));
	}
	c->candidate = true;
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	struct mctx *c = getctx(ctx);

	if (c == NULL || !c->candidate) {
		return msg_accept(c);
	}
	if (c->body_bytes + len > c->app->cfg->max_message) {
		if (c->hdr_problem == NULL) {
			c->hdr_problem = "message larger than MaxMessageSize";
		}
		return SMFIS_CONTINUE;
	}
	c->body_bytes += len;
	/* kept for the verification worker (milter/verifier.c) */
	if (buf_append(&c->body, data, len) < 0 && c->hdr_problem == NULL) {
		c->hdr_problem = "out of memory keeping the body";
	}
	return SMFIS_CONTINUE;
}

static sfsistat
refuse(struct mctx *c, const char *obj, const char *why)
{
	log_notice("%s: eom: %s: not answered: %s", c->qid, obj, why);
	/* a request is pending for obj: tell the requester at once (a note
	 * beside the entry, which stays as it is for a genuine challenge) */
	if (spool_has(c->app->spool, obj) &&
	    spool_note_refusal(c->app->spool, obj, why) < 0) {
		log_warn("%s: eom: %s: cannot note the refusal in the spool",
		    c->qid, obj);
	}
	return SMFIS_CONTINUE;
}

/* 451 for a challenge that cannot be decided now, so that the CA's MTA
 * retries (maybe at another MX): text says what the sender sees. */
static sfsistat
tempfail(SMFICTX *ctx, struct mctx *c, const char *rcpt, const char *why,
    const char *text)
{
	log_notice(
	    "%s: eom: %s: not answered yet: %s, tempfail", c->qid, rcpt, why);
	(void)mlt_setreply(ctx, "451", "4.7.1", text);
	return SMFIS_TEMPFAIL;
}

/* The mail cannot be verified now (no verdict from the worker, or the
 * CA's DKIM key temporarily unavailable). */
#define VERIFY_LATER "ACME challenge could not be verified now, try again later"
/* The entry of rcpt is being answered by another delivery (a claim not
 * yet expired), or the database spool cannot be reached. */
#define SPOOL_LATER "ACME challenge cannot be answered now, try again later"

/*
 * A spool call for rcpt that gave no entry (rc 1: none, or not awaiting;
 * < 0: an error): 451 while another delivery holds a live claim on it or
 * the database spool cannot be reached, so that the CA's MTA retries;
 * otherwise the mail is refused with gone (rc 1) or bad (rc < 0).
 */
static sfsistat
spool_miss(SMFICTX *ctx, struct mctx *c, const char *rcpt, int rc, bool claimed,
    const char *gone, const char *bad)
{
	if (claimed) {
		return tempfail(ctx, c, rcpt,
		    "entry claimed by another delivery", SPOOL_LATER);
	}
	if (rc < 0 && spool_unavailable(c->app->spool)) {
		return tempfail(
		    ctx, c, rcpt, "spool database unreachable", SPOOL_LATER);
	}
	return refuse(c, rcpt, rc == 1 ? gone : bad);
}

/* Sleep ms milliseconds. */
static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
		;
	}
}

/*
 * Look up the entry for rcpt; while it is incomplete, re-read it every
 * 100 ms for up to IncompleteWait seconds.  0 found (maybe still
 * incomplete), 1 none, -1 error.
 */
static int
lookup_wait(
    SMFICTX *ctx, struct mctx *c, const char *rcpt, struct spool_entry *e)
{
	long waited = 0, limit = (long)c->app->cfg->incomplete_wait * 1000;
	int rc;

	rc = spool_lookup(c->app->spool, rcpt, e);
	while (rc == 0 && e->state == SPOOL_INCOMPLETE && waited < limit) {
		sleep_ms(INCOMPLETE_POLL_MS);
		waited += INCOMPLETE_POLL_MS;
		if (waited % 1000 == 0) {
			(void)smfi_progress(ctx);
		}
		rc = spool_lookup(c->app->spool, rcpt, e);
	}
	return rc;
}

/* The mail is a valid challenge for entry e: answer it. */
static sfsistat
answer(SMFICTX *ctx, struct mctx *c, const char *rcpt,
    const struct challenge_mail *m, const char *auth)
{
	const struct config *cfg = c->app->cfg;
	struct spool_entry e;
	struct buf msg;
	char msgid[CHALLENGE_MSGID_MAX], fp[9];
	const char *to, *why, *disp = cfg->disposition;
	int rc;

	buf_init(&msg, 0);
	rc = spool_claim(c->app->spool, rcpt, &e);
	if (rc != 0) {
		buf_free(&msg);
		return spool_miss(ctx, c, rcpt, rc, rc == SPOOL_CLAIMED,
		    "entry gone or no longer awaiting",
		    "cannot claim the spool entry");
	}
	/*
	 * Test hook: with TestDKIMKeys (a test-only key) and this variable
	 * set, the milter is killed right after its claim, as a crash or a
	 * kill -9 in the middle of a reply would (tests/e2e/test_multimx.sh).
	 */
	if (cfg->test_dkim_keys != NULL && getenv(TEST_KILL_ENV) != NULL) {
		log_warn("%s: eom: %s: %s set: killed after the claim", c->qid,
		    rcpt, TEST_KILL_ENV);
		(void)raise(SIGKILL);
	}
	/* the entry may have changed since it was checked */
	if (challenge_mail_match(m, &e, (long)time(NULL), &why) < 0) {
		(void)spool_release(c->app->spool, rcpt);
		buf_free(&msg);
		return refuse(c, rcpt, why);
	}
	to = challenge_mail_reply_to(m, e.from);
	if (reply_build(cfg, c->app->dkim, c->qid, m, &e, to, &msg, msgid,
		sizeof(msgid)) < 0 ||
	    reply_send(cfg, c->qid, e.mailbox, to, msg.data, msg.len) < 0) {
		(void)spool_release(c->app->spool, rcpt);
		explicit_bzero(&e, sizeof(e));
		buf_free_secret(&msg);
		return refuse(c, rcpt,
		    "reply could not be sent (the milter's log says why)");
	}
	buf_free_secret(&msg);
	e.state = SPOOL_ANSWERED;
	e.answered_at = time(NULL);
	snprintf(
	    e.challenge_msgid, sizeof(e.challenge_msgid), "%s", m->message_id);
	if (spool_complete(c->app->spool, &e) < 0) {
		log_err("%s: eom: %s: reply sent but the spool entry could "
			"not be marked answered",
		    c->qid, rcpt);
	}
	log_info("%s: eom: %s: answered: challenge from %s (%s, token "
		 "%s, rule %s), reply %s to %s",
	    c->qid, rcpt, m->from, auth,
	    log_fingerprint(m->token1, strlen(m->token1), fp),
	    challenge_rule_name(e.rule), msgid, to);
	explicit_bzero(&e, sizeof(e));

	if (disp != NULL && strcasecmp(disp, "discard") == 0) {
		return SMFIS_DISCARD;
	}
	if (disp != NULL && strcasecmp(disp, "quarantine") == 0) {
		if (mlt_quarantine(ctx,
			"ACME challenge answered by "
			"smime-acme-milter") != MI_SUCCESS) {
			log_warn(
			    "%s: eom: %s: quarantine failed", c->qid, rcpt);
		}
		return SMFIS_CONTINUE;
	}
	if (mlt_addheader(ctx, ADDED_HEADER,
		c->leadspc ? " " ADDED_VALUE : ADDED_VALUE) != MI_SUCCESS) {
		log_warn(
		    "%s: eom: %s: cannot add %s", c->qid, rcpt, ADDED_HEADER);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
check_and_answer(SMFICTX *ctx, struct mctx *c)
{
	struct challenge_mail m;
	struct spool_entry e;
	struct verifier_req rq;
	struct verifier_verdict vd;
	char auth[DKIMV_DOMAIN_MAX + 8], reason[DKIMV_REASON_MAX + 300];
	const char *why, *rcpt = c->rcpt[0];
	sfsistat st;
	size_t i;
	int rc;

	if (c->hdr_problem != NULL) {
		return refuse(c, rcpt, c->hdr_problem);
	}
	if (challenge_mail_parse(&c->hdr, &m, &why) < 0) {
		return refuse(c, rcpt, why);
	}
	for (i = 0; i < c->n_rcpt; i++) {
		if (challenge_addr_equal(m.to, c->rcpt[i])) {
			break;
		}
	}
	if (i == c->n_rcpt) {
		return refuse(c, rcpt, "To is not the address being certified");
	}
	rcpt = c->rcpt[i];

	rc = lookup_wait(ctx, c, rcpt, &e);
	if (rc != 0) {
		return spool_miss(ctx, c, rcpt, rc,
		    rc == 1 && spool_claimed(c->app->spool, rcpt),
		    "no pending spool entry", "spool entry unreadable");
	}
	if (e.state == SPOOL_INCOMPLETE) {
		explicit_bzero(&e, sizeof(e));
		if (c->non_smtp) {
			return refuse(c, rcpt,
			    "spool entry still incomplete (local submission, "
			    "delivered)");
		}
		log_notice("%s: eom: %s: not answered yet: spool entry still "
			   "incomplete after %d s, tempfail",
		    c->qid, rcpt, c->app->cfg->incomplete_wait);
		(void)mlt_setreply(ctx, "451", "4.7.1",
		    "ACME challenge arrived before its order was recorded, "
		    "try again later");
		return SMFIS_TEMPFAIL;
	}
	rc = challenge_mail_match(&m, &e, (long)time(NULL), &why);
	explicit_bzero(&e, sizeof(e));
	if (rc < 0) {
		return refuse(c, rcpt, why);
	}

	/* libopendkim and PKCS#7 run in a worker, never in this process */
	memset(&rq, 0, sizeof(rq));
	rq.qid = c->qid;
	rq.hdr = c->hdr.h;
	rq.n_hdr = c->hdr.n;
	rq.leadspc = c->leadspc;
	rq.body = (const unsigned char *)c->body.data;
	rq.body_len = c->body.len;
	rq.from_domain = challenge_addr_domain(m.from);
	rq.required = challenge_required_headers;
	rq.smime = c->smime;
	rq.content_type = mailhdrs_get(&c->hdr, "Content-Type", NULL);
	rq.m = &m;
	if (verifier_run(c->app->verifier, &rq, &vd, reason, sizeof(reason)) <
	    0) {
		explicit_bzero(&m, sizeof(m));
		return tempfail(ctx, c, rcpt, reason, VERIFY_LATER);
	}
	if (vd.dkim.pass) {
		snprintf(auth, sizeof(auth), "d=%s", vd.dkim.domain);
	} else if (c->smime && vd.smime_rc == 0 && vd.smime.pass) {
		/* DKIM failed: a valid S/MIME signature authenticates too */
		snprintf(auth, sizeof(auth), "S/MIME");
	} else if (vd.dkim.tempfail) {
		/* the CA's key could not be fetched now: it may pass later */
		explicit_bzero(&m, sizeof(m));
		return tempfail(ctx, c, rcpt, vd.dkim.reason, VERIFY_LATER);
	} else if (c->smime) {
		snprintf(reason, sizeof(reason), "%s; %s", vd.dkim.reason,
		    vd.smime.reason);
		return refuse(c, rcpt, reason);
	} else {
		return refuse(c, rcpt, vd.dkim.reason);
	}
	st = answer(ctx, c, rcpt, &m, auth);
	explicit_bzero(&m, sizeof(m));
	return st;
}

static sfsistat
mlt_eom(SMFICTX *ctx)
{
	struct mctx *c = getctx(ctx);
	sfsistat st;

	if (c == NULL || !c->candidate) {
		return msg_accept(c);
	}
	read_qid(ctx, c);
	st = check_and_answer(ctx, c);
	ctx_reset_msg(c);
	return st;
}

static sfsistat
mlt_abort(SMFICTX *ctx)
{
	struct mctx *c = getctx(ctx);

	if (c != NULL) {
		ctx_reset_msg(c);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlt_close(SMFICTX *ctx)
{
	struct mctx *c = getctx(ctx);

	if (c != NULL) {
		(void)smfi_setpriv(ctx, NULL);
		ctx_free(c);
	}
	return SMFIS_CONTINUE;
}

static const struct smfiDesc desc = {
	.xxfi_name = (char *)"smime-acme-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_QUARANTINE,
	.xxfi_connect = mlt_connect,
	.xxfi_helo = mlt_helo,
	.xxfi_envfrom = mlt_envfrom,
	.xxfi_envrcpt = mlt_envrcpt,
	.xxfi_header = mlt_header,
	.xxfi_eoh = mlt_eoh,
	.xxfi_body = mlt_body,
	.xxfi_eom = mlt_eom,
	.xxfi_abort = mlt_abort,
	.xxfi_close = mlt_close,
	.xxfi_unknown = mlt_unknown,
	.xxfi_data = mlt_data,
	.xxfi_negotiate = mlt_negotiate,
};

struct smfiDesc
callbacks_desc(const struct milter_app *app)
{
	app_state = app;
	return desc;
}
