/*
 * log: stderr and/or syslog output for both programs.  State is set once at
 * startup (log_init, log_set_level) before any thread starts; afterwards it
 * is only read, so the functions are safe from milter threads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <gnutls/crypto.h>

#include "common/log.h"

static const char *log_ident = "smime-acme";
static bool log_syslog;
static bool log_stderr = true;
static enum log_level log_level = LOG_LVL_NOTICE;

static const int log_prio[LOG_LVL_MAX] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
	LOG_INFO, LOG_DEBUG };

void
log_init(const char *ident, bool use_syslog, int facility, bool use_stderr)
{
	if (ident != NULL) {
		log_ident = ident;
	}
	log_syslog = use_syslog;
	log_stderr = use_stderr;
	if (use_syslog) {
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	}
}

void
log_set_level(enum log_level level)
{
	if (level < LOG_LVL_MAX) {
		log_level = level;
	}
}

enum log_level
log_get_level(void)
{
	return log_level;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_level;
}

int
log_facility(const char *name)
{
	static const struct {
		const char *name;
		int fac;
	} tab[] = {
		{ "mail", LOG_MAIL },
		{ "daemon", LOG_DAEMON },
		{ "user", LOG_USER },
		{ "local0", LOG_LOCAL0 },
		{ "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 },
		{ "local7", LOG_LOCAL7 },
	};
	size_t i;

	if (name == NULL) {
		return -1;
	}
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcasecmp(tab[i].name, name) == 0) {
			return tab[i].fac;
		}
	}
	return -1;
}

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	size_t n;
	int saved = errno;

	if (level > log_level) {
		goto out;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum != 0) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	}
	if (log_syslog) {
		syslog(log_prio[level], "%s", msg);
	}
	if (log_stderr) {
		fprintf(stderr, "%s: %s\n", log_ident, msg);
	}
out:
	errno = saved;
}

#define LOG_FN(name, level, witherr)                                           \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		int e = errno;                                                 \
		va_start(ap, fmt);                                             \
		log_emit(level, (witherr) ? e : 0, fmt, ap);                   \
		va_end(ap);                                                    \
		errno = e;                                                     \
	}

LOG_FN(log_err, LOG_LVL_ERR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 0)
LOG_FN(log_notice, LOG_LVL_NOTICE, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_err_errno, LOG_LVL_ERR, 1)
LOG_FN(log_warn_errno, LOG_LVL_WARN, 1)

char *
log_fingerprint(const void *data, size_t len, char out[9])
{
	unsigned char md[32];
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md) != 0) {
		memcpy(out, "????????", 9);
		return out;
	}
	for (i = 0; i < 4; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[8] = '\0';
	return out;
}
