/*
 * responder_mail: the glue between the responders that see whole
 * challenge mails (file, IMAP, Thunderbird) and the one challenge-mail
 * judgement of common/challenge_mail.h, which the milter uses too: split
 * the raw header block, judge it against the job's CA sender and address,
 * compose the reply, and DKIM-verify the raw message (dkim/dkimv.h).  No
 * check of its own lives here.
 *
 * Sender rule: a whole mail is judged only against the CA's "from" (the
 * job's j->from); when the CA gave none the mail is refused with a reason
 * saying so.  The responders that never see a From (interactive, and a
 * --file-validate Subject line) address their reply to j->from and refuse
 * when it is empty (see responder_file.c, responder_tty.c).
 */
#ifndef ACME_APP_RESPONDER_MAIL_H
#define ACME_APP_RESPONDER_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/app/responder.h"
#include "common/challenge_mail.h"

/*
 * Judge the raw mail text (CRLF or LF line ends) as the challenge for j:
 * mailhdrs_split() with the MAILHDR_* caps, challenge_mail_parse(),
 * challenge_mail_check(m, j->from, j->addr).  0 and m filled, or -1 with
 * *why a static reason (never the token).
 */
int resp_mail_judge(const struct responder_job *j, const char *text, size_t len,
    struct challenge_mail *m, const char **why);

/*
 * Compose the reply to m for j: to (at least CHALLENGE_ADDR_MAX + 1 bytes)
 * receives challenge_mail_reply_to(m, j->from); the digest comes from
 * responder_digest(), the text from challenge_mail_compose().  Appends to
 * out.  0 / -1 (logged).
 */
int resp_mail_compose(const struct responder_job *j,
    const struct challenge_mail *m, char *to, size_t tolen, struct buf *out);

struct dkimv_lib;

/*
 * DKIM-verify a whole raw message (CRLF or LF line ends) as the milter
 * does: a passing signature with d= equal to from_domain and h= naming
 * every header of challenge_required_headers.  0 pass, -1 with *why set.
 */
int resp_mail_dkim(struct dkimv_lib *lib, const char *msg, size_t len,
    const char *from_domain, const char **why);

#endif
