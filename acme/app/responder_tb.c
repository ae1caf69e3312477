/*
 * responder_tb: the seed's Thunderbird responder (--tb).  Looks for the
 * challenge mail in the local mail store of a profile (mbox files under
 * Mail/ and ImapMail/; --tb-profile, else the default profile of
 * ~/.thunderbird/profiles.ini), judges it as the milter does
 * (responder_mail.c; DKIM too, unless --tb-unsafe -- never without the
 * CA's "from" to compare the From with), then opens a prefilled compose window with
 * "<tb-bin> -compose to=...,subject=...,body=..." (fork/execvp, no
 * shell).  The user presses Send; we wait until the reply appears in the
 * store (the Sent folder) and let the flow POST the challenge.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acme/app/responder_mail.h"
#include "acme/app/store.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mailhdr.h"
#include "dkim/dkimv.h"

#define TB_MBOX_MAX  (64u * 1024 * 1024)
#define TB_FILES_MAX 256
#define TB_POLL_MS   2000

struct tb_state {
	char *profile;
	char *files[TB_FILES_MAX]; /* mbox files */
	size_t n_files;
	struct dkimv_lib *dkim;
	char part1[CHALLENGE_TOKEN_MAX + 1];
	bool warned; /* one warning about a rejected challenge is enough */
};

/* The default profile directory from profiles.ini, malloc'ed or NULL. */
static char *
default_profile(void)
{
	const char *home = getenv("HOME");
	char base[4096], *ini = NULL, *line, *save = NULL, *res = NULL;
	char path[1024] = "";
	bool rel = true, in_install = false, is_default = false;

	if (home == NULL) {
		return NULL;
	}
	snprintf(base, sizeof(base), "%s/.thunderbird", home);
	{
		char *p = store_path(base, "profiles.ini");
		ini = p != NULL ? fs_read_file(p, 1024 * 1024, NULL) : NULL;
		free(p);
	}
	if (ini == NULL) {
		return NULL;
	}
	/* [Install*] Default=path wins; else the [Profile*] with Default=1 */
	for (line = strtok_r(ini, "\r\n", &save); line != NULL;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (line[0] == '[') {
			if (is_default && path[0] != '\0') {
				break;
			}
			in_install = strncasecmp(line, "[Install", 8) == 0;
			is_default = false;
			path[0] = '\0';
			rel = true;
			continue;
		}
		if (strncmp(line, "Path=", 5) == 0) {
			snprintf(path, sizeof(path), "%s", line + 5);
		} else if (strncmp(line, "IsRelative=", 11) == 0) {
			rel = line[11] == '1';
		} else if (strcmp(line, "Default=1") == 0) {
			is_default = true;
		} else if (in_install && strncmp(line, "Default=", 8) == 0) {
			snprintf(path, sizeof(path), "%s", line + 8);
			is_default = true;
		}
	}
	if (is_default && path[0] != '\0') {
		res = path[0] == '/' || !rel ? strdup(path)
					     : store_path(base, path);
	}
	free(ini);
	return res;
}

static bool
is_mbox_name(const char *n)
{
	size_t l = strlen(n);

	if (n[0] == '.' || l == 0) {
		return false;
	}
	return !(l > 4 &&
	    (strcmp(n + l - 4, ".msf") == 0 || strcmp(n + l - 4, ".sbd") == 0 ||
		strcmp(n + l - 4, ".dat") == 0 ||
		strcmp(n + l - 4, ".json") == 0));
}

/* Collect the mbox files below dir (depth-limited). */
static void
collect(struct tb_state *st, const char *dir, int depth)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	char *p;

	if (depth > 6 || (d = opendir(dir)) == NULL) {
		return;
	}
	while ((de = readdir(d)) != NULL && st->n_files < TB_FILES_MAX) {
		if (de->d_name[0] == '.') {
			continue;
		}
		p = store_path(dir, de->d_name);
		if (p == NULL || lstat(p, &sb) != 0) {
			free(p);
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			collect(st, p, depth + 1);
			free(p);
		} else if (S_ISREG(sb.st_mode) && is_mbox_name(de->d_name)) {
			st->files[st->n_files++] = p;
		} else {
			free(p);
		}
	}
	closedir(d);
}

