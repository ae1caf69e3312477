/*
 * challenge_mail: the one challenge-mail judgement (see challenge_mail.h).
 * All Subject, mailbox and token rules live in common/challenge.c, header
 * capture in common/mailhdr.c; this file picks the headers, counts them,
 * compares them with what the CA announced and sanitises the threading.
 * Reasons are static strings and never contain a token.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/challenge_mail.h"

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
challenge_mail_is_candidate(const struct mailhdrs *hs)
{
	return challenge_mail_subject_is_candidate(
	    mailhdrs_get(hs, "Subject", NULL));
}

bool
challenge_mail_subject_is_candidate(const char *raw)
{
	char *dec;
	bool yes;

	if (raw == NULL) {
		return false;
	}
	dec = mailhdr_decode(raw);
	/* an undecodable Subject that claims ACME: is refused, and logged */
	yes = strstr(dec != NULL ? dec : raw, "ACME:") != NULL;
	free(dec);
	return yes;
}

bool
challenge_mail_is_own_reply(const struct mailhdrs *hs)
{
	const char *raw = mailhdrs_get(hs, "Subject", NULL);
	const char *as = mailhdrs_get(hs, "Auto-Submitted", NULL);
	const char *p;
	char *dec;
	bool yes = false;

	if (raw == NULL || !auto_submitted_is(as, "auto-replied")) {
		return false;
	}
	dec = mailhdr_decode(raw);
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

/* A Message-ID as "<...>" of printable ASCII without white space, or "" */
static void
copy_msgid(char *out, size_t outlen, const char *v)
{
	size_t n = 0;

	out[0] = '\0';
	if (v == NULL) {
		return;
	}
	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
		v++;
	}
	/* up to the first octet that is not VCHAR: only white space may
	 * follow (checked below) */
	while (mailhdr_vchar(v[n])) {
		n++;
	}
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
		if (!mailhdr_vchar(*v) || n + 3 >= outlen) {
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
    const struct mailhdrs *hs, struct challenge_mail *m, const char **why)
{
	const char *v, *w;
	size_t k;

	memset(m, 0, sizeof(*m));
	*why = NULL;
	if (hs->problem != NULL) {
		*why = hs->problem;
		return -1;
	}
	v = mailhdrs_get(hs, "Auto-Submitted", &k);
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
	v = mailhdrs_get(hs, "Subject", &k);
	if (k != 1) {
		*why = k == 0 ? "no Subject" : "more than one Subject";
		return -1;
	}
	if (challenge_parse_subject(v, m->token1, sizeof(m->token1), &w) < 0) {
		*why = w != NULL ? w : "bad Subject";
		return -1;
	}
	v = mailhdrs_get(hs, "From", &k);
	if (k != 1) {
		*why = k == 0 ? "no From" : "more than one From header";
		return -1;
	}
	if (challenge_parse_mailbox(v, m->from, sizeof(m->from), &w) < 0) {
		*why = "From is not a single mailbox";
		return -1;
	}
	v = mailhdrs_get(hs, "To", &k);
	if (k != 1) {
		*why = k == 0 ? "no To" : "more than one To header";
		return -1;
	}
	if (challenge_parse_mailbox(v, m->to, sizeof(m->to), &w) < 0) {
		*why = "To is not a single mailbox";
		return -1;
	}
	v = mailhdrs_get(hs, "Reply-To", &k);
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
	v = mailhdrs_get(hs, "Sender", &k);
	if (k > 1) {
		*why = "more than one Sender header";
		return -1;
	}
	/* RFC 5322: exactly one Date; a second could be one DKIM does
	 * not cover (h= signs the last instance, we would read the first) */
	v = mailhdrs_get(hs, "Date", &k);
	m->date = k == 1 ? challenge_mail_parse_date(v) : 0;
	copy_msgid(m->message_id, sizeof(m->message_id),
	    mailhdrs_get(hs, "Message-ID", NULL));
	copy_refs(m->references, sizeof(m->references),
	    mailhdrs_get(hs, "References", NULL));
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
	if (challenge_mail_check(m, e->from, e->mailbox, why) < 0) {
		return -1;
	}
	return challenge_mail_fresh(m, (long long)e->created, why);
}

int
challenge_mail_fresh(
    const struct challenge_mail *m, long long created, const char **why)
{
	*why = NULL;
	if (m->date == 0) {
		*why = "no single valid Date header (the challenge's age "
		       "cannot be checked)";
		return -1;
	}
	if (created > 0 && m->date < created - CHALLENGE_DATE_SKEW) {
		*why = "Date is before the order was recorded (an old "
		       "challenge replayed)";
		return -1;
	}
	return 0;
}

/* Skip white space, folding and (nested) comments. */
static const char *
skip_cfws(const char *p)
{
	int depth;

	for (;;) {
		p += strspn(p, " \t\r\n");
		if (*p != '(') {
			return p;
		}
		for (depth = 0; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
			} else if (*p == '(') {
				depth++;
			} else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
		if (depth != 0) {
			return p;
		}
	}
}

/* 1 to max digits at *pp as a number; -1 if none. */
static long
take_num(const char **pp, int max)
{
	const char *p = *pp;
	long n = 0;
	int i;

	for (i = 0; i < max && p[i] >= '0' && p[i] <= '9'; i++) {
		n = n * 10 + (p[i] - '0');
	}
	if (i == 0) {
		return -1;
	}
	*pp = p + i;
	return n;
}

long long
challenge_mail_parse_date(const char *v)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const char days[] = "MonTueWedThuFriSatSun";
	static const struct {
		const char *name;
		int hours;
	} zones[] = { { "UT", 0 }, { "GMT", 0 }, { "Z", 0 }, { "EST", -5 },
		{ "EDT", -4 }, { "CST", -6 }, { "CDT", -5 }, { "MST", -7 },
		{ "MDT", -6 }, { "PST", -8 }, { "PDT", -7 } };
	struct tm tm;
	const char *p, *mon;
	long day, year, hh, mm, ss = 0, z = 0;
	size_t i, n;
	time_t t;

	if (v == NULL) {
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	p = skip_cfws(v);
	/* optional day of week */
	if (!(*p >= '0' && *p <= '9')) {
		for (mon = days; *mon != '\0'; mon += 3) {
			if (strncasecmp(p, mon, 3) == 0) {
				break;
			}
		}
		p = skip_cfws(p + (*mon != '\0' ? 3 : 0));
		if (*mon == '\0' || *p != ',') {
			return 0;
		}
		p = skip_cfws(p + 1);
	}
	day = take_num(&p, 2);
	p = skip_cfws(p);
	for (mon = months; *mon != '\0'; mon += 3) {
		if (strncasecmp(p, mon, 3) == 0) {
			break;
		}
	}
	if (day < 1 || day > 31 || *mon == '\0') {
		return 0;
	}
	p = skip_cfws(p + 3);
	n = strspn(p, "0123456789");
	year = take_num(&p, 4);
	if (year < 0 || n > 4) {
		return 0;
	}
	/* RFC 5322 §4.3: obsolete two- and three-digit years */
	if (n == 2) {
		year += year < 50 ? 2000 : 1900;
	} else if (n == 3) {
		year += 1900;
	}
	p = skip_cfws(p);
	hh = take_num(&p, 2);
	if (hh < 0 || *p != ':') {
		return 0;
	}
	p++;
	mm = take_num(&p, 2);
	if (mm < 0) {
		return 0;
	}
	if (*p == ':') {
		p++;
		ss = take_num(&p, 2);
	}
	if (hh > 23 || mm > 59 || ss < 0 || ss > 60) {
		return 0;
	}
	p = skip_cfws(p);
	if (*p == '+' || *p == '-') {
		n = strspn(p + 1, "0123456789");
		if (n != 4) {
			return 0;
		}
		z = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		    ((p[3] - '0') * 10 + (p[4] - '0')) * 60;
		z = *p == '-' ? -z : z;
		p += 5;
	} else {
		n = strspn(
		    p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
		for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
			if (strlen(zones[i].name) == n &&
			    strncasecmp(p, zones[i].name, n) == 0) {
				break;
			}
		}
		/* military zones (one letter) mean nothing sure: +0000 */
		if (n == 0 ||
		    (n > 1 && i == sizeof(zones) / sizeof(zones[0]))) {
			return 0;
		}
		z = i < sizeof(zones) / sizeof(zones[0])
		    ? (long)zones[i].hours * 3600
		    : 0;
		p += n;
	}
	if (*skip_cfws(p) != '\0') {
		return 0;
	}
	tm.tm_year = (int)(year - 1900);
	tm.tm_mon = (int)((mon - months) / 3);
	tm.tm_mday = (int)day;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	tm.tm_sec = (int)(ss == 60 ? 59 : ss);
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != (int)day ||
	    (long long)t - z <= 0) {
		return 0;
	}
	return (long long)t - z;
}

