/*
 * spool_pg: the PostgreSQL backend of the request spool (SpoolDatabase;
 * doc/design.md, "The PostgreSQL spool").  One row per address in
 * smime_acme.entries, keyed like the directory spool (spool_key).
 *
 * The milter's role reads the pending rows only (row security), through
 * the columns granted to it, and changes rows only through the SECURITY
 * DEFINER functions claim, release, complete and note_refusal; a claim is
 * one UPDATE ... WHERE state = 'awaiting' AND (unclaimed OR expired)
 * RETURNING, so two MX hosts never both answer.  A trigger NOTIFYs every
 * change on channel smime_acme_spool ("<key> <state>" or "<key>
 * deleted"): the milter's pending set and the requester's wait listen to
 * it.  Thread-safe: one connection per handle behind a mutex, and in the
 * milter a second one for LISTEN in the pending-set thread.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/spool_impl.h"

#define CHANNEL            "smime_acme_spool"
#define BACKOFF_MAX        30 /* seconds between reconnection attempts, at most */
#define CONN_TIMEOUT       "3"
#define SPOOL_DB_VERSION_S "1" /* SPOOL_DB_VERSION as text */
_Static_assert(SPOOL_DB_VERSION == 1, "SPOOL_DB_VERSION_S");
_Static_assert(SPOOL_CLAIMED == 2, "smime_acme.claim() status 2");

/* The columns of an entry, in the order fill() reads them. */
#define COLS_ALL                                                               \
	"mailbox, sender, token2, thumbprint, rule, state, created, "          \
	"expires, order_url, authz_url, challenge_url, answered_at, "          \
	"challenge_msgid, reason"
/* The milter's view: the columns granted to its role (the URLs and the
 * reason stay the requester's). */
#define COLS_MILTER                                                            \
	"mailbox, sender, token2, thumbprint, rule, state, created, "          \
	"expires, '', '', '', answered_at, challenge_msgid, ''"

struct keyset {
	char (*k)[65];
	size_t n, cap;
};

struct spool_pg {
	char *conninfo;
	unsigned flags;
	char claimer[128]; /* host:pid:handle, names our claims */

	pthread_mutex_t mu; /* conn, next_try, backoff, listening */
	PGconn *conn;
	time_t next_try;
	int backoff;
	bool listening;
	atomic_bool down;      /* the last attempt on conn failed */
	atomic_bool set_down;  /* the pending-set connection is lost */
	atomic_bool said_down; /* the outage has been logged */

	/* the pending set (SPOOL_DB_MILTER) */
	pthread_mutex_t set_mu;
	struct keyset set;
	pthread_t thr;
	bool thr_started;
	int stop[2];
};

/* --- the conninfo check (pure) ------------------------------------------ */

int
spool_conninfo_check(const char *conninfo, const char **why)
{
	PQconninfoOption *opts, *o;
	char *err = NULL;
	int rc = 0;

	*why = NULL;
	if (conninfo == NULL || *conninfo == '\0') {
		*why = "empty connection string";
		return -1;
	}
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL) {
		/* err may quote the string: never pass it on */
		PQfreemem(err);
		*why = "not a libpq connection string (key=value ... or "
		       "postgresql://...; see smime-acme.conf(5))";
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			*why = "holds a password: put it in a password file "
			       "(passfile=, ~/.pgpass or PGPASSFILE), never in "
			       "SpoolDatabase";
			rc = -1;
		}
	}
	PQconninfoFree(opts);
	return rc;
}

/* --- the pending set ------------------------------------------------------ */

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

/* index of key in s, or where it would go (*found false) */
static size_t
set_find(const struct keyset *s, const char *key, bool *found)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(s->k[mid], key, 64);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = false;
	return lo;
}

static void
set_update(struct spool_pg *pg, const char *key, bool pending)
{
	struct keyset *s = &pg->set;
	bool found;
	size_t i;
	void *p;

	pthread_mutex_lock(&pg->set_mu);
	i = set_find(s, key, &found);
	if (pending && !found) {
		if (s->n == s->cap) {
			p = realloc(s->k, (s->cap ? s->cap * 2 : 64) * 65);
			if (p == NULL) {
				pthread_mutex_unlock(&pg->set_mu);
				log_err("spool: out of memory (pending set)");
				return;
			}
			s->k = p;
			s->cap = s->cap ? s->cap * 2 : 64;
		}
		memmove(&s->k[i + 1], &s->k[i], (s->n - i) * 65);
		memcpy(s->k[i], key, 64);
		s->k[i][64] = '\0';
		s->n++;
	} else if (!pending && found) {
		memmove(&s->k[i], &s->k[i + 1], (s->n - i - 1) * 65);
		s->n--;
	}
	pthread_mutex_unlock(&pg->set_mu);
}

