/*
 * mailhdr: header fields of a received mail (see mailhdr.h).  Every cap is
 * checked before anything is copied; a problem is a static string and
 * never contains header text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/mailhdr.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

void
mailhdrs_init(struct mailhdrs *hs)
{
	memset(hs, 0, sizeof(*hs));
}

void
mailhdrs_free(struct mailhdrs *hs)
{
	size_t i;

	if (hs == NULL) {
		return;
	}
	for (i = 0; i < hs->n; i++) {
		free(hs->h[i].name);
		free(hs->h[i].value);
	}
	mailhdrs_init(hs);
}

bool
mailhdr_has_bare_eol(const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\r') {
			if (v[1] != '\n') {
				return true;
			}
			continue;
		}
		if (*v == '\n' && v[1] != ' ' && v[1] != '\t') {
			return true;
		}
	}
	return false;
}

/* A field name: printable ASCII but the colon (RFC 5322 ftext). */
static bool
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0) {
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!mailhdr_vchar(s[i]) || s[i] == ':') {
			return false;
		}
	}
	return true;
}

int
mailhdrs_add(struct mailhdrs *hs, const char *name, const char *value,
    size_t max_field, size_t max_total)
{
	size_t nl = strlen(name), vl = strlen(value);
	struct mailhdr *h;

	if (hs->problem != NULL) {
		return -1;
	}
	/* "From :" (RFC 5322 §4.5.3, obsolete): libopendkim drops the space
	 * and counts a second From; lookups here would not.  Refused, so
	 * both see the same fields. */
	if (!name_ok(name, nl)) {
		hs->problem = "malformed header name";
		return -1;
	}
	if (nl + vl + 1 > max_field) {
		hs->problem = "oversized header";
		return -1;
	}
	if (hs->n >= MAILHDR_COUNT_MAX || hs->bytes + nl + vl + 3 > max_total) {
		hs->problem = "too many or too large headers";
		return -1;
	}
	if (mailhdr_has_bare_eol(value)) {
		hs->problem = "CR or LF inside a header (header injection)";
		return -1;
	}
	h = &hs->h[hs->n];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		h->name = h->value = NULL;
		hs->problem = "out of memory";
		return -1;
	}
	hs->n++;
	hs->bytes += nl + vl + 3;
	return 0;
}

int
mailhdrs_split(struct mailhdrs *hs, const char *text, size_t len,
    size_t max_field, size_t max_total, size_t *body_off)
{
	size_t p = 0, end, colon, vend;
	char *name = NULL, *value = NULL;
	int rc = -1;

	*body_off = len;
	while (p < len) {
		if (text[p] == '\n' ||
		    (text[p] == '\r' && p + 1 < len && text[p + 1] == '\n')) {
			*body_off = p + (text[p] == '\r' ? 2 : 1);
			break;
		}
		if (is_wsp(text[p])) {
			hs->problem = "continuation line before any header";
			goto out;
		}
		/* the field runs to a LF not followed by WSP */
		for (end = p; end < len; end++) {
			if (text[end] == '\n' &&
			    !(end + 1 < len && is_wsp(text[end + 1]))) {
				break;
			}
		}
		/* check the cap before copying anything */
		if (end - p + 1 > max_field) {
			hs->problem = "oversized header";
			goto out;
		}
		colon = p;
		while (colon < end && text[colon] != ':') {
			colon++;
		}
		if (colon == end || !name_ok(text + p, colon - p)) {
			hs->problem = "malformed header line";
			goto out;
		}
		vend = end;
		if (vend > colon + 1 && text[vend - 1] == '\r') {
			vend--;
		}
		if (memchr(text + p, '\0', end - p) != NULL) {
			hs->problem = "NUL inside a header";
			goto out;
		}
		name = strndup(text + p, colon - p);
		value = strndup(text + colon + 1, vend - colon - 1);
		if (name == NULL || value == NULL) {
			hs->problem = "out of memory";
			goto out;
		}
		if (mailhdrs_add(hs, name, value, max_field, max_total) < 0) {
			goto out;
		}
		free(name);
		free(value);
		name = value = NULL;
		p = end + 1;
	}
	rc = 0;
out:
	free(name);
	free(value);
	return rc;
}

const char *
mailhdrs_get(const struct mailhdrs *hs, const char *name, size_t *count)
{
	const char *v = NULL;
	size_t i, k = 0;

	for (i = 0; i < hs->n; i++) {
		if (strcasecmp(hs->h[i].name, name) == 0) {
			if (v == NULL) {
				v = hs->h[i].value;
			}
			k++;
		}
	}
	if (count != NULL) {
		*count = k;
	}
	return v;
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
		if (digest_base64_decode(txt, (size_t)(close - txt), out) < 0) {
			return -1;
		}
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
mailhdr_decode(const char *raw)
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
