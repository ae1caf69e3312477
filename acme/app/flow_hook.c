/*
 * flow_hook: the delivery hook (DeliveryHook, --delivery-hook), run after
 * each certificate set is published, so that a site can hand the PKCS#12
 * to its user.  The command is the administrator's own and goes to
 * /bin/sh unchanged; addresses and paths reach it only through the
 * environment built here (never setenv: batch workers call this at the
 * same time).  The passphrase is never passed.  Called by flow_cert.c
 * after store_certs_save(); a failing hook does not undo the certificate.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/flow.h"
#include "acme/app/store.h"
#include "common/buf.h"
#include "common/log.h"

#define HOOK_ENV_MAX      12
#define HOOK_KILL_WAIT    2000 /* ms between SIGTERM and SIGKILL */
#define HOOK_POLL_MS      20
#define HOOK_PATH         "/usr/local/bin:/usr/bin:/bin"
#define HOOK_STR(x)       #x
#define HOOK_XSTR(x)      HOOK_STR(x)
#define HOOK_TIMEOUT_TEXT HOOK_XSTR(FLOW_HOOK_TIMEOUT)

/* "NAME=value" into env[*n] (malloc'ed).  0 / -1. */
static int
env_add(char **env, size_t *n, const char *name, const char *value)
{
	struct buf b;

	if (*n >= HOOK_ENV_MAX) {
		return -1;
	}
	buf_init(&b, 0);
	if (buf_printf(&b, "%s=%s", name, value) != 0) {
		buf_free(&b);
		return -1;
	}
	env[(*n)++] = buf_steal(&b);
	return env[*n - 1] != NULL ? 0 : -1;
}

static int
env_file(
    char **env, size_t *n, const char *name, const char *dir, const char *file)
{
	char *p = store_path(dir, file);
	int rc;

	if (p == NULL) {
		return -1;
	}
	rc = env_add(env, n, name, p);
	free(p);
	return rc;
}

/* The hook's whole environment; NULL-terminated in env.  0 / -1. */
static int
build_env(const struct flow *f, const char *const *addrs, size_t n,
    const char *dir, char **env)
{
	const char *path = getenv("PATH");
	struct buf all;
	size_t k = 0, i;
	char *p12 = NULL;
	int rc = -1;

	buf_init(&all, 0);
	for (i = 0; i < n; i++) {
		if (buf_printf(&all, "%s%s", i > 0 ? " " : "", addrs[i]) != 0) {
			goto out;
		}
	}
	if (buf_puts(&all, "") != 0) {
		goto out;
	}
	if (f->seed_pfx != NULL) {
		/* a seed lineage: the NNNN_cert.pfx just written */
		p12 = strdup(f->seed_pfx);
	} else if ((p12 = malloc(strlen(addrs[0]) + 5)) != NULL) {
		memcpy(p12, addrs[0], strlen(addrs[0]));
		memcpy(p12 + strlen(addrs[0]), ".p12", 5);
	}
	if (p12 == NULL) {
		goto out;
	}
	if (env_add(env, &k, "PATH",
		path != NULL && *path != '\0' ? path : HOOK_PATH) != 0 ||
	    env_add(env, &k, "SMIME_ACME_EVENT",
		f->renewing ? "renewed" : "issued") != 0 ||
	    env_add(env, &k, "SMIME_ACME_ADDRESS", addrs[0]) != 0 ||
	    env_add(env, &k, "SMIME_ACME_ADDRESSES", all.data) != 0 ||
	    env_add(env, &k, "SMIME_ACME_DIR", dir) != 0 ||
	    env_file(env, &k, "SMIME_ACME_CERT", dir, "cert.pem") != 0 ||
	    env_file(env, &k, "SMIME_ACME_CHAIN", dir, "chain.pem") != 0 ||
	    env_file(env, &k, "SMIME_ACME_FULLCHAIN", dir, "fullchain.pem") !=
		0 ||
	    env_file(env, &k, "SMIME_ACME_KEY", dir, "privkey.pem") != 0 ||
	    env_file(env, &k, "SMIME_ACME_P12", dir, p12) != 0) {
		goto out;
	}
	rc = 0;
out:
	env[k] = NULL;
	free(p12);
	buf_free(&all);
	return rc;
}

