/*
 * spool_file: the directory backend of the request spool (see spool.h for
 * the layout; spool.c dispatches to it).  Every write goes through fs_write_atomic, so a
 * reader sees a whole entry or none.  A claim is a rename(2) into work/,
 * which only one process or thread can win.  Thread-safe: the handle is
 * read-only after spool_open.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/spool_impl.h"

/* mkdir -p path; when this call made it and gid is set, give it to the
 * group with mode 2770 (fchown may clear setgid: chmod after it). */
static int
spool_mkdir(const char *path, gid_t gid)
{
	bool existed = fs_exists(path);
	int fd;

	if (fs_mkdirs(path, 0770) < 0) {
		log_err_errno("%s: cannot create spool directory", path);
		return -1;
	}
	if (existed || gid == (gid_t)-1) {
		return 0;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, (uid_t)-1, gid) < 0 || fchmod(fd, 02770) < 0) {
		log_err_errno(
		    "%s: cannot give the spool directory to group %lu", path,
		    (unsigned long)gid);
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	close(fd);
	return 0;
}

struct spool *
spool_file_open(const char *dir, bool create, long check_uid, gid_t gid)
{
	static const char *const subs[] = { "entries", "work", "tmp" };
	struct spool *sp = NULL;
	char path[PATH_MAX];
	size_t i;

	if (dir == NULL || *dir == '\0') {
		log_err("spool: no SpoolDirectory configured");
		return NULL;
	}
	if (create && spool_mkdir(dir, gid) < 0) {
		return NULL;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, subs[i]) >=
		    (int)sizeof(path)) {
			log_err("%s: spool path too long", dir);
			return NULL;
		}
		if (create && spool_mkdir(path, gid) < 0) {
			return NULL;
		}
		if (!fs_exists(path)) {
			log_err("%s: not a spool (missing %s/)", dir, subs[i]);
			return NULL;
		}
		if (check_uid >= 0 &&
		    fs_check_perms(path, (uid_t)check_uid, S_IWOTH) < 0) {
			return NULL;
		}
	}
	if (check_uid >= 0 &&
	    fs_check_perms(dir, (uid_t)check_uid, S_IWOTH) < 0) {
		return NULL;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
		free(sp);
		log_err("spool: out of memory");
		return NULL;
	}
	pthread_mutex_init(&sp->empty_mu, NULL);
	return sp;
}

void
spool_file_close(struct spool *sp)
{
	if (sp == NULL) {
		return;
	}
	pthread_mutex_destroy(&sp->empty_mu);
	free(sp->dir);
	free(sp);
}

