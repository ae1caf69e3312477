/*
 * store: account, resumable orders and certificate sets under the
 * configuration directory (layout in store.h).  Keys are written 0600
 * through fs_write_atomic(); directories are created 0700.  Nothing here
 * logs key material; paths and addresses only.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/store.h"
#include "acme/pki/cert.h"
#include "acme/proto/jws.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"

#define INFO_MAX        (64u * 1024)
#define COMPROMISED     "compromised-keys"
#define COMPROMISED_MAX (4u * 1024 * 1024)
#define SETS_MAX        4096 /* sets of one address looked at by prune */

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

/* A positive unix time stored under key in info; 0 if absent or bad. */
static time_t
info_time(const char *info, const char *key)
{
	char *v = info_get(info, key), *end;
	long long t = 0;

	if (v != NULL) {
		errno = 0;
		t = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || t < 0) {
			t = 0;
		}
	}
	free(v);
	return (time_t)t;
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
		o->created = info_time(info, "created");
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
store_order_save_url(const char *config_dir, struct store_order *o)
{
	struct buf b;
	int rc = -1;

	if (o->created == 0) {
		o->created = time(NULL);
	}
	buf_init(&b, 0);
	if (buf_printf(&b, "url: %s\ncreated: %lld\n", o->url ? o->url : "",
		(long long)o->created) == 0) {
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
	if (s->keep > 0) {
		(void)store_certs_prune(config_dir, s->addrs[0], s->keep);
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

/* "revoked: <unix time> <reason>" into l.  0 / -1. */
static int
parse_revoked(const char *v, struct store_lineage *l)
{
	char *end;
	long long t;

	errno = 0;
	t = strtoll(v, &end, 10);
	if (errno != 0 || end == v || t <= 0 || (*end != ' ' && *end != '\0')) {
		return -1;
	}
	while (*end == ' ') {
		end++;
	}
	l->revoked = (time_t)t;
	l->revoked_reason = strdup(*end != '\0' ? end : "unspecified");
	return l->revoked_reason != NULL ? 0 : -1;
}

static int
read_lineage(const char *certs, const char *name, struct store_lineage *l)
{
	char *ipath = NULL, *info = NULL, *addrs = NULL, *usage = NULL;
	char *revoked = NULL, *p, *save = NULL;
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
	revoked = info_get(info, "revoked");
	if (revoked != NULL && parse_revoked(revoked, l) != 0) {
		log_warn("%s: unreadable revoked: line", ipath);
		goto out;
	}
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
	free(revoked);
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
	free(l->revoked_reason);
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

/* Is entry ".<name>.<time>.<pid>", a set of name?  Its time and pid. */
static bool
set_of(const char *entry, const char *name, long long *t, long long *pid)
{
	size_t n = strlen(name);
	char *end;

	if (entry[0] != '.' || strncmp(entry + 1, name, n) != 0 ||
	    entry[1 + n] != '.' || !isdigit((unsigned char)entry[2 + n])) {
		return false;
	}
	errno = 0;
	*t = strtoll(entry + 2 + n, &end, 10);
	if (errno != 0 || *end != '.' || !isdigit((unsigned char)end[1])) {
		return false;
	}
	*pid = strtoll(end + 1, &end, 10);
	return errno == 0 && *end == '\0';
}

/* One set of an address: its directory name and when it was made. */
struct set_ent {
	char *name;
	long long t, pid;
};

static int
cmp_newest(const void *a, const void *b)
{
	const struct set_ent *x = a, *y = b;

	if (x->t != y->t) {
		return x->t > y->t ? -1 : 1;
	}
	if (x->pid != y->pid) {
		return x->pid > y->pid ? -1 : 1;
	}
	return 0;
}

static void
sets_free(struct set_ent *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].name);
	}
	free(v);
}

/* The set directories of name under certs (real directories, never
 * links), newest first.  0 / -1 (logged). */
static int
sets_list(
    const char *certs, const char *name, struct set_ent **out, size_t *n_out)
{
	struct set_ent *v = NULL;
	struct dirent *d;
	struct stat st;
	long long t, pid;
	size_t n = 0;
	char *p;
	DIR *dh;
	int rc = -1;

	*out = NULL;
	*n_out = 0;
	dh = opendir(certs);
	if (dh == NULL) {
		if (errno == ENOENT) {
			return 0;
		}
		log_err_errno("%s: cannot list", certs);
		return -1;
	}
	v = calloc(SETS_MAX, sizeof(*v));
	if (v == NULL) {
		log_err("out of memory");
		goto out;
	}
	while ((d = readdir(dh)) != NULL && n < SETS_MAX) {
		if (!set_of(d->d_name, name, &t, &pid)) {
			continue;
		}
		p = store_path(certs, d->d_name);
		if (p == NULL || lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			free(p);
			continue;
		}
		free(p);
		v[n].name = strdup(d->d_name);
		if (v[n].name == NULL) {
			log_err("out of memory");
			goto out;
		}
		v[n].t = t;
		v[n].pid = pid;
		n++;
	}
	qsort(v, n, sizeof(*v), cmp_newest);
	*out = v;
	*n_out = n;
	v = NULL;
	rc = 0;
out:
	sets_free(v, n);
	closedir(dh);
	return rc;
}

/* Remove one set directory and the files in it.  0 / -1 (logged). */
static int
remove_set(const char *path)
{
	struct dirent *d;
	DIR *dh = NULL;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (dh = fdopendir(fd)) == NULL) {
		log_warn_errno("%s: cannot open", path);
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	while ((d = readdir(dh)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0) {
			continue;
		}
		if (unlinkat(fd, d->d_name, 0) != 0) {
			log_warn_errno("%s/%s: cannot remove", path, d->d_name);
			goto out;
		}
	}
	if (rmdir(path) != 0) {
		log_warn_errno("%s: cannot remove", path);
		goto out;
	}
	rc = 0;
out:
	closedir(dh);
	return rc;
}

int
store_certs_prune(const char *config_dir, const char *name, unsigned keep)
{
	struct set_ent *v = NULL;
	char *certs = NULL, *link = NULL, *p;
	char target[PATH_MAX];
	long long pt, ppid;
	size_t n = 0, i;
	unsigned kept = 1; /* the published set */
	ssize_t len;
	int removed = 0, rc = -1;

	if (keep == 0) {
		return 0;
	}
	if (!safe_name(name)) {
		log_err("%s: not usable as a directory name", name);
		return -1;
	}
	certs = store_path(config_dir, "certs");
	link = certs != NULL ? store_path(certs, name) : NULL;
	if (link == NULL) {
		log_err("out of memory");
		goto out;
	}
	/* only sets older than the published one are superseded */
	len = readlink(link, target, sizeof(target) - 1);
	if (len <= 0) {
		rc = 0; /* nothing published: nothing superseded */
		goto out;
	}
	target[len] = '\0';
	if (!set_of(target, name, &pt, &ppid)) {
		log_warn("%s: points to %s, not a set of its own; not pruned",
		    link, target);
		rc = 0;
		goto out;
	}
	if (sets_list(certs, name, &v, &n) != 0) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].name, target) == 0 || v[i].t > pt ||
		    (v[i].t == pt && v[i].pid >= ppid)) {
			continue; /* the published set, or a newer one */
		}
		if (kept < keep) {
			kept++;
			continue;
		}
		p = store_path(certs, v[i].name);
		if (p == NULL) {
			log_err("out of memory");
			goto out;
		}
		if (remove_set(p) == 0) {
			log_info("%s: removed the superseded set %s", name,
			    v[i].name);
			removed++;
		}
		free(p);
	}
	rc = removed;
