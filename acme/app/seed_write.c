/*
 * seed_write: what cert and renew write into the seed client's certbot
 * tree (seed.h, doc/seed.md): a lineage's next version in archive/, the
 * live/ links swapped by rename, the installer's NNNN_cert.pfx, and the
 * renewal file of a lineage cert creates.  Called by flow_cert.c and
 * flow_seed.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acme/app/seed.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

int
seed_name(const char *address, char *out, size_t len)
{
	size_t i, n = strlen(address);
	unsigned char ch;

	if (n == 0 || n >= len) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		ch = (unsigned char)address[i];
		out[i] =
		    (ch >= 0x80 || (ch >= 'a' && ch <= 'z') ||
			(ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			ch == '-' || ch == '_' || ch == '.')
		    ? (char)ch
		    : '_';
	}
	out[n] = '\0';
	return out[0] == '.' ? -1 : 0;
}

int
seed_lineage_new(
    const char *config_dir, const char *name, struct seed_lineage *l)
{
	char top[PATH_MAX];

	memset(l, 0, sizeof(*l));
	/* absolute: these paths go into the renewal file */
	if (realpath(config_dir, top) == NULL) {
		log_err_errno("%s", config_dir);
		return -1;
	}
	config_dir = top;
	l->autorenew = true;
	l->name = strdup(name);
	l->conf = seed_strf("%s/renewal/%s.conf", config_dir, name);
	l->live = seed_strf("%s/live/%s", config_dir, name);
	l->archive = seed_strf("%s/archive/%s", config_dir, name);
	if (l->name == NULL || l->conf == NULL || l->live == NULL ||
	    l->archive == NULL) {
		log_err("out of memory");
		return -1;
	}
	return 0;
}

/* configobj's quoting of one value (its _quote, list_values on). */
static int
put_value(struct buf *b, const char *key, const char *v)
{
	const char *ws = " \r\n\v\t'\"";
	size_t n = strlen(v);

	if (strchr(v, '\n') != NULL) {
		log_err("%s: a value with a newline", key);
		return -1;
	}
	if (n == 0) {
		return buf_printf(b, "%s = \"\"\n", key);
	}
	if (strchr(v, '\'') != NULL && strchr(v, '"') != NULL) {
		return buf_printf(b, "%s = '''%s'''\n", key, v);
	}
	if (strchr(ws, v[0]) != NULL || strchr(ws, v[n - 1]) != NULL ||
	    strpbrk(v, ",#") != NULL) {
		if (strchr(v, '"') != NULL) {
			return buf_printf(b, "%s = '%s'\n", key, v);
		}
		return buf_printf(b, "%s = \"%s\"\n", key, v);
	}
	return buf_printf(b, "%s = %s\n", key, v);
}

