/*
 * batch: many certificates in one process (`smime-acme batch FILE`).  A
 * small pool of worker threads, each with its own ACME client, runs
 * flow_issue() for one line of the batch file at a time on the shared
 * account.  Resumable: an order is stored (store.h) before it is worked
 * on, a published certificate set marks a line done, so a rerun after a
 * crash resumes pending orders and skips done lines.  A 429 seen by any
 * worker delays every worker (a shared "not before" time).  Called by
 * main(); batch_parse_line() also by tests/unit/test_batch.c.
 *
 * File syntax, one certificate per line:
 *   # comment (also after white space on a line)
 *   alice@example.test
 *   bob@example.test bobby@example.test key=ec usage=digitalSignature
 * Addresses and options are separated by white space; options are
 * key=rsa|ec|rsa2048|rsa3072|rsa4096|ec256|ec384 and usage=NAME[,NAME...]
 * (digitalSignature, contentCommitment/nonRepudiation, keyEncipherment,
 * keyAgreement).  An address may appear on one line only.
 */
#ifndef ACME_APP_BATCH_H
#define ACME_APP_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "acme/app/flow.h"
#include "acme/pki/key.h"

#define BATCH_CONCURRENCY     8  /* default worker threads */
#define BATCH_CONCURRENCY_MAX 64 /* cap on --concurrency */
#define BATCH_ADDRS_MAX       CLI_EMAIL_MAX
#define BATCH_LINE_MAX        8192 /* bytes per line */
#define BATCH_ATTEMPTS_MAX    5    /* tries after transient failures */
#define BATCH_RL_ATTEMPTS_MAX 50   /* tries after rate limiting */
#define BATCH_RESULTS_NAME    "batch-results.txt"

/* Exit code when some lines failed (documented in smime-acme(1)). */
#define BATCH_EX_FAILED 75 /* EX_TEMPFAIL */

struct batch_opts {
	const char *file;     /* batch file, "-" = stdin */
	unsigned concurrency; /* 0 = BATCH_CONCURRENCY */
	const char *results;  /* NULL = WORKDIR/batch-results.txt */
	bool json;            /* results file as a JSON array */
	bool stats;           /* per-phase timers on stderr at the end */
};

/* One line of the batch file: the addresses of one certificate. */
struct batch_line {
	unsigned lineno;
	char *addrs[BATCH_ADDRS_MAX]; /* owned */
	size_t n;
	enum key_type key; /* KEY_TYPE_MAX = the command line's */
	unsigned usage;    /* USAGE_* bits; 0 = the command line's */
	bool usage_set;
};

/*
 * Parse one line (without its newline) into *l (zeroed first).  Returns
 * 1 for a line with addresses, 0 for a blank or comment line, -1 on a
 * syntax error with a one-line reason in err.  Free with
 * batch_line_free() in every case.
 */
int batch_parse_line(
    const char *text, struct batch_line *l, char *err, size_t errlen);
void batch_line_free(struct batch_line *l);

/*
 * The batch command: parse o->file, connect, load or create the account,
 * settle the passphrase, skip lines already certified, issue the rest
 * with o->concurrency workers, write the results file and print a
 * summary.  Returns 0 when every line is certified, BATCH_EX_FAILED when
 * some failed or were interrupted, or another sysexits code when nothing
 * could run (EX_DATAERR for a bad batch file, EX_NOINPUT unreadable).
 */
int batch_run(struct flow *f, const struct batch_opts *o);

#endif
