/*
 * ctx: per-connection and per-message state of smime-acme-milter, hung on
 * the libmilter context with smfi_setpriv (callbacks.c).  One struct mctx
 * per SMTP connection; the message part is reset at MAIL, abort and close.
 * ctx_free() is the only way state is released.  The application state
 * (config, spool, DKIM library) is shared read-only by every connection.
 */
#ifndef MILTER_CTX_H
#define MILTER_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/challenge.h"
#include "common/conf.h"
#include "common/mailhdr.h"
#include "common/spool.h"
#include "dkim/dkimv.h"

#define CTX_RCPT_MAX 8 /* candidate recipients kept per message */
#define CTX_QID_MAX  32

struct smime_trust;
struct verifier;

/* Read-only after startup; shared by all threads. */
struct milter_app {
	const struct config *cfg;
	struct spool *spool;
	struct dkimv_lib *dkim;
	struct smime_trust *smime; /* NULL: S/MIME cannot pass */
	struct verifier *verifier; /* runs dkim and smime on mail bytes */
	const char *progname;
};

struct mctx {
	const struct milter_app *app;
	bool non_smtp; /* Postfix's simulated connection (sendmail(1)) */
	bool leadspc;  /* SMFIP_HDR_LEADSPC negotiated */

	/* per message */
	char qid[CTX_QID_MAX];
	char rcpt[CTX_RCPT_MAX][CHALLENGE_ADDR_MAX + 1]; /* with an entry */
	size_t n_rcpt;
	/* recipients with an entry beyond CTX_RCPT_MAX: logged at EOH */
	char rcpt_over[CHALLENGE_ADDR_MAX + 1]; /* the first of them */
	size_t n_rcpt_over;
	struct mailhdrs hdr;     /* as libmilter gave them */
	const char *hdr_problem; /* static reason a header is unusable */
	bool candidate;          /* decided at EOH */
	bool late_acme; /* a Subject not kept (past a cap) claims ACME: */
	size_t body_bytes;
	bool smime;      /* S/MIME-signed candidate */
	struct buf body; /* a candidate's body, at most MaxMessageSize */
};

/* A new connection context; NULL on ENOMEM (logged). */
struct mctx *ctx_new(const struct milter_app *app);
/* Forget the current message (headers, recipients, body). */
void ctx_reset_msg(struct mctx *c);
/* Free everything; NULL is fine. */
void ctx_free(struct mctx *c);

/* Remember a recipient that has a spool entry; extra ones are dropped
 * (returns -1), counted in n_rcpt_over, the first kept in rcpt_over. */
int ctx_add_rcpt(struct mctx *c, const char *addr);
/*
 * Keep a header of a candidate (mailhdrs_add()).  A header longer than
 * max_header, more than MAILHDR_COUNT_MAX headers or more than max_total
 * bytes sets c->hdr_problem (the mail cannot be a valid challenge) and
 * returns -1; so does a CR or LF in the value that is not folding.
 */
int ctx_add_header(struct mctx *c, const char *name, const char *value,
    size_t max_header, size_t max_total);
/* Set the queue id from the macro value (NULL gives "NOQUEUE"). */
void ctx_set_qid(struct mctx *c, const char *qid);

/*
 * Postfix's cleanup(8) simulates the SMTP connection of mail submitted with
 * sendmail(1) (non_smtpd_milters) as 127.0.0.1 or ::1 with client port 0;
 * a real SMTP client always has a non-zero port.  True for that case.
 */
struct sockaddr;
bool ctx_is_simulated(const char *hostname, const struct sockaddr *sa);

#endif
