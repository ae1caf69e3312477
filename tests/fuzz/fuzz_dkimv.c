/*
 * fuzz_dkimv: DKIM verification of a whole mail (dkim/dkimv.c on top of
 * libopendkim).  The input is a message: a header block split into
 * name and value the way libmilter hands them over (value with its
 * leading white space and folding, no final line end), then after the
 * first empty line (or the first line that is not a header) the body.
 * It goes through dkimv_begin, dkimv_header, dkimv_eoh, dkimv_body and
 * dkimv_end, judged for From domain ca.example and RFC 8823's required
 * headers.  Keys come from a TestDKIMKeys file, never DNS:
 * $FUZZ_DKIM_KEYS, else tests/milter/fixtures/dkim-test.keys (run from
 * the top of the tree).  Linked against the ASan/UBSan libopendkim of
 * tests/fuzz/build-opendkim.sh when it was built (FUZZ_SANITIZED_OPENDKIM),
 * else the system library, whose own bugs ASan then cannot see.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/challenge.h"
#include "common/log.h"
#include "dkim/dkimv.h"
#include "dkim/sigscreen.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_KEYS_DEFAULT "tests/milter/fixtures/dkim-test.keys"
#define FUZZ_HDRS_MAX     256 /* as the milter's header cap */
#define FUZZ_NAME_MAX     128

static struct dkimv_lib *lib;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *keys = getenv("FUZZ_DKIM_KEYS");

	(void)argc;
	(void)argv;
	log_init("fuzz_dkimv", false, 0, false);
	if (keys == NULL) {
		keys = FUZZ_KEYS_DEFAULT;
	}
	if (access(keys, R_OK) != 0) {
		fprintf(stderr,
		    "fuzz_dkimv: %s: no key file (run from the "
		    "top of the tree or set FUZZ_DKIM_KEYS)\n",
		    keys);
		exit(1);
	}
#ifdef FUZZ_SANITIZED_OPENDKIM
	fprintf(stderr, "fuzz_dkimv: libopendkim: sanitized (%s)\n",
	    FUZZ_SANITIZED_OPENDKIM);
#else
	fprintf(stderr,
	    "fuzz_dkimv: libopendkim: system library "
	    "(not instrumented; see tests/fuzz/README.md)\n");
#endif
	lib = dkimv_lib_open(keys);
	if (lib == NULL) {
		fprintf(stderr, "fuzz_dkimv: dkimv_lib_open failed\n");
		exit(1);
	}
	return 0;
}

/* Length of the header starting at p (up to its final line end, which is
 * excluded): continuation lines start with SP or HT.  *next is where the
 * following header (or the end of the block) starts. */
static size_t
header_len(const char *p, const char *end, const char **next)
{
	const char *q = p, *nl;

	for (;;) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (nl == NULL) {
			*next = end;
			return (size_t)(end - p);
		}
		if (nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t')) {
			q = nl + 1;
			continue;
		}
		*next = nl + 1;
		if (nl > p && nl[-1] == '\r') {
			nl--;
		}
		return (size_t)(nl - p);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[FUZZ_NAME_MAX], *msg, *value;
	const char *p, *end, *next, *colon;
	struct dkimv_result res;
	struct dkimv *d;
	size_t hl, nl, nhdrs = 0;
	const char *why;
	size_t nsig = 0;
	int ok = 0;

	if ((msg = fuzz_cstr(data, size)) == NULL) {
		return 0;
	}
	end = msg + strlen(msg); /* libmilter strings end at a NUL */
	if ((d = dkimv_begin(lib, "FUZZ")) == NULL) {
		free(msg);
		return 0;
	}
	for (p = msg; p < end; p = next) {
		if (*p == '\n' || (p[0] == '\r' && p[1] == '\n')) {
			p += *p == '\n' ? 1 : 2; /* the empty line */
			break;
		}
		hl = header_len(p, end, &next);
		colon = memchr(p, ':', hl);
		nl = colon != NULL ? (size_t)(colon - p) : 0;
		if (colon == NULL || nl == 0 || nl >= sizeof(name) ||
		    memchr(p, '\n', nl) != NULL) {
			break; /* not a header: the body starts here */
		}
		if (++nhdrs > FUZZ_HDRS_MAX) {
			goto out;
		}
		memcpy(name, p, nl);
		name[nl] = '\0';
		value = strndup(colon + 1, hl - nl - 1);
		if (value == NULL) {
			goto out;
		}
		/* as the verification worker does (milter/verifier.c): the
		 * library sees only DKIM-Signatures that pass the screen */
		if (sigscreen_is_signature(name) &&
		    (nsig == SIGSCREEN_MAX ||
			sigscreen_check(value, "ca.example", &why) < 0)) {
			free(value);
			continue;
		}
		nsig += sigscreen_is_signature(name);
		ok = dkimv_header(d, name, value);
		free(value);
		if (ok != 0) {
			break;
		}
	}
	if (ok == 0 && dkimv_eoh(d) == 0 && p < end) {
		(void)dkimv_body(
		    d, (const unsigned char *)p, (size_t)(end - p));
	}
	(void)dkimv_end(d, "ca.example", challenge_required_headers, &res);
out:
	dkimv_free(d);
	free(msg);
	return 0;
}
