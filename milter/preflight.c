/*
 * preflight: see preflight.h.  Access is tested by opening or access(2) as
 * the user that will use the file, never by reasoning about modes, so
 * groups, ACLs and read-only mounts count as they will at run time.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "milter/preflight.h"

#define DEPLOY_REF "smime-acme-deploy(7), \"Files and modes\""

/* The directory that must exist for a file the milter creates in it. */
static int
need_dir_of(const char *key, const char *file)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;
	int n;

	n = snprintf(dir, sizeof(dir), "%s", file);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		log_err("%s: %s: path too long", key, file);
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		return 0;
	}
	if (slash == dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	if (stat(dir, &st) < 0) {
		log_err("%s: directory %s: %s; fix: create it (%s)", key, dir,
		    strerror(errno), DEPLOY_REF);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s: %s: not a directory", key, dir);
		return -1;
	}
	return 0;
}

/* A file the milter reads (as whoever calls this). */
static int
need_readable(const char *key, const char *path, const char *who)
{
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_err("%s: %s: %s (as %s); fix: make it readable by %s, "
			"e.g. through its group with mode 0640 (%s)",
		    key, path, strerror(errno), who, who, DEPLOY_REF);
		return -1;
	}
	close(fd);
	return 0;
}

/* What the milter uses after dropping privileges. */
static int
check_as_user(const struct config *cfg, const char *who)
{
	static const char *const subs[] = { "", "/entries", "/work", "/tmp" };
	char path[PATH_MAX];
	size_t i;
	int n, rc = 0;

	for (i = 0; cfg->spool_dir != NULL && i < 4; i++) {
		n = snprintf(
		    path, sizeof(path), "%s%s", cfg->spool_dir, subs[i]);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			log_err("SpoolDirectory: %s: path too long",
			    cfg->spool_dir);
			return -1;
		}
		if (access(path, R_OK | W_OK | X_OK) < 0) {
			log_err("SpoolDirectory: %s: %s (as %s); fix: the "
				"spool and its entries/, work/ and tmp/ belong "
				"to a group of %s with mode 2770 (%s)",
			    path, strerror(errno), who, who, DEPLOY_REF);
			rc = -1;
		}
	}
	if (cfg->test_dkim_keys != NULL &&
	    need_readable("TestDKIMKeys", cfg->test_dkim_keys, who) < 0) {
		rc = -1;
	}
	for (i = 0; i < cfg->n_signing; i++) {
		if (need_readable("SigningKey", cfg->signing[i].keyfile, who) <
		    0) {
			rc = -1;
		}
	}
	if (cfg->submit_pass_file != NULL &&
	    need_readable("SubmitPasswordFile", cfg->submit_pass_file, who) <
		0) {
		rc = -1;
	}
	if ((cfg->inject == NULL || strcasecmp(cfg->inject, "smtp") != 0) &&
	    cfg->sendmail_path != NULL &&
	    access(cfg->sendmail_path, X_OK) < 0) {
		log_err("SendmailPath: %s: %s (as %s)", cfg->sendmail_path,
		    strerror(errno), who);
		rc = -1;
	}
	return rc;
}

/* check_as_user() in a child that has dropped to uid/gid/user. */
static int
check_dropped(const struct config *cfg, uid_t uid, gid_t gid, const char *user)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_err_errno("preflight: fork");
		return -1;
	}
	if (pid == 0) {
		if (initgroups(user, gid) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0) {
			log_err_errno("UserID: cannot become %s", user);
			_exit(1);
		}
		_exit(check_as_user(cfg, user) < 0 ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_err_errno("preflight: waitpid");
			return -1;
		}
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int
preflight_check(const struct config *cfg, const struct sockspec *ss, bool drop,
    uid_t uid, gid_t gid, const char *user)
{
	const char *self = geteuid() == 0 ? "root" : "the invoking user";
	int rc = 0;

	if (ss->kind == SOCKSPEC_UNIX && need_dir_of("Socket", ss->path) < 0) {
		rc = -1;
	}
	if (cfg->pid_file != NULL &&
	    need_dir_of("PidFile", cfg->pid_file) < 0) {
		rc = -1;
	}
	if (cfg->smime_trust != NULL && !cfg->require_dkim &&
	    need_readable("SMIMETrustFile", cfg->smime_trust, self) < 0) {
		rc = -1;
	}
	if (drop) {
		if (check_dropped(cfg, uid, gid, user) < 0) {
			rc = -1;
		}
	} else if (check_as_user(cfg, self) < 0) {
		rc = -1;
	}
	return rc;
}
