/*
 * seed: reading the seed client's certbot tree (see seed.h and
 * doc/seed.md; seed_write.c writes it): lineages and the account.  The
 * renewal files are configobj, as certbot 2.1 writes them: "key = value"
 * lines, an optional [section] line, "#" comments; a value is bare (up to
 * a "#" or ","), or quoted with ' or " (no escapes), or single-line
 * triple-quoted; a "," after a value makes it a list, which no setting we
 * read may be.  Values may be secrets: they are wiped, never logged.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acme/app/seed.h"
#include "acme/pki/cert.h"
#include "acme/proto/json.h"
#include "common/b64url.h"
#include "common/fsutil.h"
#include "common/log.h"

#define SEED_FILE_MAX (256 * 1024)
#define SEED_KV_MAX   256

struct kv {
	char *key;
	char *val;
	bool params; /* in [renewalparams] */
	bool list;
};

struct kvs {
	struct kv v[SEED_KV_MAX];
	size_t n;
};

char *
seed_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL) {
		return NULL;
	}
	va_start(ap, fmt);
	(void)vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void
kvs_free(struct kvs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].key);
		if (t->v[i].val != NULL) {
			explicit_bzero(t->v[i].val, strlen(t->v[i].val));
			free(t->v[i].val);
		}
	}
	t->n = 0;
}

static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t') {
		s++;
	}
	n = strlen(s);
	while (n > 0 &&
	    (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
		s[--n] = '\0';
	}
	return s;
}

/* One configobj value at p (trimmed); *out malloc'ed.  0 / -1. */
static int
parse_value(char *p, char **out, bool *list)
{
	char *end, *rest;
	char q[4] = { 0 };

	*list = false;
	*out = NULL;
	if (strncmp(p, "'''", 3) == 0 || strncmp(p, "\"\"\"", 3) == 0) {
		memcpy(q, p, 3);
		end = strstr(p + 3, q);
		if (end == NULL) {
			return -1; /* multi-line values: not ours */
		}
		*end = '\0';
		*out = strdup(p + 3);
		rest = end + 3;
	} else if (*p == '\'' || *p == '"') {
		end = strchr(p + 1, *p);
		if (end == NULL) {
			return -1;
		}
		*end = '\0';
		*out = strdup(p + 1);
		rest = end + 1;
	} else {
		end = p + strcspn(p, "#,");
		if (*end == ',') {
			*list = true;
		}
		*end = '\0';
		*out = strdup(trim(p));
		return *out != NULL ? 0 : -1;
	}
	if (*out == NULL) {
		return -1;
	}
	rest = trim(rest);
	if (*rest == ',') {
		*list = true;
	} else if (*rest != '\0' && *rest != '#') {
		return -1;
	}
	return 0;
}

/* Parse a renewal file into t.  0 / -1 with why set. */
static int
kvs_parse(char *text, struct kvs *t, char *why, size_t why_len)
{
	char *line, *next, *eq, *key;
	bool params = false;
	unsigned lineno = 0;

	for (line = text; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#') {
			continue;
		}
		if (*line == '[') {
			params = strncmp(line, "[renewalparams]", 15) == 0;
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL || t->n == SEED_KV_MAX) {
			snprintf(why, why_len, "line %u: not \"key = value\"",
			    lineno);
			return -1;
		}
		*eq = '\0';
		key = trim(line);
		t->v[t->n].params = params;
		t->v[t->n].key = strdup(key);
		if (t->v[t->n].key == NULL ||
		    parse_value(
			trim(eq + 1), &t->v[t->n].val, &t->v[t->n].list) < 0) {
			snprintf(why, why_len, "line %u: %s: bad value", lineno,
			    key);
			free(t->v[t->n].key);
			free(t->v[t->n].val);
			return -1;
		}
		t->n++;
	}
	return 0;
}

/* The value of key (a list is an error); NULL if absent. */
static const char *
kvs_get(const struct kvs *t, bool params, const char *key, bool *bad)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (t->v[i].params == params && strcmp(t->v[i].key, key) == 0) {
			if (t->v[i].list) {
				*bad = true;
				return NULL;
			}
			return t->v[i].val;
		}
	}
	return NULL;
}

static bool
truthy(const char *v)
{
	return v != NULL &&
	    (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
		strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0);
}

static char *
dup_or_null(const char *v)
{
	return v != NULL ? strdup(v) : NULL;
}

static int
port_of(const char *v, int *out)
{
	char *end;
	long p;

	*out = 0;
	if (v == NULL || *v == '\0') {
		return 0;
	}
	errno = 0;
	p = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535) {
		return -1;
	}
	*out = (int)p;
	return 0;
}

