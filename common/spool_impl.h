/*
 * spool_impl: what the spool dispatcher (spool.c) shares with its two
 * backends, the directory (spool_file.c) and PostgreSQL (spool_pg.c).
 * Nothing outside common/spool*.c includes this; the contract is spool.h.
 */
#ifndef COMMON_SPOOL_IMPL_H
#define COMMON_SPOOL_IMPL_H

#include <pthread.h>
#include <time.h>

#include "common/spool.h"

struct spool_pg; /* spool_pg.c */

struct spool {
	char *dir;           /* file backend: the directory */
	struct spool_pg *pg; /* PostgreSQL backend, or NULL */
	int claim_timeout;   /* seconds: an older claim may be taken over */
	/* file backend: the last scan of entries/ and work/ and the mtimes
	 * it saw (spool_file_is_empty) */
	pthread_mutex_t empty_mu;
	bool empty_known; /* a scan is remembered */
	bool empty_was;   /* what it found */
	struct timespec empty_mtime[2];
};

struct spool *spool_file_open(
    const char *dir, bool create, long check_uid, gid_t gid);
void spool_file_close(struct spool *sp);
int spool_file_lookup(
    struct spool *sp, const char *addr, struct spool_entry *e);
bool spool_file_claimed(struct spool *sp, const char *addr);
bool spool_file_has(struct spool *sp, const char *addr);
bool spool_file_is_empty(struct spool *sp);
int spool_file_write(struct spool *sp, const struct spool_entry *e);
int spool_file_remove(struct spool *sp, const char *addr);
int spool_file_claim(struct spool *sp, const char *addr, struct spool_entry *e);
int spool_file_release(struct spool *sp, const char *addr);
int spool_file_complete(struct spool *sp, const struct spool_entry *e);
int spool_file_note_refusal(
    struct spool *sp, const char *addr, const char *why);
int spool_file_refusal(
    struct spool *sp, const char *addr, time_t *when, char *why, size_t whylen);
int spool_file_foreach(struct spool *sp,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg);

struct spool_pg *spool_pg_open(const char *conninfo, unsigned flags);
int spool_pg_start(struct spool_pg *pg);
void spool_pg_close(struct spool_pg *pg);
int spool_pg_lookup(
    struct spool_pg *pg, const char *addr, struct spool_entry *e);
bool spool_pg_has(struct spool_pg *pg, const char *addr);
bool spool_pg_is_empty(struct spool_pg *pg);
int spool_pg_write(struct spool_pg *pg, const struct spool_entry *e);
int spool_pg_remove(struct spool_pg *pg, const char *addr);
int spool_pg_claim(
    struct spool_pg *pg, const char *addr, int timeout, struct spool_entry *e);
int spool_pg_release(struct spool_pg *pg, const char *addr);
int spool_pg_complete(struct spool_pg *pg, const struct spool_entry *e);
int spool_pg_note_refusal(
    struct spool_pg *pg, const char *addr, const char *why);
int spool_pg_refusal(struct spool_pg *pg, const char *addr, time_t *when,
    char *why, size_t whylen);
int spool_pg_foreach(struct spool_pg *pg,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg);
bool spool_pg_unavailable(struct spool_pg *pg);
int spool_pg_wait(struct spool_pg *pg, const char *addr, int ms);

#endif
