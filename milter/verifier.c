/*
 * verifier: privilege separation for DKIM and S/MIME verification.
 *
 * Three kinds of process.  The milter (threads, talks to the MTA) forks at
 * startup, before smfi_main() starts any thread, one single-threaded
 * server; the server keeps WORKERS_IDLE workers forked ahead and never
 * reads a byte of mail itself.  Forking only from a single-threaded
 * process keeps the workers free of locks held by other threads.  A
 * worker handles one candidate and exits: heap damage done by one mail
 * cannot reach the verdict of the next.
 *
 * Invariants:
 * - The server holds no descriptor but its control socket, a pipe from
 *   its workers and stdio, and gives up the filesystem (Landlock: nothing
 *   but the DKIM key file, or /etc/resolv.conf for DNS) before it forks
 *   any worker; the spool and the signing keys are unreachable from a
 *   worker.  DKIM-Signatures are screened (dkim/sigscreen.c) before the
 *   library sees them.
 * - A worker runs with RLIMIT_CPU = VerifyTimeout, RLIMIT_AS, RLIMIT_NOFILE
 *   and RLIMIT_NPROC (0: no fork) bounded, no core dumps, no new
 *   privileges, and an alarm() backstop; the milter kills it (SIGKILL)
 *   when VerifyTimeout has passed without a verdict.
 * - Per candidate, a milter thread makes a socketpair and passes one end
 *   over the shared control socket (SCM_RIGHTS over SOCK_SEQPACKET: one
 *   atomic datagram, no lock), where one waiting worker receives it; the
 *   worker says hello (its pid), reads one length-prefixed request and
 *   writes one fixed-size verdict.  Anything else (EOF, short read, bad
 *   magic, deadline) is "no verdict".
 * - The worker calls dkimv_* and smime_verify() exactly as callbacks.c
 *   did in process; libopendkim and GnuTLS PKCS#7 never see mail bytes in
 *   the milter.  The milter trusts a verdict as it trusted those calls.
 *
 * XXX: no seccomp filter (Debian's libseccomp-dev is not a build
 * dependency yet); a worker has the milter's uid and could signal it on
 * kernels without Landlock scoping (ABI < 6).
 */
#define _GNU_SOURCE /* O_PATH, close_range() */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/landlock.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "dkim/sigscreen.h"
#include "milter/verifier.h"

#define HELLO_MAGIC    0x53415648u /* "SAVH" */
#define REQ_MAGIC      0x53415652u /* "SAVR" */
#define VERDICT_MAGIC  0x53415656u /* "SAVV" */
#define REQ_HDR_MAX    1024        /* headers per request (MAILHDR_COUNT_MAX) */
#define REQ_STR_MAX    64          /* required header names per request */
#define WORKER_FILES   16          /* RLIMIT_NOFILE: socket, DNS, key file */
#define WORKER_MEMORY  (512ul * 1024 * 1024) /* RLIMIT_AS */
#define WORKERS_IDLE   2  /* workers forked ahead of candidates */
#define WORKERS_MAX    64 /* live workers (idle and busy) at most */
#define WORKER_GONE    3  /* exit status: the milter closed the socket */
#define TEST_CRASH_ENV "SMIME_ACME_TEST_WORKER_CRASH"
#define TEST_CRASH_HDR "X-Test-Worker-Crash"

/* Landlock ABI 6 ruleset attributes: scoping (older headers lack it). */
struct ll_ruleset_attr6 {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};
#define LL_SCOPE_ABSTRACT_UNIX 1ull
#define LL_SCOPE_SIGNAL        2ull
#define LL_FS_V1               ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)

struct verifier {
	int ctl;   /* SOCK_SEQPACKET to the server */
	pid_t pid; /* the server */
	int timeout;
	size_t max_req; /* largest request payload */
};

/* What the server and its workers keep from the milter. */
struct worker_env {
	struct dkimv_lib *dkim;
	const struct smime_trust *smime;
	const char *test_keys;
	int timeout;
	size_t max_req;
	bool test_crash; /* tests only, see verifier_start() */
};

struct hello {
	uint32_t magic;
	int32_t pid;
};

struct verdict_msg {
	uint32_t magic;
	struct verifier_verdict v;
};

/* ---- wire format: u32 magic, u32 length, then the payload ------------ */

