/*
 * fuzz_mailhdr: a whole received mail through the header splitter and
 * the one RFC 8823 judgement (common/mailhdr.h, common/challenge_mail.h),
 * as a responder of the requester sees it: mailhdrs_split with the
 * responders' caps, then the candidate test, the own-reply test, parsing
 * and checking against a fixed CA sender and mailbox, the reply address,
 * and the reply composed from what parsed.  Properties beyond the
 * sanitizers: a reply is composed for every mail that parses, and no
 * line of it holds a bare CR or LF or is longer than 998 octets
 * (RFC 5322 §2.1.1), whatever the challenge's Message-ID and References
 * were.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/challenge_mail.h"
#include "common/log.h"
#include "common/mailhdr.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_CA      "acme@ca.example"
#define FUZZ_MAILBOX "alice@mail.example"
#define FUZZ_DIGEST  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_mailhdr", false, 0, false);
	return 0;
}

/* Every line of the composed reply ends in CRLF and fits RFC 5322. */
static void
check_lines(const char *s, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			FUZZ_CHECK(i + 1 < len && s[i + 1] == '\n');
			FUZZ_CHECK(i - start <= 998);
			start = i + 2;
			i++;
		} else {
			FUZZ_CHECK(s[i] != '\n' && s[i] != '\0');
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailhdrs hs;
	struct challenge_mail m;
	struct buf out;
	const char *why = NULL;
	char msgid[512];
	size_t body_off = 0;

	mailhdrs_init(&hs);
	if (mailhdrs_split(&hs, (const char *)data, size, MAILHDR_FIELD_MAX,
		MAILHDR_TOTAL_MAX, &body_off) < 0) {
		FUZZ_CHECK(hs.problem != NULL);
		goto out;
	}
	FUZZ_CHECK(body_off <= size);
	(void)challenge_mail_is_own_reply(&hs);
	if (!challenge_mail_is_candidate(&hs)) {
		goto out;
	}
	memset(&m, 0, sizeof(m));
	if (challenge_mail_parse(&hs, &m, &why) < 0) {
		FUZZ_CHECK(why != NULL);
		goto out;
	}
	why = NULL;
	if (challenge_mail_check(&m, FUZZ_CA, FUZZ_MAILBOX, &why) < 0) {
		FUZZ_CHECK(why != NULL);
	}
	buf_init(&out, 0);
	FUZZ_CHECK(challenge_mail_compose(&m, FUZZ_MAILBOX,
		       challenge_mail_reply_to(&m, FUZZ_CA), FUZZ_DIGEST, msgid,
		       sizeof(msgid), &out) == 0);
	check_lines(out.data, out.len);
	buf_free(&out);
out:
	mailhdrs_free(&hs);
	return 0;
}
