/*
 * spool: the dispatcher of the request spool contract (spool.h) to its
 * two stores, the directory (spool_file.c) and PostgreSQL (spool_pg.c),
 * and what both share: state names and the key of an address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/spool_impl.h"

static const char *const state_names[SPOOL_STATE_MAX] = { "incomplete",
	"awaiting", "answered", "failed" };

const char *
spool_state_name(enum spool_state st)
{
	return st < SPOOL_STATE_MAX ? state_names[st] : "unknown";
}

enum spool_state
spool_state_parse(const char *s)
{
	int i;

	for (i = 0; i < SPOOL_STATE_MAX; i++) {
		if (strcmp(s, state_names[i]) == 0) {
			return (enum spool_state)i;
		}
	}
	return SPOOL_STATE_MAX;
}

int
spool_key(const char *addr, char out[65])
{
	char norm[CHALLENGE_ADDR_MAX + 1];
	const char *dom = challenge_addr_domain(addr);
	size_t i, len = strlen(addr);

	if (len > CHALLENGE_ADDR_MAX) {
		len = CHALLENGE_ADDR_MAX;
	}
	memcpy(norm, addr, len);
	norm[len] = '\0';
	/* local part as is, domain lower-cased (RFC 5321 §2.4) */
	if (dom != NULL && (size_t)(dom - addr) < len) {
		for (i = (size_t)(dom - addr); i < len; i++) {
			if (norm[i] >= 'A' && norm[i] <= 'Z') {
				norm[i] = (char)(norm[i] - 'A' + 'a');
			}
		}
	}
	return digest_sha256_hex(norm, len, out);
}

struct spool *
spool_open(const char *dir, bool create, long check_uid, gid_t gid)
{
	return spool_file_open(dir, create, check_uid, gid);
}

struct spool *
spool_open_db(const char *conninfo, unsigned flags)
{
	struct spool *sp;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		log_err("spool: out of memory");
		return NULL;
	}
	sp->pg = spool_pg_open(conninfo, flags);
	if (sp->pg == NULL) {
		free(sp);
		return NULL;
	}
	return sp;
}

int
spool_start(struct spool *sp)
{
	return sp->pg != NULL ? spool_pg_start(sp->pg) : 0;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL) {
		return;
	}
	if (sp->pg != NULL) {
		spool_pg_close(sp->pg);
		free(sp);
		return;
	}
	spool_file_close(sp);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->pg != NULL ? "PostgreSQL (SpoolDatabase)" : sp->dir;
}

void
spool_set_claim_timeout(struct spool *sp, int seconds)
{
	sp->claim_timeout = seconds;
}

bool
spool_unavailable(struct spool *sp)
{
	return sp->pg != NULL && spool_pg_unavailable(sp->pg);
}

int
spool_wait(struct spool *sp, const char *addr, int ms)
{
	struct timespec ts;

	if (sp->pg != NULL) {
		return spool_pg_wait(sp->pg, addr, ms);
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return nanosleep(&ts, NULL) < 0 && errno == EINTR ? -1 : 0;
}

int
spool_lookup(struct spool *sp, const char *addr, struct spool_entry *e)
{
	return sp->pg != NULL ? spool_pg_lookup(sp->pg, addr, e)
			      : spool_file_lookup(sp, addr, e);
}

bool
spool_claimed(struct spool *sp, const char *addr)
{
	return sp->pg == NULL && spool_file_claimed(sp, addr);
}

bool
spool_has(struct spool *sp, const char *addr)
{
	return sp->pg != NULL ? spool_pg_has(sp->pg, addr)
			      : spool_file_has(sp, addr);
}

bool
spool_is_empty(struct spool *sp)
{
	return sp->pg != NULL ? spool_pg_is_empty(sp->pg)
			      : spool_file_is_empty(sp);
}

int
spool_write(struct spool *sp, const struct spool_entry *e)
{
	return sp->pg != NULL ? spool_pg_write(sp->pg, e)
			      : spool_file_write(sp, e);
}

int
spool_remove(struct spool *sp, const char *addr)
{
	return sp->pg != NULL ? spool_pg_remove(sp->pg, addr)
			      : spool_file_remove(sp, addr);
}

int
spool_claim(struct spool *sp, const char *addr, struct spool_entry *e)
{
	return sp->pg != NULL
	    ? spool_pg_claim(sp->pg, addr, sp->claim_timeout, e)
	    : spool_file_claim(sp, addr, e);
}

int
spool_release(struct spool *sp, const char *addr)
{
	return sp->pg != NULL ? spool_pg_release(sp->pg, addr)
			      : spool_file_release(sp, addr);
}

int
spool_complete(struct spool *sp, const struct spool_entry *e)
{
	return sp->pg != NULL ? spool_pg_complete(sp->pg, e)
			      : spool_file_complete(sp, e);
}

int
spool_note_refusal(struct spool *sp, const char *addr, const char *why)
{
	return sp->pg != NULL ? spool_pg_note_refusal(sp->pg, addr, why)
			      : spool_file_note_refusal(sp, addr, why);
}

int
spool_refusal(
    struct spool *sp, const char *addr, time_t *when, char *why, size_t whylen)
{
	return sp->pg != NULL
	    ? spool_pg_refusal(sp->pg, addr, when, why, whylen)
	    : spool_file_refusal(sp, addr, when, why, whylen);
}

int
spool_foreach(struct spool *sp,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg)
{
	return sp->pg != NULL ? spool_pg_foreach(sp->pg, fn, arg)
			      : spool_file_foreach(sp, fn, arg);
}