int
challenge_mail_check(const struct challenge_mail *m, const char *ca_from,
    const char *mailbox, const char **why)
{
	*why = NULL;
	if (ca_from == NULL || ca_from[0] == '\0') {
		*why = "the CA gave no challenge sender (\"from\") to check "
		       "the From against";
		return -1;
	}
	if (!challenge_addr_equal(m->from, ca_from)) {
		*why = "From is not the CA sender of the pending entry";
		return -1;
	}
	if (!challenge_addr_equal(m->to, mailbox)) {
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

int
challenge_mail_compose(const struct challenge_mail *m, const char *mailbox,
    const char *to, const char *digest, char *msgid, size_t msgidlen,
    struct buf *out)
{
	struct challenge_reply r;
	char date[64];

	if (challenge_date(0, date, sizeof(date)) < 0 ||
	    challenge_message_id(
		challenge_addr_domain(mailbox), msgid, msgidlen) < 0) {
		errno = EINVAL;
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.from = mailbox;
	r.to = to;
	r.token_part1 = m->token1;
	r.in_reply_to = m->message_id[0] != '\0' ? m->message_id : NULL;
	r.references = m->references[0] != '\0' ? m->references : NULL;
	r.message_id = msgid;
	r.date = date;
	r.digest = digest;
	return challenge_compose_reply(&r, out);
}
