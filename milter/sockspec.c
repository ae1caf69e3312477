/*
 * sockspec: libmilter socket specifications (see sockspec.h).  Accepted:
 * "unix:/abs/path", "local:/abs/path", "/abs/path", "inet:PORT",
 * "inet:PORT@HOST", "inet6:PORT@HOST" with HOST a name, an address or a
 * bracketed address.  PORT must be numeric.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "milter/sockspec.h"

static int
parse_unix(const char *p, struct sockspec *s, const char **why)
{
	size_t n = strlen(p);

	if (n == 0 || p[0] != '/') {
		*why = "unix socket path must be absolute";
		return -1;
	}
	if (n >= sizeof(s->path) ||
	    n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		*why = "unix socket path too long";
		return -1;
	}
	s->kind = SOCKSPEC_UNIX;
	memcpy(s->path, p, n + 1);
	return 0;
}

static int
parse_inet(const char *p, struct sockspec *s, const char **why)
{
	const char *at = strchr(p, '@'), *h;
	char *end;
	long port;
	size_t n, plen = at != NULL ? (size_t)(at - p) : strlen(p);
	char pbuf[8];

	if (plen == 0 || plen >= sizeof(pbuf)) {
		*why = "bad port";
		return -1;
	}
	memcpy(pbuf, p, plen);
	pbuf[plen] = '\0';
	errno = 0;
	port = strtol(pbuf, &end, 10);
	if (errno != 0 || *end != '\0' || pbuf[0] < '0' || pbuf[0] > '9' ||
	    port < 1 || port > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	s->port = (unsigned)port;
	s->host[0] = '\0';
	if (at == NULL) {
		return 0;
	}
	h = at + 1;
	n = strlen(h);
	if (n > 0 && h[0] == '[') {
		if (n < 3 || h[n - 1] != ']') {
			*why = "unbalanced brackets around the host";
			return -1;
		}
		h++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(s->host)) {
		*why = "bad host";
		return -1;
	}
	memcpy(s->host, h, n);
	s->host[n] = '\0';
	if (strspn(s->host,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-:_%") != n) {
		*why = "bad character in the host";
		return -1;
	}
	return 0;
}

int
sockspec_parse(const char *spec, struct sockspec *s, const char **why)
{
	const char *colon;

	memset(s, 0, sizeof(*s));
	*why = NULL;
	if (spec == NULL || *spec == '\0') {
		*why = "empty socket specification";
		return -1;
	}
	if (spec[0] == '/') {
		return parse_unix(spec, s, why);
	}
	colon = strchr(spec, ':');
	if (colon == NULL) {
		*why = "expected unix:PATH, local:PATH, inet:PORT[@HOST] or "
		       "inet6:PORT[@HOST]";
		return -1;
	}
	if (strncasecmp(spec, "unix:", 5) == 0 ||
	    strncasecmp(spec, "local:", 6) == 0) {
		return parse_unix(colon + 1, s, why);
	}
	if (strncasecmp(spec, "inet:", 5) == 0) {
		s->kind = SOCKSPEC_INET;
		return parse_inet(colon + 1, s, why);
	}
	if (strncasecmp(spec, "inet6:", 6) == 0) {
		s->kind = SOCKSPEC_INET6;
		return parse_inet(colon + 1, s, why);
	}
	*why = "unknown socket type (unix, local, inet, inet6)";
	return -1;
}

int
sockspec_listen_inet(const struct sockspec *s, int backlog)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, one = 1, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = s->kind == SOCKSPEC_INET6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", s->port);
	err = getaddrinfo(
	    s->host[0] != '\0' ? s->host : NULL, port, &hints, &res);
	if (err != 0) {
		log_err("socket: %s: %s", s->host, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			continue;
		}
		if (setsockopt(
			fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    setsockopt(
			fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0) {
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
		errno = err;
	}
	if (fd < 0) {
		log_err_errno("socket: cannot listen on port %u%s%s", s->port,
		    s->host[0] != '\0' ? " at " : "", s->host);
	}
	freeaddrinfo(res);
	return fd;
}