static bool
set_has(struct spool_pg *pg, const char *key)
{
	bool found;

	pthread_mutex_lock(&pg->set_mu);
	(void)set_find(&pg->set, key, &found);
	pthread_mutex_unlock(&pg->set_mu);
	return found;
}

/* --- connections ---------------------------------------------------------- */

static bool
is_key(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f'))) {
			return false;
		}
	}
	return s[64] == '\0';
}

/* the server's notices ("terminating connection due to administrator
 * command") go to the debug log, not to stderr */
static void
notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("spool: PostgreSQL says: %s", msg);
}

/* connect_timeout first: the conninfo may set its own */
static PGconn *
pg_connect(const char *conninfo)
{
	const char *const kw[] = { "connect_timeout",
		"fallback_application_name", "dbname", NULL };
	const char *const val[] = { CONN_TIMEOUT, "smime-acme", conninfo,
		NULL };
	PGconn *c;

	c = PQconnectdbParams(kw, val, 1);
	if (c != NULL) {
		PQsetNoticeProcessor(c, notice, NULL);
	}
	return c;
}

static void
say_down(struct spool_pg *pg, const char *msg)
{
	char line[300];
	size_t n;

	atomic_store(&pg->down, true);
	if (atomic_exchange(&pg->said_down, true)) {
		return;
	}
	snprintf(line, sizeof(line), "%s", msg);
	/* libpq's message spans lines: make it one */
	for (n = 0; line[n] != '\0'; n++) {
		if ((unsigned char)line[n] < 0x20) {
			line[n] = ' ';
		}
	}
	while (n > 0 && line[n - 1] == ' ') {
		line[--n] = '\0';
	}
	if (pg->flags & SPOOL_DB_MILTER) {
		log_err("spool: PostgreSQL unreachable (%s); ordinary mail "
			"flows, challenges are tempfailed until it is back",
		    line);
	} else {
		log_err("spool: PostgreSQL unreachable (%s)", line);
	}
}

static void
say_up(struct spool_pg *pg)
{
	atomic_store(&pg->down, false);
	if (!atomic_load(&pg->set_down) &&
	    atomic_exchange(&pg->said_down, false)) {
		log_notice("spool: PostgreSQL reachable again");
	}
}

/* 0 if the schema is there at a version this program knows */
static int
check_schema(PGconn *c)
{
	PGresult *r;
	int rc = -1;

	r = PQexec(c, "SELECT version FROM smime_acme.meta");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		log_err("spool: the database has no smime-acme spool schema "
			"(or this role may not read it): run `smime-acme "
			"spool-migrate` (smime-acme(1))");
	} else if (strcmp(PQgetvalue(r, 0, 0), SPOOL_DB_VERSION_S) != 0) {
		log_err("spool: the database spool schema is version %s, this "
			"program needs %d: run `smime-acme spool-migrate`",
		    PQgetvalue(r, 0, 0), SPOOL_DB_VERSION);
	} else {
		rc = 0;
	}
	PQclear(r);
	return rc;
}

/* The handle's connection, (re)connected if due; NULL while down (then
 * no wait: the next attempt is after the back-off).  Called with mu. */
static PGconn *
conn_get(struct spool_pg *pg)
{
	time_t now = time(NULL);

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK) {
		return pg->conn;
	}
	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
		pg->listening = false;
	}
	if (now < pg->next_try) {
		return NULL;
	}
	pg->conn = pg_connect(pg->conninfo);
	if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
		say_down(pg,
		    pg->conn != NULL ? PQerrorMessage(pg->conn)
				     : "out of memory");
		PQfinish(pg->conn);
		pg->conn = NULL;
		pg->backoff = pg->backoff == 0      ? 1
		    : pg->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
						    : pg->backoff * 2;
		pg->next_try = now + pg->backoff;
		return NULL;
	}
	pg->backoff = 0;
	pg->next_try = 0;
	say_up(pg);
	return pg->conn;
}

