/*
 * challenge: RFC 8823 parsing and response logic shared by the milter and
 * the requester's responders.  Pure functions over strings; the only
 * library used is GnuTLS for SHA-256 and random Message-IDs.  Nothing
 * here logs: callers log the static reasons returned in *why.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/challenge.h"

const char *const challenge_required_headers[] = { "from", "sender", "reply-to",
	"to", "cc", "subject", "date", "in-reply-to", "references",
	"message-id", "auto-submitted", "content-type",
	"content-transfer-encoding", NULL };

const char *const challenge_reply_sign_headers[] = { "from", "sender",
	"reply-to", "to", "cc", "subject", "date", "in-reply-to", "references",
	"message-id", "content-type", "content-transfer-encoding",
	"mime-version", "auto-submitted", "resent-date", "resent-from",
	"resent-to", "resent-cc", "list-id", "list-help", "list-unsubscribe",
	"list-subscribe", "list-post", "list-owner", "list-archive",
	"list-unsubscribe-post", NULL };

static const char *const rule_names[TOKEN_RULE_MAX] = { "octet", "string" };

enum token_rule
challenge_rule_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < TOKEN_RULE_MAX; i++) {
		if (strcasecmp(s, rule_names[i]) == 0) {
			return (enum token_rule)i;
		}
	}
	return TOKEN_RULE_MAX;
}

const char *
challenge_rule_name(enum token_rule rule)
{
	return rule < TOKEN_RULE_MAX ? rule_names[rule] : "unknown";
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/*
 * Try to decode one encoded-word at s ("=?cs?E?text?=").  On success append
 * the decoded text to out, set *end past the word and return 1; return 0
 * if s is not an encoded-word (copied literally by the caller); -1 if it is
 * one with a disallowed charset or a bad encoding.
 */
static int
decode_word(const char *s, const char **end, struct buf *out)
{
	const char *cs, *q1, *q2, *txt, *close;
	size_t cslen;
	char enc;
	gnutls_datum_t in, dec = { NULL, 0 };

	if (s[0] != '=' || s[1] != '?') {
		return 0;
	}
	cs = s + 2;
	q1 = strchr(cs, '?');
	if (q1 == NULL || q1[1] == '\0' || q1[2] != '?') {
		return 0;
	}
	enc = q1[1];
	txt = q1 + 3;
	close = strstr(txt, "?=");
	if (close == NULL) {
		return 0;
	}
	for (q2 = txt; q2 < close; q2++) {
		if (*q2 == ' ' || *q2 == '\t' || *q2 == '\r' || *q2 == '\n') {
			return 0; /* encoded-words hold no white space */
		}
	}
	cslen = (size_t)(q1 - cs);
	{
		/* RFC 2231 language suffix: charset*lang */
		const char *star = memchr(cs, '*', cslen);
		if (star != NULL) {
			cslen = (size_t)(star - cs);
		}
	}
	if (!((cslen == 5 && strncasecmp(cs, "UTF-8", 5) == 0) ||
		(cslen == 8 && strncasecmp(cs, "US-ASCII", 8) == 0))) {
		return -1;
	}
	if (enc == 'B' || enc == 'b') {
		in.data = (unsigned char *)(uintptr_t)txt;
		in.size = (unsigned)(close - txt);
		if (gnutls_base64_decode2(&in, &dec) != 0) {
			return -1;
		}
		if (buf_append(out, dec.data, dec.size) < 0) {
			gnutls_free(dec.data);
			return -1;
		}
		gnutls_free(dec.data);
	} else if (enc == 'Q' || enc == 'q') {
		const char *p;
		for (p = txt; p < close; p++) {
			char c = *p;
			if (c == '_') {
				c = ' ';
			} else if (c == '=') {
				int h, l;
				if (close - p < 3) {
					return -1;
				}
				h = hexval(p[1]);
				l = hexval(p[2]);
				if (h < 0 || l < 0) {
					return -1;
				}
				c = (char)(h * 16 + l);
				p += 2;
			}
			if (buf_append(out, &c, 1) < 0) {
				return -1;
			}
		}
	} else {
		return -1;
	}
	*end = close + 2;
	return 1;
}