/* Fixed part of the payload; strings and the body follow. */
struct req_fixed {
	uint32_t n_hdr;
	uint32_t n_required;
	uint32_t body_len;
	uint32_t smime;
	struct challenge_mail m;
};

/* A string on the wire: u32 length, bytes, NUL. */
static int
put_str(struct buf *b, const char *s)
{
	uint32_t n;

	if (s == NULL) {
		s = "";
	}
	if (strlen(s) > UINT32_MAX - 1) {
		return -1;
	}
	n = (uint32_t)strlen(s);
	if (buf_append(b, &n, sizeof(n)) < 0 ||
	    buf_append(b, s, (size_t)n + 1) < 0) {
		return -1;
	}
	return 0;
}

/* The request payload (after magic and length) into b.  0 / -1. */
static int
build_request(const struct verifier_req *rq, struct buf *b)
{
	struct req_fixed f;
	uint32_t hdr[2] = { REQ_MAGIC, 0 };
	size_t i, nreq = 0, start;
	int rc = -1;

	while (rq->required[nreq] != NULL) {
		nreq++;
	}
	if (rq->n_hdr > REQ_HDR_MAX || nreq > REQ_STR_MAX ||
	    rq->body_len > UINT32_MAX) {
		return -1;
	}
	memset(&f, 0, sizeof(f));
	f.n_hdr = (uint32_t)rq->n_hdr;
	f.n_required = (uint32_t)nreq;
	f.body_len = (uint32_t)rq->body_len;
	f.smime = rq->smime;
	if (rq->m != NULL) {
		f.m = *rq->m;
	}
	if (buf_append(b, hdr, sizeof(hdr)) < 0) {
		goto out;
	}
	start = b->len;
	if (buf_append(b, &f, sizeof(f)) < 0 || put_str(b, rq->qid) < 0 ||
	    put_str(b, rq->from_domain) < 0 ||
	    put_str(b, rq->content_type) < 0) {
		goto out;
	}
	for (i = 0; i < nreq; i++) {
		if (put_str(b, rq->required[i]) < 0) {
			goto out;
		}
	}
	for (i = 0; i < rq->n_hdr; i++) {
		if (put_str(b, rq->hdr[i].name) < 0) {
			goto out;
		}
		/* without SMFIP_HDR_LEADSPC libmilter ate one space */
		if (!rq->leadspc) {
			uint32_t n = (uint32_t)strlen(rq->hdr[i].value) + 1;

			if (buf_append(b, &n, sizeof(n)) < 0 ||
			    buf_append(b, " ", 1) < 0 ||
			    buf_append(b, rq->hdr[i].value, (size_t)n) < 0) {
				goto out;
			}
		} else if (put_str(b, rq->hdr[i].value) < 0) {
			goto out;
		}
	}
	if (rq->body_len > 0 && buf_append(b, rq->body, rq->body_len) < 0) {
		goto out;
	}
	if (b->len - start > UINT32_MAX) {
		goto out;
	}
	hdr[1] = (uint32_t)(b->len - start);
	memcpy(b->data + sizeof(uint32_t), &hdr[1], sizeof(uint32_t));
	rc = 0;
out:
	return rc;
}

/* A cursor over a received payload. */
struct cursor {
	const char *p;
	size_t left;
};

/* The next string; NULL if the payload is malformed. */
static const char *
get_str(struct cursor *c)
{
	const char *s;
	uint32_t n;

	if (c->left < sizeof(n)) {
		return NULL;
	}
	memcpy(&n, c->p, sizeof(n));
	c->p += sizeof(n);
	c->left -= sizeof(n);
	if ((size_t)n >= c->left || c->p[n] != '\0' || strlen(c->p) != n) {
		return NULL;
	}
	s = c->p;
	c->p += (size_t)n + 1;
	c->left -= (size_t)n + 1;
	return s;
}

/* ---- I/O with a deadline (milter side) -------------------------------- */

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline.  1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short events, long deadline)
{
	struct pollfd pfd = { fd, events, 0 };
	long left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			return 0;
		}
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		return n > 0 ? 1 : n;
	}
}