/*
 * Run one statement on the handle's connection; a connection lost since
 * the last statement (a restarted server) is re-made once.  The result,
 * or NULL on failure (logged, once while the database is down).
 */
static PGresult *
pg_exec(struct spool_pg *pg, const char *sql, int n, const char *const *params,
    ExecStatusType want)
{
	PGresult *r = NULL;
	PGconn *c;
	int attempt;

	pthread_mutex_lock(&pg->mu);
	for (attempt = 0; attempt < 2; attempt++) {
		c = conn_get(pg);
		if (c == NULL) {
			break;
		}
		r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) == want) {
			pthread_mutex_unlock(&pg->mu);
			return r;
		}
		if (PQstatus(c) == CONNECTION_OK) {
			/* the statement failed, not the connection */
			log_err(
			    "spool: PostgreSQL: %s", PQresultErrorMessage(r));
			PQclear(r);
			pthread_mutex_unlock(&pg->mu);
			return NULL;
		}
		PQclear(r);
		r = NULL;
		say_down(pg, PQerrorMessage(c));
		PQfinish(pg->conn);
		pg->conn = NULL;
		pg->listening = false;
		pg->next_try = 0; /* one immediate reconnection */
	}
	pthread_mutex_unlock(&pg->mu);
	return NULL;
}

bool
spool_pg_unavailable(struct spool_pg *pg)
{
	return atomic_load(&pg->down) || atomic_load(&pg->set_down);
}

/* --- the pending-set thread ---------------------------------------------- */

