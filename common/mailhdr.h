/*
 * mailhdr: the header fields of a received mail, bounded.  The milter adds
 * the fields libmilter hands it one by one (mailhdrs_add); the requester's
 * responders, which see whole mails, split a raw header block
 * (mailhdrs_split).  Either way a field is kept as name and raw value (the
 * text after the colon, folding kept); going over a cap, a bare CR or LF
 * or a malformed line sets a static problem and the mail is not a
 * challenge -- nothing is ever truncated.  Also the RFC 2047 decoder the
 * challenge parsers use.  Pure functions, no I/O, nothing logged.
 */
#ifndef COMMON_MAILHDR_H
#define COMMON_MAILHDR_H

#include <stdbool.h>
#include <stddef.h>

#define MAILHDR_COUNT_MAX 256   /* fields kept of one mail */
#define MAILHDR_FIELD_MAX 8192  /* bytes of one field: MaxHeaderSize */
#define MAILHDR_TOTAL_MAX 65536 /* bytes of all fields (responders) */

/* RFC 5322 VCHAR: printable ASCII, no white space. */
static inline bool
mailhdr_vchar(char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* One header field: name and value as received, NUL-terminated. */
struct mailhdr {
	char *name;
	char *value;
};

struct mailhdrs {
	struct mailhdr h[MAILHDR_COUNT_MAX];
	size_t n;
	size_t bytes;        /* name + value + 3 per field */
	const char *problem; /* static reason; NULL while usable */
};

/* An empty set (a zeroed struct is one too). */
void mailhdrs_init(struct mailhdrs *hs);
/* Free every field and make hs empty again; NULL is fine. */
void mailhdrs_free(struct mailhdrs *hs);

/*
 * Keep one field.  A name that is not printable ASCII without a colon
 * (white space before the colon included), a field longer than max_field
 * (name + value + 1), more than MAILHDR_COUNT_MAX fields, more than
 * max_total bytes in all, or a CR or LF in the value that is not folding
 * sets hs->problem and returns -1;
 * the first problem sticks and every later call fails.
 */
int mailhdrs_add(struct mailhdrs *hs, const char *name, const char *value,
    size_t max_field, size_t max_total);

/*
 * Split the header block at the start of text (CRLF or LF line ends) into
 * hs with mailhdrs_add().  The value keeps everything after the colon but
 * the line end (so a DKIM verifier can be fed it); folding is kept.  A
 * line without a colon, a field name that is not printable ASCII, or a
 * continuation line before any field is a problem.  *body_off receives
 * the offset of the body (len when there is no empty line).  0, or -1 with
 * hs->problem set.
 */
int mailhdrs_split(struct mailhdrs *hs, const char *text, size_t len,
    size_t max_field, size_t max_total, size_t *body_off);

/* The value of the first field called name (case-insensitive); NULL if
 * absent; *count (if not NULL) gets how many there are. */
const char *mailhdrs_get(
    const struct mailhdrs *hs, const char *name, size_t *count);

/* True if value holds a CR or LF that is not part of CRLF/LF + WSP
 * folding (a header injection attempt). */
bool mailhdr_has_bare_eol(const char *value);

/*
 * Decode RFC 2047 encoded-words (B and Q, charsets UTF-8 and US-ASCII
 * only, RFC 2231 language suffix allowed) in a header value and unfold it.
 * Returns a malloc'ed string or NULL (errno EINVAL for a bad or disallowed
 * encoding, ENOMEM).
 */
char *mailhdr_decode(const char *raw);

#endif