out:
	sets_free(v, n);
	free(link);
	free(certs);
	return rc;
}

int
store_certs_find(
    const char *config_dir, const void *der, size_t len, char **dir)
{
	struct cert_chain chain;
	struct dirent *d;
	struct stat st;
	char *certs = NULL, *p = NULL, *f = NULL, *pem = NULL;
	size_t plen;
	DIR *dh = NULL;
	int rc = -1;

	*dir = NULL;
	memset(&chain, 0, sizeof(chain));
	certs = store_path(config_dir, "certs");
	if (certs == NULL) {
		log_err("out of memory");
		goto out;
	}
	dh = opendir(certs);
	if (dh == NULL) {
		if (errno == ENOENT) {
			rc = 0;
		} else {
			log_err_errno("%s: cannot list", certs);
		}
		goto out;
	}
	while ((d = readdir(dh)) != NULL) {
		free(p);
		free(f);
		free(pem);
		cert_chain_free(&chain);
		f = pem = NULL;
		p = store_path(certs, d->d_name);
		if (p == NULL) {
			log_err("out of memory");
			goto out;
		}
		/* real directories only: a link names one of them */
		if (d->d_name[0] == '\0' || strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0 || lstat(p, &st) != 0 ||
		    !S_ISDIR(st.st_mode)) {
			continue;
		}
		f = store_path(p, "cert.pem");
		pem = f != NULL ? fs_read_file(f, 1024 * 1024, &plen) : NULL;
		if (pem == NULL ||
		    strstr(pem, "-----BEGIN CERTIFICATE") == NULL ||
		    cert_chain_parse_pem(pem, plen, &chain) != 0) {
			continue;
		}
		if (chain.certs[0].len == len &&
		    memcmp(chain.certs[0].der, der, len) == 0) {
			*dir = p;
			p = NULL;
			rc = 1;
			goto out;
		}
	}
	rc = 0;
out:
	cert_chain_free(&chain);
	if (dh != NULL) {
		closedir(dh);
	}
	free(pem);
	free(f);
	free(p);
	free(certs);
	return rc;
}