/* In the child: async-signal-safe calls only (batch runs threads). */
static void
child(const char *cmd, char **env)
{
	char *argv[4];
	struct sigaction sa;
	sigset_t none;
	int fd;

	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	(void)setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGPIPE, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 ||
	    dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		_exit(126);
	}
	closefrom(STDERR_FILENO + 1);
	execve("/bin/sh", argv, env);
	_exit(127);
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000L +
	    (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void
nap_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	(void)nanosleep(&ts, NULL);
}

/*
 * Wait for pid; past the timeout (or on SIGINT/SIGTERM to us) kill its
 * process group, SIGTERM first.  The status in *status; *killed says
 * why it was killed (NULL: not killed).  0 / -1 (waitpid failed).
 */
static int
wait_hook(pid_t pid, int *status, const char **killed)
{
	struct timespec t0;
	long limit = (long)FLOW_HOOK_TIMEOUT * 1000L;
	bool termed = false;
	pid_t r;

	*killed = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (!termed && (elapsed_ms(&t0) >= limit || flow_stopping())) {
			*killed = flow_stopping()
			    ? "interrupted"
			    : "not finished within " HOOK_TIMEOUT_TEXT " s";
			(void)kill(-pid, SIGTERM);
			termed = true;
			limit = elapsed_ms(&t0) + HOOK_KILL_WAIT;
		} else if (termed && elapsed_ms(&t0) >= limit) {
			(void)kill(-pid, SIGKILL);
			while ((r = waitpid(pid, status, 0)) < 0 &&
			    errno == EINTR) {
			}
			return r == pid ? 0 : -1;
		}
		nap_ms(HOOK_POLL_MS);
	}
}

int
flow_hook_run(
    const struct flow *f, const char *const *addrs, size_t n, const char *dir)
{
	char *env[HOOK_ENV_MAX + 1];
	const char *killed = NULL;
	int status = 0, rc = -1;
	size_t i;
	pid_t pid;

	if (f->set->hook == NULL || *f->set->hook == '\0' || n == 0 ||
	    dir == NULL) {
		return 0;
	}
	memset(env, 0, sizeof(env));
	if (build_env(f, addrs, n, dir, env) != 0) {
		log_err("delivery hook: %s: out of memory", addrs[0]);
		goto out;
	}
	log_info("delivery hook: %s: running", addrs[0]);
	pid = fork();
	if (pid < 0) {
		log_err_errno("delivery hook: %s: fork", addrs[0]);
		goto out;
	}
	if (pid == 0) {
		child(f->set->hook, env);
	}
	(void)setpgid(pid, pid); /* either side may win the race */
	if (wait_hook(pid, &status, &killed) != 0) {
		log_err_errno("delivery hook: %s: waitpid", addrs[0]);
		goto out;
	}
	if (killed != NULL) {
		log_err(
		    "delivery hook: %s: %s; killed; the certificate is stored in %s",
		    addrs[0], killed, dir);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("delivery hook: %s: done", addrs[0]);
		rc = 0;
	} else if (WIFEXITED(status)) {
		log_err(
		    "delivery hook: %s: exit status %d; the certificate is stored in %s",
		    addrs[0], WEXITSTATUS(status), dir);
	} else if (WIFSIGNALED(status)) {
		log_err(
		    "delivery hook: %s: killed by signal %d; the certificate is stored in %s",
		    addrs[0], WTERMSIG(status), dir);
	} else {
		log_err(
		    "delivery hook: %s: failed; the certificate is stored in %s",
		    addrs[0], dir);
	}
out:
	for (i = 0; i < HOOK_ENV_MAX && env[i] != NULL; i++) {
		free(env[i]);
	}
	return rc;
}
