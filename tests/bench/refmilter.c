/*
 * refmilter: the reference filter of the benchmarks in tests/bench/.  A
 * do-nothing libmilter filter that accepts every message at end of
 * headers, with the same stage callbacks smime-acme-milter registers for
 * ordinary mail (connect, helo, envfrom, envrcpt, data, eoh: every packet
 * Postfix sends gets a reply, so no Nagle/delayed-ACK stall on inet:).
 * The benchmarks print our milter next to it and next to "no milter".
 * Also the stand-in while smime-acme-milter cannot be built.
 *
 * With -c it is the floor any milter pays (issue 14's "accept-at-connect
 * floor"): it asks the MTA for no connect macros where it may
 * (SMFIF_SETSYMLIST, so Sendmail sends no packet that waits for a delayed
 * ACK) and accepts the whole session at connect; what is left is the
 * MTA's connection to the filter, the negotiation and one round trip.
 *
 * With -r it is the envelope floor: what a filter pays that must see the
 * recipients and nothing else.  It negotiates as smime-acme-milter does
 * (no HELO, no MAIL, no macros where the MTA lets it choose) and accepts
 * each message at its first RCPT, as smime-acme-milter does while nothing
 * is pending; it does no work of its own.
 *
 *   refmilter -p SOCKET [-c | -r] [-u USER] [-P PIDFILE]
 *
 * SOCKET in libmilter syntax (inet:PORT@127.0.0.1, local:/path).  -u drops
 * to USER after the socket exists (when started as root).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static int accept_at_connect; /* -c */
static int accept_at_rcpt;    /* -r */

static sfsistat
ref_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx;
	(void)host;
	(void)sa;
	return accept_at_connect ? SMFIS_ACCEPT : SMFIS_CONTINUE;
}

/* -c: no macros before connect where the MTA lets us choose. */
static sfsistat
ref_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0, unsigned long *pf1,
    unsigned long *pf2, unsigned long *pf3)
{
	(void)f1;
	(void)f2;
	(void)f3;
	static const int stages[] = { SMFIM_CONNECT, SMFIM_HELO, SMFIM_ENVFROM,
		SMFIM_ENVRCPT };
	size_t i, n = accept_at_rcpt ? sizeof(stages) / sizeof(stages[0]) : 1;
	int symlist = (f0 & SMFIF_SETSYMLIST) != 0;

	*pf0 = 0;
	*pf1 = accept_at_rcpt
	    ? f1 & (SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NOUNKNOWN)
	    : 0;
	*pf2 = 0;
	*pf3 = 0;
	for (i = 0; symlist && i < n; i++) {
		if (smfi_setsymlist(ctx, stages[i], (char *)"") != MI_SUCCESS) {
			symlist = 0;
		}
	}
	if (symlist) {
		*pf0 = SMFIF_SETSYMLIST;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
ref_helo(SMFICTX *ctx, char *name)
{
	(void)ctx;
	(void)name;
	return SMFIS_CONTINUE;
}

static sfsistat
ref_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
ref_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return accept_at_rcpt ? SMFIS_ACCEPT : SMFIS_CONTINUE;
}

static sfsistat
ref_data(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
ref_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return SMFIS_CONTINUE;
}

static sfsistat
ref_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

static sfsistat
ref_eom(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_ACCEPT;
}

static int
drop_to(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL) {
		fprintf(stderr, "refmilter: no user %s\n", user);
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		perror("refmilter: cannot drop privileges");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static char name[] = "refmilter";
	struct smfiDesc desc;
	const char *sock = NULL, *user = NULL, *pidfile = NULL;
	FILE *f;
	int c;

	while ((c = getopt(argc, argv, "crp:u:P:")) >= 0) {
		switch (c) {
		case 'c':
			accept_at_connect = 1;
			break;
		case 'r':
			accept_at_rcpt = 1;
			break;
		case 'p':
			sock = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'P':
			pidfile = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (sock == NULL || optind != argc ||
	    (accept_at_connect && accept_at_rcpt)) {
		goto usage;
	}

	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = name;
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = 0;
	desc.xxfi_connect = ref_connect;
	desc.xxfi_helo = ref_helo;
	desc.xxfi_envfrom = ref_envfrom;
	desc.xxfi_envrcpt = ref_envrcpt;
	desc.xxfi_data = ref_data;
	desc.xxfi_header = ref_header;
	desc.xxfi_eoh = ref_eoh;
	desc.xxfi_eom = ref_eom;
	if (accept_at_connect || accept_at_rcpt) {
		desc.xxfi_negotiate = ref_negotiate;
	}

	umask(0);
	if (strncmp(sock, "local:", 6) == 0 || strncmp(sock, "unix:", 5) == 0) {
		(void)unlink(strchr(sock, ':') + 1);
	}
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "refmilter: cannot listen on %s\n", sock);
		return 1;
	}
	if (user != NULL && drop_to(user) < 0) {
		return 1;
	}
	if (pidfile != NULL) {
		f = fopen(pidfile, "w");
		if (f != NULL) {
			fprintf(f, "%ld\n", (long)getpid());
			fclose(f);
		}
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;

usage:
	fprintf(stderr,
	    "usage: refmilter -p SOCKET [-c | -r] [-u USER] [-P PIDFILE]\n");
	return 2;
}
