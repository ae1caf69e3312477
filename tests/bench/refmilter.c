/*
 * refmilter: the reference filter of the benchmarks in tests/bench/.  A
 * do-nothing libmilter filter that accepts every message at end of
 * headers, with the same stage callbacks smime-acme-milter registers for
 * ordinary mail (connect, helo, envfrom, envrcpt, data, eoh: every packet
 * Postfix sends gets a reply, so no Nagle/delayed-ACK stall on inet:).
 * It is the floor any libmilter filter pays; the benchmarks print our
 * milter next to it and next to "no milter".  Also the stand-in while
 * smime-acme-milter cannot be built.
 *
 *   refmilter -p SOCKET [-u USER] [-P PIDFILE]
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

static sfsistat
ref_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx;
	(void)host;
	(void)sa;
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
	return SMFIS_CONTINUE;
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

	while ((c = getopt(argc, argv, "p:u:P:")) >= 0) {
		switch (c) {
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
	if (sock == NULL || optind != argc) {
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
	fprintf(stderr, "usage: refmilter -p SOCKET [-u USER] [-P PIDFILE]\n");
	return 2;
}
