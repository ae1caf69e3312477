/*
 * spool: the contract between the requester (writes entries) and the
 * milter (reads, claims, marks them), with two stores behind it: a
 * directory (spool_file.c, the default) or a PostgreSQL database
 * (spool_pg.c, SpoolDatabase; doc/design.md, "The PostgreSQL spool").
 * The directory holds one file per pending address:
 *
 *   SPOOL/entries/<hex SHA-256 of the normalised address>
 *   SPOOL/work/      claimed entries while a reply is composed and sent
 *   SPOOL/tmp/       temporary files of atomic writes
 *
 * Lookup by address is one open(2), no directory scan.  Files are
 * "Key: value" lines after a first line "smime-acme-spool 1"; see
 * smime-acme.conf(5), FILES.  Writes are atomic (tmp + fsync + rename).
 * An entry never holds a key; token-part2 is the only secret and is never
 * logged.
 */
#ifndef COMMON_SPOOL_H
#define COMMON_SPOOL_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "common/challenge.h"

#define SPOOL_VERSION   1
#define SPOOL_ENTRY_MAX 8192 /* bytes; a larger file is refused */
#define SPOOL_URL_MAX   1024

enum spool_state {
	SPOOL_INCOMPLETE, /* written before the authorization was fetched */
	SPOOL_AWAITING,   /* complete: token-part2 known, waiting for mail */
	SPOOL_ANSWERED,   /* reply handed to the MTA */
	SPOOL_FAILED,     /* see reason */
	SPOOL_STATE_MAX
};

struct spool_entry {
	char mailbox[CHALLENGE_ADDR_MAX + 1];
	char from[CHALLENGE_ADDR_MAX +
	    1]; /* CA challenge sender; may be "" while incomplete */
	char token2[CHALLENGE_TOKEN_MAX + 1];
	char thumbprint[64];
	enum token_rule rule;
	enum spool_state state;
	time_t created;
	time_t expires;
	char order_url[SPOOL_URL_MAX];
	char authz_url[SPOOL_URL_MAX];
	char challenge_url[SPOOL_URL_MAX];
	time_t answered_at;
	char challenge_msgid[512]; /* Message-ID of the challenge answered */
	char reason[256];          /* why failed, plain words */
};

struct spool; /* opaque handle: the directory, or the database */

/* spool_claim: the entry is claimed by another milter (thread or MX host)
 * and that claim has not expired: the challenge must be tempfailed. */
#define SPOOL_CLAIMED 2

/* spool_open_db flags */
#define SPOOL_DB_MILTER                                                        \
	0x1                /* the milter's view: the granted columns, and
			       the pending set kept in memory (spool_has) */
#define SPOOL_DB_QUIET 0x2 /* no connection now (spool-migrate checks) */

/*
 * Open the spool at dir.  With create, make dir and dir/entries, work,
 * tmp where missing (mode 0770 less the umask); with gid not (gid_t)-1,
 * the directories it makes get that group and mode 2770 (setgid, so
 * entries inherit the group), whatever the umask: a spool made by root or
 * the requester's user is then usable by a milter in that group.
 * Directories that exist are left as they are.  check_uid: when not -1,
 * refuse a spool not owned by that user or root, or writable by others.
 * NULL on failure (logged).
 */
struct spool *spool_open(
    const char *dir, bool create, long check_uid, gid_t gid);
/*
 * Open the PostgreSQL spool at conninfo (a libpq connection string or
 * "service=NAME"; refused if it holds a password, spool_conninfo_check).
 * With SPOOL_DB_MILTER, a thread keeps the keys of the pending entries in
 * memory (LISTEN/NOTIFY and a full reload every SPOOL_DB_RELOAD_S) and
 * spool_has answers from it without a round trip; when the database is
 * down the last known set stays in force and the thread reconnects with
 * back-off.  NULL on failure (logged; a database that cannot be reached
 * at open is a failure only without SPOOL_DB_MILTER).
 */
struct spool *spool_open_db(const char *conninfo, unsigned flags);
#define SPOOL_DB_RELOAD_S 60
/* The schema version of the database spool this program reads. */
#define SPOOL_DB_VERSION 1
/*
 * Create or migrate the database spool's schema to SPOOL_DB_VERSION and
 * grant the milter's and the requester's roles (NULL: none) their rights;
 * with dry_run, print the steps to out and change nothing.  Idempotent.
 * 0 / -1 (logged).
 */
int spool_migrate(const char *conninfo, const char *milter_role,
    const char *requester_role, bool dry_run, FILE *out);
/*
 * 0 if conninfo is usable as SpoolDatabase: it parses, and it holds no
 * password (the password comes from passfile=, ~/.pgpass or PGPASSFILE);
 * -1 with *why set otherwise.  Never logs the string.
 */
