/*
 * responder_mail: read the headers of a whole challenge mail (file,
 * IMAP and Thunderbird responders) and check it against the pending
 * challenge the way the milter does: Subject syntax, From == the
 * challenge's "from", To == the address, Auto-Submitted present.  DKIM is
 * checked by the caller (responder_imap.c) where it has the raw message.
 */
#ifndef ACME_APP_RESPONDER_MAIL_H
#define ACME_APP_RESPONDER_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/app/responder.h"

struct resp_mail {
	char *subject; /* raw value, may be folded */
	char *from;    /* unfolded values */
	char *to;
	char *reply_to;
	char *message_id;
	char *references;
	char *auto_submitted;
	size_t body_off; /* offset of the body in the text */
};

/* Parse the header block of text (CRLF or LF).  0 / -1 (no header). */
int resp_mail_parse(const char *text, size_t len, struct resp_mail *m);
void resp_mail_free(struct resp_mail *m);

/*
 * Check m as the challenge for j; on success write token-part1 to part1
 * and return 0.  -1 with *why set (a static reason; never the token).
 */
int resp_mail_check(const struct responder_job *j, const struct resp_mail *m,
    char *part1, size_t len, const char **why);

/* Where the reply goes: Reply-To if set, else From (addr-spec). */
int resp_mail_reply_to(const struct resp_mail *m, char *out, size_t len);

/*
 * Compose the reply to m for j (challenge_compose_reply): From the
 * address, To per resp_mail_reply_to(), In-Reply-To/References.  0 / -1.
 */
int resp_mail_compose(const struct responder_job *j, const struct resp_mail *m,
    const char *part1, struct buf *out);

struct dkimv_lib;

/*
 * DKIM-verify a whole raw message (CRLF or LF line ends) as the milter
 * does: a passing signature with d= equal to from_domain and h= naming
 * every header of challenge_required_headers.  0 pass, -1 with *why set.
 */
int resp_mail_dkim(struct dkimv_lib *lib, const char *msg, size_t len,
    const char *from_domain, const char **why);

#endif
