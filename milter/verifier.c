/*
 * verifier: privilege separation for DKIM and S/MIME verification.
 *
 * Four kinds of process.  The milter (threads, talks to the MTA) forks at
 * startup, before smfi_main() starts any thread, one single-threaded
 * keeper, which forks the server and forks a new one whenever the server
 * dies; the server keeps WORKERS_IDLE workers forked ahead and never
 * reads a byte of mail itself.  Forking only from single-threaded
 * processes keeps the workers free of locks held by other threads.  A
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
 * - The pid the milter kills at the deadline is the one the kernel gives
 *   with the hello (SO_PASSCRED), never the one the hello says: a worker
 *   taken over by a mail could otherwise name the milter or the server.
 *   A hello whose pid is not the sender's is a lie: that worker is
 *   killed at once and its mail gets 451.
 * - The worker calls dkimv_* and smime_verify() exactly as callbacks.c
 *   did in process; libopendkim and GnuTLS PKCS#7 never see mail bytes in
 *   the milter.  The milter trusts a verdict as it trusted those calls.
 *
 * - Each worker loads a seccomp allow-list (worker_seccomp()) before it
 *   receives a candidate: no kill(2) of other processes, no fork or exec,
 *   no file opened for writing; a violation kills that worker only.
 *   libseccomp is included here only.
 */
#define _GNU_SOURCE /* O_PATH, close_range() */
#include <sys/types.h>
#include <sys/ioctl.h>
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

#include <seccomp.h>

#include "common/buf.h"
#include "common/log.h"
#include "dkim/sigscreen.h"
#include "milter/verifier.h"

/* Built with AddressSanitizer (gcc names it, clang 14 only answers
 * __has_feature): a worker then needs more room and a few more calls. */
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_ASAN 1
#endif
#endif
#ifndef WORKER_ASAN
#define WORKER_ASAN 0
#endif

#define HELLO_MAGIC      0x53415648u /* "SAVH" */
#define REQ_MAGIC        0x53415652u /* "SAVR" */
#define VERDICT_MAGIC    0x53415656u /* "SAVV" */
#define REQ_HDR_MAX      1024 /* headers per request (MAILHDR_COUNT_MAX) */
#define REQ_STR_MAX      64   /* required header names per request */
#define WORKER_FILES     16   /* RLIMIT_NOFILE: socket, DNS, key file */
#define WORKER_MEMORY    (512ul * 1024 * 1024) /* RLIMIT_AS */
#define WORKERS_IDLE     2  /* workers forked ahead of candidates */
#define WORKERS_MAX      64 /* live workers (idle and busy) at most */
#define WORKER_GONE      3  /* exit status: the milter closed the socket */
#define RESOLVER_OPTIONS "timeout:2 attempts:2" /* resolver_bound() */
#define KEEPER_NAME      "smime-acme-keep"      /* ps(1) name of the keeper */
#define SERVER_NAME      "smime-acme-vrfy"      /* of the server and workers */
#define TEST_CRASH_ENV   "SMIME_ACME_TEST_WORKER_CRASH"
#define TEST_CRASH_HDR   "X-Test-Worker-Crash"
#define TEST_SYSCALL_ENV "SMIME_ACME_TEST_WORKER_SYSCALL"
#define TEST_SYSCALL_HDR "X-Test-Worker-Syscall"
#define TEST_LIE_ENV     "SMIME_ACME_TEST_WORKER_LIE"

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
	pid_t pid; /* the keeper, the server's parent */
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
	bool test_crash;   /* tests only, see verifier_start() */
	bool test_syscall; /* tests only, see verifier_start() */
	bool test_lie;     /* tests only, see verifier_start() */
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

/* The sender's pid in the SCM_CREDENTIALS of msg (SO_PASSCRED set), or
 * -1: the kernel's word, translated into our pid namespace. */
static pid_t
msg_sender(struct msghdr *msg)
{
	struct cmsghdr *cm;
	struct ucred uc;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(uc))) {
			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			return uc.pid;
		}
	}
	return -1;
}

