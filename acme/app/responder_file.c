/*
 * responder_file: the file hand-offs for automation (--file-validate),
 * documented in smime-acme(1).  Two protocols run side by side; the
 * automation uses either.
 *
 * The seed client's (certbot_castle/plugins/file.py), in CONFIG/tmp:
 *
 *   resp_ADDR_subject.txt  created empty by us; the automation writes the
 *                          challenge mail's Subject into it ("ACME: ..."
 *                          or the token alone)
 *   resp_ADDR_body.txt     created empty by us; we write the response
 *                          block into it, then POST the challenge; the
 *                          automation replies to the challenge mail with
 *                          it at the top of the body
 *
 * Both are left in place, as the seed leaves them; the next run for ADDR
 * empties them again.
 *
 * Ours, in WORK (the -w directory), which adds the judgement of a whole
 * challenge mail and a reply ready for "sendmail -t":
 *
 *   ADDR.request    written by us: To, From (the CA's sender), Expires
 *   ADDR.challenge  written by the automation: the challenge mail (whole
 *                   message, checked like the milter minus DKIM) or only
 *                   its Subject line (then the reply goes to the CA's
 *                   "from"; refused if the CA gave none)
 *   ADDR.response   written by us: the complete reply mail, ready for
 *                   "sendmail -t" (From, To, Subject "Re: ACME: ...",
 *                   In-Reply-To, the BEGIN/END ACME RESPONSE block)
 *
 * We POST the challenge once the automation has removed ADDR.response
 * (sent) or created ADDR.sent.  All four files are removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/responder.h"
#include "acme/app/responder_mail.h"
#include "acme/app/store.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mailhdr.h"

static char *
work_file(const struct responder_job *j, const char *ext)
{
	char name[CHALLENGE_ADDR_MAX + 32];

	snprintf(name, sizeof(name), "%s.%s", j->addr, ext);
	return store_path(j->f->set->work_dir, name);
}

/* The seed's CONFIG/tmp/resp_ADDR_WHAT.txt */
static char *
seed_file(const struct responder_job *j, const char *what)
{
	char name[CHALLENGE_ADDR_MAX + 32];
	char *dir = store_path(j->f->set->config_dir, "tmp"), *p;

	snprintf(name, sizeof(name), "resp_%s_%s.txt", j->addr, what);
	p = dir != NULL ? store_path(dir, name) : NULL;
	free(dir);
	return p;
}

