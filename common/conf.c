/*
 * conf: the table-driven parser of smime-acme.conf.  conf_table lists every
 * key once: name, type, default and the field it sets.  Parsing, defaults,
 * -e (print a value) and the man-page test all walk this one table.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/challenge.h"
#include "common/conf.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/spool.h"

enum conf_type {
	CT_STR,
	CT_INT,
	CT_BOOL,
	CT_NBOOL, /* boolean stored inverted */
	CT_MODE,
	CT_SIZE,
	CT_SIGNKEY,
	CT_MAX
};

struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def; /* default as text; NULL = unset */
	size_t off;
	const char *const *choices; /* CT_STR: allowed values, or NULL */
};

static const char *const inject_choices[] = { "sendmail", "smtp", NULL };
static const char *const disp_choices[] = { "deliver", "discard", "quarantine",
	NULL };
static const char *const rule_choices[] = { "octet", "string", NULL };

#define F(field) offsetof(struct config, field)
static const struct conf_key conf_table[] = {
	{ "Socket", CT_STR, "local:/run/smime-acme/milter.sock", F(socket),
	    NULL },
	{ "UserID", CT_STR, NULL, F(user_id), NULL },
	{ "PidFile", CT_STR, NULL, F(pid_file), NULL },
	{ "UMask", CT_MODE, "007", F(umask), NULL },
	{ "Syslog", CT_BOOL, "yes", F(syslog), NULL },
	{ "SyslogFacility", CT_STR, "mail", F(syslog_facility), NULL },
	{ "LogWhy", CT_BOOL, "no", F(log_why), NULL },
	{ "SpoolDirectory", CT_STR, "/var/spool/smime-acme", F(spool_dir),
	    NULL },
	{ "SpoolDatabase", CT_STR, NULL, F(spool_database), NULL },
	{ "ClaimTimeout", CT_INT, "120", F(claim_timeout), NULL },
	{ "InjectMethod", CT_STR, "sendmail", F(inject), inject_choices },
	{ "SendmailPath", CT_STR, "/usr/sbin/sendmail", F(sendmail_path),
	    NULL },
	{ "SubmitHost", CT_STR, "127.0.0.1", F(submit_host), NULL },
	{ "SubmitPort", CT_INT, "25", F(submit_port), NULL },
	{ "SubmitUser", CT_STR, NULL, F(submit_user), NULL },
	{ "SubmitPasswordFile", CT_STR, NULL, F(submit_pass_file), NULL },
	{ "ChallengeDisposition", CT_STR, "deliver", F(disposition),
	    disp_choices },
	{ "IncompleteWait", CT_INT, "5", F(incomplete_wait), NULL },
	{ "ReplyTimeout", CT_INT, "30", F(reply_timeout), NULL },
	{ "VerifyTimeout", CT_INT, "20", F(verify_timeout), NULL },
	{ "TestDKIMKeys", CT_STR, NULL, F(test_dkim_keys), NULL },
	{ "SMIMETrustFile", CT_STR, NULL, F(smime_trust), NULL },
	{ "AllowSMIME", CT_NBOOL, "yes", F(require_dkim), NULL },
	{ "MaxHeaderSize", CT_SIZE, "8192", F(max_header), NULL },
	{ "MaxMessageSize", CT_SIZE, "1048576", F(max_message), NULL },
	{ "SigningKey", CT_SIGNKEY, NULL, 0, NULL },
	{ "Server", CT_STR, "https://acme.castle.cloud/acme/directory",
	    F(server), NULL },
	{ "CABundle", CT_STR, NULL, F(ca_bundle), NULL },
	{ "TokenRule", CT_STR, "octet", F(token_rule), rule_choices },
	{ "SpoolPostAfter", CT_INT, "60", F(spool_post_after), NULL },
	{ "SpoolTimeout", CT_INT, "900", F(spool_timeout), NULL },
	{ "ConfigDirectory", CT_STR, NULL, F(config_dir), NULL },
	{ "SpoolGroup", CT_STR, NULL, F(spool_group), NULL },
	{ "DeliveryHook", CT_STR, NULL, F(hook), NULL },
	{ "KeepCertificateSets", CT_INT, "3", F(keep_sets), NULL },
};
#undef F
#define NKEYS (sizeof(conf_table) / sizeof(conf_table[0]))
_Static_assert(NKEYS <= 8 * sizeof(unsigned long long),
    "struct config's set_keys has a bit per key");

int
conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int
conf_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

static const struct conf_key *
conf_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcasecmp(conf_table[i].name, name) == 0) {
			return &conf_table[i];
		}
	}
	return NULL;
}