char *
challenge_decode_header(const char *raw)
{
	struct buf out;
	const char *p = raw, *end, *ws;
	bool prev_word = false;
	int r;

	buf_init(&out, 64 * 1024);
	if (buf_append(&out, "", 0) < 0) {
		goto fail;
	}
	while (*p != '\0') {
		if (*p == '\r' || *p == '\n') {
			/* only CRLF WSP (folding) is allowed */
			if (p[0] == '\r' && p[1] == '\n' && is_wsp(p[2])) {
				p += 2;
				continue;
			}
			if (p[0] == '\n' && is_wsp(p[1])) {
				p += 1;
				continue;
			}
			errno = EINVAL;
			goto fail;
		}
		if (*p == '\0') {
			break;
		}
		if (is_wsp(*p)) {
			/* white space between two encoded-words is dropped */
			ws = p;
			while (is_wsp(*p) ||
			    ((*p == '\r' || *p == '\n') &&
				(is_wsp(p[1]) ||
				    (p[1] == '\n' && is_wsp(p[2]))))) {
				p++;
			}
			if (prev_word && p[0] == '=' && p[1] == '?') {
				struct buf probe;
				const char *pe;
				buf_init(&probe, 64 * 1024);
				r = decode_word(p, &pe, &probe);
				buf_free(&probe);
				if (r == 1) {
					continue;
				}
			}
			for (; ws < p; ws++) {
				if (is_wsp(*ws) &&
				    buf_append(&out, ws, 1) < 0) {
					goto fail;
				}
			}
			prev_word = false;
			continue;
		}
		r = decode_word(p, &end, &out);
		if (r < 0) {
			errno = EINVAL;
			goto fail;
		}
		if (r == 1) {
			p = end;
			prev_word = true;
			continue;
		}
		if (buf_append(&out, p, 1) < 0) {
			goto fail;
		}
		p++;
		prev_word = false;
	}
	if (memchr(out.data, '\0', out.len) != NULL ||
	    strpbrk(out.data, "\r\n") != NULL) {
		errno = EINVAL;
		goto fail;
	}
	return buf_steal(&out);
fail:
	buf_free(&out);
	return NULL;
}

int
challenge_parse_subject(
    const char *raw, char *out, size_t outlen, const char **why)
{
	char *dec = NULL, *p, tok[CHALLENGE_TOKEN_MAX + 1];
	unsigned char *bin = NULL;
	size_t n = 0, binlen;
	int rc = -1;

	*why = NULL;
	if (raw == NULL) {
		*why = "no Subject";
		return -1;
	}
	dec = challenge_decode_header(raw);
	if (dec == NULL) {
		*why = "Subject has a bad encoding, a disallowed charset or a "
		       "bare CR/LF";
		goto out;
	}
	p = dec;
	while (is_wsp(*p)) {
		p++;
	}
	if (strncmp(p, "ACME:", 5) != 0) {
		*why = "Subject does not start with \"ACME:\" (reply prefix or "
		       "not a challenge)";
		goto out;
	}
	p += 5;
	if (!is_wsp(*p)) {
		*why = "no white space after \"ACME:\"";
		goto out;
	}
	for (; *p != '\0'; p++) {
		if (is_wsp(*p)) {
			continue;
		}
		if (n >= CHALLENGE_TOKEN_MAX) {
			*why = "token-part1 too long";
			goto out;
		}
		tok[n++] = *p;
	}
	/* RFC 8823's own example pads token-part1: strip up to two '=' */
	if (n > 0 && tok[n - 1] == '=') {
		n--;
	}
	if (n > 0 && tok[n - 1] == '=') {
		n--;
	}
	tok[n] = '\0';
	if (n == 0) {
		*why = "empty token-part1";
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_b64url(tok[i])) {
			*why = "token-part1 is not base64url";
			goto out;
		}
	}
	bin = b64url_decode(tok, n, &binlen);
	if (bin == NULL) {
		*why = "token-part1 is not canonical base64url";
		goto out;
	}
	if (binlen < CHALLENGE_TOKEN_MIN) {
		*why = "token-part1 shorter than 128 bits";
		goto out;
	}
	if (n + 1 > outlen) {
		*why = "token-part1 too long";
		goto out;
	}
	memcpy(out, tok, n + 1);
	rc = 0;
out:
	if (bin != NULL) {
		explicit_bzero(bin, binlen);
		free(bin);
	}
	explicit_bzero(tok, sizeof(tok));
	free(dec);
	return rc;
}

static bool
addr_spec_ok(const char *a, size_t len)
{
	const char *at = NULL;
	size_t i;
	bool quoted = false;

	if (len == 0 || len > CHALLENGE_ADDR_MAX) {
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c == '"' && (i == 0 || a[i - 1] != '\\')) {
			quoted = !quoted;
		}
		if (c < 0x21 && !(quoted && c == ' ')) {
			return false;
		}
		if (c == 0x7f) {
			return false;
		}
		if (!quoted && c == '@') {
			at = a + i;
		}
		if (!quoted &&
		    (c == '<' || c == '>' || c == ',' || c == ';' || c == ':' ||
			c == '(' || c == ')' || c == '[' || c == ']' ||
			c == '\\')) {
			return false;
		}
	}
	if (quoted || at == NULL || at == a || at == a + len - 1) {
		return false;
	}
	/* exactly one unquoted '@': the last one found must be the first */
	for (i = 0; a + i < at; i++) {
		if (a[i] == '"') {
			for (i++; a + i < at && a[i] != '"'; i++) {
				;
			}
			continue;
		}
		if (a[i] == '@') {
			return false;
		}
	}
	if (memchr(at + 1, '.', len - (size_t)(at + 1 - a)) == NULL &&
	    strncasecmp(at + 1, "localhost", 9) != 0) {
		return false;
	}
	return true;
}

