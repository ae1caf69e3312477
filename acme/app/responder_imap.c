/*
 * responder_imap: the seed's IMAP + SMTP responder on libcurl.  Searches
 * the INBOX (unseen mail first, then polling) for the challenge from the
 * CA's sender to the address, fetches it, checks it as the milter does
 * (Subject, From, To, Auto-Submitted, DKIM pass with d= equal to the From
 * domain and h= covering the RFC 8823 list, via dkim/dkimv.h), sends the
 * reply (challenge_compose_reply) over SMTP (STARTTLS, SSL or plain;
 * ports 587/465/25 and 143/993 by default), and marks the challenge \Seen
 * and \Deleted.  Passwords or an OAuth2 bearer token (XOAUTH2).
 * XXX: a second libcurl user besides http.c (mail protocols, not HTTP).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include <curl/curl.h>

#include "acme/app/responder_mail.h"
#include "common/log.h"
#include "dkim/dkimv.h"

#define IMAP_MAIL_MAX (4u * 1024 * 1024)
#define IMAP_POLL_MS  2000
#define IMAP_SEEN_MAX 256

struct imap_state {
	char url[512]; /* imap[s]://host:port/INBOX */
	struct dkimv_lib *dkim;
	unsigned long seen[IMAP_SEEN_MAX]; /* UIDs already judged */
	size_t n_seen;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (buf_append(b, p, size * n) != 0) {
		return 0; /* over the cap: abort the transfer */
	}
	return size * n;
}

/* Without a write callback libcurl copies what the server sends to stdout
 * (the untagged FETCH that answers a STORE): every handle gets one. */
static size_t
on_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static const char *
mail_user(const struct flow *f)
{
	return f->set->cli->login != NULL ? f->set->cli->login
					  : f->set->cli->emails[0];
}

/* A handle with the IMAP/SMTP credentials and TLS settings. */
static CURL *
handle(const struct flow *f, const char *url, bool smtp, struct buf *out)
{
	const struct cli *c = f->set->cli;
	const char *user = mail_user(f), *pw = c->password;
	CURL *h = curl_easy_init();

	if (h == NULL) {
		return NULL;
	}
	if (smtp) {
		if (c->smtp_login != NULL) {
			user = c->smtp_login;
		}
		if (c->smtp_password != NULL) {
			pw = c->smtp_password;
		}
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERNAME, user);
	if (c->oauth2_token != NULL) {
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, c->oauth2_token);
		curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, "AUTH=XOAUTH2");
	} else if (pw != NULL) {
		curl_easy_setopt(h, CURLOPT_PASSWORD, pw);
	}
	if (c->mail_ca_bundle != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->mail_ca_bundle);
	}
	if (c->no_verify_ssl || c->mail_no_verify_ssl) {
		/* as the seed: --no-verify-ssl covers IMAP and SMTP too */
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (smtp &&
	    (c->smtp_method == SMTP_STARTTLS || c->smtp_method == SMTP_AUTO)) {
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    h, CURLOPT_WRITEFUNCTION, out != NULL ? on_data : on_discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (f->set->cli->verbose >= 3) {
		curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	}
	return h;
}

/* One IMAP request on the INBOX URL; custom == NULL fetches url. */
static int
imap_do(struct responder_job *j, const char *url, const char *custom,
    struct buf *out)
{
	char err[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	CURL *h = handle(j->f, url, false, out);

	if (h == NULL) {
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	if (custom != NULL) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, custom);
	}
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		log_err("%s: IMAP %s: %s%s%s", j->addr,
		    custom ? custom : "FETCH", curl_easy_strerror(rc),
		    err[0] ? ": " : "", err);
		return -1;
	}
	return 0;
}

static bool
seen_before(struct imap_state *st, unsigned long uid)
{
	size_t i;

	for (i = 0; i < st->n_seen; i++) {
		if (st->seen[i] == uid) {
			return true;
		}
	}
	if (st->n_seen < IMAP_SEEN_MAX) {
		st->seen[st->n_seen++] = uid;
	}
	return false;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t
on_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t left = u->len - u->off, k = size * n;

	if (k > left) {
		k = left;
	}
	memcpy(p, u->data + u->off, k);
	u->off += k;
	return k;
}

static int
smtp_send(struct responder_job *j, const char *to, const struct buf *mail)
{
	const struct cli *c = j->f->set->cli;
	struct curl_slist *rcpt = NULL;
	char url[512], err[CURL_ERROR_SIZE] = "";
	struct upload u = { mail->data, mail->len, 0 };
	const char *scheme = c->smtp_method == SMTP_SSL ? "smtps" : "smtp";
	int port = c->smtp_port;
	CURLcode rc;
	CURL *h;

	if (port == 0) {
		port = c->smtp_method == SMTP_SSL  ? 465
		    : c->smtp_method == SMTP_PLAIN ? 25
						   : 587;
	}
	snprintf(url, sizeof(url), "%s://%s:%d", scheme,
	    c->smtp_host != NULL ? c->smtp_host : c->host, port);
	h = handle(j->f, url, true, NULL);
	if (h == NULL) {
		return -1;
	}
	rcpt = curl_slist_append(NULL, to);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, j->addr);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	if (c->password == NULL && c->smtp_password == NULL &&
	    c->oauth2_token == NULL) {
		curl_easy_setopt(h, CURLOPT_USERNAME, NULL);
	}
	rc = curl_easy_perform(h);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		log_err("%s: SMTP %s: %s%s%s", j->addr, url,
		    curl_easy_strerror(rc), err[0] ? ": " : "", err);
		return -1;
	}
	return 0;
}

