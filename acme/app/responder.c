/*
 * responder: the table of responders and what they share: the one POST of
 * a challenge, the digest (common/challenge.h) and the printable response
 * block.  The responders that read whole challenge mails judge them in
 * common/challenge_mail.c through the glue in responder_mail.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "acme/proto/order.h"
#include "acme/app/responder.h"
#include "common/log.h"

const struct responder_ops *
responder_get(enum cli_responder r)
{
	switch (r) {
	case RESP_SPOOL:
		return &responder_spool_ops;
	case RESP_INTERACTIVE:
		return &responder_tty_ops;
	case RESP_FILE:
		return &responder_file_ops;
	case RESP_IMAP:
		return &responder_imap_ops;
	case RESP_TB:
		return &responder_tb_ops;
	default:
		break;
	}
	return NULL;
}

int
responder_post(struct responder_job *j)
{
	if (j->posted) {
		return 0;
	}
	log_info("%s: POST challenge", j->addr);
	if (order_challenge_respond(j->f->ses->ac, j->challenge_url, NULL) !=
	    0) {
		return flow_acme_fail(j->f, j->addr);
	}
	j->posted = true;
	return 0;
}

int
responder_digest(const struct responder_job *j, const char *part1,
    char out[CHALLENGE_DIGEST_LEN + 1])
{
	if (challenge_response(part1, j->token2, j->f->ses->thumbprint,
		j->f->set->rule, out) != 0) {
		log_err(
		    "%s: cannot compute the response (token not base64url?)",
		    j->addr);
		return flow_fail(j->f, EX_DATAERR);
	}
	return 0;
}

int
responder_block(const char *digest, struct buf *out)
{
	return buf_printf(out,
	    "-----BEGIN ACME RESPONSE-----\n%s\n-----END ACME RESPONSE-----\n",
	    digest);
}

static const char *
skip_wsp(const char *s)
{
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	return s;
}

int
responder_parse_subject(
    const char *text, char *part1, size_t len, const char **why)
{
	char line[2048], tok[2048 + 8];
	const char *s = skip_wsp(text);
	size_t n;

	if (strncasecmp(s, "Subject:", 8) == 0) {
		s = skip_wsp(s + 8);
	}
	/* the first line, without its end and trailing white space */
	n = strcspn(s, "\r\n");
	if (n >= sizeof(line)) {
		*why = "Subject line too long";
		return -1;
	}
	snprintf(line, sizeof(line), "%.*s", (int)n, s);
	for (n = strlen(line); n > 0 && strchr(" \t", line[n - 1]) != NULL;
	     n--) {
		line[n - 1] = '\0';
	}
	s = line;
	if (strncmp(s, "ACME:", 5) == 0 || s[strcspn(s, " \t")] != '\0') {
		return challenge_parse_subject(s, part1, len, why);
	}
	/* one word: token-part1 alone */
	snprintf(tok, sizeof(tok), "ACME: %s", s);
	return challenge_parse_subject(tok, part1, len, why);
}