int
seed_renewal_write(const struct seed_lineage *l, const char *server)
{
	static const char *const kinds[] = { "cert", "privkey", "chain",
		"fullchain" };
	static const char *const methods[SMTP_METHOD_MAX] = {
		[SMTP_STARTTLS] = "STARTTLS",
		[SMTP_SSL] = "SSL",
		[SMTP_PLAIN] = "plain",
	};
	static const char readme[] =
	    "This directory contains your keys and certificates.\n";
	struct buf b;
	char *dir = NULL, *path = NULL, port[16];
	size_t i;
	int rc = -1, fail = 0;

	buf_init(&b, 0);
	fail |= buf_puts(&b, "# renew_before_expiry = 30 days\n");
	fail |= buf_puts(&b, "version = 2.1.0\n");
	fail |= put_value(&b, "archive_dir", l->archive);
	for (i = 0; i < 4; i++) {
		free(path);
		path = seed_strf("%s/%s.pem", l->live, kinds[i]);
		fail |= path == NULL ? -1 : put_value(&b, kinds[i], path);
	}
	fail |= buf_puts(&b, "\n# Options used in the renewal process\n");
	fail |= buf_puts(&b, "[renewalparams]\n");
	fail |= put_value(&b, "server", server);
	fail |= put_value(&b, "authenticator",
	    l->authenticator != NULL ? l->authenticator : "castle-interactive");
	fail |= put_value(&b, "installer", "castle-installer");
	if (l->responder == RESP_IMAP) {
		fail |= put_value(&b, "castle_imap_login", l->login);
		fail |= put_value(&b, "castle_imap_host", l->host);
		if (l->port > 0) {
			snprintf(port, sizeof(port), "%d", l->port);
			fail |= put_value(&b, "castle_imap_port", port);
		}
		if (l->ssl) {
			fail |= put_value(&b, "castle_imap_ssl", "True");
		}
		if (l->no_verify_ssl) {
			fail |=
			    put_value(&b, "castle_imap_no_verify_ssl", "True");
		}
		if (methods[l->smtp_method] != NULL) {
			fail |= put_value(&b, "castle_imap_smtp_method",
			    methods[l->smtp_method]);
		}
		if (l->smtp_login != NULL) {
			fail |= put_value(
			    &b, "castle_imap_smtp_login", l->smtp_login);
		}
		fail |= put_value(&b, "castle_imap_smtp_host", l->smtp_host);
		if (l->smtp_port > 0) {
			snprintf(port, sizeof(port), "%d", l->smtp_port);
			fail |= put_value(&b, "castle_imap_smtp_port", port);
		}
	} else if (l->responder == RESP_TB) {
		if (l->tb_unsafe) {
			fail |= put_value(&b, "castle_tb_unsafe", "True");
		}
		if (l->tb_profile != NULL) {
			fail |=
			    put_value(&b, "castle_tb_profile", l->tb_profile);
		}
		if (l->tb_bin != NULL) {
			fail |= put_value(&b, "castle_tb_bin", l->tb_bin);
		}
	}
	if (l->no_passphrase) {
		fail |= put_value(&b, "castle_installer_no_passphrase", "True");
	}
	if (fail != 0) {
		log_err("%s: cannot compose the renewal file", l->name);
		goto out;
	}
	free(path);
	path = seed_strf("%s/README", l->live);
	if (path == NULL ||
	    (!fs_exists(path) &&
		fs_write_atomic(path, readme, sizeof(readme) - 1, 0644) < 0)) {
		goto out;
	}
	if (fs_exists(l->conf)) {
		log_err("%s exists; not replaced", l->conf);
		goto out;
	}
	dir = strndup(l->conf, (size_t)(strrchr(l->conf, '/') - l->conf));
	if (dir == NULL || fs_mkdirs(dir, 0700) < 0 ||
	    fs_write_atomic(l->conf, b.data, b.len, 0644) < 0) {
		goto out;
	}
	rc = 0;
out:
	free(dir);
	free(path);
	buf_free(&b);
	return rc;
}

/* The next version number of the archive: one past the highest of any
 * kind (certbot's next_free_version).  >= 1, or -1 (logged). */
static int
next_version(const char *archive)
{
	static const char *const kinds[] = { "cert", "privkey", "chain",
		"fullchain" };
	DIR *d = opendir(archive);
	struct dirent *e;
	long best = 0, v;
	size_t i, kl;
	char *end;

	if (d == NULL) {
		log_err_errno("%s", archive);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		for (i = 0; i < 4; i++) {
			kl = strlen(kinds[i]);
			if (strncmp(e->d_name, kinds[i], kl) != 0 ||
			    e->d_name[kl] < '0' || e->d_name[kl] > '9') {
				continue;
			}
			v = strtol(e->d_name + kl, &end, 10);
			if (strcmp(end, ".pem") == 0 && v > best &&
			    v < INT_MAX) {
				best = v;
			}
		}
	}
	closedir(d);
	return (int)best + 1;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		log_err_errno("%s", dir);
		return -1;
	}
	rc = fsync(fd);
	close(fd);
	if (rc < 0) {
		log_err_errno("fsync %s", dir);
	}
	return rc;
}

/* live/<name>/NNNN_cert.pfx: the first free number, as the seed's
 * util.unique_file; linked into place only once written.  0 / -1. */
