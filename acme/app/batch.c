/*
 * batch: the batch command (batch.h).  The main thread parses the file,
 * sets up the account once and starts the workers; each worker takes the
 * next line that is not done, makes sure its certificate key is stored
 * with the order state (store.h, the same state `cert` resumes from),
 * and runs flow_issue() in a struct flow of its own: the command's
 * settings (shared, read only) and a session with its own ACME client
 * that borrows the command's account key (never copied).  Nothing but
 * the item table, the counters and the shared "not before" time is
 * behind the mutex; key generation, PKCS#12 and all
 * ACME waiting run unlocked.  The main thread draws the progress line,
 * then writes the results file and the summary.
 */
#include <sys/resource.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/batch.h"
#include "acme/proto/json.h"
#include "acme/app/store.h"
#include "common/fsutil.h"
#include "common/log.h"

enum item_state {
	IT_TODO,
	IT_RUNNING,
	IT_ISSUED,  /* certified by this run */
	IT_DONE,    /* certified before this run */
	IT_FAILED,  /* gave up; etype/detail say why */
	IT_STOPPED, /* interrupted; a rerun resumes it */
	IT_MAX
};

static const char *const item_state_names[IT_MAX] = { "todo", "running",
	"issued", "done", "failed", "interrupted" };

struct item {
	struct batch_line l;
	char id[STORE_HASH_LEN + 1]; /* store_order_id of the set */
	enum item_state st;
	unsigned attempts;
	char *etype;  /* problem type or our reason's short name */
	char *detail; /* plain words */
	char *dir;    /* published set CONFIG/certs/<name> */
	char *name;   /* its first address (the .p12 name) */
};

struct batch {
	struct flow *f;
	const struct batch_opts *o;
	struct item *items;
	size_t n;
	pthread_mutex_t mu;
	size_t next;       /* first item not yet taken */
	time_t not_before; /* no worker sends before this (rate limit) */
	unsigned live;     /* workers still running */
	size_t n_issued, n_done, n_failed, n_running;
	unsigned rl_events;
	/* timers, seconds, summed over workers */
	double t_keygen, t_issue, t_issue_cpu, t_rl_wait;
	unsigned n_keygen;
	struct timespec start;
};

struct worker {
	struct batch *b;
	pthread_t th;
	struct acme_client *ac; /* of the current attempt */
	unsigned seen_rl;       /* its ratelimit_retries already counted */
};

