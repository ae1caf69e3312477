/*
 * reply: compose, sign and inject the response mail (see reply.h).  The
 * sendmail child is started with fork/execve and a fixed argument vector
 * "-i -f FROM -- TO" (Postfix sendmail(1) SECURITY); the message goes over
 * a socketpair written with MSG_NOSIGNAL, so a dying child cannot raise
 * SIGPIPE in the milter.  Nothing here logs the digest.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "milter/reply.h"

#define REPLY_PASS_MAX 1024

int
reply_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("reply: curl_global_init failed");
		return -1;
	}
	return 0;
}

const struct conf_signing_key *
reply_signing_key(const struct config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; domain != NULL && i < cfg->n_signing; i++) {
		if (cfg->signing[i].domain != NULL &&
		    strcasecmp(cfg->signing[i].domain, domain) == 0) {
			return &cfg->signing[i];
		}
	}
	return NULL;
}

int
reply_build(const struct config *cfg, struct dkimv_lib *dkim, const char *qid,
    const struct challenge_mail *m, const struct spool_entry *e, const char *to,
    struct buf *out, char *msgid, size_t msgidlen)
{
	char digest[CHALLENGE_DIGEST_LEN + 1], date[64], *sig = NULL;
	const char *dom = challenge_addr_domain(e->mailbox);
	const struct conf_signing_key *sk;
	struct challenge_reply r;
	struct buf body;
	int rc = -1;

	buf_init(&body, 0);
	memset(digest, 0, sizeof(digest));
	if (dom == NULL) {
		log_err(
		    "%s: eom: %s: no domain in the address", qid, e->mailbox);
		goto out;
	}
	if (challenge_response(
		m->token1, e->token2, e->thumbprint, e->rule, digest) < 0) {
		log_err("%s: eom: %s: cannot compute the response (rule %s)",
		    qid, e->mailbox, challenge_rule_name(e->rule));
		goto out;
	}
	if (challenge_date(0, date, sizeof(date)) < 0 ||
	    challenge_message_id(dom, msgid, msgidlen) < 0) {
		log_err("%s: eom: %s: cannot make Date or Message-ID", qid,
		    e->mailbox);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.from = e->mailbox;
	r.to = to;
	r.token_part1 = m->token1;
	r.in_reply_to = m->message_id[0] != '\0' ? m->message_id : NULL;
	r.references = m->references[0] != '\0' ? m->references : NULL;
	r.message_id = msgid;
	r.date = date;
	r.digest = digest;
	if (challenge_compose_reply(&r, &body) < 0) {
		log_err_errno(
		    "%s: eom: %s: cannot compose the reply", qid, e->mailbox);
		goto out;
	}
	sk = reply_signing_key(cfg, dom);
	if (sk != NULL) {
		sig = dkimv_sign(dkim, sk->domain, sk->selector, sk->keyfile,
		    body.data, body.len);
		if (sig == NULL) {
			log_err("%s: eom: %s: cannot DKIM-sign the reply "
				"(d=%s s=%s)",
			    qid, e->mailbox, sk->domain, sk->selector);
			goto out;
		}
		if (buf_printf(out, "DKIM-Signature: %s\r\n", sig) < 0) {
			goto nomem;
		}
	}
	if (buf_append(out, body.data, body.len) < 0) {
		goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	log_err_errno("%s: eom: %s: reply", qid, e->mailbox);
out:
	explicit_bzero(digest, sizeof(digest));
	buf_free_secret(&body);
	free(sig);
	return rc;
}

/* Write all of msg to fd before deadline; 0 / -1. */
static int
write_all(int fd, const char *msg, size_t len, time_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;
	int left;

	while (len > 0) {
		left = (int)(deadline - time(NULL));
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, left * 1000) <= 0) {
			if (errno == EINTR) {
				continue;
			}
			errno = ETIMEDOUT;
			return -1;
		}
		w = send(fd, msg, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return -1;
		}
		msg += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Wait for pid until deadline, then kill it.  Exit status or -1. */
static int
reap(pid_t pid, time_t deadline, bool *timed_out)
{
	/*
	 * The reply is out when the child exits, usually within a few ms:
	 * poll with a back-off that starts at 0.25 ms and grows to 20 ms, so
	 * a fast sendmail does not pay a fixed sleep at end of message.
	 */
	long ns = 250 * 1000;
	struct timespec ts;
	int st;
	pid_t r;

	*timed_out = false;
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			break;
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (time(NULL) >= deadline) {
			*timed_out = true;
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
				;
			}
			return -1;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = ns;
		nanosleep(&ts, NULL);
		if (ns < 20 * 1000 * 1000) {
			ns *= 2;
		}
	}
	if (WIFEXITED(st)) {
		return WEXITSTATUS(st);
	}
	return -1;
}

