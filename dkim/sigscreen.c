/*
 * sigscreen: the DKIM-Signature screen (see sigscreen.h).  The value is
 * copied once, white space (FWS) is removed from tag values as RFC 6376
 * §3.2 allows, and each tag that matters is checked; anything this code
 * does not understand is refused, never passed on.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim/sigscreen.h"

#define TAGS_MAX 32

struct tag {
	const char *name;
	const char *value; /* FWS removed */
};

static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Remove every FWS character of s in place. */
static void
strip_fws(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (!is_fws(*s)) {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* tag-name = ALPHA *(ALPHA / DIGIT / "_") */
static bool
tag_name_ok(const char *s)
{
	if (!isalpha((unsigned char)*s)) {
		return false;
	}
	for (s++; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_') {
			return false;
		}
	}
	return true;
}

/* Split the tag list in buf into tags; -1 if malformed or a tag twice. */
static int
split_tags(char *buf, struct tag *t, size_t *n)
{
	char *p = buf, *semi, *eq, *name, *end;
	size_t i;

	*n = 0;
	while (*p != '\0') {
		semi = strchr(p, ';');
		if (semi != NULL) {
			*semi = '\0';
		}
		eq = strchr(p, '=');
		name = p;
		p = semi != NULL ? semi + 1 : p + strlen(p);
		if (eq == NULL) {
			/* only white space may stand alone (trailing ';') */
			strip_fws(name);
			if (*name != '\0') {
				return -1;
			}
			continue;
		}
		*eq = '\0';
		while (is_fws(*name)) {
			name++;
		}
		end = name + strlen(name);
		while (end > name && is_fws(end[-1])) {
			*--end = '\0';
		}
		if (!tag_name_ok(name) || *n == TAGS_MAX) {
			return -1;
		}
		for (i = 0; i < *n; i++) {
			if (strcmp(t[i].name, name) == 0) {
				return -1;
			}
		}
		strip_fws(eq + 1);
		t[*n].name = name;
		t[*n].value = eq + 1;
		(*n)++;
	}
	return 0;
}

static const char *
tag_get(const struct tag *t, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			return t[i].value;
		}
	}
	return NULL;
}

/* h=: names of printable characters but ':' separated by ':'. */
static int
check_h(const char *h, const char **why)
{
	const char *p = h, *e;
	size_t n = 0, len, i;
	bool from = false;

	for (;;) {
		e = strchr(p, ':');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0) {
			*why = "h= is malformed";
			return -1;
		}
		for (i = 0; i < len; i++) {
			if (p[i] < 0x21 || p[i] > 0x7e) {
				*why = "h= is malformed";
				return -1;
			}
		}
		if (++n > SIGSCREEN_H_MAX) {
			*why = "h= names too many fields";
			return -1;
		}
		if (len == 14 && strncasecmp(p, "dkim-signature", len) == 0) {
			*why = "h= names dkim-signature";
			return -1;
		}
		if (len == 4 && strncasecmp(p, "from", len) == 0) {
			from = true;
		}
		if (e == NULL) {
			break;
		}
		p = e + 1;
	}
	if (!from) {
		*why = "h= does not name from";
		return -1;
	}
	return 0;
}

/* A domain name: labels of letters, digits and '-', dot-separated. */
static bool
domain_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0') {
		return false;
	}
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0) {
				return false;
			}
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-') {
			if (++label > 63) {
				return false;
			}
		} else {
			return false;
		}
	}
	return label > 0;
}

/* i=: [local-part] "@" domain, domain d= or a subdomain of it. */
static int
check_i(const char *i, const char *d, const char **why)
{
	const char *at = strchr(i, '@'), *dom;
	size_t dl = strlen(d), il;

	*why = "i= is malformed";
	if (strlen(i) > SIGSCREEN_I_MAX || at == NULL ||
	    strchr(at + 1, '@') != NULL) {
		return -1;
	}
	for (dom = i; dom < at; dom++) {
		if (*dom < 0x21 || *dom > 0x7e || *dom == ';') {
			return -1;
		}
	}
	dom = at + 1;
	if (!domain_ok(dom)) {
		return -1;
	}
	il = strlen(dom);
	if (strcasecmp(dom, d) == 0 ||
	    (il > dl + 1 && dom[il - dl - 1] == '.' &&
		strcasecmp(dom + il - dl, d) == 0)) {
		return 0;
	}
	*why = "i= is not in the d= domain";
	return -1;
}

int
sigscreen_is_signature(const char *name)
{
	static const char sig[] = "DKIM-Signature";
	size_t n;

	if (name == NULL) {
		return 0;
	}
	/* libopendkim's rule (dkim_header): trailing isspace() is not part
	 * of the name */
	n = strlen(name);
	while (n > 0 && isspace((unsigned char)name[n - 1])) {
		n--;
	}
	return n == sizeof(sig) - 1 && strncasecmp(name, sig, n) == 0;
}

int
sigscreen_check(const char *value, const char *from_domain, const char **why)
{
	struct tag t[TAGS_MAX];
	const char *v, *a, *d, *h, *i;
	char *buf = NULL;
	size_t n;
	int rc = -1;

	*why = "malformed DKIM-Signature";
	if (value == NULL || strlen(value) > SIGSCREEN_VAL_MAX) {
		goto out;
	}
	buf = strdup(value);
	if (buf == NULL) {
		*why = "out of memory";
		goto out;
	}
	if (split_tags(buf, t, &n) < 0) {
		goto out;
	}
	v = tag_get(t, n, "v");
	a = tag_get(t, n, "a");
	d = tag_get(t, n, "d");
	h = tag_get(t, n, "h");
	i = tag_get(t, n, "i");
	if (v == NULL || strcmp(v, "1") != 0 || a == NULL || d == NULL ||
	    h == NULL || tag_get(t, n, "b") == NULL ||
	    tag_get(t, n, "bh") == NULL || tag_get(t, n, "s") == NULL) {
		goto out;
	}
	if (strcmp(a, "rsa-sha256") != 0 && strcmp(a, "ed25519-sha256") != 0) {
		*why = "a= is not rsa-sha256 or ed25519-sha256 (RFC 8301)";
		goto out;
	}
	if (from_domain == NULL || !domain_ok(d) ||
	    strcasecmp(d, from_domain) != 0) {
		*why = "d= is not the From domain";
		goto out;
	}
	if (tag_get(t, n, "l") != NULL) {
		*why = "l= body length limit";
		goto out;
	}
	if (check_h(h, why) < 0) {
		goto out;
	}
	if (i != NULL && check_i(i, d, why) < 0) {
		goto out;
	}
	*why = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}
