/*
 * smime-acme-milter: options and startup (doc/design.md §7).  Order:
 * options -> config -> preflight.c as UserID (-e, -n exit here) -> openlog -> spool and DKIM library ->
 * smfi_setconn (Socket validated here first) -> smfi_register -> umask ->
 * smfi_opensocket -> chown/chmod the socket -> pid file opened -> drop
 * privileges (UserID; root without UserID is refused) -> daemonise unless
 * -f -> pid written -> verification server forked (milter/verifier.c) ->
 * smfi_main.  Only this file exits.
 *
 * inet sockets: libmilter offers no way to reach its listening socket, so
 * we create it ourselves with TCP_NODELAY (accepted sockets inherit it on
 * Linux; without it "add header" + "continue" stalls 40 ms, see
 * doc/performance.md §1) and pass libmilter "fd:N", which libmilter 8.17
 * accepts as an already listening socket.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "common/conf.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/spool.h"
#include "dkim/dkimv.h"
#include "milter/callbacks.h"
#include "milter/ctx.h"
#include "milter/preflight.h"
#include "milter/reply.h"
#include "milter/smime.h"
#include "milter/sockspec.h"
#include "milter/verifier.h"

#define PROGNAME "smime-acme-milter"
#define BACKLOG  128

struct opts {
	const char *conf;
	const char *socket;
	const char *key;
	bool check;
	bool foreground;
	int verbose;
};

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-fnvV] [-c file] [-e key] [-p socket]\n",
	    PROGNAME);
	exit(EX_USAGE);
}

static void
version(void)
{
	unsigned int maj, min, pl;
	char dv[32];

	smfi_version(&maj, &min, &pl);
	dkimv_version(dv, sizeof(dv));
	printf("%s %s\n", PROGNAME, VERSION);
	printf("libmilter %u.%u.%u, libopendkim %s\n", maj, min, pl, dv);
	exit(EX_OK);
}

/* Resolve "user[:group]".  0 / -1 (message on stderr). */
static int
resolve_user(
    const char *spec, uid_t *uid, gid_t *gid, char *name, size_t namelen)
{
	char buf[256], *colon;
	struct passwd *pw;
	struct group *gr;
	int n;

	n = snprintf(buf, sizeof(buf), "%s", spec);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		return -1;
	}
	colon = strchr(buf, ':');
	if (colon != NULL) {
		*colon++ = '\0';
	}
	pw = getpwnam(buf);
	if (pw == NULL) {
		fprintf(stderr, "%s: UserID: no user %s\n", PROGNAME, buf);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	snprintf(name, namelen, "%s", pw->pw_name);
	if (colon != NULL) {
		gr = getgrnam(colon);
		if (gr == NULL) {
			fprintf(stderr, "%s: UserID: no group %s\n", PROGNAME,
			    colon);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/* Checks beyond the parser's that need the file system. */
static int
check_config(const struct config *cfg, const struct sockspec *ss)
{
	int rc = 0;

	/* readability of keys and files: preflight.c, as UserID */
	(void)ss;
	if ((cfg->inject == NULL || strcasecmp(cfg->inject, "smtp") != 0) &&
	    (cfg->sendmail_path == NULL || cfg->sendmail_path[0] != '/')) {
		log_err("SendmailPath: %s: not an absolute path",
		    cfg->sendmail_path != NULL ? cfg->sendmail_path : "(none)");
		rc = -1;
	}
	if (cfg->inject != NULL && strcasecmp(cfg->inject, "smtp") == 0 &&
	    cfg->submit_user != NULL && cfg->submit_pass_file == NULL) {
		log_err("SubmitUser needs SubmitPasswordFile");
		rc = -1;
	}
	if (cfg->incomplete_wait < 0 || cfg->incomplete_wait > 120) {
		log_err("IncompleteWait: %d: must be 0..120 seconds (below "
			"the MTA's milter timeouts)",
		    cfg->incomplete_wait);
		rc = -1;
	}
	if (cfg->verify_timeout < 1 || cfg->verify_timeout > 120) {
		log_err("VerifyTimeout: %d: must be 1..120 seconds (below "
			"the MTA's milter timeouts)",
		    cfg->verify_timeout);
		rc = -1;
	}
	return rc;
}

static int
drop_privileges(uid_t uid, gid_t gid, const char *name)
{
	if (initgroups(name, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		log_err_errno("cannot drop privileges to %s", name);
		return -1;
	}
	if (uid != 0 && setuid(0) >= 0) {
		log_err("privileges could be regained after dropping them");
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct opts o = { NULL, NULL, NULL, false, false, 0 };
	struct config *cfg = NULL;
	struct milter_app app = { NULL, NULL, NULL, NULL, NULL, NULL };
	struct sockspec ss;
	struct smfiDesc desc;
	const char *why;
	char conn[128], uname[64];
	uid_t uid = 0;
	gid_t gid = 0;
	int ch, fac, lfd = -1, pidfd = -1, rc = EX_OK;
	bool as_root, drop = false;

	while ((ch = getopt(argc, argv, "c:e:fnp:vVh")) >= 0) {
		switch (ch) {
		case 'c':
			o.conf = optarg;
			break;
		case 'e':
			o.key = optarg;
			break;
		case 'f':
			o.foreground = true;
			break;
		case 'n':
			o.check = true;
			break;
		case 'p':
			o.socket = optarg;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'V':
			version();
			break;
		default:
			usage();
		}
	}
	if (optind != argc) {
		usage();
	}

	log_init(PROGNAME, false, LOG_MAIL, true);
	cfg = conf_load(
	    o.conf != NULL ? o.conf : CONF_DEFAULT_PATH, o.conf == NULL);
	if (cfg == NULL) {
		return EX_CONFIG;
	}
	if (o.key != NULL) {
		if (conf_print_value(cfg, o.key) < 0) {
			fprintf(
			    stderr, "%s: no such key: %s\n", PROGNAME, o.key);
			rc = EX_USAGE;
			goto out;
		}
		rc = EX_OK;
		goto out;
	}
	if (o.socket != NULL) {
		free(cfg->socket);
		cfg->socket = strdup(o.socket);
		if (cfg->socket == NULL) {
			rc = EX_OSERR;
			goto out;
		}
	}
	if (sockspec_parse(cfg->socket, &ss, &why) < 0) {
		log_err("Socket: %s: %s",
		    cfg->socket != NULL ? cfg->socket : "", why);
		rc = EX_CONFIG;
		goto out;
	}
	fac = log_facility(
	    cfg->syslog_facility != NULL ? cfg->syslog_facility : "mail");
	if (fac < 0) {
		log_err("SyslogFacility: %s: unknown facility",
		    cfg->syslog_facility);
		rc = EX_CONFIG;
		goto out;
	}
	if (check_config(cfg, &ss) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	as_root = geteuid() == 0;
	if (cfg->user_id != NULL) {
		if (resolve_user(
			cfg->user_id, &uid, &gid, uname, sizeof(uname)) < 0) {
			rc = EX_CONFIG;
			goto out;
		}
		drop = as_root;
	} else if (as_root) {
		log_err("refusing to run as root without UserID");
		rc = o.check ? EX_CONFIG : EX_NOPERM;
		goto out;
	}
	if (preflight_check(cfg, &ss, drop, uid, gid, uname) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	if (o.check) {
		fprintf(stderr, "%s: %s: configuration OK\n", PROGNAME,
		    cfg->path != NULL ? cfg->path : "(defaults)");
		rc = EX_OK;
		goto out;
	}

	/* -f -v: also log to stderr */
	log_init(PROGNAME, cfg->syslog, fac, !cfg->syslog || o.verbose > 0);
	log_set_level(o.verbose > 0 ? LOG_LVL_DEBUG : LOG_LVL_INFO);

	app.cfg = cfg;
	app.progname = PROGNAME;
	if (cfg->spool_database != NULL) {
		/* threads start later (spool_start), after daemon(3) */
		app.spool = spool_open_db(cfg->spool_database, SPOOL_DB_MILTER);
	} else {
		app.spool = spool_open(cfg->spool_dir, false,
		    drop ? (long)uid : (long)-1, (gid_t)-1);
	}
	if (app.spool != NULL) {
		spool_set_claim_timeout(app.spool, cfg->claim_timeout);
	}
	if (app.spool == NULL) {
		rc = EX_CONFIG;
		goto out;
	}
	app.dkim = dkimv_lib_open(cfg->test_dkim_keys);
	if (app.dkim == NULL || reply_global_init() < 0) {
		rc = EX_SOFTWARE;
		goto out;
	}
	/* S/MIME roots, read before privileges are dropped */
	if (cfg->smime_trust != NULL && !cfg->require_dkim) {
		app.smime = smime_trust_open(cfg->smime_trust);
		if (app.smime == NULL) {
			rc = EX_CONFIG;
			goto out;
		}
	}

	if (ss.kind == SOCKSPEC_UNIX) {
		snprintf(conn, sizeof(conn), "local:%s", ss.path);
	} else {
		lfd = sockspec_listen_inet(&ss, BACKLOG);
		if (lfd < 0) {
			rc = EX_OSERR;
			goto out;
		}
		snprintf(conn, sizeof(conn), "fd:%d", lfd);
	}
	if (smfi_setconn(conn) == MI_FAILURE) {
		log_err("smfi_setconn %s failed", cfg->socket);
		rc = EX_SOFTWARE;
		goto out;
	}
	desc = callbacks_desc(&app);
	if (smfi_register(desc) == MI_FAILURE) {
		log_err("smfi_register failed");
		rc = EX_SOFTWARE;
		goto out;
	}
	umask(cfg->umask);
	if (smfi_setbacklog(BACKLOG) == MI_FAILURE ||
	    smfi_opensocket(true) == MI_FAILURE) {
		log_err("cannot open socket %s", cfg->socket);
		rc = EX_OSERR;
		goto out;
	}
	if (ss.kind == SOCKSPEC_UNIX) {
		if (drop && chown(ss.path, uid, gid) < 0) {
			log_err_errno("chown %s", ss.path);
			rc = EX_OSERR;
			goto out;
		}
		if (chmod(ss.path, 0666 & ~cfg->umask) < 0) {
			log_err_errno("chmod %s", ss.path);
			rc = EX_OSERR;
			goto out;
		}
	}
	if (cfg->pid_file != NULL) {
		/* opened now (may need root), written after daemonising */
		(void)unlink(cfg->pid_file);
		pidfd = open(cfg->pid_file,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (pidfd < 0) {
			log_err_errno("PidFile: %s", cfg->pid_file);
			rc = EX_CANTCREAT;
			goto out;
		}
	}
	if (drop && drop_privileges(uid, gid, uname) < 0) {
		rc = EX_NOPERM;
		goto out;
	}
	if (!o.foreground && daemon(0, 0) < 0) {
		log_err_errno("daemon");
		rc = EX_OSERR;
		goto out;
	}
	if (pidfd >= 0) {
		dprintf(pidfd, "%ld\n", (long)getpid());
		close(pidfd);
		pidfd = -1;
	}
	/* forked while this process has no thread yet (smfi_main) */
	app.verifier = verifier_start(&app);
	if (app.verifier == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	if (spool_start(app.spool) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	log_info("starting (socket %s, spool %s%s)", cfg->socket,
	    spool_dir(app.spool),
	    cfg->test_dkim_keys != NULL ? ", TEST DKIM keys" : "");
	ch = smfi_main();
	log_info("stopping");
	if (cfg->pid_file != NULL) {
		(void)unlink(cfg->pid_file);
	}
	rc = ch == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
out:
	if (pidfd >= 0) {
		close(pidfd);
	}
	verifier_stop(app.verifier);
	smime_trust_close(app.smime);
	dkimv_lib_close(app.dkim);
	spool_close(app.spool);
	conf_free(cfg);
	return rc;
}
