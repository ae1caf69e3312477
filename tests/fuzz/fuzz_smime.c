/*
 * fuzz_smime: S/MIME verification of a challenge (milter/smime.h): the
 * Content-Type recogniser, the MIME split of multipart/signed and
 * application/pkcs7-mime, the base64 and PKCS#7 decoding, the signer
 * selection among the certificates of the PKCS#7, the bounded chain
 * against the trust list and the header protection of the signed
 * message/rfc822.  The input is the outer Content-Type value, a line
 * feed, then the body exactly as received (CRLF); without a line feed
 * the whole input is the Content-Type and the body is empty.  The trust
 * list is $FUZZ_SMIME_TRUST, else tests/fuzz/fixtures/smime-root.pem
 * (run from the top of the tree); the seeds in corpus/smime/mail-* are
 * challenges signed under it (see README.md).  The outer headers the
 * judgement compares with are fixed: those of the seeds.  FUZZ_VERBOSE=1
 * prints the outcome of each input (to reproduce one by hand).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/challenge_mail.h"
#include "common/log.h"
#include "milter/smime.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_TRUST_DEFAULT "tests/fuzz/fixtures/smime-root.pem"

static struct smime_trust *trust;
static struct challenge_mail mail;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("FUZZ_SMIME_TRUST");

	(void)argc;
	(void)argv;
	log_init("fuzz_smime", false, 0, false);
	if (path == NULL) {
		path = FUZZ_TRUST_DEFAULT;
	}
	trust = smime_trust_open(path);
	if (trust == NULL) {
		fprintf(stderr,
		    "fuzz_smime: %s: no trust list (run from the top "
		    "of the tree or set FUZZ_SMIME_TRUST)\n",
		    path);
		exit(1);
	}
	(void)snprintf(mail.from, sizeof(mail.from), "acme@ca.example");
	(void)snprintf(mail.to, sizeof(mail.to), "alice@mail.example");
	(void)snprintf(
	    mail.token1, sizeof(mail.token1), "%s", "Zm9vYmFyYmF6cXV1eHF1dXg");
	(void)snprintf(
	    mail.message_id, sizeof(mail.message_id), "<chal-1@ca.example>");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t ctlen = nl != NULL ? (size_t)(nl - data) : size;
	const unsigned char *body = nl != NULL ? nl + 1 : data + size;
	size_t blen = nl != NULL ? size - ctlen - 1 : 0;
	struct smime_result res;
	char *ct = fuzz_cstr(data, ctlen);
	int rc;

	if (ct == NULL) {
		return 0;
	}
	if (smime_is_signed(ct)) {
		memset(&res, 0, sizeof(res));
		rc = smime_verify(trust, ct, body, blen, &mail, &res);
		FUZZ_CHECK(
		    memchr(res.reason, '\0', sizeof(res.reason)) != NULL);
		/* a refusal or an internal error always says why */
		FUZZ_CHECK(rc < 0 || res.pass || res.reason[0] != '\0');
		if (getenv("FUZZ_VERBOSE") != NULL) {
			fprintf(stderr, "fuzz_smime: rc %d, %s%s\n", rc,
			    res.pass ? "pass" : "refused: ", res.reason);
		}
	}
	free(ct);
	return 0;
}
