/*
 * responder_spool: answer through smime-acme-milter.  The contract is
 * common/spool.h: an incomplete entry per address before the order and
 * its authorizations exist (CAs mail as soon as they do), the complete
 * entry (token-part2, from, URLs) once the challenge is known, then wait
 * for the milter to mark it answered before POSTing the challenge.  If no
 * mail arrives within SpoolPostAfter seconds, POST anyway (CAs that mail
 * on POST) and keep waiting up to SpoolTimeout.  The entry is removed at
 * the end, whatever happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acme/proto/order.h"
#include "acme/app/responder.h"
#include "common/log.h"
#include "common/spool.h"

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

static void
fill(struct responder_job *j, struct spool_entry *e, enum spool_state st)
{
	time_t now = time(NULL);

	memset(e, 0, sizeof(*e));
	copy(e->mailbox, sizeof(e->mailbox), j->addr);
	copy(e->from, sizeof(e->from), j->from);
	copy(e->token2, sizeof(e->token2),
	    st == SPOOL_AWAITING ? j->token2 : "");
	copy(e->thumbprint, sizeof(e->thumbprint), j->f->ses->thumbprint);
	e->rule = j->f->set->rule;
	e->state = st;
	/* the first write, before the order exists: a challenge is never
	 * dated much earlier (doc/protocol.md §2, check 8a) */
	if (j->created == 0) {
		j->created = now;
	}
	e->created = j->created;
	e->expires = now + j->f->set->timeout;
	if (j->expires != 0 && j->expires < e->expires) {
		e->expires = j->expires;
	}
	copy(e->order_url, sizeof(e->order_url), j->order_url);
	copy(e->authz_url, sizeof(e->authz_url), j->authz_url);
	copy(e->challenge_url, sizeof(e->challenge_url), j->challenge_url);
}

/* Write j's entry in state st to sp; the copy is wiped.  0 / -1 (the
 * exit code recorded in the flow). */
static int
sp_put(struct responder_job *j, struct spool *sp, enum spool_state st)
{
	struct spool_entry e;
	int rc;

	fill(j, &e, st);
	rc = spool_write(sp, &e);
	explicit_bzero(&e, sizeof(e));
	if (rc != 0) {
		return flow_fail(j->f, EX_CANTCREAT);
	}
	return 0;
}

static int
sp_prepare(struct responder_job *j)
{
	struct spool *sp;

	sp = flow_spool_open(j->f->set, true);
	if (sp == NULL) {
		/* a database that cannot be reached: try again later */
		return flow_fail(j->f,
		    j->f->set->spool_db != NULL ? EX_TEMPFAIL : EX_CANTCREAT);
	}
	j->priv = sp;
	return sp_put(j, sp, SPOOL_INCOMPLETE);
}

/* The order URL is known now: the incomplete entry gets it too. */
static int
sp_ordered(struct responder_job *j)
{
	return sp_put(j, j->priv, SPOOL_INCOMPLETE);
}

static int
sp_arm(struct responder_job *j)
{
	return sp_put(j, j->priv, SPOOL_AWAITING);
}

static int
sp_wait(struct responder_job *j)
{
	struct flow *f = j->f;
	struct spool_entry e;
	struct acme_authz az;
	time_t start = time(NULL), now, said = start, polled = 0, refused;
	char why[256];
	bool told_down = false;
	int r, rc = -1;

	flow_say(f,
	    "waiting for the challenge mail from %s to %s (smime-acme-milter answers it; spool %s)",
	    j->from, j->addr, f->set->spool_dir);
	for (;;) {
		r = spool_lookup(j->priv, j->addr, &e);
		if (r < 0 && spool_unavailable(j->priv)) {
			/* the database spool is down: the milters tempfail
			 * the challenge meanwhile; wait for it (or time out:
			 * the same command resumes the order) */
			if (!told_down) {
				flow_say(f,
				    "%s: the spool database is unreachable; still waiting (the milters tempfail the challenge meanwhile)",
				    j->addr);
				told_down = true;
			}
		} else if (r < 0) {
			flow_fail(f, EX_IOERR);
			break;
		} else if (told_down) {
			flow_say(f, "%s: the spool database is back", j->addr);
			told_down = false;
		}
		if (r == 0 && e.state == SPOOL_ANSWERED) {
			flow_say(
			    f, "%s: the milter has sent the reply", j->addr);
			rc = 0;
			break;
		}
		if (r == 0 && e.state == SPOOL_FAILED) {
			log_err("%s: the milter could not answer: %s", j->addr,
			    e.reason[0] ? e.reason : "no reason given");
			flow_fail(f, EX_UNAVAILABLE);
			break;
		}
		/* a challenge mail the milter refused for this request: say
		 * why at once instead of waiting out the timeout */
		if (spool_refusal(
			j->priv, j->addr, &refused, why, sizeof(why)) == 0 &&
		    refused >= (r == 0 ? e.created : start)) {
			log_err("%s: smime-acme-milter refused the challenge "
				"mail: %s",
			    j->addr, why);
			log_err("%s: fix what it names (its log has the "
				"details), then run the same command again: "
				"it resumes the order",
			    j->addr);
			flow_fail(f, EX_UNAVAILABLE);
			break;
		}
		if (r == 1) {
			/* claimed by the milter (work/) or removed: the
			 * milter is busy with it; keep waiting */
			log_debug("%s: entry claimed", j->addr);
		}
		now = time(NULL);
		if (!j->posted && now - start >= f->set->post_after) {
			flow_say(f,
			    "%s: no challenge mail after %d s; asking the CA to proceed (some CAs send the mail only now)",
			    j->addr, f->set->post_after);
			if (responder_post(j) != 0) {
				break;
			}
			polled = now;
		}
		if (j->posted && now - polled >= 3) {
			/* after the POST the CA may decide on its own */
			polled = now;
			memset(&az, 0, sizeof(az));
			if (order_authz_fetch(f->ses->ac, j->authz_url, &az) ==
				0 &&
			    az.status != ACME_ST_PENDING) {
				json_authz_free(&az);
				rc = 0;
				break;
			}
			json_authz_free(&az);
		}
		if (now - start >= f->set->timeout) {
			log_err("%s: no challenge mail answered within %d s",
			    j->addr, f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
		if (now - said >= FLOW_PROGRESS_S) {
			said = now;
			flow_say(f,
			    "%s: still waiting for the challenge mail (%ld s)",
			    j->addr, (long)(now - start));
		}
		/* the database spool returns at once on a NOTIFY of this
		 * entry (LISTEN); the directory spool is polled.  A signal
		 * ends the wait early; only a stop request ends the loop. */
		if (f->set->spool_db != NULL) {
			(void)spool_wait(
			    j->priv, j->addr, FLOW_SPOOL_LISTEN_MS);
		}
		if (!flow_sleep_ms(
			f->set->spool_db != NULL ? 0 : FLOW_SPOOL_POLL_MS)) {
			log_err("%s: interrupted", j->addr);
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
	}
	explicit_bzero(&e, sizeof(e));
	return rc;
}

static void
sp_finish(struct responder_job *j, bool ok)
{
	(void)ok;
	if (j->priv != NULL) {
		(void)spool_remove(j->priv, j->addr);
		spool_close(j->priv);
		j->priv = NULL;
	}
}

const struct responder_ops responder_spool_ops = {
	.name = "spool",
	.prepare = sp_prepare,
	.ordered = sp_ordered,
	.arm = sp_arm,
	.wait = sp_wait,
	.finish = sp_finish,
};