/* Set one key from text; on error set *why and return -1. */
static int
conf_set(struct config *c, const struct conf_key *k, const char *val,
    const char **why)
{
	char *base = (char *)c;
	long l;
	bool b;

	switch (k->type) {
	case CT_STR: {
		char **dst = (char **)(void *)(base + k->off);
		char *dup;
		if (*val == '\0') {
			*why = "empty value";
			return -1;
		}
		if (k->choices != NULL) {
			size_t i;
			for (i = 0; k->choices[i] != NULL; i++) {
				if (strcasecmp(val, k->choices[i]) == 0) {
					break;
				}
			}
			if (k->choices[i] == NULL) {
				*why = "value not one of the allowed words";
				return -1;
			}
		}
		if (k->off == offsetof(struct config, syslog_facility) &&
		    log_facility(val) < 0) {
			*why = "unknown syslog facility";
			return -1;
		}
		if (k->off == offsetof(struct config, spool_database) &&
		    spool_conninfo_check(val, why) < 0) {
			return -1;
		}
		dup = strdup(val);
		if (dup == NULL) {
			*why = "out of memory";
			return -1;
		}
		free(*dst);
		*dst = dup;
		return 0;
	}
	case CT_INT:
		if (conf_parse_long(val, 0, INT_MAX, &l) < 0) {
			*why = "not a non-negative whole number";
			return -1;
		}
		*(int *)(void *)(base + k->off) = (int)l;
		return 0;
	case CT_SIZE:
		if (conf_parse_long(val, 1, LONG_MAX, &l) < 0) {
			*why = "not a positive whole number";
			return -1;
		}
		*(size_t *)(void *)(base + k->off) = (size_t)l;
		return 0;
	case CT_BOOL:
	case CT_NBOOL:
		if (conf_parse_bool(val, &b) < 0) {
			*why = "not a boolean (yes/no/true/false/1/0)";
			return -1;
		}
		*(bool *)(void *)(base + k->off) = k->type == CT_BOOL ? b : !b;
		return 0;
	case CT_MODE: {
		char *end;
		unsigned long m;
		errno = 0;
		m = strtoul(val, &end, 8);
		if (errno != 0 || *end != '\0' || *val == '\0' || m > 0777) {
			*why = "not an octal mode (e.g. 007)";
			return -1;
		}
		*(mode_t *)(void *)(base + k->off) = (mode_t)m;
		return 0;
	}
	case CT_SIGNKEY: {
		struct conf_signing_key *sk;
		char tmp[1024], *save = NULL, *d, *s, *f, *extra;
		if (c->n_signing >= CONF_LIST_MAX) {
			*why = "too many SigningKey lines";
			return -1;
		}
		if (strlen(val) >= sizeof(tmp)) {
			*why = "value too long";
			return -1;
		}
		memcpy(tmp, val, strlen(val) + 1);
		d = strtok_r(tmp, " \t", &save);
		s = strtok_r(NULL, " \t", &save);
		f = strtok_r(NULL, " \t", &save);
		extra = strtok_r(NULL, " \t", &save);
		if (d == NULL || s == NULL || f == NULL || extra != NULL) {
			*why = "expected: domain selector /path/to/key.pem";
			return -1;
		}
		sk = &c->signing[c->n_signing];
		sk->domain = strdup(d);
		sk->selector = strdup(s);
		sk->keyfile = strdup(f);
		c->n_signing++;
		if (sk->domain == NULL || sk->selector == NULL ||
		    sk->keyfile == NULL) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	}
	default:
		*why = "internal: bad key type";
		return -1;
	}
}

struct config *
conf_defaults(void)
{
	struct config *c;
	const char *why;
	size_t i;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	for (i = 0; i < NKEYS; i++) {
		if (conf_table[i].def == NULL) {
			continue;
		}
		if (conf_set(c, &conf_table[i], conf_table[i].def, &why) < 0) {
			log_err("internal: default of %s: %s",
			    conf_table[i].name, why);
			conf_free(c);
			return NULL;
		}
	}
	return c;
}

struct config *
conf_load(const char *path, bool missing_ok)
{
	struct config *c;
	char *text;
	size_t len;

	if (path == NULL) {
		return conf_defaults();
	}
	text = fs_read_user_file(path, CONF_FILE_MAX, &len);
	if (text == NULL) {
		if (errno == ENOENT && missing_ok) {
			return conf_defaults();
		}
		if (missing_ok) {
			/* the default file: say how to do without it */
			log_err(
			    "%s: cannot read the default configuration: "
			    "%s; name another file (smime-acme --conf FILE, "
			    "smime-acme-milter -c FILE), or ask for read "
			    "access to this one",
			    path, strerror(errno));
		} else {
			log_err_errno("%s: cannot read configuration", path);
		}
		return NULL;
	}
	c = conf_parse(path, text, len);
	free(text);
	return c;
}

