/*
 * responder_tty: the seed's interactive responder.  Tells the user which
 * mail to expect, reads the pasted Subject line ("ACME: ...") or the token
 * alone, prints the reply block and where to send it, and lets the flow
 * POST the challenge once the user confirms with Enter that the reply has
 * been sent.  Standard input may also be a pipe (a script feeding the
 * Subject, as the seed allows): then there is nobody to confirm, and the
 * challenge is POSTed at once, as the seed does.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "acme/app/responder.h"
#include "common/log.h"

#define TTY_TRIES 5

static int
tty_prepare(struct responder_job *j)
{
	(void)j;
	return 0;
}

static int
tty_arm(struct responder_job *j)
{
	(void)j;
	return 0;
}

static int
tty_wait(struct responder_job *j)
{
	char line[2048], part1[CHALLENGE_TOKEN_MAX + 1];
	char digest[CHALLENGE_DIGEST_LEN + 1];
	const char *why = NULL;
	struct buf block;
	int tries, rc = -1;

	buf_init(&block, 0);
	fprintf(stderr,
	    "\nThe CA is sending a mail to %s from %s with a Subject like\n"
	    "  ACME: <a long token>\n"
	    "Copy the whole Subject (including \"ACME:\") or only the token here\n"
	    "and press Enter.\n",
	    j->addr, j->from);
	for (tries = 0; tries < TTY_TRIES; tries++) {
		fprintf(stderr, "Subject: ");
		fflush(stderr);
		if (fgets(line, sizeof(line), stdin) == NULL) {
			log_err("%s: no Subject given (end of input)", j->addr);
			flow_fail(j->f, EX_NOINPUT);
			goto out;
		}
		if (responder_parse_subject(line, part1, sizeof(part1), &why) ==
		    0) {
			break;
		}
		fprintf(stderr,
		    "That is not a challenge Subject (%s); try again.\n",
		    why != NULL ? why : "malformed");
	}
	if (tries == TTY_TRIES) {
		log_err("%s: no valid challenge Subject after %d tries",
		    j->addr, TTY_TRIES);
		flow_fail(j->f, EX_DATAERR);
		goto out;
	}
	if (responder_digest(j, part1, digest) != 0 ||
	    responder_block(digest, &block) != 0) {
		goto out;
	}
	fprintf(stderr,
	    "\nReply to that mail (to %s, keeping the Subject \"Re: ACME: ...\")\n"
	    "with this block at the top of the body, as plain text:\n\n",
	    j->from);
	fflush(stderr);
	/* on stdout, so it can be captured; on stderr when stdout is
	 * not the terminal (or carries --json) */
	if (!j->f->set->cli->json) {
		fputs(block.data, stdout);
		fflush(stdout);
	}
	if (j->f->set->cli->json || !isatty(STDOUT_FILENO)) {
		fputs(block.data, stderr);
	}
	if (!isatty(STDIN_FILENO)) {
		/* fed by a script: nobody to confirm; the CA checks the
		 * reply whenever it arrives */
		fflush(stdout);
		rc = 0;
		goto out;
	}
	fprintf(stderr,
	    "\nPress Enter once the reply has been sent (the CA checks it then).\n");
	if (fgets(line, sizeof(line), stdin) == NULL) {
		log_err("%s: not confirmed (end of input)", j->addr);
		flow_fail(j->f, EX_NOINPUT);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(digest, sizeof(digest));
	buf_free_secret(&block);
	return rc;
}

static void
tty_finish(struct responder_job *j, bool ok)
{
	(void)j;
	(void)ok;
}

const struct responder_ops responder_tty_ops = {
	.name = "interactive",
	.prepare = tty_prepare,
	.arm = tty_arm,
	.wait = tty_wait,
	.finish = tty_finish,
};