bool
seed_is_tree(const char *config_dir)
{
	char *p = store_path(config_dir, "renewal");
	struct stat st;
	bool yes = p != NULL && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);

	free(p);
	return yes;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
seed_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++) {
		free(names[i]);
	}
	free(names);
}

int
seed_names(const char *config_dir, char ***names, size_t *n)
{
	char *dir = store_path(config_dir, "renewal");
	DIR *d = NULL;
	struct dirent *e;
	char **v = NULL, **nv;
	size_t len, cap = 0, k = 0;
	int rc = -1;

	*names = NULL;
	*n = 0;
	if (dir == NULL) {
		log_err("out of memory");
		goto out;
	}
	d = opendir(dir);
	if (d == NULL) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0) {
			log_err_errno("%s", dir);
		}
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len <= 5 ||
		    strcmp(e->d_name + len - 5, ".conf") != 0) {
			continue;
		}
		if (k == cap) {
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				log_err("out of memory");
				goto out;
			}
			v = nv;
		}
		v[k] = strndup(e->d_name, len - 5);
		if (v[k] == NULL) {
			log_err("out of memory");
			goto out;
		}
		k++;
	}
	if (k > 0) {
		qsort(v, k, sizeof(*v), cmp_str);
	}
	*names = v;
	*n = k;
	v = NULL;
	rc = 0;
out:
	seed_names_free(v, k);
	if (d != NULL) {
		closedir(d);
	}
	free(dir);
	return rc;
}

void
seed_lineage_free(struct seed_lineage *l)
{
	size_t i;
	char **secrets[] = { &l->password, &l->smtp_password, &l->passphrase };

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (*secrets[i] != NULL) {
			explicit_bzero(*secrets[i], strlen(*secrets[i]));
			free(*secrets[i]);
		}
	}
	for (i = 0; i < l->n_addrs; i++) {
		free(l->addrs[i]);
	}
	free(l->name);
	free(l->conf);
	free(l->live);
	free(l->archive);
	free(l->account);
	free(l->server);
	free(l->preferred_chain);
	free(l->authenticator);
	free(l->login);
	free(l->host);
	free(l->smtp_login);
	free(l->smtp_host);
	free(l->tb_profile);
	free(l->tb_bin);
	memset(l, 0, sizeof(*l));
}

/* Read a (possibly symlinked) user file: its target, at most max. */
static char *
read_target(const char *path, size_t max, size_t *len)
{
	char real[PATH_MAX];

	if (realpath(path, real) == NULL) {
		return NULL;
	}
	return fs_read_file(real, max, len);
}

