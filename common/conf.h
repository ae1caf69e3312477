/*
 * conf: smime-acme.conf, "Key value" lines in the style of opendkim.conf,
 * read by both programs (they must agree on the spool).  One table (conf.c)
 * lists every key with its type, default and target field; it drives
 * parsing, defaults, -n and -e.  Keys are case-insensitive, '#' starts a
 * comment, booleans are yes/no/true/false/1/0.  An unknown key or a bad
 * value is an error naming file, line and key.  The struct is immutable
 * after conf_load() returns.
 */
#ifndef COMMON_CONF_H
#define COMMON_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONF_DEFAULT_PATH "/etc/smime-acme.conf"
#define CONF_LIST_MAX     32
#define CONF_FILE_MAX     (1024 * 1024) /* bytes of a configuration file */

/* One "SigningKey domain selector /path/key.pem" line. */
struct conf_signing_key {
	char *domain;
	char *selector;
	char *keyfile;
};

struct config {
	char *path; /* file this was read from, or NULL for defaults */
	unsigned long long set_keys; /* bit i: table key i set by the file */

	/* daemon (milter) */
	char *socket;          /* Socket: libmilter syntax */
	char *user_id;         /* UserID: user[:group] */
	char *pid_file;        /* PidFile */
	mode_t umask;          /* UMask (octal) */
	bool syslog;           /* Syslog */
	char *syslog_facility; /* SyslogFacility */
	bool log_why;          /* LogWhy: log every refusal reason at info */

	/* the contract */
	char *spool_dir;      /* SpoolDirectory */
	char *spool_database; /* SpoolDatabase: libpq conninfo, or NULL */
	int claim_timeout;    /* ClaimTimeout: seconds a claim holds */

	/* the milter's checks and actions */
	char *inject;           /* InjectMethod: sendmail | smtp */
	char *sendmail_path;    /* SendmailPath */
	char *submit_host;      /* SubmitHost (InjectMethod smtp) */
	int submit_port;        /* SubmitPort */
	char *submit_user;      /* SubmitUser */
	char *submit_pass_file; /* SubmitPasswordFile */
	char
	    *disposition; /* ChallengeDisposition: deliver|discard|quarantine */
	int incomplete_wait;  /* IncompleteWait: seconds */
	int reply_timeout;    /* ReplyTimeout: seconds for injection */
	int verify_timeout;   /* VerifyTimeout: seconds per candidate */
	char *test_dkim_keys; /* TestDKIMKeys: key file instead of DNS */
	char *smime_trust;    /* SMIMETrustFile: PEM roots for S/MIME */
	bool require_dkim;    /* AllowSMIME no = DKIM only */
	size_t max_header;    /* MaxHeaderSize: bytes per header */
	size_t max_message;   /* MaxMessageSize: bytes kept of a candidate */
	struct conf_signing_key signing[CONF_LIST_MAX]; /* SigningKey */
	size_t n_signing;

	/* the requester */
	char *server;         /* Server: ACME directory URL */
	char *ca_bundle;      /* CABundle */
	char *token_rule;     /* TokenRule: octet | string */
	int spool_post_after; /* SpoolPostAfter: seconds before POST anyway */
	int spool_timeout;    /* SpoolTimeout: seconds for the whole wait */
	char *config_dir;     /* ConfigDirectory */
	char *spool_group;    /* SpoolGroup: group of spool dirs it makes */
	char *hook;           /* DeliveryHook */
	int keep_sets;        /* KeepCertificateSets: 0 = all */
};

/*
 * Load path into a freshly allocated config (defaults first, then the
 * file).  missing_ok: a missing file gives the defaults.  On error logs
 * "file:line: key: problem" and returns NULL.
 */
struct config *conf_load(const char *path, bool missing_ok);
/*
 * Parse len bytes of configuration text as if read from path (used in
 * messages and kept as c->path): defaults first, then the text, which
 * ends at len or at a NUL.  conf_load() reads the file and calls this;
 * the fuzzer calls it directly.  NULL on error (logged as conf_load()).
 */
struct config *conf_parse(const char *path, const char *text, size_t len);
/* Defaults only. */
struct config *conf_defaults(void);
void conf_free(struct config *c);
/* True when the file set key (case-insensitive), not just its default;
 * false for an unknown key or c == NULL. */
bool conf_is_set(const struct config *c, const char *key);
/* Print the effective value of key ("-e key"); -1 if no such key. */
int conf_print_value(const struct config *c, const char *key);
/* Every key name in the table, NULL-terminated (for the man page test). */
const char *const *conf_key_names(void);
/* Parse a boolean word; 0 ok / -1. */
int conf_parse_bool(const char *s, bool *out);
/* Checked strtol: whole string, range [min,max]. 0 / -1. */
int conf_parse_long(const char *s, long min, long max, long *out);

#endif