int
reply_sendmail(const char *path, const char *qid, const char *from,
    const char *to, const char *msg, size_t len, int timeout)
{
	char *argv[7];
	char *envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int sv[2] = { -1, -1 }, devnull = -1, rc = -1, status;
	time_t deadline = time(NULL) + (timeout > 0 ? timeout : 60);
	bool timed_out = false;
	pid_t pid = -1;

	if (path == NULL || *path != '/' || *from == '-' || *to == '-') {
		log_err("%s: eom: %s: bad SendmailPath or address", qid, to);
		return -1;
	}
	argv[0] = (char *)path;
	argv[1] = (char *)"-i";
	argv[2] = (char *)"-f";
	argv[3] = (char *)from;
	argv[4] = (char *)"--";
	argv[5] = (char *)to;
	argv[6] = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err_errno("%s: eom: sendmail: socketpair", qid);
		goto out;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		log_err_errno("%s: eom: sendmail: /dev/null", qid);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		log_err_errno("%s: eom: sendmail: fork", qid);
		goto out;
	}
	if (pid == 0) {
		/* child: only async-signal-safe calls from here on */
		if (dup2(sv[1], 0) < 0 || dup2(devnull, 1) < 0 ||
		    dup2(devnull, 2) < 0) {
			_exit(127);
		}
		shutdown(0, SHUT_WR);
		closefrom(3);
		execve(path, argv, envp);
		_exit(127);
	}
	close(sv[1]);
	sv[1] = -1;
	if (write_all(sv[0], msg, len, deadline) < 0) {
		log_err_errno("%s: eom: %s: writing to %s", qid, to, path);
		(void)reap(pid, time(NULL), &timed_out);
		goto out;
	}
	close(sv[0]);
	sv[0] = -1;
	status = reap(pid, deadline, &timed_out);
	if (timed_out) {
		log_err("%s: eom: %s: %s timed out after %d s", qid, to, path,
		    timeout);
		goto out;
	}
	if (status != 0) {
		log_err("%s: eom: %s: %s failed (exit status %d)", qid, to,
		    path, status);
		goto out;
	}
	rc = 0;
out:
	if (sv[0] >= 0) {
		close(sv[0]);
	}
	if (sv[1] >= 0) {
		close(sv[1]);
	}
	if (devnull >= 0) {
		close(devnull);
	}
	return rc;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t
upload_read(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->left) {
		n = u->left;
	}
	memcpy(ptr, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

int
reply_smtp(const struct config *cfg, const char *qid, const char *from,
    const char *to, const char *msg, size_t len)
{
	CURL *curl = NULL;
	struct curl_slist *rcpt = NULL;
	struct upload u = { msg, len };
	char url[512], env_from[CHALLENGE_ADDR_MAX + 3],
	    env_to[CHALLENGE_ADDR_MAX + 3], errbuf[CURL_ERROR_SIZE];
	char *pass = NULL;
	size_t passlen = 0;
	CURLcode cc;
	int rc = -1, n;

	errbuf[0] = '\0';
	n = snprintf(url, sizeof(url), "smtp://%s:%d",
	    cfg->submit_host != NULL ? cfg->submit_host : "127.0.0.1",
	    cfg->submit_port > 0 ? cfg->submit_port : 25);
	if (n < 0 || (size_t)n >= sizeof(url) ||
	    snprintf(env_from, sizeof(env_from), "<%s>", from) < 0 ||
	    snprintf(env_to, sizeof(env_to), "<%s>", to) < 0) {
		log_err("%s: eom: %s: SMTP: address or host too long", qid, to);
		return -1;
	}
	curl = curl_easy_init();
	rcpt = curl_slist_append(NULL, env_to);
	if (curl == NULL || rcpt == NULL) {
		log_err("%s: eom: %s: SMTP: out of memory", qid, to);
		goto out;
	}
	if (cfg->submit_user != NULL && *cfg->submit_user != '\0') {
		pass = fs_read_file(
		    cfg->submit_pass_file, REPLY_PASS_MAX, &passlen);
		if (pass == NULL) {
			log_err_errno("%s: eom: %s: SMTP: cannot read the "
				      "password file",
			    qid, to);
			goto out;
		}
		while (passlen > 0 &&
		    (pass[passlen - 1] == '\n' || pass[passlen - 1] == '\r')) {
			pass[--passlen] = '\0';
		}
		curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->submit_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, pass);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT,
	    (long)(cfg->reply_timeout > 0 ? cfg->reply_timeout : 60));
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		log_err("%s: eom: %s: SMTP submission to %s failed: %s%s%s",
		    qid, to, url, curl_easy_strerror(cc),
		    errbuf[0] != '\0' ? ": " : "", errbuf);
		goto out;
	}
	rc = 0;
out:
	if (pass != NULL) {
		explicit_bzero(pass, passlen);
		free(pass);
	}
	curl_slist_free_all(rcpt);
	if (curl != NULL) {
		curl_easy_cleanup(curl);
	}
	return rc;
}

int
reply_send(const struct config *cfg, const char *qid, const char *from,
    const char *to, const char *msg, size_t len)
{
	if (cfg->inject != NULL && strcasecmp(cfg->inject, "smtp") == 0) {
		return reply_smtp(cfg, qid, from, to, msg, len);
	}
	return reply_sendmail(
	    cfg->sendmail_path, qid, from, to, msg, len, cfg->reply_timeout);
}
