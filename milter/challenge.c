/*
 * milter/challenge: recognise and parse challenge mails (see challenge.h).
 * All Subject, mailbox and token rules live in common/challenge.c; this
 * file only picks the headers, counts them and compares with the spool
 * entry.  Reasons are static strings and never contain a token.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "milter/challenge.h"

const char *
challenge_mail_header(
    const struct mhdr *h, size_t n, const char *name, size_t *count)
{
	const char *v = NULL;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, name) == 0) {
			if (v == NULL) {
				v = h[i].value;
			}
			k++;
		}
	}
	if (count != NULL) {
		*count = k;
	}
	return v;
}

/* The first token of an Auto-Submitted value, compared with want. */
static bool
auto_submitted_is(const char *v, const char *want)
{
	size_t n, wl = strlen(want);

	if (v == NULL) {
		return false;
	}
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
		v++;
	}
	n = strcspn(v, " \t\r\n;(");
	return n == wl && strncasecmp(v, want, n) == 0;
}

bool
challenge_mail_is_candidate(const struct mhdr *h, size_t n)
{
	const char *raw = challenge_mail_header(h, n, "Subject", NULL);
	char *dec;
	bool yes;

	if (raw == NULL) {
		return false;
	}
	dec = challenge_decode_header(raw);
	/* an undecodable Subject that claims ACME: is refused, and logged */
	yes = strstr(dec != NULL ? dec : raw, "ACME:") != NULL;
	free(dec);
	return yes;
}

bool
challenge_mail_is_own_reply(const struct mhdr *h, size_t n)
{
	const char *raw = challenge_mail_header(h, n, "Subject", NULL);
	const char *as = challenge_mail_header(h, n, "Auto-Submitted", NULL);
	const char *p;
	char *dec;
	bool yes = false;

	if (raw == NULL || !auto_submitted_is(as, "auto-replied")) {
		return false;
	}
	dec = challenge_decode_header(raw);
	if (dec == NULL) {
		return false;
	}
	p = dec;
	while (*p == ' ' || *p == '\t') {
		p++;
	}
	if (strncasecmp(p, "Re:", 3) == 0) {
		p += 3;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		yes = strncmp(p, "ACME:", 5) == 0;
	}
	free(dec);
	return yes;
}

/* A Message-ID as "<...>" without white space, or "" */
static void
copy_msgid(char *out, size_t outlen, const char *v)
{
	size_t n;

	out[0] = '\0';
	if (v == NULL) {
		return;
	}
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
		v++;
	}
	n = strcspn(v, " \t\r\n");
	if (n < 3 || n >= outlen || v[0] != '<' || v[n - 1] != '>' ||
	    memchr(v + 1, '<', n - 2) != NULL) {
		return;
	}
	if (v[n + strspn(v + n, " \t\r\n")] != '\0') {
		return;
	}
	memcpy(out, v, n);
	out[n] = '\0';
}

/* References unfolded to single spaces, printable ASCII only, or "" */
static void
copy_refs(char *out, size_t outlen, const char *v)
{
	size_t n = 0;
	bool sp = false;

	out[0] = '\0';
	if (v == NULL) {
		return;
	}
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
			sp = n > 0;
			continue;
		}
		if (*v < 0x21 || *v > 0x7e || n + 3 >= outlen) {
			out[0] = '\0';
			return;
		}
		if (sp) {
			out[n++] = ' ';
		}
		sp = false;
		out[n++] = *v;
	}
	out[n] = '\0';
}

int
challenge_mail_parse(
    const struct mhdr *h, size_t n, struct challenge_mail *m, const char **why)
{
	const char *v, *w;
	size_t k;

	memset(m, 0, sizeof(*m));
	*why = NULL;
	v = challenge_mail_header(h, n, "Auto-Submitted", &k);
	if (k == 0) {
		*why = "no Auto-Submitted header";
		return -1;
	}
	if (k > 1) {
		*why = "more than one Auto-Submitted header";
		return -1;
	}
	if (!auto_submitted_is(v, "auto-generated")) {
		*why = "Auto-Submitted is not auto-generated";
		return -1;
	}
	v = challenge_mail_header(h, n, "Subject", &k);
	if (k != 1) {
		*why = k == 0 ? "no Subject" : "more than one Subject";
		return -1;
	}
	if (challenge_parse_subject(v, m->token1, sizeof(m->token1), &w) < 0) {
		*why = w != NULL ? w : "bad Subject";
		return -1;
	}
	v = challenge_mail_header(h, n, "From", &k);
	if (k != 1) {
		*why = k == 0 ? "no From" : "more than one From header";
		return -1;
	}
	if (challenge_parse_mailbox(v, m->from, sizeof(m->from), &w) < 0) {
		*why = "From is not a single mailbox";
		return -1;
	}
	v = challenge_mail_header(h, n, "To", &k);
	if (k != 1) {
		*why = k == 0 ? "no To" : "more than one To header";
		return -1;
	}
	if (challenge_parse_mailbox(v, m->to, sizeof(m->to), &w) < 0) {
		*why = "To is not a single mailbox";
		return -1;
	}
	v = challenge_mail_header(h, n, "Reply-To", &k);
	if (k > 1) {
		*why = "more than one Reply-To header";
		return -1;
	}
	if (k == 1 &&
	    challenge_parse_mailbox(v, m->reply_to, sizeof(m->reply_to), &w) <
		0) {
		*why = "Reply-To is not a single mailbox";
		return -1;
	}
	v = challenge_mail_header(h, n, "Sender", &k);
	if (k > 1) {
		*why = "more than one Sender header";
		return -1;
	}
	copy_msgid(m->message_id, sizeof(m->message_id),
	    challenge_mail_header(h, n, "Message-ID", NULL));
	copy_refs(m->references, sizeof(m->references),
	    challenge_mail_header(h, n, "References", NULL));
	return 0;
}

int
challenge_mail_match(const struct challenge_mail *m,
    const struct spool_entry *e, long now, const char **why)
{
	*why = NULL;
	switch (e->state) {
	case SPOOL_AWAITING:
		break;
	case SPOOL_ANSWERED:
		*why = "already answered";
		return -1;
	case SPOOL_INCOMPLETE:
		*why = "spool entry still incomplete";
		return -1;
	default:
		*why = "spool entry is not pending";
		return -1;
	}
	if (e->expires != 0 && (long)e->expires <= now) {
		*why = "spool entry expired";
		return -1;
	}
	if (e->from[0] == '\0' || !challenge_addr_equal(m->from, e->from)) {
		*why = "From is not the CA sender of the pending entry";
		return -1;
	}
	if (!challenge_addr_equal(m->to, e->mailbox)) {
		*why = "To is not the address being certified";
		return -1;
	}
	return 0;
}

const char *
challenge_mail_reply_to(const struct challenge_mail *m, const char *ca_from)
{
	const char *rd, *cd;

	if (m->reply_to[0] == '\0') {
		return m->from;
	}
	rd = challenge_addr_domain(m->reply_to);
	cd = challenge_addr_domain(ca_from);
	if (rd != NULL && cd != NULL && strcasecmp(rd, cd) == 0) {
		return m->reply_to;
	}
	return m->from;
}
