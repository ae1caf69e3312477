/*
 * spool: the on-disk contract between the requester (writes entries) and
 * the milter (reads, claims, marks them).  One file per pending address:
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

struct spool; /* opaque handle: the directory and its fds */

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
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/*
 * The file name for an address (64 hex + NUL): SHA-256 of the address with
 * its domain lower-cased.  Returns 0, or -1 if hashing failed (logged; out
 * is then the empty string and must not be used).
 */
int spool_key(const char *addr, char out[65]);

/*
 * Look up the entry for addr.  0 found (e filled), 1 not found, -1 error
 * (unreadable, malformed, wrong version: logged).  A claimed entry (in
 * work/) counts as not found.
 */
int spool_lookup(struct spool *sp, const char *addr, struct spool_entry *e);
/* Cheap existence test for the envelope stage: true if an entry exists. */
bool spool_has(struct spool *sp, const char *addr);

/* Write (create or replace) the entry for e->mailbox atomically, 0640. */
int spool_write(struct spool *sp, const struct spool_entry *e);
/* Remove the entry for addr (missing is fine).  0 / -1. */
int spool_remove(struct spool *sp, const char *addr);

/*
 * Claim the entry for addr for answering: rename it into work/ so that no
 * other thread or host answers it too.  0 claimed (e filled from the
 * claimed file), 1 not there (someone else has it, or gone), -1 error.
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