static int
save_pfx(const char *live, const unsigned char *p12, size_t len, char **made)
{
	char *tmp = NULL, *path = NULL;
	unsigned n;
	int rc = -1;

	*made = NULL;
	if ((tmp = seed_strf("%s/.cert.pfx.%ld", live, (long)getpid())) ==
	    NULL) {
		return -1;
	}
	(void)unlink(tmp);
	if (fs_write_atomic(tmp, p12, len, 0600) < 0) {
		goto out;
	}
	for (n = 0; n < 10000; n++) {
		free(path);
		if ((path = seed_strf("%s/%04u_cert.pfx", live, n)) == NULL) {
			path = NULL;
			goto out;
		}
		if (link(tmp, path) == 0) {
			*made = path;
			path = NULL;
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			log_err_errno("%s", path);
			goto out;
		}
	}
	if (rc < 0) {
		log_err("%s: no free NNNN_cert.pfx name", live);
	}
out:
	(void)unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

int
seed_save(const struct seed_lineage *l, const struct store_certset *s,
    char **dir, char **pfx_name)
{
	static const char *const kinds[] = { "privkey", "cert", "chain",
		"fullchain" };
	const char *data[4];
	size_t lens[4], i;
	char *file = NULL, *link_path = NULL, *tmp = NULL, *target = NULL;
	char *pfx = NULL, *std_archive = NULL;
	bool relative;
	int v, rc = -1;

	if (dir != NULL) {
		*dir = NULL;
	}
	*pfx_name = NULL;
	data[0] = (const char *)s->key_pem->data;
	lens[0] = s->key_pem->len;
	data[1] = s->cert_pem;
	data[2] = s->chain_pem != NULL ? s->chain_pem : "";
	data[3] = s->fullchain_pem;
	for (i = 1; i < 4; i++) {
		lens[i] = strlen(data[i]);
	}
	if (fs_mkdirs(l->archive, 0700) < 0 || fs_mkdirs(l->live, 0755) < 0) {
		log_err_errno(
		    "%s: cannot make the lineage directories", l->name);
		return -1;
	}
	v = next_version(l->archive);
	if (v < 0) {
		return -1;
	}
	/* 1. the new version, complete, before any link moves */
	for (i = 0; i < 4; i++) {
		free(file);
		if ((file = seed_strf(
			 "%s/%s%d.pem", l->archive, kinds[i], v)) == NULL) {
			file = NULL;
			goto out;
		}
		if (fs_write_atomic(
			file, data[i], lens[i], i == 0 ? 0600 : 0644) < 0) {
			goto out;
		}
	}
	if (fsync_dir(l->archive) < 0) {
		goto out;
	}
	/* 2. each link replaced by rename (certbot's relative targets) */
	if ((std_archive = seed_strf(
		 "%s/../../archive/%s", l->live, l->name)) == NULL) {
		std_archive = NULL;
		goto out;
	}
	{
		char a[PATH_MAX], b[PATH_MAX];
		relative = realpath(l->archive, a) != NULL &&
		    realpath(std_archive, b) != NULL && strcmp(a, b) == 0;
	}
	for (i = 0; i < 4; i++) {
		free(target);
		free(link_path);
		free(tmp);
		target = link_path = tmp = NULL;
		target = relative
		    ? seed_strf(
			  "../../archive/%s/%s%d.pem", l->name, kinds[i], v)
		    : seed_strf("%s/%s%d.pem", l->archive, kinds[i], v);
		if (target == NULL ||
		    (link_path = seed_strf("%s/%s.pem", l->live, kinds[i])) ==
			NULL ||
		    (tmp = seed_strf("%s/.%s.pem.new", l->live, kinds[i])) ==
			NULL) {
			goto out;
		}
		(void)unlink(tmp);
		if (symlink(target, tmp) < 0 || rename(tmp, link_path) < 0) {
			log_err_errno("%s", link_path);
			(void)unlink(tmp);
			goto out;
		}
	}
	if (fsync_dir(l->live) < 0) {
		goto out;
	}
	/* 3. the seed installer's PKCS#12 */
	if (s->p12 != NULL && save_pfx(l->live, s->p12, s->p12_len, &pfx) < 0) {
		goto out;
	}
	if (fsync_dir(l->live) < 0) {
		goto out;
	}
	log_info("%s: version %d published in %s%s%s", l->name, v, l->live,
	    pfx != NULL ? ", PKCS#12 " : "", pfx != NULL ? pfx : "");
	if (dir != NULL && (*dir = strdup(l->live)) == NULL) {
		goto out;
	}
	if (pfx != NULL &&
	    (*pfx_name = strdup(strrchr(pfx, '/') + 1)) == NULL) {
		goto out;
	}
	rc = 0;
out:
	free(file);
	free(link_path);
	free(tmp);
	free(target);
	free(pfx);
	free(std_archive);
	return rc;
}
