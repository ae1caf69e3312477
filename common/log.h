/*
 * log: the one logger of both programs.  Writes to stderr, to syslog, or
 * both.  Every function saves and restores errno.  Messages never carry a
 * token, a response digest, a key or a password (callers log
 * log_fingerprint() instead).
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_MAX
};

/*
 * Set up logging.  ident is the program name; use_syslog opens syslog with
 * LOG_PID and the given facility (a LOG_* value from <syslog.h>);
 * use_stderr also (or only) writes "ident: message" to stderr.
 */
void log_init(
    const char *ident, bool use_syslog, int facility, bool use_stderr);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Map a facility name ("mail", "local0".."local7", "daemon", "user") to
 * its LOG_* value; -1 if unknown. */
int log_facility(const char *name);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As log_err/log_warn, with ": strerror(errno)" appended. */
void log_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Write into out (at least 9 bytes) the first 8 hex digits of SHA-256(data):
 * a safe handle for correlating secrets in logs.  Returns out.
 */
char *log_fingerprint(const void *data, size_t len, char out[9]);

#endif