int
store_mark_revoked(const char *dir, time_t when, const char *reason)
{
	char *path = store_path(dir, "lineage.info"), *text = NULL;
	const char *p, *eol;
	struct buf b;
	int rc = -1;

	buf_init(&b, 0);
	if (path == NULL) {
		log_err("out of memory");
		goto out;
	}
	text = fs_read_file(path, INFO_MAX, NULL);
	if (text == NULL) {
		log_err_errno("%s: cannot read", path);
		goto out;
	}
	/* every line but an earlier record, then the record */
	for (p = text; *p != '\0'; p = eol) {
		eol = strchr(p, '\n');
		eol = eol != NULL ? eol + 1 : p + strlen(p);
		if (strncmp(p, "revoked:", 8) == 0) {
			continue;
		}
		if (buf_printf(&b, "%.*s%s", (int)(eol - p), p,
			eol[-1] == '\n' ? "" : "\n") != 0) {
			log_err("out of memory");
			goto out;
		}
	}
	if (buf_printf(&b, "revoked: %lld %s\n", (long long)when, reason) !=
	    0) {
		log_err("out of memory");
		goto out;
	}
	if (fs_write_atomic(path, b.data, b.len, 0644) != 0) {
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	free(text);
	free(path);
	return rc;
}

int
store_certs_retire(const char *config_dir, const char *name, char **to)
{
	struct set_ent *v = NULL;
	char *certs = NULL, *link = NULL, *retired = NULL, *dest = NULL;
	char *a = NULL, *b = NULL;
	char sub[PATH_MAX];
	struct stat st;
	size_t n = 0, i;
	int rc = -1;

	if (to != NULL) {
		*to = NULL;
	}
	if (!safe_name(name)) {
		log_err("%s: not usable as a directory name", name);
		return -1;
	}
	certs = store_path(config_dir, "certs");
	link = certs != NULL ? store_path(certs, name) : NULL;
	retired = store_path(config_dir, "retired");
	snprintf(sub, sizeof(sub), "%s.%lld", name, (long long)time(NULL));
	dest = retired != NULL ? store_path(retired, sub) : NULL;
	if (link == NULL || dest == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (lstat(link, &st) != 0 || !S_ISLNK(st.st_mode)) {
		log_err("%s: no published certificate set", link);
		goto out;
	}
	if (sets_list(certs, name, &v, &n) != 0 || mkdirs(retired) != 0) {
		goto out;
	}
	if (mkdir(dest, 0700) != 0) {
		log_err_errno("%s: cannot create", dest);
		goto out;
	}
	/* the link first: from here on renew and batch do not see it */
	a = store_path(dest, name);
	if (a == NULL || rename(link, a) != 0) {
		log_err_errno("%s: cannot move to %s", link, dest);
		goto out;
	}
	for (i = 0; i < n; i++) {
		free(a);
		free(b);
		a = store_path(certs, v[i].name);
		b = store_path(dest, v[i].name);
		if (a == NULL || b == NULL || rename(a, b) != 0) {
			log_err_errno("%s: cannot move to %s", v[i].name, dest);
			goto out;
		}
	}
	if (to != NULL) {
		*to = dest;
		dest = NULL;
	}
	rc = 0;
out:
	sets_free(v, n);
	free(b);
	free(a);
	free(dest);
	free(retired);
	free(link);
	free(certs);
	return rc;
}

/* Is the line tp in text? */
static bool
listed(const char *text, const char *tp)
{
	size_t n = strlen(tp);
	const char *p;

	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n') {
			p++;
		}
		if (strncmp(p, tp, n) == 0 && (p[n] == '\n' || p[n] == '\0')) {
			return true;
		}
	}
	return false;
}

