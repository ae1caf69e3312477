/*
 * milter/challenge: is this mail an RFC 8823 challenge, and what does it
 * say?  Turns the received headers into a struct challenge_mail with the
 * shared parsers of common/challenge.h, and runs the header checks of
 * rfc8823-notes.md §1.6 against a spool entry.  Pure functions, no I/O;
 * called by callbacks.c.  Functions are prefixed challenge_mail_ so they
 * do not collide with common/challenge.h.
 */
#ifndef MILTER_CHALLENGE_H
#define MILTER_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/challenge.h"
#include "common/spool.h"
#include "milter/ctx.h"

#define CHALLENGE_MSGID_MAX 512
#define CHALLENGE_REFS_MAX  998

struct challenge_mail {
	char from[CHALLENGE_ADDR_MAX + 1];
	char to[CHALLENGE_ADDR_MAX + 1];
	char reply_to[CHALLENGE_ADDR_MAX + 1]; /* "" if absent */
	char token1[CHALLENGE_TOKEN_MAX + 1];
	char message_id[CHALLENGE_MSGID_MAX]; /* "" if absent or unusable */
	char references[CHALLENGE_REFS_MAX];  /* "" if absent or unusable */
};

/*
 * Cheap test at end of headers: could this be a challenge (Subject,
 * RFC 2047-decoded, has "ACME:" anywhere)?  Everything else is accepted.
 */
bool challenge_mail_is_candidate(const struct mhdr *h, size_t n);

/* Our own reply passing through non_smtpd_milters: Auto-Submitted:
 * auto-replied and a Subject "Re: ACME: ...". */
bool challenge_mail_is_own_reply(const struct mhdr *h, size_t n);

/* The value of the only header called name; NULL if absent; *count gets
 * how many there are. */
const char *challenge_mail_header(
    const struct mhdr *h, size_t n, const char *name, size_t *count);

/*
 * Parse and check the headers of a candidate: exactly one each of From,
 * To, Subject and Auto-Submitted (value auto-generated), at most one
 * Reply-To, Subject by challenge_parse_subject().  0 and out filled, or
 * -1 with *why a static reason.
 */
int challenge_mail_parse(const struct mhdr *h, size_t n,
    struct challenge_mail *out, const char **why);

/*
 * Check the parsed mail against the spool entry of the recipient: entry
 * awaiting, not expired at now, From == entry's from, To == the entry's
 * mailbox.  0, or -1 with *why.
 */
int challenge_mail_match(const struct challenge_mail *m,
    const struct spool_entry *e, long now, const char **why);

/* Where the reply goes: the Reply-To if it is in the domain of the CA's
 * from address, else the From. */
const char *challenge_mail_reply_to(
    const struct challenge_mail *m, const char *ca_from);

#endif