struct config *
conf_parse(const char *path, const char *data, size_t datalen)
{
	struct config *c;
	char *text = NULL, *line, *next, *key, *val, *end;
	const struct conf_key *k;
	const char *why;
	unsigned lineno = 0;

	c = conf_defaults();
	if (c == NULL) {
		return NULL;
	}
	/* a private NUL-terminated copy: the loop below cuts it up */
	if ((text = malloc(datalen + 1)) == NULL) {
		log_err_errno("%s: cannot read configuration", path);
		goto fail;
	}
	memcpy(text, data, datalen);
	text[datalen] = '\0';
	if ((c->path = strdup(path)) == NULL) {
		goto fail;
	}
	for (line = text; line != NULL; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next != NULL) {
			*next++ = '\0';
		}
		end = strchr(line, '#');
		if (end != NULL) {
			*end = '\0';
		}
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1])) {
			*--end = '\0';
		}
		key = line;
		while (isspace((unsigned char)*key)) {
			key++;
		}
		if (*key == '\0') {
			continue;
		}
		val = key;
		while (*val != '\0' && !isspace((unsigned char)*val)) {
			val++;
		}
		if (*val != '\0') {
			*val++ = '\0';
		}
		while (isspace((unsigned char)*val)) {
			val++;
		}
		k = conf_find(key);
		if (k == NULL) {
			log_err("%s:%u: %s: unknown key", path, lineno, key);
			goto fail;
		}
		if (*val == '\0') {
			log_err(
			    "%s:%u: %s: missing value", path, lineno, k->name);
			goto fail;
		}
		if (conf_set(c, k, val, &why) < 0) {
			log_err("%s:%u: %s: %s", path, lineno, k->name, why);
			goto fail;
		}
		c->set_keys |= 1ULL << (size_t)(k - conf_table);
	}
	free(text);
	return c;
fail:
	free(text);
	conf_free(c);
	return NULL;
}

void
conf_free(struct config *c)
{
	size_t i;

	if (c == NULL) {
		return;
	}
	for (i = 0; i < NKEYS; i++) {
		if (conf_table[i].type == CT_STR) {
			free(*(char **)(void *)((char *)c + conf_table[i].off));
		}
	}
	for (i = 0; i < c->n_signing; i++) {
		free(c->signing[i].domain);
		free(c->signing[i].selector);
		free(c->signing[i].keyfile);
	}
	free(c->path);
	free(c);
}

bool
conf_is_set(const struct config *c, const char *key)
{
	const struct conf_key *k = key != NULL ? conf_find(key) : NULL;

	if (c == NULL || k == NULL) {
		return false;
	}
	return (c->set_keys & (1ULL << (size_t)(k - conf_table))) != 0;
}

int
conf_print_value(const struct config *c, const char *key)
{
	const struct conf_key *k = conf_find(key);
	const char *base = (const char *)c;
	size_t i;

	if (k == NULL) {
		return -1;
	}
	switch (k->type) {
	case CT_STR: {
		const char *v = *(char *const *)(const void *)(base + k->off);
		printf("%s\n", v != NULL ? v : "");
		break;
	}
	case CT_INT:
		printf("%d\n", *(const int *)(const void *)(base + k->off));
		break;
	case CT_SIZE:
		printf("%zu\n", *(const size_t *)(const void *)(base + k->off));
		break;
	case CT_BOOL:
	case CT_NBOOL: {
		bool b = *(const bool *)(const void *)(base + k->off);
		printf("%s\n", (k->type == CT_BOOL ? b : !b) ? "yes" : "no");
		break;
	}
	case CT_MODE:
		printf("%03o\n",
		    (unsigned)*(const mode_t *)(const void *)(base + k->off));
		break;
	case CT_SIGNKEY:
		for (i = 0; i < c->n_signing; i++) {
			printf("%s %s %s\n", c->signing[i].domain,
			    c->signing[i].selector, c->signing[i].keyfile);
		}
		break;
	default:
		return -1;
	}
	return 0;
}

const char *const *
conf_key_names(void)
{
	static const char *names[NKEYS + 1];
	size_t i;

	/* filled on each call with the same constant pointers: idempotent */
	for (i = 0; i < NKEYS; i++) {
		names[i] = conf_table[i].name;
	}
	names[NKEYS] = NULL;
	return names;
}
