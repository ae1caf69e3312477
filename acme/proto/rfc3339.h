/*
 * rfc3339: the timestamps ACME objects carry (RFC 8555 §7.1 "expires",
 * "validated", RFC 9773 renewal windows) as RFC 3339 §5.6 date-time:
 * full-date "T" full-time, fractional seconds ignored, "Z" or a numeric
 * offset.  The date must exist (day checked against the month, leap years
 * by the Gregorian rule).  Pure; called by json.c.
 */
#ifndef ACME_PROTO_RFC3339_H
#define ACME_PROTO_RFC3339_H

#include <time.h>

/* Parse s into seconds since the epoch (UTC).  0 / -1 (not logged). */
int rfc3339_parse(const char *s, time_t *out);

#endif
