/*
 * spool-tool: the spool seen by the benchmarks through common/spool.h,
 * whatever store is behind it (a directory, or the database of
 * SpoolDatabase), so that a benchmark measures the code the programs run.
 *
 *   spool-tool load SPOOL FILE...
 *       write each FILE (an entry in the format of smime-acme.conf(5),
 *       FILES, as tests/bench/challenge-mails.py writes them) into SPOOL
 *       with spool_write(), as the requester would.
 *   spool-tool visible WRITER READER COUNT
 *       COUNT times: write a new awaiting entry through WRITER (the
 *       requester's view), then poll READER (the view of the milter on
 *       another MX: spool_has, what its envelope stage asks) every 50 us
 *       until the entry is there; print one line with the median, p99 and
 *       largest time from the end of the write to visible, in ms.
 *
 * SPOOL, WRITER and READER are a directory, or "db:" and a libpq
 * connection string (READER then opens the milter's view, with its
 * pending set in memory).  Exit 0, 1 on a failure, 64 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/spool.h"

#define VISIBLE_WAIT_S 30.0 /* give up on one entry after this */
#define POLL_NS        50000L

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* open SPEC as the requester (reader false) or as a milter would */
static struct spool *
open_spec(const char *spec, bool reader)
{
	struct spool *sp;

	if (strncmp(spec, "db:", 3) != 0) {
		return spool_open(spec, false, -1, (gid_t)-1);
	}
	sp = spool_open_db(spec + 3, reader ? SPOOL_DB_MILTER : 0);
	if (sp != NULL && reader && spool_start(sp) < 0) {
		spool_close(sp);
		return NULL;
	}
	return sp;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_load(const char *spec, int n, char **files)
{
	struct spool *sp = NULL;
	struct spool_entry e;
	const char *why = NULL;
	char *text = NULL;
	size_t len = 0;
	int i, rc = -1;

	memset(&e, 0, sizeof(e));
	sp = open_spec(spec, false);
	if (sp == NULL) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		text = fs_read_file(files[i], SPOOL_ENTRY_MAX, &len);
		if (text == NULL) {
			fprintf(stderr, "spool-tool: %s: %s\n", files[i],
			    strerror(errno));
			goto out;
		}
		if (spool_parse(text, len, &e, &why) < 0) {
			fprintf(stderr, "spool-tool: %s: %s\n", files[i], why);
			goto out;
		}
		explicit_bzero(text, len);
		free(text);
		text = NULL;
		if (spool_write(sp, &e) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	explicit_bzero(&e, sizeof(e));
	spool_close(sp);
	return rc;
}

static int
cmd_visible(const char *wspec, const char *rspec, int count)
{
	struct spool *w = NULL, *r = NULL;
	struct spool_entry e;
	struct timespec ts = {0, POLL_NS};
	double *d = NULL, t0, t1;
	int i, rc = -1;

	d = calloc((size_t)count, sizeof(*d));
	w = open_spec(wspec, false);
	r = open_spec(rspec, true);
	if (d == NULL || w == NULL || r == NULL) {
		goto out;
	}
	for (i = 0; i < count; i++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.mailbox, sizeof(e.mailbox),
		    "visible%d.%ld@bench.test", i, (long)time(NULL));
		snprintf(e.from, sizeof(e.from), "acme-challenge@ca.test");
		snprintf(e.token2, sizeof(e.token2), "dG9rZW4tcGFydDI");
		snprintf(e.thumbprint, sizeof(e.thumbprint), "%043d", 0);
		e.rule = TOKEN_RULE_OCTET;
		e.state = SPOOL_AWAITING;
		e.created = time(NULL);
		e.expires = e.created + 3600;
		if (spool_write(w, &e) < 0) {
			goto out;
		}
		t0 = now();
		t1 = t0;
		while (!spool_has(r, e.mailbox) &&
		    (t1 = now()) - t0 < VISIBLE_WAIT_S) {
			nanosleep(&ts, NULL);
		}
		if (t1 - t0 >= VISIBLE_WAIT_S) {
			fprintf(stderr, "spool-tool: %s not visible after %.0f s\n",
			    e.mailbox, VISIBLE_WAIT_S);
			goto out;
		}
		d[i] = (now() - t0) * 1000.0;
		if (spool_remove(w, e.mailbox) < 0) {
			goto out;
		}
	}
	qsort(d, (size_t)count, sizeof(*d), cmp_double);
	printf("visible: n=%d median_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", count,
	    d[count / 2], d[(count * 99 + 99) / 100 - 1], d[count - 1]);
	rc = 0;
out:
	spool_close(w);
	spool_close(r);
	free(d);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc;

	log_init("spool-tool", false, 0, true);
	if (argc >= 3 && strcmp(argv[1], "load") == 0) {
		rc = cmd_load(argv[2], argc - 3, argv + 3);
	} else if (argc == 5 && strcmp(argv[1], "visible") == 0 &&
	    strtol(argv[4], NULL, 10) > 0) {
		rc = cmd_visible(argv[2], argv[3], (int)strtol(argv[4], NULL, 10));
	} else {
		fprintf(stderr, "usage: spool-tool load SPOOL FILE...\n"
				"       spool-tool visible WRITER READER COUNT\n");
		return 64;
	}
	return rc < 0 ? 1 : 0;
}
