/*
 * responder_mail: header extraction and the milter's checks for the
 * responders that see whole challenge mails (see responder_mail.h).  Only
 * the headers we need are kept; each is capped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/app/responder_mail.h"
#include "common/challenge.h"
#include "common/log.h"
#include "dkim/dkimv.h"

#define HDR_MAX 4096

static char **
slot(struct resp_mail *m, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} t[] = {
		{ "subject", offsetof(struct resp_mail, subject) },
		{ "from", offsetof(struct resp_mail, from) },
		{ "to", offsetof(struct resp_mail, to) },
		{ "reply-to", offsetof(struct resp_mail, reply_to) },
		{ "message-id", offsetof(struct resp_mail, message_id) },
		{ "references", offsetof(struct resp_mail, references) },
		{ "auto-submitted",
		    offsetof(struct resp_mail, auto_submitted) },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strlen(t[i].name) == n &&
		    strncasecmp(name, t[i].name, n) == 0) {
			return (char **)((char *)m + t[i].off);
		}
	}
	return NULL;
}

/* Copy a header value; unfold unless keep_fold (Subject). */
static char *
value(const char *v, size_t n, bool keep_fold)
{
	char *out = malloc(n + 1);
	size_t i, o = 0;

	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!keep_fold && (v[i] == '\r' || v[i] == '\n')) {
			continue;
		}
		out[o++] = v[i];
	}
	while (o > 0 &&
	    (out[o - 1] == '\r' || out[o - 1] == '\n' || out[o - 1] == ' ' ||
		out[o - 1] == '\t')) {
		o--;
	}
	i = 0;
	while (i < o && (out[i] == ' ' || out[i] == '\t')) {
		i++;
	}
	memmove(out, out + i, o - i);
	out[o - i] = '\0';
	return out;
}

int
resp_mail_parse(const char *text, size_t len, struct resp_mail *m)
{
	size_t p = 0, start, colon, end;
	char **dst;

	memset(m, 0, sizeof(*m));
	while (p < len) {
		if (text[p] == '\n' ||
		    (text[p] == '\r' && p + 1 < len && text[p + 1] == '\n')) {
			p += text[p] == '\r' ? 2 : 1;
			m->body_off = p;
			return 0;
		}
		start = p;
		/* the field runs to a newline not followed by WSP */
		end = p;
		while (end < len) {
			if (text[end] == '\n' &&
			    !(end + 1 < len &&
				(text[end + 1] == ' ' ||
				    text[end + 1] == '\t'))) {
				break;
			}
			end++;
		}
		for (colon = start; colon < end && text[colon] != ':';
		     colon++) {
		}
		if (colon < end && end - colon < HDR_MAX) {
			dst = slot(m, text + start, colon - start);
			if (dst != NULL && *dst == NULL) {
				*dst = value(text + colon + 1, end - colon - 1,
				    dst == &m->subject);
			}
		}
		p = end + 1;
	}
	m->body_off = len;
	return m->subject != NULL || m->from != NULL ? 0 : -1;
}

void
resp_mail_free(struct resp_mail *m)
{
	if (m == NULL) {
		return;
	}
	free(m->subject);
	free(m->from);
	free(m->to);
	free(m->reply_to);
	free(m->message_id);
	free(m->references);
	free(m->auto_submitted);
	memset(m, 0, sizeof(*m));
}

int
resp_mail_check(const struct responder_job *j, const struct resp_mail *m,
    char *part1, size_t len, const char **why)
{
	char addr[CHALLENGE_ADDR_MAX + 1];

	if (m->subject == NULL) {
		*why = "no Subject";
		return -1;
	}
	if (challenge_parse_subject(m->subject, part1, len, why) != 0) {
		return -1;
	}
	if (m->from == NULL ||
	    challenge_parse_mailbox(m->from, addr, sizeof(addr), why) != 0) {
		*why = "From is not a single address";
		return -1;
	}
	if (j->from[0] != '\0' && !challenge_addr_equal(addr, j->from)) {
		*why = "From is not the CA's challenge sender";
		return -1;
	}
	if (m->to == NULL ||
	    challenge_parse_mailbox(m->to, addr, sizeof(addr), why) != 0) {
		*why = "To is not a single address";
		return -1;
	}
	if (!challenge_addr_equal(addr, j->addr)) {
		*why = "To is not the address being certified";
		return -1;
	}
	if (m->auto_submitted == NULL ||
	    strncasecmp(m->auto_submitted, "auto-generated", 14) != 0) {
		*why = "no Auto-Submitted: auto-generated";
		return -1;
	}
	return 0;
}

int
resp_mail_reply_to(const struct resp_mail *m, char *out, size_t len)
{
	const char *why;

	if (m->reply_to != NULL &&
	    challenge_parse_mailbox(m->reply_to, out, len, &why) == 0) {
		return 0;
	}
	if (m->from != NULL &&
	    challenge_parse_mailbox(m->from, out, len, &why) == 0) {
		return 0;
	}
	return -1;
}

int
resp_mail_compose(const struct responder_job *j, const struct resp_mail *m,
    const char *part1, struct buf *out)
{
	char to[CHALLENGE_ADDR_MAX + 1], date[64], msgid[256];
	char digest[CHALLENGE_DIGEST_LEN + 1];
	struct challenge_reply r;
	int rc = -1;

	if (resp_mail_reply_to(m, to, sizeof(to)) != 0) {
		snprintf(to, sizeof(to), "%s", j->from);
	}
	if (responder_digest(j, part1, digest) != 0) {
		goto out;
	}
	if (challenge_date(0, date, sizeof(date)) != 0 ||
	    challenge_message_id(
		challenge_addr_domain(j->addr), msgid, sizeof(msgid)) != 0) {
		log_err("%s: cannot make Date/Message-ID", j->addr);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.from = j->addr;
	r.to = to;
	r.token_part1 = part1;
	r.in_reply_to = m->message_id;
	r.references = m->references != NULL ? m->references : m->message_id;
	r.message_id = msgid;
	r.date = date;
	r.digest = digest;
	rc = challenge_compose_reply(&r, out);
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
	struct dkimv *d;
	size_t p = 0, start, colon, end, vend;
	char *name, *value;
	int rc = -1;

	d = dkimv_begin(lib, "requester");
	if (d == NULL) {
		*why = "DKIM: cannot start";
		return -1;
	}
	while (p < len && msg[p] != '\r' && msg[p] != '\n') {
		start = end = p;
		while (end < len &&
		    !(msg[end] == '\n' &&
			!(end + 1 < len &&
			    (msg[end + 1] == ' ' || msg[end + 1] == '\t')))) {
			end++;
		}
		for (colon = start; colon < end && msg[colon] != ':'; colon++) {
		}
		vend = end > colon && msg[end - 1] == '\r' ? end - 1 : end;
		if (colon < end) {
			name = strndup(msg + start, colon - start);
			value = strndup(msg + colon + 1, vend - colon - 1);
			if (name != NULL && value != NULL) {
				(void)dkimv_header(d, name, value);
			}
			free(name);
			free(value);
		}
		p = end + 1;
	}
	p += p < len && msg[p] == '\r';
	p += p < len && msg[p] == '\n';
	(void)dkimv_eoh(d);
	if (p < len) {
		feed_body(d, msg + p, len - p);
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
	dkimv_free(d);
	return rc;
}