/* The certificate's addresses, usages and expiry.  0 / -1 (why). */
static int
read_current(struct seed_lineage *l, char *why, size_t why_len)
{
	struct cert_chain chain;
	char *path = store_path(l->live, "cert.pem"), *pem = NULL;
	char **emails = NULL;
	size_t len = 0, n = 0, i;
	int rc = -1;

	memset(&chain, 0, sizeof(chain));
	if (path == NULL) {
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	pem = read_target(path, 1024 * 1024, &len);
	if (pem == NULL || cert_chain_parse_pem(pem, len, &chain) < 0) {
		snprintf(why, why_len, "%s: no certificate to read", path);
		goto out;
	}
	if (cert_emails(&chain.certs[0], &emails, &n) < 0 || n == 0) {
		snprintf(why, why_len,
		    "%s: no e-mail address in the certificate", path);
		goto out;
	}
	if (n > SEED_ADDRS_MAX ||
	    cert_key_usage(&chain.certs[0], &l->usage) < 0 ||
	    cert_not_after(&chain.certs[0], &l->not_after) < 0) {
		snprintf(why, why_len, "%s: unusable certificate", path);
		goto out;
	}
	for (i = 0; i < n; i++) {
		l->addrs[i] = emails[i];
		emails[i] = NULL;
	}
	l->n_addrs = n;
	rc = 0;
out:
	if (emails != NULL) {
		cert_strings_free(emails, n);
	}
	cert_chain_free(&chain);
	free(pem);
	free(path);
	return rc;
}

/* The authenticator and its options.  0 / -1 (why). */
static int
read_responder(
    struct seed_lineage *l, const struct kvs *t, char *why, size_t why_len)
{
	bool bad = false;
	const char *a = kvs_get(t, true, "authenticator", &bad);
	const char *m;

	l->authenticator = dup_or_null(a != NULL ? a : "castle-interactive");
	if (a == NULL || strcmp(a, "castle-interactive") == 0) {
		l->responder = RESP_AUTO;
	} else if (strcmp(a, "castle-imap") == 0) {
		l->responder = RESP_IMAP;
		l->login =
		    dup_or_null(kvs_get(t, true, "castle_imap_login", &bad));
		l->password =
		    dup_or_null(kvs_get(t, true, "castle_imap_password", &bad));
		l->host =
		    dup_or_null(kvs_get(t, true, "castle_imap_host", &bad));
		l->ssl = truthy(kvs_get(t, true, "castle_imap_ssl", &bad));
		l->no_verify_ssl =
		    truthy(kvs_get(t, true, "castle_imap_no_verify_ssl", &bad));
		l->smtp_login = dup_or_null(
		    kvs_get(t, true, "castle_imap_smtp_login", &bad));
		l->smtp_password = dup_or_null(
		    kvs_get(t, true, "castle_imap_smtp_password", &bad));
		l->smtp_host = dup_or_null(
		    kvs_get(t, true, "castle_imap_smtp_host", &bad));
		m = kvs_get(t, true, "castle_imap_smtp_method", &bad);
		if (m == NULL) {
			l->smtp_method = SMTP_AUTO;
		} else if (strcmp(m, "STARTTLS") == 0) {
			l->smtp_method = SMTP_STARTTLS;
		} else if (strcmp(m, "SSL") == 0) {
			l->smtp_method = SMTP_SSL;
		} else if (strcmp(m, "plain") == 0) {
			l->smtp_method = SMTP_PLAIN;
		} else {
			snprintf(why, why_len,
			    "castle_imap_smtp_method: not STARTTLS, SSL or plain");
			return -1;
		}
		if (port_of(kvs_get(t, true, "castle_imap_port", &bad),
			&l->port) < 0 ||
		    port_of(kvs_get(t, true, "castle_imap_smtp_port", &bad),
			&l->smtp_port) < 0) {
			snprintf(why, why_len,
			    "castle-imap: a port is not a port number");
			return -1;
		}
		if (l->login == NULL || l->host == NULL ||
		    l->smtp_host == NULL) {
			snprintf(why, why_len,
			    "castle-imap: the login, host or smtp host is missing");
			return -1;
		}
	} else if (strcmp(a, "castle-file") == 0) {
		l->responder = RESP_FILE;
	} else if (strcmp(a, "castle-tb") == 0) {
		l->responder = RESP_TB;
		l->tb_unsafe =
		    truthy(kvs_get(t, true, "castle_tb_unsafe", &bad));
		l->tb_profile =
		    dup_or_null(kvs_get(t, true, "castle_tb_profile", &bad));
		l->tb_bin =
		    dup_or_null(kvs_get(t, true, "castle_tb_bin", &bad));
	} else if (strcmp(a, "castle-mapi") == 0) {
		snprintf(why, why_len,
		    "authenticator castle-mapi (Outlook/MAPI) exists only on Windows; renew it with --imap or --tb");
		return -1;
	} else {
		l->foreign = true;
		snprintf(why, why_len,
		    "authenticator %.64s is not one of the seed client's (castle-*)",
		    a);
		return -1;
	}
	if (bad) {
		snprintf(why, why_len, "a setting is a list, not one value");
		return -1;
	}
	return 0;
}

/* Is path (a renewal file's link path) dir/<kind>.pem?  The directories
 * are compared resolved: certbot records the configuration directory as
 * given (made absolute), which may differ from ours in spelling. */
static bool
same_link(const char *path, const char *dir, const char *kind)
{
	char a[PATH_MAX], b[PATH_MAX], *parent;
	const char *base = strrchr(path, '/');
	bool same;

	if (*path != '/' || base == NULL ||
	    strncmp(base + 1, kind, strlen(kind)) != 0 ||
	    strcmp(base + 1 + strlen(kind), ".pem") != 0) {
		return false;
	}
	parent = strndup(path, (size_t)(base - path));
	same = parent != NULL && realpath(parent, a) != NULL &&
	    realpath(dir, b) != NULL && strcmp(a, b) == 0;
	free(parent);
	return same;
}

int
seed_lineage_load(const char *config_dir, const char *name,
    struct seed_lineage *l, char *why, size_t why_len)
{
	static const char *const kinds[] = { "cert", "privkey", "chain",
		"fullchain" };
	struct kvs *t = NULL;
	char *text = NULL, *rel = NULL, *want = NULL;
	const char *v, *inst;
	bool bad = false;
	size_t len, i;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	snprintf(why, why_len, "out of memory");
	if (strchr(name, '/') != NULL || *name == '.') {
		snprintf(why, why_len, "not a lineage name");
		return -1;
	}
	l->name = strdup(name);
	if (l->name == NULL ||
	    (rel = seed_strf("renewal/%s.conf", name)) == NULL ||
	    (l->conf = store_path(config_dir, rel)) == NULL) {
		goto out;
	}
	free(rel);
	rel = NULL;
	if ((rel = seed_strf("live/%s", name)) == NULL ||
	    (l->live = store_path(config_dir, rel)) == NULL) {
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		goto out;
	}
	text = fs_read_file(l->conf, SEED_FILE_MAX, &len);
	if (text == NULL) {
		snprintf(why, why_len, "%s: %s", l->conf, strerror(errno));
		goto out;
	}
	if (kvs_parse(text, t, why, why_len) < 0) {
		goto out;
	}
	/* the four links must be the layout's: we write there */
	for (i = 0; i < 4; i++) {
		free(want);
		want = NULL;
		v = kvs_get(t, false, kinds[i], &bad);
		if ((want = seed_strf("%s/%s.pem", l->live, kinds[i])) ==
		    NULL) {
			goto out;
		}
		if (v == NULL || !same_link(v, l->live, kinds[i])) {
			snprintf(why, why_len,
			    "%s is not %s (a lineage outside the certbot layout)",
			    kinds[i], want);
			goto out;
		}
	}
	v = kvs_get(t, false, "archive_dir", &bad);
	if (v == NULL || *v != '/') {
		snprintf(why, why_len, "no absolute archive_dir");
		goto out;
	}
	l->archive = strdup(v);
	v = kvs_get(t, true, "autorenew", &bad);
	l->autorenew = v == NULL || truthy(v);
	l->account = dup_or_null(kvs_get(t, true, "account", &bad));
	l->server = dup_or_null(kvs_get(t, true, "server", &bad));
	l->preferred_chain =
	    dup_or_null(kvs_get(t, true, "preferred_chain", &bad));
	inst = kvs_get(t, true, "installer", &bad);
	if (inst != NULL && strcmp(inst, "castle-installer") != 0 &&
	    strcmp(inst, "None") != 0) {
		l->foreign = true;
		snprintf(why, why_len,
		    "installer %.64s is not the seed client's (castle-installer)",
		    inst);
		goto out;
	}
	l->no_passphrase =
	    truthy(kvs_get(t, true, "castle_installer_no_passphrase", &bad));
	l->passphrase =
	    dup_or_null(kvs_get(t, true, "castle_installer_passphrase", &bad));
	if (l->archive == NULL || read_responder(l, t, why, why_len) < 0) {
		goto out;
	}
	if (bad) {
		snprintf(why, why_len, "a setting is a list, not one value");
		goto out;
	}
	if (read_current(l, why, why_len) < 0) {
		goto out;
	}
	why[0] = '\0';
	rc = 0;
out:
	if (t != NULL) {
		kvs_free(t);
		free(t);
	}
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	free(want);
	free(rel);
	return rc;
}

/* server URL -> certbot's server_path (netloc + path). */
static char *
server_path(const char *server)
{
	const char *p = strstr(server, "://");
	size_t n;

	if (p == NULL) {
		return NULL;
	}
	p += 3;
	n = strcspn(p, "?#");
	return strndup(p, n);
}

/* Decode JWK member m (base64url); NULL if absent or bad. */
static unsigned char *
jwk_bytes(const char *m, size_t *len)
{
	*len = 0;
	return m != NULL ? b64url_decode(m, strlen(m), len) : NULL;
}

static struct key *
jwk_key(const char *text, size_t len)
{
	static const char *const names[] = { "kty", "crv", "n", "e", "d", "p",
		"q", "x", "y" };
	enum { KTY, CRV, N, E, D, P, Q, X, Y, NMEMB };
	char *m[NMEMB];
	unsigned char *b[NMEMB] = { NULL };
	size_t bl[NMEMB] = { 0 };
	struct key_raw r;
	struct key *k = NULL;
	size_t i;

	if (json_string_members(
		text, len, "private_key.json", names, NMEMB, m) < 0) {
		return NULL;
	}
	for (i = N; i < NMEMB; i++) {
		b[i] = jwk_bytes(m[i], &bl[i]);
	}
	memset(&r, 0, sizeof(r));
	if (m[KTY] != NULL && strcmp(m[KTY], "RSA") == 0 && b[N] && b[E] &&
	    b[D] && b[P] && b[Q]) {
		r.a = b[N], r.a_len = bl[N];
		r.b = b[E], r.b_len = bl[E];
		r.d = b[D], r.d_len = bl[D];
		r.p = b[P], r.p_len = bl[P];
		r.q = b[Q], r.q_len = bl[Q];
		k = key_from_rsa_private(&r);
	} else if (m[KTY] != NULL && strcmp(m[KTY], "EC") == 0 && m[CRV] &&
	    b[X] && b[Y] && b[D] &&
	    (strcmp(m[CRV], "P-256") == 0 || strcmp(m[CRV], "P-384") == 0)) {
		r.a = b[X], r.a_len = bl[X];
		r.b = b[Y], r.b_len = bl[Y];
		r.d = b[D], r.d_len = bl[D];
		k = key_from_ec_private(
		    strcmp(m[CRV], "P-256") == 0 ? KEY_EC256 : KEY_EC384, &r);
	} else {
		log_err(
		    "private_key.json: not an RSA or EC P-256/P-384 private JWK");
	}
	for (i = 0; i < NMEMB; i++) {
		if (m[i] != NULL) {
			explicit_bzero(m[i], strlen(m[i]));
			free(m[i]);
		}
		if (b[i] != NULL) {
			explicit_bzero(b[i], bl[i]);
			free(b[i]);
		}
	}
	return k;
}

/* The only subdirectory of dir into *id (malloc'ed).  1 / 0 none / -1. */
static int
only_account(const char *dir, char **id)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	*id = NULL;
	if (d == NULL) {
		return errno == ENOENT ? 0 : -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    strspn(e->d_name, "0123456789abcdef") !=
			strlen(e->d_name)) {
			continue;
		}
		if (++n > 1) {
			break;
		}
		free(*id);
		*id = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1) {
		log_err(
		    "%s: several certbot accounts; none is named by a renewal file",
		    dir);
		free(*id);
		*id = NULL;
		return -1;
	}
	return n == 1 && *id != NULL ? 1 : n == 0 ? 0 : -1;
}