static int
fl_prepare(struct responder_job *j)
{
	char *tmp = store_path(j->f->set->config_dir, "tmp");
	int rc = -1;

	if (strchr(j->addr, '/') != NULL) {
		log_err("%s: an address with '/' cannot name a hand-off file; "
			"use another responder",
		    j->addr);
		rc = flow_fail(j->f, EX_USAGE);
		goto out;
	}
	if (tmp == NULL) {
		rc = flow_fail(j->f, EX_OSERR);
		goto out;
	}
	if (fs_mkdirs(j->f->set->work_dir, 0700) != 0) {
		log_err_errno("%s: cannot create", j->f->set->work_dir);
		rc = flow_fail(j->f, EX_CANTCREAT);
		goto out;
	}
	if (fs_mkdirs(tmp, 0700) != 0) {
		log_err_errno("%s: cannot create", tmp);
		rc = flow_fail(j->f, EX_CANTCREAT);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

/* Create or empty one of the seed's files (ours: no link followed). */
static int
seed_empty(const char *path)
{
	int fd = open(path,
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
	    0600);

	if (fd < 0) {
		log_err_errno("%s: cannot create", path);
		return -1;
	}
	(void)close(fd);
	return 0;
}

static int
fl_arm(struct responder_job *j)
{
	char *p = work_file(j, "request");
	char *subj = seed_file(j, "subject"), *body = seed_file(j, "body");
	struct buf b;
	int rc = -1;

	buf_init(&b, 0);
	if (p == NULL ||
	    buf_printf(&b, "To: %s\nFrom: %s\nExpires: %ld\n", j->addr, j->from,
		(long)j->expires) != 0) {
		flow_fail(j->f, EX_OSERR);
		goto out;
	}
	if (fs_write_atomic(p, b.data, b.len, 0644) != 0) {
		flow_fail(j->f, EX_CANTCREAT);
		goto out;
	}
	if (subj == NULL || body == NULL) {
		flow_fail(j->f, EX_OSERR);
		goto out;
	}
	/* the body first: an automation that sees the empty Subject file
	 * finds an empty body file, never the last run's */
	if (seed_empty(body) != 0 || seed_empty(subj) != 0) {
		flow_fail(j->f, EX_CANTCREAT);
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	free(body);
	free(subj);
	free(p);
	return rc;
}

/* Is text a whole mail (a header block with a From) rather than a
 * Subject line? */
static bool
is_whole_mail(const char *text, size_t len)
{
	struct mailhdrs *hs = malloc(sizeof(*hs));
	size_t body;
	bool yes;

	if (hs == NULL) {
		return true; /* judged, and refused, as a mail */
	}
	mailhdrs_init(hs);
	(void)mailhdrs_split(
	    hs, text, len, MAILHDR_FIELD_MAX, MAILHDR_TOTAL_MAX, &body);
	yes = mailhdrs_get(hs, "From", NULL) != NULL;
	mailhdrs_free(hs);
	free(hs);
	return yes;
}

/*
 * The challenge from the challenge file: a whole mail, judged like the
 * milter judges it (minus DKIM), or only its Subject line, vouched for by
 * the automation; then the reply goes to the CA's "from", and without one
 * there is nobody to address it to.
 */
static int
read_challenge(struct responder_job *j, const char *text, size_t len,
    struct challenge_mail *m)
{
	const char *why = NULL, *s = text;

	memset(m, 0, sizeof(*m));
	if (is_whole_mail(text, len)) {
		if (resp_mail_judge(j, text, len, m, &why) != 0) {
			log_err(
			    "%s: the challenge file is not a valid challenge mail: %s",
			    j->addr, why);
			return -1;
		}
		return 0;
	}
	if (responder_parse_subject(s, m->token1, sizeof(m->token1), &why) !=
	    0) {
		log_err("%s: the challenge file holds no challenge Subject: %s",
		    j->addr, why);
		return -1;
	}
	if (j->from[0] == '\0') {
		log_err("%s: the CA gave no challenge sender (\"from\"): "
			"nobody to address the response to; put the whole "
			"challenge mail in the challenge file",
		    j->addr);
		return -1;
	}
	snprintf(m->from, sizeof(m->from), "%s", j->from);
	return 0;
}

/*
 * The seed's hand-off: the Subject file has held the same text for one
 * poll (so a half-written Subject is not taken); write the response block
 * to the body file, as the seed's file.py does (a leading empty line,
 * then the block), and let the flow POST the challenge.
 */
static int
seed_answer(struct responder_job *j, const char *text, const char *body)
{
	char part1[CHALLENGE_TOKEN_MAX + 1];
	char digest[CHALLENGE_DIGEST_LEN + 1];
	const char *why = NULL;
	struct buf block;
	int rc = -1;

	buf_init(&block, 0);
	if (responder_parse_subject(text, part1, sizeof(part1), &why) != 0) {
		log_err("%s: the Subject file holds no challenge Subject: %s",
		    j->addr, why != NULL ? why : "malformed");
		flow_fail(j->f, EX_DATAERR);
		goto out;
	}
	if (responder_digest(j, part1, digest) != 0) {
		goto out;
	}
	if (buf_puts(&block, "\n") != 0 ||
	    responder_block(digest, &block) != 0) {
		flow_fail(j->f, EX_OSERR);
		goto out;
	}
	if (fs_write_atomic(body, block.data, block.len, 0600) != 0) {
		flow_fail(j->f, EX_CANTCREAT);
		goto out;
	}
	flow_say(j->f,
	    "wrote %s: reply to the challenge mail (to %s) with it at the top of the body",
	    body, j->from);
	rc = 0;
out:
	explicit_bzero(digest, sizeof(digest));
	explicit_bzero(part1, sizeof(part1));
	buf_free_secret(&block);
	return rc;
}

/* Ours: the challenge file is there; write ADDR.response and wait until
 * it has been sent. */
static int
own_answer(struct responder_job *j, const char *text, size_t len, time_t start)
{
	struct flow *f = j->f;
	char *resp = work_file(j, "response"), *sent = work_file(j, "sent");
	char to[CHALLENGE_ADDR_MAX + 1];
	struct challenge_mail m;
	struct buf mail;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	buf_init(&mail, 0);
	if (resp == NULL || sent == NULL) {
		flow_fail(f, EX_OSERR);
		goto out;
	}
	if (read_challenge(j, text, len, &m) != 0) {
		flow_fail(f, EX_DATAERR);
		goto out;
	}
	if (resp_mail_compose(j, &m, to, sizeof(to), &mail) != 0) {
		flow_fail(f, EX_SOFTWARE);
		goto out;
	}
	if (fs_write_atomic(resp, mail.data, mail.len, 0600) != 0) {
		flow_fail(f, EX_CANTCREAT);
		goto out;
	}
	flow_say(
	    f, "wrote %s; send it, then remove it (or create %s)", resp, sent);
	while (fs_exists(resp) && !fs_exists(sent)) {
		if (time(NULL) - start >= f->set->timeout) {
			log_err("%s: the response was not sent within %d s",
			    j->addr, f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
		if (!flow_sleep_ms(FLOW_SPOOL_POLL_MS)) {
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
	}
	rc = 0;
out:
	explicit_bzero(&m, sizeof(m));
	buf_free(&mail);
	free(sent);
	free(resp);
	return rc;
}

static int
fl_wait(struct responder_job *j)
{
	struct flow *f = j->f;
	char *chal = work_file(j, "challenge");
	char *subj = seed_file(j, "subject"), *body = seed_file(j, "body");
	char *text = NULL, *seen = NULL;
	size_t len;
	time_t start = time(NULL);
	int rc = -1;

	if (chal == NULL || subj == NULL || body == NULL) {
		flow_fail(f, EX_OSERR);
		goto out;
	}
	flow_say(f,
	    "waiting for the challenge mail to %s from %s: its Subject in %s, or the mail in %s",
	    j->addr, j->from, subj, chal);
	for (;;) {
		text = fs_read_file(chal, 1024 * 1024, &len);
		if (text != NULL) {
			rc = own_answer(j, text, len, start);
			goto out;
		}
		if (errno != ENOENT) {
			log_err_errno("%s", chal);
			flow_fail(f, EX_NOINPUT);
			goto out;
		}
		text = fs_read_file(subj, 64 * 1024, &len);
		if (text == NULL && errno != ENOENT) {
			log_err_errno("%s", subj);
			flow_fail(f, EX_NOINPUT);
			goto out;
		}
		if (text != NULL && len > 0 && seen != NULL &&
		    strcmp(text, seen) == 0) {
			rc = seed_answer(j, text, body);
			goto out;
		}
		free(seen);
		seen = text != NULL && len > 0 ? text : NULL;
		if (seen == NULL) {
			free(text);
		}
		text = NULL;
		if (time(NULL) - start >= f->set->timeout) {
			log_err(
			    "%s: no challenge Subject in %s (nor a challenge file) within %d s",
			    j->addr, subj, f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
		if (!flow_sleep_ms(FLOW_SPOOL_POLL_MS)) {
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
	}
out:
	free(seen);
	free(text);
	free(body);
	free(subj);
	free(chal);
	return rc;
}

static void
fl_finish(struct responder_job *j, bool ok)
{
	static const char *const ext[] = { "request", "challenge", "response",
		"sent" };
	size_t i;
	char *p;

	(void)ok;
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		p = work_file(j, ext[i]);
		if (p != NULL) {
			(void)unlink(p);
		}
		free(p);
	}
}

const struct responder_ops responder_file_ops = {
	.name = "file",
	.prepare = fl_prepare,
	.arm = fl_arm,
	.wait = fl_wait,
	.finish = fl_finish,
};
