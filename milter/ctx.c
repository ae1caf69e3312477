/*
 * ctx: lifecycle of the per-connection context (see ctx.h).  Everything a
 * message holds is owned here and released by ctx_reset_msg(), which
 * ctx_free() calls; callbacks.c never frees message state itself.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "milter/ctx.h"

struct mctx *
ctx_new(const struct milter_app *app)
{
	struct mctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_err_errno("NOQUEUE: connect: context");
		return NULL;
	}
	c->app = app;
	buf_init(&c->body, 0);
	ctx_set_qid(c, NULL);
	return c;
}

void
ctx_reset_msg(struct mctx *c)
{
	mailhdrs_free(&c->hdr);
	c->hdr_problem = NULL;
	c->n_rcpt = 0;
	c->n_rcpt_over = 0;
	c->rcpt_over[0] = '\0';
	c->candidate = false;
	c->late_acme = false;
	c->body_bytes = 0;
	c->smime = false;
	buf_free(&c->body);
	buf_init(&c->body, 0);
	ctx_set_qid(c, NULL);
}

void
ctx_free(struct mctx *c)
{
	if (c == NULL) {
		return;
	}
	ctx_reset_msg(c);
	free(c);
}

void
ctx_set_qid(struct mctx *c, const char *qid)
{
	size_t i;

	if (qid == NULL || *qid == '\0') {
		qid = "NOQUEUE";
	}
	snprintf(c->qid, sizeof(c->qid), "%s", qid);
	/* the value ends up in log lines: keep it printable */
	for (i = 0; c->qid[i] != '\0'; i++) {
		if (!mailhdr_vchar(c->qid[i])) {
			c->qid[i] = '?';
		}
	}
}

int
ctx_add_rcpt(struct mctx *c, const char *addr)
{
	size_t i, len = strlen(addr);

	if (len > CHALLENGE_ADDR_MAX) {
		return -1;
	}
	for (i = 0; i < c->n_rcpt; i++) {
		if (challenge_addr_equal(c->rcpt[i], addr)) {
			return 0;
		}
	}
	if (c->n_rcpt >= CTX_RCPT_MAX) {
		if (c->n_rcpt_over++ == 0) {
			memcpy(c->rcpt_over, addr, len + 1);
		}
		return -1;
	}
	memcpy(c->rcpt[c->n_rcpt], addr, len + 1);
	c->n_rcpt++;
	return 0;
}

int
ctx_add_header(struct mctx *c, const char *name, const char *value,
    size_t max_header, size_t max_total)
{
	if (c->hdr_problem != NULL) {
		return -1;
	}
	if (mailhdrs_add(&c->hdr, name, value, max_header, max_total) < 0) {
		c->hdr_problem = c->hdr.problem;
		return -1;
	}
	return 0;
}

bool
ctx_is_simulated(const char *hostname, const struct sockaddr *sa)
{
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;

	(void)hostname;
	if (sa == NULL) {
		return false;
	}
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return s4->sin_port == 0 &&
		    (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return s6->sin6_port == 0 &&
		    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return false;
}