int
seed_account_load(const char *config_dir, const char *server, const char *id,
    struct key **key, char **kid)
{
	char *sp = server_path(server), *rel = NULL, *dir = NULL, *acct = NULL;
	char *own = NULL, *kpath = NULL, *rpath = NULL, *text = NULL;
	char *uri[1] = { NULL };
	static const char *const uri_name[] = { "uri" };
	size_t len = 0;
	int rc = -1, found;

	*key = NULL;
	*kid = NULL;
	if (sp == NULL || (rel = seed_strf("accounts/%s", sp)) == NULL ||
	    (dir = store_path(config_dir, rel)) == NULL) {
		log_err("%s: not a server URL", server);
		goto out;
	}
	if (id == NULL) {
		found = only_account(dir, &own);
		if (found <= 0) {
			rc = found;
			goto out;
		}
		id = own;
	}
	if (strchr(id, '/') != NULL || *id == '.' ||
	    (acct = store_path(dir, id)) == NULL ||
	    (kpath = store_path(acct, "private_key.json")) == NULL ||
	    (rpath = store_path(acct, "regr.json")) == NULL) {
		log_err("certbot account %s: bad id", id);
		goto out;
	}
	if (!fs_exists(kpath)) {
		rc = 0;
		goto out;
	}
	text = fs_read_file(kpath, 64 * 1024, &len);
	if (text == NULL) {
		log_err_errno("%s", kpath);
		goto out;
	}
	*key = jwk_key(text, len);
	explicit_bzero(text, len);
	free(text);
	text = NULL;
	if (*key == NULL) {
		log_err("%s: cannot use this account key", kpath);
		goto out;
	}
	text = fs_read_file(rpath, 64 * 1024, &len);
	if (text == NULL ||
	    json_string_members(text, len, "regr.json", uri_name, 1, uri) < 0 ||
	    uri[0] == NULL || strncmp(uri[0], "https://", 8) != 0) {
		log_err("%s: no account URL (\"uri\")", rpath);
		goto out;
	}
	*kid = uri[0];
	uri[0] = NULL;
	rc = 1;
out:
	if (rc != 1) {
		key_free(*key);
		*key = NULL;
	}
	free(uri[0]);
	free(text);
	free(sp);
	free(rel);
	free(dir);
	free(acct);
	free(own);
	free(kpath);
	free(rpath);
	return rc;
}