int
challenge_parse_mailbox(
    const char *raw, char *out, size_t outlen, const char **why)
{
	char *dec = NULL, *s = NULL;
	const char *p, *lt = NULL, *gt = NULL;
	size_t n = 0, len;
	int depth = 0, rc = -1;
	bool quoted = false;

	*why = NULL;
	if (raw == NULL) {
		*why = "empty address header";
		return -1;
	}
	dec = challenge_decode_header(raw);
	if (dec == NULL) {
		*why = "address header has a bad encoding or a bare CR/LF";
		goto out;
	}
	len = strlen(dec);
	s = malloc(len + 1);
	if (s == NULL) {
		*why = "out of memory";
		goto out;
	}
	/* One pass: drop comments, find the angle-addr, refuse lists/groups. */
	for (p = dec; *p != '\0'; p++) {
		if (quoted) {
			if (*p == '\\' && p[1] != '\0') {
				s[n++] = *p++;
			} else if (*p == '"') {
				quoted = false;
			}
			s[n++] = *p;
			continue;
		}
		if (depth > 0) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
			} else if (*p == '(') {
				depth++;
			} else if (*p == ')') {
				depth--;
			}
			continue;
		}
		switch (*p) {
		case '"':
			quoted = true;
			break;
		case '(':
			depth++;
			continue;
		case ',':
			*why = "more than one address";
			goto out;
		case ':':
		case ';':
			if (lt == NULL || gt != NULL) {
				*why = "address group or stray ':'";
				goto out;
			}
			break;
		case '<':
			if (lt != NULL) {
				*why = "more than one address";
				goto out;
			}
			lt = s + n;
			break;
		case '>':
			if (lt == NULL || gt != NULL) {
				*why = "malformed angle address";
				goto out;
			}
			gt = s + n;
			break;
		default:
			break;
		}
		s[n++] = *p;
	}
	s[n] = '\0';
	if (quoted || depth != 0 || (lt != NULL && gt == NULL)) {
		*why = "unbalanced quote, comment or angle bracket";
		goto out;
	}
	if (lt != NULL) {
		const char *a = lt + 1;
		size_t alen = (size_t)(gt - a);
		/* nothing but white space may follow the angle-addr */
		for (p = gt + 1; *p != '\0'; p++) {
			if (!is_wsp(*p)) {
				*why = "text after the address";
				goto out;
			}
		}
		if (!addr_spec_ok(a, alen) || alen + 1 > outlen) {
			*why = "not a valid address";
			goto out;
		}
		memcpy(out, a, alen);
		out[alen] = '\0';
	} else {
		const char *a = s, *e;
		while (is_wsp(*a)) {
			a++;
		}
		e = a + strlen(a);
		while (e > a && is_wsp(e[-1])) {
			e--;
		}
		if (!addr_spec_ok(a, (size_t)(e - a)) ||
		    (size_t)(e - a) + 1 > outlen) {
			*why = "not a valid address";
			goto out;
		}
		memcpy(out, a, (size_t)(e - a));
		out[e - a] = '\0';
	}
	rc = 0;
out:
	free(s);
	free(dec);
	return rc;
}

const char *
challenge_addr_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

bool
challenge_addr_equal(const char *a, const char *b)
{
	const char *da = challenge_addr_domain(a);
	const char *db = challenge_addr_domain(b);

	if (da == NULL || db == NULL) {
		return false;
	}
	if (da - a != db - b || memcmp(a, b, (size_t)(da - a)) != 0) {
		return false;
	}
	return strcasecmp(da, db) == 0;
}

static bool
token_ok(const char *t)
{
	if (t == NULL || *t == '\0' || strlen(t) > CHALLENGE_TOKEN_MAX) {
		return false;
	}
	for (; *t != '\0'; t++) {
		if (!is_b64url(*t)) {
			return false;
		}
	}
	return true;
}

int
challenge_response(const char *part1, const char *part2, const char *thumbprint,
    enum token_rule rule, char out[CHALLENGE_DIGEST_LEN + 1])
{
	unsigned char *b1 = NULL, *b2 = NULL, *cat = NULL, md[32];
	size_t l1 = 0, l2 = 0;
	char *token = NULL;
	struct buf ka;
	int rc = -1;

