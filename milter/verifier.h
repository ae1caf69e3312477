/*
 * verifier: DKIM and S/MIME verification of a candidate in a separate,
 * unprivileged, resource-limited process (doc/design.md §3, "Privilege
 * separation").  The process that talks to the MTA never runs
 * libopendkim or GnuTLS PKCS#7 on attacker bytes: callbacks.c hands the
 * kept headers and body to verifier_run() at end of message and gets a
 * fixed-size verdict back.  A worker that crashes, loops or overruns
 * VerifyTimeout costs that one mail a temporary failure.  Started by
 * main.c before smfi_main() (no threads yet); verifier_run() may be
 * called from any number of milter threads at once.
 */
#ifndef MILTER_VERIFIER_H
#define MILTER_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>

#include "dkim/dkimv.h"
#include "common/challenge_mail.h"
#include "common/mailhdr.h"
#include "milter/ctx.h"
#include "milter/smime.h"

#define VERIFIER_WHY_MAX 128

struct verifier; /* opaque: the milter's handle on the worker server */

/* What one candidate's worker is asked to check. */
struct verifier_req {
	const char *qid;
	const struct mailhdr *hdr; /* headers as received (c->hdr.h) */
	size_t n_hdr;
	bool leadspc; /* values keep their leading space */
	const unsigned char *body;
	size_t body_len;
	const char *from_domain;        /* dkimv_end()'s from_domain */
	const char *const *required;    /* dkimv_end()'s required */
	bool smime;                     /* also smime_verify() if DKIM fails */
	const char *content_type;       /* outer Content-Type (NULL: none) */
	const struct challenge_mail *m; /* smime_verify()'s m */
};

/* The worker's answer: the return values and results of the calls that
 * callbacks.c used to make itself. */
struct verifier_verdict {
	int dkim_rc; /* dkimv_end() */
	struct dkimv_result dkim;
	bool smime_done; /* smime_verify() was called */
	int smime_rc;
	struct smime_result smime;
};

/*
 * Fork the worker server: a single-threaded child of the milter that
 * keeps app->dkim and app->smime as loaded at startup, gives up the
 * filesystem (Landlock, where the kernel has it) and keeps workers forked
 * ahead, each for one candidate.  Call before smfi_main(), after the privilege drop.  NULL on
 * failure (logged).  The server exits when the milter closes its end
 * (verifier_stop() or the milter's exit).
 */
struct verifier *verifier_start(const struct milter_app *app);
void verifier_stop(struct verifier *v);

/*
 * Verify one candidate in a fresh worker, waiting at most VerifyTimeout
 * seconds (the worker is then killed).  0 and *out filled; -1 when no
 * verdict came (worker crashed, was killed by a limit or the deadline,
 * or could not be started): why then says which, for the caller's one
 * log line, and the mail should get a temporary failure.
 */
int verifier_run(struct verifier *v, const struct verifier_req *rq,
    struct verifier_verdict *out, char *why, size_t whylen);

#endif