/* Read exactly len bytes.  0, -1 (EOF or error), -2 (deadline). */
static int
read_full(int fd, void *p, size_t len, long deadline)
{
	char *q = p;
	ssize_t n;
	int w;

	while (len > 0) {
		w = wait_fd(fd, POLLIN, deadline);
		if (w <= 0) {
			return w == 0 ? -2 : -1;
		}
		n = recv(fd, q, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write exactly len bytes.  0, -1 (peer gone or error), -2 (deadline). */
static int
write_full(int fd, const void *p, size_t len, long deadline)
{
	const char *q = p;
	ssize_t n;
	int w;

	while (len > 0) {
		w = wait_fd(fd, POLLOUT, deadline);
		if (w <= 0) {
			return w == 0 ? -2 : -1;
		}
		n = send(fd, q, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the worker --------------------------------------------------------- */

/* Blocking read of exactly len bytes (the alarm bounds it).  0 / -1. */
static int
worker_read(int fd, void *p, size_t len)
{
	char *q = p;
	ssize_t n;

	while (len > 0) {
		n = read(fd, q, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
set_limit(int resource, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	(void)setrlimit(resource, &rl);
}

/* The worker's own limits, before it reads the request. */
static void
worker_limits(const struct worker_env *env)
{
	sigset_t all;

	(void)sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	(void)signal(SIGALRM, SIG_DFL);
	(void)signal(SIGXCPU, SIG_DFL);
	set_limit(RLIMIT_CORE, 0, 0);
	set_limit(RLIMIT_NPROC, 0, 0);
	set_limit(RLIMIT_NOFILE, WORKER_FILES, WORKER_FILES);
	set_limit(RLIMIT_CPU, (rlim_t)env->timeout, (rlim_t)env->timeout + 1);
#if !defined(__SANITIZE_ADDRESS__)
	/* ASan reserves terabytes of address space for its shadow */
	set_limit(RLIMIT_AS, WORKER_MEMORY, WORKER_MEMORY);
#endif
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Parse the payload and run the checks, as callbacks.c did in process. */
static int
worker_verify(const struct worker_env *env, const char *payload, size_t len,
    struct verifier_verdict *v)
{
	const char *required[REQ_STR_MAX + 1];
	const char *qid, *from_domain, *ctype, *name, *value;
	const char *why = NULL, *ignored = NULL;
	char prev[DKIMV_REASON_MAX];
	struct cursor c = { payload, len };
	struct req_fixed f;
	struct dkimv *d;
	size_t i, nsig = 0;

	if (len < sizeof(f)) {
		return -1;
	}
	memcpy(&f, payload, sizeof(f));
	c.p += sizeof(f);
	c.left -= sizeof(f);
	if (f.n_hdr > REQ_HDR_MAX || f.n_required > REQ_STR_MAX) {
		return -1;
	}
	qid = get_str(&c);
	from_domain = get_str(&c);
	ctype = get_str(&c);
	if (qid == NULL || from_domain == NULL || ctype == NULL) {
		return -1;
	}
	for (i = 0; i < f.n_required; i++) {
		required[i] = get_str(&c);
		if (required[i] == NULL) {
			return -1;
		}
	}
	required[i] = NULL;
	f.m.from[sizeof(f.m.from) - 1] = '\0';
	f.m.to[sizeof(f.m.to) - 1] = '\0';
	f.m.reply_to[sizeof(f.m.reply_to) - 1] = '\0';
	f.m.token1[sizeof(f.m.token1) - 1] = '\0';
	f.m.message_id[sizeof(f.m.message_id) - 1] = '\0';
	f.m.references[sizeof(f.m.references) - 1] = '\0';

	d = dkimv_begin(env->dkim, qid);
	for (i = 0; i < f.n_hdr; i++) {
		name = get_str(&c);
		value = get_str(&c);
		if (name == NULL || value == NULL) {
			dkimv_free(d);
			return -1;
		}
		if (env->test_crash && strcasecmp(name, TEST_CRASH_HDR) == 0) {
			abort();
		}
		/* the library sees only signatures that can matter */
		if (strcasecmp(name, "DKIM-Signature") == 0) {
			if (nsig == SIGSCREEN_MAX) {
				ignored = "more DKIM signatures than "
					  "SIGSCREEN_MAX";
			}
			if (nsig == SIGSCREEN_MAX ||
			    sigscreen_check(value, from_domain, &why) < 0) {
				if (ignored == NULL) {
					ignored = why;
				}
				continue;
			}
			nsig++;
		}
		if (d != NULL) {
			(void)dkimv_header(d, name, value);
		}
	}
	if (c.left != f.body_len) {
		dkimv_free(d);
		return -1;
	}
	if (d == NULL) {
		v->dkim_rc = 0;
		snprintf(v->dkim.reason, sizeof(v->dkim.reason),
		    "DKIM verification unavailable");
	} else {
		(void)dkimv_eoh(d);
		if (f.body_len > 0) {
			(void)dkimv_body(
			    d, (const unsigned char *)c.p, f.body_len);
		}
		v->dkim_rc = dkimv_end(d, from_domain, required, &v->dkim);
		if (v->dkim_rc < 0) {
			v->dkim.pass = false;
		}
		dkimv_free(d);
	}
	if (!v->dkim.pass && ignored != NULL) {
		memcpy(prev, v->dkim.reason, sizeof(prev));
		snprintf(v->dkim.reason, sizeof(v->dkim.reason),
		    "%.400s (DKIM-Signature ignored: %s)", prev, ignored);
	}
	if (!v->dkim.pass && f.smime) {
		v->smime_done = true;
		v->smime_rc = smime_verify(env->smime,
		    ctype[0] != '\0' ? ctype : NULL, (const unsigned char *)c.p,
		    f.body_len, &f.m, &v->smime);
	}
	return 0;
}

static int recv_fd(int ctl, int *fd);

/*
 * One worker: wait (limits already set) for one candidate's socket on
 * the shared control socket, tell the server (note) so that it forks the
 * next one, then hello, one request, one verdict.  Returns the exit
 * status: WORKER_GONE when the milter has closed the control socket.
 */
static int
worker_main(int ctl, int note, const struct worker_env *env)
{
	struct hello h = { HELLO_MAGIC, (int32_t)getpid() };
	struct verdict_msg vm;
	uint32_t hdr[2];
	char *payload = NULL;
	int fd = -1, n;

	worker_limits(env);
	n = recv_fd(ctl, &fd);
	close(ctl);
	if (n <= 0 || fd < 0) {
		return n == 0 ? WORKER_GONE : 0;
	}
	if (write(note, "J", 1) < 0) {
		/* lost: one worker fewer waits until the next note */
	}
	close(note);
	/* backstop if the milter is gone; it normally kills us first */
	alarm((unsigned)env->timeout + 2);
	if (fcntl(fd, F_SETFL, 0) < 0 ||
	    send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		goto out;
	}
	if (worker_read(fd, hdr, sizeof(hdr)) < 0 || hdr[0] != REQ_MAGIC ||
	    hdr[1] > env->max_req) {
		goto out;
	}
	payload = malloc(hdr[1] > 0 ? hdr[1] : 1);
	if (payload == NULL || worker_read(fd, payload, hdr[1]) < 0) {
		goto out;
	}
	memset(&vm, 0, sizeof(vm));
	vm.magic = VERDICT_MAGIC;
	if (worker_verify(env, payload, hdr[1], &vm.v) < 0) {
		goto out;
	}
	(void)send(fd, &vm, sizeof(vm), MSG_NOSIGNAL);
out:
	free(payload);
	close(fd);
	return 0;
}

/* ---- the server --------------------------------------------------------- */

/* Allow reading one file under the ruleset (absent files are skipped). */
static int
ll_allow_read(int rfd, const char *path)
{
	struct landlock_path_beneath_attr pb;
	int fd, rc;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		return errno == ENOENT ? 0 : -1;
	}
	pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
	pb.parent_fd = fd;
	rc = (int)syscall(
	    SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/*
 * Give up the filesystem for the server and every worker: only the
 * DKIM key file (TestDKIMKeys) or the resolver's configuration stays
 * readable; with Landlock ABI 6 also no signals to, and no abstract
 * sockets of, processes outside.  0, or -1 when the kernel has no
 * Landlock (the caller warns and goes on with the rlimits alone).
 */
static int
sandbox_enter(const struct worker_env *env)
{
	struct ll_ruleset_attr6 ra;
	size_t ralen = sizeof(uint64_t);
	long abi;
	int rfd = -1, rc = -1;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		return -1;
	}
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		return -1;
	}
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = LL_FS_V1;
	if (abi >= 6) {
		ra.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		ralen = sizeof(ra);
	}
	rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, ralen, 0);
	if (rfd < 0) {
		goto out;
	}
	if (env->test_keys != NULL) {
		if (ll_allow_read(rfd, env->test_keys) < 0) {
			goto out;
		}
	} else if (ll_allow_read(rfd, "/etc/resolv.conf") < 0 ||
	    ll_allow_read(rfd, "/etc/hosts") < 0) {
		goto out;
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0) {
		goto out;
	}
	rc = 0;
out:
	if (rfd >= 0) {
		close(rfd);
	}
	return rc;
}

/* Receive one descriptor.  1 got *fd, 0 the milter is gone, -1 error. */
static int
recv_fd(int ctl, int *fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cb;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	char byte;
	ssize_t n;

	*fd = -1;
	iov.iov_base = &byte;
	iov.iov_len = 1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cb.b;
	msg.msg_controllen = sizeof(cb.b);
	do {
		n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		return n == 0 ? 0 : -1;
	}
	cm = CMSG_FIRSTHDR(&msg);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	}
	return 1;
}

/* Fork one worker on the shared control socket.  0 / -1. */
static int
spawn_worker(int ctl, const int note[2], const struct worker_env *env)
{
	pid_t pid = fork();

	if (pid < 0) {
		return -1;
	}
	if (pid == 0) {
		close(note[0]);
		_exit(worker_main(ctl, note[1], env));
	}
	return 0;
}

/*
 * The server's loop: keep WORKERS_IDLE workers waiting on the control
 * socket, so that no fork is on a candidate's path; a worker that takes
 * a candidate writes one byte to note and the server forks the next.  It
 * ends when a worker finds the control socket closed (the milter is
 * gone) or, through PR_SET_PDEATHSIG, with the milter.
 */
static void
server_main(int ctl, const struct worker_env *env)
{
	struct pollfd pfd;
	size_t live = 0, idle = 0, took;
	char b[64];
	ssize_t n;
	pid_t pid;
	int note[2], st;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (pipe2(note, O_CLOEXEC) < 0) {
		log_err_errno("verifier: pipe");
		return;
	}
	/* before the fork of any worker: each finds the set-up done */
	if (!dkimv_warm()) {
		log_warn("verifier: DKIM warm-up did not verify");
	}
	if (sandbox_enter(env) < 0) {
		log_warn("verifier: no Landlock in this kernel: workers keep "
			 "the milter's filesystem access");
	}
	for (;;) {
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			live--;
			if (WIFEXITED(st) && WEXITSTATUS(st) == WORKER_GONE) {
				return;
			}
		}
		while (idle < WORKERS_IDLE && live < WORKERS_MAX &&
		    spawn_worker(ctl, note, env) == 0) {
			idle++;
			live++;
		}
		pfd.fd = note[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* short naps only while a fork failed or too many live */
		if (poll(&pfd, 1, idle < WORKERS_IDLE ? 200 : -1) <= 0) {
			continue;
		}
		n = read(note[0], b, sizeof(b));
		took = n > 0 ? (size_t)n : 0;
		idle -= took < idle ? took : idle;
	}
}

struct verifier *
verifier_start(const struct milter_app *app)
{
	struct worker_env env;
	struct verifier *v;
	size_t hdr_max;
	int sv[2];
	pid_t pid;

	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		log_err("verifier: out of memory");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err_errno("verifier: socketpair");
		free(v);
		return NULL;
	}
	/* headers and body as the milter keeps them, plus framing */
	hdr_max = (size_t)MAILHDR_COUNT_MAX * (app->cfg->max_header + 16);
	env.dkim = app->dkim;
	env.smime = app->smime;
	env.test_keys = app->cfg->test_dkim_keys;
	env.timeout = app->cfg->verify_timeout;
	env.max_req = app->cfg->max_message + hdr_max + 65536;
	/*
	 * Test hook: with TestDKIMKeys (a test-only key) and this variable
	 * set, a worker aborts on a mail with an X-Test-Worker-Crash header,
	 * since no known mail crashes a screened library any more.
	 */
	env.test_crash =
	    app->cfg->test_dkim_keys != NULL && getenv(TEST_CRASH_ENV) != NULL;
	pid = fork();
	if (pid < 0) {
		log_err_errno("verifier: fork");
		close(sv[0]);
		close(sv[1]);
		free(v);
		return NULL;
	}
	if (pid == 0) {
		/* the server: nothing of the milter's but stdio */
		closelog();
		if (sv[1] > 3) {
			(void)close_range(3, (unsigned)sv[1] - 1, 0);
		}
		(void)close_range((unsigned)sv[1] + 1, ~0u, 0);
		server_main(sv[1], &env);
		_exit(0);
	}
	close(sv[1]);
	v->ctl = sv[0];
	v->pid = pid;
	v->timeout = app->cfg->verify_timeout;
	v->max_req = env.max_req;
	return v;
}

void
verifier_stop(struct verifier *v)
{
	if (v == NULL) {
		return;
	}
	close(v->ctl);
	free(v);
}

/* Hand fd to the server.  0 / -1. */
static int
send_fd(int ctl, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cb;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	char byte = 'V';
	ssize_t n;

	iov.iov_base = &byte;
	iov.iov_len = 1;
	memset(&msg, 0, sizeof(msg));
	memset(&cb, 0, sizeof(cb));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cb.b;
	msg.msg_controllen = sizeof(cb.b);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do {
		n = sendmsg(ctl, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Terminate the strings of a verdict that came from another process. */
static void
verdict_terminate(struct verifier_verdict *v)
{
	v->dkim.domain[sizeof(v->dkim.domain) - 1] = '\0';
	v->dkim.htag[sizeof(v->dkim.htag) - 1] = '\0';
	v->dkim.reason[sizeof(v->dkim.reason) - 1] = '\0';
	v->smime.reason[sizeof(v->smime.reason) - 1] = '\0';
}

int
verifier_run(struct verifier *v, const struct verifier_req *rq,
    struct verifier_verdict *out, char *why, size_t whylen)
{
	struct verdict_msg vm;
	struct hello h;
	struct buf req;
	long start, deadline;
	pid_t pid = -1;
	int sv[2] = { -1, -1 }, rc = -1, io, hio = -1;

	memset(out, 0, sizeof(*out));
	snprintf(why, whylen, "verification worker failed");
	buf_init(&req, v->max_req + 2 * sizeof(uint32_t));
	if (build_request(rq, &req) < 0) {
		snprintf(why, whylen, "verification request too large");
		goto out;
	}
	start = now_ms();
	deadline = start + (long)v->timeout * 1000;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ||
	    send_fd(v->ctl, sv[1]) < 0) {
		snprintf(why, whylen,
		    "cannot reach the verification server: %s",
		    strerror(errno));
		goto out;
	}
	close(sv[1]);
	sv[1] = -1;
	/* the request goes out at once: the socket buffer holds it until
	 * a waiting worker takes the socket (one wakeup less) */
	io = write_full(sv[0], req.data, req.len, deadline);
	if (io >= 0) {
		hio = read_full(
		    sv[0], &h, sizeof(h), io == 0 ? deadline : now_ms() + 10);
	}
	if (hio == 0 && (h.magic != HELLO_MAGIC || h.pid <= 1)) {
		hio = io = -1;
	}
	if (hio == 0) {
		pid = (pid_t)h.pid;
	} else if (io == 0) {
		io = hio;
	}
	if (io == 0) {
		io = read_full(sv[0], &vm, sizeof(vm), deadline);
	}
	if (io == -2) {
		if (pid > 1) {
			(void)kill(pid, SIGKILL);
		}
		snprintf(why, whylen,
		    "verification worker killed after %d s (VerifyTimeout)",
		    v->timeout);
		goto out;
	}
	if (io < 0 || vm.magic != VERDICT_MAGIC) {
		snprintf(why, whylen,
		    "verification worker died without a verdict (crash or "
		    "resource limit)");
		goto out;
	}
	*out = vm.v;
	verdict_terminate(out);
	log_debug("%s: eom: verification worker %ld: verdict in %ld ms",
	    rq->qid, (long)pid, now_ms() - start);
	rc = 0;
out:
	if (sv[0] >= 0) {
		close(sv[0]);
	}
	if (sv[1] >= 0) {
		close(sv[1]);
	}
	buf_free(&req);
	return rc;
}