	buf_init(&ka, 4096);
	if (!token_ok(part1) || !token_ok(part2) || !token_ok(thumbprint) ||
	    rule >= TOKEN_RULE_MAX) {
		goto out;
	}
	if (rule == TOKEN_RULE_OCTET) {
		b1 = b64url_decode(part1, strlen(part1), &l1);
		b2 = b64url_decode(part2, strlen(part2), &l2);
		if (b1 == NULL || b2 == NULL) {
			goto out;
		}
		cat = malloc(l1 + l2 + 1);
		if (cat == NULL) {
			goto out;
		}
		memcpy(cat, b1, l1);
		memcpy(cat + l1, b2, l2);
		token = b64url_encode(cat, l1 + l2);
		if (token == NULL) {
			goto out;
		}
		if (buf_printf(&ka, "%s.%s", token, thumbprint) < 0) {
			goto out;
		}
	} else {
		if (buf_printf(&ka, "%s%s.%s", part1, part2, thumbprint) < 0) {
			goto out;
		}
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, ka.data, ka.len, md) != 0) {
		goto out;
	}
	b64url_encode_to(md, sizeof(md), out);
	rc = 0;
out:
	if (b1 != NULL) {
		explicit_bzero(b1, l1);
		free(b1);
	}
	if (b2 != NULL) {
		explicit_bzero(b2, l2);
		free(b2);
	}
	if (cat != NULL) {
		explicit_bzero(cat, l1 + l2);
		free(cat);
	}
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	explicit_bzero(md, sizeof(md));
	buf_free_secret(&ka);
	return rc;
}

static bool
header_safe(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int
challenge_compose_reply(const struct challenge_reply *r, struct buf *out)
{
	size_t start = out->len;

	if (!header_safe(r->from) || !header_safe(r->to) ||
	    !token_ok(r->token_part1) || !header_safe(r->message_id) ||
	    !header_safe(r->date) || r->digest == NULL ||
	    strlen(r->digest) != CHALLENGE_DIGEST_LEN || !token_ok(r->digest) ||
	    (r->in_reply_to != NULL && !header_safe(r->in_reply_to)) ||
	    (r->references != NULL && !header_safe(r->references))) {
		errno = EINVAL;
		return -1;
	}
	if (buf_printf(out,
		"From: %s\r\n"
		"To: %s\r\n"
		"Subject: Re: ACME: %s\r\n"
		"Date: %s\r\n"
		"Message-ID: %s\r\n",
		r->from, r->to, r->token_part1, r->date, r->message_id) < 0) {
		goto fail;
	}
	if (r->in_reply_to != NULL && *r->in_reply_to != '\0') {
		if (buf_printf(out, "In-Reply-To: %s\r\n", r->in_reply_to) <
		    0) {
			goto fail;
		}
		if (r->references != NULL && *r->references != '\0') {
			if (buf_printf(out, "References: %s %s\r\n",
				r->references, r->in_reply_to) < 0) {
				goto fail;
			}
		} else if (buf_printf(
			       out, "References: %s\r\n", r->in_reply_to) < 0) {
			goto fail;
		}
	}
	if (buf_printf(out,
		"Auto-Submitted: auto-replied\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=us-ascii\r\n"
		"Content-Transfer-Encoding: 7bit\r\n"
		"\r\n"
		"-----BEGIN ACME RESPONSE-----\r\n"
		"%s\r\n"
		"-----END ACME RESPONSE-----\r\n",
		r->digest) < 0) {
		goto fail;
	}
	return 0;
fail:
	out->len = start;
	if (out->data != NULL) {
		out->data[start] = '\0';
	}
	return -1;
}

int
challenge_date(long t, char *out, size_t outlen)
{
	time_t tt = t > 0 ? (time_t)t : time(NULL);
	struct tm tm;
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int n;

	if (gmtime_r(&tt, &tm) == NULL) {
		return -1;
	}
	n = snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
challenge_message_id(const char *domain, char *out, size_t outlen)
{
	unsigned char rnd[16];
	char hex[33];
	static const char digits[] = "0123456789abcdef";
	size_t i;
	int n;

	if (!header_safe(domain) || *domain == '\0' ||
	    strpbrk(domain, "<> ") != NULL) {
		return -1;
	}
	if (gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd)) != 0) {
		return -1;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		hex[2 * i] = digits[rnd[i] >> 4];
		hex[2 * i + 1] = digits[rnd[i] & 15];
	}
	hex[32] = '\0';
	n = snprintf(out, outlen, "<%s.smime-acme@%s>", hex, domain);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
