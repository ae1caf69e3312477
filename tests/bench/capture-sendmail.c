/*
 * capture-sendmail: the SendmailPath of tests/bench/challenge-latency.sh.
 * smime-acme-milter runs it as "capture-sendmail -i -f FROM -- TO" with
 * the reply on standard input (milter/reply.c).  It reads the whole reply,
 * takes the time (CLOCK_REALTIME, the clock the SMTP client uses) the
 * moment the reply is complete, and stores
 *
 *   <dir of argv[0]>/out/<seconds.nanoseconds>-<pid>.eml
 *
 * whose first line is "X-Bench-Captured: <seconds.nanoseconds> <FROM> <TO>"
 * followed by the reply as received.  Exit 0 unless the file cannot be
 * written.  Small on purpose, so that it adds little to what it measures.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CAP_MAX (1024 * 1024)

static char msg[CAP_MAX];

int
main(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], head[1024];
	const char *from = "?", *to = "?", *slash;
	struct timespec ts;
	size_t len = 0;
	ssize_t n;
	int i, fd, hl;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			to = argv[i + 1];
		}
	}
	while (len < sizeof(msg)) {
		n = read(0, msg + len, sizeof(msg) - len);
		if (n == 0) {
			break;
		}
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return 75;
		}
		len += (size_t)n;
	}
	clock_gettime(CLOCK_REALTIME, &ts);

	slash = strrchr(argv[0], '/');
	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		snprintf(
		    dir, sizeof(dir), "%.*s", (int)(slash - argv[0]), argv[0]);
	}
	snprintf(path, sizeof(path), "%s/out/%lld.%09ld-%ld.eml", dir,
	    (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	hl = snprintf(head, sizeof(head),
	    "X-Bench-Captured: %lld.%09ld %s %s\r\n", (long long)ts.tv_sec,
	    ts.tv_nsec, from, to);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		return 73;
	}
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		hl = 0;
	}
	if (write(fd, head, (size_t)hl) != hl ||
	    write(fd, msg, len) != (ssize_t)len) {
		close(fd);
		return 74;
	}
	return close(fd) == 0 ? 0 : 74;
}