static int
set_reload(struct spool_pg *pg, PGconn *c)
{
	struct keyset s = { NULL, 0, 0 }, old;
	PGresult *r;
	int i, n;

	r = PQexec(c,
	    "SELECT key FROM smime_acme.entries WHERE state IN "
	    "('incomplete', 'awaiting')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("spool: cannot load the pending entries: %s",
		    PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	if (n > 0) {
		s.k = calloc((size_t)n, 65);
		if (s.k == NULL) {
			PQclear(r);
			log_err("spool: out of memory (pending set)");
			return -1;
		}
		s.cap = (size_t)n;
	}
	for (i = 0; i < n; i++) {
		if (is_key(PQgetvalue(r, i, 0))) {
			memcpy(s.k[s.n++], PQgetvalue(r, i, 0), 65);
		}
	}
	PQclear(r);
	if (s.n > 0) {
		qsort(s.k, s.n, 65, key_cmp);
	}
	pthread_mutex_lock(&pg->set_mu);
	old = pg->set;
	pg->set = s;
	pthread_mutex_unlock(&pg->set_mu);
	free(old.k);
	log_debug("spool: pending set reloaded: %zu entries", s.n);
	return 0;
}

static void
drain_notifies(struct spool_pg *pg, PGconn *c)
{
	PGnotify *nt;
	const char *st;

	while ((nt = PQnotifies(c)) != NULL) {
		if (strlen(nt->extra) > 65 && nt->extra[64] == ' ') {
			st = nt->extra + 65;
			nt->extra[64] = '\0';
			if (is_key(nt->extra)) {
				set_update(pg, nt->extra,
				    strcmp(st, "incomplete") == 0 ||
					strcmp(st, "awaiting") == 0);
				log_debug("spool: pending set: %.16s %s",
				    nt->extra, st);
			}
		}
		PQfreemem(nt);
	}
}

/* sleep up to ms, false when asked to stop */
static bool
thr_sleep(struct spool_pg *pg, int ms)
{
	struct pollfd p = { pg->stop[0], POLLIN, 0 };

	return poll(&p, 1, ms) == 0;
}

static void *
set_thread(void *arg)
{
	struct spool_pg *pg = arg;
	struct pollfd p[2];
	PGconn *c = NULL;
	PGresult *r;
	time_t reloaded = 0, now;
	int backoff = 0, rc;

	for (;;) {
		if (c == NULL) {
			c = pg_connect(pg->conninfo);
			if (c == NULL || PQstatus(c) != CONNECTION_OK) {
				atomic_store(&pg->set_down, true);
				say_down(pg,
				    c != NULL ? PQerrorMessage(c)
					      : "out of memory");
				PQfinish(c);
				c = NULL;
				backoff = backoff == 0          ? 1
				    : backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX
								: backoff * 2;
				if (!thr_sleep(pg, backoff * 1000)) {
					break;
				}
				continue;
			}
			/* LISTEN first: no change is lost between the two */
			r = PQexec(c, "LISTEN " CHANNEL);
			rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
			PQclear(r);
			if (rc < 0 || set_reload(pg, c) < 0) {
				PQfinish(c);
				c = NULL;
				atomic_store(&pg->set_down, true);
				if (!thr_sleep(pg, 1000)) {
					break;
				}
				continue;
			}
			backoff = 0;
			reloaded = time(NULL);
			atomic_store(&pg->set_down, false);
			say_up(pg);
			log_info("spool: PostgreSQL pending set loaded, "
				 "listening for changes");
			/* the database is back: the next lookup or claim
			 * reconnects at once, whatever its back-off */
			pthread_mutex_lock(&pg->mu);
			pg->next_try = 0;
			pthread_mutex_unlock(&pg->mu);
		}
		p[0].fd = pg->stop[0];
		p[0].events = POLLIN;
		p[1].fd = PQsocket(c);
		p[1].events = POLLIN;
		rc = poll(p, 2, 1000);
		if (rc < 0 && errno != EINTR) {
			break;
		}
		if (p[0].revents != 0) {
			break;
		}
		if (PQconsumeInput(c) == 0) {
			/* the server went away: keep the last known set */
			atomic_store(&pg->set_down, true);
			say_down(pg, PQerrorMessage(c));
			PQfinish(c);
			c = NULL;
			continue;
		}
		drain_notifies(pg, c);
		now = time(NULL);
		if (now - reloaded >= SPOOL_DB_RELOAD_S) {
			if (set_reload(pg, c) < 0) {
				PQfinish(c);
				c = NULL;
				continue;
			}
			reloaded = now;
		}
	}
	PQfinish(c);
	return NULL;
}

/* --- open / close --------------------------------------------------------- */

struct spool_pg *
spool_pg_open(const char *conninfo, unsigned flags)
{
	struct spool_pg *pg;
	const char *why;
	char host[64];
	PGconn *c;

	if (spool_conninfo_check(conninfo, &why) < 0) {
		log_err("SpoolDatabase: %s", why);
		return NULL;
	}
	pg = calloc(1, sizeof(*pg));
	if (pg == NULL || (pg->conninfo = strdup(conninfo)) == NULL) {
		free(pg);
		log_err("spool: out of memory");
		return NULL;
	}
	pg->flags = flags;
	pg->stop[0] = pg->stop[1] = -1;
	pthread_mutex_init(&pg->mu, NULL);
	pthread_mutex_init(&pg->set_mu, NULL);
	if (gethostname(host, sizeof(host)) < 0) {
		snprintf(host, sizeof(host), "?");
	}
	host[sizeof(host) - 1] = '\0';
	snprintf(pg->claimer, sizeof(pg->claimer), "%s:%ld:%lx", host,
	    (long)getpid(), (unsigned long)(uintptr_t)pg);
	if (flags & SPOOL_DB_QUIET) {
		return pg;
	}
	if (flags & SPOOL_DB_MILTER) {
		/* the milter starts whatever the database: mail must flow;
		 * the pending set is loaded by spool_pg_start */
		return pg;
	}
	pthread_mutex_lock(&pg->mu);
	c = conn_get(pg);
	if (c == NULL) {
		pthread_mutex_unlock(&pg->mu);
		log_err(
		    "spool: cannot connect to the database of SpoolDatabase "
		    "(its error is above)");
		spool_pg_close(pg);
		return NULL;
	}
	if (check_schema(c) < 0) {
		pthread_mutex_unlock(&pg->mu);
		spool_pg_close(pg);
		return NULL;
	}
	pthread_mutex_unlock(&pg->mu);
	return pg;
}

int
spool_pg_start(struct spool_pg *pg)
{
	if (!(pg->flags & SPOOL_DB_MILTER) || pg->thr_started) {
		return 0;
	}
	if (pipe(pg->stop) < 0) {
		log_err_errno("spool: cannot start the pending-set thread");
		return -1;
	}
	if (pthread_create(&pg->thr, NULL, set_thread, pg) != 0) {
		log_err("spool: cannot start the pending-set thread");
		return -1;
	}
	pg->thr_started = true;
	return 0;
}

void
spool_pg_close(struct spool_pg *pg)
{
	if (pg == NULL) {
		return;
	}
	if (pg->thr_started) {
		if (write(pg->stop[1], "x", 1) != 1) {
			log_err_errno("spool: cannot stop the pending-set "
				      "thread");
		}
		pthread_join(pg->thr, NULL);
	}
	if (pg->stop[0] >= 0) {
		close(pg->stop[0]);
		close(pg->stop[1]);
	}
	PQfinish(pg->conn);
	pthread_mutex_destroy(&pg->mu);
	pthread_mutex_destroy(&pg->set_mu);
	free(pg->set.k);
	free(pg->conninfo);
	free(pg);
}

/* --- entries -------------------------------------------------------------- */

static int
copy_col(char *dst, size_t len, const PGresult *r, int row, int col)
{
	const char *v = PQgetvalue(r, row, col);

	if (strlen(v) >= len) {
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
time_col(time_t *dst, const PGresult *r, int row, int col)
{
	long v;

	if (PQgetisnull(r, row, col)) {
		*dst = 0;
		return 0;
	}
	if (conf_parse_long(PQgetvalue(r, row, col), 0, LONG_MAX, &v) < 0) {
		return -1;
	}
	*dst = (time_t)v;
	return 0;
}

/* Fill e from the 14 columns at col (COLS_ALL order).  0 / -1 (logged). */
static int
fill(const PGresult *r, int row, int col, struct spool_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (copy_col(e->mailbox, sizeof(e->mailbox), r, row, col) < 0 ||
	    copy_col(e->from, sizeof(e->from), r, row, col + 1) < 0 ||
	    copy_col(e->token2, sizeof(e->token2), r, row, col + 2) < 0 ||
	    copy_col(e->thumbprint, sizeof(e->thumbprint), r, row, col + 3) <
		0 ||
	    copy_col(e->order_url, sizeof(e->order_url), r, row, col + 8) < 0 ||
	    copy_col(e->authz_url, sizeof(e->authz_url), r, row, col + 9) < 0 ||
	    copy_col(e->challenge_url, sizeof(e->challenge_url), r, row,
		col + 10) < 0 ||
	    copy_col(e->challenge_msgid, sizeof(e->challenge_msgid), r, row,
		col + 12) < 0 ||
	    copy_col(e->reason, sizeof(e->reason), r, row, col + 13) < 0 ||
	    time_col(&e->created, r, row, col + 6) < 0 ||
	    time_col(&e->expires, r, row, col + 7) < 0 ||
	    time_col(&e->answered_at, r, row, col + 11) < 0) {
		log_err("spool: bad database entry (field too long or bad "
			"number)");
		explicit_bzero(e, sizeof(*e));
		return -1;
	}
	e->rule = challenge_rule_parse(PQgetvalue(r, row, col + 4));
	e->state = spool_state_parse(PQgetvalue(r, row, col + 5));
	if (e->rule == TOKEN_RULE_MAX || e->state == SPOOL_STATE_MAX) {
		log_err("spool: bad database entry (rule or state)");
		explicit_bzero(e, sizeof(*e));
		return -1;
	}
	return 0;
}

/* PQclear a result that may hold token-part2 */
static void
clear_secret(PGresult *r)
{
	int i, j;
	char *v;

	if (r == NULL) {
		return;
	}
	for (i = 0; i < PQntuples(r); i++) {
		for (j = 0; j < PQnfields(r); j++) {
			v = PQgetvalue(r, i, j);
			explicit_bzero(v, strlen(v));
		}
	}
	PQclear(r);
}

static const char *
cols(const struct spool_pg *pg)
{
	return (pg->flags & SPOOL_DB_MILTER) ? COLS_MILTER : COLS_ALL;
}

int
spool_pg_lookup(struct spool_pg *pg, const char *addr, struct spool_entry *e)
{
	char key[65], sql[512];
	const char *p[1] = { key };
	PGresult *r;
	int rc;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	snprintf(sql, sizeof(sql),
	    "SELECT %s FROM smime_acme.entries WHERE key = $1", cols(pg));
	r = pg_exec(pg, sql, 1, p, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	rc = PQntuples(r) == 0 ? 1 : fill(r, 0, 0, e);
	clear_secret(r);
	return rc;
}

bool
spool_pg_has(struct spool_pg *pg, const char *addr)
{
	char key[65];
	const char *p[1] = { key };
	PGresult *r;
	bool has;

	if (spool_key(addr, key) < 0) {
		return false;
	}
	if (pg->flags & SPOOL_DB_MILTER) {
		return set_has(pg, key); /* no round trip */
	}
	r = pg_exec(pg, "SELECT 1 FROM smime_acme.entries WHERE key = $1", 1, p,
	    PGRES_TUPLES_OK);
	has = r != NULL && PQntuples(r) > 0;
	PQclear(r);
	return has;
}

bool
spool_pg_is_empty(struct spool_pg *pg)
{
	bool empty;

	if (!(pg->flags & SPOOL_DB_MILTER)) {
		return false; /* only the milter keeps the set */
	}
	pthread_mutex_lock(&pg->set_mu);
	empty = pg->set.n == 0;
	pthread_mutex_unlock(&pg->set_mu);
	return empty;
}

static void
num(char *buf, size_t len, time_t t)
{
	snprintf(buf, len, "%lld", (long long)t);
}

int
spool_pg_write(struct spool_pg *pg, const struct spool_entry *e)
{
	char key[65], created[24], expires[24], answered[24];
	const char *p[15];
	PGresult *r;

	if (spool_key(e->mailbox, key) < 0) {
		return -1;
	}
	num(created, sizeof(created), e->created);
	num(expires, sizeof(expires), e->expires);
	num(answered, sizeof(answered), e->answered_at);
	p[0] = key;
	p[1] = e->mailbox;
	p[2] = e->from;
	p[3] = e->token2;
	p[4] = e->thumbprint;
	p[5] = challenge_rule_name(e->rule);
	p[6] = spool_state_name(e->state);
	p[7] = created;
	p[8] = expires;
	p[9] = e->order_url;
	p[10] = e->authz_url;
	p[11] = e->challenge_url;
	p[12] = answered;
	p[13] = e->challenge_msgid;
	p[14] = e->reason;
	r = pg_exec(pg,
	    "INSERT INTO smime_acme.entries (key, " COLS_ALL ") VALUES ($1, "
	    "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
	    "ON CONFLICT (key) DO UPDATE SET mailbox = $2, sender = $3, "
	    "token2 = $4, thumbprint = $5, rule = $6, state = $7, created = "
	    "$8, expires = $9, order_url = $10, authz_url = $11, "
	    "challenge_url = $12, answered_at = $13, challenge_msgid = $14, "
	    "reason = $15, claimed_by = NULL, claimed_at = NULL",
	    15, p, PGRES_COMMAND_OK);
	if (r == NULL) {
		log_err("spool: cannot write the database entry for %s",
		    e->mailbox);
		return -1;
	}
	PQclear(r);
	return 0;
}

int
spool_pg_remove(struct spool_pg *pg, const char *addr)
{
	char key[65];
	const char *p[1] = { key };
	PGresult *r;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	r = pg_exec(pg, "DELETE FROM smime_acme.entries WHERE key = $1", 1, p,
	    PGRES_COMMAND_OK);
	if (r == NULL) {
		return -1;
	}
	PQclear(r);
	return 0;
}

int
spool_pg_claim(
    struct spool_pg *pg, const char *addr, int timeout, struct spool_entry *e)
{
	char key[65], t[16];
	const char *p[3] = { key, pg->claimer, t };
	PGresult *r;
	int rc;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	snprintf(t, sizeof(t), "%d", timeout);
	r = pg_exec(pg,
	    "SELECT status, mailbox, sender, token2, thumbprint, rule, state, "
	    "created, expires, '', '', '', answered_at, challenge_msgid, '' "
	    "FROM smime_acme.claim($1, $2, $3)",
	    3, p, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	if (PQntuples(r) == 0) {
		rc = 1;
	} else if (strcmp(PQgetvalue(r, 0, 0), "0") == 0) {
		rc = fill(r, 0, 1, e);
	} else {
		rc = strcmp(PQgetvalue(r, 0, 0), "2") == 0 ? SPOOL_CLAIMED : 1;
	}
	clear_secret(r);
	return rc;
}

int
spool_pg_release(struct spool_pg *pg, const char *addr)
{
	char key[65];
	const char *p[2] = { key, pg->claimer };
	PGresult *r;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	r = pg_exec(
	    pg, "SELECT smime_acme.release($1, $2)", 2, p, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	PQclear(r);
	return 0;
}

int
spool_pg_complete(struct spool_pg *pg, const struct spool_entry *e)
{
	char key[65], answered[24];
	const char *p[6];
	PGresult *r;
	int rc = 0;

	if (spool_key(e->mailbox, key) < 0) {
		return -1;
	}
	num(answered, sizeof(answered), e->answered_at);
	p[0] = key;
	p[1] = pg->claimer;
	p[2] = spool_state_name(e->state);
	p[3] = answered;
	p[4] = e->challenge_msgid;
	p[5] = e->reason;
	r = pg_exec(pg, "SELECT smime_acme.complete($1, $2, $3, $4, $5, $6)", 6,
	    p, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		log_err("spool: %s: our claim was taken over (older than "
			"ClaimTimeout) before the entry could be marked %s",
		    e->mailbox, spool_state_name(e->state));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int
spool_pg_note_refusal(struct spool_pg *pg, const char *addr, const char *why)
{
	char key[65], line[400];
	const char *p[2] = { key, line };
	PGresult *r;
	size_t i;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	snprintf(line, sizeof(line), "%s", why);
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
			line[i] = ' ';
		}
	}
	r = pg_exec(pg, "SELECT smime_acme.note_refusal($1, $2)", 2, p,
	    PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	PQclear(r);
	return 0;
}

int
spool_pg_refusal(struct spool_pg *pg, const char *addr, time_t *when, char *why,
    size_t whylen)
{
	char key[65];
	const char *p[1] = { key };
	PGresult *r;
	int rc = 1;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	r = pg_exec(pg,
	    "SELECT refused_at, refusal FROM smime_acme.entries WHERE key = $1 "
	    "AND refused_at IS NOT NULL",
	    1, p, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	if (PQntuples(r) > 0) {
		rc = time_col(when, r, 0, 0) < 0 ? -1 : 0;
		snprintf(why, whylen, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return rc;
}

int
spool_pg_foreach(struct spool_pg *pg,
    int (*fn)(const struct spool_entry *e, void *arg), void *arg)
{
	struct spool_entry e;
	char sql[512];
	PGresult *r;
	int i, rc = 0;

	snprintf(sql, sizeof(sql),
	    "SELECT %s FROM smime_acme.entries ORDER BY created, mailbox",
	    cols(pg));
	r = pg_exec(pg, sql, 0, NULL, PGRES_TUPLES_OK);
	if (r == NULL) {
		return -1;
	}
	for (i = 0; i < PQntuples(r) && rc == 0; i++) {
		if (fill(r, i, 0, &e) < 0) {
			continue;
		}
		rc = fn(&e, arg);
		explicit_bzero(&e, sizeof(e));
	}
	clear_secret(r);
	return rc;
}

int
spool_pg_wait(struct spool_pg *pg, const char *addr, int ms)
{
	struct pollfd p;
	PGresult *r;
	PGconn *c;
	PGnotify *nt;
	char key[65];
	bool ours = false;
	int rc;

	if (spool_key(addr, key) < 0) {
		return -1;
	}
	pthread_mutex_lock(&pg->mu);
	c = conn_get(pg);
	if (c != NULL && !pg->listening) {
		r = PQexec(c, "LISTEN " CHANNEL);
		pg->listening = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	if (c == NULL || !pg->listening) {
		/* down: the caller's next lookup reports it */
		pthread_mutex_unlock(&pg->mu);
		p.fd = -1;
		p.events = 0;
		return poll(&p, 0, ms) < 0 && errno == EINTR ? -1 : 0;
	}
	/* a notification already read with a result is in the queue */
	p.fd = PQsocket(c);
	p.events = POLLIN;
	for (;;) {
		(void)PQconsumeInput(c);
		while ((nt = PQnotifies(c)) != NULL) {
			if (strncmp(nt->extra, key, 64) == 0) {
				ours = true;
			}
			PQfreemem(nt);
		}
		if (ours || ms <= 0) {
			break;
		}
		rc = poll(&p, 1, ms < 250 ? ms : 250);
		if (rc < 0) {
			pthread_mutex_unlock(&pg->mu);
			return errno == EINTR ? -1 : 0;
		}
		ms -= ms < 250 ? ms : 250;
	}
	pthread_mutex_unlock(&pg->mu);
	return 0;
}
