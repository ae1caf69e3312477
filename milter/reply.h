/*
 * reply: build and send the RFC 8823 response mail.  The text comes from
 * challenge_mail_compose() (common/challenge_mail.c), the digest from
 * challenge_response(); this module adds an optional DKIM signature
 * (SigningKey for the certified address's domain, dkim/dkimv.c) and hands
 * the mail to the MTA: the sendmail command (fork/execve, no shell) or SMTP
 * submission (libcurl).  Called by callbacks.c at end of message.
 */
#ifndef MILTER_REPLY_H
#define MILTER_REPLY_H

#include <stddef.h>

#include "common/buf.h"
#include "common/challenge_mail.h"
#include "common/conf.h"
#include "common/spool.h"
#include "dkim/dkimv.h"

/* Once at startup, before threads (libcurl's global init).  0 / -1. */
int reply_global_init(void);

/*
 * Build the complete reply for challenge m answered from entry e, sent to
 * to: compute the digest, compose, and sign it when cfg has a SigningKey
 * for the domain of e->mailbox.  Appends to out; msgid receives our
 * Message-ID.  The digest is wiped before returning.  0 / -1 (logged with
 * qid).
 */
int reply_build(const struct config *cfg, struct dkimv_lib *dkim,
    const char *qid, const struct challenge_mail *m,
    const struct spool_entry *e, const char *to, struct buf *out, char *msgid,
    size_t msgidlen);

/* The SigningKey entry for domain (case-insensitive), or NULL. */
const struct conf_signing_key *reply_signing_key(
    const struct config *cfg, const char *domain);

/*
 * Run "path -i -f from -- to" with msg on standard input, no shell, a
 * minimal environment and all other descriptors closed; kill it after
 * timeout seconds.  0 if it exited 0, -1 otherwise (logged with qid).
 */
int reply_sendmail(const char *path, const char *qid, const char *from,
    const char *to, const char *msg, size_t len, int timeout);

/* SMTP submission to host:port (AUTH if user is set, password from
 * passfile, and then only after STARTTLS: a server without it is
 * refused), envelope from -> to.  0 / -1 (logged with qid). */
int reply_smtp(const struct config *cfg, const char *qid, const char *from,
    const char *to, const char *msg, size_t len);

/* Send with the configured InjectMethod.  0 / -1. */
int reply_send(const struct config *cfg, const char *qid, const char *from,
    const char *to, const char *msg, size_t len);

#endif