/* The thumbprint of k and CONFIG/compromised-keys (*text NULL when the
 * file does not exist).  0 / -1 (logged). */
static int
compromised_read(const char *config_dir, const struct key *k,
    char tp[KEY_THUMBPRINT_LEN + 1], char **path, char **text)
{
	*text = NULL;
	*path = store_path(config_dir, COMPROMISED);
	if (*path == NULL) {
		log_err("out of memory");
		return -1;
	}
	if (jws_thumbprint(k, tp) != 0) {
		log_err("cannot compute the key's thumbprint");
		return -1;
	}
	*text = fs_read_file(*path, COMPROMISED_MAX, NULL);
	if (*text == NULL && errno != ENOENT) {
		log_err_errno("%s: cannot read", *path);
		return -1;
	}
	return 0;
}

int
store_key_compromised(const char *config_dir, const struct key *k)
{
	char tp[KEY_THUMBPRINT_LEN + 1], *path = NULL, *text = NULL;
	int rc = -1;

	if (compromised_read(config_dir, k, tp, &path, &text) != 0) {
		goto out;
	}
	rc = text != NULL && listed(text, tp) ? 1 : 0;
out:
	free(text);
	free(path);
	return rc;
}

int
store_key_compromised_add(const char *config_dir, const struct key *k)
{
	char tp[KEY_THUMBPRINT_LEN + 1], *path = NULL, *text = NULL;
	struct buf b;
	size_t len;
	int rc = -1;

	buf_init(&b, 0);
	if (compromised_read(config_dir, k, tp, &path, &text) != 0) {
		goto out;
	}
	if (text != NULL && listed(text, tp)) {
		rc = 0;
		goto out;
	}
	len = text != NULL ? strlen(text) : 0;
	if ((len > 0 &&
		buf_printf(&b, "%s%s", text,
		    text[len - 1] == '\n' ? "" : "\n") != 0) ||
	    buf_printf(&b, "%s\n", tp) != 0) {
		log_err("out of memory");
		goto out;
	}
	if (mkdirs(config_dir) != 0 ||
	    fs_write_atomic(path, b.data, b.len, 0644) != 0) {
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	free(text);
	free(path);
	return rc;
}