/* Quote s for an IMAP SEARCH string (no quotes or backslashes in it). */
static bool
imap_safe(const char *s)
{
	return strpbrk(s, "\"\\\r\n") == NULL;
}

/* Judge and answer one message; 1 answered, 0 not a valid challenge,
 * -1 failure. */
static int
handle_uid(struct responder_job *j, struct imap_state *st, unsigned long uid)
{
	char url[600], cmd[128];
	char to[CHALLENGE_ADDR_MAX + 1];
	const char *why = NULL;
	struct challenge_mail m;
	struct buf msg, reply;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	buf_init(&msg, IMAP_MAIL_MAX);
	buf_init(&reply, 0);
	snprintf(url, sizeof(url), "%s/;UID=%lu", st->url, uid);
	if (imap_do(j, url, NULL, &msg) != 0 || msg.data == NULL) {
		goto out;
	}
	if (resp_mail_judge(j, msg.data, msg.len, &m, &why) != 0) {
		log_warn("%s: mail UID %lu ignored: %s", j->addr, uid, why);
		rc = 0;
		goto out;
	}
	if (resp_mail_dkim(st->dkim, msg.data, msg.len,
		challenge_addr_domain(j->from), &why) != 0) {
		log_warn("%s: mail UID %lu ignored: %s", j->addr, uid, why);
		rc = 0;
		goto out;
	}
	if (resp_mail_compose(j, &m, to, sizeof(to), &reply) != 0) {
		flow_fail(j->f, EX_SOFTWARE);
		goto out;
	}
	flow_say(j->f, "%s: challenge found (UID %lu); replying to %s", j->addr,
	    uid, to);
	if (smtp_send(j, to, &reply) != 0) {
		/* ours, not the CA's: 75, the stored order kept to resume */
		flow_fail_kind(j->f, "mail");
		goto out;
	}
	snprintf(
	    cmd, sizeof(cmd), "UID STORE %lu +FLAGS (\\Seen \\Deleted)", uid);
	(void)imap_do(j, st->url, cmd, NULL);
	rc = 1;
out:
	explicit_bzero(&m, sizeof(m));
	buf_free(&msg);
	buf_free(&reply);
	return rc;
}

static int
im_prepare(struct responder_job *j)
{
	const struct cli *c = j->f->set->cli;
	struct imap_state *st = calloc(1, sizeof(*st));
	int port = c->port ? c->port : (c->ssl ? 993 : 143);

	if (st == NULL) {
		return flow_fail(j->f, EX_OSERR);
	}
	j->priv = st;
	snprintf(st->url, sizeof(st->url), "%s://%s:%d/INBOX",
	    c->ssl ? "imaps" : "imap", c->host, port);
	st->dkim = dkimv_lib_open(c->dkim_keys);
	if (st->dkim == NULL) {
		return flow_fail(j->f, EX_SOFTWARE);
	}
	return 0;
}

static int
im_arm(struct responder_job *j)
{
	(void)j;
	return 0;
}

static int
im_wait(struct responder_job *j)
{
	struct imap_state *st = j->priv;
	struct flow *f = j->f;
	char cmd[1024];
	struct buf out;
	time_t start = time(NULL);
	char *line, *tok, *save = NULL, *save2 = NULL;
	unsigned long uid;
	bool unseen = true;
	int r, rc = -1;

	buf_init(&out, 1024 * 1024);
	if (!imap_safe(j->from) || !imap_safe(j->addr)) {
		log_err("%s: address not usable in an IMAP search", j->addr);
		return flow_fail(f, EX_DATAERR);
	}
	flow_say(f, "waiting for the challenge mail from %s in %s", j->from,
	    st->url);
	for (;;) {
		/* unseen first (issue #73 of the seed), then every mail */
		snprintf(cmd, sizeof(cmd),
		    "UID SEARCH %sFROM \"%s\" TO \"%s\" SUBJECT \"ACME:\"",
		    unseen ? "UNSEEN " : "", j->from, j->addr);
		buf_reset(&out);
		if (imap_do(j, st->url, cmd, &out) != 0) {
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
		r = 0;
		for (line = strtok_r(out.data, "\r\n", &save);
		     line != NULL && r == 0;
		     line = strtok_r(NULL, "\r\n", &save)) {
			if (strncmp(line, "* SEARCH", 8) != 0) {
				continue;
			}
			for (tok = strtok_r(line + 8, " ", &save2);
			     tok != NULL && r == 0;
			     tok = strtok_r(NULL, " ", &save2)) {
				uid = strtoul(tok, NULL, 10);
				if (uid == 0 || seen_before(st, uid)) {
					continue;
				}
				r = handle_uid(j, st, uid);
			}
		}
		if (r == 1) {
			rc = 0;
			break;
		}
		if (r < 0) {
			break;
		}
		unseen = false;
		if (time(NULL) - start >= f->set->timeout) {
			log_err("%s: no valid challenge mail within %d s",
			    j->addr, f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
		if (!flow_sleep_ms(IMAP_POLL_MS)) {
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
	}
	buf_free(&out);
	return rc;
}

static void
im_finish(struct responder_job *j, bool ok)
{
	struct imap_state *st = j->priv;

	(void)ok;
	if (st != NULL) {
		dkimv_lib_close(st->dkim);
		free(st);
		j->priv = NULL;
	}
}

const struct responder_ops responder_imap_ops = {
	.name = "imap",
	.prepare = im_prepare,
	.arm = im_arm,
	.wait = im_wait,
	.finish = im_finish,
};