static void
rescan(struct tb_state *st)
{
	static const char *const sub[] = { "Mail", "ImapMail" };
	size_t i;
	char *p;

	for (i = 0; i < st->n_files; i++) {
		free(st->files[i]);
	}
	st->n_files = 0;
	for (i = 0; i < 2; i++) {
		p = store_path(st->profile, sub[i]);
		if (p != NULL) {
			collect(st, p, 0);
		}
		free(p);
	}
}

/* Is the mail at text our reply (a Subject "Re: ..." holding part1)? */
static bool
is_our_reply(const char *text, size_t len, const char *part1)
{
	struct mailhdrs *hs = malloc(sizeof(*hs));
	const char *s;
	size_t body;
	bool yes = false;

	if (hs == NULL) {
		return false;
	}
	mailhdrs_init(hs);
	if (mailhdrs_split(hs, text, len, MAILHDR_FIELD_MAX, MAILHDR_TOTAL_MAX,
		&body) == 0) {
		s = mailhdrs_get(hs, "Subject", NULL);
		while (s != NULL && (*s == ' ' || *s == '\t')) {
			s++;
		}
		yes = s != NULL && strncasecmp(s, "Re:", 3) == 0 &&
		    strstr(s, part1) != NULL;
	}
	mailhdrs_free(hs);
	free(hs);
	return yes;
}

/*
 * Look through every mbox for want: 0 = the challenge (fills st->part1
 * and *reply_to), 1 = our reply (Subject "Re: ACME: <part1>").  true if
 * found.
 */
static bool
search(struct responder_job *j, struct tb_state *st, int want, char *reply_to,
    size_t rlen)
{
	const char *why = NULL;
	struct challenge_mail m;
	size_t i, len, off, next;
	bool found = false;
	char *data;

	for (i = 0; i < st->n_files && !found; i++) {
		data = fs_read_file(st->files[i], TB_MBOX_MAX, &len);
		if (data == NULL) {
			continue;
		}
		/* messages start at "From " at the beginning of a line */
		for (off = 0; off < len && !found; off = next) {
			const char *nl = strchr(data + off, '\n');
			const char *nx;
			size_t body =
			    nl != NULL ? (size_t)(nl - data) + 1 : len;
			nx = strstr(data + body, "\nFrom ");
			next = nx != NULL ? (size_t)(nx - data) + 1 : len;
			if (strncmp(data + off, "From ", 5) != 0) {
				body =
				    off; /* not an mbox separator: plain file */
			}
			if (want == 1) {
				found = is_our_reply(
				    data + body, next - body, st->part1);
			} else if (resp_mail_judge(j, data + body, next - body,
				       &m, &why) == 0) {
				if (j->f->set->cli->tb_unsafe ||
				    resp_mail_dkim(st->dkim, data + body,
					next - body,
					challenge_addr_domain(j->from),
					&why) == 0) {
					memcpy(st->part1, m.token1,
					    sizeof(st->part1));
					snprintf(reply_to, rlen, "%s",
					    challenge_mail_reply_to(
						&m, j->from));
					found = true;
				} else if (!st->warned) {
					st->warned = true;
					log_warn(
					    "%s: %s: challenge ignored: %s",
					    j->addr, st->files[i], why);
				}
			}
			explicit_bzero(&m, sizeof(m));
		}
		free(data);
	}
	return found;
}

static int
launch(struct responder_job *j, const char *to, const char *digest,
    struct tb_state *st)
{
	const char *bin =
	    j->f->set->cli->tb_bin ? j->f->set->cli->tb_bin : "thunderbird";
	char arg[2048];
	pid_t pid;
	int status;