/*
 * Read (out false) or write (out true) exactly len bytes.  Reading with
 * sender non-NULL (SO_PASSCRED set on fd), *sender is the pid the kernel
 * names for every part read, -1 if it named none or several.  0, -1
 * (EOF, peer gone or error), -2 (deadline).
 */
static int
io_full(int fd, bool out, void *p, size_t len, long deadline, pid_t *sender)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cb;
	struct msghdr msg;
	struct iovec iov;
	char *q = p;
	ssize_t n;
	pid_t who;
	int w;

	if (sender != NULL) {
		*sender = 0;
	}
	while (len > 0) {
		w = wait_fd(fd, out ? POLLOUT : POLLIN, deadline);
		if (w <= 0) {
			return w == 0 ? -2 : -1;
		}
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = q;
		iov.iov_len = len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (sender != NULL) {
			msg.msg_control = cb.b;
			msg.msg_controllen = sizeof(cb.b);
		}
		n = out ? sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL)
			: recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		if (sender != NULL) {
			who = msg_sender(&msg);
			*sender = *sender == 0 || *sender == who ? who : -1;
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
#if !WORKER_ASAN
	/* ASan reserves terabytes of address space for its shadow */
	set_limit(RLIMIT_AS, WORKER_MEMORY, WORKER_MEMORY);
#endif
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/*
 * The system calls a worker may make once it runs (doc/design.md §3):
 * its sockets and pipe, memory, time, signals to itself, reading files
 * (Landlock says which), and what libopendkim's resolver and syslog need
 * (sockets of the unix and inet families).  Anything else kills the
 * worker (SIGSYS); the milter sees no verdict and tempfails that mail.
 * Sanitizer builds (SAN=1) need a few more for their run-time.
 */
static const int worker_syscalls[] = {
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(pread64),
	SCMP_SYS(close),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(statx),
	SCMP_SYS(stat),
	SCMP_SYS(lseek),
	SCMP_SYS(fcntl),
	SCMP_SYS(dup),
	SCMP_SYS(brk),
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(madvise),
	SCMP_SYS(mprotect),
	SCMP_SYS(futex),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(alarm),
	SCMP_SYS(setitimer),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(getuid),
	SCMP_SYS(geteuid),
	SCMP_SYS(getgid),
	SCMP_SYS(getegid),
	SCMP_SYS(uname),
	SCMP_SYS(getrandom),
	SCMP_SYS(sched_yield),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(time),
	SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(select),
	SCMP_SYS(pselect6),
	SCMP_SYS(connect),
	SCMP_SYS(bind),
	SCMP_SYS(sendto),
	SCMP_SYS(sendmsg),
	SCMP_SYS(sendmmsg),
	SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg),
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(shutdown),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(restart_syscall),
#if WORKER_ASAN
	SCMP_SYS(sigaltstack),
	SCMP_SYS(prctl),
	SCMP_SYS(readlink),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getrlimit),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getppid),
#endif
};

/* open(2) flags a worker may not use: writing, creating, truncating */
#define OPEN_MASK ((scmp_datum_t)(O_ACCMODE | O_CREAT | O_TRUNC))

/* One argument comparison, every field named (libseccomp's SCMP_A<n>
 * macros leave datum_b out, which clang's -Wextra refuses). */
static struct scmp_arg_cmp
arg_cmp(unsigned int arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp c;

	c.arg = arg;
	c.op = op;
	c.datum_a = a;
	c.datum_b = b;
	return c;
}

/* Load the worker's seccomp filter (kill the process on a violation).
 * 0 / -1. */