int spool_conninfo_check(const char *conninfo, const char **why);
void spool_close(struct spool *sp);
/* Start the spool's background work, if any (the database spool's
 * pending-set thread): after fork(2) and daemon(3).  0 / -1 (logged). */
int spool_start(struct spool *sp);
/* The directory, or "PostgreSQL" for the database spool (for messages). */
const char *spool_dir(const struct spool *sp);
/* A claim older than seconds may be taken over by another claimer (0:
 * never; ClaimTimeout in smime-acme.conf). */
void spool_set_claim_timeout(struct spool *sp, int seconds);
/* True while the database spool cannot be reached (false for a
 * directory): a -1 from lookup or claim then means "try again later". */
bool spool_unavailable(struct spool *sp);
/*
 * Wait up to ms for a change to the entry of addr: the database spool
 * returns as soon as one is notified (LISTEN), the directory spool just
 * sleeps.  0, or -1 if interrupted by a signal.
 */
int spool_wait(struct spool *sp, const char *addr, int ms);

/*
 * The file name for an address (64 hex + NUL): SHA-256 of the address with
 * its domain lower-cased.  Returns 0, or -1 if hashing failed (logged; out
 * is then the empty string and must not be used).
 */
int spool_key(const char *addr, char out[65]);

/*
 * Look up the entry for addr.  0 found (e filled), 1 not found, -1 error
 * (unreadable, malformed, wrong version: logged).  A claimed entry (in
 * work/) counts as not found, unless its claim is older than the claim
 * timeout: then it is found (and spool_claim takes it over).
 */
int spool_lookup(struct spool *sp, const char *addr, struct spool_entry *e);
/*
 * After a lookup found nothing (1): true if that is because the entry is
 * claimed by another milter and the claim has not expired (the challenge
 * is then tempfailed, not refused).  The database spool's lookup shows a
 * claimed entry, so this is false there; its claim says SPOOL_CLAIMED.
 */
bool spool_claimed(struct spool *sp, const char *addr);
/* Cheap existence test for the envelope stage: true if an entry exists
 * (claimed or not); the database spool answers from the pending set. */
bool spool_has(struct spool *sp, const char *addr);
/*
 * True if no entry exists at all right now (claimed or not): then no
 * spool_has() can be true until one is written.  The directory spool
 * reads entries/ and work/, or remembers the last reading while their
 * mtimes stay (false if either cannot be read); the database spool answers
 * from the pending set, as spool_has() does.
 */
bool spool_is_empty(struct spool *sp);

/* Write (create or replace) the entry for e->mailbox atomically, 0640. */
int spool_write(struct spool *sp, const struct spool_entry *e);
/* Remove the entry for addr (missing is fine).  0 / -1. */
int spool_remove(struct spool *sp, const char *addr);

/*
 * Claim the entry for addr for answering, so that no other thread or host
 * answers it too: the directory spool renames it into work/, the database
 * spool marks it claimed in one UPDATE.  A claim older than the claim
 * timeout (spool_set_claim_timeout) is taken over.  0 claimed (e filled
 * from the claimed entry), SPOOL_CLAIMED claimed by someone else and not
 * expired, 1 not there (gone, or not awaiting), -1 error.
 */
int spool_claim(struct spool *sp, const char *addr, struct spool_entry *e);
/* Put a claimed entry back unchanged (the reply could not be sent). */
int spool_release(struct spool *sp, const char *addr);
/* Finish a claim: drop the claimed copy, then write e (now
 * SPOOL_ANSWERED or FAILED) back into entries/ atomically.  The claimed
 * copy is removed even when the write fails (full disk).  0 / -1. */
int spool_complete(struct spool *sp, const struct spool_entry *e);

/* Call fn for every entry (for `smime-acme spool`); stops on non-zero. */
/*
 * Note that a challenge mail for addr was refused, and why (plain words
 * from our own checks, never a token): notes/<key>, written atomically
 * (the directory is made on first use).  The entry itself is left as it
 * is, so a later genuine challenge is still answered, and a writer of the
 * entry is never raced.  0 / -1 (logged).
 */
int spool_note_refusal(struct spool *sp, const char *addr, const char *why);
/* The last refusal noted for addr: 0 with *when and why (NUL-terminated,
 * cut to whylen) set, 1 if none, -1 on error (logged). */
int spool_refusal(
    struct spool *sp, const char *addr, time_t *when, char *why, size_t whylen);

int spool_foreach(struct spool *sp,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg);

/* Serialise / parse one entry (exported for tests).  parse: 0 / -1 with
 * *why set. */
int spool_format(const struct spool_entry *e, char *out, size_t outlen);
int spool_parse(
    const char *text, size_t len, struct spool_entry *e, const char **why);

const char *spool_state_name(enum spool_state st);
enum spool_state spool_state_parse(const char *s);

#endif
