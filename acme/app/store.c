/*
 * store: account, resumable orders and certificate sets under the
 * configuration directory (layout in store.h).  Keys are written 0600
 * through fs_write_atomic(); directories are created 0700.  Nothing here
 * logs key material; paths and addresses only.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/store.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"

#define INFO_MAX (64u * 1024)

int
store_hash_hex(const char *s, char out[STORE_HASH_LEN + 1])
{
	return digest_sha256_hex(s, strlen(s), out);
}

char *
store_path(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p;

	if (la > SIZE_MAX - lb - 2) {
		return NULL;
	}
	p = malloc(la + lb + 2);
	if (p == NULL) {
		return NULL;
	}
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

static int
mkdirs(const char *path)
{
	if (fs_mkdirs(path, 0700) != 0) {
		log_err_errno("%s: cannot create directory", path);
		return -1;
	}
	return 0;
}

/* Value of "key: value" in an info text, malloc'ed, or NULL. */
static char *
info_get(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text, *eol;

	while (p != NULL && *p != '\0') {
		eol = strchr(p, '\n');
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1;
			size_t n;
			while (*v == ' ') {
				v++;
			}
			n = eol != NULL ? (size_t)(eol - v) : strlen(v);
			return strndup(v, n);
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	return NULL;
}

static char *
account_dir(const char *config_dir, const char *server)
{
	char h[STORE_HASH_LEN + 1], sub[128];

	if (store_hash_hex(server, h) != 0) {
		return NULL;
	}
	snprintf(sub, sizeof(sub), "accounts/%.16s", h);
	return store_path(config_dir, sub);
}

int
store_account_load(
    const char *config_dir, const char *server, struct key **key, char **kid)
{
	char *dir = NULL, *kpath = NULL, *ipath = NULL, *info = NULL;
	int rc = -1;

	*key = NULL;
	*kid = NULL;
	dir = account_dir(config_dir, server);
	kpath = dir != NULL ? store_path(dir, "account.key") : NULL;
	ipath = dir != NULL ? store_path(dir, "account.info") : NULL;
	if (kpath == NULL || ipath == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (!fs_exists(kpath)) {
		rc = 1;
		goto out;
	}
	if (fs_check_perms(kpath, getuid(), 0077) != 0) {
		goto out;
	}
	*key = key_load_file(kpath);
	if (*key == NULL) {
		log_err("%s: cannot load the account key", kpath);
		goto out;
	}
	info = fs_read_file(ipath, INFO_MAX, NULL);
	if (info != NULL) {
		*kid = info_get(info, "kid");
	}
	rc = 0;
out:
	free(info);
	free(ipath);
	free(kpath);
	free(dir);
	return rc;
}

int
store_account_save(const char *config_dir, const char *server,
    const struct key *key, const char *kid)
{
	struct buf pem, info;
	char *dir = NULL, *kpath = NULL, *ipath = NULL;
	int rc = -1;

	buf_init(&pem, 0);
	buf_init(&info, 0);
	dir = account_dir(config_dir, server);
	kpath = dir != NULL ? store_path(dir, "account.key") : NULL;
	ipath = dir != NULL ? store_path(dir, "account.info") : NULL;
	if (kpath == NULL || ipath == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (mkdirs(dir) != 0) {
		goto out;
	}
	if (key_to_pem(key, &pem) != 0 ||
	    fs_write_atomic(kpath, pem.data, pem.len, 0600) != 0) {
		goto out;
	}
	if (buf_printf(&info, "server: %s\nkid: %s\nkey: %s\ncreated: %ld\n",
		server, kid != NULL ? kid : "",
		key_type_name(key_get_type(key)), (long)time(NULL)) != 0 ||
	    fs_write_atomic(ipath, info.data, info.len, 0600) != 0) {
		goto out;
	}
	rc = 0;
out:
	buf_free_secret(&pem);
	buf_free(&info);
	free(ipath);
	free(kpath);
	free(dir);
	return rc;
}

int
store_account_next(
    const char *config_dir, const char *server, const struct key *key)
{
	char *dir = account_dir(config_dir, server);
	char *path = dir != NULL ? store_path(dir, "account.key.next") : NULL;
	struct buf pem;
	int rc = -1;

	buf_init(&pem, 0);
	if (path == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (key == NULL) {
		if (unlink(path) != 0 && errno != ENOENT) {
			log_warn_errno("%s: cannot remove", path);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (mkdirs(dir) != 0 || key_to_pem(key, &pem) != 0 ||
	    fs_write_atomic(path, pem.data, pem.len, 0600) != 0) {
		goto out;
	}
	rc = 0;
out:
	buf_free_secret(&pem);
	free(path);
	free(dir);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
store_order_id(const char *server, const char *const *addrs, size_t n,
    struct store_order *o)
{
	char **v = NULL;
	struct buf b;
	size_t i;
	char *d;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	buf_init(&b, 0);
	v = calloc(n ? n : 1, sizeof(*v));
	if (v == NULL) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		v[i] = strdup(addrs[i]);
		if (v[i] == NULL) {
			goto out;
		}
		d = strrchr(v[i], '@');
		for (; d != NULL && *d != '\0'; d++) {
			if (*d >= 'A' && *d <= 'Z') {
				*d = (char)(*d - 'A' + 'a');
			}
		}
	}
	qsort(v, n, sizeof(*v), cmp_str);
	if (buf_puts(&b, server) != 0) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (buf_printf(&b, "\n%s", v[i]) != 0) {
			goto out;
		}
	}
	rc = store_hash_hex(b.data, o->id);
out:
	if (rc != 0) {
		log_err("out of memory");
	}
	for (i = 0; v != NULL && i < n; i++) {
		free(v[i]);
	}
	free(v);
	buf_free(&b);
	return rc;
}

static char *
order_file(
    const char *config_dir, const struct store_order *o, const char *name)
{
	char sub[STORE_HASH_LEN + 64];

	if (name == NULL) {
		snprintf(sub, sizeof(sub), "orders/%s", o->id);
	} else {
		snprintf(sub, sizeof(sub), "orders/%s/%s", o->id, name);
	}
	return store_path(config_dir, sub);
}

int
store_order_load(const char *config_dir, struct store_order *o)
{
	char *ipath = NULL, *kpath = NULL, *info = NULL;
	int rc = -1;

	ipath = order_file(config_dir, o, "order.info");
	kpath = order_file(config_dir, o, "privkey.pem");
	if (ipath == NULL || kpath == NULL) {
		log_err("out of memory");
		goto out;
	}
	info = fs_read_file(ipath, INFO_MAX, NULL);
	if (info != NULL) {
		free(o->url);
		o->url = info_get(info, "url");
		o->lost = o->url == NULL || *o->url == '\0';
		if (o->lost) {
			free(o->url);
			o->url = NULL;
		}
	}
	if (fs_exists(kpath)) {
		key_free(o->key);
		o->key = key_load_file(kpath);
		if (o->key == NULL) {
			log_err("%s: cannot load the stored certificate key",
			    kpath);
			goto out;
		}
	}
	rc = 0;
out:
	free(info);
	free(kpath);
	free(ipath);
	return rc;
}

/* Write one file of an order's state directory (created 0700), 0600,
 * atomically.  0 / -1 (logged). */
static int
order_write(const char *config_dir, const struct store_order *o,
    const char *name, const void *data, size_t len)
{
	char *dir = order_file(config_dir, o, NULL);
	char *path = order_file(config_dir, o, name);
	int rc = -1;

	if (dir == NULL || path == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (mkdirs(dir) != 0 || fs_write_atomic(path, data, len, 0600) != 0) {
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(dir);
	return rc;
}

int
store_order_save_url(const char *config_dir, const struct store_order *o)
{
	struct buf b;
	int rc = -1;

	buf_init(&b, 0);
	if (buf_printf(&b, "url: %s\ncreated: %ld\n", o->url ? o->url : "",
		(long)time(NULL)) == 0) {
		rc = order_write(config_dir, o, "order.info", b.data, b.len);
	}
	buf_free(&b);
	return rc;
}

int
store_order_save_key(const char *config_dir, const struct store_order *o)
{
	struct buf pem;
	int rc = -1;

	buf_init(&pem, 0);
	if (key_to_pem(o->key, &pem) == 0) {
		rc = order_write(
		    config_dir, o, "privkey.pem", pem.data, pem.len);
	}
	buf_free_secret(&pem);
	return rc;
}

int
store_order_remove(const char *config_dir, const struct store_order *o)
{
	char *dir = order_file(config_dir, o, NULL);
	char *a = order_file(config_dir, o, "order.info");
	char *b = order_file(config_dir, o, "privkey.pem");
	int rc = -1;

	if (dir == NULL || a == NULL || b == NULL) {
		goto out;
	}
	(void)unlink(a);
	(void)unlink(b);
	if (rmdir(dir) != 0 && errno != ENOENT) {
		log_warn_errno("%s: cannot remove", dir);
		goto out;
	}
	rc = 0;
out:
	free(b);
	free(a);
	free(dir);
	return rc;
}

void
store_order_free(struct store_order *o)
{
	if (o == NULL) {
		return;
	}
	free(o->url);
	o->url = NULL;
	key_free(o->key);
	o->key = NULL;
}

static int
write_in(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char *p = store_path(dir, name);
	int rc;

	if (p == NULL) {
		log_err("out of memory");
		return -1;
	}
	rc = fs_write_atomic(p, data, len, mode);
	free(p);
	return rc;
}

/* A directory name must not climb out of CONFIG/certs. */
static bool
safe_name(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL;
}

int
store_certs_save(
    const char *config_dir, const struct store_certset *s, char **outdir)
{
	char *certs = NULL, *link = NULL, *tmp_link = NULL;
	char *newdir = NULL, *p12name = NULL;
	struct buf info, tmpname;
	char rel[PATH_MAX];
	size_t i;
	int rc = -1;

	buf_init(&info, 0);
	buf_init(&tmpname, 0);
	if (outdir != NULL) {
		*outdir = NULL;
	}
	if (!safe_name(s->addrs[0])) {
		log_err("%s: not usable as a directory name", s->addrs[0]);
		goto out;
	}
	certs = store_path(config_dir, "certs");
	link = certs ? store_path(certs, s->addrs[0]) : NULL;
	snprintf(rel, sizeof(rel), ".%s.%ld.%ld", s->addrs[0], (long)time(NULL),
	    (long)getpid());
	newdir = certs ? store_path(certs, rel) : NULL;
	if (newdir == NULL || link == NULL ||
	    buf_printf(&info, "%s.p12", s->addrs[0]) != 0) {
		log_err("out of memory");
		goto out;
	}
	p12name = buf_steal(&info);
	if (p12name == NULL || mkdirs(certs) != 0) {
		goto out;
	}
	if (mkdir(newdir, 0700) != 0) {
		log_err_errno("%s: cannot create", newdir);
		goto out;
	}
	if (write_in(newdir, "privkey.pem", s->key_pem->data, s->key_pem->len,
		0600) != 0 ||
	    write_in(newdir, p12name, s->p12, s->p12_len, 0600) != 0 ||
	    write_in(newdir, "cert.pem", s->cert_pem, strlen(s->cert_pem),
		0644) != 0 ||
	    write_in(newdir, "chain.pem", s->chain_pem, strlen(s->chain_pem),
		0644) != 0 ||
	    write_in(newdir, "fullchain.pem", s->fullchain_pem,
		strlen(s->fullchain_pem), 0644) != 0) {
		goto out;
	}
	buf_reset(&info);
	if (buf_puts(&info, "addresses:") != 0) {
		goto out;
	}
	for (i = 0; i < s->n_addrs; i++) {
		if (buf_printf(&info, "%s%s", i ? "," : " ", s->addrs[i]) !=
		    0) {
			goto out;
		}
	}
	if (buf_printf(&info,
		"\nusage: %u\nkey: %s\nserver: %s\ncreated: %ld\n", s->usage,
		s->key_type ? s->key_type : "", s->server,
		(long)time(NULL)) != 0 ||
	    write_in(newdir, "lineage.info", info.data, info.len, 0644) != 0) {
		goto out;
	}
	/* Publish: a fresh symlink renamed over the old one (atomic).  Its
	 * temporary name is this set's own: batch workers publish into the
	 * same directory at once, and a shared name let one worker rename
	 * another's link (a set under the wrong address, or ENOENT). */
	if (buf_printf(&tmpname, "%s.publish", rel) != 0 ||
	    (tmp_link = store_path(certs, tmpname.data)) == NULL) {
		goto out;
	}
	(void)unlink(tmp_link);
	if (symlink(rel, tmp_link) != 0) {
		log_err_errno("%s: symlink", tmp_link);
		goto out;
	}
	{
		struct stat st;
		if (lstat(link, &st) == 0 && S_ISDIR(st.st_mode)) {
			/* an older plain directory: move it aside first */
			char aside[PATH_MAX];
			snprintf(aside, sizeof(aside), "%s.old.%ld", link,
			    (long)time(NULL));
			if (rename(link, aside) != 0) {
				log_err_errno("%s: cannot move aside", link);
				goto out;
			}
		}
	}
	if (rename(tmp_link, link) != 0) {
		log_err_errno("%s: cannot publish", link);
		goto out;
	}
	if (outdir != NULL) {
		*outdir = strdup(link);
	}
	rc = 0;
out:
	if (rc != 0 && tmp_link != NULL) {
		(void)unlink(tmp_link);
	}
	buf_free(&info);
	buf_free(&tmpname);
	free(p12name);
	free(tmp_link);
	free(newdir);
	free(link);
	free(certs);
	return rc;
}

static int
read_lineage(const char *certs, const char *name, struct store_lineage *l)
{
	char *ipath = NULL, *info = NULL, *addrs = NULL, *usage = NULL;
	char *p, *save = NULL;
	long u;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	l->name = strdup(name);
	l->dir = store_path(certs, name);
	ipath = l->dir ? store_path(l->dir, "lineage.info") : NULL;
	if (l->name == NULL || ipath == NULL) {
		goto out;
	}
	info = fs_read_file(ipath, INFO_MAX, NULL);
	if (info == NULL) {
		log_warn_errno("%s: cannot read", ipath);
		goto out;
	}
	addrs = info_get(info, "addresses");
	usage = info_get(info, "usage");
	l->key_type = info_get(info, "key");
	l->server = info_get(info, "server");
	if (addrs == NULL) {
		log_warn("%s: no addresses", ipath);
		goto out;
	}
	for (p = strtok_r(addrs, ",", &save); p != NULL && l->n_addrs < 100;
	     p = strtok_r(NULL, ",", &save)) {
		l->addrs[l->n_addrs] = strdup(p);
		if (l->addrs[l->n_addrs] == NULL) {
			goto out;
		}
		l->n_addrs++;
	}
	if (usage != NULL) {
		u = strtol(usage, NULL, 10);
		l->usage = u > 0 && u < 16 ? (unsigned)u : 0;
	}
	rc = 0;
out:
	free(usage);
	free(addrs);
	free(info);
	free(ipath);
	return rc;
}

static void
lineage_free(struct store_lineage *l)
{
	size_t i;

	free(l->name);
	free(l->dir);
	free(l->key_type);
	free(l->server);
	for (i = 0; i < l->n_addrs; i++) {
		free(l->addrs[i]);
	}
	memset(l, 0, sizeof(*l));
}

static int
sel_visible(const struct dirent *d)
{
	return d->d_name[0] != '.' && strstr(d->d_name, ".old.") == NULL;
}

int
store_certs_foreach(const char *config_dir,
    int (*fn)(const struct store_lineage *l, void *arg), void *arg)
{
	struct dirent **list = NULL;
	struct store_lineage l;
	char *certs = store_path(config_dir, "certs");
	int n = 0, i, rc = -1;

	if (certs == NULL) {
		return -1;
	}
	n = scandir(certs, &list, sel_visible, alphasort);
	if (n < 0) {
		if (errno == ENOENT) {
			rc = 0;
		} else {
			log_err_errno("%s: cannot list", certs);
		}
		n = 0;
		goto out;
	}
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		if (read_lineage(certs, list[i]->d_name, &l) == 0) {
			rc = fn(&l, arg);
		}
		lineage_free(&l);
	}
out:
	for (i = 0; i < n; i++) {
		free(list[i]);
	}
	free(list);
	free(certs);
	return rc;
}
