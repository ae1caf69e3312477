/*
 * preflight: everything the milter's startup and its first challenge need
 * from the file system, checked as the user it will run as (UserID), so
 * that `smime-acme-milter -n` tells the truth and a daemon that would fail
 * at the first challenge fails at startup instead.  Called by main.c for
 * -n and before every start.  Each problem is one line on the log (stderr
 * under -n) naming the key, the path, the error and the fix.
 */
#ifndef MILTER_PREFLIGHT_H
#define MILTER_PREFLIGHT_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/conf.h"
#include "milter/sockspec.h"

/*
 * Check cfg for a milter listening on ss.  What is used before the
 * privilege drop (the socket's and PidFile's directories, the S/MIME
 * trust file) is checked as the caller; what is used after it (the
 * spool, TestDKIMKeys, every SigningKey, SendmailPath or
 * SubmitPasswordFile) as uid/gid/user when drop is true — in a child
 * process that drops privileges, so the caller keeps its own.  Returns 0
 * when everything holds, -1 after logging every problem found.
 */
int preflight_check(const struct config *cfg, const struct sockspec *ss,
    bool drop, uid_t uid, gid_t gid, const char *user);

#endif
