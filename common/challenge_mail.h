/*
 * challenge_mail: the one judgement of an RFC 8823 challenge mail, used by
 * the milter (headers from its callbacks) and by every requester responder
 * that sees a whole mail (headers split from the raw text).  Both fill a
 * struct mailhdrs (common/mailhdr.h) and ask the same questions here:
 *
 *   challenge_mail_parse   exactly one From, To, Subject and Auto-Submitted
 *                          (first token "auto-generated", RFC 3834), at most
 *                          one Reply-To and Sender, the Subject syntax;
 *                          Message-ID and References sanitised for the
 *                          reply's threading (unusable ones are dropped)
 *   challenge_mail_check   From == the CA's challenge sender, To == the
 *                          address being certified
 *   challenge_mail_match   the above against a spool entry, plus its state,
 *                          expiry and the Date's freshness (the milter)
 *   challenge_mail_reply_to  where the reply goes
 *   challenge_mail_compose   the reply's text (common/challenge.c)
 *
 * The sender rule: a whole mail is never accepted without a CA "from" to
 * compare its From with (the challenge object names the CA's sender in
 * "from"; without it anyone could have sent the mail, and the reply would
 * go to them).  Only the responders that never see a From -- the interactive
 * one and a --file-validate Subject line, where a person or the automation
 * vouches for the mail -- work without it, and they address the reply to
 * the CA's "from" or refuse when there is none.
 *
 * Pure functions, no I/O; reasons are static strings and never contain a
 * token.
 */
#ifndef COMMON_CHALLENGE_MAIL_H
#define COMMON_CHALLENGE_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/challenge.h"
#include "common/mailhdr.h"
#include "common/spool.h"

#define CHALLENGE_MSGID_MAX 512
#define CHALLENGE_REFS_MAX  CHALLENGE_LINE_MAX

struct challenge_mail {
	char from[CHALLENGE_ADDR_MAX + 1];
	char to[CHALLENGE_ADDR_MAX + 1];
	char reply_to[CHALLENGE_ADDR_MAX + 1]; /* "" if absent */
	char token1[CHALLENGE_TOKEN_MAX + 1];
	char message_id[CHALLENGE_MSGID_MAX]; /* "" if absent or unusable */
	char references[CHALLENGE_REFS_MAX];  /* "" if absent or unusable */
	long long date; /* the Date, seconds since the epoch; 0 if absent,
			   repeated or not an RFC 5322 date-time */
};

/*
 * Freshness (doc/protocol.md §2): a challenge must not be dated before its
 * order.  The Date may be this much earlier than the spool entry's
 * creation (clocks of the CA and of this host disagree a little); older
 * is an old challenge replayed.  The Date is signed: DKIM's h= must list
 * "date" (challenge_required_headers) and an S/MIME signature must
 * protect the same Date (milter/smime.c).
 */
#define CHALLENGE_DATE_SKEW 600

/*
 * Cheap test (the milter at end of headers): could this be a challenge
 * (Subject, RFC 2047-decoded, has "ACME:" anywhere)?  Everything else is
 * accepted.
 */
bool challenge_mail_is_candidate(const struct mailhdrs *hs);
/* The same test on one raw Subject value (the milter asks it of a Subject
 * it could not keep because the mail went over a header cap). */
bool challenge_mail_subject_is_candidate(const char *raw);

/* Our own reply passing through non_smtpd_milters: Auto-Submitted:
 * auto-replied and a Subject "Re: ACME: ...". */
bool challenge_mail_is_own_reply(const struct mailhdrs *hs);

/*
 * Parse and check the headers of a candidate (see above).  A problem
 * recorded in hs (a cap, a malformed line) is a refusal too.  0 and out
 * filled, or -1 with *why a static reason.
 */
int challenge_mail_parse(
    const struct mailhdrs *hs, struct challenge_mail *out, const char **why);

/*
 * The parsed mail is the challenge sent by ca_from to mailbox: From equals
 * ca_from (an empty ca_from is a refusal), To equals mailbox.  0, or -1
 * with *why.
 */
int challenge_mail_check(const struct challenge_mail *m, const char *ca_from,
    const char *mailbox, const char **why);

/*
 * Check the parsed mail against the spool entry of the recipient: entry
 * awaiting, not expired at now, then challenge_mail_check() with the
 * entry's from and mailbox.  0, or -1 with *why.
 */
int challenge_mail_match(const struct challenge_mail *m,
    const struct spool_entry *e, long now, const char **why);

/*
 * The freshness rule above: m->date present and not before created minus
 * CHALLENGE_DATE_SKEW (created 0: an entry without a creation time, not
 * checked).  0, or -1 with *why.  challenge_mail_match() applies it.
 */
int challenge_mail_fresh(
    const struct challenge_mail *m, long long created, const char **why);

/*
 * An RFC 5322 date-time (day of week optional, seconds optional, numeric
 * or obsolete zone, trailing comment) as seconds since the epoch; 0 if v
 * is not one.
 */
long long challenge_mail_parse_date(const char *v);

/* Where the reply goes: the Reply-To if it is in the domain of the CA's
 * from address (exactly, no subdomain), else the From. */
const char *challenge_mail_reply_to(
    const struct challenge_mail *m, const char *ca_from);

/*
 * Compose the reply to m from mailbox to `to` with digest (43 characters):
 * a fresh Date and a Message-ID in the domain of mailbox (written to msgid),
 * In-Reply-To/References from m's sanitised threading, text by
 * challenge_compose_reply().  Appends to out.  0, or -1 with errno set.
 */
int challenge_mail_compose(const struct challenge_mail *m, const char *mailbox,
    const char *to, const char *digest, char *msgid, size_t msgidlen,
    struct buf *out);

#endif
