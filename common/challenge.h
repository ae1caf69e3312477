/*
 * challenge: the RFC 8823 logic shared by the milter and every requester
 * responder.  Pure functions, no I/O: parse the challenge Subject into
 * token-part1, compare mailboxes, compute the response digest under a token
 * rule, and compose the reply mail byte for byte.  Nothing here logs a
 * token or a digest.
 */
#ifndef COMMON_CHALLENGE_H
#define COMMON_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* How token-part1 and token-part2 are joined (doc/protocol.md §3). */
enum token_rule {
	TOKEN_RULE_OCTET,  /* b64url(dec(part1) || dec(part2)): CASTLE, seed */
	TOKEN_RULE_STRING, /* part1 || part2 as text: acme4j and others */
	TOKEN_RULE_MAX
};

#define CHALLENGE_TOKEN_MAX  256 /* characters of token-part1 we accept */
#define CHALLENGE_TOKEN_MIN  16  /* octets: RFC 8823 §3.1, 128 bits */
#define CHALLENGE_DIGEST_LEN 43  /* unpadded b64url of a SHA-256 */
#define CHALLENGE_ADDR_MAX   320
#define CHALLENGE_LINE_MAX   998 /* octets of a header line, RFC 5322 */

/* "octet" / "string" <-> enum; -1 (TOKEN_RULE_MAX) if unknown. */
enum token_rule challenge_rule_parse(const char *s);
const char *challenge_rule_name(enum token_rule rule);

/*
 * Parse a raw Subject header value (as received: may be folded, may hold
 * RFC 2047 encoded-words in UTF-8 or US-ASCII) of a challenge mail.
 * Requires "ACME:" first (no reply prefix), then FWS, then token-part1;
 * white space inside the token is removed, one trailing '=' pad group is
 * stripped, and the result must be canonical base64url of at least
 * CHALLENGE_TOKEN_MIN octets.  On success writes the normalised
 * token-part1 to out (NUL-terminated) and returns 0; otherwise returns -1
 * and sets *why to a static reason for the log (never the token).
 */
int challenge_parse_subject(
    const char *raw, char *out, size_t outlen, const char **why);

/*
 * Extract the single addr-spec of a From/To/Reply-To header value
 * ("Name <a@b>", "a@b", comments allowed).  More than one address, an
 * empty value, a group, or CR/LF inside is an error (-1, *why set).
 */
int challenge_parse_mailbox(
    const char *raw, char *out, size_t outlen, const char **why);

/* Mailbox equality: local part exact, domain case-insensitive. */
bool challenge_addr_equal(const char *a, const char *b);
/* The domain of an address (pointer into addr) or NULL. */
const char *challenge_addr_domain(const char *addr);

/*
 * The response digest: base64url(SHA-256(token "." thumbprint)) where token
 * joins part1 and part2 under rule.  out receives 43 characters + NUL.
 * Returns 0, or -1 if a token is not valid base64url (octet rule) or
 * hashing fails.
 */
int challenge_response(const char *part1, const char *part2,
    const char *thumbprint, enum token_rule rule,
    char out[CHALLENGE_DIGEST_LEN + 1]);

/* What the reply is made of (all strings are plain, already validated). */
struct challenge_reply {
	const char *from;        /* the certified address */
	const char *to;          /* the challenge's Reply-To or From */
	const char *token_part1; /* normalised, as parsed */
	const char *in_reply_to; /* challenge Message-ID incl. <>, or NULL */
	const char *references;  /* challenge References, or NULL */
	const char *message_id;  /* our Message-ID incl. <> */
	const char *date;        /* RFC 5322 date */
	const char *digest;      /* 43 characters */
};

/*
 * Compose the reply mail (RFC 8823 §3.2, doc/protocol.md §5): headers
 * From, To, Subject "Re: ACME: <part1>", Date, Message-ID, In-Reply-To,
 * References, Auto-Submitted: auto-replied, MIME-Version, Content-Type
 * text/plain; charset=us-ascii, Content-Transfer-Encoding: 7bit; a body
 * with the BEGIN/END ACME RESPONSE block around one digest line.  CRLF
 * everywhere.  References is r->references plus r->in_reply_to, with the
 * oldest ids of r->references dropped so the line stays within
 * CHALLENGE_LINE_MAX octets.  Appends to out; 0 / -1 (errno EINVAL for a
 * value that cannot go into a header).
 */
int challenge_compose_reply(const struct challenge_reply *r, struct buf *out);

/* RFC 5322 date for now (or t), e.g. "Sat, 28 Nov 2026 18:43:16 +0000". */
int challenge_date(long t, char *out, size_t outlen);
/* A fresh Message-ID "<random@domain>" (random from digest_random). */
int challenge_message_id(const char *domain, char *out, size_t outlen);

/* The header names RFC 8823 §3.1 requires in a challenge's DKIM h= tag,
 * NULL-terminated, lower case. */
extern const char *const challenge_required_headers[];
/* The names §3.2 requires in the reply's h= (the above minus
 * Auto-Submitted), plus the SHOULD list, NULL-terminated. */
extern const char *const challenge_reply_sign_headers[];

#endif
