/*
 * responder_file: the file hand-off for automation (--file-validate),
 * documented in smime-acme(1).  In WORK (the -w directory), per address:
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

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

static int
fl_prepare(struct responder_job *j)
{
	if (fs_mkdirs(j->f->set->work_dir, 0700) != 0) {
		log_err_errno("%s: cannot create", j->f->set->work_dir);
		return flow_fail(j->f, EX_CANTCREAT);
	}
	return 0;
}

static int
fl_arm(struct responder_job *j)
{
	char *p = work_file(j, "request");
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
	rc = 0;
out:
	buf_free(&b);
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
	char line[2048];

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
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	if (strncasecmp(s, "Subject:", 8) == 0) {
		s += 8;
	}
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(s, "\r\n"), s);
	s = line;
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	if (challenge_parse_subject(s, m->token1, sizeof(m->token1), &why) !=
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

static int
fl_wait(struct responder_job *j)
{
	struct flow *f = j->f;
	char *chal = work_file(j, "challenge"),
	     *resp = work_file(j, "response");
	char *sent = work_file(j, "sent");
	char to[CHALLENGE_ADDR_MAX + 1];
	char *text = NULL;
	struct challenge_mail m;
	struct buf mail;
	size_t len;
	time_t start = time(NULL);
	int rc = -1;

	memset(&m, 0, sizeof(m));
	buf_init(&mail, 0);
	if (chal == NULL || resp == NULL || sent == NULL) {
		flow_fail(f, EX_OSERR);
		goto out;
	}
	flow_say(f, "waiting for %s (the challenge mail to %s from %s)", chal,
	    j->addr, j->from);
	while ((text = fs_read_file(chal, 1024 * 1024, &len)) == NULL) {
		if (errno != ENOENT) {
			log_err_errno("%s", chal);
			flow_fail(f, EX_NOINPUT);
			goto out;
		}
		if (time(NULL) - start >= f->set->timeout) {
			log_err("%s: no challenge file within %d s", j->addr,
			    f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
		if (!flow_sleep_ms(FLOW_SPOOL_POLL_MS)) {
			flow_fail(f, EX_TEMPFAIL);
			goto out;
		}
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
	free(text);
	free(sent);
	free(resp);
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