static double
since(const struct timespec *t0, clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- file */

static int
parse_usage(const char *v, unsigned *out)
{
	char tmp[256], *save = NULL, *tok;
	unsigned bit;

	if (snprintf(tmp, sizeof(tmp), "%s", v) >= (int)sizeof(tmp)) {
		return -1;
	}
	*out = 0;
	for (tok = strtok_r(tmp, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		bit = csr_usage_bit(tok);
		if (bit == 0) {
			return -1;
		}
		*out |= bit;
	}
	return *out != 0 ? 0 : -1;
}

static int
parse_option(const char *tok, struct batch_line *l, char *err, size_t errlen)
{
	char names[128];

	if (strncasecmp(tok, "key=", 4) == 0) {
		l->key = key_type_parse(tok + 4);
		if (l->key == KEY_TYPE_MAX) {
			snprintf(err, errlen,
			    "'%s': key is rsa, ec, rsa2048, rsa3072, rsa4096, ec256 or ec384",
			    tok);
			return -1;
		}
		return 0;
	}
	if (strncasecmp(tok, "usage=", 6) == 0) {
		if (parse_usage(tok + 6, &l->usage) != 0) {
			snprintf(err, errlen,
			    "'%s': usage is a comma-separated list of %s", tok,
			    csr_usage_names(
				CSR_KU_ALL, ", ", names, sizeof(names)));
			return -1;
		}
		l->usage_set = true;
		return 0;
	}
	snprintf(err, errlen, "'%s': unknown option (key= or usage=)", tok);
	return -1;
}

int
batch_parse_line(
    const char *text, struct batch_line *l, char *err, size_t errlen)
{
	char tmp[BATCH_LINE_MAX], *save = NULL, *tok;
	const char *why;
	size_t i;

	memset(l, 0, sizeof(*l));
	l->key = KEY_TYPE_MAX;
	if (snprintf(tmp, sizeof(tmp), "%s", text) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "line longer than %d bytes",
		    BATCH_LINE_MAX - 1);
		return -1;
	}
	for (tok = strtok_r(tmp, " \t\r\n\v\f", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r\n\v\f", &save)) {
		if (*tok == '#') {
			break;
		}
		if (strchr(tok, '=') != NULL && strchr(tok, '@') == NULL) {
			if (parse_option(tok, l, err, errlen) != 0) {
				return -1;
			}
			continue;
		}
		if (!cli_valid_address(tok, &why)) {
			snprintf(err, errlen, "'%s': %s", tok, why);
			return -1;
		}
		for (i = 0; i < l->n; i++) {
			if (challenge_addr_equal(l->addrs[i], tok)) {
				snprintf(err, errlen, "'%s' given twice", tok);
				return -1;
			}
		}
		if (l->n >= BATCH_ADDRS_MAX) {
			snprintf(err, errlen, "more than %d addresses",
			    BATCH_ADDRS_MAX);
			return -1;
		}
		l->addrs[l->n] = strdup(tok);
		if (l->addrs[l->n] == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		l->n++;
	}
	if (l->n == 0 && (l->key != KEY_TYPE_MAX || l->usage_set)) {
		snprintf(err, errlen, "options without an address");
		return -1;
	}
	return l->n > 0 ? 1 : 0;
}

void
batch_line_free(struct batch_line *l)
{
	size_t i;

	if (l == NULL) {
		return;
	}
	for (i = 0; i < l->n; i++) {
		free(l->addrs[i]);
	}
	memset(l, 0, sizeof(*l));
}

/* An address on two lines would race for one spool entry. */
static bool
seen_before(const struct batch *b, const char *addr, unsigned *lineno)
{
	size_t i, j;

	for (i = 0; i < b->n; i++) {
		for (j = 0; j < b->items[i].l.n; j++) {
			if (challenge_addr_equal(
				b->items[i].l.addrs[j], addr)) {
				*lineno = b->items[i].l.lineno;
				return true;
			}
		}
	}
	return false;
}

/* The store's id of an address set (order state and done check). */
static int
set_id(
    const char *server, const struct batch_line *l, char id[STORE_HASH_LEN + 1])
{
	struct store_order so;

	memset(&so, 0, sizeof(so));
	if (store_order_id(server, (const char *const *)l->addrs, l->n, &so) !=
	    0) {
		return -1;
	}
	memcpy(id, so.id, sizeof(so.id));
	store_order_free(&so);
	return 0;
}

/* Read the whole batch file into b->items.  0 or an exit code. */
static int
load_file(struct batch *b, const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *line = NULL, err[512];
	size_t cap = 0, alloc = 0, j;
	unsigned lineno = 0, other;
	struct item *tmp;
	ssize_t len;
	int r, rc = EX_DATAERR;

	if (fp == NULL) {
		log_err_errno("%s: cannot open the batch file", path);
		return EX_NOINPUT;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		if (b->n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			tmp = realloc(b->items, alloc * sizeof(*tmp));
			if (tmp == NULL) {
				log_err("out of memory");
				rc = EX_OSERR;
				goto out;
			}
			b->items = tmp;
		}
		memset(&b->items[b->n], 0, sizeof(b->items[b->n]));
		r = batch_parse_line(line, &b->items[b->n].l, err, sizeof(err));
		if (r < 0) {
			log_err("%s:%u: %s", path, lineno, err);
			batch_line_free(&b->items[b->n].l);
			goto out;
		}
		if (r == 0) {
			batch_line_free(&b->items[b->n].l);
			continue;
		}
		for (j = 0; j < b->items[b->n].l.n; j++) {
			if (seen_before(b, b->items[b->n].l.addrs[j], &other)) {
				log_err("%s:%u: %s is already on line %u", path,
				    lineno, b->items[b->n].l.addrs[j], other);
				batch_line_free(&b->items[b->n].l);
				goto out;
			}
		}
		b->items[b->n].l.lineno = lineno;
		if (set_id(b->f->set->server, &b->items[b->n].l,
			b->items[b->n].id) != 0) {
			batch_line_free(&b->items[b->n].l);
			rc = EX_OSERR;
			goto out;
		}
		b->n++;
	}
	if (ferror(fp)) {
		log_err_errno("%s: cannot read the batch file", path);
		rc = EX_IOERR;
		goto out;
	}
	if (b->n == 0) {
		log_err("%s: no addresses", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	if (fp != stdin) {
		fclose(fp);
	}
	return rc;
}

/* ------------------------------------------------------------ done set */

static int
match_lineage(const struct store_lineage *l, void *arg)
{
	struct batch *b = arg;
	struct store_order so;
	size_t i;

	if (l->server == NULL || l->n_addrs == 0) {
		return 0;
	}
	memset(&so, 0, sizeof(so));
	if (store_order_id(l->server, (const char *const *)l->addrs, l->n_addrs,
		&so) != 0) {
		return 0;
	}
	for (i = 0; i < b->n; i++) {
		if (strcmp(b->items[i].id, so.id) != 0 ||
		    b->items[i].dir != NULL) {
			continue;
		}
		b->items[i].dir = strdup(l->dir);
		b->items[i].name = strdup(l->name);
		if (b->items[i].st == IT_TODO) {
			b->items[i].st = IT_DONE;
			b->n_done++;
		}
	}
	store_order_free(&so);
	return 0;
}

/* ------------------------------------------------------------- workers */

/* Wait until the shared not-before time; false when asked to stop. */
static bool
respect_not_before(struct batch *b)
{
	time_t until;
	struct timespec t0;
	bool waited = false, ok = true;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pthread_mutex_lock(&b->mu);
		until = b->not_before;
		pthread_mutex_unlock(&b->mu);
		if (time(NULL) >= until) {
			break;
		}
		waited = true;
		if (!flow_sleep_ms(100)) {
			ok = false;
			break;
		}
	}
	if (waited) {
		pthread_mutex_lock(&b->mu);
		b->t_rl_wait += since(&t0, CLOCK_MONOTONIC);
		pthread_mutex_unlock(&b->mu);
	}
	return ok;
}

/* A 429 seen by this worker's client delays every worker. */
static void
note_ratelimit(struct worker *w, long seconds)
{
	const struct acme_stats *st = acme_get_stats(w->ac);
	struct batch *b = w->b;
	long d;

	if (st == NULL || st->ratelimit_retries == w->seen_rl) {
		return;
	}
	w->seen_rl = st->ratelimit_retries;
	d = st->last_retry_after > seconds ? st->last_retry_after : seconds;
	if (d <= 0) {
		d = 1;
	}
	pthread_mutex_lock(&b->mu);
	if (b->not_before < time(NULL) + d) {
		b->not_before = time(NULL) + d;
	}
	b->rl_events++;
	pthread_mutex_unlock(&b->mu);
	log_info("rate limited by the CA: every worker waits %ld s", d);
}

/* The clients' sleep: Retry-After waits and polling.  Both also honour
 * the shared not-before time. */
static void
clock_sleep(void *arg, unsigned seconds)
{
	struct worker *w = arg;
	time_t until = time(NULL) + (time_t)seconds;

	note_ratelimit(w, (long)seconds);
	pthread_mutex_lock(&w->b->mu);
	if (w->b->not_before > until) {
		until = w->b->not_before;
	}
	pthread_mutex_unlock(&w->b->mu);
	while (time(NULL) < until) {
		if (!flow_sleep_ms(100)) {
			return;
		}
	}
}

static enum key_type
line_key_type(const struct cli *c, const struct batch_line *l)
{
	/* "rsa" / "ec" on the line parse to the default size of the family */
	return l->key != KEY_TYPE_MAX ? l->key : flow_key_type(c);
}

/* The certificate key stored with the order state before any ACME
 * request, so a crash after finalize still has the key.  0 / -1. */
static int
ensure_key(struct worker *w, struct item *it)
{
	struct batch *b = w->b;
	struct store_order so;
	struct timespec t0;
	double dt;
	int rc = -1;

	memset(&so, 0, sizeof(so));
	if (store_order_id(b->f->set->server, (const char *const *)it->l.addrs,
		it->l.n, &so) != 0 ||
	    store_order_load(b->f->set->config_dir, &so) != 0) {
		goto out;
	}
	if (so.key == NULL) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		so.key = key_generate(line_key_type(b->f->set->cli, &it->l));
		dt = since(&t0, CLOCK_MONOTONIC);
		if (so.key == NULL ||
		    store_order_save_key(b->f->set->config_dir, &so) != 0) {
			goto out;
		}
		pthread_mutex_lock(&b->mu);
		b->t_keygen += dt;
		b->n_keygen++;
		pthread_mutex_unlock(&b->mu);
	}
	rc = 0;
out:
	store_order_free(&so);
	return rc;
}

static void
set_reason(struct item *it, const char *type, const char *detail)
{
	free(it->etype);
	free(it->detail);
	it->etype = strdup(type != NULL && *type ? type : "failed");
	it->detail = strdup(detail != NULL ? detail : "");
}

enum outcome { OUT_OK, OUT_RETRY, OUT_RATELIMIT, OUT_FAIL, OUT_STOP };

/* A failed attempt: record its reason; the flow's classifier (flow.c)
 * has decided whether it may be retried. */
static enum outcome
classify(struct worker *w, const struct flow_outcome *out, struct item *it)
{
	if (flow_stopping()) {
		set_reason(it, "interrupted",
		    "stopped by a signal; run the batch again to resume");
		return OUT_STOP;
	}
	set_reason(it, out->kind, out->detail);
	switch (out->retry) {
	case FLOW_RATELIMIT:
		note_ratelimit(w, 5);
		return OUT_RATELIMIT;
	case FLOW_RETRY:
		return OUT_RETRY;
	default:
		return OUT_FAIL;
	}
}

/* One try at one line with a fresh session: its own client, the
 * command's account key borrowed (so acme_last_problem is this line's).
 * The order itself is resumed from the store. */
static enum outcome
attempt(struct worker *w, struct item *it)
{
	struct batch *b = w->b;
	const struct flow_settings *set = b->f->set;
	struct flow_session ses;
	struct flow wf;
	struct acme_opts ao;
	struct timespec t0, c0;
	enum outcome rc = OUT_FAIL;
	const struct flow_outcome *out;

	flow_begin(&wf, set, &ses);
	wf.worker = true; /* the progress line speaks for the workers */
	ses.account_key = b->f->ses->account_key;
	memcpy(ses.thumbprint, b->f->ses->thumbprint, sizeof(ses.thumbprint));
	memset(&ao, 0, sizeof(ao));
	ao.directory_url = set->server;
	ao.http.ca_bundle = set->ca_bundle;
	ao.http.insecure = set->cli->no_verify_ssl;
	ao.retry_max = 8;
	ao.clock.sleep = clock_sleep;
	ao.clock.arg = w;
	ses.ac = acme_new(&ao);
	w->ac = ses.ac;
	w->seen_rl = 0;
	if (ses.ac == NULL ||
	    acme_set_account(
		ses.ac, ses.account_key, acme_kid(b->f->ses->ac)) != 0) {
		set_reason(it, "internal", "cannot set up an ACME client");
		goto out;
	}
	if (acme_directory(ses.ac) != 0) {
		flow_acme_fail(&wf, "directory");
		rc = classify(w, &wf.out, it);
		goto out;
	}
	/* an order lost by a killed run or a failed attempt is found
	 * again by flow_issue (the store's mark before newOrder) */
	if (ensure_key(w, it) != 0) {
		set_reason(it, "store",
		    "cannot make or store the certificate key under the configuration directory");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	out = flow_issue(&wf, (const char *const *)it->l.addrs, it->l.n,
	    it->l.usage_set ? it->l.usage : set->cli->usage, NULL, NULL);
	pthread_mutex_lock(&b->mu);
	b->t_issue += since(&t0, CLOCK_MONOTONIC);
	b->t_issue_cpu += since(&c0, CLOCK_THREAD_CPUTIME_ID);
	pthread_mutex_unlock(&b->mu);
	note_ratelimit(w, 1);
	rc = out->ex == 0 ? OUT_OK : classify(w, out, it);
out:
	w->ac = NULL;
	flow_session_free(&ses); /* the account key stays the command's */
	return rc;
}

static struct item *
take(struct batch *b)
{
	struct item *it = NULL;

	pthread_mutex_lock(&b->mu);
	while (b->next < b->n && b->items[b->next].st != IT_TODO) {
		b->next++;
	}
	if (b->next < b->n && !flow_stopping()) {
		it = &b->items[b->next++];
		it->st = IT_RUNNING;
		b->n_running++;
	}
	pthread_mutex_unlock(&b->mu);
	return it;
}

static void
settle(struct batch *b, struct item *it, enum item_state st)
{
	pthread_mutex_lock(&b->mu);
	it->st = st;
	b->n_running--;
	if (st == IT_ISSUED) {
		b->n_issued++;
	} else if (st == IT_FAILED) {
		b->n_failed++;
	}
	pthread_mutex_unlock(&b->mu);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct batch *b = w->b;
	struct item *it;
	enum outcome oc;
	unsigned tries_left;

	while ((it = take(b)) != NULL) {
		oc = OUT_STOP;
		for (;;) {
			if (!respect_not_before(b)) {
				set_reason(it, "interrupted",
				    "stopped by a signal; run the batch again to resume");
				oc = OUT_STOP;
				break;
			}
			it->attempts++;
			oc = attempt(w, it);
			tries_left = oc == OUT_RATELIMIT ? BATCH_RL_ATTEMPTS_MAX
							 : BATCH_ATTEMPTS_MAX;
			if ((oc != OUT_RETRY && oc != OUT_RATELIMIT) ||
			    it->attempts >= tries_left) {
				break;
			}
			log_info("line %u: %s: %s; trying again", it->l.lineno,
			    it->l.addrs[0], it->etype);
			if (oc == OUT_RETRY &&
			    !flow_sleep_ms(2000u * it->attempts)) {
				oc = OUT_STOP;
				break;
			}
		}
		if (oc == OUT_OK) {
			settle(b, it, IT_ISSUED);
		} else if (oc == OUT_STOP) {
			settle(b, it, IT_STOPPED);
		} else {
			log_err("line %u: %s: %s: %s", it->l.lineno,
			    it->l.addrs[0], it->etype, it->detail);
			settle(b, it, IT_FAILED);
		}
	}
	pthread_mutex_lock(&b->mu);
	b->live--;
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* ------------------------------------------------------------ progress */

static void
progress(struct batch *b, bool final)
{
	size_t issued, done, failed, running, todo;
	double el = since(&b->start, CLOCK_MONOTONIC), rate, eta;
	char etas[32];

	pthread_mutex_lock(&b->mu);
	issued = b->n_issued;
	done = b->n_done;
	failed = b->n_failed;
	running = b->n_running;
	pthread_mutex_unlock(&b->mu);
	todo = b->n - issued - done - failed;
	rate = el > 0 ? (double)issued * 60.0 / el : 0;
	if (rate > 0 && todo > 0) {
		eta = (double)todo / (rate / 60.0);
		snprintf(etas, sizeof(etas), "%um%02us", (unsigned)(eta / 60),
		    (unsigned)eta % 60);
	} else {
		snprintf(etas, sizeof(etas), "%s", todo > 0 ? "?" : "0s");
	}
	fprintf(stderr,
	    "\rbatch: %zu/%zu done, %zu in progress, %zu failed, %.1f/min, ETA %s\033[K%s",
	    issued + done, b->n, running, failed, rate, etas,
	    final ? "\n" : "");
	fflush(stderr);
}

/* ------------------------------------------------------------- results */

static void
item_paths(const struct item *it, char **cert, char **p12)
{
	char tmp[4096];

	*cert = NULL;
	*p12 = NULL;
	if (it->dir == NULL || it->name == NULL) {
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s/cert.pem", it->dir);
	*cert = strdup(tmp);
	snprintf(tmp, sizeof(tmp), "%s/%s.p12", it->dir, it->name);
	*p12 = strdup(tmp);
}

/* Tab-separated text: address status cert p12 type detail ("-" = none). */
static int
results_text(const struct batch *b, struct buf *out)
{
	const struct item *it;
	char *cert, *p12;
	size_t i, j;
	int rc = 0;

	rc |= buf_puts(out,
	    "# address\tstatus\tcertificate\tpkcs12\terror\t"
	    "detail\n");
	for (i = 0; i < b->n; i++) {
		it = &b->items[i];
		item_paths(it, &cert, &p12);
		for (j = 0; j < it->l.n; j++) {
			rc |= buf_printf(out, "%s\t%s\t%s\t%s\t%s\t%s\n",
			    it->l.addrs[j], item_state_names[it->st],
			    cert ? cert : "-", p12 ? p12 : "-",
			    it->etype && it->st != IT_ISSUED ? it->etype : "-",
			    it->detail && it->st != IT_ISSUED ? it->detail
							      : "-");
		}
		free(cert);
		free(p12);
	}
	return rc != 0 ? -1 : 0;
}

static int
results_json(const struct batch *b, struct buf *out)
{
	const struct item *it;
	struct json_out *rows = json_out_array(), *o;
	bool err;
	char *cert, *p12;
	size_t i, j;

	for (i = 0; i < b->n; i++) {
		it = &b->items[i];
		item_paths(it, &cert, &p12);
		err = it->st != IT_ISSUED && it->st != IT_DONE;
		for (j = 0; j < it->l.n; j++) {
			o = json_out_object();
			json_out_str(o, "address", it->l.addrs[j]);
			json_out_str(o, "status", item_state_names[it->st]);
			json_out_int(o, "line", it->l.lineno);
			json_out_str(o, "certificate", cert);
			json_out_str(o, "pkcs12", p12);
			json_out_str(o, "error_type", err ? it->etype : NULL);
			json_out_str(
			    o, "error_detail", err ? it->detail : NULL);
			json_out_push(rows, o);
		}
		free(cert);
		free(p12);
	}
	return json_out_rows(rows, out);
}

static int
write_results(const struct batch *b, const char *path)
{
	struct buf out;
	int rc = -1;

	buf_init(&out, 0);
	if ((b->o->json ? results_json(b, &out) : results_text(b, &out)) != 0) {
		log_err("%s: out of memory", path);
		goto out;
	}
	rc = fs_write_atomic(path, out.data, out.len, 0640);
out:
	buf_free(&out);
	return rc;
}

static void
print_stats(const struct batch *b, double wall, unsigned workers)
{
	struct rusage ru;
	double cpu = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		    ((double)ru.ru_utime.tv_usec +
			(double)ru.ru_stime.tv_usec) /
			1e6;
	}
	fprintf(stderr,
	    "batch stats: %zu issued in %.1f s wall (%.2f/s) with %u workers; process CPU %.1f s\n"
	    "  key generation   %7.1f s for %u keys (%.1f ms each)\n"
	    "  issuance         %7.1f s summed over workers\n"
	    "    CPU in workers %7.1f s (CSR, JWS, TLS, PKCS#12)\n"
	    "    waiting        %7.1f s (CA and challenge mail)\n"
	    "  rate limited     %7.1f s waited, %u events\n",
	    b->n_issued, wall, wall > 0 ? (double)b->n_issued / wall : 0,
	    workers, cpu, b->t_keygen, b->n_keygen,
	    b->n_keygen ? b->t_keygen * 1000.0 / b->n_keygen : 0, b->t_issue,
	    b->t_issue_cpu, b->t_issue - b->t_issue_cpu, b->t_rl_wait,
	    b->rl_events);
	/* one line for scripts (tests/bench/batch.sh) */
	fprintf(stderr,
	    "batch-stats: issued=%zu wall=%.3f cpu=%.3f keygen=%.3f issue=%.3f issue_cpu=%.3f wait=%.3f ratelimit_wait=%.3f ratelimit_events=%u workers=%u\n",
	    b->n_issued, wall, cpu, b->t_keygen, b->t_issue, b->t_issue_cpu,
	    b->t_issue - b->t_issue_cpu, b->t_rl_wait, b->rl_events, workers);
}

static void
summary(const struct batch *b, const char *results)
{
	const struct item *it;
	size_t i, stopped = 0;

	for (i = 0; i < b->n; i++) {
		it = &b->items[i];
		if (it->st == IT_FAILED) {
			fprintf(stderr,
			    "smime-acme: batch: line %u: %s%s: %s: %s\n",
			    it->l.lineno, it->l.addrs[0],
			    it->l.n > 1 ? " (and more)" : "", it->etype,
			    it->detail);
		} else if (it->st == IT_STOPPED || it->st == IT_TODO ||
		    it->st == IT_RUNNING) {
			stopped++;
		}
	}
	fprintf(stderr,
	    "smime-acme: batch: %zu certificate(s): %zu issued now, %zu done before, %zu failed, %zu not finished; results in %s\n",
	    b->n, b->n_issued, b->n_done, b->n_failed, stopped, results);
}

static void
batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		batch_line_free(&b->items[i].l);
		free(b->items[i].etype);
		free(b->items[i].detail);
		free(b->items[i].dir);
		free(b->items[i].name);
	}
	free(b->items);
	pthread_mutex_destroy(&b->mu);
}

int
batch_run(struct flow *f, const struct batch_opts *o)
{
	struct worker *ws = NULL;
	struct batch b;
	char *results = NULL;
	unsigned nw, started = 0, i, live;
	bool tty = isatty(STDERR_FILENO) && !f->set->cli->quiet;
	int rc;

	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.mu, NULL);
	b.f = f;
	b.o = o;
	if (f->set->responder != RESP_SPOOL) {
		log_err(
		    "batch answers the challenges through smime-acme-milter: use --spool DIR or SpoolDirectory in smime-acme.conf");
		rc = EX_USAGE;
		goto out;
	}
	results = o->results != NULL
	    ? strdup(o->results)
	    : store_path(f->set->work_dir, BATCH_RESULTS_NAME);
	if (results == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	rc = load_file(&b, o->file);
	if (rc != 0) {
		goto out;
	}
	if (flow_cert_passphrase(f) != 0 || flow_connect(f) != 0 ||
	    flow_account(f, true) != 0) {
		rc = f->out.ex ? f->out.ex : EX_SOFTWARE;
		goto out;
	}
	if (fs_mkdirs(f->set->work_dir, 0700) != 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	if (store_certs_foreach(f->set->config_dir, match_lineage, &b) < 0) {
		rc = EX_NOINPUT;
		goto out;
	}
	if (b.n_done > 0) {
		flow_say(f, "batch: %zu of %zu certificate(s) done before",
		    b.n_done, b.n);
	}
	nw = o->concurrency ? o->concurrency : BATCH_CONCURRENCY;
	if (nw > BATCH_CONCURRENCY_MAX) {
		nw = BATCH_CONCURRENCY_MAX;
	}
	if (nw > b.n - b.n_done) {
		nw = (unsigned)(b.n - b.n_done);
	}
	ws = calloc(nw ? nw : 1, sizeof(*ws));
	if (ws == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &b.start);
	b.live = nw;
	for (i = 0; i < nw; i++) {
		ws[i].b = &b;
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
			log_err("cannot start worker %u", i);
			pthread_mutex_lock(&b.mu);
			b.live -= nw - i;
			pthread_mutex_unlock(&b.mu);
			break;
		}
		started++;
	}
	for (;;) {
		pthread_mutex_lock(&b.mu);
		live = b.live;
		pthread_mutex_unlock(&b.mu);
		if (live == 0) {
			break;
		}
		if (tty) {
			progress(&b, false);
		}
		(void)flow_sleep_ms(500);
	}
	for (i = 0; i < started; i++) {
		pthread_join(ws[i].th, NULL);
	}
	if (tty) {
		progress(&b, true);
	}
	/* where the sets issued now were published */
	(void)store_certs_foreach(f->set->config_dir, match_lineage, &b);
	if (o->stats) {
		print_stats(&b, since(&b.start, CLOCK_MONOTONIC), started);
	}
	if (write_results(&b, results) != 0) {
		rc = EX_CANTCREAT;
	}
	summary(&b, results);
	if (rc == 0 && b.n_issued + b.n_done < b.n) {
		rc = BATCH_EX_FAILED;
	}
out:
	free(ws);
	free(results);
	batch_free(&b);
	return rc;
}
