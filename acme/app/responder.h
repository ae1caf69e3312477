/*
 * responder: who answers the challenge mail of one authorization.  The
 * issuance flow (flow_cert.c) calls, per address: prepare() before the
 * order exists, ordered() (optional) once its URL is known and before any
 * authorization is fetched, arm() once the
 * challenge (token-part2, from, URLs) is known, wait() until the reply
 * has gone out (it may call responder_post() itself, e.g. when nothing
 * arrives in time), and finish() at the end whatever happened.  Every
 * responder computes the digest with common/challenge.h only.
 */
#ifndef ACME_APP_RESPONDER_H
#define ACME_APP_RESPONDER_H

#include <stdbool.h>
#include <time.h>

#include "acme/app/flow.h"

struct responder_job {
	struct flow *f;
	const char *addr;
	char from[CHALLENGE_ADDR_MAX + 1];
	char *token2; /* secret, owned */
	char *order_url;
	char *authz_url;
	char *challenge_url;
	time_t expires;
	time_t created; /* first spool write: the entry keeps it (freshness) */
	bool armed;     /* challenge known (pending authorization) */
	bool posted;    /* challenge POSTed */
	void *priv;     /* responder state */
};

struct responder_ops {
	const char *name;
	int (*prepare)(struct responder_job *j);
	int (*ordered)(struct responder_job *j); /* may be NULL */
	int (*arm)(struct responder_job *j);
	int (*wait)(struct responder_job *j);
	void (*finish)(struct responder_job *j, bool ok);
};

/* The operations for f->responder. */
const struct responder_ops *responder_get(enum cli_responder r);

/* POST the challenge once (idempotent).  0 / -1 (f->out). */
int responder_post(struct responder_job *j);

/* The reply digest for token-part1 (helpers for the responders). */
int responder_digest(const struct responder_job *j, const char *part1,
    char out[CHALLENGE_DIGEST_LEN + 1]);

/*
 * token-part1 from what a person pastes or an automation writes: the
 * challenge Subject ("ACME: <token>", optionally after "Subject:") or the
 * token alone; only the first line counts.  0 / -1 (*why set, the token
 * never in it) as challenge_parse_subject.
 */
int responder_parse_subject(
    const char *text, char *part1, size_t len, const char **why);

/* The -----BEGIN ACME RESPONSE----- block for display or files. */
int responder_block(const char *digest, struct buf *out);

extern const struct responder_ops responder_spool_ops;
extern const struct responder_ops responder_tty_ops;
extern const struct responder_ops responder_file_ops;
extern const struct responder_ops responder_imap_ops;
extern const struct responder_ops responder_tb_ops;

#endif
