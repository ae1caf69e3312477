/*
 * cli_secret: secrets given indirectly on the command line (--*-file,
 * --*-env): read the first line of a file or an environment variable into
 * the owned members of struct cli, and wipe them all in cli_free().  No
 * secret is ever printed; messages name only the option and the path or
 * variable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "acme/app/cli.h"

/* The first line of a file, without its line end. */
static int
read_secret_file(struct cli *c, const char *opt, const char *path, char **dst)
{
	char buf[4096];
	ssize_t n;
	size_t len;
	int fd, rc = EX_NOINPUT;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		return cli_fail(c, EX_NOINPUT, "option '%s': %s: %s", opt, path,
		    strerror(errno));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		cli_fail(c, EX_NOINPUT, "option '%s': %s: %s", opt, path,
		    strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0) {
		rc = cli_fail(c, EX_USAGE, "option '%s': %s: empty first line",
		    opt, path);
		goto out;
	}
	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = strdup(buf);
	if (*dst == NULL) {
		rc = cli_fail(c, EX_OSERR, "out of memory");
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
read_secret_env(struct cli *c, const char *opt, const char *var, char **dst)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0') {
		return cli_fail(c, EX_USAGE,
		    "option '%s': environment variable %s is unset or empty",
		    opt, var);
	}
	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = strdup(v);
	if (*dst == NULL) {
		return cli_fail(c, EX_OSERR, "out of memory");
	}
	return 0;
}

int
cli_resolve_secrets(struct cli *c)
{
	struct {
		const char *opt;
		const char *path;
		bool env;
		char **dst;
	} t[] = {
		{ "--password-file", c->password_file, false, &c->password },
		{ "--password-env", c->password_env, true, &c->password },
		{ "--smtp-password-file", c->smtp_password_file, false,
		    &c->smtp_password },
		{ "--smtp-password-env", c->smtp_password_env, true,
		    &c->smtp_password },
		{ "--passphrase-file", c->passphrase_file, false,
		    &c->passphrase },
		{ "--passphrase-env", c->passphrase_env, true, &c->passphrase },
		{ "--oauth2-token-file", c->oauth2_token_file, false,
		    &c->oauth2_token },
		{ "--eab-hmac-file", c->eab_hmac_file, false, &c->eab_hmac },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].path == NULL) {
			continue;
		}
		rc = t[i].env
		    ? read_secret_env(c, t[i].opt, t[i].path, t[i].dst)
		    : read_secret_file(c, t[i].opt, t[i].path, t[i].dst);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

static void
wipe(char **p)
{
	if (*p != NULL) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
cli_free(struct cli *c)
{
	if (c == NULL) {
		return;
	}
	wipe(&c->password);
	wipe(&c->smtp_password);
	wipe(&c->passphrase);
	wipe(&c->oauth2_token);
	wipe(&c->eab_hmac);
}
