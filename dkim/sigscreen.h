/*
 * sigscreen: decide which DKIM-Signature headers of a challenge can matter
 * before libopendkim parses them (issue 10, "Screen before the library").
 * Pure functions on the header value, no libopendkim, no I/O; called by
 * the verification worker (milter/verifier.c) for every DKIM-Signature,
 * which hands the library only those that pass, at most SIGSCREEN_MAX.
 */
#ifndef DKIM_SIGSCREEN_H
#define DKIM_SIGSCREEN_H

#include <stddef.h>

#define SIGSCREEN_MAX     8   /* signatures handed to the library */
#define SIGSCREEN_H_MAX   64  /* names in one h= */
#define SIGSCREEN_I_MAX   256 /* length of i= */
#define SIGSCREEN_VAL_MAX 8192

/*
 * Screen one DKIM-Signature header value (as received, folding and all)
 * of a mail whose From domain is from_domain.  It can matter only if it
 * is a well-formed tag list (no tag twice) with v=1, a=rsa-sha256 or
 * ed25519-sha256 (RFC 8301, 8463), d= equal to from_domain (any case), no
 * l= (RFC 8823 challenges are signed whole), an h= of at most
 * SIGSCREEN_H_MAX well-formed names that include from and never
 * dkim-signature (RFC 6376 §3.5), and, if present, an i= of at most
 * SIGSCREEN_I_MAX octets whose domain is d= or below it.  0 if it can
 * matter, -1 with *why a static reason otherwise.
 */
int sigscreen_check(
    const char *value, const char *from_domain, const char **why);

/*
 * Is a header field with this name a DKIM-Signature to libopendkim?  The
 * library drops white space before the colon ("DKIM-Signature :" is
 * obsolete syntax, RFC 5322 §4.5), so every caller that screens asks
 * this, never strcasecmp: a name the screen misses reaches the library
 * unscreened.  1 / 0.
 */
int sigscreen_is_signature(const char *name);

#endif
