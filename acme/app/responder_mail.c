/*
 * responder_mail: glue between the responders that read whole challenge
 * mails and common/challenge_mail.c (see responder_mail.h).  The header
 * block is split once per use by mailhdrs_split(), with its caps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/app/responder_mail.h"
#include "common/log.h"
#include "common/mailhdr.h"
#include "dkim/dkimv.h"

/* Split text into hs; the header count, field and total caps apply. */
static int
split(struct mailhdrs *hs, const char *text, size_t len, size_t *body_off)
{
	mailhdrs_init(hs);
	return mailhdrs_split(
	    hs, text, len, MAILHDR_FIELD_MAX, MAILHDR_TOTAL_MAX, body_off);
}

int
resp_mail_judge(const struct responder_job *j, const char *text, size_t len,
    struct challenge_mail *m, const char **why)
{
	struct mailhdrs *hs;
	size_t body;
	int rc = -1;

	hs = malloc(sizeof(*hs));
	if (hs == NULL) {
		*why = "out of memory";
		return -1;
	}
	(void)split(hs, text, len, &body);
	/* a problem left in hs is a refusal by challenge_mail_parse() */
	if (challenge_mail_parse(hs, m, why) < 0 ||
	    challenge_mail_check(m, j->from, j->addr, why) < 0) {
		goto out;
	}
	rc = 0;
out:
	mailhdrs_free(hs);
	free(hs);
	return rc;
}

int
resp_mail_compose(const struct responder_job *j, const struct challenge_mail *m,
    char *to, size_t tolen, struct buf *out)
{
	char msgid[CHALLENGE_MSGID_MAX];
	char digest[CHALLENGE_DIGEST_LEN + 1];
	const char *rt = challenge_mail_reply_to(m, j->from);
	int rc = -1;

	memset(digest, 0, sizeof(digest));
	if (rt == NULL || rt[0] == '\0' || strlen(rt) >= tolen) {
		log_err("%s: no address to send the response to", j->addr);
		goto out;
	}
	memcpy(to, rt, strlen(rt) + 1);
	if (responder_digest(j, m->token1, digest) != 0) {
		goto out;
	}
	if (challenge_mail_compose(
		m, j->addr, to, digest, msgid, sizeof(msgid), out) != 0) {
		log_err_errno("%s: cannot compose the response", j->addr);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(digest, sizeof(digest));
	return rc;
}

/* Feed the body with every line ending made CRLF (mbox files keep LF). */
static void
feed_body(struct dkimv *d, const char *p, size_t len)
{
	static const unsigned char crlf[] = "\r\n";
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != '\n') {
			continue;
		}
		if (i > start) {
			size_t n = i - start;
			if (p[i - 1] == '\r') {
				n--;
			}
			(void)dkimv_body(
			    d, (const unsigned char *)p + start, n);
		}
		(void)dkimv_body(d, crlf, 2);
		start = i + 1;
	}
	if (start < len) {
		(void)dkimv_body(
		    d, (const unsigned char *)p + start, len - start);
	}
}

int
resp_mail_dkim(struct dkimv_lib *lib, const char *msg, size_t len,
    const char *from_domain, const char **why)
{
	static char reason[DKIMV_REASON_MAX + 8];
	struct dkimv_result res;
	struct mailhdrs *hs = NULL;
	struct dkimv *d = NULL;
	size_t i, body;
	int rc = -1;

	hs = malloc(sizeof(*hs));
	if (hs == NULL) {
		*why = "DKIM: out of memory";
		goto out;
	}
	if (split(hs, msg, len, &body) < 0) {
		*why = hs->problem;
		goto out;
	}
	d = dkimv_begin(lib, "requester");
	if (d == NULL) {
		*why = "DKIM: cannot start";
		goto out;
	}
	for (i = 0; i < hs->n; i++) {
		(void)dkimv_header(d, hs->h[i].name, hs->h[i].value);
	}
	(void)dkimv_eoh(d);
	if (body < len) {
		feed_body(d, msg + body, len - body);
	}
	memset(&res, 0, sizeof(res));
	if (dkimv_end(d, from_domain, challenge_required_headers, &res) == 0 &&
	    res.pass) {
		rc = 0;
	} else {
		snprintf(reason, sizeof(reason), "DKIM: %s",
		    res.reason[0] ? res.reason : "no valid signature");
		*why = reason;
	}
out:
	dkimv_free(d);
	mailhdrs_free(hs);
	free(hs);
	return rc;
}
