/*
 * sockspec: parse and check a libmilter socket specification ourselves,
 * because smfi_setconn() accepts anything and fails only later.  For
 * inet sockets main.c creates the listening socket itself (to set
 * TCP_NODELAY, which libmilter cannot) and hands libmilter "fd:N".
 */
#ifndef MILTER_SOCKSPEC_H
#define MILTER_SOCKSPEC_H

#include <stdbool.h>
#include <stddef.h>

enum sockspec_kind {
	SOCKSPEC_UNIX,  /* unix:PATH, local:PATH, or a bare /PATH */
	SOCKSPEC_INET,  /* inet:PORT[@HOST] */
	SOCKSPEC_INET6, /* inet6:PORT[@HOST], HOST may be [v6-literal] */
	SOCKSPEC_MAX
};

struct sockspec {
	enum sockspec_kind kind;
	char path[108]; /* SOCKSPEC_UNIX */
	char host[256]; /* inet: "" = all interfaces; brackets removed */
	unsigned port;  /* inet: 1..65535 */
};

/* Parse spec; 0, or -1 with *why a static reason. */
int sockspec_parse(const char *spec, struct sockspec *out, const char **why);

/*
 * Create, bind and listen on an inet socket for s with SO_REUSEADDR and
 * TCP_NODELAY (accepted connections inherit it on Linux).  Returns the
 * descriptor or -1 (logged).
 */
int sockspec_listen_inet(const struct sockspec *s, int backlog);

#endif