	snprintf(arg, sizeof(arg),
	    "to='%s',subject='Re: ACME: %s',format=2,body='-----BEGIN ACME RESPONSE-----\n%s\n-----END ACME RESPONSE-----\n'",
	    to, st->part1, digest);
	pid = fork();
	if (pid < 0) {
		log_err_errno("fork");
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { (char *)bin, (char *)"-compose", arg,
			NULL };
		execvp(bin, argv);
		_exit(127);
	}
	explicit_bzero(arg, sizeof(arg));
	/* Thunderbird hands the request to a running instance and exits;
	 * a fresh one keeps running: do not wait for it for long */
	for (int i = 0; i < 50; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
				log_err("%s: cannot run %s", j->addr, bin);
				return -1;
			}
			break;
		}
		if (!flow_sleep_ms(100)) {
			break;
		}
	}
	return 0;
}

static int
tb_prepare(struct responder_job *j)
{
	struct tb_state *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		return flow_fail(j->f, EX_OSERR);
	}
	j->priv = st;
	st->profile = j->f->set->cli->tb_profile
	    ? strdup(j->f->set->cli->tb_profile)
	    : default_profile();
	if (st->profile == NULL || !fs_exists(st->profile)) {
		log_err("no Thunderbird profile found: use --tb-profile DIR");
		return flow_fail(j->f, EX_NOINPUT);
	}
	if (j->f->set->cli->tb_unsafe) {
		log_warn(
		    "--tb-unsafe: the challenge mail's authenticity (DKIM) is NOT checked; check its sender yourself");
	} else {
		st->dkim = dkimv_lib_open(j->f->set->cli->dkim_keys);
		if (st->dkim == NULL) {
			return flow_fail(j->f, EX_SOFTWARE);
		}
	}
	return 0;
}

static int
tb_arm(struct responder_job *j)
{
	(void)j;
	return 0;
}

static int
tb_wait(struct responder_job *j)
{
	struct tb_state *st = j->priv;
	struct flow *f = j->f;
	char to[CHALLENGE_ADDR_MAX + 1], digest[CHALLENGE_DIGEST_LEN + 1];
	time_t start = time(NULL);
	int phase = 0, rc = -1;

	flow_say(f,
	    "waiting for the challenge mail from %s in the Thunderbird profile %s",
	    j->from, st->profile);
	for (;;) {
		rescan(st);
		if (search(j, st, phase, to, sizeof(to))) {
			if (phase == 1) {
				flow_say(f, "%s: the reply was sent", j->addr);
				rc = 0;
				break;
			}
			if (responder_digest(j, st->part1, digest) != 0) {
				break;
			}
			rc = launch(j, to, digest, st);
			explicit_bzero(digest, sizeof(digest));
			if (rc != 0) {
				flow_fail(f, EX_UNAVAILABLE);
				break;
			}
			rc = -1;
			flow_say(f,
			    "%s: a compose window with the reply is open; press Send without changing it",
			    j->addr);
			phase = 1;
			continue;
		}
		if (time(NULL) - start >= f->set->timeout) {
			log_err("%s: %s within %d s", j->addr,
			    phase ? "the reply did not appear in the profile"
				  : "no valid challenge mail",
			    f->set->timeout);
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
		if (!flow_sleep_ms(TB_POLL_MS)) {
			flow_fail(f, EX_TEMPFAIL);
			break;
		}
	}
	return rc;
}

static void
tb_finish(struct responder_job *j, bool ok)
{
	struct tb_state *st = j->priv;
	size_t i;

	(void)ok;
	if (st == NULL) {
		return;
	}
	for (i = 0; i < st->n_files; i++) {
		free(st->files[i]);
	}
	dkimv_lib_close(st->dkim);
	free(st->profile);
	explicit_bzero(st, sizeof(*st));
	free(st);
	j->priv = NULL;
}

const struct responder_ops responder_tb_ops = {
	.name = "thunderbird",
	.prepare = tb_prepare,
	.arm = tb_arm,
	.wait = tb_wait,
	.finish = tb_finish,
};