static int
spool_path(const struct spool *sp, const char *sub, const char *addr, char *out,
    size_t outlen)
{
	char key[65];
	int n;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	n = snprintf(out, outlen, "%s/%s/%s", sp->dir, sub, key);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
spool_format(const struct spool_entry *e, char *out, size_t outlen)
{
	int n;

	n = snprintf(out, outlen,
	    "smime-acme-spool %d\n"
	    "mailbox: %s\n"
	    "from: %s\n"
	    "token2: %s\n"
	    "thumbprint: %s\n"
	    "rule: %s\n"
	    "state: %s\n"
	    "created: %lld\n"
	    "expires: %lld\n"
	    "order: %s\n"
	    "authz: %s\n"
	    "challenge: %s\n"
	    "answered-at: %lld\n"
	    "challenge-msgid: %s\n"
	    "reason: %s\n",
	    SPOOL_VERSION, e->mailbox, e->from, e->token2, e->thumbprint,
	    challenge_rule_name(e->rule), spool_state_name(e->state),
	    (long long)e->created, (long long)e->expires, e->order_url,
	    e->authz_url, e->challenge_url, (long long)e->answered_at,
	    e->challenge_msgid, e->reason);
	if (n < 0 || (size_t)n >= outlen) {
		return -1;
	}
	return n;
}

static int
copy_field(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	if (vlen >= dstlen) {
		return -1;
	}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

static int
parse_time(const char *v, time_t *out)
{
	long val;

	if (conf_parse_long(v, 0, LONG_MAX, &val) < 0) {
		return -1;
	}
	*out = (time_t)val;
	return 0;
}

int
spool_parse(
    const char *text, size_t len, struct spool_entry *e, const char **why)
{
	const char *p = text, *end = text + len, *nl, *colon, *v;
	char val[SPOOL_URL_MAX];
	size_t klen, vlen;
	bool have_mailbox = false, have_state = false;
	static const char magic[] = "smime-acme-spool ";

	memset(e, 0, sizeof(*e));
	e->rule = TOKEN_RULE_OCTET;
	*why = NULL;
	if (memchr(text, '\0', len) != NULL) {
		*why = "NUL byte in entry";
		return -1;
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL || (size_t)(nl - p) < sizeof(magic) - 1 ||
	    memcmp(p, magic, sizeof(magic) - 1) != 0) {
		*why = "not a spool entry (bad first line)";
		return -1;
	}
	if ((size_t)(nl - p) != sizeof(magic) ||
	    p[sizeof(magic) - 1] != '0' + SPOOL_VERSION) {
		*why = "unsupported spool format version";
		return -1;
	}
	for (p = nl + 1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			*why = "entry does not end with a newline";
			return -1;
		}
		if (nl == p) {
			continue;
		}
		colon = memchr(p, ':', (size_t)(nl - p));
		if (colon == NULL || (colon[1] != ' ' && colon + 1 != nl)) {
			*why = "malformed line (expected \"key: value\")";
			return -1;
		}
		klen = (size_t)(colon - p);
		/* "key:" with nothing after it is an empty value */
		v = colon + 1 == nl ? nl : colon + 2;
		vlen = (size_t)(nl - v);
		if (memchr(v, '\r', vlen) != NULL ||
		    copy_field(val, sizeof(val), v, vlen) < 0) {
			*why = "value too long or contains CR";
			return -1;
		}
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(p, s, klen) == 0)
		if (KEY("mailbox")) {
			if (copy_field(
				e->mailbox, sizeof(e->mailbox), v, vlen)) {
				goto toolong;
			}
			have_mailbox = vlen > 0;
		} else if (KEY("from")) {
			if (copy_field(e->from, sizeof(e->from), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("token2")) {
			if (copy_field(e->token2, sizeof(e->token2), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("thumbprint")) {
			if (copy_field(e->thumbprint, sizeof(e->thumbprint), v,
				vlen)) {
				goto toolong;
			}
		} else if (KEY("rule")) {
			e->rule = challenge_rule_parse(val);
			if (e->rule == TOKEN_RULE_MAX) {
				*why = "unknown token rule";
				return -1;
			}
		} else if (KEY("state")) {
			e->state = spool_state_parse(val);
			if (e->state == SPOOL_STATE_MAX) {
				*why = "unknown state";
				return -1;
			}
			have_state = true;
		} else if (KEY("created")) {
			if (parse_time(val, &e->created) < 0) {
				goto badnum;
			}
		} else if (KEY("expires")) {
			if (parse_time(val, &e->expires) < 0) {
				goto badnum;
			}
		} else if (KEY("answered-at")) {
			if (parse_time(val, &e->answered_at) < 0) {
				goto badnum;
			}
		} else if (KEY("order")) {
			if (copy_field(
				e->order_url, sizeof(e->order_url), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("authz")) {
			if (copy_field(
				e->authz_url, sizeof(e->authz_url), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("challenge")) {
			if (copy_field(e->challenge_url,
				sizeof(e->challenge_url), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("challenge-msgid")) {
			if (copy_field(e->challenge_msgid,
				sizeof(e->challenge_msgid), v, vlen)) {
				goto toolong;
			}
		} else if (KEY("reason")) {
			if (copy_field(e->reason, sizeof(e->reason), v, vlen)) {
				goto toolong;
			}
		}
		/* unknown keys are ignored: newer writers may add fields */
#undef KEY
	}
	if (!have_mailbox || !have_state) {
		*why = "entry lacks mailbox or state";
		return -1;
	}
	if (e->state != SPOOL_INCOMPLETE &&
	    (e->token2[0] == '\0' || e->thumbprint[0] == '\0' ||
		e->from[0] == '\0')) {
		*why = "complete entry lacks token2, thumbprint or from";
		return -1;
	}
	return 0;
toolong:
	*why = "field too long";
	return -1;
badnum:
	*why = "bad number";
	return -1;
}

static int
spool_read(const char *path, struct spool_entry *e)
{
	char *text;
	size_t len;
	const char *why;
	int rc;

	/* fs_read_file opens with O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC and
	 * checks the type first: a FIFO planted in entries/ is refused at
	 * once instead of blocking a milter thread or `smime-acme spool` */
	text = fs_read_file(path, SPOOL_ENTRY_MAX, &len);
	if (text == NULL) {
		if (errno == ENOENT) {
			return 1;
		}
		if (errno == EINVAL) {
			log_err(
			    "%s: cannot read spool entry: not a regular file",
			    path);
		} else {
			log_err_errno("%s: cannot read spool entry", path);
		}
		return -1;
	}
	rc = spool_parse(text, len, e, &why);
	explicit_bzero(text, len);
	free(text);
	if (rc < 0) {
		log_err("%s: bad spool entry: %s", path, why);
		return -1;
	}
	return 0;
}

/*
 * work/<key> exists; *stale: older than the claim timeout.  A claim's age
 * is the work/ file's ctime, which the rename into work/ sets: the milter
 * cannot set the times of an entry the requester wrote (mode 0640, owned
 * by the requester), and the mtime is when the entry was written.
 */
static bool
claim_exists(struct spool *sp, const char *addr, bool *stale)
{
	char path[PATH_MAX];
	struct stat st;

	*stale = false;
	if (spool_path(sp, "work", addr, path, sizeof(path)) < 0 ||
	    stat(path, &st) < 0) {
		return false;
	}
	*stale = sp->claim_timeout > 0 &&
	    time(NULL) - st.st_ctime >= (time_t)sp->claim_timeout;
	return true;
}

int
spool_file_lookup(struct spool *sp, const char *addr, struct spool_entry *e)
{
	char path[PATH_MAX];
	bool stale;
	int rc;

	if (spool_path(sp, "entries", addr, path, sizeof(path)) < 0) {
		return -1;
	}
	rc = spool_read(path, e);
	/* a claim whose holder died mid-reply: the entry is there to be
	 * answered again (spool_claim takes the claim over) */
	if (rc == 1 && claim_exists(sp, addr, &stale) && stale &&
	    spool_path(sp, "work", addr, path, sizeof(path)) == 0) {
		rc = spool_read(path, e);
	}
	return rc;
}

bool
spool_file_claimed(struct spool *sp, const char *addr)
{
	bool stale;

	return claim_exists(sp, addr, &stale) && !stale;
}

bool
spool_file_has(struct spool *sp, const char *addr)
{
	char path[PATH_MAX];

	if (spool_path(sp, "entries", addr, path, sizeof(path)) < 0) {
		return false;
	}
	if (access(path, F_OK) == 0) {
		return true;
	}
	/* claimed: a challenge arriving now must be seen (and tempfailed) */
	return spool_path(sp, "work", addr, path, sizeof(path)) == 0 &&
	    access(path, F_OK) == 0;
}

/* 1 if dir/sub holds nothing but . and .., 0 if it holds a name, -1 if
 * it cannot be read. */
static int
sub_is_empty(const struct spool *sp, const char *sub)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 1;

	if (snprintf(dir, sizeof(dir), "%s/%s", sp->dir, sub) >=
	    (int)sizeof(dir)) {
		return -1;
	}
	d = opendir(dir);
	if (d == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

/*
 * Ordinary mail asks this once a message, so the answer is remembered by
 * the mtimes of entries/ and work/: while both are unchanged, two stat(2)
 * replace the directory reads (a spool with thousands of entries is
 * as cheap as an empty one).  Every name added to or removed
 * from a directory sets its mtime to the time of the change, so a change
 * after a scan shows as a new mtime, unless the change falls in the same
 * timestamp tick as the mtime the scan saw.  Hence a scan is remembered
 * only when it began EMPTY_SETTLE_S or more after both mtimes: any later
 * change then carries a later time (ticks are at most 1 s, on the
 * coarsest file systems).
 */
#define EMPTY_SETTLE_S 2

static int
sub_mtime(const struct spool *sp, const char *sub, struct timespec *out)
{
	char dir[PATH_MAX];
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s/%s", sp->dir, sub) >=
		(int)sizeof(dir) ||
	    stat(dir, &st) < 0) {
		return -1;
	}
	*out = st.st_mtim;
	return 0;
}

static bool
ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

bool
spool_file_is_empty(struct spool *sp)
{
	struct timespec m[2], now;
	bool empty = false, known;

	if (sub_mtime(sp, "entries", &m[0]) < 0 ||
	    sub_mtime(sp, "work", &m[1]) < 0) {
		return false;
	}
	pthread_mutex_lock(&sp->empty_mu);
	known = sp->empty_known && ts_equal(&m[0], &sp->empty_mtime[0]) &&
	    ts_equal(&m[1], &sp->empty_mtime[1]);
	if (known) {
		empty = sp->empty_was;
	}
	pthread_mutex_unlock(&sp->empty_mu);
	if (known) {
		return empty;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	/* entries/ first: that is where a new entry appears */
	empty =
	    sub_is_empty(sp, "entries") == 1 && sub_is_empty(sp, "work") == 1;
	if (now.tv_sec - m[0].tv_sec >= EMPTY_SETTLE_S &&
	    now.tv_sec - m[1].tv_sec >= EMPTY_SETTLE_S) {
		pthread_mutex_lock(&sp->empty_mu);
		sp->empty_known = true;
		sp->empty_was = empty;
		sp->empty_mtime[0] = m[0];
		sp->empty_mtime[1] = m[1];
		pthread_mutex_unlock(&sp->empty_mu);
	}
	return empty;
}

int
spool_file_write(struct spool *sp, const struct spool_entry *e)
{
	char path[PATH_MAX], text[SPOOL_ENTRY_MAX];
	int n, rc;

	if (strpbrk(e->mailbox, "\r\n") || strpbrk(e->from, "\r\n") ||
	    strpbrk(e->reason, "\r\n") || strpbrk(e->challenge_msgid, "\r\n") ||
	    strpbrk(e->order_url, "\r\n") || strpbrk(e->authz_url, "\r\n") ||
	    strpbrk(e->challenge_url, "\r\n") || strpbrk(e->token2, "\r\n")) {
		log_err(
		    "spool: refusing an entry with a line break in a field");
		return -1;
	}
	if (spool_path(sp, "entries", e->mailbox, path, sizeof(path)) < 0) {
		return -1;
	}
	n = spool_format(e, text, sizeof(text));
	if (n < 0) {
		log_err("spool: entry for %s too large", e->mailbox);
		return -1;
	}
	rc = fs_write_atomic(path, text, (size_t)n, 0640);
	explicit_bzero(text, sizeof(text));
	return rc;
}

int
spool_file_remove(struct spool *sp, const char *addr)
{
	char path[PATH_MAX];

	if (spool_path(sp, "entries", addr, path, sizeof(path)) < 0) {
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_err_errno("%s: cannot remove spool entry", path);
		return -1;
	}
	/* the notes of this request go with it */
	if (spool_path(sp, "notes", addr, path, sizeof(path)) == 0) {
		(void)unlink(path);
	}
	return 0;
}

int
spool_file_note_refusal(struct spool *sp, const char *addr, const char *why)
{
	char path[PATH_MAX], dir[PATH_MAX], text[512], line[400];
	size_t i;
	int n;

	n = snprintf(dir, sizeof(dir), "%s/notes", sp->dir);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    spool_path(sp, "notes", addr, path, sizeof(path)) < 0) {
		return -1;
	}
	/* setgid spool directories pass their group on to notes/ */
	if (mkdir(dir, 02770) < 0 && errno != EEXIST) {
		log_err_errno("%s: cannot create", dir);
		return -1;
	}
	/* one line of text, whatever the reason holds (cut if long) */
	snprintf(line, sizeof(line), "%s", why);
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			line[i] = ' ';
		}
	}
	n = snprintf(text, sizeof(text), "refused: %ld\nreason: %s\n",
	    (long)time(NULL), line);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		return -1;
	}
	return fs_write_atomic(path, text, (size_t)n, 0640);
}

int
spool_file_refusal(
    struct spool *sp, const char *addr, time_t *when, char *why, size_t whylen)
{
	char path[PATH_MAX], *text, *r, *nl, *end;
	size_t len;
	long t;

	if (spool_path(sp, "notes", addr, path, sizeof(path)) < 0) {
		return -1;
	}
	text = fs_read_file(path, 4096, &len);
	if (text == NULL) {
		return errno == ENOENT ? 1 : -1;
	}
	if (strncmp(text, "refused: ", 9) != 0 ||
	    (r = strstr(text, "\nreason: ")) == NULL) {
		free(text);
		log_err("%s: not a refusal note", path);
		return -1;
	}
	errno = 0;
	t = strtol(text + 9, &end, 10);
	if (errno != 0 || *end != '\n') {
		free(text);
		log_err("%s: not a refusal note", path);
		return -1;
	}
	r += sizeof("\nreason: ") - 1;
	nl = strchr(r, '\n');
	if (nl != NULL) {
		*nl = '\0';
	}
	*when = (time_t)t;
	snprintf(why, whylen, "%s", r);
	free(text);
	return 0;
}

/*
 * Take over the claim in work/ when it is older than the claim timeout:
 * rename it aside (only one taker can win that), touch it, put it back.
 * 0 taken, 1 the claim is live (or gone), -1 error.
 */
static int
take_over(struct spool *sp, const char *work, const char *addr)
{
	char aside[PATH_MAX];
	struct stat st;
	int n;

	if (stat(work, &st) < 0) {
		return 1;
	}
	if (sp->claim_timeout <= 0 ||
	    time(NULL) - st.st_ctime < (time_t)sp->claim_timeout) {
		return 1;
	}
	n = snprintf(aside, sizeof(aside), "%s/tmp/claim.%ld.%lx", sp->dir,
	    (long)getpid(), (unsigned long)(uintptr_t)&aside);
	if (n < 0 || (size_t)n >= sizeof(aside)) {
		return -1;
	}
	if (rename(work, aside) < 0) {
		return 1; /* another taker won */
	}
	/* renamed back: a fresh ctime, so the claim is ours and fresh */
	if (rename(aside, work) < 0) {
		log_err_errno("%s: cannot take over a stale claim", work);
		return -1;
	}
	log_warn("spool: %s: took over a claim older than %d s (ClaimTimeout)",
	    addr, sp->claim_timeout);
	return 0;
}

int
spool_file_claim(struct spool *sp, const char *addr, struct spool_entry *e)
{
	char from[PATH_MAX], to[PATH_MAX];
	int rc;

	if (spool_path(sp, "entries", addr, from, sizeof(from)) < 0 ||
	    spool_path(sp, "work", addr, to, sizeof(to)) < 0) {
		return -1;
	}
	/* the rename sets the ctime, the claim's age (claim_exists) */
	if (rename(from, to) < 0) {
		if (errno != ENOENT) {
			log_err_errno("%s: cannot claim spool entry", from);
			return -1;
		}
		rc = take_over(sp, to, addr);
		if (rc < 0) {
			return -1;
		}
		if (rc == 1) {
			return access(to, F_OK) == 0 ? SPOOL_CLAIMED : 1;
		}
	}
	rc = spool_read(to, e);
	if (rc != 0) {
		/* unreadable or vanished: put it back for a person to see */
		(void)rename(to, from);
		return rc == 1 ? 1 : -1;
	}
	return 0;
}

int
spool_file_release(struct spool *sp, const char *addr)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (spool_path(sp, "work", addr, from, sizeof(from)) < 0 ||
	    spool_path(sp, "entries", addr, to, sizeof(to)) < 0) {
		return -1;
	}
	if (rename(from, to) < 0) {
		log_err_errno("%s: cannot release spool entry", from);
		return -1;
	}
	return 0;
}

int
spool_file_complete(struct spool *sp, const struct spool_entry *e)
{
	char work[PATH_MAX];
	int rc = 0;

	if (spool_path(sp, "work", e->mailbox, work, sizeof(work)) < 0) {
		return -1;
	}
	/*
	 * Drop the claimed copy (it holds token-part2) before writing
	 * anything: unlink needs no free space, the write may not get it.
	 * On a full disk the outcome is then lost, never the secret left
	 * behind in work/; the requester, finding no entry, keeps polling
	 * the CA.  Nobody looks the entry up in between: a claimed entry
	 * already counts as not found.
	 */
	if (unlink(work) < 0 && errno != ENOENT) {
		log_err_errno("%s: cannot remove claimed entry", work);
		rc = -1;
	}
	if (spool_file_write(sp, e) < 0) {
		rc = -1;
	}
	return rc;
}

int
spool_file_foreach(struct spool *sp,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct spool_entry e;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (snprintf(dir, sizeof(dir), "%s/entries", sp->dir) >=
	    (int)sizeof(dir)) {
		return -1;
	}
	d = opendir(dir);
	if (d == NULL) {
		log_err_errno("%s", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) != 64) {
			continue;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path)) {
			continue;
		}
		if (spool_read(path, &e) != 0) {
			continue;
		}
		rc = fn(&e, arg);
		explicit_bzero(&e, sizeof(e));
		if (rc != 0) {
			break;
		}
	}
	closedir(d);
	return rc;
}