static int
worker_seccomp(void)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6 };
	scmp_filter_ctx f;
	size_t i;
	int rc = -1;

	f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (f == NULL) {
		return -1;
	}
	for (i = 0; i < sizeof(worker_syscalls) / sizeof(worker_syscalls[0]);
	     i++) {
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, worker_syscalls[i], 0) <
		    0) {
			goto out;
		}
	}
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)families[i], 0)) <
		    0) {
			goto out;
		}
	}
	/* files read only; signals only to itself (abort(), raise()) */
	if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		arg_cmp(2, SCMP_CMP_MASKED_EQ, OPEN_MASK, O_RDONLY)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
		arg_cmp(1, SCMP_CMP_MASKED_EQ, OPEN_MASK, O_RDONLY)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0)) < 0 ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		arg_cmp(1, SCMP_CMP_EQ, (scmp_datum_t)FIONREAD, 0)) < 0) {
		goto out;
	}
	rc = seccomp_load(f) < 0 ? -1 : 0;
out:
	seccomp_release(f);
	return rc;
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
		/* a system call off the allow-list (harmless without one) */
		if (env->test_syscall &&
		    strcasecmp(name, TEST_SYSCALL_HDR) == 0) {
			(void)kill(getppid(), 0);
		}
		/* the library sees only signatures that can matter */
		if (sigscreen_is_signature(name)) {
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
	pid_t self = getpid();
	/* the lie of a worker taken over: the server's pid in the hello */
	struct hello h = { HELLO_MAGIC,
		(int32_t)(env->test_lie ? getppid() : self) };
	struct verdict_msg vm;
	uint32_t hdr[2];
	char *payload = NULL;
	int fd = -1, n;

	worker_limits(env);
	/* no_new_privs is set (sandbox_enter); without the filter the
	 * worker still runs, as on a kernel without Landlock */
	if (worker_seccomp() < 0) {
		log_warn("verifier: worker %ld: cannot load the seccomp "
			 "filter, going on without it",
		    (long)getpid());
	}
	n = recv_fd(ctl, &fd);
	close(ctl);
	if (n <= 0 || fd < 0) {
		return n == 0 ? WORKER_GONE : 0;
	}
	/* the server learns which worker left the idle set (a pid_t is
	 * one atomic pipe write) */
	if (write(note, &self, sizeof(self)) < 0) {
		/* lost: the server finds out when this worker is reaped */
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
	if (env->test_lie) {
		/* and then no verdict, no alarm, no CPU: only a kill ends it */
		sigset_t all;

		(void)sigfillset(&all);
		(void)sigprocmask(SIG_SETMASK, &all, NULL);
		for (;;) {
			(void)poll(NULL, 0, -1);
		}
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

/* One byte and room for one descriptor: the control socket's datagram. */
struct fd_msg {
	struct msghdr msg;
	struct iovec iov;
	char byte;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cb; /* last: clang sees CMSG_SPACE as variable-sized */
};

static void
fd_msg_init(struct fd_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->byte = 'V';
	m->iov.iov_base = &m->byte;
	m->iov.iov_len = 1;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->cb.b;
	m->msg.msg_controllen = sizeof(m->cb.b);
}

/* Receive one descriptor.  1 got *fd, 0 the milter is gone, -1 error. */
static int
recv_fd(int ctl, int *fd)
{
	struct fd_msg m;
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	fd_msg_init(&m);
	do {
		n = recvmsg(ctl, &m.msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		return n == 0 ? 0 : -1;
	}
	cm = CMSG_FIRSTHDR(&m.msg);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	}
	return 1;
}

/* Hand fd to the server.  0 / -1. */
static int
send_fd(int ctl, int fd)
{
	struct fd_msg m;
	struct cmsghdr *cm;
	ssize_t n;

	fd_msg_init(&m);
	cm = CMSG_FIRSTHDR(&m.msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do {
		n = sendmsg(ctl, &m.msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* Fork one worker on the shared control socket.  Its pid / -1. */
static pid_t
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
	return pid;
}

/*
 * Bound the glibc stub resolver libopendkim uses: RES_OPTIONS (read by
 * res_ninit() in each worker) gets "timeout:2 attempts:2"
 * after what the administrator set (the last wins), so that one key
 * lookup takes at most about 4 s per name server whatever resolv.conf
 * says.  0 / -1.
 */
static int
resolver_bound(void)
{
	const char *old = getenv("RES_OPTIONS");
	char v[256];
	int n;

	/* the last of repeated options wins: ours */
	n = snprintf(
	    v, sizeof(v), "%s %s", old != NULL ? old : "", RESOLVER_OPTIONS);
	if (n < 0 || (size_t)n >= sizeof(v)) {
		return -1;
	}
	return setenv("RES_OPTIONS", v, 1) < 0 ? -1 : 0;
}

/* The workers waiting for a candidate, by pid. */
struct idle_set {
	pid_t pid[WORKERS_IDLE];
	size_t n;
};

/* Take pid out of the set; true if it was there. */
static bool
idle_drop(struct idle_set *is, pid_t pid)
{
	size_t i;

	for (i = 0; i < is->n; i++) {
		if (is->pid[i] == pid) {
			is->pid[i] = is->pid[--is->n];
			return true;
		}
	}
	return false;
}

static void
on_sigchld(int sig)
{
	(void)sig; /* only interrupts ppoll() */
}

/*
 * The server's loop: keep WORKERS_IDLE workers waiting on the control
 * socket, so that no fork is on a candidate's path; a worker that takes
 * a candidate writes its pid to note and the server forks the next.  An
 * idle worker that dies (killed by hand or by the OOM killer) is
 * replaced as well: SIGCHLD, blocked but while in ppoll(), wakes the
 * loop, and a reaped pid still in the idle set was idle.  Notes are read
 * before children are reaped, so a worker that took a candidate and has
 * already exited is never mistaken for an idle one.  It ends when a
 * worker finds the control socket closed (the milter is gone) or,
 * through PR_SET_PDEATHSIG, with the milter.
 */
static void
server_main(int ctl, const struct worker_env *env)
{
	struct idle_set is = { { 0 }, 0 };
	struct sigaction sa;
	struct pollfd pfd;
	struct timespec nap = { 0, 200 * 1000 * 1000 };
	sigset_t chld, during;
	size_t live = 0, k;
	pid_t b[16], pid;
	ssize_t n;
	int note[2], st;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_NAME, SERVER_NAME, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (pipe2(note, O_CLOEXEC) < 0 ||
	    fcntl(note[0], F_SETFL, O_NONBLOCK) < 0) {
		log_err_errno("verifier: pipe");
		_exit(1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGCHLD, &sa, NULL);
	(void)sigemptyset(&chld);
	(void)sigaddset(&chld, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &chld, &during);
	(void)sigdelset(&during, SIGCHLD);
	/* the stub resolver's share of the key lookup bound: each try
	 * waits 2 s, twice per server; before anything initialises it */
	if (resolver_bound() < 0) {
		log_warn("verifier: cannot bound the resolver's timeouts");
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
		/* workers that took a candidate */
		while ((n = read(note[0], b, sizeof(b))) > 0) {
			for (k = 0; k < (size_t)n / sizeof(b[0]); k++) {
				(void)idle_drop(&is, b[k]);
			}
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			live--;
			/* the milter is gone: a normal end, not a lost worker */
			if (WIFEXITED(st) && WEXITSTATUS(st) == WORKER_GONE) {
				return;
			}
			if (idle_drop(&is, pid)) {
				log_warn("verifier: idle worker %ld %s %d, "
					 "forking another",
				    (long)pid,
				    WIFSIGNALED(st) ? "killed by signal"
						    : "exited with status",
				    WIFSIGNALED(st) ? WTERMSIG(st)
						    : WEXITSTATUS(st));
			}
			if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
				log_warn("verifier: worker %ld killed by its "
					 "seccomp filter (a forbidden system "
					 "call; the kernel's audit log names "
					 "it)",
				    (long)pid);
			}
		}
		while (is.n < WORKERS_IDLE && live < WORKERS_MAX &&
		    (pid = spawn_worker(ctl, note, env)) > 0) {
			is.pid[is.n++] = pid;
			live++;
		}
		pfd.fd = note[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* short naps only while a fork failed or too many live */
		(void)ppoll(
		    &pfd, 1, is.n < WORKERS_IDLE ? &nap : NULL, &during);
	}
}

/*
 * The keeper: the process the milter forks.  It forks the server and, if
 * the server dies (killed, or a bug), forks a new one, so that one lost
 * server does not cost every later challenge a tempfail until a restart.
 * It holds the server's end of the control socket meanwhile, so the
 * milter's handle stays valid and a request sent in the gap waits for the
 * new server's workers.  It never reads mail, forks only from this single
 * thread, reaps orphaned workers (a child subreaper) and ends with the
 * milter (PR_SET_PDEATHSIG) or when the server ends normally.
 */
static void
keeper_main(int ctl, const struct worker_env *env)
{
	long started, backoff = 0;
	pid_t pid, w;
	int st;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_NAME, KEEPER_NAME, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	for (;;) {
		started = now_ms();
		pid = fork();
		if (pid < 0) {
			log_err_errno("verifier: fork of the server");
			sleep(1);
			continue;
		}
		if (pid == 0) {
			server_main(ctl, env);
			_exit(0);
		}
		do {
			w = waitpid(-1, &st, 0);
		} while (w != pid && (w >= 0 || errno == EINTR));
		if (w < 0 || (WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			return;
		}
		if (WIFSIGNALED(st)) {
			log_err("verifier: server %ld killed by signal %d, "
				"starting a new one",
			    (long)pid, WTERMSIG(st));
		} else {
			log_err("verifier: server %ld exited with status %d, "
				"starting a new one",
			    (long)pid, WEXITSTATUS(st));
		}
		/* a server that keeps dying at once is not forked in a loop */
		backoff = now_ms() - started < 1000
		    ? (backoff < 8 ? backoff * 2 + 1 : backoff)
		    : 0;
		if (backoff > 0) {
			sleep((unsigned)backoff);
		}
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
	/* and with this one it makes a system call the seccomp filter
	 * forbids on a mail with an X-Test-Worker-Syscall header */
	env.test_syscall = app->cfg->test_dkim_keys != NULL &&
	    getenv(TEST_SYSCALL_ENV) != NULL;
	/* and with this one every worker lies about its pid in the hello
	 * (says the server's) and then hangs without a verdict */
	env.test_lie =
	    app->cfg->test_dkim_keys != NULL && getenv(TEST_LIE_ENV) != NULL;
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
		keeper_main(sv[1], &env);
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
	pid_t pid = -1, sender = -1;
	int sv[2] = { -1, -1 }, rc = -1, io, hio = -1, one = 1;

	memset(out, 0, sizeof(*out));
	snprintf(why, whylen, "verification worker failed");
	buf_init(&req, v->max_req + 2 * sizeof(uint32_t));
	if (build_request(rq, &req) < 0) {
		snprintf(why, whylen, "verification request too large");
		goto out;
	}
	start = now_ms();
	deadline = start + (long)v->timeout * 1000;
	/* SO_PASSCRED before the worker has the other end: the kernel
	 * names the sender of every byte read from sv[0] */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
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
	io = io_full(sv[0], true, req.data, req.len, deadline, NULL);
	if (io >= 0) {
		hio = io_full(sv[0], false, &h, sizeof(h),
		    io == 0 ? deadline : now_ms() + 10, &sender);
	}
	if (hio == 0 && (h.magic != HELLO_MAGIC || sender <= 1)) {
		hio = io = -1;
	}
	if (hio == 0) {
		/* the kernel's word, not the worker's */
		pid = sender;
		if ((pid_t)h.pid != sender) {
			(void)kill(pid, SIGKILL);
			log_warn("%s: verification worker %ld said it was "
				 "process %ld: killed, its verdict not "
				 "awaited",
			    rq->qid, (long)sender, (long)h.pid);
			snprintf(why, whylen,
			    "verification worker lied about its pid");
			goto out;
		}
	} else if (io == 0) {
		io = hio;
	}
	if (io == 0) {
		io = io_full(sv[0], false, &vm, sizeof(vm), deadline, NULL);
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
